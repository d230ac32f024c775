"""Sampling: small pure functions on logits and probabilities (numpy arrays), kept out of the
model. The last axis is the vocabulary; every function works on a batch of rows at once."""

from __future__ import annotations

import numpy as np


def mask_logits(logits: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Rule out every choice where `allowed` (broadcastable bool) is False."""
    return np.where(allowed, logits, -np.inf)


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Sharpen (< 1) or flatten (> 1) the distribution; temperature 0 keeps only the most likely choice."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if temperature == 0:
        return mask_logits(logits, logits == logits.max(axis=-1, keepdims=True))
    return logits / temperature


def softmax(logits: np.ndarray) -> np.ndarray:
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def top_p_filter(probabilities: np.ndarray, top_p: float) -> np.ndarray:
    """Keep the smallest set of most likely choices whose probability reaches top_p (nucleus
    sampling) and zero the rest; choices exactly as likely as the last one kept stay too."""
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if top_p == 1:
        return probabilities
    descending = np.sort(probabilities, axis=-1)[..., ::-1]
    # A choice stays if the mass before it is still short of top_p, so the most likely always
    # stays; the kept ones are a prefix of `descending`, and the least of them is the threshold.
    kept = descending.cumsum(axis=-1) - descending < top_p
    threshold = np.where(kept, descending, np.inf).min(axis=-1, keepdims=True)
    return np.where(probabilities >= threshold, probabilities, 0.0)


def sample(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw one index per row of weights (..., vocabulary) -> (...), each in proportion to its
    weight (they need not sum to 1): one uniform number per row, looked up in the running sum."""
    cumulative = weights.cumsum(axis=-1)
    targets = rng.random(weights.shape[:-1] + (1,)) * cumulative[..., -1:]
    # Zero weights never win: their running sum equals the one before. The clamp only guards
    # against a target rounded up to the total.
    return np.minimum((cumulative <= targets).sum(axis=-1), weights.shape[-1] - 1)


def choose(
    logits: np.ndarray,
    temperature: float,
    top_p: float,
    rng: np.random.Generator,
    allowed: np.ndarray | None = None,
) -> np.ndarray:
    """Mask, then temperature, then top-p, then draw: the order every front end uses."""
    if allowed is not None:
        logits = mask_logits(logits, allowed)
    return sample(top_p_filter(softmax(apply_temperature(logits, temperature)), top_p), rng)
