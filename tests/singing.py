"""Recordings made in code for the transcription tests: a voice-like tone singing a melody."""

from __future__ import annotations

import io

import numpy as np
import soundfile

MELODY = [60, 62, 64, 65, 67, 65, 64, 62, 60, 67, 72]
SPACING = 0.4
VOICE = (1.0, 0.5, 0.25)  # harmonics' amplitudes
REED = (0.12, 1.0, 0.1, 0.07)  # an oboe's: the second harmonic 18 dB over the fundamental (TimGM6mb's, around F5)


def sung(pitches=MELODY, rate=22050, cents=-40.0, vibrato_cents=50.0, glide=0.04, snr_db=None, rest=0.06,
         audio_format="WAV", seed=0, harmony=None, drift_cents=0.0, partials=VOICE) -> bytes:
    """A voice-like tone (`partials`: the harmonics' amplitudes) singing `pitches` SPACING s apart
    from 0.1 s, with vibrato at 5.5 Hz, a glide from each note into the next, a tuning offset
    (moving on by `drift_cents` from the first note to the last), and noise at `snr_db`; with
    `harmony`, a second voice as loud sings them that many semitones away (a duet)."""
    n = int((len(pitches) * SPACING + 0.3) * rate)
    tuning = cents + drift_cents * np.arange(len(pitches)) / max(1, len(pitches) - 1)
    signal = _voice(pitches, n, rate, tuning, vibrato_cents, glide, rest, partials)
    if harmony is not None:  # its vibrato a little faster, as two singers' never keep time
        signal += _voice([p + harmony for p in pitches], n, rate, tuning, vibrato_cents, glide, rest, partials,
                         vibrato_hz=6.1)
    if snr_db is not None:
        noise = np.random.default_rng(seed).normal(size=n)
        signal = signal + noise * np.sqrt(np.mean(signal ** 2) / 10 ** (snr_db / 10))
    buffer = io.BytesIO()
    soundfile.write(buffer, signal, rate, format=audio_format)
    return buffer.getvalue()


def _voice(pitches, n, rate, cents, vibrato_cents, glide, rest, partials, vibrato_hz=5.5) -> np.ndarray:
    """`cents`: each note's tuning offset."""
    t = np.arange(n) / rate
    frequency, amplitude = np.zeros(n), np.zeros(n)
    for i, pitch in enumerate(pitches):
        a, b = int((0.1 + i * SPACING) * rate), int((0.1 + (i + 1) * SPACING - rest) * rate)
        since = t[a:b] - t[a]
        target = pitch + cents[i] / 100 + vibrato_cents / 100 * np.sin(2 * np.pi * vibrato_hz * since)
        if i and glide:
            previous = pitches[i - 1] + cents[i - 1] / 100
            target = previous + (target - previous) * np.clip(since / glide, 0, 1)
        frequency[a:b] = 440 * 2 ** ((target - 69) / 12)
        amplitude[a:b] = np.clip(np.minimum(since, (b - a) / rate - since) / 0.02, 0, 1)
    phase = 2 * np.pi * np.cumsum(frequency) / rate
    return 0.3 * amplitude * voice_like(phase, partials)


def voice_like(phase: np.ndarray, partials=VOICE) -> np.ndarray:
    """A tone of harmonics with amplitudes `partials` (by default three, each half as loud as the
    one below) at `phase` (radians)."""
    return sum(amplitude * np.sin(k * phase) for k, amplitude in enumerate(partials, 1))
