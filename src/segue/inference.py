"""The trained network as float32 numpy arrays, for generating on a CPU at the speed of its arithmetic.

Training needs PyTorch (autograd, padded batches); writing one continuation does not. It is a few
tens of decoder steps on a batch of 1 to 32 rows, where PyTorch's per-operation dispatch and MKL's
small matrix-vector products cost more than the arithmetic itself (docs/benchmarks.md has the
figures). So the weights are copied once from a `MelodyRNN` (`torch_inference.numpy_port`, or a
model file: `modelfile.py`) and the same math runs in numpy, without PyTorch, with
the work that does not depend on the step folded ahead of time (a parameter the port does not
read is refused, so nothing of the trained network is silently left out):

- the first recurrent layer's input projection of each gap, pitch and duration embedding is a
  lookup table (encoder and decoder alike);
- attention keys are projected once per input, not once per step;
- the three output heads (and the copy gate) share one matrix product per step; what their
  embedding inputs add is a lookup table too;
- copying's pointer scores are one product of the features with keys folded through the query
  weights, plus a table by gap, both made once per input; so are the pitches each input note
  proposes (for "copy the step", one row per previous pitch), and one bincount sums the weights.

tests/test_inference.py checks every output against the PyTorch module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numpy as np

from .config import ModelConfig
from .sampling import softmax
from .tokenizer import DURATION, GAP, N_PITCHES, PITCH

State = list[tuple[np.ndarray, ...]]  # per layer: (h,) for a GRU, (h, c) for an LSTM; each (batch, hidden)


def right_padded(sources: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Inputs' tokens, each (notes >= 1, 3) -> one right-padded array (inputs, notes, 3), lengths."""
    lengths = np.array([len(source) for source in sources])
    padded = np.zeros((len(sources), lengths.max(), 3), np.int64)
    for row, source in zip(padded, sources):
        row[: len(source)] = source
    return padded, lengths


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


def _layers(weights: _Weights, prefix: str, cell: str, count: int) -> list[Layer]:
    return [
        Layer(cell, weights[f"{prefix}.weight_hh_l{i}"].T.copy(), weights[f"{prefix}.bias_hh_l{i}"],
              weights[f"{prefix}.weight_ih_l{i}"].T.copy(), weights[f"{prefix}.bias_ih_l{i}"])
        for i in range(count)
    ]


class _Weights:
    """A network's parameters by name, as float32 arrays, noting which were read: a parameter the
    port never reads would be a part of the network it leaves out."""

    def __init__(self, arrays: Mapping[str, np.ndarray]) -> None:
        self.arrays = {name: np.ascontiguousarray(array, dtype=np.float32) for name, array in arrays.items()}
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> np.ndarray:
        self.read.add(name)
        return self.arrays[name]

    def check_all_read(self) -> None:
        unread = sorted(set(self.arrays) - self.read)
        if unread:
            raise ValueError(f"the numpy network does not use the parameters {', '.join(unread)}: it would compute "
                             "something else than the trained one")


@dataclass(frozen=True)
class Memory:
    """What the decoder attends to, one row per input: the encoder's states, their attention keys
    and which positions are real notes (inputs of different lengths are right-padded); for copying,
    what each note's pointer score takes from the features and from the gap, and the pitches it
    proposes (a note without a successor proposes the discard pitch N_PITCHES)."""

    states: np.ndarray  # (inputs, notes, hidden)
    keys: np.ndarray  # (inputs, notes, hidden): states projected by the attention matrix
    mask: np.ndarray  # (inputs, notes) bool
    copy_keys: np.ndarray | None = None  # (inputs, notes, hidden): scores = features @ keys.T + ...
    copy_by_gap: np.ndarray | None = None  # (inputs, time bins, notes): ... + this row of the gap (-1e30: nothing to copy)
    proposals: np.ndarray | None = None  # (inputs, previous pitch, 2 * notes): what each note proposes, for
    # "copy the pitch" (the pitch of the note after it) then "copy the step" (the previous pitch
    # plus the step to the note after it); N_PITCHES where it proposes nothing

    @cached_property  # read at every decoder step
    def padded(self) -> bool:
        return not self.mask.all()

    @property
    def shared(self) -> bool:
        """One memory row serves every decoder row."""
        return len(self.keys) == 1

    def rows(self, inputs: np.ndarray) -> Memory:
        """The memory of input inputs[i] for decoder row i; rows that all read one input share
        a single memory row, which `decode` serves with one matrix product."""
        if (inputs == inputs[0]).all():
            inputs = inputs[:1]
        return Memory(*(None if field is None else field[inputs] for field in
                        (self.states, self.keys, self.mask, self.copy_keys, self.copy_by_gap, self.proposals)))

    def attend(self, queries: np.ndarray) -> np.ndarray:
        """Attention context (batch, hidden) of each query row (batch, hidden) over its memory row."""
        scores = queries @ self.keys[0].T if self.shared else np.matmul(self.keys, queries[:, :, None])[:, :, 0]
        if self.padded:
            scores = np.where(self.mask, scores, -np.inf)
        weights = softmax(scores)
        return weights @ self.states[0] if self.shared else np.matmul(weights[:, None, :], self.states)[:, 0]


class Step(NamedTuple):
    """One decoder step's outputs for the heads: the fused head product, and what the pitch's
    copy pointers need."""

    heads: np.ndarray  # (batch, heads)
    features: np.ndarray  # (batch, hidden)
    previous_pitch: np.ndarray  # (batch,)
    memory: Memory


class InferenceModel:
    """A MelodyRNN's forward pass in numpy, for sampling. Same outputs, in eval mode (no dropout).
    Built from the config and the parameters by name (a state dict's names); refuses parameters
    it would not use."""

    def __init__(self, config: ModelConfig, parameters: Mapping[str, np.ndarray]) -> None:
        weights = _Weights(parameters)
        self.n_time_bins, self.n_pitches = config.n_time_bins, config.n_pitches
        embeddings = [weights["gap_embedding.weight"], weights["pitch_embedding.weight"],
                      weights["duration_embedding.weight"]]
        self.encoder = _layers(weights, "encoder", config.cell, config.num_layers)
        self.decoder = _layers(weights, "decoder", config.cell, config.num_layers)
        self.encoder_tables = self._input_tables(self.encoder[0], embeddings)
        self.decoder_tables = self._input_tables(self.decoder[0], embeddings)
        self.attention = weights["attention.weight"]  # (hidden, hidden)
        combine = weights["combine.weight"]  # (hidden, 2 * hidden): [outputs, context]
        h = config.hidden_size
        self.combine_output, self.combine_context = combine[:, :h].T.copy(), combine[:, h:].T.copy()
        self.combine_bias = weights["combine.bias"]
        # One product gives every head's share from the features; the rest comes from tables.
        gap_head, pitch_head, duration_head = (weights[f"{name}.weight"] for name in ("gap_head", "pitch_head", "duration_head"))
        heads = [gap_head, pitch_head[:, :h], duration_head[:, :h]]
        biases = [weights["gap_head.bias"], weights["pitch_head.bias"], weights["duration_head.bias"]]
        gap_embedding, pitch_embedding = embeddings[0], embeddings[1]
        e = config.embed_dim
        self.pitch_given_gap = gap_embedding @ pitch_head[:, h:].T  # (time bins, pitches)
        self.duration_given_gap = gap_embedding @ duration_head[:, h : h + e].T  # (time bins, time bins)
        self.duration_given_pitch = pitch_embedding @ duration_head[:, h + e :].T  # (pitches, time bins)
        self.copy = config.copy
        if self.copy:
            query, gate = weights["copy_query.weight"], weights["copy_gate.weight"]
            heads.append(gate[:, :h])
            biases.append(weights["copy_gate.bias"])
            self.query_features = query[:, :h]  # (hidden, hidden): keys @ this meet the features
            self.query_given_gap = gap_embedding @ query[:, h:].T  # (time bins, hidden)
            self.gate_given_gap = gap_embedding @ gate[:, h:].T  # (time bins, 3)
            key = weights["copy_key.weight"]
            self.copy_key_state, self.copy_key_gap = key[:, :h].T.copy(), gap_embedding @ key[:, h:].T
        self.head_weight = np.concatenate(heads).T.copy()
        self.head_bias = np.concatenate(biases)
        weights.check_all_read()

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
        padded, lengths = right_padded(sources)
        state = self.initial_state(self.encoder, len(sources))
        projected = self._project(self.encoder_tables, padded)
        final = []
        for index, layer in enumerate(self.encoder):
            if index:
                projected = outputs @ layer.input_weight + layer.input_bias
            outputs, last = layer.run(projected, lengths, state[index])
            final.append(last)
        positions = np.arange(padded.shape[1])
        mask = positions < lengths[:, None]
        if not self.copy:
            return Memory(outputs, outputs @ self.attention, mask), final
        following = np.roll(padded, -1, axis=1)  # note i+1 at position i; the last has none
        keys = outputs @ self.copy_key_state + self.copy_key_gap[following[..., GAP]]
        copying = positions < lengths[:, None] - 1
        next_pitch = np.where(copying, following[..., PITCH], N_PITCHES)
        stepped = np.arange(N_PITCHES)[None, :, None] + (following[..., PITCH] - padded[..., PITCH])[:, None, :]
        stepped = np.where(copying[:, None, :] & (stepped >= 0) & (stepped < N_PITCHES), stepped, N_PITCHES)
        proposals = np.concatenate([np.broadcast_to(next_pitch[:, None, :], stepped.shape), stepped], axis=2)
        by_gap = self.query_given_gap @ keys.transpose(0, 2, 1) + np.where(copying, 0, -1e30)[:, None, :]
        return Memory(outputs, outputs @ self.attention, mask, keys @ self.query_features, by_gap.astype(np.float32),
                      proposals), final

    @staticmethod
    def select(state: State, rows: np.ndarray) -> State:
        """The state of row rows[i] in row i (variations repeat their input's row)."""
        return [tuple(part[rows] for part in layer) for layer in state]

    def decode(self, tokens: np.ndarray, state: State, memory: Memory) -> tuple[Step, State]:
        """One decoder step from the previous notes (batch, 3), with each row's memory -> the
        step's head outputs, new state. Pass the step to gap_logits, pitch_probabilities and
        duration_logits in turn."""
        projected = self._project(self.decoder_tables, tokens)
        new_state = []
        for index, layer in enumerate(self.decoder):
            if index:
                projected = output @ layer.input_weight + layer.input_bias
            layer_state = layer.step(projected, state[index])
            new_state.append(layer_state)
            output = layer_state[0]
        context = memory.attend(output)
        features = np.tanh(output @ self.combine_output + context @ self.combine_context + self.combine_bias)
        return Step(features @ self.head_weight + self.head_bias, features, tokens[:, PITCH], memory), new_state

    def gap_logits(self, step: Step) -> np.ndarray:
        return step.heads[:, : self.n_time_bins]

    def pitch_probabilities(self, step: Step, gap: np.ndarray) -> np.ndarray:
        """P(pitch | the gap), each row summing to 1; with copying, the gate's mixture of the
        generated distribution and the pointers'. Every pitch keeps at least 1e-30 (before
        normalizing), so a scale mask always leaves something to draw."""
        start = self.n_time_bins
        logits = step.heads[:, start : start + self.n_pitches] + self.pitch_given_gap[gap]
        if not self.copy:
            return np.maximum(softmax(logits), 1e-30)
        gate = step.heads[:, start + self.n_pitches + self.n_time_bins :] + self.gate_given_gap[gap]
        memory = step.memory
        if memory.shared:
            scores = step.features @ memory.copy_keys[0].T + memory.copy_by_gap[0, gap]
            proposed = memory.proposals[0, step.previous_pitch]
        else:
            rows = np.arange(len(gap))
            scores = np.matmul(memory.copy_keys, step.features[:, :, None])[:, :, 0] + memory.copy_by_gap[rows, gap]
            proposed = memory.proposals[rows, step.previous_pitch]
        # The mixture up to a factor per row (the gate's softmax sum), normalized at the end:
        # gate_k * each part's softmax, the pointers' weights summed per proposed pitch in one
        # bincount over (row, pitch), with a discard pitch N_PITCHES for what points at nothing.
        generated = np.exp(logits - logits.max(axis=1, keepdims=True))
        pointer = np.exp(scores - scores.max(axis=1, keepdims=True))
        gate = np.exp(gate - gate.max(axis=1, keepdims=True))
        share = gate[:, 1:] / pointer.sum(axis=1, keepdims=True)
        width = N_PITCHES + 1
        if len(gap) > 1:
            proposed = proposed + np.arange(0, len(gap) * width, width)[:, None]
        pointed = np.bincount(proposed.ravel(), (share[:, :, None] * pointer[:, None, :]).ravel(), len(gap) * width)
        mixture = generated * (gate[:, :1] / generated.sum(axis=1, keepdims=True)) + pointed.reshape(-1, width)[:, :N_PITCHES]
        mixture = np.maximum(mixture, 1e-30)
        return mixture / mixture.sum(axis=1, keepdims=True)

    def duration_logits(self, step: Step, gap: np.ndarray, pitch: np.ndarray) -> np.ndarray:
        start = self.n_time_bins + self.n_pitches
        share = step.heads[:, start : start + self.n_time_bins]
        return share + self.duration_given_gap[gap] + self.duration_given_pitch[pitch]
