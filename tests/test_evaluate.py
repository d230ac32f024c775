"""A tiny end-to-end evaluation: the tiny model, a few real tunes, every baseline, the report."""

import json
import math

import pytest

from segue.cli import main
from segue.evaluate import evaluate
from segue.report import write_report


@pytest.fixture(scope="module")
def evaluation(tiny_checkpoint, small_corpus_path):
    return evaluate(tiny_checkpoint.train_config["out"], "train", small_corpus_path, max_pairs=6, max_training_songs=10,
                    progress=False)


def test_every_model_is_measured(evaluation):
    results, _ = evaluation
    assert list(results["models"]) == ["gru", "ngram", "repeat", "random"]
    assert results["n_pairs"] == 6 and results["n_songs"] >= 1
    for name in ("gru", "ngram"):
        m = results["models"][name]
        assert m["bits_per_note"] == pytest.approx(m["pitch_bits_per_note"] + m["timing_bits_per_note"])
        assert 0 <= m["pitch_top1"] <= m["pitch_top5"] <= 1
    for m in results["models"].values():
        assert m["duration_ok_rate"] == 1.0
        assert 0 <= m["in_key_ratio"] <= 1 and m["latency_ms_p50"] >= 0
        assert all(0 <= v <= 1 for v in m["overlap"].values())
    assert results["models"]["repeat"]["copy_rate"] == 1.0
    assert "bits_per_note" not in results["models"]["repeat"]
    assert 0 <= results["ground_truth"]["in_key_ratio"] <= 1
    assert set(results["targets"]) == {"bits_below_ngram", "in_key_gap_to_truth", "tempo_ratio_median", "duration_ok_rate"}


def test_the_tiny_trained_model_beats_a_uniform_guess(evaluation):
    results, _ = evaluation
    assert results["models"]["gru"]["bits_per_note"] < math.log2(48 * 128 * 48)


def test_report_files(evaluation, tmp_path):
    results, examples = evaluation
    written = write_report(results, examples, tmp_path / "evaluation", "segue evaluate --test")
    assert {p.name for p in written} == {"evaluation.json", "evaluation.md", "piano-rolls.png", "distributions.png"}
    assert json.loads((tmp_path / "evaluation.json").read_text())["models"]["gru"]["duration_ok_rate"] == 1.0
    markdown = (tmp_path / "evaluation.md").read_text()
    assert "| gru |" in markdown and "evaluation/piano-rolls.png" in markdown and "segue evaluate --test" in markdown
    for picture in ("piano-rolls.png", "distributions.png"):
        assert (tmp_path / "evaluation" / picture).read_bytes()[:4] == b"\x89PNG"


def test_evaluate_command(tiny_checkpoint, small_corpus_path, tmp_path, capsys):
    code = main(["evaluate", "--checkpoint", tiny_checkpoint.train_config["out"], "--data", str(small_corpus_path),
                 "--max-pairs", "4", "--max-training-songs", "5", "--out", str(tmp_path / "ev"), "--split", "valid"])
    out = capsys.readouterr().out
    assert code == 0 and "bits_below_ngram" in out and "ev.json" in out
    assert json.loads((tmp_path / "ev.json").read_text())["split"] == "valid"
    assert "`segue evaluate --checkpoint" in (tmp_path / "ev.md").read_text()
