"""Checkpoints: weights plus the configs that rebuild the model and tokenizer, the data split's
identity and the training metrics. Loaded with `torch.load(weights_only=True)`, so a checkpoint
can hold only tensors and plain data, never code."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch

from .errors import first_line
from .files import replaced_atomically, write_atomically
from .inference import InferenceModel, TorchInference, inference_model
from .markov import PitchMixture
from .model import ModelConfig, NoteModel, build_model
from .tokenizer import Tokenizer, TokenizerConfig

FORMAT = "segue-checkpoint/1"
# Beside checkpoints, in `sha256sum` format: the shipped models are checked against it on every
# load (`sha256sum -c SHA256SUMS` checks them by hand), and saving over a listed file updates it.
CHECKSUMS = "SHA256SUMS"
DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "models" / "segue-gru.pt"


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded; the message says why, in one line."""


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
        payload["pitch_mixture"] = {name: torch.from_numpy(_compact(array)) for name, array in checkpoint.mixture.to_arrays().items()}
    with replaced_atomically(path) as temporary:
        torch.save(payload, temporary)
    sums = _checksums(path)
    if path.name in sums:
        sums[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        write_atomically(path.parent / CHECKSUMS, "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items())))


def load_checkpoint(path: str | os.PathLike = DEFAULT_CHECKPOINT) -> Checkpoint:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    data = path.read_bytes()  # once: checked against its checksum, then loaded
    expected = _checksums(path).get(path.name)
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise CheckpointError(f"{path} does not match its checksum in {path.parent / CHECKSUMS}: the file is corrupt "
                              "or was replaced (restore it, e.g. with git checkout)")
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
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _compact(array: np.ndarray) -> np.ndarray:
    """Counts and indices in the smallest integer type that holds them: a third of the file."""
    if array.dtype.kind == "i":
        for kind in (np.int16, np.int32):
            if not array.size or np.iinfo(kind).min <= array.min() and array.max() <= np.iinfo(kind).max:
                return array.astype(kind)
    return array


def _checksums(path: Path) -> dict[str, str]:
    """File name -> SHA-256 hex digest, from the SHA256SUMS beside `path` (empty if none)."""
    sums = path.parent / CHECKSUMS
    if not sums.is_file():
        return {}
    entries = (line.split(maxsplit=1) for line in sums.read_text().splitlines())
    return {entry[1].strip().lstrip("*"): entry[0].lower() for entry in entries if len(entry) == 2}


