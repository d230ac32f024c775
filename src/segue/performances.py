"""A melody performed the way a person sings, hums or plays it alone: a General MIDI voice through
FluidSynth, with vibrato, a glide from each note into the next, the whole phrase off A440 by a
tuning offset, the reverberation of a room, and background noise at a given signal-to-noise
ratio. The transcription
evaluation renders its test set with this, so the set is made in code and never stored.

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
# None for a whistle made here (a sine with breath noise): TimGM6mb's whistle sample sounds 9
# semitones below its note and is silent above about F5, where people whistle.
TIMBRES: dict[str, int | None] = {
    "choir-aahs": 52,
    "voice-oohs": 53,
    "synth-voice": 54,
    "whistle": None,
    "recorder": 74,
    "flute": 73,
    "violin": 40,
}
WHISTLE_BREATH = 0.03  # breath noise beside the whistled tone, as a share of its amplitude


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
    snr_db: float | None = None  # white noise this far below the signal's power; None: none


def perform(notes: list[Note], seconds: float, timbre: str, expression: Expression = Expression(),
            seed: int = 0, soundfont=None) -> np.ndarray:
    """The notes (one line: no two sounding at once) in one of `TIMBRES`: mono float samples at
    `SAMPLE_RATE`, `seconds` long plus half a second of ring-out, peak at -6 dBFS."""
    program = TIMBRES[timbre]
    total = round((seconds + 0.5) * SAMPLE_RATE)
    if program is None:
        mono = _whistle(notes, total, _bend_curve(notes, total, expression, seed), np.random.default_rng(seed + 1))
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
        noise = np.random.default_rng(seed).normal(size=len(mono))
        mono = mono + noise * np.sqrt(power / 10 ** (expression.snr_db / 10))
    peak = np.max(np.abs(mono)) if len(mono) else 0.0
    return mono * (0.5 / peak) if peak > 0 else mono  # as a recorder would set its level


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
