"""`segue prepare --from DIR`: a user's own music (MIDI, MusicXML, ABC, kern) as a sharded dataset.

Files are read in parallel across cores. A file that cannot be read, or holds no melody of
MIN_SONG_NOTES notes, is skipped and counted by reason, never fatal. A file whose bytes were seen
already is a duplicate; so is a tune whose intervals and rhythm were seen already (the same tune
in another key or file). Each file's songs go to train, validation or test by the hash of the
file's content: stable across runs, and all tunes of one file in one split.

From MIDI the melody is picked by `midi_io.melody_part` (the highest part among the busy ones)
and reduced to its highest line; MIDI timing is kept in seconds (as beats of one second), so the
training augmentation varies the file's own tempo. Other formats go through music21 as the
bundled corpus does.
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .data import MIN_SONG_NOTES, DataError, ShardWriter, Song, parse_score_file, song_key, split_of
from .errors import first_line
from .files import write_atomically
from .midi_io import MidiError, melody_part, read_midi_parts

MIDI_SUFFIXES = (".mid", ".midi")
SCORE_SUFFIXES = (".xml", ".musicxml", ".mxl", ".abc", ".krn")


@dataclass
class FileResult:
    name: str  # relative to the folder it was found in
    digest: str = ""  # SHA-256 of the bytes
    songs: list[Song] = field(default_factory=list)
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


def read_file(job: tuple[Path, str]) -> FileResult:
    """One file's melodies, or the reason it has none (runs in a worker process)."""
    path, name = job
    try:
        data = path.read_bytes()
    except OSError as error:
        return FileResult(name, problem=f"unreadable: {error.strerror or error}")
    result = FileResult(name, hashlib.sha256(data).hexdigest())
    try:
        if path.suffix.lower() in MIDI_SUFFIXES:
            parts, _ = read_midi_parts(data)
            line = melody_part(parts, MIN_SONG_NOTES)
            result.songs = [_song(f"{name}#0", line)] if line else []
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
    jobs = find_files(folders)
    if not jobs:
        raise DataError(f"no MIDI, MusicXML, ABC or kern files under {', '.join(map(str, folders))}")
    writer = ShardWriter(out, **({"shard_songs": shard_songs} if shard_songs else {}))
    seen_files: set[str] = set()
    seen_songs: set[str] = set()
    skipped: Counter[str] = Counter()
    skipped_lines = []
    counts = Counter()
    with ProcessPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        results = pool.map(read_file, jobs, chunksize=8)
        for result in tqdm(results, total=len(jobs), desc="reading files", unit="file", disable=not progress):
            if result.problem:
                skipped[result.problem.split(":")[0]] += 1
                skipped_lines.append(f"{result.name}\t{result.problem}")
                continue
            if result.digest in seen_files:
                counts["duplicate_files"] += 1
                continue
            seen_files.add(result.digest)
            counts["files_read"] += 1
            split = split_of(result.digest)
            for song in result.songs:
                key = song_key(song)
                if key in seen_songs:
                    counts["duplicate_songs"] += 1
                    continue
                seen_songs.add(key)
                writer.add(song, split)
    write_atomically(Path(out) / "skipped.tsv", "".join(line + "\n" for line in skipped_lines))
    report = {"sources": [str(f) for f in folders], "files_found": len(jobs), "files_read": counts["files_read"],
              "duplicate_files": counts["duplicate_files"], "duplicate_songs": counts["duplicate_songs"],
              "files_skipped": sum(skipped.values()), "skipped_by_reason": dict(skipped.most_common())}
    return writer.close(report)
