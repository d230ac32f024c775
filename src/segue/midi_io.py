"""Read any standard MIDI file into one melodic line, and write notes back with an exact length."""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from pathlib import Path

import mido
import numpy as np

from .errors import first_line
from .files import write_atomically
from .notes import CHORD_WINDOW, MIN_NOTE_SECONDS, Note, melody_end, melody_line
from .tempo import estimate_bpm

DRUM_CHANNEL = 9  # MIDI channel 10, counted from zero
MIDI_SIGNATURE = b"MThd"  # the first bytes of every Standard MIDI File
WRITE_TICKS_PER_BEAT = 480
DEFAULT_BPM = 120.0  # a file that states no tempo is read at 120 bpm (the MIDI standard's default)
MIN_BPM, MAX_BPM = 20.0, 400.0
PIANO_PROGRAM = 0
BLOCK_CHORDS = 0.5  # a part with more of its onsets chords than this plays accompaniment, not a tune
MAX_DELTA_TICKS = 0x0FFFFFFF  # the longest time between two events a MIDI file can state (4 bytes)
# s: a key's note-off this soon after the key was struck again (before that release) ends the
# earlier note, not the new one: a legato export overlaps a repeated note by a few milliseconds
RESTRIKE_OVERLAP = 0.05


class MidiError(ValueError):
    """A file that cannot be read as a melody; the message says why, in one line."""


@dataclass(frozen=True)
class Meter:
    """Where the beats and bars are, for writing a file that lines up in a sequencer."""

    bpm: float = DEFAULT_BPM  # quarter notes per minute
    numerator: int = 4  # beats in a bar
    denominator: int = 4  # the beat's note value: 4 = quarter, 8 = eighth

    def __post_init__(self) -> None:
        if not MIN_BPM <= self.bpm <= MAX_BPM:
            raise ValueError(f"bpm must be between {MIN_BPM:g} and {MAX_BPM:g}, got {self.bpm!r}")
        if not 1 <= self.numerator <= 32:
            raise ValueError(f"a time signature's numerator must be 1 to 32, got {self.numerator!r}")
        if self.denominator not in (1, 2, 4, 8, 16, 32):
            raise ValueError(f"a time signature's denominator must be 1, 2, 4, 8, 16 or 32, got {self.denominator!r}")

    @property
    def tempo(self) -> int:
        """Microseconds per quarter note, as a MIDI file states it."""
        return round(60_000_000 / self.bpm)

    @property
    def ticks_per_second(self) -> float:
        return WRITE_TICKS_PER_BEAT * 1_000_000 / self.tempo


@dataclass(frozen=True)
class Melody:
    """A monophonic line and the length of the recording it came from (its end of track); the
    file's first tempo and time signature, where it states them."""

    notes: list[Note]
    length: float
    bpm: float | None = None
    time_signature: tuple[int, int] | None = None
    track: int | None = None  # the track the melody was read from, counting from 1
    tracks: tuple[int, ...] = ()  # every track with melodic notes, counting from 1

    def __post_init__(self) -> None:
        if self.length < melody_end(self.notes):
            raise ValueError(f"length {self.length!r} ends before the last note ({melody_end(self.notes)!r})")


def read_midi(source: str | os.PathLike | bytes, track: int | None = None) -> Melody:
    """Read a MIDI file (a path, or its bytes) and reduce it to its melody, one line.

    The melody is the part `melody_part` picks, as `segue prepare` picks it (block chords only
    where nothing else plays), or the part of track number `track` (counting from 1, as
    sequencers do). Handles format 0 and 1, tempo changes, SMPTE (frames per second) timing,
    running status and note-on with velocity 0. The drum channel is ignored; notes never released
    end at the end of the file. The melody's length is the later of the last note-off and the end
    of track.
    """
    midi = _open(source)
    parts, end, trackers = _parts(midi)
    if not parts:
        if sum(tracker.drum_notes for tracker in trackers):
            raise MidiError("the file has drum notes only, no melodic notes")
        too_short = sum(tracker.too_short for tracker in trackers)
        shorter = f" ({too_short} shorter than {MIN_NOTE_SECONDS * 1000:g} ms)" if too_short else ""
        raise MidiError(f"the file has no notes{shorter}")
    melodic = {index for index, _ in parts}
    if track is not None:
        if isinstance(track, bool) or not isinstance(track, int) or not 1 <= track <= len(midi.tracks):
            raise MidiError(f"track must be a track number from 1 to {len(midi.tracks)} (the file has "
                            f"{len(midi.tracks)}), got {track!r}")
        parts = {part: notes for part, notes in parts.items() if part[0] == track - 1}
        if not parts:
            raise MidiError(f"track {track} has no melodic notes: choose another track")
    part = melody_choice(parts, 1, block_chords=True)
    line = melody_line(parts[part])
    return Melody(line, max(end, melody_end(line)), *_stated_meter(midi), track=part[0] + 1,
                  tracks=tuple(sorted(index + 1 for index in melodic)))


def meter_of(melody: Melody) -> Meter:
    """The meter to write a melody's continuation in: the file's own tempo and time signature where
    it states them, else the tempo heard in its notes (`tempo.estimate_bpm`) in 4/4."""
    bpm = melody.bpm or estimate_bpm(melody.notes) or DEFAULT_BPM
    return Meter(min(max(bpm, MIN_BPM), MAX_BPM), *(melody.time_signature or (4, 4)))


def _stated_meter(midi: mido.MidiFile) -> tuple[float | None, tuple[int, int] | None]:
    """The first tempo (bpm, within the range a file can be written at) and time signature a file states."""
    bpm = signature = None
    for track in midi.tracks:
        for message in track:
            if message.type == "set_tempo" and bpm is None and message.tempo > 0:
                bpm = min(max(round(60_000_000 / message.tempo, 3), MIN_BPM), MAX_BPM)
            elif message.type == "time_signature" and signature is None:
                signature = (message.numerator, message.denominator)
    return bpm, signature


def _open(source: str | os.PathLike | bytes) -> mido.MidiFile:
    """A format 0 or 1 MIDI file, parsed; MidiError says why it cannot be."""
    if isinstance(source, bytes):
        data = source
        name = "the file"
    else:
        try:
            data = Path(source).read_bytes()
        except OSError as error:
            raise MidiError(f"cannot read {source}: {error.strerror or error}") from None
        name = str(source)
    if not data:
        raise MidiError(f"{name} is empty")
    if not data.startswith(MIDI_SIGNATURE):
        raise MidiError(f"{name} is not a MIDI file: choose one saved as a Standard MIDI File (.mid or .midi)")
    try:
        midi = mido.MidiFile(file=io.BytesIO(data))
    except EOFError:  # a chunk claims more bytes than are left
        raise MidiError(f"{name} is truncated: it ends inside a track") from None
    # mido reports other corrupt data through whatever its parser tripped on (ValueError,
    # IndexError, its own KeySignatureError, ...): any of them means the file is broken.
    except Exception as error:  # noqa: BLE001
        raise MidiError(f"{name} is corrupt: {first_line(error)}") from None
    if midi.type == 2:
        raise MidiError("format 2 MIDI files (independent sequences) are not supported")
    return midi


@dataclass(frozen=True)
class _Owed:
    """The releases still to come of a key's earlier notes, after it was struck again before them."""

    count: int
    struck: float  # when the key was last struck again
    heard: float | None = None  # the last release taken as an earlier note's (the sounding note's own, if no other comes)


class NoteTracker:
    """Pairs note-ons with note-offs as messages arrive in time order: for files and live playing.

    A note-on with velocity 0 is a note-off; the drum channel is counted, not kept. A key struck
    again before its release ends the earlier note there, and the earlier note's own note-off,
    when it comes within `RESTRIKE_OVERLAP` after, is passed over (a file that overlaps a repeated
    note a little, as legato exports do, would otherwise end the new note at once), one for each
    time the key was struck again; if the new note then gets no release of its own, it ends at
    the one passed over, not at the end of the file. Notes shorter than MIN_NOTE_SECONDS
    (zero-length, or squeezed by an absurd tempo) are counted and dropped: they cannot be heard,
    and a MIDI file written here could not hold them."""

    def __init__(self) -> None:
        self.notes: list[Note] = []
        self.sounding: dict[tuple[int, int], tuple[float, int]] = {}
        self.owed: dict[tuple[int, int], _Owed] = {}
        self.drum_notes = 0
        self.too_short = 0

    def feed(self, message: mido.Message, now: float) -> None:
        if message.type not in ("note_on", "note_off"):
            return
        if message.channel == DRUM_CHANNEL:
            if message.type == "note_on" and message.velocity > 0:
                self.drum_notes += 1
            return
        key = (message.channel, message.note)
        struck = message.type == "note_on" and message.velocity > 0
        owed = self.owed.pop(key, None)
        if not struck and owed is not None and owed.count and now - owed.struck <= RESTRIKE_OVERLAP:
            self.owed[key] = _Owed(owed.count - 1, owed.struck, now)  # an earlier note's release
            return
        again = key in self.sounding
        if again:  # a note-off, or the same key struck again before its release
            self._release(key, now)
        if struck:
            if again:
                self.owed[key] = _Owed((owed.count if owed is not None else 0) + 1, now)
            self.sounding[key] = (now, message.velocity)

    def close(self, now: float) -> list[Note]:
        """End every held note at `now` (or at the release last passed over as an earlier
        note's); all notes so far, by onset."""
        for key in list(self.sounding):
            owed = self.owed.get(key)
            self._release(key, now if owed is None or owed.heard is None else owed.heard)
        self.owed.clear()
        return sorted(self.notes, key=lambda n: (n.start, n.pitch))

    def _release(self, key: tuple[int, int], now: float) -> None:
        start, velocity = self.sounding.pop(key)
        if now - start >= MIN_NOTE_SECONDS:
            self.notes.append(Note(key[1], start, now, velocity))
        else:
            self.too_short += 1


def _timed_events(midi: mido.MidiFile) -> tuple[list[tuple[float, int, mido.Message]], float]:
    """(seconds, track index, note message) in time order, and the file's end in seconds.

    The tracks are merged as mido merges them (by time, earlier tracks first at the same tick) but
    only note and tempo events are kept and timed, which reads a 100,000-note file in a fraction
    of the time mido's own merged iteration takes."""
    events, end_tick = [], 0
    for index, track in enumerate(midi.tracks):
        tick = 0
        for order, message in enumerate(track):
            tick += message.time
            if message.type in _TIMED_EVENTS:
                events.append((tick, index, order, message))
        end_tick = max(end_tick, tick)
    events.sort(key=lambda event: event[:3])
    clock = _Clock(midi.ticks_per_beat)
    timed = []
    for tick, index, _, message in events:
        if message.type == "set_tempo":
            clock.set_tempo(tick, message.tempo)
        else:
            timed.append((clock.seconds(tick), index, message))
    return timed, clock.seconds(end_tick)


def read_midi_parts(source: str | os.PathLike | bytes) -> tuple[dict[tuple[int, int], list[Note]], float]:
    """A MIDI file's notes by part -> ({(track, channel): notes}, the file's length in seconds).
    The drum channel is left out. Raises MidiError as `read_midi` does."""
    parts, end, _ = _parts(_open(source))
    return parts, end


def _parts(midi: mido.MidiFile) -> tuple[dict[tuple[int, int], list[Note]], float, list[NoteTracker]]:
    """The notes of each (track, channel) that has any (the drum channel's are counted by its
    tracker, not kept), the file's length in seconds, and every part's tracker (for its counts)."""
    events, end = _timed_events(midi)
    trackers: dict[tuple[int, int], NoteTracker] = {}
    for now, track, message in events:
        trackers.setdefault((track, message.channel), NoteTracker()).feed(message, now)
    parts = {part: tracker.close(end) for part, tracker in trackers.items()}
    return {part: notes for part, notes in parts.items() if notes}, end, list(trackers.values())


def chord_share(notes: list[Note]) -> float:
    """The share of a part's onsets that start two or more notes at once (notes starting within
    CHORD_WINDOW of each other start together): near 0 for a tune, near 1 for block chords."""
    onsets = sorted(n.start for n in notes)
    sizes: list[int] = []  # notes starting together, onset by onset
    for i, onset in enumerate(onsets):
        if i and onset - onsets[i - 1] < CHORD_WINDOW:
            sizes[-1] += 1
        else:
            sizes.append(1)
    return sum(size > 1 for size in sizes) / len(sizes) if sizes else 0.0


def melody_part(parts: dict[tuple[int, int], list[Note]], min_notes: int, block_chords: bool = False) -> list[Note]:
    """The melody of a multi-part file (`melody_choice`), reduced to one line; empty if no part has
    `min_notes`."""
    part = melody_choice(parts, min_notes, block_chords)
    return [] if part is None else melody_line(parts[part])


def melody_choice(parts: dict[tuple[int, int], list[Note]], min_notes: int,
                  block_chords: bool = False) -> tuple[int, int] | None:
    """Which part of a multi-part file carries the melody; None if no part has `min_notes`.

    The heuristic: a part that mostly plays block chords (`chord_share` above BLOCK_CHORDS) is
    accompaniment, not a tune (unless `block_chords` and no other part qualifies). Of the other
    parts whose highest line has at least `min_notes` notes and at least a quarter as many as the
    busiest such part (leaving out sparse parts such as a few fills), the one with the highest
    median pitch carries the tune. Accompaniment and bass sit lower; a single-part file is its own
    melody."""
    lines = {part: melody_line(notes) for part, notes in parts.items()}
    lines = {part: line for part, line in lines.items() if len(line) >= min_notes}
    tunes = {part: line for part, line in lines.items() if chord_share(parts[part]) <= BLOCK_CHORDS}
    if tunes or not block_chords:
        lines = tunes
    if not lines:
        return None
    busiest = max(len(line) for line in lines.values())
    candidates = [part for part, line in lines.items() if 4 * len(line) >= busiest]
    # Ties: the busier part, then the first track and channel.
    return max(candidates, key=lambda part: (float(np.median([n.pitch for n in lines[part]])), len(lines[part]),
                                             -part[0], -part[1]))


_TIMED_EVENTS = frozenset(("note_on", "note_off", "set_tempo"))
SMPTE_FRAMES_PER_SECOND = {24: 24.0, 25: 25.0, 29: 30000 / 1001, 30: 30.0}  # 29 means 29.97 drop-frame
DEFAULT_TEMPO = 500_000  # microseconds per beat until a file says otherwise (the standard's default)


class _Clock:
    """Ticks -> seconds through the tempo changes met so far, for the two kinds of MIDI timing:
    ticks per beat (the tempo sets a beat's length) or SMPTE (ticks per frame, tempo ignored)."""

    def __init__(self, division: int) -> None:
        if division > 0:
            self.seconds_per_tick, self.follows_tempo = DEFAULT_TEMPO / 1e6 / division, True
        else:  # SMPTE: the high byte is minus the frame rate, the low byte ticks per frame
            frames, ticks_per_frame = 256 - ((division & 0xFFFF) >> 8), division & 0xFF
            if division == 0:
                raise MidiError("invalid MIDI timing: 0 ticks per beat")
            if frames not in SMPTE_FRAMES_PER_SECOND or ticks_per_frame == 0:
                raise MidiError(f"invalid MIDI timing: SMPTE at {frames} frames per second, {ticks_per_frame} ticks "
                                "per frame (the rates are 24, 25, 29.97 and 30)")
            self.seconds_per_tick, self.follows_tempo = 1 / (SMPTE_FRAMES_PER_SECOND[frames] * ticks_per_frame), False
        self.division = division
        self.tick, self.at = 0, 0.0  # the last tempo change: its tick and its time in seconds

    def set_tempo(self, tick: int, tempo: int) -> None:
        if not self.follows_tempo:
            return
        if tempo <= 0:
            raise MidiError(f"invalid tempo: {tempo} microseconds per beat")
        self.at, self.tick = self.seconds(tick), tick
        self.seconds_per_tick = tempo / 1e6 / self.division

    def seconds(self, tick: int) -> float:
        return self.at + (tick - self.tick) * self.seconds_per_tick


def note_events(notes: list[Note]) -> list[tuple[float, mido.Message]]:
    """Notes as (seconds, note-on or note-off) in time order; at the same moment offs come first,
    so a repeated note is released before it is struck again."""
    events = [(n.start, 1, mido.Message("note_on", note=n.pitch, velocity=n.velocity)) for n in notes]
    events += [(n.end, 0, mido.Message("note_off", note=n.pitch, velocity=0)) for n in notes]
    events.sort(key=lambda event: (event[0], event[1]))
    return [(moment, message) for moment, _, message in events]


def write_midi(notes: list[Note], path: str | os.PathLike, length: float, meter: Meter = Meter()) -> None:
    """Write notes as a format-0 file lasting exactly `length` seconds.

    The end-of-track event sits at `length`, so a phrase that ends in a rest keeps its rest.
    The file is written to a temporary name first and moved into place, so it is never half there.
    """
    write_atomically(path, midi_bytes(notes, length, meter))  # validated before the disk is touched


def midi_bytes(notes: list[Note], length: float, meter: Meter = Meter()) -> bytes:
    """The bytes of a format-0 MIDI file holding `notes` and lasting exactly `length` seconds (to
    a tick), stating `meter`'s tempo and time signature so its beats and bars fall where they were
    played."""
    ticks_per_second = meter.ticks_per_second

    def _ticks(seconds: float) -> int:
        return round(seconds * ticks_per_second)

    end_tick = _ticks(length)
    if end_tick < _ticks(melody_end(notes)):
        raise ValueError(f"length {length!r} s ends before the last note ({melody_end(notes)!r} s)")
    # Rounded to ticks, a note just MIN_NOTE_SECONDS long could come out shorter (or at no length),
    # and reading the file would drop it: every note is written at least this many ticks long.
    min_ticks = int(MIN_NOTE_SECONDS * ticks_per_second) + 1
    events: list[tuple[int, int, mido.Message]] = []
    for note in notes:
        if note.duration < MIN_NOTE_SECONDS:
            continue  # inaudible, and dropped wherever notes are read
        start, end = _ticks(note.start), _ticks(note.end)
        if end - start < min_ticks:  # within the file: a note ending at its end starts that much earlier
            end = min(start + min_ticks, end_tick)
            start = max(end - min_ticks, 0)
        events.append((start, 1, mido.Message("note_on", note=note.pitch, velocity=note.velocity)))
        events.append((end, 0, mido.Message("note_off", note=note.pitch, velocity=0)))
    events.sort(key=lambda event: (event[0], event[1]))  # offs before ons at the same tick

    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=meter.tempo, time=0))
    track.append(mido.MetaMessage("time_signature", numerator=meter.numerator, denominator=meter.denominator, time=0))
    track.append(mido.Message("program_change", program=PIANO_PROGRAM, time=0))
    tick = 0
    for event_tick, _, message in events:
        track.append(message.copy(time=event_tick - tick))
        tick = event_tick
    track.append(mido.MetaMessage("end_of_track", time=end_tick - tick))
    longest = max(message.time for message in track)
    if longest > MAX_DELTA_TICKS:  # mido would write it, in a form other programs cannot read
        raise MidiError(f"cannot write a MIDI file with {longest / ticks_per_second / 3600:,.0f} hours between two "
                        f"events (a file allows at most {MAX_DELTA_TICKS / ticks_per_second / 3600:.1f})")
    midi = mido.MidiFile(type=0, ticks_per_beat=WRITE_TICKS_PER_BEAT, tracks=[track])
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()

