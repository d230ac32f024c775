"""Checkpoints: weights plus the configs that rebuild the model and tokenizer, the data split's
identity and the training metrics, as training writes and reads them (`segue train --resume/--init`,
`segue evaluate`, `segue fit-mixture`). Loaded with `torch.load(weights_only=True)`, so a checkpoint
can hold only tensors and plain data, never code. A model file (`modelfile.py`, no PyTorch) is made
from one by `export_model`; `load_checkpoint` reads model files too."""

from __future__ import annotations

import io
import os
import pickle
import zipfile
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import torch

from .errors import first_line
from .files import replaced_atomically
from .inference import InferenceModel
from .markov import PitchMixture
from .model import ModelConfig, NoteModel, build_model
from .modelfile import (DEFAULT_MODEL, CheckpointError, Model, compact, read_model_file, update_checksum,
                        verified_bytes, write_model)
from .modelfile import weights_digest as array_digest
from .tokenizer import Tokenizer, TokenizerConfig
from .torch_inference import TorchInference, inference_model, parameters

FORMAT = "segue-checkpoint/1"


@dataclass
class Checkpoint:
    model: NoteModel
    tokenizer: Tokenizer
    name: str = "segue-gru"
    data: dict = field(default_factory=dict)  # the data split's identity and size
    metrics: dict = field(default_factory=dict)  # training history and best validation loss
    train_config: dict = field(default_factory=dict)
    mixture: PitchMixture | None = None  # the pitch mixture fitted to this network (`segue fit-mixture`)

    @cached_property
    def inference(self) -> InferenceModel | TorchInference:
        """The network as generation runs it (numpy; PyTorch for a Transformer), built on first
        use: a loaded checkpoint's weights do not change."""
        return inference_model(self.model)


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike) -> None:
    """Write atomically: a crash mid-save never leaves a broken file at `path`."""
    path = Path(path)
    payload = {
        "format": FORMAT,
        "name": checkpoint.name,
        "model_config": asdict(checkpoint.model.config),
        "tokenizer_config": asdict(checkpoint.tokenizer.config),
        "state_dict": {k: v.detach().cpu().clone() for k, v in checkpoint.model.state_dict().items()},
        "data": checkpoint.data,
        "metrics": checkpoint.metrics,
        "train_config": checkpoint.train_config,
    }
    if checkpoint.mixture is not None:
        payload["pitch_mixture"] = {name: torch.from_numpy(compact(array)) for name, array in checkpoint.mixture.to_arrays().items()}
    with replaced_atomically(path) as temporary:
        torch.save(payload, temporary)
    update_checksum(path)


def export_model(checkpoint: Checkpoint, path: str | os.PathLike) -> None:
    """Write the checkpoint's network as a model file (`modelfile.py`), for generating without PyTorch."""
    if checkpoint.model.config.cell == "transformer":
        raise CheckpointError("a Transformer runs only through PyTorch: use its checkpoint (.pt)")
    write_model(path, checkpoint.name, checkpoint.model.config, checkpoint.tokenizer, parameters(checkpoint.model),
                checkpoint.mixture, checkpoint.data, checkpoint.metrics)


def as_model(checkpoint: Checkpoint) -> Model:
    """The checkpoint as generation and the server use it."""
    model = checkpoint.model
    return Model(checkpoint.name, model.config, checkpoint.tokenizer, checkpoint.inference, weights_digest(model),
                 sum(p.numel() for p in model.parameters()), checkpoint.mixture, checkpoint.data, checkpoint.metrics)


def load_checkpoint(path: str | os.PathLike = DEFAULT_MODEL) -> Checkpoint:
    """A training checkpoint (.pt), or a model file (.npz) as one (its network rebuilt in PyTorch)."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return _from_model_file(path)
    data = verified_bytes(path)  # once: checked against its checksum, then loaded
    try:
        payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, zipfile.BadZipFile, RuntimeError, EOFError, ValueError, OSError) as error:
        raise CheckpointError(f"{path} is not a readable Segue checkpoint: {first_line(error)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a Segue checkpoint (expected format {FORMAT})")
    try:
        # Checkpoints made before tempo scaling and copying name neither: they read played seconds
        # and have no copy weights.
        tokenizer = Tokenizer(TokenizerConfig(**{"pulse": None, **payload["tokenizer_config"]}))
        model = build_model(ModelConfig(**{"copy": False, **payload["model_config"]}))
        model.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"{path} does not match this version of Segue: {first_line(error)}") from None
    if model.config.n_time_bins != tokenizer.n_time_bins:
        raise CheckpointError(f"{path}: model and tokenizer disagree on the number of time bins")
    mixture = None
    if "pitch_mixture" in payload:
        try:
            mixture = PitchMixture.from_arrays({name: t.numpy() for name, t in payload["pitch_mixture"].items()})
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
            raise CheckpointError(f"{path} has an unreadable pitch mixture: {first_line(error)}") from None
    model.eval()
    return Checkpoint(
        model, tokenizer, payload.get("name", path.stem), payload.get("data", {}), payload.get("metrics", {}),
        payload.get("train_config", {}), mixture,
    )


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of the weights, in a fixed order: names the model version whatever file holds it."""
    return array_digest(parameters(model))


def _from_model_file(path: Path) -> Checkpoint:
    file = read_model_file(path)
    model = build_model(file.config)
    try:
        model.load_state_dict({name: torch.from_numpy(array.copy()) for name, array in file.parameters.items()})
    except RuntimeError as error:
        raise CheckpointError(f"{path} does not match this version of Segue: {first_line(error)}") from None
    return Checkpoint(model.eval(), file.tokenizer, file.name, file.data, file.metrics, {}, file.mixture)
