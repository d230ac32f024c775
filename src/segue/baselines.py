"""Simple alternatives the trained model must beat, generating from the same inputs.

- `NGramModel`: the classic melody-prediction model, a variable-order Markov model with
  interpolated Witten-Bell backoff (as in PPM and IDyOM), over the same note tokens as the neural
  model. Each field has its own chain: onset gaps given the previous gaps, pitch as the interval
  from the previous note given the previous intervals (so it is the same in every key), and
  duration given the note's gap and the previous (gap, duration) pairs.
- `repeat_input`: play the input again, looping it if it is short.
- `random_in_key`: random pitches of the input's key within its range, with rhythms drawn from
  the input's own inter-onset intervals.
"""

from __future__ import annotations

import math
import random
import statistics
from collections.abc import Iterable

import numpy as np

from .generate import continuation_notes, first_gap_allowed, input_end, prepare
from .keys import Key
from .markov import INTERVALS, MarkovChain
from .notes import Note
from .sampling import choose_probabilities
from .tokenizer import DURATION, GAP, N_PITCHES, PITCH, Tokenizer


class NGramModel:
    """Three Markov chains over a note sequence (see the module docstring)."""

    def __init__(self, tokenizer: Tokenizer, order: int = 4) -> None:
        self.tokenizer = tokenizer
        bins = tokenizer.n_time_bins
        self.gap = MarkovChain(bins, order)
        self.interval = MarkovChain(INTERVALS, order)
        self.duration = MarkovChain(bins, order - 1)

    def fit(self, sequences: Iterable[np.ndarray]) -> NGramModel:
        """Count every note of every token sequence (rows of gap, pitch, duration)."""
        for tokens in sequences:
            for t in range(len(tokens)):
                gap_ctx, interval_ctx, duration_ctx = self._contexts(tokens, t)
                self.gap.observe(gap_ctx, int(tokens[t, GAP]))
                if t > 0:
                    self.interval.observe(interval_ctx, int(tokens[t, PITCH] - tokens[t - 1, PITCH]) + N_PITCHES - 1)
                self.duration.observe(duration_ctx, int(tokens[t, DURATION]))
        return self

    def _contexts(self, tokens: np.ndarray, t: int) -> tuple[list, list, list]:
        start = max(0, t - self.gap.order)
        gaps = [int(g) for g in tokens[start:t, GAP]]
        pitches = [int(p) for p in tokens[max(0, start - 1) : t, PITCH]]
        steps = [b - a for a, b in zip(pitches, pitches[1:])]
        pairs = [(int(g), int(d)) for g, d in tokens[start:t, [GAP, DURATION]]]
        return gaps, steps, pairs + [int(tokens[t, GAP])]

    def field_distributions(self, tokens: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """P(gap), P(pitch | gap) and P(duration | gap, pitch) of note t given the notes before it
        (row t's gap is read for the duration's context)."""
        gap_ctx, interval_ctx, duration_ctx = self._contexts(tokens, t)
        interval = self.interval.distribution(interval_ctx)
        previous = int(tokens[t - 1, PITCH])
        pitch = interval[np.arange(N_PITCHES) - previous + N_PITCHES - 1]
        return self.gap.distribution(gap_ctx), pitch / pitch.sum(), self.duration.distribution(duration_ctx)

    def generate(self, line: list[Note], input_length: float, seconds: float, seed: int, key: Key | None = None) -> list[Note]:
        """Sample a continuation note by note, with the neural decoder's rules for its start, end
        and tempo."""
        job = prepare(line, self.tokenizer, seconds, seed=seed, input_length=input_length, key=key)
        rng = np.random.default_rng(seed)
        end = job.boundary + seconds * job.scale
        rows, onset = [], 0.0
        while onset < end and len(rows) <= math.ceil(end / self.tokenizer.config.min_time):
            tokens = np.vstack([job.source, np.array(rows, np.int64).reshape(-1, 3), [[0, 0, 0]]])
            t = len(tokens) - 1
            gap_p, _, _ = self.field_distributions(tokens, t)
            tokens[t, GAP] = _draw(gap_p, rng, first_gap_allowed(self.tokenizer, job.boundary) if not rows else None)
            _, pitch_p, _ = self.field_distributions(tokens, t)
            tokens[t, PITCH] = _draw(pitch_p, rng, job.pitch_allowed)
            _, _, duration_p = self.field_distributions(tokens, t)
            tokens[t, DURATION] = _draw(duration_p, rng)
            rows.append(tokens[t].copy())
            onset += self.tokenizer.time_values[tokens[t, GAP]]
        return continuation_notes(np.array(rows), self.tokenizer, job)


def _draw(probabilities: np.ndarray, rng: np.random.Generator, allowed: np.ndarray | None = None) -> int:
    return int(choose_probabilities(probabilities, 1.0, 1.0, rng.random(()), allowed))


def repeat_input(line: list[Note], input_length: float, seconds: float) -> list[Note]:
    """The input played again from its first note, as often as fits, its final rest included."""
    first = line[0].start
    period = input_end(line, input_length) - first
    notes, offset = [], 0.0
    while offset < seconds:
        for note in line:
            start = note.start - first + offset
            if start >= seconds:
                return notes
            notes.append(Note(note.pitch, start, min(note.end - first + offset, seconds), note.velocity))
        offset += period
    return notes


def random_in_key(line: list[Note], seconds: float, key: Key, seed: int) -> list[Note]:
    """Random pitches of `key` within the input's range (an octave around its last note if the
    range holds none), each spaced by one of the input's own onset intervals, chosen at random."""
    rng = random.Random(seed)
    low, high = min(n.pitch for n in line), max(n.pitch for n in line)
    choices = [p for p in range(low, high + 1) if key.allows(p)] or [
        p for p in range(max(0, line[-1].pitch - 6), min(127, line[-1].pitch + 6) + 1) if key.allows(p)
    ]
    spacings = [b.start - a.start for a, b in zip(line, line[1:])] or [line[0].duration]
    held = statistics.median(n.duration / s for n, s in zip(line, spacings)) if len(line) > 1 else 1.0
    velocity = round(statistics.median(n.velocity for n in line))
    notes, onset = [], 0.0
    while onset < seconds:
        spacing = rng.choice(spacings)
        notes.append(Note(rng.choice(choices), onset, min(onset + spacing * min(held, 1.0), seconds), velocity))
        onset += spacing
    return notes
