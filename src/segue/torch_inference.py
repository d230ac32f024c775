"""PyTorch's side of generation: the numpy port of a trained `MelodyRNN`, and a Transformer (which
has no port) run one step at a time through PyTorch behind the same interface. Training and
evaluation use this; serving and `segue extend` read a model file (`modelfile.py`) instead."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch

from .inference import InferenceModel, right_padded
from .model import DecoderState, MelodyRNN, MelodyTransformer, NoteModel
from .model import Memory as ModelMemory
from .tokenizer import PITCH


def parameters(model: torch.nn.Module) -> dict[str, np.ndarray]:
    """A module's parameters by name, as float32 arrays."""
    return {name: np.ascontiguousarray(tensor.detach().cpu().numpy(), dtype=np.float32)
            for name, tensor in model.state_dict().items()}


def numpy_port(model: MelodyRNN) -> InferenceModel:
    return InferenceModel(model.config, parameters(model))


class TorchInference:
    """A network without a numpy port (the Transformer, compared by `segue evaluate`, not shipped),
    run one step at a time through PyTorch behind InferenceModel's interface, so that `generate`
    samples from it in the same way."""

    def __init__(self, model: MelodyTransformer) -> None:
        self.model = model.eval()

    @torch.inference_mode()
    def encode(self, sources: list[np.ndarray]) -> tuple[TorchMemory, DecoderState]:
        padded, lengths = right_padded(sources)
        memory, state = self.model.encode(torch.from_numpy(padded), torch.from_numpy(lengths))
        return TorchMemory(memory), state

    @staticmethod
    def select(state: DecoderState, rows: np.ndarray) -> DecoderState:
        index = torch.from_numpy(rows)
        pick = lambda pair: None if pair is None else (pair[0][index], pair[1][index])  # noqa: E731
        return DecoderState([pick(c) for c in state.cache], [pick(c) for c in state.cross], state.position)

    @torch.inference_mode()
    def decode(self, tokens: np.ndarray, state: DecoderState, memory: TorchMemory) -> tuple[TorchStep, DecoderState]:
        steps = torch.from_numpy(np.ascontiguousarray(tokens))
        features, state = self.model.decode(steps[:, None], state, memory.memory)
        return TorchStep(features, steps[:, None, PITCH], memory.memory), state

    @torch.inference_mode()
    def gap_logits(self, step: TorchStep) -> np.ndarray:
        return self.model.gap_logits(step.features)[:, 0].numpy()

    @torch.inference_mode()
    def pitch_probabilities(self, step: TorchStep, gap: np.ndarray) -> np.ndarray:
        gap = torch.from_numpy(gap)[:, None]
        logits = self.model.pitch_logits(step.features, gap, step.memory, step.previous_pitch)[:, 0]
        return np.maximum(torch.softmax(logits.double(), dim=-1).numpy(), 1e-30)

    @torch.inference_mode()
    def duration_logits(self, step: TorchStep, gap: np.ndarray, pitch: np.ndarray) -> np.ndarray:
        return self.model.duration_logits(step.features, torch.from_numpy(gap)[:, None],
                                          torch.from_numpy(pitch)[:, None])[:, 0].numpy()


@dataclass(frozen=True)
class TorchMemory:
    memory: ModelMemory

    def rows(self, inputs: np.ndarray) -> TorchMemory:
        index = torch.from_numpy(inputs)
        return TorchMemory(ModelMemory(*(None if field is None else field[index] for field in self.memory)))


class TorchStep(NamedTuple):
    features: torch.Tensor  # (batch, 1, hidden)
    previous_pitch: torch.Tensor  # (batch, 1)
    memory: ModelMemory


def inference_model(model: NoteModel) -> InferenceModel | TorchInference:
    """The fastest way this process has to run `model` one note at a time."""
    return numpy_port(model) if isinstance(model, MelodyRNN) else TorchInference(model)
