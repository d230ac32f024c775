import pytest
import torch

from segue.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
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
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "none.pt")
