"""Sampling: small pure functions on logits and probabilities (numpy arrays), kept out of the
model. The last axis is the vocabulary; every function works on a batch of rows at once, and
temperature and top_p may be one number or one per row (an array of shape (rows, 1)), so that
requests with different settings share a batch. Randomness comes in as uniform numbers, one per
row, drawn by the caller from its own seeded generator.

Temperature can keep the mean (`sharpen_keeping_mean`): given each choice's value (a pitch, the
log of a time), a choice sharpened below temperature 1 or flattened above it is tilted back so
that its mean value is the model's own. Sharpening alone favours the single most likely move:
in melodies a step down, and a short gap, so at temperature 0.5 a 30 s continuation sank about
3 semitones and played denser than at temperature 1 (docs/model-card.md has the figures)."""

from __future__ import annotations

import numpy as np

TILT_ITERATIONS = 60  # at most, in `tilt_to_mean`; the shipped model's choices took 11 at most
TILT_TOLERANCE = 1e-6  # how near `tilt_to_mean` brings the mean to its target, in the values' units


def mask_logits(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Rule out every choice where `allowed` (broadcastable bool) is False."""
    return np.where(allowed, logits, -np.inf)


def apply_temperature(logits: np.ndarray, temperature: float | np.ndarray) -> np.ndarray:
    """Sharpen (< 1) or flatten (> 1) the distribution; temperature 0 keeps only the most likely choice."""
    _check(temperature, "temperature", lambda t: t >= 0, ">= 0")
    # From the best choice down, so that a tiny temperature sends the others to -inf, never the
    # best one with them (all -inf would be NaN after softmax).
    # In float64: 1e-300 is 0 in float32. Overflowing to -inf is the intended result.
    shifted = logits - logits.max(axis=-1, keepdims=True)
    if not isinstance(temperature, np.ndarray) and temperature >= 1e-3:  # cannot overflow: skip errstate's cost
        return shifted / np.float64(temperature)
    greedy = temperature == 0
    with np.errstate(over="ignore"):
        if not greedy.any() if isinstance(greedy, np.ndarray) else not greedy:
            return shifted / np.float64(temperature)
        best_only = mask_logits(logits, shifted == 0)
        return np.where(greedy, best_only, shifted / np.where(greedy, 1, temperature).astype(np.float64))


def sharpen(probabilities: np.ndarray, temperature: float | np.ndarray) -> np.ndarray:
    """Probabilities to the power 1 / temperature, up to a factor per row: softmax(log p / T)
    without leaving probability space. Temperature 0 keeps only the most likely choice."""
    _check(temperature, "temperature", lambda t: t >= 0, ">= 0")
    if not isinstance(temperature, np.ndarray) and temperature == 1:
        return probabilities
    # Relative to the most likely choice, so that it stays at 1 and a row never underflows to all
    # zeros; 1 / 0 is inf (and so is 1 / 5e-324, an overflow), and x ** inf is 0 below the best
    # choice and 1 at it: greedy.
    relative = probabilities / probabilities.max(axis=-1, keepdims=True)
    with np.errstate(divide="ignore", over="ignore", under="ignore"):
        return relative ** (1 / np.asarray(temperature, np.float64))


def softmax(logits: np.ndarray) -> np.ndarray:
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def top_p_filter(probabilities: np.ndarray, top_p: float | np.ndarray) -> np.ndarray:
    """Keep the smallest set of most likely choices whose probability reaches top_p (nucleus
    sampling) and zero the rest; choices exactly as likely as the last one kept stay too."""
    _check(top_p, "top_p", lambda p: (p > 0) & (p <= 1), "in (0, 1]")
    if (top_p == 1).all() if isinstance(top_p, np.ndarray) else top_p == 1:
        return probabilities
    descending = np.sort(probabilities, axis=-1)[..., ::-1]
    # A choice stays if the mass before it is still short of top_p, so the most likely always
    # stays; the kept ones are a prefix of `descending`, and the least of them is the threshold.
    kept = descending.cumsum(axis=-1) - descending < top_p
    threshold = np.where(kept, descending, np.inf).min(axis=-1, keepdims=True)
    return np.where(probabilities >= threshold, probabilities, 0.0)


def tilt_to_mean(weights: np.ndarray, values: np.ndarray, target: np.ndarray) -> np.ndarray:
    """`weights` (rows, choices) times exp(lambda * values), normalized, with one lambda per row
    such that the mean of `values` (choices,) is `target` (rows, 1), which must lie among the
    values of the row's nonzero choices (at one end, that choice is all the row keeps). Zero
    weights stay zero. Lambda is found by Newton's method kept inside a bracket that always
    holds it, bisecting where a Newton step would leave it or the last one did not halve the
    gap: at a low temperature the mean jumps from one choice to the next as lambda grows, where
    Newton's method alone overshoots or bounces between the bracket's ends."""
    support = weights > 0
    log_weights = np.where(support, np.log(np.where(support, weights, 1.0)), -np.inf)
    offsets = np.where(support, values - target, 0.0)
    # At `high` the farthest choice above the target outweighs every one below it by e^40 (with
    # none above, the nearest below is outweighed by those at the target), and so the mean is
    # above the target; likewise at `low`.
    spread = log_weights.max(axis=-1, keepdims=True) - np.where(support, log_weights, np.inf).min(axis=-1, keepdims=True)
    nearest = np.where(offsets != 0, np.abs(offsets), np.inf).min(axis=-1, keepdims=True)
    above, below = offsets.max(axis=-1, keepdims=True), -offsets.min(axis=-1, keepdims=True)
    high = np.where(above > 0, (spread + 40.0) / np.where(above > 0, above, 1.0), (spread + 40.0) / nearest)
    low = -np.where(below > 0, (spread + 40.0) / np.where(below > 0, below, 1.0), (spread + 40.0) / nearest)
    tilt, last = np.zeros_like(high), np.full_like(high, np.inf)
    for _ in range(TILT_ITERATIONS):
        tilted = softmax(log_weights + tilt * offsets)
        moved = (tilted * offsets).sum(axis=-1, keepdims=True)
        if (np.abs(moved) <= TILT_TOLERANCE).all():
            break
        low, high = np.where(moved < 0, tilt, low), np.where(moved > 0, tilt, high)
        variance = (tilted * offsets**2).sum(axis=-1, keepdims=True) - moved**2
        newton = tilt - moved / np.maximum(variance, 1e-300)
        # Newton's step where it stays in the bracket and the last one at least halved the gap;
        # else bisect (Newton's steps can bounce between the bracket's ends, closing it slowly).
        useful = (newton > low) & (newton < high) & (np.abs(moved) <= last / 2)
        tilt, last = np.where(useful, newton, (low + high) / 2), np.abs(moved)
    return softmax(log_weights + tilt * offsets)


def sharpen_keeping_mean(probabilities: np.ndarray, temperature: float | np.ndarray, top_p: float | np.ndarray,
                         values: np.ndarray) -> np.ndarray:
    """The top-p nucleus of `probabilities` (taken at temperature 1), sharpened by `temperature`
    and tilted (`tilt_to_mean`) so that the mean of the choices' `values` is the nucleus's own:
    as sure as the temperature asks, centred where the model is. The mean always lies among the
    nucleus's values, so a tilt reaches it. Returns weights, each row summing to 1."""
    nucleus = top_p_filter(probabilities / probabilities.sum(axis=-1, keepdims=True), top_p)
    target = (nucleus @ values / nucleus.sum(axis=-1))[:, None]
    return tilt_to_mean(sharpen(nucleus, temperature), values, target)


def sample(weights: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Draw one index per row of weights (..., vocabulary) -> (...), each in proportion to its
    weight (they need not sum to 1), by looking up each row's uniform number in [0, 1) (shape
    (...)) in the row's running sum."""
    cumulative = weights.cumsum(axis=-1)
    targets = uniforms[..., None] * cumulative[..., -1:]
    # Zero weights never win: their running sum equals the one before. The clamp only guards
    # against a target rounded up to the total.
    return np.minimum((cumulative <= targets).sum(axis=-1), weights.shape[-1] - 1)


def _changes_the_mean(temperature: float | np.ndarray) -> bool:
    """Whether a temperature moves a choice's mean: 1 leaves the distribution as it is, and 0 (the
    one most likely choice) has no spread to tilt."""
    return isinstance(temperature, np.ndarray) or temperature not in (0, 1)


def _check(value: float | np.ndarray, name: str, valid, wanted: str) -> None:
    """Raise ValueError naming the first value that is not `valid`; a plain number is checked
    without numpy's overhead, as these functions run three times per decoded note."""
    good = valid(value)
    if isinstance(good, np.ndarray):
        if not good.all():
            raise ValueError(f"{name} must be {wanted}, got {float(value[~good][0])!r}")
    elif not good:
        raise ValueError(f"{name} must be {wanted}, got {value!r}")


def choose(
    logits: np.ndarray,
    temperature: float | np.ndarray,
    top_p: float | np.ndarray,
    uniforms: np.ndarray,
    allowed: np.ndarray | None = None,
    values: np.ndarray | None = None,
) -> np.ndarray:
    """Mask, then temperature, then top-p, then draw: the order every front end uses. With the
    choices' `values`, the temperature keeps their mean (`sharpen_keeping_mean`: top-p first)."""
    if allowed is not None:
        logits = mask_logits(logits, allowed)
    if values is not None and _changes_the_mean(temperature):
        return sample(sharpen_keeping_mean(softmax(logits), temperature, top_p, values), uniforms)
    return sample(top_p_filter(softmax(apply_temperature(logits, temperature)), top_p), uniforms)


def choose_probabilities(
    probabilities: np.ndarray,
    temperature: float | np.ndarray,
    top_p: float | np.ndarray,
    uniforms: np.ndarray,
    allowed: np.ndarray | None = None,
    values: np.ndarray | None = None,
) -> np.ndarray:
    """`choose` for a distribution given as probabilities (every allowed choice above zero in
    some row's most likely one), as the pitch mixture gives it: no round trip through logarithms."""
    if allowed is not None:
        probabilities = np.where(allowed, probabilities, 0.0)
    if values is not None and _changes_the_mean(temperature):
        return sample(sharpen_keeping_mean(probabilities, temperature, top_p, values), uniforms)
    weights = sharpen(probabilities, temperature)
    return sample(top_p_filter(weights / weights.sum(axis=-1, keepdims=True), top_p), uniforms)
