"""A melody performed the way a person sings, hums or plays it alone: a General MIDI voice through
FluidSynth (or a whistle or a hum made here), with vibrato, a glide from each note into the next,
the whole phrase off A440 by a tuning offset, the reverberation of a room, and background noise
(white or coloured) at a given signal-to-noise ratio. The transcription evaluation renders its
test set with this, so the set is made in code and never stored.

Expression is done with pitch bend on a ±12 semitone range, set every `BEND_STEP` seconds."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np

from .audio import SAMPLE_RATE, _synth
from .midi_io import note_events
from .notes import Note

BEND_RANGE = 12  # semitones either way: room for a glide across an octave
BEND_STEP = 0.005  # seconds between pitch-bend updates (200 Hz: smooth for 6 Hz vibrato)
HANDOVER = 0.03  # s: a note's ring fades out over this once the next note begins
# Voices and instruments people carry a tune with: General MIDI programs (counting from 0), or
# None for a voice made here (`MADE_HERE`): a whistle, as TimGM6mb's whistle sample sounds 9
# semitones below its note and is silent above about F5, where people whistle; and a hum, a voice
# modelled from its source and filter rather than played from a recorded sample. Reeds and brass
# follow, whose spectra differ from a voice's: an oboe's second harmonic far above its
# fundamental, a clarinet's odd harmonics, a harmonica's and an accordion's sharp stops.
TIMBRES: dict[str, int | None] = {
    "choir-aahs": 52,
    "voice-oohs": 53,
    "synth-voice": 54,
    "whistle": None,
    "recorder": 74,
    "flute": 73,
    "violin": 40,
    "hum": None,
    "oboe": 68,
    "clarinet": 71,
    "alto-sax": 65,
    "trumpet": 56,
    "harmonica": 22,
    "accordion": 21,
}
WHISTLE_BREATH = 0.03  # breath noise beside the whistled tone, as a share of its amplitude
# A hum ("mmm"): the voice's harmonics falling away at 6 dB an octave (the glottal source's 12,
# less the 6 the lips radiate), shaped by the nasal tract with the lips closed: a strong murmur
# resonance low, a weak one high, and the antiresonance of the closed mouth between them (Fujimura
# 1962, nasal murmurs: ~250 Hz, ~2,200 Hz, a zero near 1 kHz; frequency and bandwidth in Hz).
HUM_RESONANCES = ((270.0, 120.0, 1.0), (2200.0, 300.0, 0.08))  # (frequency, bandwidth, gain)
HUM_ANTIRESONANCE = (1000.0, 250.0)
HUM_TOP_HZ = 5000.0  # harmonics above this are left out (they are far weaker than the murmur)
HUM_ATTACK = 0.04  # s: the voice swells into a note after silence over this, and dies away over 1.5 times it
HUM_JOIN = 0.04  # s: a note this soon after the last is hummed on from it, legato, not begun anew
HUM_REPEAT_DIP_DB = (6.0, 18.0)  # a note hummed on at the pitch just hummed is re-attacked by a dip this deep...
HUM_REPEAT_DIP = 0.05  # ...this long, around its start (drawn): legato on one pitch would be one note
HUM_WANDER_CENTS = 8.0  # slow, random pitch wander of a held voice (standard deviation at its knots)...
HUM_SHIMMER_DB = 1.0  # ...and of its loudness
HUM_BREATH = 0.02  # breath noise beside the voice, as a share of its amplitude


@dataclass(frozen=True)
class Expression:
    vibrato_cents: float = 0.0  # depth, either way
    vibrato_hz: float = 5.5
    vibrato_delay: float = 0.12  # seconds into a note before vibrato starts; it then grows over as long again
    glide_seconds: float = 0.0  # each note starts at the previous note's pitch and slides to its own
    tuning_cents: float = 0.0  # the whole phrase this far from A440 (at its start, with drift)
    drift_cents: float = 0.0  # the tuning moves this far, steadily, from the start of the recording to its end
    intonation_cents: float = 0.0  # each note off its pitch by a normal draw this wide (standard deviation)
    room_seconds: float | None = None  # reverberation time (RT60) of the room it is heard in; None: dry
    room_drr_db: float = 5.0  # the direct sound this far above the room's reverberation (a microphone at arm's length)
    snr_db: float | None = None  # background noise this far below the signal's power; None: none
    noise_slope: float = 0.0  # the noise's power falls as 1 / frequency ** this: 0 white (hiss), 1 pink (a fan,
    # a room's hum of traffic and voices), 2 brown (rumble)


def perform(notes: list[Note], seconds: float, timbre: str, expression: Expression = Expression(),
            seed: int = 0, soundfont=None) -> np.ndarray:
    """The notes (one line: no two sounding at once) in one of `TIMBRES`: mono float samples at
    `SAMPLE_RATE`, `seconds` long plus half a second of ring-out, peak at -6 dBFS."""
    program = TIMBRES[timbre]
    total = round((seconds + 0.5) * SAMPLE_RATE)
    if program is None:
        mono = MADE_HERE[timbre](notes, total, _bend_curve(notes, total, expression, seed), np.random.default_rng(seed + 1))
    else:
        # A SoundFont's samples may sound off their notes (by a few cents, or 9 semitones for
        # TimGM6mb's whistle): each note is played that much higher or lower, so that what sounds
        # is the note the reference says.
        offsets = {pitch: sounding_offset(program, pitch, soundfont) for pitch in {n.pitch for n in notes}}
        played = [Note(n.pitch - round(offsets[n.pitch]), n.start, n.end, n.velocity) for n in notes]
        bends = _bend_curve(played, total, expression, seed)
        for note in notes:
            a, b = round(note.start * SAMPLE_RATE), min(total, round(note.end * SAMPLE_RATE))
            bends[a:b] -= offsets[note.pitch] - round(offsets[note.pitch])
        mono = _one_voice(played, total, program, bends, soundfont)
    return heard(mono, expression, seed)


def heard(mono: np.ndarray, expression: Expression, seed: int = 0) -> np.ndarray:
    """Samples as the microphone hears them: in the expression's room, with its noise, and the
    level set to a peak of -6 dBFS."""
    if expression.room_seconds is not None:
        mono = in_room(mono, expression.room_seconds, expression.room_drr_db, np.random.default_rng(seed + 2))
    if expression.snr_db is not None:
        power = np.mean(mono[np.abs(mono) > 1e-4] ** 2) if np.any(np.abs(mono) > 1e-4) else 0.0
        noise = coloured_noise(np.random.default_rng(seed), len(mono), expression.noise_slope)
        mono = mono + noise * np.sqrt(power / 10 ** (expression.snr_db / 10))
    peak = np.max(np.abs(mono)) if len(mono) else 0.0
    return mono * (0.5 / peak) if peak > 0 else mono  # as a recorder would set its level


def coloured_noise(rng: np.random.Generator, length: int, slope: float) -> np.ndarray:
    """Gaussian noise of unit power whose power spectrum falls as 1 / frequency ** `slope`
    (0: white, as drawn). Coloured, it has none below 20 Hz: no microphone passes it."""
    noise = rng.normal(size=length)
    if slope == 0 or length < 2:
        return noise
    frequency = np.fft.rfftfreq(length, 1 / SAMPLE_RATE)
    gain = np.where(frequency >= 20.0, np.maximum(frequency, 20.0) ** (-slope / 2), 0.0)
    shaped = np.fft.irfft(np.fft.rfft(noise) * gain, length)
    return shaped / np.sqrt(np.mean(shaped ** 2))


def in_room(samples: np.ndarray, seconds: float, direct_to_reverb_db: float, rng: np.random.Generator) -> np.ndarray:
    """`samples` as a microphone in a room hears them: the direct sound plus the room's
    reverberation, a diffuse tail modelled as white noise dying away by 60 dB in `seconds` (RT60)
    after 10 ms, its power `direct_to_reverb_db` below the direct sound's. Rings on under the
    next notes as a real room does; the length stays the same."""
    length = max(1, round(seconds * SAMPLE_RATE))
    since = np.arange(length) / SAMPLE_RATE
    response = rng.normal(size=length) * 10 ** (-3 * since / seconds)
    response[: round(0.01 * SAMPLE_RATE)] = 0.0
    size = len(samples) + length
    reverb = np.fft.irfft(np.fft.rfft(samples, size) * np.fft.rfft(response, size), size)[: len(samples)]
    direct_power, reverb_power = np.mean(samples ** 2), np.mean(reverb ** 2)
    if reverb_power == 0:
        return samples
    return samples + reverb * np.sqrt(direct_power / reverb_power / 10 ** (direct_to_reverb_db / 10))


def chords(notes: list[Note], seconds: float, program: int, soundfont=None) -> np.ndarray:
    """Notes that may sound together (chords, an accompaniment) on a General MIDI program, each
    ringing as the SoundFont lets it: mono samples, `seconds` long plus half a second, unlevelled."""
    total = round((seconds + 0.5) * SAMPLE_RATE)
    return _render(notes, total, program, np.zeros(total), soundfont, one_at_a_time=False)


def _one_voice(notes: list[Note], total: int, program: int, bends: np.ndarray, soundfont) -> np.ndarray:
    """The notes as one voice sounds them: a note's release rings only until the next note begins
    (then fades out over `HANDOVER`), as a singer's or a flute's does, where a SoundFont lets every
    release ring on under the next notes (pads for a second or more: chords, not a melody).
    Alternate notes are rendered apart, so each can be faded as its successor starts."""
    streams = [_render(notes[parity::2], total, program, bends, soundfont) for parity in (0, 1)]
    gains = [np.zeros(total), np.zeros(total)]
    fade = max(1, round(HANDOVER * SAMPLE_RATE))
    for index, note in enumerate(notes):
        a = min(total, round(note.start * SAMPLE_RATE))
        mine, other = gains[index % 2], gains[1 - index % 2]
        mine[a:] = 1.0
        if index:
            ramp = np.linspace(1.0, 0.0, fade)[: total - a]
            other[a: a + len(ramp)] = np.minimum(other[a: a + len(ramp)], ramp)
            other[a + len(ramp):] = 0.0
    return streams[0] * gains[0] + streams[1] * gains[1]


def _render(notes: list[Note], total: int, program: int, bends: np.ndarray, soundfont,
            one_at_a_time: bool = True) -> np.ndarray:
    """`total` mono samples of FluidSynth playing the notes with `bends` (semitones per sample);
    `one_at_a_time`, each note silences what still rings of the last."""
    _, synth = _synth(soundfont)
    try:
        synth.program_change(0, program)
        for control, value in ((101, 0), (100, 0), (6, BEND_RANGE), (38, 0)):  # RPN 0: bend range
            synth.cc(0, control, value)
        events = [(round(moment * SAMPLE_RATE), message) for moment, message in note_events(notes)]
        step = max(1, round(BEND_STEP * SAMPLE_RATE))
        chunks, frame, next_event = [], 0, 0
        while frame < total:
            while next_event < len(events) and events[next_event][0] <= frame:
                message = events[next_event][1]
                if message.type == "note_on" and message.velocity > 0:
                    if one_at_a_time:
                        synth.cc(0, 120, 0)  # all sound off: what still rings of this stream's last note stops
                    synth.noteon(0, message.note, message.velocity)
                else:
                    synth.noteoff(0, message.note)
                next_event += 1
            synth.pitch_bend(0, int(np.clip(round(bends[frame] / BEND_RANGE * 8192), -8192, 8191)))
            upto = min(total, frame + step)
            if next_event < len(events):
                upto = min(upto, max(frame + 1, events[next_event][0]))
            chunks.append(synth.get_samples(upto - frame))
            frame = upto
    finally:
        synth.delete()
    return np.concatenate(chunks).astype(np.float64).reshape(-1, 2).mean(axis=1) / 32768.0


def _whistle(notes: list[Note], total: int, bends: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A whistle: a sine following each note's pitch (with `bends`), 20 ms onsets and releases,
    and a little breath noise while it sounds."""
    pitch = np.zeros(total)
    envelope = np.zeros(total)
    for note in notes:
        a, b = round(note.start * SAMPLE_RATE), min(total, round(note.end * SAMPLE_RATE))
        if b <= a:
            continue
        since = np.arange(b - a) / SAMPLE_RATE
        pitch[a:b] = note.pitch
        ramp = np.minimum(since, since[-1] - since) / 0.02
        envelope[a:b] = np.maximum(envelope[a:b], np.clip(ramp, 0, 1) * note.velocity / 127)
    frequency = np.where(envelope > 0, 440 * 2 ** ((pitch + bends - 69) / 12), 0.0)
    phase = 2 * np.pi * np.cumsum(frequency) / SAMPLE_RATE
    return envelope * (np.sin(phase) + WHISTLE_BREATH * rng.normal(size=total))


def _hum(notes: list[Note], total: int, bends: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A hummed voice: harmonics of the pitch (with `bends`, and a slow wander of its own) shaped
    by the nasal murmur (`HUM_RESONANCES`, `HUM_ANTIRESONANCE`), with breath noise. It swells into
    a note after a silence and dies away after one; into a note that follows within `HUM_JOIN` it
    hums on (legato), re-attacking it by a dip in loudness when the pitch is the same."""
    sounded = [n for n in notes if min(total, round(n.end * SAMPLE_RATE)) > round(n.start * SAMPLE_RATE)]
    pitch = np.full(total, float(sounded[0].pitch) if sounded else 60.0)
    envelope = np.zeros(total)
    attack, fade = round(HUM_ATTACK * SAMPLE_RATE), round(1.5 * HUM_ATTACK * SAMPLE_RATE)
    for index, note in enumerate(sounded):
        a, b = round(note.start * SAMPLE_RATE), min(total, round(note.end * SAMPLE_RATE))
        before = sounded[index - 1] if index else None
        after = sounded[index + 1] if index + 1 < len(sounded) else None
        joined = before is not None and note.start - before.end < HUM_JOIN
        pitch[a:] = note.pitch  # held on through the fade after the note
        level = note.velocity / 127
        held = np.full(b - a, level)
        if joined:  # hummed on through the gap since the last note
            envelope[round(before.end * SAMPLE_RATE): a] = level
        else:  # a swell from silence (or from what is left of the last note's fade)
            held[:attack] *= 0.5 - 0.5 * np.cos(np.pi * np.arange(min(attack, b - a)) / attack)
        envelope[a:b] = np.maximum(envelope[a:b], held)
        if joined and before.pitch == note.pitch:  # the same pitch again: a dip around the new start
            width = round(HUM_REPEAT_DIP * SAMPLE_RATE)
            floor = 10 ** (-rng.uniform(*HUM_REPEAT_DIP_DB) / 20)
            lo, hi = max(0, a - width // 2), min(total, a + width // 2)
            shape = 0.5 - 0.5 * np.cos(2 * np.pi * (np.arange(lo, hi) - (a - width // 2)) / width)
            envelope[lo:hi] *= 1 - (1 - floor) * shape
        if after is None or after.start - note.end >= HUM_JOIN:  # dies away
            tail = np.arange(min(fade, total - b))
            envelope[b: b + len(tail)] = np.maximum(envelope[b: b + len(tail)], level * (1 - tail / fade))
    wander = _slow_noise(rng, total) * HUM_WANDER_CENTS / 100
    shimmer = 10 ** (_slow_noise(rng, total) * HUM_SHIMMER_DB / 20)
    frequency = 440 * 2 ** ((pitch + bends + wander - 69) / 12)
    phase = 2 * np.pi * np.cumsum(frequency) / SAMPLE_RATE
    voice = np.zeros(total)
    for harmonic in range(1, int(HUM_TOP_HZ / frequency.min()) + 1):
        at = harmonic * frequency
        voice += np.where(at < HUM_TOP_HZ, _nasal(at) / harmonic, 0.0) * np.sin(harmonic * phase)
    voice /= max(np.max(np.abs(voice)), 1e-9)
    return envelope * shimmer * (voice + HUM_BREATH * rng.normal(size=total))


def _nasal(hertz: np.ndarray) -> np.ndarray:
    """The nasal tract's gain at `hertz`: the murmur resonances over the closed mouth's antiresonance."""
    gain = sum(weight * frequency ** 2 / np.sqrt((frequency ** 2 - hertz ** 2) ** 2 + (width * hertz) ** 2)
               for frequency, width, weight in HUM_RESONANCES)
    zero, zero_width = HUM_ANTIRESONANCE
    return gain * np.sqrt((zero ** 2 - hertz ** 2) ** 2 + (zero_width * hertz) ** 2) / zero ** 2


def _slow_noise(rng: np.random.Generator, total: int) -> np.ndarray:
    """Random drift over `total` samples: normal draws of unit standard deviation every fifth of
    a second, joined by straight lines (so about 0.8 between them)."""
    knots = rng.normal(size=max(2, int(total / SAMPLE_RATE / 0.2) + 2))
    return np.interp(np.arange(total) / SAMPLE_RATE, np.arange(len(knots)) * 0.2, knots)


MADE_HERE = {"whistle": _whistle, "hum": _hum}


@cache
def sounding_offset(program: int, pitch: int, soundfont=None) -> float:
    """Semitones by which `program` sounds off `pitch` when given it (measured by Praat)."""
    import parselmouth

    samples = _render([Note(pitch, 0.0, 0.5, 90)], SAMPLE_RATE // 2, program, np.zeros(SAMPLE_RATE // 2), soundfont)
    track = parselmouth.Sound(samples, sampling_frequency=SAMPLE_RATE).to_pitch_ac(pitch_floor=40, pitch_ceiling=4000)
    frequency = track.selected_array["frequency"]
    if not np.any(frequency > 0):
        return 0.0  # silent there (outside the sample's keys): nothing to correct
    return float(69 + 12 * np.log2(np.median(frequency[frequency > 0]) / 440) - pitch)


def _bend_curve(notes: list[Note], total: int, expression: Expression, seed: int = 0) -> np.ndarray:
    """Semitones of bend at every sample: tuning (drifting) everywhere; each note's intonation,
    vibrato and the glide within notes."""
    bend = expression.tuning_cents / 100 + expression.drift_cents / 100 * np.arange(total) / max(1, total - 1)
    aim = np.random.default_rng(seed + 3).normal(0.0, expression.intonation_cents / 100, len(notes))
    for index, note in enumerate(notes):
        a, b = round(note.start * SAMPLE_RATE), min(total, round(note.end * SAMPLE_RATE))
        if b <= a:
            continue
        since = np.arange(b - a) / SAMPLE_RATE
        # Singers and string players start a note straight and let vibrato grow on a held note.
        depth = expression.vibrato_cents / 100 * np.clip(since / expression.vibrato_delay - 1, 0, 1) \
            if expression.vibrato_delay > 0 else expression.vibrato_cents / 100
        bend[a:b] += aim[index] + depth * np.sin(2 * np.pi * expression.vibrato_hz * since)
        if index and expression.glide_seconds > 0:
            offset = notes[index - 1].pitch + aim[index - 1] - note.pitch - aim[index]
            bend[a:b] += offset * np.clip(1 - since / expression.glide_seconds, 0, 1)
    return bend
