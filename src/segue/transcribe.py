"""Sung, hummed or whistled phrases as notes: a mono recording in, `Note`s in seconds out.

Method (all settings are `TranscriptionConfig` fields):

1. **Reading**: any file libsndfile reads (WAV, FLAC, OGG, MP3), any sample rate, mixed down to
   mono; 1 to 30 s. Silence (peak under -50 dBFS) is refused, and so is a recording more than 1 %
   of which is clipped (flattened at full scale: the input level was too high). Above 16 kHz it is
   resampled to 16 kHz (an FFT low-pass): the band above holds no pitch, only noise that hides it
   (at 10 dB SNR the note F1 of the synth voice rose from 0.78 to 0.82, of the flute from 0.91 to
   0.94, on 20 test melodies each).
2. **Pitch**: Praat's autocorrelation pitch tracker (`praat-parselmouth`, Boersma 1993), every
   10 ms between 65 Hz (a low bass voice) and 2,100 Hz (a high whistle), octave cost 0.05
   against octave-low errors, voicing threshold 0.35 (Praat's 0.45 drops too many frames of a
   voice in noise at 10 dB SNR; white noise alone still has no pitch): a well-kept C++ library with wheels, no PyTorch and no model to
   download, that tracks 5 s in ~85 ms on this project's 2-core machine. Chosen over the trackers
   checked for the project: librosa's pYIN took 2.1-2.4 s per 5 s (plus a 40 s warm-up), torchcrepe
   needs a torchaudio that matches no installable PyTorch, and basic-pitch's package pins
   TensorFlow. Unvoiced frames (breaths, noise, silence) have no pitch. Loudness is the RMS over
   10 ms around each frame.
3. **Notes**: a note is a run of voiced frames. Its first `glide_frames` (60 ms), and any later
   frames still moving on the same way, are the slide into it and are not split. After that, when
   the next `settle_frames` (40 ms) frames are all more than `split_semitones` (0.8) from the
   note's median on the same side, a new note begins, at the frame where the pitch set off towards
   it (vibrato of ±60 cents stays one note; a glide is one note). A loudness minimum that rises
   again by `dip_db` (10 dB) within 40 ms re-attacks the same pitch, or one of `flux_dip_db`
   (5 dB) where the spectral flux also hears an onset (a repeated note without a breath).
4. **Onsets**: a pitch tracker hears a new note only once it outweighs the ring of the last one,
   tens of milliseconds late. Each note's start is moved back to a spectral-flux onset (the summed
   rise of log magnitude over 50 Hz-5 kHz, frame to frame, peaking `flux_threshold` above its
   0.5 s running median) found up to `onset_lead` (80 ms) before it, where the sound in the
   100 ms after it is at least as strong as in the 30 ms before (`onset_before`, `onset_after`):
   a note that stops sharply and rings on under the next (a harmonica's, an accordion's) changes
   the spectrum as much as one starting, and each next note was put 50 ms early (validation
   renders, 20 melodies, clean: harmonica F1 0.849 -> 0.971, accordion 0.861 -> 0.966, clarinet
   0.948 -> 0.982; the eight voices of the report within -1.3 and +5.4 points in every condition).
5. **Pitch of a note**: the median of its settled frames averaged over one vibrato cycle
   (`vibrato_seconds`, 0.18 s; a plain median of part of a cycle leans to one side), their plain
   median when the note is shorter. Notes under `min_note_seconds` (50 ms) are blips and dropped.
   **Octave**: the tracker reads a tone whose second harmonic far outweighs its fundamental (an
   oboe's: 18 dB in TimGM6mb's around F5) an octave high, and a nearly pure one (a recorder) now
   and then an octave low. Each note's partials, in the spectrum of its last 60 %, tell: a note
   read an octave high has partials at 1/2 and 3/2 of the pitch read (looked for only in a
   spectrum of 80 ms or more: a shorter one smears the last note's low partials into view); one
   read an octave low has none at its pitch or three times it, only at twice it. A partial counts
   when its peak stands 10 dB over the median level within 150 Hz of it and within 25 dB of the
   strongest. Noise is not a partial, however loud: against the whole spectrum's median, pink
   noise at 10 dB lying high under a low voice made partials of itself (validation F1 0.946 for
   the hum and 0.931 for the voice "oohs" that way, 0.960 and 0.963 with the local median).
   A note is never moved down after one an octave below it, whose ring in a room sounds where
   its own would. On validation renders (20 melodies) the oboe went from F1 0.811 to 0.962 clean
   and from 0.630 to 0.940 at 10 dB, and the recorder's 5 notes an octave off (of 40 melodies)
   to none (`_octave_checked`).
6. **Tuning**: singers are rarely at A440, and one without an accompaniment drifts from where
   they began. Each note's offset is the circular mean of the notes' distances to the nearest
   equal-tempered semitone, weighted by length and by nearness in time (a Gaussian
   `tuning_seconds`, 1.5 s, wide), followed from note to note (unwrapped) and counted from the
   first note's nearest semitone; it is taken off before the note is rounded. So a phrase sung
   40 cents flat is still read in tune, and so is one that sinks 80 cents as it goes: it is
   heard in the key it began in, not partly a semitone lower (on validation renders of a singer
   drifting up to 60 cents either way, with each note 20 cents off on average, note F1 rose from
   0.881 to 0.901 over the seven voices, and from 0.888 to 0.909 in the report's test renders;
   clean renders were unchanged).

7. **Several voices at once** (a duet, chords, a melody over an accompaniment) are refused in
   words: the tracker would follow one line, or the common subharmonic of two, so the notes would
   be wrong. A voiced frame holds a second note when a spectral peak (128 ms window) within 6 dB
   of its strongest lies 60 cents or more off every harmonic of the tracked pitch, or when neither
   the pitch's fundamental nor its octave is among its strong peaks; held 120 ms or longer (a
   room's ring of the last note dies away sooner), such frames in more than 12 % of the voiced
   ones refuse the recording. A peak on the first harmonics of a pitch tracked in the last 100 ms
   is that note ringing on (a fast run in a room), not a second voice. A line doubled at the
   octave, or two notes a fifth apart, sit on one harmonic series and pass (`second_voice_share`).
   On validation renders no one-voice recording of 1,920 (eight voices; clean, in noise, white
   and pink, in a room, untrained) came above 6 % (`max_second_voice_share`: at 20 %, 17 of 40
   duets of two tunes were refused; at 12 %, 26).

How well this works, per voice and noise level, is measured by `segue evaluate-transcription`
(`transcription_eval.py`, docs/transcription.md).

Errors are `TranscriptionError`, one plain sentence each.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from .midi_io import MIDI_SIGNATURE, Melody, MidiError, read_midi
from .notes import MAX_PITCH, Note

# The first bytes of the audio files this reads, to tell them from MIDI by content.
AUDIO_SIGNATURES = (b"RIFF", b"fLaC", b"OggS", b"ID3", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2", b"FORM")


class TranscriptionError(ValueError):
    """Audio that cannot be transcribed; the message says why, in plain words."""


class SeveralVoicesError(TranscriptionError):
    """A recording of two or more notes at once, where one line was wanted."""


@dataclass(frozen=True)
class TranscriptionConfig:
    min_seconds: float = 1.0  # shorter recordings hold no phrase
    max_seconds: float = 30.0  # longer ones are refused: the model reads the last notes anyway
    silence_dbfs: float = -50.0  # a recording whose peak is below this is silence
    max_clipped_share: float = 0.01  # more of the recording than this flattened at full scale is refused
    analysis_rate: int = 16000  # Hz: recordings at higher rates are resampled to this first
    time_step: float = 0.01  # seconds between pitch frames
    pitch_floor: float = 65.0  # Hz: a low bass voice
    pitch_ceiling: float = 2100.0  # Hz: a high whistle
    octave_cost: float = 0.05  # Praat's preference for higher pitch candidates (against octave-low errors)
    voicing_threshold: float = 0.35  # Praat's: lower keeps weaker (noisier) frames voiced
    vibrato_seconds: float = 0.18  # one cycle of vibrato at 5.5 Hz: a note's pitch is averaged over it
    glide_frames: int = 6  # a note's first frames (60 ms) may still be sliding into it
    glide_step: float = 0.1  # semitones a frame: the pitch moving at least this fast is still gliding
    split_semitones: float = 0.8  # a frame this far from its note's pitch may start a new note...
    settle_frames: int = 4  # ...if this many frames in a row are as far, on the same side (40 ms)
    loudness_seconds: float = 0.01  # loudness is measured over this long around each frame: short, so a
    # breath between two notes shows as a deep dip
    dip_db: float = 10.0  # loudness falling this far and rising as much again re-attacks the note...
    flux_dip_db: float = 5.0  # ...or this far, where the spectral flux hears a new onset too
    rise_frames: int = 4  # ...the rise within this many frames (40 ms)
    min_note_seconds: float = 0.05  # shorter notes are blips
    tuning_seconds: float = 1.5  # a note's tuning is taken from the notes this near (Gaussian width): narrower
    # follows a drifting singer sooner, wider is less swayed by one note sung off
    flux_threshold: float = 0.7  # a spectral-flux peak this far above its running median is an onset...
    onset_lead: float = 0.08  # ...and moves a note's start back to it from at most this far after...
    onset_before: float = 0.03  # ...where the sound in `onset_after` s after it is at least as strong as in
    onset_after: float = 0.1  # the `onset_before` s before it (where a note stops, it falls)
    # A note's octave, checked on the spectrum of its last `octave_share` (`_octave_checked`):
    octave_share: float = 0.6
    partial_db: float = 10.0  # a partial is there when its peak is this far above the median level...
    partial_around: float = 150.0  # ...within this many Hz of it...
    partial_span_db: float = 25.0  # ...and at most this far below the strongest
    octave_up_seconds: float = 0.04  # spectra at least this long may move a note up an octave...
    octave_down_seconds: float = 0.08  # ...and this long down (a shorter one smears a low partial into view)
    # Several voices at once (`second_voice_share`):
    voices_window: float = 0.128  # s of audio per spectrum: partials 16 Hz apart are told apart
    peak_floor_db: float = 20.0  # a spectral peak counts this far above the spectrum's median (the noise)
    harmonic_cents: float = 60.0  # a peak this far or further from every harmonic of the tracked pitch is off them
    second_voice_db: float = 6.0  # a peak off the harmonics this close to the strongest is a second note...
    ring_seconds: float = 0.1  # ...unless on harmonic 1-3 of a pitch tracked this recently (the last note ringing)
    low_harmonics_db: float = 25.0  # ...as is the tracked pitch with neither harmonic 1 nor 2 this close to it
    second_voice_frames: int = 12  # ...once held this many frames in a row (120 ms: longer than a room's ring
    # of the last note stays that loud)
    max_second_voice_share: float = 0.12  # a second note in more of the voiced frames than this: several voices
    velocity: int = 80


@dataclass(frozen=True)
class Transcription:
    notes: list[Note]
    seconds: float  # the recording's length
    tuning_cents: float  # how far from A440 the singer was at the end (-50..50 at the start; a drift goes on from there)


class Segment(NamedTuple):
    """A note as segmentation finds it, before its pitch is rounded to a semitone."""

    start: float  # seconds
    end: float
    centre: float  # its pitch as a fractional MIDI number
    attacked: bool  # begun after silence or a dip in loudness, not only by a change of pitch


def is_audio(data: bytes) -> bool:
    return data.startswith(AUDIO_SIGNATURES)


def is_recording(data: bytes, name: str = "the file") -> bool:
    """Whether a file taken as either kind (its bytes, or its first bytes) is a recording rather
    than MIDI; one that starts as neither is refused naming both. Empty bytes are not a recording
    (the MIDI reader says the file is empty)."""
    if data and not is_audio(data) and not data.startswith(MIDI_SIGNATURE):
        raise MidiError(f"{name} is not a MIDI file or a recording Segue reads: choose a Standard MIDI File (.mid) "
                        "or a WAV, FLAC, OGG or MP3 recording")
    return is_audio(data)


def read_melody(data: bytes, track: int | None = None, config: TranscriptionConfig = TranscriptionConfig()) -> Melody:
    """A melody from a file's bytes, told apart by content: a recording is transcribed, a MIDI file
    read (`midi_io.read_midi`, which names what is wrong with a bad one); anything else is refused
    naming both kinds."""
    if not is_recording(data):
        return read_midi(data, track)
    if track is not None:
        raise TranscriptionError("a recording has no tracks: a track can be chosen only in a MIDI file")
    transcription = transcribe(data, config)
    return Melody(transcription.notes, transcription.seconds)


def transcribe(data: bytes, config: TranscriptionConfig = TranscriptionConfig()) -> Transcription:
    """A recording (the file's bytes) -> its notes; raises TranscriptionError."""
    return transcribe_samples(*read_audio(data), config)


def transcribe_samples(samples: np.ndarray, rate: int,
                       config: TranscriptionConfig = TranscriptionConfig()) -> Transcription:
    """Mono samples (floats, full scale 1) at `rate` -> their notes; raises TranscriptionError."""
    seconds = len(samples) / rate
    if seconds < config.min_seconds:
        raise TranscriptionError(f"the recording is {seconds:.2f} s long: sing at least {config.min_seconds:g} s")
    if seconds > config.max_seconds:
        raise TranscriptionError(f"the recording is {seconds:.1f} s long: at most {config.max_seconds:g} s is read")
    peak = float(np.max(np.abs(samples))) if len(samples) else 0.0
    if peak <= 0 or 20 * math.log10(peak) < config.silence_dbfs:
        raise TranscriptionError("the recording is silent: check the microphone and sing a little louder")
    clipped = clipped_share(samples)
    if clipped > config.max_clipped_share:
        raise TranscriptionError(f"the recording is clipped ({100 * clipped:.1f} % of it at full scale, too loud "
                                 "to hear the pitch): turn the microphone's level down or sing further from it")
    if rate > config.analysis_rate:  # what lies above holds no pitch, only noise that hides it
        samples, rate = _resampled(samples, rate, config.analysis_rate), config.analysis_rate
    times, midi, loudness = _pitch_frames(samples, rate, config)
    voiced = ~np.isnan(midi)
    if voiced.sum() * config.time_step < config.min_note_seconds:
        raise TranscriptionError("no sung or played notes found in the recording (only noise or breath?)")
    share = second_voice_share(samples, rate, times, midi, config)
    if share > config.max_second_voice_share:
        raise SeveralVoicesError(f"two or more notes sound at once in {100 * share:.0f} % of the recording (several "
                                 "voices, chords or an accompaniment?): record one voice or instrument alone")
    onsets = _flux_onsets(samples, rate, config)
    segments = _onsets_moved(_segments(times, midi, loudness, onsets, config), onsets, config)
    checked: list[Segment] = []
    for segment in segments:
        checked.append(_octave_checked(segment, checked[-1] if checked else None, samples, rate, config))
    segments = checked
    tuning = _tuning(segments, config.tuning_seconds)
    notes: list[Note] = []
    for segment, offset in zip(segments, tuning):
        pitch = int(round(segment.centre - offset))
        if not 0 <= pitch <= MAX_PITCH:
            continue
        if notes and not segment.attacked and notes[-1].pitch == pitch and notes[-1].end == segment.start:
            # Split on the way into a wide leap, settled on the same semitone: one note.
            notes[-1] = Note(pitch, notes[-1].start, segment.end, config.velocity)
        else:
            notes.append(Note(pitch, segment.start, segment.end, config.velocity))
    if not notes:
        raise TranscriptionError("no notes long enough to keep: sing each note for at least "
                                 f"{config.min_note_seconds * 1000:.0f} ms")
    return Transcription(notes, seconds, round(100 * float(tuning[-1]), 1))


def clipped_share(samples: np.ndarray) -> float:
    """The share of samples in runs of three or more at the recording's own full-scale peak: a
    signal too loud for the input flattens there (a lone peak sample is not clipping)."""
    if not len(samples):
        return 0.0
    peak = np.max(np.abs(samples))
    if peak < 0.5:  # far below full scale: nothing was clipped
        return 0.0
    at_rail = np.abs(samples) >= peak * 0.999
    runs = at_rail[:-2] & at_rail[1:-1] & at_rail[2:]
    return float(runs.sum()) / len(samples)


def _resampled(samples: np.ndarray, rate: int, target: int) -> np.ndarray:
    """`samples` at `target` Hz (lower than `rate`): the spectrum cut at the new Nyquist frequency,
    which is the ideal low-pass, in two FFTs (~10 ms for 5 s; Praat's sinc resampling took 60)."""
    count = round(len(samples) * target / rate)
    spectrum = np.fft.rfft(samples)[: count // 2 + 1]
    return np.fft.irfft(spectrum, count) * (count / len(samples))


def read_audio(data: bytes) -> tuple[np.ndarray, int]:
    """A recording's samples, mixed down to mono, and its sample rate."""
    import soundfile

    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="float64", always_2d=True)
    except (RuntimeError, soundfile.LibsndfileError, TypeError, ValueError) as error:
        raise TranscriptionError(f"the file is not audio this can read (WAV, FLAC, OGG or MP3): {error}") from None
    return samples.mean(axis=1), int(rate)


def _pitch_frames(samples: np.ndarray, rate: int, config: TranscriptionConfig):
    """Frame times, pitches as fractional MIDI numbers (NaN unvoiced) and loudness in dB."""
    import parselmouth

    sound = parselmouth.Sound(samples, sampling_frequency=rate)
    pitch = sound.to_pitch_ac(time_step=config.time_step, pitch_floor=config.pitch_floor,
                              pitch_ceiling=config.pitch_ceiling, octave_cost=config.octave_cost,
                              voicing_threshold=config.voicing_threshold)
    frequency = pitch.selected_array["frequency"]
    times = pitch.xs()
    with np.errstate(divide="ignore"):
        midi = np.where(frequency > 0, 69 + 12 * np.log2(np.maximum(frequency, 1e-9) / 440.0), np.nan)
    window = max(1, int(round(config.loudness_seconds / 2 * rate)))
    loudness = np.array([10 * np.log10(np.mean(samples[max(0, int(t * rate) - window): int(t * rate) + window] ** 2)
                                       + 1e-12) for t in times])
    return times, midi, loudness


def second_voice_share(samples: np.ndarray, rate: int, times: np.ndarray, midi: np.ndarray,
                       config: TranscriptionConfig = TranscriptionConfig()) -> float:
    """The share of the voiced frames (`midi` not NaN, at `times`) where a second note sounds.

    A voice or an instrument playing one line puts its spectral peaks on the harmonics of its
    pitch. A frame holds a second note when a peak within `second_voice_db` of its strongest lies
    off every harmonic of the tracked pitch (another note's partials), or when the tracked pitch has
    neither its fundamental nor its octave among the strong peaks: a tracker hearing two notes a
    third or a fourth apart reports their common subharmonic, on whose harmonics both lie. Only
    runs of `second_voice_frames` such frames count: a room's ring of the last note under the next
    one dies away sooner, and a unison choir's voices share their harmonics. A peak on the first
    harmonics of a pitch tracked in the last `ring_seconds` is that note ringing on (the notes of a
    fast run in a room overlap), not a second voice."""
    voiced = np.flatnonzero(~np.isnan(midi))
    if not len(voiced):
        return 0.0
    width = max(8, round(config.voices_window * rate))
    padded = np.pad(samples, width)
    starts = np.round(times[voiced] * rate).astype(int) + width - width // 2
    frames = padded[starts[:, None] + np.arange(width)] * np.hanning(width)
    bin_hz = rate / width
    low, high = max(2, int(60 / bin_hz)), min(width // 2 - 1, int(min(4000.0, 0.45 * rate) / bin_hz))
    spectrum = 20 * np.log10(np.abs(np.fft.rfft(frames, axis=1)[:, low - 1: high + 2]) + 1e-12)
    floor = np.median(spectrum, axis=1, keepdims=True)
    left, centre, right = spectrum[:, :-2], spectrum[:, 1:-1], spectrum[:, 2:]
    row, column = np.nonzero((centre > left) & (centre >= right) & (centre >= floor + config.peak_floor_db))
    a, b, c = left[row, column], centre[row, column], right[row, column]
    curve = np.minimum(a - 2 * b + c, -1e-9)  # below 0 at a peak
    shift = 0.5 * (a - c) / curve  # the parabola through the three bins peaks this far from the middle one
    level = b - 0.25 * (a - c) * shift
    frequency = (low + column + shift) * bin_hz
    pitch = _hertz(midi[voiced[row]])
    harmonic = np.maximum(np.round(frequency / pitch), 1)
    off = np.abs(1200 * np.log2(frequency / (harmonic * pitch))) > config.harmonic_cents
    top = np.full(len(voiced), -np.inf)
    np.maximum.at(top, row, level)
    strong = np.flatnonzero(off & (level >= top[row] - config.second_voice_db))
    # On one of the first harmonics of a pitch tracked just before: the last note still ringing
    # under this one (a fast run in a room), not a second voice.
    before = voiced[row[strong], None] - np.arange(1, round(config.ring_seconds / config.time_step) + 1)
    recent = np.where(before >= 0, midi[np.maximum(before, 0)], np.nan)
    partials = _hertz(recent[:, :, None]) * np.arange(1, 4)
    ringing = np.any(np.abs(1200 * np.log2(frequency[strong, None, None] / partials)) <= config.harmonic_cents, axis=(1, 2))
    second = np.zeros(len(voiced), bool)
    second[row[strong[~ringing]]] = True
    grounded = np.zeros(len(voiced), bool)
    grounded[row[~off & (harmonic <= 2) & (level >= top[row] - config.low_harmonics_db)]] = True
    flagged = np.zeros(len(midi) + 2, bool)
    flagged[voiced + 1] = np.isfinite(top) & (second | ~grounded)
    edges = np.flatnonzero(np.diff(flagged.astype(np.int8)))  # each run's start, then its end
    lengths = edges[1::2] - edges[::2]
    return float(lengths[lengths >= config.second_voice_frames].sum()) / len(voiced)


def _hertz(midi: np.ndarray) -> np.ndarray:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _flux_onsets(samples: np.ndarray, rate: int, config: TranscriptionConfig) -> np.ndarray:
    """Times where new sound starts: peaks of the spectral flux (the summed rise of log magnitude
    across 50 Hz-5 kHz, frame to frame) above its running median by `flux_threshold`."""
    size = 1 << int(np.ceil(np.log2(0.046 * rate)))  # ~46 ms: one period of a low voice several times over
    hop = max(1, round(config.time_step * rate))
    if len(samples) < size + hop:
        return np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(samples, size)[::hop] * np.hanning(size)
    frequencies = np.fft.rfftfreq(size, 1 / rate)
    band = (frequencies >= 50) & (frequencies <= 5000)
    magnitude = np.log1p(1000 * np.abs(np.fft.rfft(frames, axis=1))[:, band])
    flux = np.concatenate([[0.0], np.maximum(np.diff(magnitude, axis=0), 0).sum(axis=1)])
    flux /= max(np.percentile(flux, 95), 1e-9)
    width = max(1, round(0.5 / config.time_step))
    padded = np.pad(flux, width // 2, mode="edge")
    baseline = np.median(np.lib.stride_tricks.sliding_window_view(padded, width)[: len(flux)], axis=1)
    around = np.pad(flux, 3, mode="constant")
    peak = np.all([flux >= around[3 + k: 3 + k + len(flux)] for k in (-3, -2, -1, 1, 2, 3)], axis=0)
    chosen = peak & (flux - baseline > config.flux_threshold)
    times = (np.nonzero(chosen)[0] * hop + size / 2) / rate
    return times[_not_falling(samples, rate, times, config.onset_before, config.onset_after)]


def _not_falling(samples: np.ndarray, rate: int, times: np.ndarray, before: float, after: float) -> np.ndarray:
    """Whether the mean power in the `after` seconds from each time is at least the mean power in
    the `before` seconds up to it. A note's end can change the spectrum as much as a start (a
    harmonica's or an accordion's release, a key's click), but only a start adds sound."""
    energy = np.concatenate([[0.0], np.cumsum(samples**2)])
    at = np.round(times * rate).astype(int)

    def power(start: np.ndarray, end: np.ndarray) -> np.ndarray:
        start, end = np.clip(start, 0, len(samples)), np.clip(end, 0, len(samples))
        return (energy[end] - energy[start]) / np.maximum(end - start, 1)

    return power(at, at + round(after * rate)) >= power(at - round(before * rate), at)


def _onsets_moved(segments: list[Segment], onsets: np.ndarray, config: TranscriptionConfig) -> list[Segment]:
    """Each note's start moved back to where its sound began, when an onset in the spectral flux
    comes at most `onset_lead` seconds before it: pitch trackers hear a new note only once it
    outweighs the last one's ring, tens of milliseconds late."""
    moved: list[Segment] = []
    for segment in segments:
        begin = segment.start
        # Not into the last note's first moments, nor, after a silence, back into the last note.
        earliest = 0.0 if not moved else moved[-1].end if begin > moved[-1].end else moved[-1].start + config.min_note_seconds
        near = onsets[(onsets >= max(begin - config.onset_lead, earliest)) & (onsets <= begin + config.time_step)]
        if len(near):
            begin = round(float(near[0]), 4)
            if moved and moved[-1].end > begin:
                moved[-1] = moved[-1]._replace(end=begin)
        moved.append(segment._replace(start=begin))
    return moved


def _octave_checked(segment: Segment, previous: Segment | None, samples: np.ndarray, rate: int,
                    config: TranscriptionConfig) -> Segment:
    """The segment an octave up or down where its spectrum says the tracker took the wrong one.
    An autocorrelation tracker reads a tone whose second harmonic far outweighs its fundamental
    (an oboe's reed, some nasal voices) an octave high, more so in noise, and a nearly pure tone
    (a recorder) now and then an octave low. A note's own partials tell: read an octave high, it
    has partials halfway between its harmonics, at 1/2 and 3/2 of its pitch; read an octave low,
    neither its pitch nor three times it sounds, only twice it. Looked for in the note's last
    part, where the glide into it and the last note's ring have passed; never down after a note
    an octave below (`previous`, as checked), whose ring in a room sounds at 1/2 and 3/2 of it."""
    end = min(round(segment.end * rate), len(samples))
    begin = round((segment.end - config.octave_share * (segment.end - segment.start)) * rate)
    if end - begin < config.octave_up_seconds * rate:
        return segment
    size = max(8192, 1 << int(np.ceil(np.log2(end - begin))))  # bins of 2 Hz at 16 kHz
    level = 20 * np.log10(np.maximum(np.abs(np.fft.rfft(samples[begin:end] * np.hanning(end - begin), size)), 1e-12))
    frequencies = np.fft.rfftfreq(size, 1 / rate)
    highest = min(5000.0, rate / 2 * 0.95)  # partials are looked for up to here
    strongest = level[(frequencies >= 50) & (frequencies <= highest)].max()

    def sounds(frequency: float) -> bool:
        """A peak within 40 cents of it stands out of the spectrum around it (noise is not a
        partial, however loud: pink noise lies high under a low voice) and is strong enough."""
        near = (frequencies >= frequency * 2 ** (-0.4 / 12)) & (frequencies <= frequency * 2 ** (0.4 / 12))
        around = np.abs(frequencies - frequency) <= config.partial_around
        if not near.any():  # below the spectrum's resolution (a low voice's half pitch)
            return False
        peak = level[near].max()
        return peak >= np.median(level[around]) + config.partial_db and peak >= strongest - config.partial_span_db

    pitch = float(_hertz(segment.centre))
    after_its_octave = previous is not None and abs(previous.centre - (segment.centre - 12)) < 0.5
    if (end - begin >= config.octave_down_seconds * rate and not after_its_octave and 1.5 * pitch <= highest
            and sounds(pitch / 2) and sounds(1.5 * pitch)):
        return segment._replace(centre=segment.centre - 12)
    if 3 * pitch <= highest and not sounds(pitch) and not sounds(3 * pitch) and sounds(2 * pitch):
        return segment._replace(centre=segment.centre + 12)
    return segment


def _tuning(segments: list[Segment], width: float) -> np.ndarray:
    """Each note's offset from equal temperament at A440, in semitones: the circular mean of the
    notes' distances to their nearest semitone, weighted by length (of notes, not frames: vibrato
    spreads a note's frames over a semitone) and by a Gaussian `width` seconds wide around the
    note; unwrapped from note to note, so a drift past a quarter tone goes on growing, and counted
    from the first note's nearest semitone (-0.5..0.5 there)."""
    if not segments:
        return np.zeros(0)
    centres = np.array([segment.centre for segment in segments])
    lengths = np.array([segment.end - segment.start for segment in segments])
    middles = np.array([(segment.start + segment.end) / 2 for segment in segments])
    nearness = np.exp(-0.5 * ((middles[:, None] - middles[None, :]) / width) ** 2)
    phases = np.unwrap(np.angle((nearness * lengths) @ np.exp(2j * np.pi * centres)))
    offsets = phases / (2 * np.pi)
    return offsets - np.round(offsets[0])


def _held_pitch(frames: np.ndarray, width: int) -> float:
    """A note's pitch: the median of its frames averaged over one vibrato cycle (a plain median of
    a part-cycle of vibrato leans to one side), or their plain median when the note is shorter
    (a mean leans towards the frames still sliding in from the last note)."""
    if len(frames) <= width:
        return float(np.median(frames))
    return float(np.median(np.convolve(frames, np.ones(width) / width, "valid")))


def _attacks(loudness: np.ndarray, onsets: np.ndarray, config: TranscriptionConfig) -> np.ndarray:
    """For each frame, how deep a dip below the note's loudness there re-attacks it (inf: none
    can): at a loudness minimum that rises again by `dip_db` within `rise_frames`, `dip_db`; where
    the spectral flux also hears a new onset (`onsets`, frame indices), only `flux_dip_db`."""
    n = len(loudness)
    ahead = np.full(n, -np.inf)
    for k in range(1, config.rise_frames + 1):
        ahead[:-k] = np.maximum(ahead[:-k], loudness[k:])
    padded = np.pad(loudness, 2, mode="edge")
    minimum = np.all([loudness <= padded[2 + k: 2 + k + n] for k in (-2, -1, 1, 2)], axis=0)
    heard = np.zeros(n, bool)
    for onset in onsets:
        heard[max(0, onset - 2): onset + 3] = True
    rise = ahead - loudness
    return np.where(minimum & (rise >= config.dip_db), config.dip_db,
                    np.where(minimum & heard & (rise >= config.flux_dip_db), config.flux_dip_db, np.inf))


def _segments(times: np.ndarray, midi: np.ndarray, loudness: np.ndarray, onsets: np.ndarray,
              config: TranscriptionConfig) -> list[Segment]:
    """The notes, blips left out.

    A note is not split on pitch until it has `settle_frames` frames past its glide (`settled`);
    its pitch is taken from those frames (`_held_pitch`)."""
    notes: list[Segment] = []
    attacks = _attacks(loudness, np.searchsorted(times, onsets), config)
    vibrato_frames = max(1, round(config.vibrato_seconds / config.time_step))
    start = None  # frame index where the current note began
    attacked = True
    glide = 0.0  # the direction the pitch moved to reach the current note (0: it was attacked)

    def settled(until: int) -> int:
        """The current note's first frame past its glide: `glide_frames` in, later while the
        pitch still moves on towards it."""
        frame = start + config.glide_frames
        while frame < until and glide * (midi[frame] - midi[frame - 1]) > config.glide_step:
            frame += 1
        return frame

    def close(end_index: int) -> None:
        if start is None:
            return
        begin, end = times[start] - config.time_step / 2, times[end_index - 1] + config.time_step / 2
        if end - begin >= config.min_note_seconds:
            held = midi[min(settled(end_index), start + (end_index - start) // 2): end_index]
            notes.append(Segment(round(max(begin, 0.0), 4), round(end, 4), _held_pitch(held, vibrato_frames), attacked))

    for i in range(len(midi)):
        if np.isnan(midi[i]):
            close(i)
            start = None
            continue
        if start is None:
            start, attacked, glide = i, True, 0.0
            continue
        held = midi[settled(i): i]
        if len(held) >= config.settle_frames:
            centre = float(np.median(held))
            ahead = midi[i: i + config.settle_frames] - centre
            moved = len(ahead) == config.settle_frames and (np.all(ahead > config.split_semitones)
                                                            or np.all(ahead < -config.split_semitones))
        else:
            moved = False
        dipped = np.max(loudness[start:i]) - loudness[i] >= attacks[i]
        if moved:
            # The new note began where the pitch set off towards it, a glide's length back at most.
            direction = np.sign(midi[i] - centre)
            split = i
            while (split - 1 > start + config.glide_frames and i - (split - 1) <= config.glide_frames
                   and direction * (midi[split - 1] - midi[split - 2]) > config.glide_step
                   and direction * (midi[split - 1] - centre) > 0):
                split -= 1
            close(split)
            start, attacked, glide = split, False, direction
        elif dipped:
            close(i)
            start, attacked, glide = i, True, 0.0
    close(len(midi))
    return notes
