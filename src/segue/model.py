"""The GRU encoder-decoder that continues a melody one note at a time.

The encoder reads the input's notes into a hidden state. The decoder starts from that state with
the input's last note and, at each step, predicts the next note as three chained choices: its
onset gap, then its pitch given the gap, then its duration given both. The chain makes
p(note) = p(gap) p(pitch | gap) p(duration | gap, pitch) an exact likelihood, so bits per note
split cleanly into a pitch part and a timing part. Luong attention over the encoder's states lets
the decoder look back at motifs of the input. Sampling lives in `sampling.py`, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .tokenizer import DURATION, GAP, N_PITCHES, PITCH

IGNORE = -1  # target value of padding positions


RECURRENT_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


@dataclass(frozen=True)
class ModelConfig:
    cell: str = "gru"  # the recurrent cell: "gru", or "lstm" for the architecture comparison
    n_time_bins: int = 48  # must equal the tokenizer's
    n_pitches: int = N_PITCHES  # MIDI pitches 0..127
    embed_dim: int = 64  # size of each of the gap, pitch and duration embeddings
    hidden_size: int = 256  # GRU state size, encoder and decoder alike
    num_layers: int = 2  # stacked GRU layers, encoder and decoder alike
    dropout: float = 0.1  # between GRU layers and before the output heads, in training only

    def __post_init__(self) -> None:
        if self.cell not in RECURRENT_CELLS:
            raise ValueError(f"cell must be one of {sorted(RECURRENT_CELLS)}, got {self.cell!r}")
        for name in ("n_time_bins", "n_pitches", "embed_dim", "hidden_size", "num_layers"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout!r}")


class NoteLogits(NamedTuple):
    gap: torch.Tensor
    pitch: torch.Tensor
    duration: torch.Tensor


class Memory(NamedTuple):
    """What the decoder attends to: the encoder's states and which of them are real notes."""

    states: torch.Tensor  # (batch, input notes, hidden)
    mask: torch.Tensor  # (batch, input notes) bool


class MelodyRNN(nn.Module):
    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        e, h = config.embed_dim, config.hidden_size
        self.gap_embedding = nn.Embedding(config.n_time_bins, e)
        self.pitch_embedding = nn.Embedding(config.n_pitches, e)
        self.duration_embedding = nn.Embedding(config.n_time_bins, e)
        inter_layer_dropout = config.dropout if config.num_layers > 1 else 0.0
        recurrent = RECURRENT_CELLS[config.cell]
        self.encoder = recurrent(3 * e, h, config.num_layers, batch_first=True, dropout=inter_layer_dropout)
        self.decoder = recurrent(3 * e, h, config.num_layers, batch_first=True, dropout=inter_layer_dropout)
        self.attention = nn.Linear(h, h, bias=False)
        self.combine = nn.Linear(2 * h, h)
        self.dropout = nn.Dropout(config.dropout)
        self.gap_head = nn.Linear(h, config.n_time_bins)
        self.pitch_head = nn.Linear(h + e, config.n_pitches)
        self.duration_head = nn.Linear(h + 2 * e, config.n_time_bins)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.gap_embedding(tokens[..., GAP]),
                self.pitch_embedding(tokens[..., PITCH]),
                self.duration_embedding(tokens[..., DURATION]),
            ],
            dim=-1,
        )

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> tuple[Memory, torch.Tensor]:
        """source (batch, notes, 3), right-padded; lengths (batch,) >= 1 -> memory, decoder start state."""
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(source), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        states, hidden = self.encoder(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=source.shape[1])
        mask = torch.arange(source.shape[1], device=source.device)[None, :] < lengths[:, None]
        return Memory(states, mask), hidden

    def decode(self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the decoder over notes (batch, steps, 3) -> features (batch, steps, hidden), new state."""
        outputs, hidden = self.decoder(self.embed(tokens), hidden)
        scores = torch.einsum("bth,bsh->bts", self.attention(outputs), memory.states)
        scores = scores.masked_fill(~memory.mask[:, None, :], float("-inf"))
        context = torch.einsum("bts,bsh->bth", scores.softmax(dim=-1), memory.states)
        features = torch.tanh(self.combine(torch.cat([outputs, context], dim=-1)))
        return self.dropout(features), hidden

    def gap_logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.gap_head(features)

    def pitch_logits(self, features: torch.Tensor, gap: torch.Tensor) -> torch.Tensor:
        return self.pitch_head(torch.cat([features, self.gap_embedding(gap)], dim=-1))

    def duration_logits(self, features: torch.Tensor, gap: torch.Tensor, pitch: torch.Tensor) -> torch.Tensor:
        return self.duration_head(torch.cat([features, self.gap_embedding(gap), self.pitch_embedding(pitch)], dim=-1))

    def forward(
        self, source: torch.Tensor, lengths: torch.Tensor, decoder_input: torch.Tensor, targets: torch.Tensor
    ) -> tuple[NoteLogits, torch.Tensor, torch.Tensor]:
        """Teacher-forced pass. decoder_input is the input's last note followed by the extension
        minus its last note; targets is the extension (IGNORE where padded). The pitch and duration
        heads are given each target's true gap and pitch, as the chained factorization requires.
        Returns (logits, loss in nats per note, final decoder state)."""
        memory, hidden = self.encode(source, lengths)
        features, hidden = self.decode(decoder_input, hidden, memory)
        given = targets.clamp(min=0)  # padding rows are ignored by the loss; any index will do
        logits = NoteLogits(
            self.gap_logits(features),
            self.pitch_logits(features, given[..., GAP]),
            self.duration_logits(features, given[..., GAP], given[..., PITCH]),
        )
        return logits, note_nll(logits, targets).sum(), hidden


def note_nll(logits: NoteLogits, targets: torch.Tensor) -> torch.Tensor:
    """Negative log-likelihood in nats of each field, averaged over real notes -> tensor (3,)
    in the order gap, pitch, duration."""
    return torch.stack(
        [
            F.cross_entropy(field.flatten(0, -2), targets[..., column].flatten(), ignore_index=IGNORE)
            for field, column in zip(logits, (GAP, PITCH, DURATION))
        ]
    )


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
