import numpy as np
import pytest

from conftest import played
from segue.notes import Note
from segue.tokenizer import DURATION, GAP, PITCH, Tokenizer, TokenizerConfig


@pytest.fixture
def tokenizer():
    return Tokenizer()


def test_tokens_to_notes_to_tokens_is_exact(tokenizer):
    rng = np.random.default_rng(0)
    n = 40
    tokens = np.stack([rng.integers(0, 48, n), rng.integers(0, 128, n), rng.integers(0, 48, n)], axis=1)
    # Decoding trims a note that outlasts the next onset; notes that do not decode back exactly.
    legal = tokens.copy()
    legal[:, DURATION] = np.minimum(legal[:, DURATION], np.roll(legal[:, GAP], -1))
    assert np.array_equal(tokenizer.encode(tokenizer.decode(legal, origin=0.25), origin=0.25), legal)


def test_notes_on_bin_values_decode_back_exactly(tokenizer):
    values = tokenizer.time_values
    notes, onset = [], 0.0
    for gap, pitch, duration in [(20, 60, 18), (22, 62, 14), (15, 64, 10), (30, 65, 29)]:
        onset += values[gap]
        notes.append(Note(pitch, onset, onset + values[duration], 64))
    assert tokenizer.decode(tokenizer.encode(notes), velocity=64) == pytest.approx(notes)


def test_human_timing_survives_within_half_a_bin_and_never_drifts(tokenizer):
    notes = played(list(range(60, 60 + 30)), spacing=0.173)
    decoded = tokenizer.decode(tokenizer.encode(notes))
    half_bin = np.sqrt(tokenizer.time_values[1] / tokenizer.time_values[0]) - 1
    for original, back in zip(notes, decoded):
        assert back.pitch == original.pitch
        # Error feedback: the 30th onset is no further off than the first.
        assert abs(back.start - original.start) <= half_bin * 0.2 + 1e-9
        assert back.duration == pytest.approx(original.duration, rel=half_bin + 1e-9)


def test_out_of_range_times_clip_to_the_end_bins(tokenizer):
    assert tokenizer.time_bin(0.0) == 0
    assert tokenizer.time_bin(-1.0) == 0
    assert tokenizer.time_bin(1000.0) == tokenizer.n_time_bins - 1


def test_time_bins_are_log_spaced(tokenizer):
    ratios = tokenizer.time_values[1:] / tokenizer.time_values[:-1]
    assert np.allclose(ratios, ratios[0])
    assert tokenizer.time_values[0] == pytest.approx(0.03)
    assert tokenizer.time_values[-1] == pytest.approx(4.0)


def test_context_keeps_the_last_notes_and_counts_the_first_gap_from_the_note_before():
    tokenizer = Tokenizer(TokenizerConfig(max_input_notes=4))
    notes = played([60, 62, 64, 65, 67, 69], spacing=0.5)
    context, scale = tokenizer.encode_context(notes)
    assert list(context[:, PITCH]) == [64, 65, 67, 69]
    assert scale == pytest.approx(0.3 / 0.5, rel=0.02)
    assert context[0, GAP] == tokenizer.time_bin((notes[2].start - notes[1].start) * scale)


def test_at_most_max_lead_of_silence_before_the_first_note_is_read():
    tokenizer = Tokenizer(TokenizerConfig(max_input_notes=4))
    late = [n.shifted(2.0) for n in played([60, 62, 64], spacing=0.5)]  # first onset at 2.1 s
    tokens, scale = tokenizer.encode_context(late, max_lead=0.5)
    assert tokens[0, GAP] == tokenizer.time_bin(0.5 * scale)
    assert tokenizer.encode_context(late)[0][0, GAP] == tokenizer.time_bin(2.1 * scale)  # training reads it all
    assert tokenizer.encode_context(late, max_lead=3.0)[0][0, GAP] == tokenizer.time_bin(2.1 * scale)
    # A cut line still counts from the note before its window.
    long = played([60, 62, 64, 65, 67, 69], spacing=0.5)
    assert np.array_equal(tokenizer.encode_context(long, max_lead=0.01)[0], tokenizer.encode_context(long)[0])


def test_tempo_scale_maps_the_median_spacing_to_the_pulse(tokenizer):
    for spacing in (0.08, 0.3, 1.0, 1.5):
        phrase = played([60, 62, 64, 65, 67], spacing=spacing)
        median = np.median(np.diff([n.start for n in phrase]))
        assert median == pytest.approx(spacing, rel=0.1)
        assert tokenizer.tempo_scale(phrase) == pytest.approx(0.3 / median)
    # A phrase at 60 bpm played twice as slowly has 2 s spacing and twice the scale's divisor.
    slow = played([60, 62, 64], spacing=1.0)
    assert tokenizer.tempo_scale([Note(n.pitch, 2 * n.start, 2 * n.end) for n in slow]) == pytest.approx(0.15, rel=0.02)
    assert tokenizer.tempo_scale(played([60])) == 1.0
    assert Tokenizer(TokenizerConfig(pulse=None)).tempo_scale(played([60, 62, 64], spacing=1.0)) == 1.0


def test_a_phrase_at_any_tempo_gives_the_same_tokens(tokenizer):
    phrase = played([60, 62, 64, 65, 67, 65, 64, 62], spacing=0.4)
    tokens, _ = tokenizer.encode_context(phrase)
    for factor in (0.3, 0.7, 2.0, 3.5):
        stretched = [Note(n.pitch, n.start * factor, n.end * factor) for n in phrase]
        assert np.array_equal(tokenizer.encode_context(stretched)[0], tokens)


def test_decoding_at_a_scale_gives_played_seconds(tokenizer):
    phrase = played([60, 62, 64, 65], spacing=1.2)
    tokens, scale = tokenizer.encode_context(phrase)
    decoded = tokenizer.decode(tokens, scale=scale)
    assert np.diff([n.start for n in decoded]) == pytest.approx(np.diff([n.start for n in phrase]), rel=0.06)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="min_time"):
        TokenizerConfig(min_time=0.0)
    with pytest.raises(ValueError, match="n_time_bins"):
        TokenizerConfig(n_time_bins=1)
