"""Plain note types, times in seconds, and reduction of polyphony to one melodic line."""

from __future__ import annotations

import math
from dataclasses import dataclass

# Two notes whose onsets lie closer than this are one chord, however humanly ragged the attack.
CHORD_WINDOW = 0.03
# Shorter notes are dropped wherever notes are read or written: inaudible. A MIDI file Segue
# writes holds every longer note at least this long, so reading it back keeps them all.
MIN_NOTE_SECONDS = 0.001
MAX_PITCH = 127  # MIDI pitches 0..127
MIN_VELOCITY, MAX_VELOCITY = 1, 127  # MIDI velocity 0 would be a note-off


@dataclass(frozen=True, slots=True)
class Note:
    """One sounding note: MIDI pitch, start and end in seconds, MIDI velocity."""

    pitch: int
    start: float
    end: float
    velocity: int = 80

    def __post_init__(self) -> None:
        if isinstance(self.pitch, bool) or not isinstance(self.pitch, int) or not 0 <= self.pitch <= MAX_PITCH:
            raise ValueError(f"pitch must be an integer 0..{MAX_PITCH}, got {self.pitch!r}")
        if (isinstance(self.velocity, bool) or not isinstance(self.velocity, int)
                or not MIN_VELOCITY <= self.velocity <= MAX_VELOCITY):
            raise ValueError(f"velocity must be an integer {MIN_VELOCITY}..{MAX_VELOCITY}, got {self.velocity!r}")
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number of seconds, got {value!r}")
        if self.start < 0:
            raise ValueError(f"start must be >= 0 seconds, got {self.start!r}")
        if self.end <= self.start:
            raise ValueError(f"end must be after start, got start={self.start!r} end={self.end!r}")

    @property
    def duration(self) -> float:
        return self.end - self.start

    def shifted(self, seconds: float) -> Note:
        return Note(self.pitch, self.start + seconds, self.end + seconds, self.velocity)


def melody_line(notes: list[Note]) -> list[Note]:
    """Reduce any set of notes to one monophonic line.

    The highest sounding note wins: of a chord (onsets within CHORD_WINDOW) only the top note is
    kept, and a lower note that starts under a higher one is dropped as accompaniment, unless the
    higher note lets go within the first half of it, which is a legato overlap in a single line,
    not accompaniment. Wherever two kept notes overlap, the earlier one is trimmed to end where
    the later one starts.
    """
    line: list[Note] = []
    # A total order, so that doubled notes (one pitch, one onset) give the same line in any order.
    for note in sorted(notes, key=lambda n: (n.start, -n.pitch, -n.end, -n.velocity)):
        if not line or line[-1].end <= note.start:
            line.append(note)
            continue
        previous = line[-1]
        if note.start - previous.start < CHORD_WINDOW:
            if note.pitch > previous.pitch:
                line[-1] = note
            continue
        legato = previous.end - note.start <= 0.5 * note.duration
        if note.pitch >= previous.pitch or legato:
            line[-1] = Note(previous.pitch, previous.start, note.start, previous.velocity)
            line.append(note)
    return line


def paused(notes: list[Note], at: int, seconds: float) -> list[Note]:
    """The line with a pause of `seconds` before its note `at`: that note and the ones after it
    come that much later (a player who hesitates)."""
    return [note.shifted(seconds) if index >= at else note for index, note in enumerate(notes)]


def melody_end(notes: list[Note]) -> float:
    """The time the last note lets go (0.0 for no notes)."""
    return max((n.end for n in notes), default=0.0)


def quantized(notes: list[Note], grid: float, length: float) -> list[Note]:
    """Notes with starts and ends moved to the nearest multiple of `grid` seconds, each at least
    one grid step long and none past `length`; of notes of one pitch that land on one start, the
    first is kept."""
    if not grid > 0:
        raise ValueError(f"grid must be above 0 seconds, got {grid!r}")
    snapped, taken = [], set()
    for note in sorted(notes, key=lambda n: n.start):
        start = round(note.start / grid) * grid
        end = min(max(round(note.end / grid) * grid, start + grid), length)
        if (note.pitch, start) in taken or end <= start:
            continue
        taken.add((note.pitch, start))
        snapped.append(Note(note.pitch, start, end, note.velocity))
    return snapped
