"""Training data: melodies from the corpus bundled with music21, and input/extension pairs cut from them.

`prepare` parses the corpus once (slow: music21 takes ~0.05 s a tune) into one compact .npz of
monophonic melodies, timed in beats, removes duplicates, and splits train/valid/test by song.
`make_pairs` then cuts (1.5 to 12 s input, up to 30 s extension) pairs from those melodies, in seconds, with a
seeded augmentation that imitates live playing: a tempo per song, any key and register, timing and
loudness jitter, and the shortened note lengths of real articulation. Training draws fresh pairs every epoch.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .files import write_atomically
from .notes import Note, melody_line, paused
from .paths import DATA_DIR

# music21 corpus folders used by default, and how a melody is taken from each.
CORPUS_SOURCES = ("essenFolksong", "oneills1850", "ryansMammoth", "airdsAirs", "miscFolk", "bach")
SPLITS = ("train", "valid", "test")
SPLIT_PERCENT = {"train": 90, "valid": 5, "test": 5}
MIN_SONG_NOTES = 8
DEFAULT_DATA = DATA_DIR / "corpus.npz"
DEFAULT_SHARDS = DATA_DIR / "prepared"  # `segue prepare --from`: a folder of shards


class DataError(ValueError):
    """A dataset that is missing or unusable; the message says what to do."""


@dataclass(frozen=True)
class Song:
    """A monophonic melody timed in beats (quarter notes); `seconds_per_beat` is NaN when unmarked."""

    song_id: str
    pitch: np.ndarray  # uint8
    onset: np.ndarray  # float32, beats
    duration: np.ndarray  # float32, beats
    seconds_per_beat: float


# ---------------------------------------------------------------- corpus extraction (music21)


def corpus_root() -> Path:
    """Where the music21 wheel keeps its corpus."""
    from music21 import common

    return Path(common.getCorpusFilePath())


def corpus_files(sources: tuple[str, ...] = CORPUS_SOURCES) -> list[Path]:
    """The corpus files of the given music21 corpus folders, largest first (to balance workers)."""
    root = corpus_root()
    files: list[Path] = []
    for source in sources:
        folder = root / source
        if not folder.is_dir():
            raise DataError(f"music21 corpus folder {source!r} not found under {root}")
        files += [p for p in folder.rglob("*") if p.suffix in (".abc", ".mxl", ".krn", ".xml")]
    return sorted(files, key=lambda p: (-p.stat().st_size, str(p)))


def parse_corpus_file(path: Path) -> list[Song]:
    """Every melody in one corpus file (an ABC file may hold hundreds of tunes); none if music21
    cannot read it."""
    try:
        return parse_score_file(path, f"{path.parent.name}/{path.name}")
    except Exception:  # noqa: BLE001 - music21 raises many types on the odd malformed tune
        return []


def parse_score_file(path: Path, name: str) -> list[Song]:
    """Every melody in a MusicXML, ABC or kern file, with music21; its errors pass through."""
    from music21 import converter

    songs = []
    for index, score in enumerate(_scores(converter.parse(str(path)))):
        try:
            song = _song_from_score(score, f"{name}#{index}")
        except Exception:  # noqa: BLE001 - one odd tune must not cost the other thousands
            continue
        if song is not None:
            songs.append(song)
    return songs


def parse_abc_text(text: str, song_id: str) -> list[Song]:
    """The melody of one ABC tune given as text (a tune cut from a book), with music21."""
    from music21 import converter

    song = next((_song_from_score(score, song_id) for score in _scores(converter.parse(text, format="abc"))), None)
    return [song] if song is not None else []


def _scores(parsed) -> list:
    """The scores of what music21 parsed: an opus holds several (an ABC book), a score is one."""
    from music21 import stream

    return list(parsed.scores) if isinstance(parsed, stream.Opus) else [parsed]


def _song_from_score(score, song_id: str) -> Song | None:
    parts = list(score.parts) if score.parts else [score]
    # Chorales: the soprano carries the tune; elsewhere the first part with notes does.
    named = [p for p in parts if "soprano" in (p.partName or "").lower()]
    for part in named + parts:
        flat = part.stripTies().flatten()
        notes = []
        for element in flat.notes:
            length = float(element.duration.quarterLength)
            if length <= 0:  # grace notes
                continue
            pitch = max(p.midi for p in element.pitches)
            start = float(element.offset)
            notes.append(Note(int(pitch), start, start + length))
        line = melody_line(notes)
        if len(line) >= MIN_SONG_NOTES:
            return Song(
                song_id,
                np.array([n.pitch for n in line], np.uint8),
                np.array([n.start for n in line], np.float32),
                np.array([n.duration for n in line], np.float32),
                _marked_seconds_per_beat(flat),
            )
    return None


def _marked_seconds_per_beat(flat) -> float:
    """The tune's own tempo mark, if it has a usable one (NaN otherwise)."""
    from music21 import tempo

    for mark in flat.getElementsByClass("MetronomeMark"):
        try:
            marked = mark.secondsPerQuarter()
        except tempo.MetronomeMarkException:  # a mark in words only ("Allegro" without a number)
            continue
        if marked and 0.2 <= marked <= 1.5:
            return float(marked)
    return math.nan


def song_key(song: Song) -> str:
    """A content hash that is the same for a tune in any key: duplicates share it."""
    intervals = np.diff(song.pitch.astype(np.int16)).tobytes()
    rhythm = np.round(np.diff(song.onset), 3).astype(np.float32).tobytes()
    return hashlib.sha1(intervals + rhythm).hexdigest()


def split_of(key: str) -> str:
    """Train/valid/test by the song's content hash: stable, and no tune lands in two splits."""
    bucket = int(key[:8], 16) % 100
    threshold = 0
    for split in SPLITS:
        threshold += SPLIT_PERCENT[split]
        if bucket < threshold:
            return split
    raise AssertionError("split percentages must add up to 100")


def prepare(
    out: Path = DEFAULT_DATA,
    files: list[Path] | None = None,
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Parse corpus files into `out` (.npz) and write the split beside it as `split.json`."""
    files = corpus_files() if files is None else files
    workers = workers or os.cpu_count() or 1
    songs: list[Song] = []
    with ProcessPoolExecutor(max_workers=workers) as pool:
        parsed = pool.map(parse_corpus_file, files)
        for file_songs in tqdm(parsed, total=len(files), desc="parsing corpus", unit="file", disable=not progress):
            songs.extend(file_songs)

    unique: dict[str, Song] = {}
    for song in sorted(songs, key=lambda s: s.song_id):
        unique.setdefault(song_key(song), song)
    if not unique:
        raise DataError("no melodies found in the given corpus files")
    keys = list(unique)
    kept = [unique[k] for k in keys]
    split = np.array([SPLITS.index(split_of(k)) for k in keys], np.uint8)
    out = Path(out)
    arrays = song_arrays(kept, split)
    _write_npz(out, arrays)
    summary = {
        "parsed_songs": len(songs),
        "distinct_songs": len(kept),
        "notes": int(arrays["bounds"][-1]),
        "songs": {name: int((split == i).sum()) for i, name in enumerate(SPLITS)},
        "fingerprint": data_fingerprint(arrays),
    }
    manifest = {**summary, "ids": {name: [s.song_id for s, k in zip(kept, split) if k == i] for i, name in enumerate(SPLITS)}}
    (out.parent / "split.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return summary


def song_arrays(songs: list[Song], split: np.ndarray) -> dict[str, np.ndarray]:
    """Songs as the flat arrays of a Corpus (`bounds[i]:bounds[i+1]` is song i), for saving."""
    return {
        "pitch": np.concatenate([song.pitch for song in songs]),
        "onset": np.concatenate([song.onset for song in songs]),
        "duration": np.concatenate([song.duration for song in songs]),
        "bounds": np.cumsum([0] + [len(song.pitch) for song in songs]).astype(np.int64),
        "song_id": np.array([song.song_id for song in songs]),
        "seconds_per_beat": np.array([song.seconds_per_beat for song in songs], np.float32),
        "split": split,
    }


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_atomically(path, buffer.getvalue())


def data_fingerprint(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of the arrays' names and contents: the same data gives the same identity, whatever
    the file's timestamps or compression."""
    digest = hashlib.sha256()
    for name in sorted(arrays):
        array = np.ascontiguousarray(arrays[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


# ---------------------------------------------------------------- the prepared corpus


@dataclass(frozen=True)
class Corpus:
    """The prepared melodies: one flat array per field, `bounds[i]:bounds[i+1]` is song i."""

    pitch: np.ndarray
    onset: np.ndarray
    duration: np.ndarray
    bounds: np.ndarray
    song_id: np.ndarray
    seconds_per_beat: np.ndarray
    split: np.ndarray
    fingerprint: str

    def songs(self, split: str) -> Iterator[Song]:
        for i in np.flatnonzero(self.split == SPLITS.index(split)):
            a, b = self.bounds[i], self.bounds[i + 1]
            yield Song(str(self.song_id[i]), self.pitch[a:b], self.onset[a:b], self.duration[a:b], float(self.seconds_per_beat[i]))

    def count(self, split: str) -> int:
        return int((self.split == SPLITS.index(split)).sum())


    # A single-file corpus is one shard: training streams both kinds alike.
    def shards(self, split: str) -> list[int]:
        return [0] if self.count(split) else []

    def shard(self, index: int) -> Corpus:
        return self


def load_corpus(path: Path = DEFAULT_DATA) -> Corpus | ShardedCorpus:
    """Prepared data: a single .npz (`segue prepare`) or a folder of shards (`segue prepare --from`)."""
    path = Path(path)
    if path.is_dir():
        return ShardedCorpus(path)
    if not path.is_file():
        raise DataError(f"no prepared data at {path}: run `segue prepare` first")
    return _read_npz(path)


def _read_npz(path: Path) -> Corpus:
    try:
        with np.load(path) as data:
            arrays = {name: data[name] for name in data.files}
        return Corpus(**arrays, fingerprint=data_fingerprint(arrays))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise DataError(f"{path} is not prepared Segue data: {error}") from None


# ---------------------------------------------------------------- sharded datasets

SHARDS_FORMAT = "segue-shards/1"
MANIFEST = "manifest.json"
SHARD_SONGS = 2048  # songs per shard: a few MB, so a reader holds one shard, not the corpus


class ShardWriter:
    """Writes songs into numbered .npz shards as they come, one series per split (so validation
    reads only validation shards), and at the end a manifest that lets a reader count, split and
    find them without opening a shard."""

    def __init__(self, out: Path, shard_songs: int = SHARD_SONGS) -> None:
        self.out = Path(out)
        self.shard_songs = shard_songs
        self.pending: dict[str, list[Song]] = {split: [] for split in SPLITS}
        self.shards: list[dict] = []
        if self.out.exists() and not self.out.is_dir():
            raise DataError(f"{self.out} is a file: a sharded dataset is written to a folder")
        self.out.mkdir(parents=True, exist_ok=True)
        for stale in self.out.glob("*-[0-9][0-9][0-9][0-9][0-9].npz"):  # a folder prepared before: replaced whole
            stale.unlink()

    def add(self, song: Song, split: str) -> None:
        self.pending[split].append(song)
        if len(self.pending[split]) >= self.shard_songs:
            self._flush(split)

    def songs(self) -> dict[str, int]:
        """Songs per split, written or waiting to be."""
        return {name: sum(shard["songs"] for shard in self.shards if shard["split"] == name) + len(self.pending[name])
                for name in SPLITS}

    def close(self, report: dict) -> dict:
        """Write the last shards and the manifest -> the manifest."""
        for split in SPLITS:
            self._flush(split)
        if not self.shards:
            raise DataError("no melodies found in the given files")
        songs = self.songs()
        fingerprint = hashlib.sha256("".join(shard["fingerprint"] for shard in self.shards).encode()).hexdigest()
        manifest = {"format": SHARDS_FORMAT, "fingerprint": fingerprint, "songs": songs,
                    "notes": sum(shard["notes"] for shard in self.shards), "shards": self.shards, **report}
        write_atomically(self.out / MANIFEST, json.dumps(manifest, indent=1) + "\n")
        return manifest

    def _flush(self, split_name: str) -> None:
        songs = self.pending[split_name]
        if not songs:
            return
        arrays = song_arrays(songs, np.full(len(songs), SPLITS.index(split_name), np.uint8))
        name = f"{split_name}-{sum(shard['split'] == split_name for shard in self.shards):05d}.npz"
        _write_npz(self.out / name, arrays)
        self.shards.append({"file": name, "split": split_name, "songs": len(songs), "notes": int(arrays["bounds"][-1]),
                            "fingerprint": data_fingerprint(arrays)})
        self.pending[split_name] = []


class ShardedCorpus:
    """A folder of shards read through its manifest: counting songs or splitting work opens no
    shard, and songs stream one shard at a time."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        try:
            self.manifest = json.loads((self.folder / MANIFEST).read_text())
        except (OSError, ValueError) as error:
            raise DataError(f"{self.folder} holds no readable {MANIFEST}: run `segue prepare --from` first "
                            f"({error.__class__.__name__})") from None
        if self.manifest.get("format") != SHARDS_FORMAT:
            raise DataError(f"{self.folder / MANIFEST} is not a Segue dataset (expected format {SHARDS_FORMAT})")
        self.fingerprint = self.manifest["fingerprint"]

    def shards(self, split: str) -> list[int]:
        return [index for index, entry in enumerate(self.manifest["shards"]) if entry["split"] == split]

    def shard(self, index: int) -> Corpus:
        return _read_npz(self.folder / self.manifest["shards"][index]["file"])

    def count(self, split: str) -> int:
        return int(self.manifest["songs"][split])

    def songs(self, split: str) -> Iterator[Song]:
        for index in self.shards(split):
            yield from self.shard(index).songs(split)


# ---------------------------------------------------------------- input/extension pairs


@dataclass(frozen=True)
class PairConfig:
    # s: each song's input length (and shortest extension), drawn log-uniformly from here, so the
    # model learns to continue a two-note motif and a whole verse as well as the usual 5 s.
    window: tuple[float, float] = (1.5, 12.0)
    # s: each extension lasts a length drawn log-uniformly from here (the rest of the song at
    # most), so the decoder learns long continuations as well as the 5 s a user hears first.
    extension: tuple[float, float] = (5.0, 30.0)
    pairs_per_song: int = 2  # at most this many cuts from one song per pass
    ioi_range: tuple[float, float] = (0.16, 0.6)  # s: unmarked songs get a median note spacing drawn from here
    tempo_scale: float = 0.15  # marked tempos are scaled by up to ±15 %
    register: tuple[int, int] = (38, 84)  # each song is transposed so its median pitch falls here: bass to high treble
    onset_jitter: float = 0.012  # s: std of the timing noise of a live player
    articulation: tuple[float, float] = (0.55, 0.98)  # share of the notated length a player holds a note
    velocity: tuple[int, int] = (55, 105)  # a player's loudness, drawn per song
    velocity_jitter: float = 8.0  # std of the note-to-note loudness variation
    min_input_notes: int = 2
    # A player who hesitates: this share of inputs (of two notes or more) gets one pause, of seconds
    # drawn log-uniformly from `pause`, before a note drawn from its second to its last, so a rest
    # inside a phrase does not throw the continuation off the phrase's pace (untrained, it slowed
    # down: docs/model-card.md). Only the input: the continuation is played through.
    hesitation: float = 0.2
    pause: tuple[float, float] = (0.3, 3.0)

    def __post_init__(self) -> None:
        # A range of seconds is drawn log-uniformly, so both ends must be positive.
        for name in ("window", "extension", "ioi_range", "pause"):
            low, high = getattr(self, name)
            if not 0 < low <= high:
                raise ValueError(f"{name} must be (low, high) seconds with 0 < low <= high, got {getattr(self, name)!r}")
        if self.pairs_per_song < 1 or self.min_input_notes < 1:
            raise ValueError(f"pairs_per_song and min_input_notes must be positive, got "
                             f"{self.pairs_per_song!r} and {self.min_input_notes!r}")
        if not 0 <= self.hesitation <= 1:
            raise ValueError(f"hesitation must be a share between 0 and 1, got {self.hesitation!r}")


@dataclass(frozen=True)
class Pair:
    """Input notes timed from the start of the recording, and the extension timed from the input's end."""

    song_id: str
    input: list[Note]
    extension: list[Note]
    input_length: float


def make_pairs(corpus: Corpus, split: str, config: PairConfig, seed: int, max_songs: int | None = None) -> list[Pair]:
    """Cut augmented pairs from every song of a split; the same seed gives the same pairs."""
    rng = np.random.default_rng(seed)
    pairs: list[Pair] = []
    for count, song in enumerate(corpus.songs(split)):
        if max_songs is not None and count >= max_songs:
            break
        pairs += song_pairs(song, config, rng)
    return pairs


def song_pairs(song: Song, config: PairConfig, rng: np.random.Generator) -> list[Pair]:
    pitch, start, end, velocity = _perform(song, config, rng)
    window = _log_uniform(rng, *config.window)
    total = end[-1]
    if total < 2 * window:  # short tunes are played again, as folk tunes are
        repeats = math.ceil(2 * window / total) + 1
        period = start[-1] + max(end[-1] - start[-1], np.median(np.diff(start)))
        offsets = np.repeat(np.arange(repeats) * period, len(pitch))
        pitch, velocity = np.tile(pitch, repeats), np.tile(velocity, repeats)
        start, end = np.tile(start, repeats) + offsets, np.tile(end, repeats) + offsets
        total = end[-1]
    n_cuts = min(config.pairs_per_song, int((total - 2 * window) // window) + 1)
    pairs = []
    for cut in np.sort(rng.uniform(window, total - window, size=n_cuts)):
        extension = _log_uniform(rng, *config.extension)
        source = (start >= cut - window) & (start < cut)
        target = (start >= cut) & (start < cut + extension)
        if source.sum() < config.min_input_notes or not target.any():
            continue
        origin = cut - window
        # The recording stops at the cut; the continuation's notes keep their whole length.
        played = _notes(pitch[source], start[source] - origin, np.minimum(end[source], cut) - origin, velocity[source])
        following = _notes(pitch[target], start[target] - cut, end[target] - cut, velocity[target])
        recorded = window
        # Drawn only when asked for, so pairs cut without hesitations keep the same random stream.
        if config.hesitation and len(played) > 1 and rng.random() < config.hesitation:
            pause = _log_uniform(rng, *config.pause)
            played, recorded = paused(played, int(rng.integers(1, len(played))), pause), window + pause
        pairs.append(Pair(song.song_id, played, following, recorded))
    return pairs


def _log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    """A draw spread evenly over ratios; equal bounds draw nothing, so fixed settings keep the stream."""
    return low if low == high else math.exp(rng.uniform(math.log(low), math.log(high)))


def _perform(song: Song, config: PairConfig, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """The song as a player might play it: seconds, a tempo, a key, human timing and articulation."""
    if math.isnan(song.seconds_per_beat):
        spacing = np.median(np.diff(song.onset)) if len(song.onset) > 1 else 1.0
        seconds_per_beat = _log_uniform(rng, *config.ioi_range) / max(float(spacing), 1e-3)
    else:
        seconds_per_beat = song.seconds_per_beat * (1 + rng.uniform(-config.tempo_scale, config.tempo_scale))
    shift = int(rng.integers(config.register[0], config.register[1] + 1)) - int(np.median(song.pitch))
    shift = int(np.clip(shift, -int(song.pitch.min()), 127 - int(song.pitch.max())))
    pitch = song.pitch.astype(np.int64) + shift
    start = song.onset.astype(np.float64) * seconds_per_beat
    start = start - start[0] + rng.uniform(0, 0.3)
    start = np.maximum.accumulate(np.maximum(start + rng.normal(0, config.onset_jitter, len(start)), 0))
    held = song.duration.astype(np.float64) * seconds_per_beat * rng.uniform(*config.articulation)
    end = start + held * rng.uniform(0.9, 1.1, len(start))
    end[:-1] = np.minimum(end[:-1], start[1:])  # one line: a note ends where the next begins
    loudness = rng.uniform(*config.velocity) + rng.normal(0, config.velocity_jitter, len(start))
    velocity = np.clip(np.round(loudness), 1, 127).astype(np.int64)
    keep = end - start > 0.01
    return pitch[keep], start[keep], end[keep], velocity[keep]


def _notes(pitch: np.ndarray, start: np.ndarray, end: np.ndarray, velocity: np.ndarray) -> list[Note]:
    return [Note(int(p), float(s), float(e), int(v)) for p, s, e, v in zip(pitch, start, end, velocity) if e > s]
