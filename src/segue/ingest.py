"""`segue prepare --from DIR`: a user's own music (MIDI, MusicXML, ABC, kern) as a sharded dataset.

Files are read in parallel across cores; an ABC file of several tunes is read tune by tune, so
that a tune book shares the cores too and the progress bar counts its tunes. A file that cannot be read, or holds no melody of
MIN_SONG_NOTES notes, is skipped and counted by reason, never fatal. A file whose bytes were seen
already is a duplicate; so is a tune whose intervals and rhythm were seen already (the same tune
in another key or file, or with its rhythm rounded a little differently: every onset spacing
within RHYTHM_TOLERANCE of the tune's mean spacing). Each tune goes to train, validation or test
by the hash of its intervals: stable across runs and file order, and every copy or variant of a
tune in the same split, whichever file it came from (a file of many tunes is split tune by tune).
A part that mostly plays block chords is not read as a melody (`midi_io.melody_part`).

From MIDI the melody is picked by `midi_io.melody_part` (the highest part among the busy ones)
and reduced to its highest line; MIDI timing is kept in seconds (as beats of one second), so the
training augmentation varies the file's own tempo. Other formats go through music21 as the
bundled corpus does.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data import (MIN_SONG_NOTES, SPLIT_PERCENT, SPLITS, DataError, ShardWriter, Song, parse_abc_text,
                   parse_score_file, split_of)
from .errors import first_line
from .files import write_atomically
from .midi_io import MidiError, melody_part, read_midi_parts

MIDI_SUFFIXES = (".mid", ".midi")
RHYTHM_TOLERANCE = 0.25  # of the mean onset spacing: copies of a tune that differ by rounding are one tune
ABC_TUNE = re.compile(r"^X:", re.MULTILINE)  # each tune of an ABC file begins with its reference number
TINY_SPLIT = 10  # songs: a validation or test split smaller than this measures little
SCORE_SUFFIXES = (".xml", ".musicxml", ".mxl", ".abc", ".krn")


@dataclass
class FileResult:
    name: str  # relative to the folder it was found in
    digest: str = ""  # SHA-256 of the file's bytes
    songs: list[Song] = field(default_factory=list)
    tune: int | None = None  # which tune of an ABC book this is; None for a whole file
    problem: str = ""  # why it was skipped; empty if it was read


def find_files(folders: list[Path]) -> list[tuple[Path, str]]:
    """Every file of a readable kind under the folders -> (path, name relative to its folder), sorted."""
    found = []
    for folder in folders:
        if not Path(folder).is_dir():
            raise DataError(f"{folder} is not a folder")
        for path in sorted(Path(folder).rglob("*")):
            if path.suffix.lower() in MIDI_SUFFIXES + SCORE_SUFFIXES and path.is_file():
                found.append((path, f"{Path(folder).name}/{path.relative_to(folder)}"))
    return found


def book_jobs(files: list[tuple[Path, str]]) -> list[tuple[Path, str, int | None]]:
    """The files as jobs for the workers: an ABC file of several tunes (a tune book) as one job per
    tune, so that the cores share its tunes and the progress bar counts them; any other file whole
    (tune None)."""
    jobs: list[tuple[Path, str, int | None]] = []
    for path, name in files:
        tunes = len(ABC_TUNE.findall(_text(path))) if path.suffix.lower() == ".abc" else 0
        jobs += [(path, name, tune) for tune in range(tunes)] if tunes > 1 else [(path, name, None)]
    return jobs


def _text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return ""  # read_file says why


def abc_tune(text: str, tune: int) -> str:
    """Tune number `tune` (counting from 0) of an ABC book, after the book's own header lines."""
    starts = [match.start() for match in ABC_TUNE.finditer(text)]
    ends = starts[1:] + [len(text)]
    return text[: starts[0]] + text[starts[tune] : ends[tune]]


def read_file(job: tuple[Path, str, int | None]) -> FileResult:
    """One file's (or one tune of an ABC book's) melodies, or the reason it has none (runs in a
    worker process)."""
    path, name, tune = job
    label = name if tune is None else f"{name}#{tune}"
    try:
        data = path.read_bytes()
    except OSError as error:
        return FileResult(label, problem=f"unreadable: {error.strerror or error}")
    result = FileResult(label, hashlib.sha256(data).hexdigest(), tune=tune)
    try:
        if tune is not None:
            result.songs = parse_abc_text(abc_tune(data.decode("utf-8", errors="replace"), tune), f"{name}#{tune}")
        elif path.suffix.lower() in MIDI_SUFFIXES:
            parts, _ = read_midi_parts(data)
            line = melody_part(parts, MIN_SONG_NOTES)
            result.songs = [_song(f"{name}#0", line)] if line else []
            if not line and melody_part(parts, MIN_SONG_NOTES, block_chords=True):
                result.problem = "only block chords, no melody line"
                return result
        else:
            result.songs = parse_score_file(path, name)
    except MidiError as error:
        result.problem = f"not a readable MIDI file: {_reason(error)}"
        return result
    except Exception as error:  # noqa: BLE001 - music21 raises many types on malformed scores
        result.problem = f"music21 could not read it: {_reason(error)}"
        return result
    if not result.songs:
        result.problem = f"no melody of {MIN_SONG_NOTES} or more notes"
    return result


def _song(song_id: str, line) -> Song:
    return Song(song_id, np.array([n.pitch for n in line], np.uint8), np.array([n.start for n in line], np.float32),
                np.array([n.duration for n in line], np.float32), 1.0)


def _reason(error: Exception) -> str:
    return first_line(error).removeprefix("the file ")[:200]


def prepare_from(folders: list[Path], out: Path, workers: int | None = None, progress: bool = True,
                 shard_songs: int | None = None) -> dict:
    """Read every music file under `folders` into a sharded dataset at `out` -> its manifest.
    Skipped files are listed with their reasons in `out/skipped.tsv`."""
    files = find_files(folders)
    if not files:
        raise DataError(f"no MIDI, MusicXML, ABC or kern files under {', '.join(map(str, folders))}")
    jobs = book_jobs(files)
    writer = ShardWriter(out, **({"shard_songs": shard_songs} if shard_songs else {}))
    file_of_digest: dict[str, str] = {}  # the first file seen with these bytes
    files_read: set[str] = set()
    seen_tunes: dict[str, list[np.ndarray]] = {}  # tune_key -> the rhythms seen with those intervals
    skipped: Counter[str] = Counter()
    skipped_lines = []
    counts = Counter()
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        results = pool.map(read_file, jobs, chunksize=8)
        for (_, name, _), result in tqdm(zip(jobs, results), total=len(jobs), desc="reading files and tunes",
                                         unit="tune", disable=not progress):
            if result.problem:
                skipped[result.problem.split(":")[0]] += 1
                skipped_lines.append(f"{result.name}\t{result.problem}")
                continue
            if file_of_digest.setdefault(result.digest, name) != name:  # a byte copy of a file read before
                counts["duplicate_files"] += result.tune in (None, 0)
                continue
            files_read.add(name)
            for song in result.songs:
                key, rhythm = tune_key(song), relative_rhythm(song)
                if any(same_rhythm(rhythm, other) for other in seen_tunes.get(key, ())):
                    counts["duplicate_songs"] += 1
                    continue
                seen_tunes.setdefault(key, []).append(rhythm)
                writer.add(song, split_of(key))
    write_atomically(Path(out) / "skipped.tsv", "".join(line + "\n" for line in skipped_lines))
    report = {"sources": [str(f) for f in folders], "files_found": len(files), "files_read": len(files_read),
              "duplicate_files": counts["duplicate_files"], "duplicate_songs": counts["duplicate_songs"],
              "files_skipped": sum(skipped.values()), "skipped_by_reason": dict(skipped.most_common())}
    return writer.close({**report, "warnings": split_warnings(writer.songs())})


def tune_key(song: Song) -> str:
    """A tune's melodic intervals, hashed: the same in any key, any tempo and any rhythm."""
    return hashlib.sha1(np.diff(song.pitch.astype(np.int16)).tobytes()).hexdigest()


def relative_rhythm(song: Song) -> np.ndarray:
    """The onset spacings in units of their mean: the same at any tempo. (Not the median: where half
    the spacings are eighths and half quarters, a rounding tips it from one to the other.)"""
    spacing = np.diff(song.onset.astype(np.float64))
    mean = float(spacing.mean()) if len(spacing) else 0.0
    return spacing / mean if mean > 0 else spacing


def same_rhythm(a: np.ndarray, b: np.ndarray) -> bool:
    return len(a) == len(b) and bool(np.all(np.abs(a - b) <= RHYTHM_TOLERANCE))


def split_warnings(songs: dict[str, int]) -> list[str]:
    """What to tell the user about splits too small to validate or test on."""
    return [f"the {split} split has {f'only {songs[split]}' if songs[split] else 'no'} songs: "
            f"{'evaluate with --split valid' if split == 'test' else 'validation will measure little'}, or add more "
            f"music (each tune lands in a split by its hash: {SPLIT_PERCENT['train']} % train, "
            f"{SPLIT_PERCENT['valid']} % validation, {SPLIT_PERCENT['test']} % test)"
            for split in SPLITS if split != "train" and songs[split] < TINY_SPLIT]
