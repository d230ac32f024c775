"""Server settings: defaults suit one person on their own machine; each can be set by the
environment (SEGUE_PORT=9000) or by `segue serve` options."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..modelfile import DEFAULT_MODEL
from ..options import MAX_VARIATIONS
from ..transcribe import TranscriptionConfig


FORM_ENVELOPE_BYTES = 16 * 1024  # a multipart upload's headers and boundaries around the file


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SEGUE_")

    host: str = "127.0.0.1"  # loopback only: other machines reach it only when asked for
    port: int = Field(8000, ge=0, le=65535)  # 0 picks a free port
    checkpoint: Path = DEFAULT_MODEL  # a model file (.npz); a checkpoint (.pt) needs PyTorch
    max_upload_bytes: int = Field(1024 * 1024, gt=0)  # a 5 s phrase is a few hundred bytes of MIDI
    # 30 s of stereo 48 kHz float WAV is 11.5 MB; a recording is refused above either limit.
    max_audio_bytes: int = Field(12 * 1024 * 1024, gt=0)
    max_audio_seconds: float = Field(TranscriptionConfig.max_seconds, gt=0, le=600)
    min_audio_seconds: float = Field(TranscriptionConfig.min_seconds, gt=0)
    max_input_notes: int = Field(2000, gt=0)  # far beyond any phrase; bounds the work per request
    body_seconds: float = Field(10.0, gt=0)  # a request body arriving slower than this is refused (408)
    request_seconds: float = Field(30.0, gt=0)  # longest wait for a continuation, queue included (then 503)
    cors_origins: list[str] = []  # other sites' pages allowed to call the API; none unless named
    workers: int = Field(1, ge=1, le=64)  # processes; one per core gives the most continuations per second
    max_batch_rows: int = Field(64, ge=MAX_VARIATIONS)  # continuations decoded together under load
    warm_up: bool = True  # run one continuation at start-up so the first user does not wait

    @property
    def max_body_bytes(self) -> int:
        """Any request body: a MIDI upload at its limit plus room for the form's envelope."""
        return self.max_upload_bytes + FORM_ENVELOPE_BYTES

    @property
    def max_recording_body_bytes(self) -> int:
        """A request body on a route that takes recordings: the larger upload at its limit, plus the envelope."""
        return max(self.max_upload_bytes, self.max_audio_bytes) + FORM_ENVELOPE_BYTES

    @property
    def transcription(self) -> TranscriptionConfig:
        return TranscriptionConfig(min_seconds=self.min_audio_seconds, max_seconds=self.max_audio_seconds)
