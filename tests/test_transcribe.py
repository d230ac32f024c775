"""Sung phrases as notes: recordings generated in code (a voice-like tone with vibrato, glides, a
tuning offset and noise), transcribed and compared with the notes that made them."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile

from segue.cli import main
from segue.midi_io import read_midi
from segue.transcribe import TranscriptionError, read_melody, transcribe

MELODY = [60, 62, 64, 65, 67, 65, 64, 62, 60, 67, 72]
SPACING = 0.4


def sung(pitches=MELODY, rate=22050, cents=-40.0, vibrato_cents=50.0, glide=0.04, snr_db=None, rest=0.06,
         audio_format="WAV", seed=0) -> bytes:
    """A voice-like tone (three harmonics) singing `pitches` SPACING s apart from 0.1 s, with
    vibrato at 5.5 Hz, a glide from each note into the next, a tuning offset, and noise at `snr_db`."""
    n = int((len(pitches) * SPACING + 0.3) * rate)
    t = np.arange(n) / rate
    frequency, amplitude = np.zeros(n), np.zeros(n)
    for i, pitch in enumerate(pitches):
        a, b = int((0.1 + i * SPACING) * rate), int((0.1 + (i + 1) * SPACING - rest) * rate)
        since = t[a:b] - t[a]
        target = pitch + cents / 100 + vibrato_cents / 100 * np.sin(2 * np.pi * 5.5 * since)
        if i and glide:
            previous = pitches[i - 1] + cents / 100
            target = previous + (target - previous) * np.clip(since / glide, 0, 1)
        frequency[a:b] = 440 * 2 ** ((target - 69) / 12)
        amplitude[a:b] = np.clip(np.minimum(since, (b - a) / rate - since) / 0.02, 0, 1)
    phase = 2 * np.pi * np.cumsum(frequency) / rate
    signal = 0.3 * amplitude * (np.sin(phase) + 0.5 * np.sin(2 * phase) + 0.25 * np.sin(3 * phase))
    if snr_db is not None:
        noise = np.random.default_rng(seed).normal(size=n)
        signal = signal + noise * np.sqrt(np.mean(signal ** 2) / 10 ** (snr_db / 10))
    buffer = io.BytesIO()
    soundfile.write(buffer, signal, rate, format=audio_format)
    return buffer.getvalue()


@pytest.mark.parametrize(("cents", "snr_db", "audio_format"), [(-40, None, "WAV"), (35, 20, "FLAC"), (-40, 10, "OGG")])
def test_a_sung_phrase_becomes_its_notes(cents, snr_db, audio_format):
    result = transcribe(sung(cents=cents, snr_db=snr_db, audio_format=audio_format))
    assert [n.pitch for n in result.notes] == MELODY
    assert result.tuning_cents == pytest.approx(cents, abs=12)
    onsets = np.array([n.start for n in result.notes])
    assert np.abs(onsets - (0.1 + SPACING * np.arange(len(MELODY)))).max() < 0.05  # within 50 ms


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
])
def test_bad_recordings_are_one_plain_sentence(audio, says):
    with pytest.raises(TranscriptionError, match=says):
        transcribe(audio())


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


def test_a_note_sung_again_without_a_breath_is_two_notes():
    """Legato repeats: no silence between them, only the dip in loudness of each new attack."""
    result = transcribe(sung([64, 64, 64, 67], rest=0.0, vibrato_cents=0, cents=0, glide=0))
    assert [n.pitch for n in result.notes] == [64, 64, 64, 67]
