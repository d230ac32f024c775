"""FluidSynth: offline rendering to WAV, and the live port (through FluidSynth's real-time file
driver, as there is no sound card here)."""

from __future__ import annotations

import time
import wave

import mido
import numpy as np
import pytest

from conftest import require_fluidsynth
from segue.audio import SAMPLE_RATE, AudioError, FluidSynthOutput, find_soundfont, render, write_wav
from segue.notes import Note

require_fluidsynth()


def peak_hz(samples: np.ndarray, start: float, end: float) -> float:
    mono = samples[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)].mean(axis=1)
    spectrum = np.abs(np.fft.rfft(mono * np.hanning(len(mono))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(mono))


def rms(samples: np.ndarray, start: float, end: float) -> float:
    return float(np.sqrt(np.mean(samples[int(start * SAMPLE_RATE):int(end * SAMPLE_RATE)].astype(float) ** 2)))


def test_render_plays_each_note_at_its_time_and_pitch(tmp_path):
    samples = render([Note(69, 0.1, 0.6, 100), Note(76, 1.0, 1.5, 100)], 2.0)
    assert samples.shape == (int(3.0 * SAMPLE_RATE), 2)
    assert rms(samples, 0.0, 0.09) < 2  # silent (below one bit of noise) before the first note
    assert abs(peak_hz(samples, 0.15, 0.55) - 440) < 5
    assert abs(peak_hz(samples, 1.05, 1.45) - 659.3) < 6
    assert np.abs(samples).max() < 32767  # no clipping
    write_wav(samples, tmp_path / "take.wav")
    with wave.open(str(tmp_path / "take.wav")) as out:
        assert (out.getnchannels(), out.getframerate(), out.getnframes()) == (2, SAMPLE_RATE, len(samples))


def test_live_port_sounds_in_real_time(tmp_path):
    path = tmp_path / "live.wav"
    port = FluidSynthOutput(settings={"audio.driver": "file", "audio.file.name": str(path)})
    port.send(mido.Message("note_on", note=69, velocity=100))
    time.sleep(0.5)
    port.send(mido.Message("note_off", note=69))
    time.sleep(0.3)
    port.close()
    with wave.open(str(path)) as out:
        samples = np.frombuffer(out.readframes(out.getnframes()), "<i2").reshape(-1, 2)
    assert len(samples) / SAMPLE_RATE >= 0.4  # at least the window checked below: no timing bound on a busy machine
    assert abs(peak_hz(samples, 0.1, 0.4) - 440) < 5


def test_no_sound_card_is_one_clear_error():
    with pytest.raises(AudioError, match="no sound card"):
        FluidSynthOutput(settings={"audio.driver": "alsa", "audio.alsa.device": "no-such-device"})


def test_missing_soundfont_is_named(tmp_path):
    with pytest.raises(AudioError, match="no SoundFont at"):
        find_soundfont(tmp_path / "none.sf2")
