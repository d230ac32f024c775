"""Model files: a trained network as plain arrays, for generating without PyTorch.

A model file (`.npz`) holds what generation needs: one JSON document (the model and tokenizer
configs, the name, the data split's identity and the training metrics) and the network's
parameters and pitch mixture as arrays. It is read with `numpy.load(allow_pickle=False)`, so it can
hold no code, and needs no PyTorch: `segue extend`, `segue serve` and `segue play` read it.
`segue export` writes one from a training checkpoint (`.pt`, which `segue train --resume/--init`
keeps using); the shipped model is one, inside the package, checked against the SHA256SUMS beside
it on every load. A `.pt` checkpoint still works everywhere where PyTorch is installed.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from .config import ModelConfig
from .errors import first_line
from .files import replaced_atomically, write_atomically
from .inference import InferenceModel
from .markov import PitchMixture
from .tokenizer import Tokenizer, TokenizerConfig

FORMAT = "segue-model/1"
# Beside model files and checkpoints, in `sha256sum` format: the shipped models are checked against
# it on every load (`sha256sum -c SHA256SUMS` checks them by hand), and saving over a listed file
# updates it.
CHECKSUMS = "SHA256SUMS"
DEFAULT_MODEL = Path(str(resources.files("segue") / "models" / "segue-gru.npz"))
PARAMETER, MIXTURE = "parameter/", "mixture/"


class CheckpointError(ValueError):
    """A model file or checkpoint that cannot be loaded; the message says why, in one line."""


@dataclass
class Model:
    """A trained network ready to generate: what `generate.extend` and the server use."""

    name: str
    config: ModelConfig
    tokenizer: Tokenizer
    inference: Any  # InferenceModel; a Transformer (evaluation only) runs as torch_inference.TorchInference
    digest: str  # SHA-256 of the parameters (`weights_digest`): names the model version
    parameter_count: int
    mixture: PitchMixture | None = None  # the pitch mixture fitted to this network
    data: dict = field(default_factory=dict)  # the data split's identity and size
    metrics: dict = field(default_factory=dict)  # training history and best validation loss


def weights_digest(parameters: Mapping[str, np.ndarray]) -> str:
    """SHA-256 of the parameters, in name order: the same for a checkpoint and its model file."""
    digest = hashlib.sha256()
    for name in sorted(parameters):
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(parameters[name]).tobytes())
    return digest.hexdigest()


def compact(array: np.ndarray) -> np.ndarray:
    """Counts and indices in the smallest integer type that holds them: a third of the file."""
    if array.dtype.kind == "i":
        for kind in (np.int16, np.int32):
            if not array.size or np.iinfo(kind).min <= array.min() and array.max() <= np.iinfo(kind).max:
                return array.astype(kind)
    return array


def write_model(path: str | os.PathLike, name: str, config: ModelConfig, tokenizer: Tokenizer,
                parameters: Mapping[str, np.ndarray], mixture: PitchMixture | None = None,
                data: dict | None = None, metrics: dict | None = None) -> None:
    """Write a model file atomically; a listed one's checksum is updated."""
    InferenceModel(config, parameters)  # refuses a network generation could not run
    document = {"format": FORMAT, "name": name, "model_config": asdict(config),
                "tokenizer_config": asdict(tokenizer.config), "data": data or {}, "metrics": metrics or {}}
    arrays = {"meta": np.array(json.dumps(document)),
              **{PARAMETER + key: np.asarray(value, np.float32) for key, value in parameters.items()},
              **({} if mixture is None else {MIXTURE + key: compact(value) for key, value in mixture.to_arrays().items()})}
    path = Path(path)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with replaced_atomically(path) as temporary:
        temporary.write_bytes(buffer.getvalue())
    update_checksum(path)


@dataclass
class ModelFile:
    """What a model file holds, checked and rebuilt."""

    name: str
    config: ModelConfig
    tokenizer: Tokenizer
    parameters: dict[str, np.ndarray]
    mixture: PitchMixture | None
    data: dict
    metrics: dict


def read_model_file(path: str | os.PathLike) -> ModelFile:
    path = Path(path)
    data = verified_bytes(path)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
        document = json.loads(str(arrays.pop("meta")))
    except (zipfile.BadZipFile, ValueError, KeyError, OSError, EOFError) as error:
        raise CheckpointError(f"{path} is not a readable Segue model file: {first_line(error)}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a Segue model file (expected format {FORMAT})")
    parameters = {key.removeprefix(PARAMETER): value for key, value in arrays.items() if key.startswith(PARAMETER)}
    mixture_arrays = {key.removeprefix(MIXTURE): value for key, value in arrays.items() if key.startswith(MIXTURE)}
    try:
        config = ModelConfig(**document["model_config"])
        tokenizer = Tokenizer(TokenizerConfig(**document["tokenizer_config"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"{path} does not match this version of Segue: {first_line(error)}") from None
    if config.n_time_bins != tokenizer.n_time_bins:
        raise CheckpointError(f"{path}: model and tokenizer disagree on the number of time bins")
    try:
        mixture = PitchMixture.from_arrays(mixture_arrays) if mixture_arrays else None
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise CheckpointError(f"{path} has an unreadable pitch mixture: {first_line(error)}") from None
    return ModelFile(document.get("name", path.stem), config, tokenizer, parameters, mixture, document.get("data", {}),
                     document.get("metrics", {}))


def read_model(path: str | os.PathLike = DEFAULT_MODEL) -> Model:
    """A model file, ready to generate."""
    file = read_model_file(path)
    try:
        inference = InferenceModel(file.config, file.parameters)
    except (KeyError, ValueError) as error:
        raise CheckpointError(f"{path} does not match this version of Segue: {first_line(error)}") from None
    return Model(file.name, file.config, file.tokenizer, inference, weights_digest(file.parameters),
                 sum(p.size for p in file.parameters.values()), file.mixture, file.data, file.metrics)


def load_model(path: str | os.PathLike = DEFAULT_MODEL) -> Model:
    """A model file (.npz); or a training checkpoint (.pt), which needs PyTorch."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        return read_model(path)
    try:
        from .checkpoint import as_model, load_checkpoint
    except ImportError:
        raise CheckpointError(f"{path} is a PyTorch checkpoint: reading it needs PyTorch (pip install 'segue[train]'), "
                              "or a model file made from it by `segue export`") from None
    return as_model(load_checkpoint(path))


def verified_bytes(path: Path) -> bytes:
    """The file's bytes, read once and checked against its checksum if SHA256SUMS beside it lists it."""
    if not path.is_file():
        raise CheckpointError(f"no model at {path}")
    data = path.read_bytes()
    expected = _checksums(path).get(path.name)
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise CheckpointError(f"{path} does not match its checksum in {path.parent / CHECKSUMS}: the file is corrupt "
                              "or was replaced (restore it, e.g. with git checkout)")
    return data


def update_checksum(path: Path) -> None:
    """If SHA256SUMS beside `path` lists it, record its new digest."""
    sums = _checksums(path)
    if path.name in sums:
        sums[path.name] = hashlib.sha256(path.read_bytes()).hexdigest()
        write_atomically(path.parent / CHECKSUMS, "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items())))


def _checksums(path: Path) -> dict[str, str]:
    """File name -> SHA-256 hex digest, from the SHA256SUMS beside `path` (empty if none)."""
    sums = path.parent / CHECKSUMS
    if not sums.is_file():
        return {}
    entries = (line.split(maxsplit=1) for line in sums.read_text().splitlines())
    return {entry[1].strip().lstrip("*"): entry[0].lower() for entry in entries if len(entry) == 2}
