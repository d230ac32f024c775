import hashlib
import shutil
from dataclasses import asdict, replace

import pytest
import torch

from conftest import SHIPPED_CHECKPOINT, played
from segue import extend
from segue.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from segue.config import PRESETS
from segue.modelfile import CHECKSUMS
from segue.markov import N_PITCHES, PitchMixture, ShortTermRows, fit_intervals
from segue.model import MelodyRNN, ModelConfig
from segue.tokenizer import Tokenizer, TokenizerConfig


def small():
    model = MelodyRNN(ModelConfig(n_time_bins=24, embed_dim=8, hidden_size=16, num_layers=1)).eval()
    return Checkpoint(model, Tokenizer(TokenizerConfig(n_time_bins=24, max_input_notes=32)), data={"fingerprint": "abc"},
                      metrics={"best_valid_loss": 1.5, "history": [{"epoch": 1}]})


def test_save_and_load_rebuild_the_same_model_and_tokenizer(tmp_path):
    checkpoint = small()
    save_checkpoint(checkpoint, tmp_path / "m.pt")
    loaded = load_checkpoint(tmp_path / "m.pt")
    assert loaded.model.config == checkpoint.model.config
    assert loaded.tokenizer.config == checkpoint.tokenizer.config
    assert loaded.data == {"fingerprint": "abc"}
    assert loaded.metrics["history"] == [{"epoch": 1}]
    for name, tensor in checkpoint.model.state_dict().items():
        assert torch.equal(tensor, loaded.model.state_dict()[name])
    assert not loaded.model.training


def test_a_pitch_mixture_is_saved_compactly_and_loads_the_same(tmp_path):
    checkpoint = small()
    save_checkpoint(checkpoint, tmp_path / "plain.pt")
    tune = [60, 62, 64, 65, 67, 65, 64, 62, 60, 72, 48, 84]
    checkpoint.mixture = PitchMixture(fit_intervals([tune, tune[::-1]] * 50).frozen(), (0.5, 0.3, 0.2), 1.5)
    save_checkpoint(checkpoint, tmp_path / "mixed.pt")
    loaded = load_checkpoint(tmp_path / "mixed.pt")
    assert load_checkpoint(tmp_path / "plain.pt").mixture is None
    assert (loaded.mixture.prior, loaded.mixture.bias) == ((0.5, 0.3, 0.2), 1.5)
    network = torch.softmax(torch.randn(1, N_PITCHES), -1).double().numpy()
    assert (ShortTermRows(loaded.mixture, [tune]).mix(network) == ShortTermRows(checkpoint.mixture, [tune]).mix(network)).all()
    payload = torch.load(tmp_path / "mixed.pt", weights_only=True)
    assert {t.dtype for t in payload["pitch_mixture"].values() if not t.is_floating_point()} == {torch.int16}

    payload["pitch_mixture"]["prior"] = torch.tensor([1.0, -1.0, 1.0], dtype=torch.float64)
    torch.save(payload, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match="unreadable pitch mixture: prior must be"):
        load_checkpoint(tmp_path / "bad.pt")


def test_checkpoint_loads_with_weights_only(tmp_path):
    save_checkpoint(small(), tmp_path / "m.pt")
    payload = torch.load(tmp_path / "m.pt", weights_only=True)
    assert payload["format"] == "segue-checkpoint/1"


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "not a readable"), (b"garbage" * 100, "not a readable")],
)
def test_corrupt_checkpoint_gives_a_clear_error(tmp_path, content, message):
    (tmp_path / "bad.pt").write_bytes(content)
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(tmp_path / "bad.pt")


def test_truncated_checkpoint_gives_a_clear_error(tmp_path):
    save_checkpoint(small(), tmp_path / "m.pt")
    data = (tmp_path / "m.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "cut.pt")


def test_pickled_code_is_refused(tmp_path):
    torch.save({"format": "segue-checkpoint/1", "evil": Checkpoint}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="not a readable"):
        load_checkpoint(tmp_path / "evil.pt")


def test_other_torch_file_is_not_a_segue_checkpoint(tmp_path):
    torch.save({"weights": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a Segue checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="no model at"):
        load_checkpoint(tmp_path / "none.pt")


def test_the_shipped_checkpoints_match_their_checksums():
    sums = (SHIPPED_CHECKPOINT.parent / CHECKSUMS).read_text().split()
    assert sums[1::2] == sorted(path.name for path in SHIPPED_CHECKPOINT.parent.glob("*.pt"))  # every one listed
    assert {"segue-gru.pt", "segue-gru-v1.pt", "segue-lstm.pt", "segue-transformer.pt"} <= set(sums[1::2])
    for digest, name in zip(sums[::2], sums[1::2]):
        assert hashlib.sha256((SHIPPED_CHECKPOINT.parent / name).read_bytes()).hexdigest() == digest


@pytest.mark.parametrize("preset, name", [("default", "segue-gru.pt"), ("lstm", "segue-lstm.pt"),
                                          ("transformer", "segue-transformer.pt")])
def test_each_shipped_checkpoint_is_what_its_preset_trains(preset, name):
    """`segue train --preset P` rebuilds the shipped model's shape and schedule (its paths aside)."""
    checkpoint = load_checkpoint(SHIPPED_CHECKPOINT.parent / name)
    model_config, train_config = PRESETS[preset]
    assert checkpoint.model.config == replace(model_config, n_time_bins=checkpoint.tokenizer.n_time_bins)
    assert {k: v for k, v in checkpoint.train_config.items() if k not in ("data", "out")} == \
        {k: v for k, v in asdict(train_config).items() if k not in ("data", "out")}


def test_a_listed_checkpoint_that_changed_is_refused(tmp_path):
    path = tmp_path / "segue-gru.pt"
    shutil.copy(SHIPPED_CHECKPOINT, path)
    shutil.copy(SHIPPED_CHECKPOINT.parent / CHECKSUMS, tmp_path / CHECKSUMS)
    load_checkpoint(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one changed byte in the middle of the file
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="does not match its checksum"):
        load_checkpoint(path)


def test_saving_over_a_listed_checkpoint_updates_its_checksum(tmp_path):
    path = tmp_path / "mine.pt"
    (tmp_path / CHECKSUMS).write_text(f"{'0' * 64}  mine.pt\n{'1' * 64}  other.pt\nnot a checksum line\n")
    save_checkpoint(small(), path)
    assert f"{hashlib.sha256(path.read_bytes()).hexdigest()}  mine.pt" in (tmp_path / CHECKSUMS).read_text()
    assert f"{'1' * 64}  other.pt" in (tmp_path / CHECKSUMS).read_text()
    load_checkpoint(path)


def test_a_checkpoint_from_before_copying_and_tempo_scaling_still_loads_and_plays(tmp_path):
    """The first shipped model names neither setting: it reads seconds as they are and has no
    copy weights."""
    old = Checkpoint(MelodyRNN(ModelConfig(embed_dim=8, hidden_size=16, num_layers=1, copy=False)).eval(),
                     Tokenizer(TokenizerConfig(pulse=None)))
    save_checkpoint(old, tmp_path / "old.pt")
    payload = torch.load(tmp_path / "old.pt", weights_only=True)
    del payload["model_config"]["copy"], payload["tokenizer_config"]["pulse"]
    torch.save(payload, tmp_path / "old.pt")
    loaded = load_checkpoint(tmp_path / "old.pt")
    assert loaded.model.config.copy is False and loaded.tokenizer.config.pulse is None
    assert extend(played([60, 62, 64, 65]), seed=1, checkpoint=loaded)
