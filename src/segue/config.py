"""The network's shape, saved in every checkpoint and model file and rebuilt from it. Kept apart
from `model.py` so that generation (numpy) reads it without importing PyTorch."""

from __future__ import annotations

from dataclasses import dataclass

from .tokenizer import N_PITCHES

CELLS = ("gru", "lstm", "transformer")


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "gru"  # "gru"; or "lstm" or "transformer" for the architecture comparison
    n_time_bins: int = 48  # must equal the tokenizer's
    n_pitches: int = N_PITCHES  # MIDI pitches 0..127
    embed_dim: int = 64  # size of each of the gap, pitch and duration embeddings
    hidden_size: int = 224  # state size (a Transformer's model width), encoder and decoder alike
    num_layers: int = 2  # stacked layers, encoder and decoder alike
    dropout: float = 0.1  # between layers and before the output heads, in training only
    copy: bool = True  # pitch pointers over the input's notes (see above); False: the pitch head alone
    heads: int = 4  # attention heads of a Transformer's layers (recurrent cells ignore it)

    def __post_init__(self) -> None:
        if self.cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {self.cell!r}")
        for name in ("n_time_bins", "n_pitches", "embed_dim", "hidden_size", "num_layers", "heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.cell == "transformer" and self.hidden_size % self.heads:
            raise ValueError(f"hidden_size ({self.hidden_size}) must be a multiple of heads ({self.heads})")
