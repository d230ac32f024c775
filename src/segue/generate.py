"""Continue a melody: the one function behind the CLI, the web app and keyboard mode."""

from __future__ import annotations

import math
import secrets
import statistics
from functools import lru_cache
from pathlib import Path

import numpy as np

from .checkpoint import DEFAULT_CHECKPOINT, Checkpoint, load_checkpoint
from .keys import Key, resolve_key
from .notes import Note, melody_end, melody_line
from .sampling import choose
from .tokenizer import DURATION, GAP, N_PITCHES, PITCH, Tokenizer

MAX_SECONDS = 60.0
MAX_VARIATIONS = 32
MAX_TEMPERATURE = 5.0
# Extended once at start-up (server, keyboard mode) so the first real request runs at full speed.
WARM_UP_PHRASE = [Note(60 + step, 0.4 * i, 0.4 * i + 0.35) for i, step in enumerate((0, 2, 4, 5, 7))]


class ExtendError(ValueError):
    """A request that cannot be extended; the message names the bad value."""


@lru_cache(maxsize=4)
def cached_checkpoint(path: str = str(DEFAULT_CHECKPOINT)) -> Checkpoint:
    """Load a checkpoint once per process."""
    return load_checkpoint(Path(path))


def extend(
    notes: list[Note],
    seconds: float = 5.0,
    temperature: float = 1.0,
    top_p: float = 0.95,
    seed: int | None = None,
    variations: int = 1,
    input_length: float | None = None,
    checkpoint: Checkpoint | None = None,
    key: str | Key | None = None,
) -> list[list[Note]]:
    """Write `variations` continuations of `notes`, each lasting `seconds`.

    `notes` are timed in seconds from the start of the recording, and may be polyphonic: the
    melodic line is taken from them. The continuation starts where the input ends, at the later
    of `input_length` and its last note-off, and its notes are timed from there (0 = the input's
    end). An input longer than the model's context is read from its last part. The same `seed`
    with the same input gives the same continuations. `key` ("D major", "F# minor", or "auto" for
    the key found in the input) keeps every generated pitch in that key's scale.
    """
    check_options(seconds, temperature, top_p, variations)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63):
        raise ExtendError(f"seed must be an integer from 0 to 2**63 - 1, got {seed!r}")
    line = melody_line(notes)
    if not line:
        raise ExtendError("the input has no notes")
    try:
        scale = resolve_key(key, line)
    except ValueError as error:
        raise ExtendError(str(error)) from None
    pitch_allowed = None if scale is None else np.array([scale.allows(p) for p in range(N_PITCHES)])
    end = input_end(notes, input_length)
    checkpoint = checkpoint or cached_checkpoint()
    rng = np.random.default_rng(secrets.randbits(63) if seed is None else seed)
    tokenizer = checkpoint.tokenizer

    boundary = time_to_input_end(line, end, tokenizer)
    tokens = _sample_tokens(
        checkpoint, tokenizer.encode_context(line), boundary, boundary + seconds, temperature, top_p, variations, rng,
        pitch_allowed,
    )
    return [continuation_notes(rows, tokenizer, boundary, seconds, line) for rows in tokens]


def input_end(notes: list[Note], input_length: float | None = None) -> float:
    """Where a recording ends and its continuation begins: the later of its length and the last
    note-off of any of its notes (a dropped accompaniment note still sounds until it ends)."""
    if input_length is not None and not (isinstance(input_length, (int, float)) and math.isfinite(input_length)
                                         and input_length >= 0):
        raise ExtendError(f"input_length must be a finite number of seconds >= 0, got {input_length!r}")
    return max(input_length or 0.0, melody_end(notes))


def time_to_input_end(line: list[Note], end: float, tokenizer: Tokenizer) -> float:
    """Seconds from the input's last onset to its end: the first new onset must come at least this
    late. A rest longer than the longest gap the model knows is heard as that longest gap, so the
    continuation still fills its time."""
    return min(end - line[-1].start, tokenizer.config.max_time)


def first_gap_allowed(tokenizer: Tokenizer, boundary: float) -> np.ndarray:
    """Which gap bins the first new note may take: it may not start inside the input, but within
    half a bin of the input's end is close enough. The longest gap is always allowed."""
    half_bin = math.sqrt(tokenizer.time_values[1] / tokenizer.time_values[0])
    allowed = tokenizer.time_values * half_bin >= boundary
    allowed[-1] = True
    return allowed


def continuation_notes(tokens: np.ndarray, tokenizer: Tokenizer, boundary: float, seconds: float, line: list[Note]) -> list[Note]:
    """Sampled tokens -> notes timed from the input's end, played at the input's median velocity.

    Tokens count from the input's last onset, `boundary` before its end. Notes starting past
    `seconds` are dropped, the last is trimmed to fit, and a note sampled a hair before the
    input's end starts exactly at it."""
    velocity = round(statistics.median(n.velocity for n in line))
    notes = []
    for note in tokenizer.decode(tokens, velocity=velocity):
        start, end = max(note.start - boundary, 0.0), min(note.end - boundary, seconds)
        if start >= seconds:
            break
        if end > start:
            notes.append(Note(note.pitch, start, end, note.velocity))
    return notes


def check_options(seconds: float, temperature: float, top_p: float, variations: int) -> None:
    """Raise ExtendError naming the first option out of range."""
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise ExtendError(f"seconds must be above 0 and at most {MAX_SECONDS:g}, got {seconds!r}")
    if not (isinstance(temperature, (int, float)) and 0 <= temperature <= MAX_TEMPERATURE):
        raise ExtendError(f"temperature must be between 0 and {MAX_TEMPERATURE:g}, got {temperature!r}")
    if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ExtendError(f"top_p must be above 0 and at most 1, got {top_p!r}")
    if isinstance(variations, bool) or not isinstance(variations, int) or not 1 <= variations <= MAX_VARIATIONS:
        raise ExtendError(f"variations must be an integer from 1 to {MAX_VARIATIONS}, got {variations!r}")


def _sample_tokens(
    checkpoint: Checkpoint,
    source: np.ndarray,
    boundary: float,
    end: float,
    temperature: float,
    top_p: float,
    variations: int,
    rng: np.random.Generator,
    pitch_allowed: np.ndarray | None,
) -> list[np.ndarray]:
    """Decode note by note, all variations as one batch, until every one has an onset past `end`
    (seconds after the input's last onset). Returns each variation's tokens."""
    network, tokenizer = checkpoint.inference, checkpoint.tokenizer
    memory, state = network.encode(source)
    state = network.repeat_state(state, variations)
    first_allowed = first_gap_allowed(tokenizer, boundary)

    onsets = np.zeros(variations)
    max_steps = math.ceil((end - boundary) / tokenizer.config.min_time) + 1
    rows = np.empty((max_steps, variations, 3), np.int64)
    step = np.repeat(source[-1:], variations, axis=0)
    for index in range(max_steps):
        heads, state = network.decode(step, state, memory)
        step = rows[index]
        step[:, GAP] = choose(network.gap_logits(heads), temperature, top_p, rng, first_allowed if index == 0 else None)
        step[:, PITCH] = choose(network.pitch_logits(heads, step[:, GAP]), temperature, top_p, rng, pitch_allowed)
        step[:, DURATION] = choose(network.duration_logits(heads, step[:, GAP], step[:, PITCH]), temperature, top_p, rng)
        onsets += tokenizer.time_values[step[:, GAP]]
        if onsets.min() >= end:
            break
    return list(rows[: index + 1].transpose(1, 0, 2))
