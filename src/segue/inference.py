"""The trained network as float32 numpy arrays, for generating on a CPU at the speed of its arithmetic.

Training needs PyTorch (autograd, padded batches); writing one continuation does not. It is a few
tens of decoder steps on a batch of 1 to 32 rows, where PyTorch's per-operation dispatch and MKL's
small matrix-vector products cost more than the arithmetic itself (docs/benchmarks.md has the
figures). So the weights are copied once from a `MelodyRNN` and the same math runs in numpy, with
the work that does not depend on the step folded ahead of time:

- the first recurrent layer's input projection of each gap, pitch and duration embedding is a
  lookup table (encoder and decoder alike);
- attention keys are projected once per input, not once per step;
- the three output heads share one matrix product per step; what their embedding inputs add is a
  lookup table too.

tests/test_inference.py checks every output against the PyTorch module.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from .model import MelodyRNN
from .tokenizer import DURATION, GAP, PITCH

State = list[tuple[np.ndarray, ...]]  # per layer: (h,) for a GRU, (h, c) for an LSTM; each (batch, hidden)


def _array(tensor: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * np.tanh(0.5 * x) + 0.5


@dataclass(frozen=True)
class Layer:
    """One recurrent layer: its hidden-to-hidden product and, for layers above the first, its
    input projection (the first layer's is a lookup table)."""

    cell: str
    hidden_weight: np.ndarray  # (hidden, gates * hidden), transposed for row-vector products
    hidden_bias: np.ndarray  # (gates * hidden,)
    input_weight: np.ndarray  # (input, gates * hidden)
    input_bias: np.ndarray  # (gates * hidden,)

    def step(self, projected: np.ndarray, state: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """Advance one time step from the input's projection (batch, gates * hidden)."""
        hidden = state[0]
        recurrent = hidden @ self.hidden_weight + self.hidden_bias
        size = hidden.shape[-1]
        if self.cell == "gru":  # gates in PyTorch's order: reset, update, new
            reset_update = _sigmoid(projected[:, : 2 * size] + recurrent[:, : 2 * size])
            new = np.tanh(projected[:, 2 * size :] + reset_update[:, :size] * recurrent[:, 2 * size :])
            return (new + reset_update[:, size:] * (hidden - new),)
        gates = projected + recurrent  # LSTM, PyTorch's order: input, forget, cell, output
        input_forget = _sigmoid(gates[:, : 2 * size])
        cell = input_forget[:, size:] * state[1] + input_forget[:, :size] * np.tanh(gates[:, 2 * size : 3 * size])
        return _sigmoid(gates[:, 3 * size :]) * np.tanh(cell), cell

    def run(self, projected: np.ndarray, lengths: np.ndarray, state: tuple[np.ndarray, ...]):
        """Run over right-padded sequences of projected inputs (batch, steps, gates * hidden) ->
        outputs (batch, steps, hidden) and each row's state after its last real step."""
        outputs = np.zeros(projected.shape[:2] + (state[0].shape[-1],), np.float32)
        ragged = (lengths != lengths[0]).any()
        for t in range(projected.shape[1]):
            stepped = self.step(projected[:, t], state)
            if ragged:  # rows already at their end keep their final state
                going = (t < lengths)[:, None]
                stepped = tuple(np.where(going, new, old) for new, old in zip(stepped, state))
            state = stepped
            outputs[:, t] = state[0]
        return outputs, state


def _layers(module: torch.nn.Module, cell: str) -> list[Layer]:
    weights = {name: _array(value) for name, value in module.named_parameters()}
    return [
        Layer(cell, weights[f"weight_hh_l{i}"].T.copy(), weights[f"bias_hh_l{i}"],
              weights[f"weight_ih_l{i}"].T.copy(), weights[f"bias_ih_l{i}"])
        for i in range(module.num_layers)
    ]


@dataclass(frozen=True)
class Memory:
    """What the decoder attends to, one row per input: the encoder's states, their attention keys
    and which positions are real notes (inputs of different lengths are right-padded)."""

    states: np.ndarray  # (inputs, notes, hidden)
    keys: np.ndarray  # (inputs, notes, hidden): states projected by the attention matrix
    mask: np.ndarray  # (inputs, notes) bool

    @cached_property  # read at every decoder step
    def padded(self) -> bool:
        return not self.mask.all()

    def rows(self, inputs: np.ndarray) -> Memory:
        """The memory of input inputs[i] for decoder row i; rows that all read one input share
        a single memory row, which `decode` serves with one matrix product."""
        if (inputs == inputs[0]).all():
            inputs = inputs[:1]
        return Memory(self.states[inputs], self.keys[inputs], self.mask[inputs])


class InferenceModel:
    """A MelodyRNN's forward pass in numpy, for sampling. Same outputs, in eval mode (no dropout)."""

    def __init__(self, model: MelodyRNN) -> None:
        config = model.config
        self.n_time_bins, self.n_pitches = config.n_time_bins, config.n_pitches
        embeddings = [_array(model.gap_embedding.weight), _array(model.pitch_embedding.weight),
                      _array(model.duration_embedding.weight)]
        self.encoder = _layers(model.encoder, config.cell)
        self.decoder = _layers(model.decoder, config.cell)
        self.encoder_tables = self._input_tables(self.encoder[0], embeddings)
        self.decoder_tables = self._input_tables(self.decoder[0], embeddings)
        self.attention = _array(model.attention.weight)  # (hidden, hidden)
        combine = _array(model.combine.weight)  # (hidden, 2 * hidden): [outputs, context]
        h = config.hidden_size
        self.combine_output, self.combine_context = combine[:, :h].T.copy(), combine[:, h:].T.copy()
        self.combine_bias = _array(model.combine.bias)
        # One product gives every head's share from the features; the rest comes from tables.
        gap_head, pitch_head, duration_head = (_array(m.weight) for m in (model.gap_head, model.pitch_head, model.duration_head))
        self.head_weight = np.concatenate([gap_head, pitch_head[:, :h], duration_head[:, :h]]).T.copy()
        self.head_bias = np.concatenate([_array(model.gap_head.bias), _array(model.pitch_head.bias),
                                         _array(model.duration_head.bias)])
        gap_embedding, pitch_embedding = embeddings[0], embeddings[1]
        e = config.embed_dim
        self.pitch_given_gap = gap_embedding @ pitch_head[:, h:].T  # (time bins, pitches)
        self.duration_given_gap = gap_embedding @ duration_head[:, h : h + e].T  # (time bins, time bins)
        self.duration_given_pitch = pitch_embedding @ duration_head[:, h + e :].T  # (pitches, time bins)

    @staticmethod
    def _input_tables(first: Layer, embeddings: list[np.ndarray]) -> list[np.ndarray]:
        """Each field's embedding times its slice of the first layer's input weights; the bias
        rides on the gap table, as every note has exactly one gap."""
        tables, row = [], 0
        for embedding in embeddings:
            tables.append(embedding @ first.input_weight[row : row + embedding.shape[1]])
            row += embedding.shape[1]
        tables[0] += first.input_bias
        return tables

    @staticmethod
    def _project(tables: list[np.ndarray], tokens: np.ndarray) -> np.ndarray:
        return tables[0][tokens[..., GAP]] + tables[1][tokens[..., PITCH]] + tables[2][tokens[..., DURATION]]

    def initial_state(self, layers: list[Layer], batch: int) -> State:
        size = layers[0].hidden_weight.shape[0]
        count = 1 if layers[0].cell == "gru" else 2
        return [tuple(np.zeros((batch, size), np.float32) for _ in range(count)) for _ in layers]

    def encode(self, sources: list[np.ndarray]) -> tuple[Memory, State]:
        """Inputs' tokens, each (notes >= 1, 3) -> memory and the decoder's start state, a row each."""
        lengths = np.array([len(source) for source in sources])
        padded = np.zeros((len(sources), lengths.max(), 3), np.int64)
        for row, source in zip(padded, sources):
            row[: len(source)] = source
        state = self.initial_state(self.encoder, len(sources))
        projected = self._project(self.encoder_tables, padded)
        final = []
        for index, layer in enumerate(self.encoder):
            if index:
                projected = outputs @ layer.input_weight + layer.input_bias
            outputs, last = layer.run(projected, lengths, state[index])
            final.append(last)
        mask = np.arange(padded.shape[1]) < lengths[:, None]
        return Memory(outputs, outputs @ self.attention, mask), final

    @staticmethod
    def select(state: State, rows: np.ndarray) -> State:
        """The state of row rows[i] in row i (variations repeat their input's row)."""
        return [tuple(part[rows] for part in layer) for layer in state]

    def decode(self, tokens: np.ndarray, state: State, memory: Memory) -> tuple[np.ndarray, State]:
        """One decoder step from the previous notes (batch, 3), with each row's memory -> head
        inputs (batch, heads), new state. Pass the head inputs to gap_logits, pitch_logits and
        duration_logits in turn."""
        projected = self._project(self.decoder_tables, tokens)
        new_state = []
        for index, layer in enumerate(self.decoder):
            if index:
                projected = output @ layer.input_weight + layer.input_bias
            layer_state = layer.step(projected, state[index])
            new_state.append(layer_state)
            output = layer_state[0]
        shared = len(memory.keys) == 1
        scores = output @ memory.keys[0].T if shared else np.matmul(memory.keys, output[:, :, None])[:, :, 0]
        if memory.padded:
            scores = np.where(memory.mask, scores, -np.inf)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        context = weights @ memory.states[0] if shared else np.matmul(weights[:, None, :], memory.states)[:, 0]
        features = np.tanh(output @ self.combine_output + context @ self.combine_context + self.combine_bias)
        return features @ self.head_weight + self.head_bias, new_state

    def gap_logits(self, heads: np.ndarray) -> np.ndarray:
        return heads[:, : self.n_time_bins]

    def pitch_logits(self, heads: np.ndarray, gap: np.ndarray) -> np.ndarray:
        return heads[:, self.n_time_bins : self.n_time_bins + self.n_pitches] + self.pitch_given_gap[gap]

    def duration_logits(self, heads: np.ndarray, gap: np.ndarray, pitch: np.ndarray) -> np.ndarray:
        share = heads[:, self.n_time_bins + self.n_pitches :]
        return share + self.duration_given_gap[gap] + self.duration_given_pitch[pitch]
