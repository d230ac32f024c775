"""Model files: the network as plain arrays, read without pickle and without PyTorch."""

import hashlib
import io
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import segue
from conftest import played
from segue import extend
from segue.checkpoint import Checkpoint, as_model, export_model, load_checkpoint, weights_digest
from segue.model import MelodyRNN
from segue.modelfile import CHECKSUMS, DEFAULT_MODEL, CheckpointError, load_model, read_model

EXAMPLE = Path(segue.__file__).parent / "examples" / "ode-to-joy.mid"


@pytest.mark.parametrize("copy", [False, True], ids=["as trained", "with pointers"])
def test_a_model_file_generates_what_its_checkpoint_generates(tiny_checkpoint, tmp_path, copy):
    if copy:  # the shipped shape has no pointers; a model file must carry them where a network has them
        torch.manual_seed(2)
        network = MelodyRNN(replace(tiny_checkpoint.model.config, copy=True)).eval()
        tiny_checkpoint = Checkpoint(network, tiny_checkpoint.tokenizer, tiny_checkpoint.name, tiny_checkpoint.data,
                                     tiny_checkpoint.metrics, {}, tiny_checkpoint.mixture)
    export_model(tiny_checkpoint, tmp_path / "tiny.npz")
    model = read_model(tmp_path / "tiny.npz")
    assert model.name == tiny_checkpoint.name and model.config == tiny_checkpoint.model.config
    assert model.tokenizer.config == tiny_checkpoint.tokenizer.config
    assert model.data == json.loads(json.dumps(tiny_checkpoint.data))  # as JSON keeps it: tuples become lists
    assert model.digest == weights_digest(tiny_checkpoint.model) == as_model(tiny_checkpoint).digest
    phrase = played([60, 62, 64, 65, 67, 65, 64])
    assert extend(phrase, seed=3, variations=3, checkpoint=model) == extend(phrase, seed=3, variations=3,
                                                                             checkpoint=tiny_checkpoint)
    again = load_checkpoint(tmp_path / "tiny.npz")  # and back into PyTorch, for evaluation
    assert weights_digest(again.model) == model.digest


def test_the_shipped_model_file_is_the_shipped_checkpoint(shipped_checkpoint):
    model = read_model(DEFAULT_MODEL)
    assert model.digest == weights_digest(shipped_checkpoint.model)
    assert model.mixture.to_arrays().keys() == shipped_checkpoint.mixture.to_arrays().keys()
    assert (model.mixture.prior, model.mixture.bias) == (shipped_checkpoint.mixture.prior, shipped_checkpoint.mixture.bias)
    sums = (DEFAULT_MODEL.parent / CHECKSUMS).read_text().split()
    assert sums[1::2] == sorted(p.name for p in DEFAULT_MODEL.parent.glob("*.npz"))  # every one listed
    for digest, name in zip(sums[::2], sums[1::2]):
        assert hashlib.sha256((DEFAULT_MODEL.parent / name).read_bytes()).hexdigest() == digest


def _npz(**arrays) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def test_bad_model_files_are_refused_in_one_line(tiny_checkpoint, tmp_path):
    export_model(tiny_checkpoint, tmp_path / "good.npz")
    with np.load(tmp_path / "good.npz") as archive:
        good = {key: archive[key] for key in archive.files}
    meta = json.loads(str(good["meta"]))
    cases = {
        "not a readable Segue model file": b"garbage" * 50,
        "not a readable Segue model file: .*pickle": _npz(meta=good["meta"], code=np.array([print], dtype=object)),
        "not a Segue model file": _npz(meta=np.array(json.dumps({**meta, "format": "other/1"}))),
        "does not match this version of Segue: the numpy network does not use the parameters extra":
            _npz(**good, **{"parameter/extra": np.zeros(2, np.float32)}),
        "does not match this version of Segue: .*unexpected keyword": _npz(**{**good, "meta": np.array(json.dumps(
            {**meta, "model_config": {**meta["model_config"], "colour": "red"}}))}),
    }
    for message, content in cases.items():
        (tmp_path / "bad.npz").write_bytes(content)
        with pytest.raises(CheckpointError, match=message):
            read_model(tmp_path / "bad.npz")
    with pytest.raises(CheckpointError, match="no model at"):
        load_model(tmp_path / "none.npz")


def test_export_refuses_what_generation_could_not_run(tmp_path):
    from segue.checkpoint import Checkpoint
    from segue.model import MelodyTransformer, ModelConfig
    from segue.tokenizer import Tokenizer

    transformer = Checkpoint(MelodyTransformer(ModelConfig(cell="transformer", embed_dim=8, hidden_size=16, heads=2)),
                             Tokenizer())
    with pytest.raises(CheckpointError, match="Transformer runs only through PyTorch"):
        export_model(transformer, tmp_path / "t.npz")
    assert not (tmp_path / "t.npz").exists()


def _without_torch(code: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run Python code in a process where `import torch` fails, as in an install without it."""
    blocked = "import sys; sys.modules['torch'] = None\n"
    return subprocess.run([sys.executable, "-c", blocked + code], cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_core_never_imports_torch(tmp_path):
    """The import contract: generation, the server, keyboard mode and the CLI's extend run without
    PyTorch; only training and evaluation may import it."""
    core = ["segue", "segue.cli", "segue.generate", "segue.modelfile", "segue.inference", "segue.server.app",
            "segue.keyboard", "segue.baselines", "segue.bench", "segue.soak", "segue.markov", "segue.sampling"]
    result = subprocess.run([sys.executable, "-c", f"import sys; import {', '.join(core)}; "
                             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch'))"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stderr


def test_extend_and_serve_need_no_torch(tmp_path, tiny_checkpoint_path):
    result = _without_torch(
        "from segue.cli import main\n"
        f"code = main(['extend', {str(EXAMPLE)!r}, '-o', 'out.mid', '--seed', '1'])\n"
        "from fastapi.testclient import TestClient\n"
        "from segue.server import Settings, create_app\n"
        "with TestClient(create_app(Settings())) as client:\n"
        "    answer = client.post('/api/extend', json={'notes': [{'pitch': 60, 'start': 0, 'end': 0.5}]})\n"
        "    assert answer.status_code == 200, answer.text\n"
        f"sys.exit(code or main(['extend', {str(EXAMPLE)!r}, '-o', 'b.mid', '--checkpoint', {str(tiny_checkpoint_path)!r}]))\n",
        tmp_path)
    assert (tmp_path / "out.mid").is_file(), result.stderr
    # A .pt checkpoint is the one thing that needs PyTorch, and the message says so.
    assert result.returncode == 2 and "needs PyTorch (pip install 'segue[train]')" in result.stderr
    assert "Traceback" not in result.stderr
