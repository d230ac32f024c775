import warnings

import numpy as np
import pytest

from segue.sampling import (apply_temperature, choose, choose_probabilities, mask_logits, sample, sharpen,
                            sharpen_keeping_mean, softmax, tilt_to_mean, top_p_filter)


def logits():
    return np.log(np.array([[0.5, 0.3, 0.15, 0.05], [0.05, 0.15, 0.3, 0.5]]))


def uniforms(rows, seed):
    return np.random.default_rng(seed).random(rows)


def test_same_uniforms_give_the_same_draws_and_others_differ():
    wide = np.ones((4, 64))
    assert np.array_equal(sample(wide, uniforms(4, 3)), sample(wide, uniforms(4, 3)))
    assert not np.array_equal(sample(wide, uniforms(4, 3)), sample(wide, uniforms(4, 4)))


def test_a_uniform_number_picks_by_the_running_sum():
    weights = np.array([[1.0, 0.0, 2.0, 1.0]] * 5)
    assert sample(weights, np.array([0.0, 0.24, 0.25, 0.74, 0.99])).tolist() == [0, 0, 2, 2, 3]


def test_sampling_follows_the_weights_which_need_not_sum_to_one():
    draws = sample(np.tile([5.0, 3.0, 1.5, 0.5], (20_000, 1)), uniforms(20_000, 0))
    assert np.allclose(np.bincount(draws, minlength=4) / 20_000, [0.5, 0.3, 0.15, 0.05], atol=0.015)


def test_zero_weights_are_never_drawn_wherever_they_sit():
    weights = np.tile([0.0, 1.0, 0.0, 0.0, 2.0, 0.0], (5_000, 1))
    assert set(sample(weights, uniforms(5_000, 1)).tolist()) == {1, 4}


def test_softmax_gives_rows_that_sum_to_one_even_for_huge_logits():
    probabilities = softmax(np.array([[1000.0, 999.0, -np.inf], [0.0, 0.0, 0.0]]))
    assert np.allclose(probabilities.sum(axis=-1), 1) and probabilities[0, 2] == 0
    assert np.allclose(probabilities[1], 1 / 3)


def test_top_p_keeps_the_smallest_set_reaching_p():
    probabilities = softmax(logits())
    kept = top_p_filter(probabilities, 0.75) > 0
    assert kept.tolist() == [[True, True, False, False], [False, False, True, True]]
    assert (top_p_filter(probabilities, 0.01) > 0).sum(axis=-1).tolist() == [1, 1]
    assert np.array_equal(top_p_filter(probabilities, 1.0), probabilities)


def test_top_p_keeps_choices_tied_with_the_last_one_kept():
    assert (top_p_filter(np.array([[0.4, 0.3, 0.3]]), 0.5) > 0).tolist() == [[True, True, True]]


def test_temperature_scales_and_zero_is_greedy():
    assert np.allclose(softmax(apply_temperature(logits(), 2.0)), softmax(logits() / 2))
    greedy = apply_temperature(logits(), 0.0)
    assert np.isfinite(greedy).tolist() == [[True, False, False, False], [False, False, False, True]]
    assert sample(softmax(greedy), uniforms(2, 1)).tolist() == [0, 3]


def test_a_tiny_temperature_is_as_good_as_greedy():
    # Dividing by 1e-300 overflows every logit to -inf unless the best is taken off first.
    for values in (logits(), logits().astype(np.float32)):  # the network's logits are float32
        probabilities = softmax(apply_temperature(values, 1e-300))
        assert np.isfinite(probabilities).all() and probabilities.argmax(axis=-1).tolist() == [0, 3]


def test_mask_rules_choices_out():
    masked = mask_logits(logits(), np.array([False, False, True, True]))
    draws = sample(softmax(np.tile(masked, (500, 1))), uniforms(1000, 2))
    assert set(draws.tolist()) <= {2, 3}


def test_choose_applies_mask_before_top_p():
    allowed = np.array([False, True, True, True])
    draws = choose(np.tile(logits()[:1], (2000, 1)), 1.0, 0.6, uniforms(2000, 5), allowed)
    assert set(draws.tolist()) == {1}  # of what is allowed, 0.3 alone already holds 60 % of the mass


def test_each_row_may_have_its_own_temperature_and_top_p():
    rows = np.tile(logits()[:1], (3, 1))
    scaled = apply_temperature(rows, np.array([[0.0], [1.0], [2.0]]))
    assert np.isfinite(scaled[0]).tolist() == [True, False, False, False]
    assert np.allclose(softmax(scaled[1:]), softmax(rows[1:] / np.array([[1.0], [2.0]])))
    kept = top_p_filter(softmax(rows), np.array([[0.4], [0.75], [1.0]])) > 0
    assert kept.sum(axis=-1).tolist() == [1, 2, 4]


@pytest.mark.parametrize("temperature", [0.0, 1e-300, 0.5, 1.0, 1.7, np.array([[0.0], [0.5]]), np.array([[2.0], [1.0]])])
def test_sharpening_probabilities_is_temperature_on_their_logarithms(temperature):
    probabilities = softmax(logits())
    expected = softmax(apply_temperature(np.log(probabilities), temperature))
    sharpened = sharpen(probabilities, temperature)
    assert np.allclose(sharpened / sharpened.sum(axis=-1, keepdims=True), expected)
    for values in (probabilities, probabilities.astype(np.float32)):
        assert sharpen(values, 1e-300).max(axis=-1).tolist() == [1.0, 1.0]  # never all zero


def test_a_temperature_too_small_to_invert_is_greedy_without_a_warning():
    """1 / 5e-324 overflows to inf; x ** inf is then 0 below the best choice and 1 at it."""
    probabilities = softmax(logits())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sharpened = sharpen(probabilities, 5e-324)
    assert np.array_equal(sharpened, sharpen(probabilities, 0.0))


def test_choose_probabilities_draws_as_choose_does_from_logits():
    """Masked, sharpened and cut to top-p like the logits, with the same uniform numbers."""
    rows = np.tile(softmax(logits()), (1000, 1))
    allowed = np.array([False, True, True, True])
    for temperature, top_p in ((1.0, 1.0), (0.0, 1.0), (0.7, 0.8), (1.4, 0.6)):
        draws = uniforms(2000, 11)
        assert np.array_equal(choose_probabilities(rows, temperature, top_p, draws, allowed),
                              choose(np.log(rows), temperature, top_p, draws, allowed))


@pytest.mark.parametrize(("function", "bad"), [(apply_temperature, -0.5), (sharpen, -1.0), (top_p_filter, 0.0), (top_p_filter, 1.5),
                                             (top_p_filter, np.array([[0.5], [0.0]]))])
def test_bad_parameters_are_refused(function, bad):
    with pytest.raises(ValueError):
        function(logits(), bad)


# A melody's next step, in semitones: a step down is the likeliest single move, and the leaps up
# make up for it, so the mean step is about 0 while the most likely is -2.
STEPS = np.array([-7.0, -5.0, -2.0, -1.0, 0.0, 2.0, 4.0, 7.0])
STEP_ODDS = np.array([[0.02, 0.05, 0.34, 0.10, 0.08, 0.18, 0.13, 0.10]])


def entropy(weights):
    return -(weights * np.log(np.where(weights > 0, weights, 1.0))).sum(axis=-1)


def test_a_tilt_brings_the_mean_to_its_target_and_keeps_zeros():
    rng = np.random.default_rng(5)
    values = np.arange(40, dtype=np.float64)
    for temperature in (2.0, 1.0, 0.5, 0.1, 0.03):  # from flat to very peaked weights
        weights = sharpen(rng.dirichlet(np.full(40, 0.3), size=50), temperature)
        weights[:, rng.random(40) < 0.3] = 0.0
        weights[:, 10] = np.maximum(weights[:, 10], 1e-3)  # every row keeps a choice
        kept = weights > 0
        low = np.where(kept, values, np.inf).min(axis=1)
        high = np.where(kept, values, -np.inf).max(axis=1)
        target = (low + rng.random(50) * (high - low))[:, None]
        tilted = tilt_to_mean(weights, values, target)
        assert np.allclose(tilted.sum(axis=1), 1.0)
        assert np.abs(tilted @ values - target[:, 0]).max() < 1e-5
        assert not tilted[~kept].any()


def test_a_tilt_converges_where_newton_steps_bounce_between_the_brackets_ends():
    """A pitch choice of the shipped model at temperature 0.2: Newton's steps from lambda = 0 went
    -2.24, -0.09, -2.20, -0.09, ... and the mean was still 0.36 semitones off after 60 of them."""
    pitches = np.array([60, 62, 63, 64, 65, 66, 67, 68, 69, 70, 72], dtype=np.float64)
    weights = np.array([[3.71307211e-06, 1.41009340e-04, 4.75532250e-03, 1.04723527e-06, 6.57461281e-04,
                         2.53877129e-06, 1.0, 5.07641191e-03, 7.34797912e-08, 5.95267747e-05, 3.37943082e-03]])
    tilted = tilt_to_mean(weights, pitches, np.array([[66.61936531]]))
    assert (tilted @ pitches)[0] == pytest.approx(66.61936531, abs=1e-5)


def test_a_target_at_an_end_keeps_only_that_choice_and_one_choice_stays():
    weights = np.array([[0.5, 0.3, 0.2], [0.0, 1.0, 0.0]])
    tilted = tilt_to_mean(weights, np.array([0.0, 1.0, 2.0]), np.array([[2.0], [1.0]]))
    assert tilted[0, 2] == pytest.approx(1.0) and tilted[1].tolist() == [0.0, 1.0, 0.0]


def test_temperature_keeping_the_mean_sharpens_around_the_models_mean():
    """Plain sharpening moves the mean step down, towards the likeliest move; keeping the mean,
    a low temperature is surer (lower entropy) and a high one wilder, about the same mean."""
    nucleus = top_p_filter(STEP_ODDS, 0.95)
    nucleus_mean = (nucleus @ STEPS / nucleus.sum())[0]
    plain = sharpen(nucleus, 0.5)
    assert (plain @ STEPS / plain.sum())[0] < nucleus_mean - 0.5
    for temperature in (0.3, 0.5, 2.0):
        kept = sharpen_keeping_mean(STEP_ODDS, temperature, 0.95, STEPS)
        assert (kept @ STEPS)[0] == pytest.approx(nucleus_mean, abs=1e-6)
        assert (entropy(kept) < entropy(nucleus / nucleus.sum()))[0] == (temperature < 1)
        assert not kept[nucleus == 0].any()  # what top-p drops stays dropped
    assert np.allclose(sharpen_keeping_mean(STEP_ODDS, 1.0, 0.95, STEPS), nucleus / nucleus.sum())


def test_choosing_with_values_draws_around_the_models_mean():
    """20,000 seeded draws at temperature 0.5: with the steps' values, their mean is the model's
    (within 0.05 semitones); without, a quarter of a semitone lower. Logits and probabilities
    draw alike."""
    rows = np.tile(STEP_ODDS, (20_000, 1))
    draws = uniforms(20_000, 8)
    nucleus = top_p_filter(STEP_ODDS, 0.95)
    model_mean = (nucleus @ STEPS / nucleus.sum())[0]
    kept = choose_probabilities(rows, 0.5, 0.95, draws, values=STEPS)
    assert np.array_equal(kept, choose(np.log(rows), 0.5, 0.95, draws, values=STEPS))
    assert STEPS[kept].mean() == pytest.approx(model_mean, abs=0.05)
    assert STEPS[choose_probabilities(rows, 0.5, 0.95, draws)].mean() < model_mean - 0.25
    # Temperature 0 is still the one most likely choice, and 1 the model's own draw.
    assert (STEPS[choose_probabilities(rows, 0.0, 0.95, draws, values=STEPS)] == -2.0).all()
    assert np.array_equal(choose_probabilities(rows, 1.0, 0.95, draws, values=STEPS),
                          choose_probabilities(rows, 1.0, 0.95, draws))
