"""The networks that continue a melody one note at a time: the GRU encoder-decoder Segue ships,
and, for the architecture comparison, the same with LSTM cells or with Transformer layers.

The encoder reads the input's notes. The decoder starts from the input's last note and, at each
step, predicts the next note as three chained choices: its onset gap, then its pitch given the
gap, then its duration given both. The chain makes p(note) = p(gap) p(pitch | gap)
p(duration | gap, pitch) an exact likelihood, so bits per note split cleanly into a pitch part and
a timing part. In the recurrent models Luong attention over the encoder's states lets the decoder
look back at motifs of the input; the Transformer's decoder attends to them in every layer.
Sampling lives in `sampling.py`, not here.

Copying (`ModelConfig.copy`): melodies repeat their own motifs, as they are or moved up or down,
and the input's motifs hold much of what can be known of the next pitch. So the pitch is a mixture
of three distributions, weighed by a gate that the decoder sets at each note: the pitch head's own,
and two pointers over the input's notes. A pointer attends to input notes whose context matches
the decoder's (and the note after which has the gap just chosen), and proposes what followed
there: the same pitch again ("copy the pitch"), or the same step from the previous pitch ("copy
the step", a motif moved to another degree).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig
from .tokenizer import DURATION, GAP, N_PITCHES, PITCH

IGNORE = -1  # target value of padding positions


RECURRENT_CELLS = {"gru": nn.GRU, "lstm": nn.LSTM}


def build_model(config: ModelConfig) -> NoteModel:
    """The network a config describes."""
    return MelodyTransformer(config) if config.cell == "transformer" else MelodyRNN(config)


class NoteLogits(NamedTuple):
    gap: torch.Tensor
    pitch: torch.Tensor
    duration: torch.Tensor


N_STEPS = 2 * N_PITCHES - 1  # melodic steps -127..127, as indices 0..254


class Memory(NamedTuple):
    """What the decoder attends to: the encoder's states and which of them are real notes; for
    copying, each input note's key and what followed it (pitch and step)."""

    states: torch.Tensor  # (batch, input notes, hidden)
    mask: torch.Tensor  # (batch, input notes) bool
    copy_keys: torch.Tensor | None = None  # (batch, input notes, hidden)
    copy_mask: torch.Tensor | None = None  # (batch, input notes) bool: the note has a successor
    next_pitch: torch.Tensor | None = None  # (batch, input notes): the successor's pitch
    next_step: torch.Tensor | None = None  # (batch, input notes): the successor's step, 0..254


class NoteModel(nn.Module):
    """What every architecture shares: the note embeddings, the chained output heads, copying and
    the teacher-forced pass. A subclass supplies `encode(source, lengths) -> (memory, decoder
    start state)` and `decode(tokens, state, memory) -> (features, new state)`."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        e, h = config.embed_dim, config.hidden_size
        self.gap_embedding = nn.Embedding(config.n_time_bins, e)
        self.pitch_embedding = nn.Embedding(config.n_pitches, e)
        self.duration_embedding = nn.Embedding(config.n_time_bins, e)
        self.dropout = nn.Dropout(config.dropout)
        self.gap_head = nn.Linear(h, config.n_time_bins)
        self.pitch_head = nn.Linear(h + e, config.n_pitches)
        self.duration_head = nn.Linear(h + 2 * e, config.n_time_bins)
        if config.copy:
            self.copy_key = nn.Linear(h + e, h, bias=False)  # an input note's state + the gap of the note after it
            self.copy_query = nn.Linear(h + e, h, bias=False)  # the decoder's features + the new note's gap
            self.copy_gate = nn.Linear(h + e, 3)  # generate, copy the pitch, copy the step

    def memory(self, source: torch.Tensor, lengths: torch.Tensor, states: torch.Tensor) -> Memory:
        """The encoder's states (batch, notes, hidden) as the decoder's memory, with what copying needs."""
        positions = torch.arange(source.shape[1], device=source.device)[None, :]
        mask = positions < lengths[:, None]
        if not self.config.copy:
            return Memory(states, mask)
        following = torch.roll(source, -1, dims=1)  # note i+1 at position i; the last has none
        next_pitch = following[..., PITCH]
        keys = self.copy_key(torch.cat([states, self.gap_embedding(following[..., GAP])], dim=-1))
        return Memory(states, mask, keys, positions < lengths[:, None] - 1, next_pitch,
                      next_pitch - source[..., PITCH] + N_PITCHES - 1)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.gap_embedding(tokens[..., GAP]),
                self.pitch_embedding(tokens[..., PITCH]),
                self.duration_embedding(tokens[..., DURATION]),
            ],
            dim=-1,
        )

    def gap_logits(self, features: torch.Tensor) -> torch.Tensor:
        return self.gap_head(features)

    def pitch_logits(self, features: torch.Tensor, gap: torch.Tensor, memory: Memory, previous: torch.Tensor) -> torch.Tensor:
        """Pitch scores given the gap (batch, steps); `previous` is the pitch before (batch, steps).
        With copying they are the log of the mixture, which softmax reads as logits (and so
        renormalizes the mass a "copy the step" pointer proposes outside the MIDI range)."""
        given = torch.cat([features, self.gap_embedding(gap)], dim=-1)
        logits = self.pitch_head(given)
        if not self.config.copy:
            return logits
        scores = torch.einsum("bth,bsh->bts", self.copy_query(given), memory.copy_keys)
        # A finite fill, then zeroed: an input of one note has nothing to copy, and -inf there
        # would give NaN.
        weights = scores.masked_fill(~memory.copy_mask[:, None, :], -1e9).softmax(dim=-1) * memory.copy_mask[:, None, :]
        copied = torch.zeros_like(logits).scatter_add_(-1, memory.next_pitch[:, None, :].expand_as(weights), weights)
        by_step = torch.zeros(*weights.shape[:2], N_STEPS, device=weights.device).scatter_add_(
            -1, memory.next_step[:, None, :].expand_as(weights), weights)
        stepped = by_step.gather(-1, torch.arange(N_PITCHES, device=gap.device) - previous[..., None] + N_PITCHES - 1)
        gate = self.copy_gate(given).softmax(dim=-1)
        mixture = gate[..., :1] * logits.softmax(dim=-1) + gate[..., 1:2] * copied + gate[..., 2:] * stepped
        return mixture.clamp_min(1e-30).log()

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
            self.pitch_logits(features, given[..., GAP], memory, decoder_input[..., PITCH]),
            self.duration_logits(features, given[..., GAP], given[..., PITCH]),
        )
        return logits, note_nll(logits, targets).sum(), hidden


class MelodyRNN(NoteModel):
    """Recurrent encoder and decoder (GRU or LSTM) with Luong attention from the decoder."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        e, h = config.embed_dim, config.hidden_size
        inter_layer_dropout = config.dropout if config.num_layers > 1 else 0.0
        recurrent = RECURRENT_CELLS[config.cell]
        self.encoder = recurrent(3 * e, h, config.num_layers, batch_first=True, dropout=inter_layer_dropout)
        self.decoder = recurrent(3 * e, h, config.num_layers, batch_first=True, dropout=inter_layer_dropout)
        self.attention = nn.Linear(h, h, bias=False)
        self.combine = nn.Linear(2 * h, h)

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> tuple[Memory, torch.Tensor]:
        packed = nn.utils.rnn.pack_padded_sequence(
            self.embed(source), lengths.cpu(), batch_first=True, enforce_sorted=False
        )
        states, hidden = self.encoder(packed)
        states, _ = nn.utils.rnn.pad_packed_sequence(states, batch_first=True, total_length=source.shape[1])
        return self.memory(source, lengths, states), hidden

    def decode(self, tokens: torch.Tensor, hidden: torch.Tensor, memory: Memory) -> tuple[torch.Tensor, torch.Tensor]:
        outputs, hidden = self.decoder(self.embed(tokens), hidden)
        scores = torch.einsum("bth,bsh->bts", self.attention(outputs), memory.states)
        scores = scores.masked_fill(~memory.mask[:, None, :], float("-inf"))
        context = torch.einsum("bts,bsh->bth", scores.softmax(dim=-1), memory.states)
        features = torch.tanh(self.combine(torch.cat([outputs, context], dim=-1)))
        return self.dropout(features), hidden


def positional_encoding(positions: torch.Tensor, size: int) -> torch.Tensor:
    """Sinusoidal position codes (..., size) of integer positions: any length, nothing to learn."""
    rates = torch.exp(torch.arange(0, size, 2, device=positions.device) * (-math.log(10_000.0) / size))
    angles = positions[..., None].float() * rates
    return torch.cat([angles.sin(), angles.cos()], dim=-1)


class DecoderState(NamedTuple):
    """A Transformer decoder's state between steps: each layer's self-attention keys and values of
    the notes so far, each layer's keys and values of the memory (computed once), and how many
    notes it has read."""

    cache: list[tuple[torch.Tensor, torch.Tensor] | None]  # per layer, (batch, heads, notes, head size)
    cross: list[tuple[torch.Tensor, torch.Tensor]]  # per layer, (batch, heads, input notes, head size)
    position: int


class DecoderLayer(nn.Module):
    """Pre-norm Transformer decoder layer (self-attention, attention to the memory, feed-forward)
    that keeps its self-attention keys and values, so decoding one note at a time costs one note."""

    def __init__(self, size: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout_p = heads, dropout
        self.norms = nn.ModuleList(nn.LayerNorm(size) for _ in range(3))
        self.self_qkv, self.self_out = nn.Linear(size, 3 * size), nn.Linear(size, size)
        self.cross_q, self.cross_kv, self.cross_out = nn.Linear(size, size), nn.Linear(size, 2 * size), nn.Linear(size, size)
        self.feed_forward = nn.Sequential(nn.Linear(size, 4 * size), nn.GELU(), nn.Linear(4 * size, size))
        self.dropout = nn.Dropout(dropout)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        return x.unflatten(-1, (self.heads, -1)).transpose(1, 2)  # (batch, heads, notes, head size)

    def memory_kv(self, states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return tuple(self.split(part) for part in self.cross_kv(states).chunk(2, dim=-1))

    def forward(self, x: torch.Tensor, cache, cross, memory_mask: torch.Tensor):
        dropout = self.dropout_p if self.training else 0.0
        q, k, v = (self.split(part) for part in self.self_qkv(self.norms[0](x)).chunk(3, dim=-1))
        if cache is not None:
            k, v = torch.cat([cache[0], k], dim=2), torch.cat([cache[1], v], dim=2)
        # Notes read together are causal among themselves; notes in the cache all came before.
        attended = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=cache is None and x.shape[1] > 1)
        x = x + self.dropout(self.self_out(attended.transpose(1, 2).flatten(2)))
        q = self.split(self.cross_q(self.norms[1](x)))
        attended = F.scaled_dot_product_attention(q, *cross, attn_mask=memory_mask[:, None, None, :], dropout_p=dropout)
        x = x + self.dropout(self.cross_out(attended.transpose(1, 2).flatten(2)))
        return x + self.dropout(self.feed_forward(self.norms[2](x))), (k, v)


class MelodyTransformer(NoteModel):
    """Attention only: a Transformer encoder over the input's notes and a causal Transformer
    decoder over the continuation, with sinusoidal positions and the same heads and copying."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        e, h = config.embed_dim, config.hidden_size
        self.source_projection, self.target_projection = nn.Linear(3 * e, h), nn.Linear(3 * e, h)
        layer = nn.TransformerEncoderLayer(h, config.heads, 4 * h, config.dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, config.num_layers, enable_nested_tensor=False)
        self.encoder_norm, self.decoder_norm = nn.LayerNorm(h), nn.LayerNorm(h)
        self.decoder = nn.ModuleList(DecoderLayer(h, config.heads, config.dropout) for _ in range(config.num_layers))

    def encode(self, source: torch.Tensor, lengths: torch.Tensor) -> tuple[Memory, DecoderState]:
        positions = torch.arange(source.shape[1], device=source.device)
        x = self.source_projection(self.embed(source)) + positional_encoding(positions, self.config.hidden_size)
        padding = positions[None, :] >= lengths[:, None]
        states = self.encoder_norm(self.encoder(self.dropout(x), src_key_padding_mask=padding))
        memory = self.memory(source, lengths, states)
        cross = [layer.memory_kv(states) for layer in self.decoder]
        return memory, DecoderState([None] * len(self.decoder), cross, 0)

    def decode(self, tokens: torch.Tensor, state: DecoderState, memory: Memory) -> tuple[torch.Tensor, DecoderState]:
        positions = torch.arange(state.position, state.position + tokens.shape[1], device=tokens.device)
        x = self.dropout(self.target_projection(self.embed(tokens)) + positional_encoding(positions, self.config.hidden_size))
        cache = []
        for layer, layer_cache, cross in zip(self.decoder, state.cache, state.cross):
            x, kept = layer(x, layer_cache, cross, memory.mask)
            cache.append(kept)
        return self.dropout(self.decoder_norm(x)), DecoderState(cache, state.cross, state.position + tokens.shape[1])


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
