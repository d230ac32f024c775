"""Sung phrases as notes: recordings generated in code (a voice-like tone with vibrato, glides, a
tuning offset and noise), transcribed and compared with the notes that made them."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from conftest import require_fluidsynth
from segue.audio import SAMPLE_RATE
from segue.cli import main
from segue.midi_io import read_midi
from segue.notes import Note
from segue.performances import Expression, in_room, perform
from segue.transcribe import (Segment, TranscriptionConfig, TranscriptionError, _not_falling, _octave_checked, _resampled,
                              _segments, clipped_share, read_audio, read_melody, second_voice_share, transcribe,
                              transcribe_samples)
from singing import MELODY, REED, SPACING, sung, voice_like


@pytest.mark.parametrize(("cents", "snr_db", "audio_format"), [(-40, None, "WAV"), (35, 20, "FLAC"), (-40, 10, "OGG")])
def test_a_sung_phrase_becomes_its_notes(cents, snr_db, audio_format):
    result = transcribe(sung(cents=cents, snr_db=snr_db, audio_format=audio_format))
    assert [n.pitch for n in result.notes] == MELODY
    assert result.tuning_cents == pytest.approx(cents, abs=12)
    onsets = np.array([n.start for n in result.notes])
    assert np.abs(onsets - (0.1 + SPACING * np.arange(len(MELODY)))).max() < 0.05  # within 50 ms


@pytest.mark.parametrize(("cents", "drift_cents"), [(-20, -80), (30, 90)])
def test_a_singer_drifting_off_pitch_is_heard_in_the_key_they_began_in(cents, drift_cents):
    """Sinking 80 cents (or rising 90) over the phrase: each note is rounded from the tuning of the
    notes around it, and the tuning given is where the singer ended, for the continuation to follow."""
    result = transcribe(sung(cents=cents, drift_cents=drift_cents))
    assert [n.pitch for n in result.notes] == MELODY
    assert result.tuning_cents == pytest.approx(cents + drift_cents, abs=20)  # it lags a drift a little


@pytest.mark.parametrize("snr_db", [None, 10])
def test_a_reed_whose_second_harmonic_outweighs_its_fundamental_is_heard_at_its_pitch(snr_db):
    """An oboe-like tone: the tracker alone read every note of it an octave high."""
    assert [n.pitch for n in transcribe(sung(partials=REED, snr_db=snr_db, cents=0)).notes] == MELODY


def _held(pitch: int, seconds: float, partials, rate: int = 16000) -> np.ndarray:
    return 0.3 * voice_like(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * np.arange(round(seconds * rate)) / rate, partials)


@pytest.mark.parametrize(("partials", "seconds", "heard", "meant"), [
    (REED, 0.3, 81, 69),  # read an octave high: its partials halfway between the heard pitch's
    (REED, 0.12, 81, 81),  # ... but too short to tell (72 ms looked at: a low partial smears into view)
    ((1.0, 0.01), 0.3, 57, 69),  # a nearly pure tone read an octave low: no partial at its pitch or three times it
    ((1.0, 0.01), 0.08, 57, 69),  # ... short, as in a quick run
    ((1.0, 0.5, 0.25), 0.3, 69, 69),  # a voice heard right
    ((0.0, 1.0, 0.5, 0.25), 0.3, 69, 69),  # ... through a small microphone with no fundamental: its 3rd harmonic tells
])
def test_a_notes_octave_is_checked_on_its_partials(partials, seconds, heard, meant):
    segment = Segment(0.0, seconds, heard + 0.1, True)
    assert _octave_checked(segment, None, _held(69, seconds, partials), 16000, TranscriptionConfig()).centre == meant + 0.1


def test_a_low_voice_over_a_rumble_stays_in_its_octave():
    """Noise below 400 Hz (traffic, a fan) 5 dB under a voice at C3 is loud at half its pitch, but
    is no partial: measured against the whole spectrum's median, 11 of 20 such takes went an octave down."""
    rate = 16000
    tone = _held(48, 0.3, (1.0, 0.5, 0.25, 0.125))
    for seed in range(10):
        spectrum = np.fft.rfft(np.random.default_rng(seed).normal(size=len(tone)))
        frequencies = np.fft.rfftfreq(len(tone), 1 / rate)
        rumble = np.fft.irfft(np.where((frequencies >= 40) & (frequencies <= 400), spectrum, 0), len(tone))
        take = tone + rumble * np.sqrt(np.mean(tone**2) / np.mean(rumble**2) / 10 ** 0.5)
        assert _octave_checked(Segment(0.0, 0.3, 48.0, True), None, take, rate, TranscriptionConfig()).centre == 48.0


def test_a_leap_up_an_octave_in_a_room_stays_up():
    """The ring of C4 in a room sounds at 1/2 and 3/2 of the C5 after it, as an octave-high
    reading's partials would: without looking at the note before, 4 of 10 such C5s went down."""
    notes = np.concatenate([_held(60, 0.15, (1.0, 0.5, 0.25), SAMPLE_RATE), _held(72, 0.15, (1.0, 0.5, 0.25), SAMPLE_RATE),
                            np.zeros(SAMPLE_RATE // 4)])
    before, leap = Segment(0.0, 0.15, 60.0, True), Segment(0.15, 0.3, 72.0, False)
    for seed in range(10):
        take = _resampled(in_room(notes, 0.5, 5.0, np.random.default_rng(seed)), SAMPLE_RATE, 16000)
        assert _octave_checked(leap, before, take, 16000, TranscriptionConfig()).centre == 72.0


def test_only_a_rise_in_sound_is_an_onset():
    rate, half = 16000, np.zeros(8000)
    tone = _held(69, 0.5, (1.0, 0.5))
    at = np.array([0.5])
    assert _not_falling(np.concatenate([half, tone]), rate, at, 0.03, 0.1).all()  # a note starts
    assert not _not_falling(np.concatenate([tone, half]), rate, at, 0.03, 0.1).any()  # a note stops
    joined = np.concatenate([tone, tone + _held(76, 0.5, (1.0, 0.5))])
    assert _not_falling(joined, rate, at, 0.03, 0.1).all()  # one starts over another still sounding


def test_a_note_stopping_is_not_the_next_one_starting():
    """A harmonica's or an accordion's note stops sharply and rings on for a moment under the
    next, 40 ms later. The stop changes the spectrum as much as a start, but takes sound away:
    heard as an onset, it put each next note 58 ms early."""
    rate, notes = 16000, [(69, 0.1, 0.5), (72, 0.54, 0.95), (74, 0.99, 1.4), (72, 1.44, 1.85)]
    t = np.arange(2 * rate) / rate
    samples = sum(0.3 * np.clip((t - start) / 0.01, 0, 1) * (t >= start) * np.where(t < end, 1.0, np.exp(-(t - end) / 0.012))
                  * voice_like(2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t) for pitch, start, end in notes)
    heard = transcribe_samples(samples, rate).notes
    assert [n.pitch for n in heard] == [p for p, _, _ in notes]
    assert np.abs(np.array([n.start for n in heard]) - [start for _, start, _ in notes]).max() < 0.03


def test_vibrato_and_glides_stay_one_note_and_a_repeated_note_is_two():
    """±60 cents of vibrato, a wide leap with its glide, and the same pitch sung twice with a breath between."""
    result = transcribe(sung([60, 72, 72, 67], vibrato_cents=60, glide=0.06, cents=0))
    assert [n.pitch for n in result.notes] == [60, 72, 72, 67]


@pytest.mark.parametrize(("audio", "says"), [
    (lambda: b"RIFF" + bytes(range(256)) * 8, "not audio this can read"),  # a WAV header that is not one
    (lambda: sung([60]), "s long: sing at least 1 s"),
    (lambda: sung(MELODY * 7), "at most 30 s"),
    (lambda: sung(snr_db=None, cents=0)[:44] + bytes(200_000), "silent"),
    (lambda: _noise(), "no sung or played notes"),
    (lambda: _clipped(), "clipped"),
    (lambda: sung(harmony=-4), "notes sound at once in .* % of the recording .*record one voice or instrument alone"),
])
def test_bad_recordings_are_one_plain_sentence(audio, says):
    with pytest.raises(TranscriptionError, match=says):
        transcribe(audio())


def _clipped() -> bytes:
    """The phrase recorded with the input level 20 dB too high: flattened at full scale."""
    samples, rate = soundfile.read(io.BytesIO(sung(cents=0)))
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples * 10, -1, 1), rate, format="WAV")
    return buffer.getvalue()


def test_a_loud_peak_is_not_clipping_but_a_flattened_take_is():
    samples, _ = soundfile.read(io.BytesIO(sung(cents=0)))
    assert clipped_share(samples / np.max(np.abs(samples))) < 0.001  # at full scale, not flattened
    assert clipped_share(np.clip(samples * 10, -1, 1)) > 0.1


def _noise() -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, 0.2 * np.random.default_rng(1).normal(size=3 * 22050), 22050, format="WAV")
    return buffer.getvalue()


def test_segue_extend_continues_a_recording_told_apart_by_content(tmp_path, capsys, tiny_checkpoint_path):
    recording = tmp_path / "take.dat"  # not by its name
    recording.write_bytes(sung())
    assert main(["extend", str(recording), "-o", str(tmp_path / "out.mid"), "--seed", "1", "--include-input",
                 "--checkpoint", str(tiny_checkpoint_path)]) == 0
    assert [n.pitch for n in read_midi(tmp_path / "out.mid").notes][: len(MELODY)] == MELODY
    assert main(["extend", str(recording), "-o", str(tmp_path / "b.mid"), "--track", "2"]) == 2
    (tmp_path / "quiet.wav").write_bytes(sung(cents=0)[:44] + bytes(100_000))
    assert main(["extend", str(tmp_path / "quiet.wav"), "-o", str(tmp_path / "c.mid")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "no tracks" in err and "silent" in err and "Traceback" not in err
    assert read_melody(sung()).length == pytest.approx(len(MELODY) * SPACING + 0.3, abs=0.01)


def test_a_file_that_is_neither_midi_nor_a_recording_says_both_would_do(tmp_path, capsys):
    """`segue extend` and /api/extend.mid take either kind, so the refusal names both."""
    (tmp_path / "notes.wav").write_text("not a recording\n")
    assert main(["extend", str(tmp_path / "notes.wav"), "-o", str(tmp_path / "out.mid")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a MIDI file or a recording" in err and "WAV, FLAC, OGG or MP3" in err


def test_a_note_sung_again_without_a_breath_is_two_notes():
    """Legato repeats: no silence between them, only the dip in loudness of each new attack."""
    result = transcribe(sung([64, 64, 64, 67], rest=0.0, vibrato_cents=0, cents=0, glide=0))
    assert [n.pitch for n in result.notes] == [64, 64, 64, 67]


def track(*parts: tuple[float, float, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A synthetic pitch track, 10 ms frames: (seconds, MIDI pitch or NaN, loudness dB) pieces."""
    midi, loudness = [], []
    for seconds, pitch, level in parts:
        frames = round(seconds / 0.01)
        midi += [pitch] * frames
        loudness += [level] * frames
    times = 0.005 + 0.01 * np.arange(len(midi))
    return times, np.array(midi, float), np.array(loudness, float)


def pitches_of(times, midi, loudness) -> list[float]:
    return [round(segment.centre, 1) for segment in _segments(times, midi, loudness, np.zeros(0), TranscriptionConfig())]


def test_a_glide_into_a_note_is_that_note():
    times, midi, loudness = track((0.4, 60, -20), (0.5, 67, -20))
    glide = np.linspace(60, 67, 9)  # 90 ms from C4 up to G4
    midi[40:49] = glide
    assert pitches_of(times, midi, loudness) == [60.0, 67.0]


def test_vibrato_of_60_cents_is_one_note():
    times, midi, loudness = track((1.0, 64, -20))
    midi += 0.6 * np.sin(2 * np.pi * 5.5 * times)
    [pitch] = pitches_of(times, midi, loudness)
    assert pitch == pytest.approx(64, abs=0.1)


def test_a_repeated_note_with_a_dip_in_loudness_is_two_and_without_one_is_one():
    dipped = track((0.4, 62, -20), (0.03, 62, -35), (0.4, 62, -20))
    assert pitches_of(*dipped) == [62.0, 62.0]
    steady = track((0.83, 62, -20))
    assert pitches_of(*steady) == [62.0]


def test_a_step_of_a_semitone_is_two_notes_and_a_blip_is_none():
    assert pitches_of(*track((0.3, 60, -20), (0.3, 61, -20))) == [60.0, 61.0]
    assert pitches_of(*track((0.03, 70, -20), (0.1, np.nan, -80), (0.3, 60, -20))) == [60.0]


def loud_room_take(pitches: list[int], rate: int = 48000) -> bytes:
    """A new user's take: 3 s of room noise, a hum (four harmonics, ±40 cents of vibrato) about as
    loud as the noise, 3 s of noise again; 16-bit WAV."""
    lead, spacing = 3.0, 0.4
    t = np.arange(int((2 * lead + len(pitches) * spacing) * rate)) / rate
    index = np.floor((t - lead) / spacing).astype(int)
    inside = (index >= 0) & (index < len(pitches))
    frequency = np.where(inside, 440 * 2 ** ((np.array(pitches)[np.clip(index, 0, len(pitches) - 1)] - 69) / 12), 0.0)
    phase = 2 * np.pi * np.cumsum(frequency * 2 ** (40 / 1200 * np.sin(2 * np.pi * 5.5 * t))) / rate
    edge = np.clip(np.minimum(t - lead - index * spacing, lead + (index + 1) * spacing - t) / 0.02, 0, 1)
    hum = inside * edge * sum(a * np.sin(k * phase) for k, a in ((1, 1.0), (2, 0.5), (3, 0.3), (4, 0.15)))
    samples = 0.3 * hum / np.max(np.abs(hum)) + 0.15 * np.random.default_rng(0).normal(size=len(t))
    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1, 1), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def test_a_hum_as_loud_as_the_room_noise_is_heard():
    """With Praat's default voicing threshold and the recording's own 48 kHz, 2 of these 12 notes
    were heard."""
    pitches = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72]
    assert [n.pitch for n in transcribe(loud_room_take(pitches)).notes] == pitches


def test_a_short_note_takes_the_pitch_most_of_its_frames_hold():
    """90 ms of E4 between C4 and A4, its pitch wavering up by a semitone and more for two frames
    (a scoop): the median, not a mean pulled up by the scoop."""
    times, midi, loudness = track((0.3, 60, -20), (0.09, 64, -20), (0.3, 69, -20))
    midi[35:37] = [65.7, 65.8]
    assert [round(p) for p in pitches_of(times, midi, loudness)] == [60, 64, 69]


@pytest.mark.parametrize("harmony", [-9, -5, -4, -3, 4])
def test_a_duet_in_thirds_fourths_or_sixths_is_refused(harmony):
    """Two voices singing the phrase that many semitones apart: the tracker would follow one of
    them, or their common subharmonic, so the notes would be wrong."""
    with pytest.raises(TranscriptionError, match="notes sound at once"):
        transcribe(sung(harmony=harmony))


def test_a_second_singer_joining_for_the_last_two_notes_is_heard():
    """A third below through the last two of eleven notes: a second note in about 16 % of the
    voiced frames, enough to refuse the take (more than 12 %)."""
    alone, rate = read_audio(sung(cents=0))
    duet, _ = read_audio(sung(cents=0, harmony=-4))
    joins = np.arange(len(alone)) / rate >= 0.1 + (len(MELODY) - 2) * SPACING
    with pytest.raises(TranscriptionError, match="notes sound at once"):
        transcribe_samples(alone + (duet - alone) * joins, rate)


def test_one_voice_in_an_echoing_room_or_doubled_at_the_octave_is_one_line():
    """Each note's ring under the next (2 s to die away, as loud as the voice itself) sounds a
    second pitch only briefly; a line sung an octave lower too is still one tune."""
    samples, rate = read_audio(sung(cents=0))
    assert transcribe_samples(in_room(samples, 2.0, 0.0, np.random.default_rng(0)), rate).notes
    assert [n.pitch for n in transcribe(sung(cents=0, harmony=-12)).notes] == [p - 12 for p in MELODY]


def _tones(*parts: tuple[int, float, float], rate: int = 16000) -> np.ndarray:
    """One second of (MIDI pitch, start, end) tones, three harmonics each."""
    t = np.arange(rate) / rate
    signal = np.zeros(rate)
    for pitch, start, end in parts:
        phase = 2 * np.pi * 440 * 2 ** ((pitch - 69) / 12) * t
        signal += ((t >= start) & (t < end)) * voice_like(phase)
    return signal


@pytest.mark.parametrize(("parts", "tracked", "share"), [
    (((60, 0, 1), (64, 0.3, 0.4)), 60, 0.0),  # E4 beside C4 for 100 ms: a ring, not a voice
    (((60, 0, 1), (64, 0.3, 0.7)), 60, 0.4),  # ... for 400 ms: a second note
    (((60, 0, 1), (72, 0.3, 0.7)), 60, 0.0),  # C5 beside C4: on its harmonics, one line doubled
    (((60, 0, 1),), 48, 0.0),  # C4 heard an octave low: its octave is C4 itself
    (((60, 0, 1), (65, 0, 1)), 41, 1.0),  # C4 and F4 heard as their common subharmonic F2: on its harmonics 3 and 4
])
def test_a_second_note_is_one_off_the_tracked_pitchs_harmonics_held_120_ms(parts, tracked, share):
    times = np.arange(0.005, 1.0, 0.01)
    assert second_voice_share(_tones(*parts), 16000, times, np.full(len(times), float(tracked))) == \
        pytest.approx(share, abs=0.02)


# The opening of a test-split tune played as a fast run (12 notes a second, staccato), in semitones
# and seconds: heard in a room, each note still rings under the next ones.
FAST_RUN = [(77, 0.026, 0.11), (74, 0.207, 0.245), (77, 0.279, 0.32), (75, 0.345, 0.416), (63, 0.453, 0.523),
            (63, 0.575, 0.611), (67, 0.623, 0.658), (70, 0.68, 0.715), (74, 0.737, 0.772), (77, 0.772, 0.789),
            (79, 0.816, 0.878), (75, 0.971, 0.992), (77, 0.992, 1.029), (74, 1.052, 1.093), (75, 1.144, 1.175),
            (72, 1.175, 1.214), (70, 1.241, 1.278), (67, 1.295, 1.332), (65, 1.344, 1.381), (63, 1.407, 1.449),
            (58, 1.473, 1.51), (62, 1.515, 1.552), (65, 1.577, 1.612), (67, 1.629, 1.668), (68, 1.668, 1.706),
            (72, 1.733, 1.815), (68, 1.836, 1.876), (70, 1.899, 1.94), (67, 1.952, 1.991), (68, 2.011, 2.046),
            (65, 2.058, 2.094), (63, 2.117, 2.201)]


def test_a_fast_run_in_a_room_is_one_line():
    """The room's ring of the last notes lies on their harmonics: not a second voice (without
    `ring_seconds` this run was refused, 27 % of it holding a "second note")."""
    require_fluidsynth()
    notes = [Note(pitch, start, end, 90) for pitch, start, end in FAST_RUN]
    room = Expression(vibrato_cents=31.0, vibrato_hz=5.9, glide_seconds=0.08, tuning_cents=19.0, room_seconds=0.5,
                      room_drr_db=5.0)
    samples = perform(notes, 2.5, "recorder", room, seed=2)
    assert len(transcribe_samples(samples, SAMPLE_RATE).notes) > 10  # heard, not refused
