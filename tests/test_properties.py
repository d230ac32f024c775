"""Property-based tests (hypothesis): invariants of MIDI reading and writing, polyphony
reduction, the tokenizer, sampling and `extend`, over inputs nobody wrote by hand."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from hostile import TUNE
from segue.generate import extend
from segue.keys import parse_key
from segue.midi_io import Melody, Meter, MidiError, midi_bytes, read_midi
from segue.notes import Note, melody_end, melody_line
from segue.sampling import apply_temperature, choose, sample, softmax, top_p_filter
from segue.tokenizer import DURATION, GAP, PITCH, Tokenizer

TICKS_PER_SECOND = Meter().ticks_per_second  # 960 at the default 120 bpm

TOKENIZER = Tokenizer()
BINS = TOKENIZER.n_time_bins
pitches = st.integers(0, 127)
velocities = st.integers(1, 127)


@st.composite
def notes(draw, max_size: int = 40) -> list[Note]:
    """Any notes at all: chords, overlaps, repeated keys, in any order."""
    count = draw(st.integers(0, max_size))
    made = []
    for _ in range(count):
        start = draw(st.floats(0, 30, allow_nan=False))
        duration = draw(st.floats(0.001, 5, allow_nan=False))
        made.append(Note(draw(pitches), start, start + duration, draw(velocities)))
    return made


@st.composite
def tick_lines(draw) -> tuple[list[Note], float]:
    """A monophonic line on the written files' tick grid, and a length that holds it."""
    tick, line = 0, []
    for _ in range(draw(st.integers(1, 30))):
        tick += draw(st.integers(0, 2000))
        length = draw(st.integers(1, 2000))
        line.append(Note(draw(pitches), tick / TICKS_PER_SECOND, (tick + length) / TICKS_PER_SECOND, draw(velocities)))
        tick += length
    return line, (tick + draw(st.integers(0, 5000))) / TICKS_PER_SECOND


def assert_monophonic(line: list[Note]) -> None:
    assert all(a.start < b.start and a.end <= b.start + 1e-9 for a, b in zip(line, line[1:]))


# --- MIDI files ---

@given(tick_lines())
def test_a_line_on_the_tick_grid_survives_writing_and_reading(case):
    line, length = case
    melody = read_midi(midi_bytes(line, length))
    assert melody.length == pytest.approx(length, abs=1e-9)
    assert [(n.pitch, n.velocity) for n in melody.notes] == [(n.pitch, n.velocity) for n in line]
    assert [n.start for n in melody.notes] == pytest.approx([n.start for n in line], abs=1e-9)
    assert [n.end for n in melody.notes] == pytest.approx([n.end for n in line], abs=1e-9)


@given(notes(), st.floats(0, 10))
def test_any_notes_read_back_as_one_line_within_the_file(written, extra):
    length = melody_end(written) + extra
    try:
        melody = read_midi(midi_bytes(written, length))
    except MidiError as error:  # nothing a file can hold once notes are cut to whole ticks
        assert "no notes" in str(error)
        return
    assert_monophonic(melody.notes)
    assert melody.length == pytest.approx(length, abs=1 / TICKS_PER_SECOND)
    assert all(0 <= n.start < n.end <= melody.length for n in melody.notes)
    assert {n.pitch for n in melody.notes} <= {n.pitch for n in written}


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=2000), st.binary(max_size=200).map(lambda tail: TUNE[:22] + tail),
                 st.lists(st.tuples(st.integers(0, len(TUNE) - 1), st.integers(0, 255)), max_size=8).map(
                     lambda edits: _edited(TUNE, edits))))
def test_any_bytes_give_a_melody_or_a_midi_error(data):
    try:
        melody = read_midi(data)
    except MidiError as error:
        assert str(error) and "\n" not in str(error)
    else:
        assert isinstance(melody, Melody) and melody.notes
        assert_monophonic(melody.notes)


def _edited(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    changed = bytearray(data)
    for position, value in edits:
        changed[position] = value
    return bytes(changed)


# --- polyphony reduction ---

@given(notes())
def test_melody_line_is_one_voice_taken_from_the_input(played):
    line = melody_line(played)
    assert_monophonic(line)
    assert bool(line) == bool(played)
    for note in line:  # each kept note is an input note, at most shortened
        assert any((n.pitch, n.start, n.velocity) == (note.pitch, note.start, note.velocity) and note.end <= n.end
                   for n in played)
    assert melody_line(line) == line
    assert melody_line(list(reversed(played))) == line  # the order notes arrive in does not matter


# --- tokenizer ---

@st.composite
def token_rows(draw) -> np.ndarray:
    """Token rows whose notes end by the next onset, so decoding trims nothing."""
    gaps = draw(st.lists(st.integers(0, BINS - 1), min_size=1, max_size=40))
    rows = []
    for index, gap in enumerate(gaps):
        following = gaps[index + 1] if index + 1 < len(gaps) else BINS - 1
        rows.append((gap, draw(pitches), draw(st.integers(0, following))))
    return np.array(rows, np.int64)


@given(token_rows())
def test_tokens_decode_and_encode_back_to_themselves(tokens):
    assert np.array_equal(TOKENIZER.encode(TOKENIZER.decode(tokens)), tokens)


@given(notes())
def test_any_line_encodes_to_valid_tokens_that_keep_its_pitches(played):
    line = melody_line(played)
    tokens = TOKENIZER.encode(line)
    assert tokens.shape == (len(line), 3)
    assert ((tokens[:, [GAP, DURATION]] >= 0) & (tokens[:, [GAP, DURATION]] < BINS)).all()
    assert list(tokens[:, PITCH]) == [n.pitch for n in line]
    context = TOKENIZER.encode_context(line)[0] if line else tokens
    assert len(context) == min(len(line), TOKENIZER.config.max_input_notes)


# --- sampling ---

logits = arrays(np.float64, st.tuples(st.integers(1, 4), st.integers(1, 60)),
                elements=st.floats(-30, 30, allow_nan=False))


@given(logits, st.floats(0, 1, exclude_max=True))
def test_sample_never_draws_a_zero_weight_and_is_monotonic_in_its_uniform(values, uniform):
    weights = np.where(values > 0, values, 0.0)
    weights[:, 0] += 1e-3  # at least one choice per row
    low, high = np.full(len(weights), uniform / 2), np.full(len(weights), uniform)
    drawn = sample(weights, high)
    assert (weights[np.arange(len(weights)), drawn] > 0).all()
    assert (sample(weights, low) <= drawn).all()


@given(logits, st.floats(0.01, 1))
def test_top_p_keeps_the_smallest_most_likely_set_reaching_top_p(values, top_p):
    probabilities = softmax(values)
    kept = top_p_filter(probabilities, top_p)
    for row, original in zip(kept, probabilities):
        assert ((row == 0) | (row == original)).all()
        assert row[original.argmax()] > 0
        assert row.sum() >= min(top_p, original.sum()) - 1e-9
        smallest = row[row > 0].min()  # dropping the least likely kept choices falls short
        assert row[row > smallest].sum() < top_p + 1e-9


@given(logits, st.integers(0, 2**32 - 1))
def test_temperature_zero_always_takes_the_most_likely(values, seed):
    uniforms = np.random.default_rng(seed).random(len(values))
    drawn = sample(softmax(apply_temperature(values, 0.0)), uniforms)
    assert (values[np.arange(len(values)), drawn] == values.max(axis=1)).all()


@given(logits, st.data())
def test_choose_never_takes_a_ruled_out_choice(values, data):
    allowed = data.draw(arrays(bool, values.shape[1:]))
    allowed[data.draw(st.integers(0, values.shape[1] - 1))] = True
    temperature = data.draw(st.floats(0, 5))
    uniforms = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1))).random(len(values))
    assert allowed[choose(values, temperature, data.draw(st.floats(0.01, 1)), uniforms, allowed)].all()


# --- extend ---

@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(notes(max_size=25).filter(bool), st.floats(0.5, 10), st.integers(0, 2**32), st.sampled_from([None, "D major", "auto"]))
def test_extend_answers_one_line_inside_its_time_and_key(tiny_checkpoint, played, seconds, seed, key):
    # May be empty: in a short window the first new note can fall after its end.
    [continuation] = extend(played, seconds=seconds, seed=seed, key=key, checkpoint=tiny_checkpoint)
    assert_monophonic(continuation)
    assert all(0 <= n.start < n.end <= seconds + 1e-9 for n in continuation)
    if key == "D major":
        scale = parse_key("D major")
        assert all(scale.allows(n.pitch) for n in continuation)
    assert extend(played, seconds=seconds, seed=seed, key=key, checkpoint=tiny_checkpoint) == [continuation]
