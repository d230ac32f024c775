"""The transcription test set's performances: each voice sounds the notes it is given (the
SoundFont's own mistuning corrected), with the vibrato, glide, tuning and noise asked for."""

from __future__ import annotations

import numpy as np
import parselmouth
import pytest

from conftest import require_fluidsynth
from segue.audio import SAMPLE_RATE, find_soundfont
from segue.notes import Note
from segue.performances import MADE_HERE, TIMBRES, Expression, coloured_noise, in_room, perform, sounding_offset

require_fluidsynth()


def pitch_track(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    track = parselmouth.Sound(samples, sampling_frequency=SAMPLE_RATE).to_pitch_ac(
        time_step=0.005, pitch_floor=60, pitch_ceiling=3000)
    frequency = track.selected_array["frequency"]
    with np.errstate(divide="ignore"):
        return track.xs(), np.where(frequency > 0, 69 + 12 * np.log2(frequency / 440), np.nan)


def median_between(times, midi, start, end) -> float:
    return float(np.nanmedian(midi[(times > start) & (times < end)]))


@pytest.mark.parametrize("timbre", list(TIMBRES))
def test_each_voice_sounds_the_notes_it_is_given(timbre):
    notes = [Note(67, 0.1, 0.7, 90), Note(74, 0.8, 1.4, 90)]
    times, midi = pitch_track(perform(notes, 1.5, timbre))
    assert median_between(times, midi, 0.3, 0.6) == pytest.approx(67, abs=0.05)
    assert median_between(times, midi, 1.0, 1.3) == pytest.approx(74, abs=0.05)


def test_the_whistle_sample_is_corrected_by_what_it_sounds():
    """TimGM6mb's whistle (program 78) sounds about 9 semitones below its note; the violin does not."""
    if find_soundfont().resolve().name != "TimGM6mb.sf2":
        pytest.skip("a SoundFont other than TimGM6mb")
    assert sounding_offset(78, 62) == pytest.approx(-9, abs=0.3)
    assert sounding_offset(TIMBRES["violin"], 62) == pytest.approx(0, abs=0.1)


def test_vibrato_glide_and_tuning_are_what_was_asked():
    expression = Expression(vibrato_cents=50, vibrato_hz=5.5, vibrato_delay=0.1, glide_seconds=0.1, tuning_cents=-30)
    notes = [Note(60, 0.1, 1.1, 90), Note(64, 1.1, 2.1, 90)]
    times, midi = pitch_track(perform(notes, 2.2, "voice-oohs", expression))
    held = midi[(times > 0.5) & (times < 1.05)]
    assert np.nanmedian(held) == pytest.approx(59.7, abs=0.1)  # 30 cents flat
    assert (np.nanmax(held) - np.nanmin(held)) / 2 == pytest.approx(0.5, abs=0.12)  # ±50 cents
    straight = midi[(times > 0.13) & (times < 0.2)]  # before the vibrato starts
    assert np.nanmax(straight) - np.nanmin(straight) < 0.3  # the sample drifts a little; vibrato spans 1.0
    gliding = median_between(times, midi, 1.13, 1.16)  # a third of the way into the glide from 60 to 64
    assert 60.5 < gliding < 63


def test_drift_and_intonation_move_the_notes_as_asked():
    """An untrained singer: the tuning sinks steadily over the recording, and each note is off by
    its own normal draw (the same draws for the same seed)."""
    notes = [Note(62, 0.1 + i, 0.9 + i, 90) for i in range(4)]
    drifting = pitch_track(perform(notes, 3.5, "whistle", Expression(tuning_cents=20, drift_cents=-100)))
    sung = [median_between(*drifting, n.start + 0.2, n.end - 0.1) for n in notes]
    expected = [62 + 0.2 - 1.0 * ((n.start + n.end) / 2) / 4.0 for n in notes]  # 4 s: the phrase and its ring-out
    assert sung == pytest.approx(expected, abs=0.05)
    off = [median_between(*pitch_track(perform(notes, 3.5, "whistle", Expression(intonation_cents=30), seed=s)),
                          n.start + 0.2, n.end - 0.1) - 62 for s in (1, 2) for n in notes]
    assert 0.1 < np.std(off) < 0.6 and max(map(abs, off)) > 0.15  # about 30 cents, note to note
    again = pitch_track(perform(notes, 3.5, "whistle", Expression(intonation_cents=30), seed=1))
    assert [median_between(*again, n.start + 0.2, n.end - 0.1) - 62 for n in notes] == pytest.approx(off[:4], abs=0.01)


@pytest.mark.parametrize("slope", [0.0, 1.0])
def test_noise_is_at_the_signal_to_noise_ratio_asked(slope):
    notes = [Note(69, 0.0, 2.0, 90)]
    clean = perform(notes, 2.0, "whistle", Expression(), seed=1)
    noisy = perform(notes, 2.0, "whistle", Expression(snr_db=10, noise_slope=slope), seed=1)
    # Both are normalized to -6 dBFS: the clean tone's share of the noisy one by least squares.
    a, b = round(0.1 * SAMPLE_RATE), round(1.9 * SAMPLE_RATE)
    scale = np.dot(noisy[a:b], clean[a:b]) / np.dot(clean[a:b], clean[a:b])
    noise = noisy[a:b] - scale * clean[a:b]
    assert 10 * np.log10(np.mean((scale * clean[a:b]) ** 2) / np.mean(noise ** 2)) == pytest.approx(10, abs=0.5)
    # Its colour: from the 100 Hz octave to the 6.4 kHz one, white noise gains 3 dB an octave, pink none.
    powers = octave_powers_db(noise)
    assert powers[-1] - powers[0] == pytest.approx(18.0 * (1 - slope), abs=2.0)


def octave_powers_db(noise: np.ndarray) -> np.ndarray:
    """Power in the octaves from 100 Hz to 12.8 kHz, in dB."""
    power = np.abs(np.fft.rfft(noise)) ** 2
    frequency = np.fft.rfftfreq(len(noise), 1 / SAMPLE_RATE)
    return np.array([10 * np.log10(power[(frequency >= low) & (frequency < 2 * low)].sum())
                     for low in (100, 200, 400, 800, 1600, 3200, 6400)])


def test_pink_noise_has_as_much_power_in_every_octave_and_white_noise_twice_as_much_in_the_next():
    rng = np.random.default_rng(0)
    for slope, step_db in ((0.0, 3.0), (1.0, 0.0), (2.0, -3.0)):
        noise = coloured_noise(rng, 4 * SAMPLE_RATE, slope)
        assert np.mean(noise ** 2) == pytest.approx(1.0, rel=0.02)
        assert np.diff(octave_powers_db(noise)) == pytest.approx(np.full(6, step_db), abs=0.6)
        if slope:  # none of its power below what a microphone passes
            spectrum = np.abs(np.fft.rfft(noise)) ** 2
            assert spectrum[np.fft.rfftfreq(len(noise), 1 / SAMPLE_RATE) < 20].sum() == pytest.approx(0, abs=1e-6)


def loudness_db(samples: np.ndarray, start: float, end: float) -> float:
    return float(10 * np.log10(np.mean(samples[round(start * SAMPLE_RATE): round(end * SAMPLE_RATE)] ** 2) + 1e-12))


def test_a_room_rings_on_after_the_note_at_the_ratio_asked():
    tone = np.zeros(SAMPLE_RATE)
    tone[: SAMPLE_RATE // 4] = np.sin(2 * np.pi * 440 * np.arange(SAMPLE_RATE // 4) / SAMPLE_RATE)
    heard = in_room(tone, 0.5, 5.0, np.random.default_rng(0))
    assert len(heard) == len(tone)
    reverb = heard - tone
    assert 10 * np.log10(np.mean(tone ** 2) / np.mean(reverb ** 2)) == pytest.approx(5.0, abs=0.01)
    level = [loudness_db(heard, t, t + 0.05) for t in (0.3, 0.45, 0.6)]  # after the note: ringing, dying away at
    # 60 dB per 0.5 s
    assert level[0] > -30 and level[0] - level[1] == pytest.approx(18, abs=6) and level[1] > level[2]
    assert np.array_equal(heard, in_room(tone, 0.5, 5.0, np.random.default_rng(0)))
    dry = perform([Note(69, 0.1, 0.5, 90)], 1.0, "whistle", seed=3)
    wet = perform([Note(69, 0.1, 0.5, 90)], 1.0, "whistle", Expression(room_seconds=0.5), seed=3)
    after = slice(round(0.6 * SAMPLE_RATE), round(0.7 * SAMPLE_RATE))
    assert np.mean(wet[after] ** 2) > 100 * np.mean(dry[after] ** 2)


def test_a_hum_rearticulates_a_repeated_pitch_and_hums_on_through_a_change_of_pitch():
    # The third note comes 20 ms after the second ends: hummed on through the gap, not begun anew.
    notes = [Note(55, 0.1, 0.6, 90), Note(55, 0.6, 1.1, 90), Note(59, 1.12, 1.6, 90)]
    for seed in range(5):
        hum = perform(notes, 2.0, "hum", seed=seed)
        held = loudness_db(hum, 0.3, 0.5)
        assert held - loudness_db(hum, 0.595, 0.605) >= 5  # the dip drawn is 6-18 dB at its deepest
        assert held - min(loudness_db(hum, t - 0.01, t + 0.01) for t in np.arange(1.0, 1.25, 0.01)) < 3
        assert loudness_db(hum, 0.0, 0.09) < -100 and loudness_db(hum, 1.8, 2.0) < -100  # silent around it
        assert loudness_db(hum, 1.6, 1.62) > held - 10  # dying away after the last note, not cut off


def test_a_hum_begun_again_soon_after_it_died_away_swells_from_what_is_left():
    notes = [Note(55, 0.1, 0.6, 90), Note(59, 0.65, 1.1, 90)]  # 50 ms apart: the fade (60 ms) not yet done
    hum = perform(notes, 1.5, "hum", seed=0)
    level = [loudness_db(hum, t, t + 0.005) for t in np.arange(0.6, 0.7, 0.005)]
    assert min(level) > loudness_db(hum, 0.3, 0.5) - 25  # a dip between them, not silence


def test_the_voices_made_here_are_the_ones_without_a_program():
    assert {name for name, program in TIMBRES.items() if program is None} == set(MADE_HERE)


def test_a_hum_is_nasal_its_harmonics_strongest_low_and_dipping_near_1_khz():
    hum = perform([Note(48, 0.1, 1.9, 90)], 2.0, "hum", seed=0)[round(0.5 * SAMPLE_RATE): round(1.5 * SAMPLE_RATE)]
    spectrum = np.abs(np.fft.rfft(hum * np.hanning(len(hum))))
    frequencies = np.fft.rfftfreq(len(hum), 1 / SAMPLE_RATE)

    def band_db(low: float, high: float) -> float:
        return float(10 * np.log10(np.sum(spectrum[(frequencies >= low) & (frequencies < high)] ** 2)))

    murmur, zero, high = band_db(200, 350), band_db(900, 1100), band_db(3000, 5000)
    assert murmur - zero > 20 and murmur - high > 18
    assert zero < band_db(1400, 1800) - 6  # the closed mouth's antiresonance, below the harmonics above it
