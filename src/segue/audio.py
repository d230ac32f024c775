"""Sound without a MIDI synth: FluidSynth with a General MIDI SoundFont, as a mido output port
that plays on the sound card, and as an offline renderer to WAV files."""

from __future__ import annotations

import io
import os
import wave
from contextlib import contextmanager
from pathlib import Path

import mido
import numpy as np
from mido.ports import BaseOutput

from .files import replaced_atomically
from .midi_io import note_events
from .notes import Note

SAMPLE_RATE = 44100
GAIN = 0.5  # FluidSynth's master gain: loud enough for one melody line without clipping
# Debian's packages put General MIDI SoundFonts here (timgm6mb-soundfont is the small one).
SOUNDFONTS = (Path("/usr/share/sounds/sf2/default-GM.sf2"), Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),
              Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"))


class AudioError(Exception):
    """Audio cannot be made here; the message says what is missing, in one line."""


def find_soundfont(path: str | Path | None = None) -> Path:
    """The SoundFont to play with: `path`, else $SEGUE_SOUNDFONT, else one Debian installs."""
    chosen = path or os.environ.get("SEGUE_SOUNDFONT")
    if chosen:
        if not Path(chosen).is_file():
            raise AudioError(f"no SoundFont at {chosen}")
        return Path(chosen)
    for candidate in SOUNDFONTS:
        if candidate.is_file():
            return candidate
    raise AudioError("no General MIDI SoundFont found: install Debian's timgm6mb-soundfont "
                     "(scripts/install-system-packages audio) or pass --soundfont FILE.sf2")


def _synth(soundfont: str | Path | None):
    try:
        import fluidsynth
    except (ImportError, OSError):
        raise AudioError("FluidSynth is not installed: install Debian's libfluidsynth3 "
                         "(scripts/install-system-packages audio)") from None
    synth = fluidsynth.Synth(gain=GAIN, samplerate=SAMPLE_RATE)
    font = synth.sfload(str(find_soundfont(soundfont)))
    if font < 0:
        synth.delete()
        raise AudioError(f"FluidSynth could not load the SoundFont {find_soundfont(soundfont)}")
    synth.program_select(0, font, 0, 0)  # bank 0, program 0: acoustic grand piano
    return fluidsynth, synth


@contextmanager
def hushed_stderr():
    """Silence file descriptor 2 for a while: C libraries (ALSA, FluidSynth) print their own
    complaints there, and ours already says what went wrong in one line."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _apply(synth, message: mido.Message) -> None:
    """One MIDI message to FluidSynth; everything is played on channel 1's piano."""
    if message.type == "note_on" and message.velocity > 0:
        synth.noteon(0, message.note, message.velocity)
    elif message.type in ("note_on", "note_off"):
        synth.noteoff(0, message.note)
    elif message.type == "control_change":
        synth.cc(0, message.control, message.value)


class FluidSynthOutput(BaseOutput):
    """A mido output port that sounds through FluidSynth on the sound card, so the keyboard
    mode's player times it exactly as it times a hardware synth."""

    def __init__(self, soundfont: str | Path | None = None, settings: dict | None = None) -> None:
        """`settings` are FluidSynth's own, e.g. {"audio.driver": "pulseaudio"}."""
        super().__init__("FluidSynth", soundfont=soundfont, settings=settings or {})  # mido calls _open

    def _open(self, soundfont: str | Path | None, settings: dict) -> None:
        self.fluidsynth, self.synth = _synth(soundfont)  # kept: a port closed at exit cannot import
        for name, value in settings.items():
            self.synth.setting(name, value)
        used = self.synth.get_setting("audio.driver")
        # Only the audio driver: Synth.start() would also open a MIDI driver, which needs ALSA's
        # sequencer. The C libraries' own complaints are hushed: AudioError says it in one line.
        with hushed_stderr():
            self.driver = self.fluidsynth.new_fluid_audio_driver(self.synth.settings, self.synth.synth)
        if not self.driver:
            self.synth.delete()
            raise AudioError(f"no sound card: FluidSynth could not open its '{used}' audio output")

    def _send(self, message: mido.Message) -> None:
        _apply(self.synth, message)

    def _close(self) -> None:
        self.fluidsynth.delete_fluid_audio_driver(self.driver)
        self.driver = None
        self.synth.delete()


def render(notes: list[Note], seconds: float, soundfont: str | Path | None = None, tail: float = 1.0) -> np.ndarray:
    """The notes as stereo 16-bit samples, shape (frames, 2): `seconds` long plus `tail` seconds
    for the last notes to ring out."""
    _, synth = _synth(soundfont)
    chunks, frame = [], 0
    try:
        for moment, message in note_events(notes):
            target = round(moment * SAMPLE_RATE)
            if target > frame:
                chunks.append(synth.get_samples(target - frame))
                frame = target
            _apply(synth, message)
        end = round((seconds + tail) * SAMPLE_RATE)
        if end > frame:
            chunks.append(synth.get_samples(end - frame))
    finally:
        synth.delete()
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return samples.astype(np.int16).reshape(-1, 2)


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """Mono float samples (full scale 1) as a 16-bit WAV file's bytes: how a sung take is kept,
    and how the transcription test set is handed to the transcriber."""
    import soundfile

    buffer = io.BytesIO()
    soundfile.write(buffer, np.clip(samples, -1, 1), rate, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def write_wav(samples: np.ndarray, path: str | Path) -> None:
    """Stereo 16-bit samples to a WAV file, written to a temporary name and moved into place."""
    with replaced_atomically(path) as temporary, wave.open(str(temporary), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(samples.astype("<i2").tobytes())
