import io
import struct
from pathlib import Path

import mido
import pytest

import segue
from conftest import midi_file, played
from hostile import line, smf
from segue.midi_io import (Melody, Meter, MidiError, NoteTracker, chord_share, melody_part, meter_of, midi_bytes, read_midi, read_midi_parts,
                           write_midi)
from segue.notes import Note


def on(note, time=0, velocity=90, channel=0):
    return mido.Message("note_on", note=note, velocity=velocity, time=time, channel=channel)


def off(note, time=0, channel=0):
    return mido.Message("note_off", note=note, velocity=0, time=time, channel=channel)


def approx_notes(notes, tolerance=1e-3):
    return [(n.pitch, pytest.approx(n.start, abs=tolerance), pytest.approx(n.end, abs=tolerance), n.velocity) for n in notes]


def test_notes_to_midi_to_notes_round_trip(tmp_path):
    notes = played([60, 62, 64, 65, 67, 65, 64], spacing=0.37)
    write_midi(notes, tmp_path / "x.mid", 5.0)
    melody = read_midi(tmp_path / "x.mid")
    assert approx_notes(melody.notes) == approx_notes(notes)
    assert melody.length == pytest.approx(5.0)


def test_midi_to_notes_to_midi_round_trip(tmp_path):
    original = midi_bytes(played([55, 57, 59, 60]), 3.0)
    again = midi_bytes(read_midi(original).notes, 3.0)
    assert again == original


@pytest.mark.parametrize("meter", [Meter(90, 3, 4), Meter(150, 6, 8), Meter(61.5, 5, 4)])
def test_a_file_states_its_meter_and_its_notes_and_length_survive_it(meter):
    notes = played([60, 62, 64, 65, 67], spacing=0.4)
    data = midi_bytes(notes, 3.0, meter)
    midi = mido.MidiFile(file=io.BytesIO(data))
    [tempo] = [m.tempo for m in midi.tracks[0] if m.type == "set_tempo"]
    [signature] = [(m.numerator, m.denominator) for m in midi.tracks[0] if m.type == "time_signature"]
    assert tempo == round(60_000_000 / meter.bpm) and signature == (meter.numerator, meter.denominator)
    melody = read_midi(data)
    assert approx_notes(melody.notes, 2e-3) == approx_notes(notes, 2e-3)
    assert melody.length == pytest.approx(3.0, abs=2e-3) and midi.length == pytest.approx(3.0, abs=2e-3)
    assert melody.bpm == pytest.approx(meter.bpm, abs=1e-3) and melody.time_signature == signature
    written = meter_of(melody)
    assert (written.bpm, written.numerator, written.denominator) == (pytest.approx(meter.bpm, abs=1e-3), *signature)


@pytest.mark.parametrize("bpm", [20, 61.5, 120, 125, 171, 400])
def test_every_note_written_is_read_back_however_short(bpm):
    """A continuation's last note, cut at the requested length, can be left a millisecond long;
    rounded to ticks it came out under MIN_NOTE_SECONDS (or at no length) and vanished from the
    file while the page's roll still showed it."""
    notes = [Note(60 + i, 0.2 * i + offset, 0.2 * i + offset + held) for i, (offset, held) in enumerate(
        [(0.0, 0.001), (0.0004, 0.001), (0.0007, 0.0012), (0.0011, 0.0015), (0.0013, 0.003), (0.0, 0.1)])]
    notes.append(Note(80, 1.4 - 0.0011, 1.4))  # ending at the file's end
    melody = read_midi(midi_bytes(notes + [Note(81, 1.2, 1.2 + 0.0009)], 1.4, Meter(bpm)))  # the last too short to hear
    assert [n.pitch for n in melody.notes] == [n.pitch for n in notes]
    assert melody.notes[-1].end == pytest.approx(1.4, abs=1e-3) and melody.length == pytest.approx(1.4, abs=1e-3)


def test_a_file_without_a_meter_is_written_in_the_tempo_of_its_notes(tmp_path):
    path = midi_file([[on(60), off(60, 240), on(62), off(62, 240), on(64), off(64, 240), on(65), off(65, 240)]],
                     tmp_path / "bare.mid")  # no tempo event: 120 bpm, eighth notes
    melody = read_midi(path)
    assert melody.bpm is None and melody.time_signature is None
    written = meter_of(melody)
    assert (written.bpm, written.numerator, written.denominator) == (pytest.approx(120, abs=1), 4, 4)


@pytest.mark.parametrize("args, message", [((10,), "bpm"), ((120, 0, 4), "numerator"), ((120, 4, 3), "denominator")])
def test_a_bad_meter_names_the_value(args, message):
    with pytest.raises(ValueError, match=message):
        Meter(*args)


def test_length_is_exact_even_when_the_phrase_ends_in_a_rest(tmp_path):
    path = tmp_path / "rest.mid"
    write_midi([Note(60, 0.0, 0.5)], path, 5.0)
    assert mido.MidiFile(path).length == 5.0
    assert read_midi(path).length == pytest.approx(5.0)


def test_write_refuses_a_length_shorter_than_the_notes(tmp_path):
    with pytest.raises(ValueError, match="ends before"):
        write_midi([Note(60, 0.0, 6.0)], tmp_path / "x.mid", 5.0)


def test_format_1_with_tempo_changes_and_several_tracks(tmp_path):
    tempo_track = [
        mido.MetaMessage("set_tempo", tempo=500_000, time=0),  # 120 BPM: a beat is 0.5 s
        mido.MetaMessage("set_tempo", tempo=1_000_000, time=960),  # after 2 beats (1 s): 60 BPM
    ]
    melody = [on(72), off(72, 480), on(74, 0), off(74, 480), on(76, 0), off(76, 480)]
    bass = [on(48, channel=1), off(48, 1440, channel=1)]
    path = midi_file([tempo_track, melody, bass], tmp_path / "f1.mid")
    notes = read_midi(path).notes
    assert [(n.pitch, round(n.start, 6), round(n.end, 6)) for n in notes] == [(72, 0.0, 0.5), (74, 0.5, 1.0), (76, 1.0, 2.0)]


def test_format_0(tmp_path):
    path = midi_file([[on(60), off(60, 240), on(62), off(62, 240)]], tmp_path / "f0.mid", type=0)
    assert [n.pitch for n in read_midi(path).notes] == [60, 62]


def test_running_status_and_note_on_velocity_zero_as_note_off(tmp_path):
    # Hand-assembled track: one 0x90 status byte, then running status for every later event.
    events = bytes([0x00, 0x90, 60, 80, 0x83, 0x60, 60, 0, 0x00, 62, 70, 0x83, 0x60, 62, 0, 0x00, 0xFF, 0x2F, 0x00])
    header = b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480)
    data = header + b"MTrk" + struct.pack(">I", len(events)) + events
    notes = read_midi(data).notes
    assert [(n.pitch, n.velocity, round(n.start, 3), round(n.end, 3)) for n in notes] == [(60, 80, 0.0, 0.5), (62, 70, 0.5, 1.0)]


def test_notes_never_released_end_at_the_end_of_the_file(tmp_path):
    track = [on(60), off(60, 480), on(64, 0), mido.MetaMessage("end_of_track", time=960)]
    melody = read_midi(midi_file([track], tmp_path / "held.mid"))
    assert [(n.pitch, round(n.end, 3)) for n in melody.notes] == [(60, 0.5), (64, 1.5)]
    assert melody.length == pytest.approx(1.5)


@pytest.mark.parametrize("releases", [[off(62, 4), off(62, 476)], [off(62, 480)]], ids=["overlapped", "one release"])
def test_a_key_struck_again_before_its_release_gives_two_whole_notes(tmp_path, releases):
    """A legato export strikes a repeated note a few ms before releasing the last (its own release
    then comes just after and is passed over); another file never releases the first. Either way
    the earlier note ends where the key is struck again, and the new one lasts to its release."""
    track = [on(62), on(62, 480, velocity=70), *releases]  # 480 ticks a beat at 120 bpm: 0.5 s
    assert approx_notes(read_midi(midi_file([track], tmp_path / "again.mid")).notes) == [(62, 0.0, 0.5, 90),
                                                                                       (62, 0.5, 1.0, 70)]


@pytest.mark.parametrize(("events", "notes"), [
    # struck three times, each earlier note released just after the next strike
    ([("on", 0), ("on", 0.5), ("on", 1.0), ("off", 1.004), ("off", 1.01), ("off", 1.5)],
     [(0, 0.5), (0.5, 1.0), (1.0, 1.5)]),
    # the one release after a strike again, within 50 ms: the new note's own after all
    ([("on", 0), ("on", 0.5), ("off", 0.53)], [(0, 0.5), (0.5, 0.53)]),
    # a release long after the strike again ends the new note, and a later one ends nothing
    ([("on", 0), ("on", 0.5), ("off", 0.6), ("off", 1.0)], [(0, 0.5), (0.5, 0.6)]),
], ids=["three strikes", "one short release", "a late release"])
def test_a_key_struck_again_pairs_each_release_with_its_note(events, notes):
    tracker = NoteTracker()
    for kind, now in events:
        tracker.feed(on(62) if kind == "on" else off(62), now)
    assert [(n.start, n.end) for n in tracker.close(5.0)] == [pytest.approx(note) for note in notes]


def test_the_bundled_example_ends_on_its_long_last_note():
    """Its last D4 is struck again 4 ms before the one before it is released."""
    melody = read_midi(Path(segue.__file__).parent / "examples" / "ode-to-joy.mid")
    assert [n.pitch for n in melody.notes[-2:]] == [62, 62]
    assert melody.notes[-1].end - melody.notes[-1].start == pytest.approx(0.527, abs=0.002)


def test_drum_channel_is_ignored(tmp_path):
    track = [on(36, channel=9), on(60), off(36, 240, channel=9), off(60, 240)]
    assert [n.pitch for n in read_midi(midi_file([track], tmp_path / "d.mid")).notes] == [60]


def test_polyphony_is_reduced_to_the_highest_line(tmp_path):
    track = [on(60), on(64), on(67), off(60, 480), off(64), off(67), on(65), off(65, 480)]
    assert [n.pitch for n in read_midi(midi_file([track], tmp_path / "p.mid")).notes] == [67, 65]


def test_end_of_track_after_the_notes_sets_the_length(tmp_path):
    track = [on(60), off(60, 480), mido.MetaMessage("end_of_track", time=4 * 960)]
    assert read_midi(midi_file([track], tmp_path / "e.mid")).length == pytest.approx(4.5)


def test_melody_rejects_a_length_before_its_last_note():
    with pytest.raises(ValueError, match="length"):
        Melody([Note(60, 0.0, 2.0)], 1.0)


def _valid_bytes():
    return midi_bytes(played([60, 62, 64]), 2.0)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: b"", "empty"),
        (lambda tmp: b"this is a text file, not music\n", "not a MIDI file"),
        (lambda tmp: _valid_bytes()[:30], "truncated"),
        (lambda tmp: _valid_bytes()[:12] + b"\x00\x00" + _valid_bytes()[14:], "0 ticks per beat"),
        (lambda tmp: midi_bytes([], 1.0), "no notes"),
        (lambda tmp: (midi_file([[on(36, channel=9), off(36, 240, channel=9)]], tmp / "drums.mid")).read_bytes(), "drum notes only"),
    ],
    ids=["empty", "not-midi", "truncated", "zero-ticks", "no-notes", "drums-only"],
)
def test_bad_files_raise_one_clear_error(tmp_path, make, message):
    with pytest.raises(MidiError, match=message) as caught:
        read_midi(make(tmp_path))
    assert "\n" not in str(caught.value)


def test_missing_file_is_a_midi_error(tmp_path):
    with pytest.raises(MidiError, match="cannot read"):
        read_midi(tmp_path / "nope.mid")


def test_a_gap_longer_than_a_midi_file_can_state_is_a_clear_error(tmp_path):
    notes = [Note(60, 0.0, 1.0), Note(62, 80 * 3600.0, 80 * 3600.0 + 1)]  # 80 hours apart: over 0x0FFFFFFF ticks
    with pytest.raises(MidiError, match="80 hours between two events"):
        midi_bytes(notes, 80 * 3600.0 + 2)
    write_midi(notes[:1], tmp_path / "ok.mid", 70 * 3600.0)  # 70 hours of silence still fits
    assert read_midi(tmp_path / "ok.mid").length == pytest.approx(70 * 3600.0)


def test_the_melody_of_a_band_file_is_its_highest_busy_part():
    bass = line([36, 43, 36, 43, 36, 43, 36, 43, 36, 43], channel=1)
    tune = line([72, 74, 76, 77, 79, 77, 76, 74, 72, 71], channel=0)
    fills = line([96, 98], channel=2)  # high, but too sparse to be the tune
    drums = line([36, 38, 42, 36, 38, 42, 36, 38, 42, 36, 38, 42], channel=9)
    parts, length = read_midi_parts(smf([bass, tune, fills, drums]))
    assert set(parts) == {(0, 1), (1, 0), (2, 2)} and length > 0
    assert [n.pitch for n in melody_part(parts, min_notes=8)] == [72, 74, 76, 77, 79, 77, 76, 74, 72, 71]
    assert melody_part({(0, 0): parts[(2, 2)]}, min_notes=8) == []


def block_chords(roots: list[int], step: int = 960, channel: int = 1) -> list[mido.Message]:
    """Triads on each root, `step` ticks apart: the chords of a lead sheet."""
    return interleaved(*(line([root + offset for root in roots], step=step, held=step - 40, channel=channel)
                         for offset in (0, 4, 7)))


def test_block_chords_are_not_a_tune():
    tune = line([72, 74, 76, 77, 79, 77, 76, 74, 72, 71, 72, 74, 76, 77, 79, 81], channel=0)
    chords = block_chords([60, 65, 67, 60])
    parts, _ = read_midi_parts(smf([tune, chords]))
    assert chord_share(parts[(0, 0)]) == 0 and chord_share(parts[(1, 1)]) == 1
    # Alone, the chords' top line is no melody for training...
    assert melody_part({(1, 1): parts[(1, 1)]}, min_notes=3) == []
    # ...though a file of nothing else can still be extended from it.
    assert [n.pitch for n in melody_part({(1, 1): parts[(1, 1)]}, 3, block_chords=True)] == [67, 72, 74, 67]


def test_extend_reads_the_melody_part_as_prepare_does_and_track_picks_another():
    """Merging every part and keeping the highest note put a chord note in the melody's rests
    (a chord at 0.0 s before the tune's first note at 0.5 s)."""
    tune = [mido.Message("note_on", note=72, velocity=0, time=480)] + line([72, 74, 76, 77, 79, 77, 76, 74], channel=0)
    chords = block_chords([60, 65, 67, 60], channel=1)
    data = smf([tune, chords])
    melody = read_midi(data)
    assert [n.pitch for n in melody.notes] == [72, 74, 76, 77, 79, 77, 76, 74] and melody.notes[0].start == 0.5
    assert (melody.track, melody.tracks) == (1, (1, 2))
    chords = read_midi(data, track=2)
    assert [n.pitch for n in chords.notes] == [67, 72, 74, 67] and (chords.track, chords.tracks) == (2, (1, 2))
    for bad in (0, 3, True):
        with pytest.raises(MidiError, match="track must be a track number from 1 to 2"):
            read_midi(data, track=bad)
    with pytest.raises(MidiError, match="track 1 has no melodic notes"):
        read_midi(smf([[mido.MetaMessage("track_name", name="empty")], tune]), track=1)


def interleaved(*lines):
    """Several lines' messages in one track, by time: their notes sound together."""
    timed = []
    for messages in lines:
        tick = 0
        for message in messages:
            tick += message.time
            timed.append((tick, message))
    timed.sort(key=lambda pair: pair[0])  # stable: each line keeps its own order
    return [message.copy(time=tick - previous) for (previous, _), (tick, message) in zip([(0, None)] + timed, timed)]


def test_channels_of_a_format_0_file_are_separate_parts():
    high, low = [60, 62, 64, 65, 67, 69, 71, 72], [40, 41, 43, 45, 47, 48, 50, 52]
    track = interleaved(line(high, channel=3), line(low, channel=4))
    parts, _ = read_midi_parts(smf([track], type=0))
    assert sorted(parts) == [(0, 3), (0, 4)]
    assert [n.pitch for n in parts[(0, 3)]] == high and [n.pitch for n in parts[(0, 4)]] == low
    assert parts[(0, 3)][0].start == parts[(0, 4)][0].start  # at once, not one after the other
    assert [n.pitch for n in melody_part(parts, min_notes=8)] == high
