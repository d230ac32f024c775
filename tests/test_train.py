import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import segue.train
from segue.checkpoint import load_checkpoint
from segue.cli import main
from segue.config import FINE_TUNING
from segue.data import DataError
from segue.model import ModelConfig
from segue.batching import collate, pair_tokens
from segue.train import PRESETS, epoch_batches, state_path, train
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


def test_training_ends_by_fitting_the_pitch_mixture(tiny_checkpoint, small_corpus):
    fit = tiny_checkpoint.metrics["pitch_mixture"]
    assert tiny_checkpoint.mixture is not None and list(tiny_checkpoint.mixture.prior) == fit["prior"]
    assert fit["valid_notes"] > 50 and fit["data_fingerprint"] == small_corpus.fingerprint
    # The network alone is one point of the grid searched, so the fit is never worse than it.
    assert fit["valid_pitch_bits"] <= fit["valid_pitch_bits_network"]
    assert math.isclose(sum(fit["prior"]), 1.0)


def test_an_epoch_is_batched_by_length_alike_in_notes_with_every_pair_once_in_random_order(small_corpus):
    config = replace(PRESETS["tiny"][1], max_songs=None, batch_size=16)
    tokenizer, run = Tokenizer(), segue.train.Run(0, 1, torch.device("cpu"))

    def epoch(length_pool):
        batches = list(epoch_batches(small_corpus, PairConfig(), tokenizer, replace(config, length_pool=length_pool), 1, run))
        lengths = [sorted((batch.targets[..., 0] != IGNORE).sum(dim=1).tolist()) for batch in batches]
        return batches, lengths

    as_drawn, drawn_lengths = epoch(1)
    batches, lengths = epoch(1000)  # one pool: the whole epoch sorted together
    assert len(batches) == len(as_drawn) > 4
    assert sorted(sum(lengths, [])) == sorted(sum(drawn_lengths, []))  # the same pairs, each once
    by_shortest = sorted(lengths)
    assert all(a[-1] <= b[0] for a, b in zip(by_shortest, by_shortest[1:]))  # like lengths together
    assert lengths != by_shortest  # not shortest first: the order is shuffled
    notes = [sum(batch) for batch in lengths]  # more pairs of short continuations, fewer long: alike in notes
    assert max(notes) < 1.5 * min(notes) and max(map(len, lengths)) > 2 * min(map(len, lengths))
    padded = lambda batches: sum(batch.targets.shape[0] * batch.targets.shape[1] for batch in batches)  # noqa: E731
    assert padded(batches) < padded(as_drawn)


def test_an_epoch_whose_pairs_fill_its_pools_exactly_ends_cleanly(small_corpus):
    config = replace(PRESETS["tiny"][1], max_songs=None, batch_size=1)
    run = segue.train.Run(0, 1, torch.device("cpu"))
    pairs = sum(1 for _ in epoch_batches(small_corpus, PairConfig(), Tokenizer(), replace(config, length_pool=1), 1, run))
    whole = list(epoch_batches(small_corpus, PairConfig(), Tokenizer(), replace(config, length_pool=pairs), 1, run))
    assert sum(len(batch.lengths) for batch in whole) == pairs  # one full pool, then nothing left over


def test_collate_pads_and_starts_the_decoder_with_the_last_input_note(small_corpus):
    tokenizer = Tokenizer()
    tokens = [pair_tokens(p, tokenizer) for p in make_pairs(small_corpus, "train", PairConfig(), 0)[:5]]
    batch = collate(tokens)
    for row, (source, target) in enumerate(tokens):
        assert batch.lengths[row] == len(source)
        assert batch.decoder_input[row, 0].tolist() == source[-1].tolist()
        assert batch.targets[row, : len(target)].tolist() == target.tolist()
        assert (batch.targets[row, len(target):] == IGNORE).all()


def _tiny(tmp_path, name, **changes):
    model_config, config = PRESETS["tiny"]
    return model_config, replace(config, out=str(tmp_path / name), **changes)


def test_an_interrupted_run_resumes_from_its_saved_step_to_the_same_weights(small_corpus, tmp_path, monkeypatch):
    model_config, config = _tiny(tmp_path, "whole.pt", epochs=2, save_every=3)
    whole = train(model_config, config, corpus=small_corpus, progress=False)
    assert not state_path(config.out).exists()  # a finished run leaves nothing to resume

    config = replace(config, out=str(tmp_path / "resumed.pt"))
    steps = {"count": 0}
    clip = torch.nn.utils.clip_grad_norm_

    def ctrl_c_at_step_7(*args, **kwargs):  # as if the user pressed Ctrl-C during the 7th step
        steps["count"] += 1
        if steps["count"] == 7:
            raise KeyboardInterrupt
        return clip(*args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", ctrl_c_at_step_7)
    with pytest.raises(KeyboardInterrupt):
        train(model_config, config, corpus=small_corpus, progress=False)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    saved = torch.load(state_path(config.out), weights_only=True)
    assert saved["position"]["step"] == 6  # the six finished steps; the seventh never happened

    clock = iter(range(1000, 10**6))  # a fake clock: one second per reading
    monkeypatch.setattr(segue.train.time, "perf_counter", lambda: float(next(clock)))
    resumed = train(model_config, config, corpus=small_corpus, progress=False, resume=True)
    # "trained in" is this run's time; the total adds what the interrupted run had spent.
    assert resumed.metrics["total_train_seconds"] - resumed.metrics["train_seconds"] == pytest.approx(saved["position"]["seconds"])
    assert resumed.metrics["initial_valid_bits_per_note"] == pytest.approx(
        whole.metrics["initial_valid_bits_per_note"])  # kept from the run that began it
    for name, tensor in whole.model.state_dict().items():
        assert torch.allclose(tensor, resumed.model.state_dict()[name], atol=1e-6), name
    assert [r["valid_loss"] for r in resumed.metrics["history"]] == pytest.approx(
        [r["valid_loss"] for r in whole.metrics["history"]], abs=1e-6)


def test_resume_refuses_other_settings_or_nothing_to_resume(small_corpus, tmp_path, monkeypatch):
    model_config, config = _tiny(tmp_path, "none.pt")
    with pytest.raises(DataError, match="nothing to resume"):
        train(model_config, config, corpus=small_corpus, progress=False, resume=True)

    model_config, config = _tiny(tmp_path, "stopped.pt", epochs=2)
    clip = torch.nn.utils.clip_grad_norm_

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        train(model_config, config, corpus=small_corpus, progress=False)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    assert state_path(config.out).exists()
    with pytest.raises(DataError, match=r"other settings \(epochs, learning_rate\)"):
        train(model_config, replace(config, epochs=3, learning_rate=0.5), corpus=small_corpus, progress=False,
              resume=True)


def test_fine_tuning_starts_from_the_given_model(small_corpus, tiny_checkpoint, tmp_path):
    model_config, config = _tiny(tmp_path, "tuned.pt", epochs=1, learning_rate=1e-3)
    tuned = train(ModelConfig(), config, corpus=small_corpus, progress=False, init=tiny_checkpoint)
    assert tuned.model.config == tiny_checkpoint.model.config  # the given model's shape, not the preset's
    assert tuned.data["init"]["name"] == tiny_checkpoint.name
    # One gentle epoch from trained weights stays near them, far from a fresh start.
    assert tuned.metrics["best_valid_loss"] < tiny_checkpoint.metrics["history"][0]["valid_loss"]


def test_segue_train_fine_tunes_on_its_own_schedule_under_its_own_name(small_corpus_path, tiny_checkpoint_path,
                                                                      tmp_path, capsys):
    tuned = tmp_path / "tuned.pt"
    assert main(["train", "--preset", "tiny", "--data", str(small_corpus_path), "--init", str(tiny_checkpoint_path),
                 "--epochs", "1", "--out", str(tuned), "--no-mixture", "--threads", "1"]) == 0
    checkpoint = load_checkpoint(tuned)
    assert (checkpoint.train_config["learning_rate"], checkpoint.train_config["warmup_steps"]) == (
        FINE_TUNING["learning_rate"], FINE_TUNING["warmup_steps"])
    assert checkpoint.name == "tuned" and checkpoint.data["init"]["name"] == load_checkpoint(tiny_checkpoint_path).name
    out = capsys.readouterr().out
    assert f"{checkpoint.metrics['initial_valid_bits_per_note']:.3f} before training" in out
    assert main(["train", "--preset", "tiny", "--data", str(small_corpus_path), "--init", str(tiny_checkpoint_path),
                 "--epochs", "1", "--out", str(tuned), "--no-mixture", "--learning-rate", "0.005"]) == 0
    assert load_checkpoint(tuned).train_config["learning_rate"] == 0.005  # named on the command line: kept


def test_segue_train_refuses_bad_options_in_one_line(tmp_path, capsys):
    code = main(["train", "--preset", "tiny", "--data", str(Path(__file__).parent / "missing"), "--out",
                 str(tmp_path / "x.pt")])
    assert code == 2 and "no prepared data" in capsys.readouterr().err
    assert main(["train", "--preset", "tiny", "--device", "cuda:7"]) == 2
    assert main(["train", "--preset", "tiny", "--epochs", "0"]) == 2
    assert main(["train", "--preset", "tiny", "--threads", "0"]) == 2
    assert main(["train", "--preset", "tiny", "--learning-rate", "-1"]) == 2
    assert capsys.readouterr().err.count("\n") == 4


def test_two_processes_under_torchrun_train_one_model(small_corpus_path, tiny_checkpoint, tmp_path):
    out = tmp_path / "ddp.pt"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "segue.cli",
         "train", "--preset", "tiny", "--data", str(small_corpus_path), "--out", str(out), "--device", "cpu"],
        capture_output=True, text=True, timeout=300, env=env,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    trained = load_checkpoint(out)
    assert trained.metrics["world_size"] == 2 and trained.metrics["device"] == "cpu"
    first, second = trained.metrics["weights_by_rank"]
    assert first == second  # both ranks ended with the same weights
    # Each step saw the same number of pairs as one process does, so the loss lands close to its.
    single = tiny_checkpoint.metrics["best_valid_loss"]
    assert abs(trained.metrics["best_valid_loss"] - single) < 0.1 * single
    assert run.stdout.count("saved ") == 1  # only rank 0 reports
