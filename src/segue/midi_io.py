"""Read any standard MIDI file into one melodic line, and write notes back with an exact length."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import mido

from .notes import Note, melody_end, melody_line

DRUM_CHANNEL = 9  # MIDI channel 10, counted from zero
WRITE_TICKS_PER_BEAT = 480
WRITE_TEMPO = 500_000  # microseconds per beat: 120 BPM, so one second is exactly 960 ticks
TICKS_PER_SECOND = WRITE_TICKS_PER_BEAT * 1_000_000 // WRITE_TEMPO
PIANO_PROGRAM = 0


class MidiError(ValueError):
    """A file that cannot be read as a melody; the message says why, in one line."""


@dataclass(frozen=True)
class Melody:
    """A monophonic line and the length of the recording it came from (its end of track)."""

    notes: list[Note]
    length: float

    def __post_init__(self) -> None:
        if self.length < melody_end(self.notes):
            raise ValueError(f"length {self.length!r} ends before the last note ({melody_end(self.notes)!r})")


def read_midi(source: str | os.PathLike | bytes) -> Melody:
    """Read a MIDI file (a path, or its bytes) and reduce it to one melodic line.

    Handles format 0 and 1 with tempo changes, running status and note-on with velocity 0. The
    drum channel is ignored; notes never released end at the end of the file. The melody's length
    is the later of the last note-off and the end of track.
    """
    midi = _open(source)
    if midi.type == 2:
        raise MidiError("format 2 MIDI files (independent sequences) are not supported")
    if midi.ticks_per_beat <= 0:
        raise MidiError(f"invalid MIDI timing: {midi.ticks_per_beat} ticks per beat")
    notes, drum_notes, length = _collect_notes(midi)
    if not notes:
        raise MidiError("the file has drum notes only, no melodic notes" if drum_notes else "the file has no notes")
    line = melody_line(notes)
    return Melody(line, max(length, melody_end(line)))


def _open(source: str | os.PathLike | bytes) -> mido.MidiFile:
    if isinstance(source, bytes):
        data = source
        name = "input"
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as error:
            raise MidiError(f"cannot read {source}: {error.strerror or error}") from None
        name = str(source)
    if not data:
        raise MidiError(f"{name} is empty")
    if not data.startswith(b"MThd"):
        raise MidiError(f"{name} is not a MIDI file (no MThd header)")
    try:
        return mido.MidiFile(file=io.BytesIO(data))
    # mido reports truncated or corrupt data through whatever its parser tripped on.
    except (EOFError, OSError, ValueError, KeyError, IndexError, TypeError) as error:
        reason = str(error) or type(error).__name__
        raise MidiError(f"{name} is truncated or corrupt: {reason}") from None


class NoteTracker:
    """Pairs note-ons with note-offs as messages arrive in time order: for files and live playing.

    A note-on with velocity 0 is a note-off; a key struck again before its release ends the
    earlier note; the drum channel is counted, not kept; zero-length notes are dropped."""

    def __init__(self) -> None:
        self.notes: list[Note] = []
        self.sounding: dict[tuple[int, int], tuple[float, int]] = {}
        self.drum_notes = 0

    def feed(self, message: mido.Message, now: float) -> None:
        if message.type not in ("note_on", "note_off"):
            return
        if message.channel == DRUM_CHANNEL:
            if message.type == "note_on" and message.velocity > 0:
                self.drum_notes += 1
            return
        key = (message.channel, message.note)
        if key in self.sounding:  # a note-off, or the same key struck again before its release
            self._release(key, now)
        if message.type == "note_on" and message.velocity > 0:
            self.sounding[key] = (now, message.velocity)

    def close(self, now: float) -> list[Note]:
        """End every held note at `now`; all notes so far, by onset."""
        for key in list(self.sounding):
            self._release(key, now)
        return sorted(self.notes, key=lambda n: (n.start, n.pitch))

    def _release(self, key: tuple[int, int], now: float) -> None:
        start, velocity = self.sounding.pop(key)
        if now > start:
            self.notes.append(Note(key[1], start, now, velocity))


def _collect_notes(midi: mido.MidiFile) -> tuple[list[Note], int, float]:
    """Notes in seconds, through the tempo map; notes never released end at the end of the file."""
    tracker = NoteTracker()
    now = 0.0
    try:
        for message in midi:  # merges tracks and converts ticks to seconds through tempo changes
            now += message.time
            tracker.feed(message, now)
    except (ValueError, TypeError, ZeroDivisionError, KeyError) as error:
        raise MidiError(f"invalid MIDI data: {error}") from None
    return tracker.close(now), tracker.drum_notes, now


def note_events(notes: list[Note]) -> list[tuple[float, mido.Message]]:
    """Notes as (seconds, note-on or note-off) in time order; at the same moment offs come first,
    so a repeated note is released before it is struck again."""
    events = [(n.start, 1, mido.Message("note_on", note=n.pitch, velocity=n.velocity)) for n in notes]
    events += [(n.end, 0, mido.Message("note_off", note=n.pitch, velocity=0)) for n in notes]
    events.sort(key=lambda event: (event[0], event[1]))
    return [(moment, message) for moment, _, message in events]


def write_midi(notes: list[Note], path: str | os.PathLike, length: float) -> None:
    """Write notes as a format-0 file lasting exactly `length` seconds.

    The end-of-track event sits at `length`, so a phrase that ends in a rest keeps its rest.
    The file is written to a temporary name first and moved into place, so it is never half there.
    """
    data = midi_bytes(notes, length)  # validates before touching the disk
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.partial")
    temporary.write_bytes(data)
    os.replace(temporary, path)


def midi_bytes(notes: list[Note], length: float) -> bytes:
    """The bytes of a format-0 MIDI file holding `notes` and lasting exactly `length` seconds."""
    end_tick = _ticks(length)
    if end_tick < _ticks(melody_end(notes)):
        raise ValueError(f"length {length!r} s ends before the last note ({melody_end(notes)!r} s)")
    events: list[tuple[int, int, mido.Message]] = []
    for note in notes:
        start, end = _ticks(note.start), _ticks(note.end)
        if end <= start:
            continue  # shorter than one tick: inaudible and unwritable
        events.append((start, 1, mido.Message("note_on", note=note.pitch, velocity=note.velocity)))
        events.append((end, 0, mido.Message("note_off", note=note.pitch, velocity=0)))
    events.sort(key=lambda event: (event[0], event[1]))  # offs before ons at the same tick

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=WRITE_TEMPO, time=0))
    track.append(mido.Message("program_change", program=PIANO_PROGRAM, time=0))
    tick = 0
    for event_tick, _, message in events:
        track.append(message.copy(time=event_tick - tick))
        tick = event_tick
    track.append(mido.MetaMessage("end_of_track", time=end_tick - tick))
    midi = mido.MidiFile(type=0, ticks_per_beat=WRITE_TICKS_PER_BEAT, tracks=[track])
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def _ticks(seconds: float) -> int:
    return round(seconds * TICKS_PER_SECOND)
