"""Sampling: small pure functions on logits and probabilities (numpy arrays), kept out of the
model. The last axis is the vocabulary; every function works on a batch of rows at once, and
temperature and top_p may be one number or one per row (an array of shape (rows, 1)), so that
requests with different settings share a batch. Randomness comes in as uniform numbers, one per
row, drawn by the caller from its own seeded generator."""

from __future__ import annotations

import numpy as np


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


def sample(weights: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Draw one index per row of weights (..., vocabulary) -> (...), each in proportion to its
    weight (they need not sum to 1), by looking up each row's uniform number in [0, 1) (shape
    (...)) in the row's running sum."""
    cumulative = weights.cumsum(axis=-1)
    targets = uniforms[..., None] * cumulative[..., -1:]
    # Zero weights never win: their running sum equals the one before. The clamp only guards
    # against a target rounded up to the total.
    return np.minimum((cumulative <= targets).sum(axis=-1), weights.shape[-1] - 1)


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
) -> np.ndarray:
    """Mask, then temperature, then top-p, then draw: the order every front end uses."""
    if allowed is not None:
        logits = mask_logits(logits, allowed)
    return sample(top_p_filter(softmax(apply_temperature(logits, temperature)), top_p), uniforms)


def choose_probabilities(
    probabilities: np.ndarray,
    temperature: float | np.ndarray,
    top_p: float | np.ndarray,
    uniforms: np.ndarray,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """`choose` for a distribution given as probabilities (every allowed choice above zero in
    some row's most likely one), as the pitch mixture gives it: no round trip through logarithms."""
    if allowed is not None:
        probabilities = np.where(allowed, probabilities, 0.0)
    weights = sharpen(probabilities, temperature)
    return sample(top_p_filter(weights / weights.sum(axis=-1, keepdims=True), top_p), uniforms)
