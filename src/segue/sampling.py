"""Sampling: small pure functions on logits, kept out of the model. The last dimension is the vocabulary."""

from __future__ import annotations

import torch


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Sharpen (< 1) or flatten (> 1) the distribution; temperature 0 keeps only the most likely choice."""
    if temperature < 0:
        raise ValueError(f"temperature must be >= 0, got {temperature!r}")
    if temperature == 0:
        return mask_logits(logits, logits == logits.max(dim=-1, keepdim=True).values)
    return logits / temperature


def top_p_filter(logits: torch.Tensor, top_p: float) -> torch.Tensor:
    """Keep the smallest set of most likely choices whose probability reaches top_p (nucleus sampling)."""
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p!r}")
    if top_p == 1:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    # A choice stays if the mass before it is still short of top_p, so the most likely always stays.
    keep_sorted = (cumulative - sorted_logits.softmax(dim=-1)) < top_p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    return mask_logits(logits, keep)


def mask_logits(logits: torch.Tensor, allowed: torch.Tensor) -> torch.Tensor:
    """Rule out every choice where `allowed` (broadcastable bool) is False."""
    return logits.masked_fill(~allowed, float("-inf"))


def sample(logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Draw one index per row of logits (..., vocabulary) -> (...)."""
    probabilities = logits.softmax(dim=-1)
    flat = probabilities.reshape(-1, probabilities.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probabilities.shape[:-1])


def choose(
    logits: torch.Tensor,
    temperature: float,
    top_p: float,
    generator: torch.Generator | None = None,
    allowed: torch.Tensor | None = None,
) -> torch.Tensor:
    """Mask, then temperature, then top-p, then draw: the order every front end uses."""
    if allowed is not None:
        logits = mask_logits(logits, allowed)
    return sample(top_p_filter(apply_temperature(logits, temperature), top_p), generator)
