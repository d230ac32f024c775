"""Sound in for keyboard mode (`segue play --mic`): a microphone through PortAudio
(`sounddevice`), or a recording played in as if from one (`--replay take.wav`).

Both are recorders: `record(seconds, clock, on_level)` returns the mono samples of the next
`seconds` and calls `on_level(dbfs)` about ten times a second while it listens, so the player
sees a level meter. Hardware stays at this edge: the session and its tests only see recorders."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from .audio import hushed_stderr
from .errors import first_line

RATE = 22050  # Hz: the voice's harmonics up to 11 kHz; half the data of 44.1 kHz
BLOCK_SECONDS = 0.1  # how often the level is shown
SILENT_DBFS = -120.0


class MicrophoneError(Exception):
    """No microphone, or it cannot be opened; the message says what to do, in one line."""


class Recorder(Protocol):
    rate: int
    heard: np.ndarray  # what the last `record` heard, even if it was interrupted

    def record(self, seconds: float, clock, on_level: Callable[[float], None]) -> np.ndarray: ...


def level_dbfs(block: np.ndarray) -> float:
    """A block's RMS level in dB below full scale."""
    if not len(block):
        return SILENT_DBFS
    return max(SILENT_DBFS, float(10 * np.log10(np.mean(block.astype(np.float64) ** 2) + 1e-12)))


class Microphone:
    """The sound card's input, `device` by name or number (default: the system's)."""

    def __init__(self, device: str | int | None = None, rate: int = RATE) -> None:
        try:
            with hushed_stderr():
                import sounddevice
        except (OSError, ImportError):  # sounddevice, or the PortAudio library it loads, is missing
            raise MicrophoneError("cannot record sound: PortAudio is not installed (Debian's libportaudio2: "
                                  "scripts/install-system-packages audio); without a microphone, try "
                                  "--replay take.wav") from None
        self.sounddevice, self.device, self.rate = sounddevice, device, rate
        self.heard = np.zeros(0, np.float32)
        try:
            with hushed_stderr():
                sounddevice.check_input_settings(device=device, channels=1, samplerate=rate, dtype="float32")
        except Exception as error:  # PortAudioError, ValueError: no such device, no input, bad rate
            raise MicrophoneError(f"no microphone to record from ({first_line(error)}): connect one, or play a "
                                  "recording in with --replay take.wav") from None

    def record(self, seconds: float, clock, on_level: Callable[[float], None]) -> np.ndarray:
        blocks: list[np.ndarray] = []
        lock = threading.Lock()

        def arrived(data, frames, time_info, status) -> None:  # PortAudio's thread
            with lock:
                blocks.append(data[:, 0].copy())

        wanted = round(seconds * self.rate)
        end = clock.now() + seconds
        try:
            with self.sounddevice.InputStream(device=self.device, channels=1, samplerate=self.rate,
                                              dtype="float32", callback=arrived):
                while clock.now() < end:
                    clock.sleep_until(min(end, clock.now() + BLOCK_SECONDS))
                    with lock:
                        latest = blocks[-1] if blocks else np.zeros(0)
                    on_level(level_dbfs(latest))
        except self.sounddevice.PortAudioError as error:
            raise MicrophoneError(f"the microphone stopped: {first_line(error)}") from None
        finally:
            # What was heard so far stays: a take stopped with Ctrl-C is kept like a played one.
            self.heard = np.concatenate(blocks) if blocks else np.zeros(0, np.float32)
        return self.heard[:wanted]

    def __str__(self) -> str:
        return f"microphone {self.device}" if self.device is not None else "the default microphone"


class ReplayMicrophone:
    """A recording played into the recorder in real time, as if sung into a microphone: each
    `record` hears the file's next `seconds` (silence once it has ended)."""

    def __init__(self, path: str | Path) -> None:
        from .transcribe import TranscriptionError, read_audio

        try:
            data = Path(path).read_bytes()
        except OSError as error:
            raise MicrophoneError(f"cannot read {path}: {error.strerror or error}") from None
        try:
            self.samples, self.rate = read_audio(data)
        except TranscriptionError as error:
            raise MicrophoneError(f"{path}: {error}") from None
        self.position = 0
        self.heard = np.zeros(0)
        self.name = Path(path).name

    def record(self, seconds: float, clock, on_level: Callable[[float], None]) -> np.ndarray:
        wanted = round(seconds * self.rate)
        block = max(1, round(BLOCK_SECONDS * self.rate))
        start = clock.now()
        heard: list[np.ndarray] = []
        taken = 0
        try:
            while taken < wanted:
                size = min(block, wanted - taken)
                piece = self.samples[self.position: self.position + size]
                piece = np.concatenate([piece, np.zeros(size - len(piece))])
                clock.sleep_until(start + (taken + size) / self.rate)
                heard.append(piece)
                taken += size
                self.position += size
                on_level(level_dbfs(piece))
        finally:
            self.heard = np.concatenate(heard) if heard else np.zeros(0)
        return self.heard

    def __str__(self) -> str:
        return f"replay of {self.name}"
