"""A tiny end-to-end evaluation: the tiny model, a few real tunes, every baseline, the report."""

import json
import math
import shutil
import statistics
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from segue import metrics, robustness
from segue.batching import pair_tokens
from segue.cli import main
from segue.data import ShardWriter, Song, corpus_root, load_corpus, make_pairs
from segue.evaluate import (EVALUATION_PAIRS, EVALUATION_SEED, Candidate, continue_in_turns, evaluate,
                            neural_candidate, neural_scores)
from segue.ingest import prepare_from
from segue.mixing import mixed_pitch, network_pitch
from segue.report import write_report
from segue.tokenizer import PITCH, Tokenizer


@pytest.fixture(scope="module")
def unseen_path(tmp_path_factory) -> Path:
    """Four Palestrina mass movements (no tiny model learnt Renaissance polyphony), as
    `segue prepare --from` makes them."""
    folder = tmp_path_factory.mktemp("scores") / "palestrina"
    folder.mkdir()
    for score in sorted((corpus_root() / "palestrina").glob("Agnus_0*.krn"))[:4]:
        shutil.copy(score, folder)
    out = tmp_path_factory.mktemp("unseen") / "palestrina"
    prepare_from([folder], out, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def evaluation(tiny_checkpoint, small_corpus_path, unseen_path):
    return evaluate(tiny_checkpoint.train_config["out"], "train", small_corpus_path, max_pairs=6, max_training_songs=10,
                    progress=False, sweep_pairs=3, unseen=(unseen_path,))


def test_every_model_is_measured(evaluation):
    results, _ = evaluation
    assert list(results["models"]) == ["tiny", "ngram", "repeat", "random"]
    assert results["n_pairs"] == 6 and 1 <= results["n_songs"] <= results["split_songs"]
    for name in ("tiny", "ngram"):
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
    assert set(results["targets"]) == {
        "bits_below_ngram", "pitch_bits_below_ngram", "pitch_top1_over_ngram", "in_key_gap_to_truth", "tempo_ratio_median",
        "duration_ok_rate", "tempo_ratio_every_stretch", "tempo_within_share", "long_rushed_share_max",
        "long_density_drift_max", "low_temperature_rushed_share_max", "low_temperature_density_over_input"}
    assert results["targets"] is results["models"]["tiny"]["targets"]


def test_the_sweeps_measure_every_slice(evaluation):
    results, _ = evaluation
    robust = results["robustness"]
    assert robust["tempo_pairs"] == 3 and robust["long_pairs"] == 3
    assert [row["start"] for row in robust["truth"]["windows"]] == [0, 5, 10, 15, 20, 25]
    sweeps = results["models"]["tiny"]["robustness"]
    assert list(sweeps["tempo"]["slices"]) == ["x0.4", "x0.6", "x1", "x1.6", "x2.5", "1 s", "1.5 s"]
    assert list(sweeps["tempo_drawn_once"]["slices"]) == list(sweeps["tempo"]["slices"])
    spacings = [s["input_spacing_median"] for s in sweeps["tempo"]["slices"].values()]
    assert spacings[:5] == sorted(spacings[:5]) and spacings[-1] == pytest.approx(1.5)
    assert list(sweeps["length"]["by_length"]) == ["5", "10", "20", "30"]
    assert list(sweeps["temperature"]) == ["0", "0.5", "1", "1.3", "2"]
    for rows in [sweeps["length"]["windows"], sweeps["chained"], *sweeps["temperature"].values()]:
        assert len(rows) == 6 and all(0 <= row["rushed_share"] <= 1 and row["notes_per_second"] >= 0 for row in rows)
    assert sweeps["temperature"]["1"] == sweeps["length"]["windows"]
    assert list(sweeps["register"]) == ["C2", "C3", "C4", "C5", "C6", "C7"]
    assert all(0 <= row["in_key_ratio"] <= 1 and 0 <= row["above_top_share"] <= 1 for row in sweeps["register"].values())
    assert 0 <= robust["truth"]["register"]["above_top_share"] <= 1
    assert list(sweeps["key"]) == ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    assert all(0 <= row["in_key_ratio"] <= 1 for row in sweeps["key"].values())
    lengths = sweeps["input_length"]
    assert {"1.5 s", "2.5 s", "5 s"} <= set(lengths) <= {"1.5 s", "2.5 s", "5 s", "10 s", "20 s"}
    assert list(lengths) == list(robust["truth"]["input_length"])
    assert lengths["5 s"]["input_notes_per_second"] == robust["truth"]["input_length"]["5 s"]["input_notes_per_second"]
    assert all(0 <= row["in_key_ratio"] <= 1 and row["pairs"] >= 1 for row in lengths.values())
    touches = sweeps["touch"]
    assert list(touches) == list(robust["truth"]["touch"]) == list(robustness.TOUCHES)
    assert touches["legato"]["input_articulation"] == 1.0 and touches["staccato (1/5)"]["input_articulation"] == pytest.approx(0.2)
    assert all(row["tempo_ratio_median"] > 0 and 0 < row["articulation"] <= 1 for row in touches.values())
    recordings = sweeps["recording"]
    assert list(recordings) == list(robust["truth"]["recording"]) == list(robustness.RECORDINGS)
    assert all(row["tempo_ratio_median"] > 0 and row["first_onset"] >= 0 for row in recordings.values())
    assert "robustness" not in results["models"]["ngram"]


def test_an_unseen_collection_is_scored_and_continued_beside_its_truth(evaluation, unseen_path):
    results, _ = evaluation
    found = results["unseen"]["palestrina"]
    assert found["data"] == str(unseen_path) and 1 <= found["songs"] <= 4 and found["pairs"] >= found["songs"]
    assert list(found["models"]) == ["tiny", "ngram"]
    for row in found["models"].values():
        assert row["bits_per_note"] == pytest.approx(row["pitch_bits_per_note"] + row["timing_bits_per_note"])
        assert 0 <= row["in_key_ratio"] <= 1 and 0 <= row["above_top_share"] <= 1 and row["tempo_ratio_median"] > 0
    # The truth's own measures; it has no likelihood of itself.
    assert "bits_per_note" not in found["truth"] and 0 <= found["truth"]["tempo_within_share"] <= 1


def test_the_models_take_turns_input_by_input(small_corpus, monkeypatch):
    """So that the machine's load weighs on each model's latency alike: a model timed after
    another one's whole run is timed in another state of the machine. Each call is timed alone
    (a fake clock that each model moves on by its own time per input)."""
    pairs = make_pairs(small_corpus, "test", EVALUATION_PAIRS, EVALUATION_SEED)[:3]
    calls, now = [], [100.0]
    monkeypatch.setattr("segue.evaluate.time.perf_counter", lambda: now[0])

    def candidate(name, seconds_per_input):
        def generate(pair, key, seed):
            calls.append((name, seed))
            now[0] += seconds_per_input * (seed + 1)
            return pair.extension[:seed + 1]
        return Candidate(name, name, generate)

    continued, latencies = continue_in_turns([candidate("a", 0.002), candidate("b", 0.005)], pairs, [None] * len(pairs))
    assert calls == [("a", 0), ("b", 0), ("a", 1), ("b", 1), ("a", 2), ("b", 2)]
    assert continued["a"] == continued["b"] == [pair.extension[:seed + 1] for seed, pair in enumerate(pairs)]
    assert latencies["a"] == pytest.approx([2, 4, 6]) and latencies["b"] == pytest.approx([5, 10, 15])
    with pytest.raises(ValueError, match="the same name"):
        continue_in_turns([candidate("a", 0.0), candidate("a", 0.0)], pairs, [None] * len(pairs))


def test_the_tiny_trained_model_beats_a_uniform_guess(evaluation):
    results, _ = evaluation
    assert results["models"]["tiny"]["bits_per_note"] < math.log2(48 * 128 * 48)


def test_report_files(evaluation, tmp_path):
    results, examples = evaluation
    written = write_report(results, examples, tmp_path / "evaluation", "segue evaluate --test")
    assert {p.name for p in written} == {"evaluation.json", "evaluation.md", "piano-rolls.png", "distributions.png",
                                         "tempo.png", "length.png", "chained.png", "temperature.png", "register.png",
                                         "key.png", "touch.png", "recording.png"}
    assert json.loads((tmp_path / "evaluation.json").read_text())["models"]["tiny"]["duration_ok_rate"] == 1.0
    markdown = (tmp_path / "evaluation.md").read_text()
    assert "| tiny |" in markdown and "evaluation/piano-rolls.png" in markdown and "segue evaluate --test" in markdown
    assert "encoder-decoder with attention, 1 layer of 24, no copying" in markdown  # the tiny preset's shape
    assert "### Tempo" in markdown and "### Chained extension" in markdown and "evaluation/tempo.png" in markdown
    assert "| tiny, *drawn once* | " in markdown
    assert "### Register" in markdown and "| model | C2 | C3 | C4 | C5 | C6 | C7 |" in markdown
    assert "### Key" in markdown and "| model | C | C# | D | Eb | E | F | F# | G | Ab | A | Bb | B |" in markdown
    assert "### Input length" in markdown and "| model | 1.5 s (" in markdown
    assert "### Touch" in markdown and "| model | as cut (held " in markdown and "evaluation/touch.png" in markdown
    assert "### Recording" in markdown and "| model | as cut | begun 2 s late |" in markdown and "evaluation/recording.png" in markdown
    assert "## Unseen collections" in markdown and "**palestrina**" in markdown
    # 6 pairs (--max-pairs) come from fewer songs than the split holds, and the report says why.
    assert f"from {results['n_songs']} of the split's {results['split_songs']} held-out songs (the others" in markdown
    for picture in ("piano-rolls.png", "distributions.png", "tempo.png", "length.png", "chained.png", "temperature.png",
                    "register.png", "key.png", "touch.png", "recording.png"):
        assert (tmp_path / "evaluation" / picture).read_bytes()[:4] == b"\x89PNG"


def test_evaluate_command(tiny_checkpoint, small_corpus_path, tmp_path, capsys):
    code = main(["evaluate", "--checkpoint", tiny_checkpoint.train_config["out"], "--data", str(small_corpus_path),
                 "--max-pairs", "4", "--max-training-songs", "5", "--out", str(tmp_path / "ev"), "--split", "valid",
                 "--sweep-pairs", "2"])
    out = capsys.readouterr().out
    assert code == 0 and "bits_below_ngram" in out and "ev.json" in out
    assert json.loads((tmp_path / "ev.json").read_text())["split"] == "valid"
    assert "`segue evaluate --checkpoint" in (tmp_path / "ev.md").read_text()


@pytest.mark.parametrize("other", ["{name}", "segue-{stem}.pt", "{stem}.npz"])
def test_models_are_labelled_by_file_and_two_of_one_name_are_refused_in_one_line(tiny_checkpoint, small_corpus_path,
                                                                                  tmp_path, capsys, other):
    """Two files whose names give one label in the report (the same name elsewhere, "segue-" before
    it, another suffix) would mix their results."""
    mine = Path(tiny_checkpoint.train_config["out"])
    same_name = tmp_path / "elsewhere" / other.format(name=mine.name, stem=mine.stem.removeprefix("segue-"))
    same_name.parent.mkdir()
    shutil.copy(mine, same_name)
    code = main(["evaluate", "--checkpoint", str(mine), "--compare", str(same_name),
                 "--data", str(small_corpus_path), "--out", str(tmp_path / "ev")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert "the same name in the report" in err and "from their file names" in err  # refused before any work
    assert not (tmp_path / "ev.json").exists()


@pytest.mark.parametrize("problem", ["missing", "same name", "too sparse"])
def test_an_unusable_unseen_collection_is_refused_in_one_line_before_any_work(tiny_checkpoint, small_corpus_path,
                                                                              unseen_path, tmp_path, capsys, monkeypatch,
                                                                              problem):
    if problem == "missing":
        unseen, expected = [tmp_path / "nowhere"], "no prepared data at"
    elif problem == "same name":
        unseen, expected = [unseen_path, unseen_path], "two unseen collections have the same name (palestrina, palestrina)"
    else:
        writer = ShardWriter(tmp_path / "short")
        # Two notes 15 s apart: no 5 s before a cut holds notes to continue.
        writer.add(Song("sparse#0", np.array([60, 62], np.uint8), np.array([0, 30], np.float32),
                        np.array([1, 1], np.float32), 0.5), "test")
        writer.close({})
        unseen, expected = [tmp_path / "short"], "has no songs long enough to evaluate"

    def no_work(*args):  # the collections are checked before any model is read
        raise AssertionError("a model was read before the unseen collections were checked")

    monkeypatch.setattr("segue.evaluate.load_checkpoint", no_work)
    code = main(["evaluate", "--checkpoint", tiny_checkpoint.train_config["out"], "--data", str(small_corpus_path),
                 "--out", str(tmp_path / "ev"), *[arg for path in unseen for arg in ("--unseen", str(path))]])
    error = capsys.readouterr().err
    assert code == 2 and error.count("\n") == 1 and expected in error
    assert not (tmp_path / "ev.json").exists()


def test_each_model_is_scored_in_its_own_tokens(tiny_checkpoint, small_corpus):
    """A model that reads seconds as they are (the first shipped model) must not be scored on
    tokens made at another model's tempo scale."""
    pairs = make_pairs(small_corpus, "train", EVALUATION_PAIRS, 0)[:5]
    in_seconds = replace(tiny_checkpoint, tokenizer=Tokenizer(replace(tiny_checkpoint.tokenizer.config, pulse=None)))
    scored = neural_candidate(in_seconds, Path("in-seconds.pt"), "test").score(pairs).summary()
    own = neural_scores(in_seconds, [pair_tokens(p, in_seconds.tokenizer) for p in pairs]).summary()
    other = neural_scores(in_seconds, [pair_tokens(p, tiny_checkpoint.tokenizer) for p in pairs]).summary()
    assert scored == own and scored != other


def test_a_mixed_model_is_scored_on_its_mixture_and_the_network_alone_on_its_own(tiny_checkpoint, small_corpus):
    pairs = make_pairs(small_corpus, "train", EVALUATION_PAIRS, 0)[:5]
    tokens = [pair_tokens(p, tiny_checkpoint.tokenizer) for p in pairs]
    mixed = neural_scores(tiny_checkpoint, tokens)
    alone = neural_scores(replace(tiny_checkpoint, mixture=None), tokens)
    probabilities = mixed_pitch(tiny_checkpoint.mixture, network_pitch(tiny_checkpoint, tokens), tokens)
    truth = np.concatenate([target[:, PITCH] for _, target in tokens])
    assert mixed.notes == alone.notes == len(truth)
    assert mixed.pitch == pytest.approx(-np.log(probabilities[np.arange(len(truth)), truth]).sum())
    assert mixed.top1 == (probabilities.argmax(axis=1) == truth).sum()
    assert mixed.pitch != pytest.approx(alone.pitch)
    assert (mixed.gap, mixed.duration) == pytest.approx((alone.gap, alone.duration))


def test_an_empty_test_split_is_one_line_that_names_the_other_split(tiny_checkpoint, small_corpus, tmp_path, capsys):
    writer = ShardWriter(tmp_path / "no-test")
    for song in small_corpus.songs("train"):
        writer.add(song, "train")
    for song in small_corpus.songs("valid"):
        writer.add(song, "valid")
    writer.close({})
    code = main(["evaluate", "--checkpoint", tiny_checkpoint.train_config["out"], "--data", str(tmp_path / "no-test"),
                 "--out", str(tmp_path / "ev")])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "the test split has no songs" in err and "--split valid" in err


def test_the_committed_report_measured_the_pairs_the_code_cuts():
    """Cutting the test pairs draws from one random stream, so a change to how pairs are cut (an
    augmentation that draws even when it is off) would leave docs/evaluation.json describing
    other inputs: the true continuations' measures must come out as it records them."""
    root = Path(__file__).resolve().parents[1]
    committed = json.loads((root / "docs" / "evaluation.json").read_text())
    corpus = load_corpus(root / "data" / "corpus.npz")
    pairs = make_pairs(corpus, committed["split"], EVALUATION_PAIRS, EVALUATION_SEED)
    assert len(pairs) == committed["n_pairs"] and corpus.fingerprint == committed["data_fingerprint"]
    truth = committed["ground_truth"]
    assert statistics.mean(len(p.extension) for p in pairs) == pytest.approx(truth["notes_per_extension"], abs=1e-12)
    assert statistics.median(r for p in pairs if (r := metrics.tempo_ratio(p.input, p.extension)) is not None) \
        == pytest.approx(truth["tempo_ratio_median"], abs=1e-12)
