"""What a request may ask for and what it gets when it does not say: one place for the library,
the CLI, keyboard mode, the API and (through /api/model) the page. No PyTorch here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass


@dataclass(frozen=True)
class Defaults:
    """What a request gets when it does not say."""

    seconds: float = 5.0  # length of the continuation
    temperature: float = 1.0  # 0 = the most likely note each time, 1 = the model's own distribution; others keep its mean
    top_p: float = 0.95  # nucleus sampling mass
    variations: int = 1


DEFAULTS = Defaults()
MAX_SECONDS = 60.0
MAX_VARIATIONS = 32
MAX_TEMPERATURE = 5.0
MAX_SEED = 2**63 - 1
# A seed chosen at random has 53 bits: a browser's numbers hold every integer up to 2**53 exactly,
# so the page can show it and send it back unchanged.
RANDOM_SEED_BITS = 53


def random_seed() -> int:
    return secrets.randbits(RANDOM_SEED_BITS)
