import math

from segue.checkpoint import load_checkpoint
from segue.train import collate, pair_tokens
from segue.data import make_pairs, PairConfig
from segue.model import IGNORE
from segue.tokenizer import Tokenizer


def test_tiny_training_run_end_to_end(tiny_checkpoint):
    metrics = tiny_checkpoint.metrics
    history = metrics["history"]
    assert len(history) == 3
    assert all(math.isfinite(r["valid_loss"]) for r in history)
    uniform = 2 * math.log(48) + math.log(128)
    assert metrics["best_valid_loss"] < uniform - 1  # it learned something: over 1.4 bits a note better
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert metrics["train_seconds"] > 0


def test_checkpoint_records_configs_data_identity_and_metrics(tiny_checkpoint, small_corpus, tmp_path):
    path = tiny_checkpoint.train_config["out"]
    loaded = load_checkpoint(path)
    assert loaded.model.config == tiny_checkpoint.model.config
    assert loaded.data["fingerprint"] == small_corpus.fingerprint
    assert loaded.data["songs"]["train"] == small_corpus.count("train")
    assert loaded.metrics["best_epoch"] in (1, 2, 3)
    assert loaded.train_config["epochs"] == 3


def test_collate_pads_and_starts_the_decoder_with_the_last_input_note(small_corpus):
    tokenizer = Tokenizer()
    tokens = [pair_tokens(p, tokenizer) for p in make_pairs(small_corpus, "train", PairConfig(), 0)[:5]]
    batch = collate(tokens)
    for row, (source, target) in enumerate(tokens):
        assert batch.lengths[row] == len(source)
        assert batch.decoder_input[row, 0].tolist() == source[-1].tolist()
        assert batch.targets[row, : len(target)].tolist() == target.tolist()
        assert (batch.targets[row, len(target):] == IGNORE).all()
