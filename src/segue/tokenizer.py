"""Notes in seconds <-> note tokens, for unquantized (human) timing.

Token map. Each note is one token of three fields, predicted one after another by the decoder:

    column 0  GAP       onset gap: seconds from the previous note's onset (or from the origin,
                        for the first note), as a time bin 0..n_time_bins-1
    column 1  PITCH     MIDI pitch 0..127
    column 2  DURATION  seconds the note sounds, as a time bin 0..n_time_bins-1

Time bin i stands for min_time * ratio**i seconds, ratio = (max_time / min_time) ** (1 / (n_time_bins - 1)):
log-spaced, because timing noise of live playing grows with the interval, so neighbouring bins
differ by a constant share (about 11 % by default). Times below min_time fall in bin 0, above
max_time in the last bin.

Onsets are quantized with error feedback: each gap is measured from the previous note's
*quantized* onset, so rounding errors never add up along a phrase. Decoding trims each note to end
where the next begins (the line is monophonic).

Tempo: with `pulse` set, times are measured in the player's own pulse, not in seconds. The input's
median onset spacing is rescaled to `pulse` seconds before its tokens are made, and the model's
tokens are scaled back by the same factor: a hymn at 50 bpm and a reel at 200 bpm look the same to
the model, as intervals make every key look the same. Encode and decode take that factor (`scale`:
model seconds per played second) from `tempo_scale`.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

import numpy as np

from .notes import Note

GAP, PITCH, DURATION = 0, 1, 2
N_PITCHES = 128


@dataclass(frozen=True)
class TokenizerConfig:
    min_time: float = 0.03  # s: the shortest gap or duration told apart (a fast trill note)
    max_time: float = 4.0  # s: longer gaps and durations are clipped to this
    n_time_bins: int = 48  # log-spaced: ~11 % apart, about the timing noise of a live player
    max_input_notes: int = 64  # the model reads at most this many of the input's last notes
    # s: the input's median onset spacing becomes this many model seconds (the middle of the
    # training tempos); None reads played seconds as they are (checkpoints made before it).
    pulse: float | None = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.min_time < self.max_time:
            raise ValueError(f"need 0 < min_time < max_time, got {self.min_time!r}, {self.max_time!r}")
        if self.n_time_bins < 2:
            raise ValueError(f"n_time_bins must be at least 2, got {self.n_time_bins!r}")
        if self.max_input_notes < 1:
            raise ValueError(f"max_input_notes must be at least 1, got {self.max_input_notes!r}")
        if self.pulse is not None and not self.min_time <= self.pulse <= self.max_time:
            raise ValueError(f"pulse must be None or between min_time and max_time, got {self.pulse!r}")


class Tokenizer:
    def __init__(self, config: TokenizerConfig = TokenizerConfig()) -> None:
        self.config = config
        self._log_ratio = math.log(config.max_time / config.min_time) / (config.n_time_bins - 1)
        self.time_values = config.min_time * np.exp(self._log_ratio * np.arange(config.n_time_bins))

    @property
    def n_time_bins(self) -> int:
        return self.config.n_time_bins

    def time_bin(self, seconds: float) -> int:
        if seconds <= self.config.min_time:
            return 0
        if seconds >= self.config.max_time:  # also keeps a huge time from overflowing the log below
            return self.config.n_time_bins - 1
        index = round(math.log(seconds / self.config.min_time) / self._log_ratio)
        return min(index, self.config.n_time_bins - 1)

    def tempo_scale(self, line: list[Note]) -> float:
        """Model seconds per played second for an input line: its median onset spacing (of the
        notes the model reads) becomes `pulse`. 1.0 without a pulse or with fewer than two notes."""
        line = line[-self.config.max_input_notes - 1 :]
        if self.config.pulse is None or len(line) < 2:
            return 1.0
        spacing = statistics.median(b.start - a.start for a, b in zip(line, line[1:]))
        return self.config.pulse / min(max(spacing, self.config.min_time), self.config.max_time)

    def encode(self, notes: list[Note], origin: float = 0.0, scale: float = 1.0) -> np.ndarray:
        """Notes (sorted, monophonic) -> int64 array of shape (len(notes), 3); gaps count from
        `origin`; times are multiplied by `scale` first."""
        tokens = np.empty((len(notes), 3), np.int64)
        onset = origin * scale
        for row, note in zip(tokens, notes):
            gap = self.time_bin(note.start * scale - onset)
            onset += self.time_values[gap]
            row[:] = gap, note.pitch, self.time_bin(note.duration * scale)
        return tokens

    def encode_context(self, line: list[Note], max_lead: float | None = None) -> tuple[np.ndarray, float]:
        """The model's view of an input line -> (tokens, its tempo scale): its last
        max_input_notes notes, the first gap counted from the note before them (or from the start
        of the recording when nothing was cut, counting at most `max_lead` seconds of silence
        before the first note)."""
        size = self.config.max_input_notes
        if len(line) > size:
            origin = line[-size - 1].start
        else:
            origin = 0.0 if max_lead is None else max(0.0, line[0].start - max_lead)
        scale = self.tempo_scale(line)
        return self.encode(line[-size:], origin, scale), scale

    def decode(self, tokens: np.ndarray, origin: float = 0.0, velocity: int = 80, scale: float = 1.0) -> list[Note]:
        """Tokens -> notes in played seconds (model seconds / `scale`), the first onset one gap after
        `origin`; each note ends by the next onset."""
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1, 3)
        onsets = origin + np.cumsum(self.time_values[tokens[:, GAP]]) / scale
        ends = onsets + self.time_values[tokens[:, DURATION]] / scale
        ends[:-1] = np.minimum(ends[:-1], onsets[1:])
        return [Note(int(p), float(s), float(e), velocity) for p, s, e in zip(tokens[:, PITCH], onsets, ends)]
