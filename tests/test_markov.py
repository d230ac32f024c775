import math

import numpy as np
import pytest

from segue.keys import Key, key_of_pitches
from segue.markov import (INTERVALS, N_PITCHES, FrozenChain, InputChain, MarkovChain, PitchMixture, Predictions,
                          ShortTermRows, entropy, fit_intervals, interval_context, long_term_context, scale_degree,
                          step_index)

TUNE = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 67, 64, 60]


def test_unseen_context_is_uniform_and_distributions_sum_to_one():
    chain = MarkovChain(vocabulary=5, order=2)
    assert np.allclose(chain.distribution([1, 2]), 0.2)
    for context, symbol in [([1, 2], 3), ([1, 2], 3), ([0, 2], 4)]:
        chain.observe(context, symbol)
    p = chain.distribution([1, 2])
    assert p.sum() == pytest.approx(1.0)
    assert p.argmax() == 3 and p[3] > p[4] > p[0]


def test_witten_bell_estimate_by_hand():
    chain = MarkovChain(vocabulary=4, order=1)
    for symbol in (0, 0, 1):
        chain.observe([2], symbol)
    order0 = (np.array([2, 1, 0, 0]) + 2 * 0.25) / (3 + 2)  # 2 types seen, 3 observations
    order1 = (np.array([2, 1, 0, 0]) + 2 * order0) / (3 + 2)
    assert np.allclose(chain.distribution([2]), order1)
    chain.observe([2], 3)  # a new count is seen at once, though the estimate was kept
    order0 = (np.array([2, 1, 0, 1]) + 3 * 0.25) / (4 + 3)
    assert np.allclose(chain.distribution([2]), (np.array([2, 1, 0, 1]) + 3 * order0) / (4 + 3))


@pytest.fixture(scope="module")
def counts():
    return fit_intervals([TUNE, [p + 5 for p in TUNE[::-1]], [67, 67, 69, 67, 72, 71]])


@pytest.fixture(scope="module")
def chain(counts):
    return counts.frozen()


@pytest.mark.parametrize("context", [(), (255 + 2,), (129, 255 + 2), (127, 129, 129, 128, 255 + 7), (1, 2, 3, 4, 255),
                                     (129, 1, 2, 3, 255 + 14), (129, 129, 128, 131, 255 + 9), (300, 255), (-1, 255)])
def test_every_form_of_the_estimate_agrees(counts, chain, context):
    """Counted, frozen into arrays, and cached by the mixture step by step: the same numbers."""
    dense = counts.distribution(list(context))
    assert dense.sum() == pytest.approx(1.0)
    assert np.array_equal(chain.distribution(list(context)), dense)
    mixture = PitchMixture(chain, (1, 1, 1), 1.0)
    assert np.allclose(mixture.long_term_steps(tuple(context))[0], dense)


def test_kept_predictions_drop_the_least_recently_asked(counts, chain):
    predictions = Predictions(chain, limit=3)
    for context in ((), (255 + 2,), (129, 255 + 2), ()):  # () asked again: now the most recent
        assert np.array_equal(predictions(context)[0], counts.distribution(list(context)))
    predictions((131, 255 + 9))
    assert list(predictions._known) == [(129, 255 + 2), (), (255 + 9,), (131, 255 + 9)][-3:]
    assert (255 + 2,) not in predictions._known
    assert np.array_equal(predictions((255 + 2,))[0], counts.distribution([255 + 2]))  # made anew


def test_a_frozen_chain_survives_its_arrays_and_refuses_bad_ones(chain):
    again = FrozenChain(INTERVALS, {name: array.astype(np.int32) for name, array in chain.to_arrays().items()})
    for context in ((), (255 + 2,), (129, 129, 128, 131, 255 + 9)):
        assert np.array_equal(again.distribution(list(context)), chain.distribution(list(context)))
    with pytest.raises(ValueError, match="order-0"):
        FrozenChain(INTERVALS, {})
    with pytest.raises(ValueError, match="non-negative"):
        FrozenChain(INTERVALS, {**chain.to_arrays(), "contexts1": -chain.to_arrays()["contexts1"]})
    wide = {**chain.to_arrays(), "contexts5": np.full((1, 5), 2**13), "offsets5": np.array([0, 1]),
            "symbols5": np.array([0]), "counts5": np.array([1])}
    with pytest.raises(ValueError, match="64 bits"):
        FrozenChain(INTERVALS, wide)


def test_contexts_are_the_last_steps():
    assert interval_context([60, 62, 64, 65, 67, 69], order=3) == [step_index(64, 65), step_index(65, 67), step_index(67, 69)]
    assert interval_context([60]) == []


@pytest.mark.parametrize("prior, bias", [((1, -1, 1), 1.0), ((0, 0, 0), 1.0), ((1, 1), 1.0), ((1, 1, 1), -1.0)])
def test_bad_mixture_settings_name_the_value(chain, prior, bias):
    with pytest.raises(ValueError, match="prior|bias"):
        PitchMixture(chain, prior, bias)


def test_the_long_term_context_ends_with_the_scale_degree():
    d_major, a_minor = Key(2, "major"), Key(9, "minor")
    assert scale_degree(66, d_major) == 4 and scale_degree(60, a_minor) == 12 + 3
    assert long_term_context([62, 64, 66], d_major) == (step_index(62, 64), step_index(64, 66), INTERVALS + 4)
    assert key_of_pitches(TUNE) == Key(0, "major")


def test_the_long_term_chain_knows_the_key():
    """In C major, E goes up a semitone to F; F does not go up a semitone to F#."""
    chain = fit_intervals([[60, 62, 64, 65, 67, 69, 71, 72, 71, 69, 67, 65, 64, 62, 60] * 3])
    c_major = Key(0, "major")
    from_e = chain.distribution(list(long_term_context([62, 64], c_major)))
    from_f = chain.distribution(list(long_term_context([62, 65], c_major)))
    assert from_e[step_index(0, 1)] > 10 * from_f[step_index(0, 1)]


def test_the_mixture_by_hand(chain):
    """Weights prior * entropy ** -bias; the long-term chain's pitch distribution is its step
    distribution read from the previous pitch; the short-term chain's is over the input's own
    pitches; the result renormalized over the MIDI pitches."""
    mixture = PitchMixture(chain, (0.5, 0.3, 0.2), 2.0)
    rows = ShortTermRows(mixture, [TUNE])
    network = np.random.default_rng(0).dirichlet(np.ones(N_PITCHES) * 0.3)
    mixed = rows.mix(network[None])[0]

    short = MarkovChain(N_PITCHES, 4)
    for t in range(len(TUNE)):
        short.observe(TUNE[max(0, t - 4) : t], TUNE[t])
    steps = np.arange(N_PITCHES) - TUNE[-1] + N_PITCHES - 1
    long_steps = chain.distribution(list(long_term_context(TUNE, key_of_pitches(TUNE))))
    short_pitches = short.distribution(TUNE[-4:])
    parts = [network, long_steps[steps], short_pitches]
    entropies = [entropy(network), entropy(long_steps), entropy(short_pitches)]
    weights = np.array([w * h ** -2.0 for w, h in zip((0.5, 0.3, 0.2), entropies)])
    expected = sum(w * p for w, p in zip(weights / weights.sum(), parts))
    assert np.allclose(mixed, expected / expected.sum())
    assert mixed.sum() == pytest.approx(1.0)
    # The short-term chain reads the input only: a written note moves the context, not the counts.
    before = rows.chains[0](())[0].copy()
    rows.add(np.array([75]))
    assert rows.histories[0][-2:] == [TUNE[-1], 75] and np.array_equal(rows.chains[0](())[0], before)


@pytest.mark.parametrize("pitches", [TUNE, [60], [60, 60, 60, 60, 60, 60], [0, 127, 0, 127, 64], TUNE * 4 + [61]])
def test_the_input_chain_is_the_counted_chain_worked_out_at_once(pitches):
    """Every context, seen, partly seen or never seen, and every pitch, the input's or not: the
    same estimate as a chain that observed the input note by note, and its entropy."""
    counted = MarkovChain(N_PITCHES, 4)
    for t in range(len(pitches)):
        counted.observe(pitches[max(0, t - 4) : t], pitches[t])
    table = InputChain(pitches)
    contexts = [()] + [tuple(pitches[max(0, t - 4) : t]) for t in range(1, len(pitches) + 1)]
    contexts += [(61,), (59, 60), (1, 2, 3, 4), tuple(pitches[-3:]) + (99,), (99,) + tuple(pitches[-3:])]
    for context in contexts:
        distribution, bits = table(context)
        assert np.array_equal(distribution, counted.distribution(list(context)))
        assert bits == pytest.approx(float(entropy(distribution)), abs=1e-12)
    with pytest.raises(ValueError, match="at least one pitch"):
        InputChain([])


def test_every_row_is_the_weighted_average_fitting_scores(chain):
    """Two rows, float32 network probabilities and a model given no weight: each row of `mix` is
    the average by `weights` (what the fit's grid search scores), renormalized."""
    mixture = PitchMixture(chain, (0.6, 0.0, 0.4), 1.5)
    rows = ShortTermRows(mixture, [TUNE, TUNE[::-1]])
    rows.add(np.array([62, 70]))
    network = np.random.default_rng(2).dirichlet(np.ones(N_PITCHES) * 0.5, size=2).astype(np.float32)
    parts = rows.parts()
    weights = mixture.weights(np.column_stack([entropy(network.astype(np.float64)), parts.entropies]))
    expected = weights[:, :1] * network + (weights[:, 1:, None] * parts.probabilities).sum(axis=1)
    mixed = rows.mix(network)
    assert mixed.dtype == np.float64
    np.testing.assert_allclose(mixed, expected / expected.sum(axis=1, keepdims=True), rtol=1e-6)
    with pytest.raises(ValueError, match="1 rows of network probabilities for 2 rows"):
        rows.mix(network[:1])


def test_a_surer_model_counts_more(chain):
    mixture = PitchMixture(chain, (1 / 3, 1 / 3, 1 / 3), 1.0)
    sure, unsure = np.array([[0.5, 2.0, 4.0]]), np.array([[4.0, 2.0, 0.5]])
    assert mixture.weights(sure)[0, 0] > 1 / 3 > mixture.weights(unsure)[0, 0]
    assert np.allclose(PitchMixture(chain, (1 / 3, 1 / 3, 1 / 3), 0.0).weights(sure), 1 / 3)


def test_a_mixture_survives_its_arrays(chain):
    mixture = PitchMixture(chain, (0.45, 0.45, 0.1), 2.0)
    again = PitchMixture.from_arrays(mixture.to_arrays())
    assert again.prior == mixture.prior and again.bias == 2.0
    network = np.full((1, N_PITCHES), 1 / N_PITCHES)
    assert np.array_equal(ShortTermRows(again, [TUNE]).mix(network), ShortTermRows(mixture, [TUNE]).mix(network))


@pytest.mark.parametrize("opening", [TUNE[:1], TUNE[:3], TUNE])
def test_contexts_move_on_with_each_written_note(chain, opening):
    rows = ShortTermRows(PitchMixture(chain, (0.4, 0.4, 0.2), 1.0), [opening])
    for pitch in (62, 70, 59, 59, 64, 67):
        rows.add(np.array([pitch]))
        history = rows.histories[0]
        assert rows.long_term_contexts[0] == long_term_context(history, key_of_pitches(opening))
        assert rows.short_term_contexts[0] == tuple(history[-4:])


def test_rows_are_independent(chain):
    mixture = PitchMixture(chain, (0.4, 0.4, 0.2), 1.0)
    together = ShortTermRows(mixture, [TUNE, TUNE[::-1]])
    alone = ShortTermRows(mixture, [TUNE[::-1]])
    network = np.random.default_rng(1).dirichlet(np.ones(N_PITCHES), size=2)
    together.add(np.array([62, 70]))
    alone.add(np.array([70]))
    assert np.allclose(together.mix(network)[1], alone.mix(network[1:])[0])
    assert not math.isclose(together.mix(network)[0, 62], together.mix(network)[1, 62])
