"""`segue evaluate`: the shipped model against baselines on held-out songs, in one run.

Every candidate continues the same test pairs (5 s input, 5 s true continuation) with the same
seeds. Probabilistic candidates are also scored on the true continuations: bits per note, split
into pitch and timing, and next-note pitch accuracy. The neural models also go through the
robustness sweeps (`robustness.py`: tempo, length, temperature, chained extension, register, key,
input length, touch, recording).

Unseen collections (`unseen`): prepared datasets of music no model here learnt from (another
style, another era), every song of which counts. The neural models and the n-gram are scored and
continue pairs cut from them as from the test split, beside the true continuations.
"""

from __future__ import annotations

import io
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import mido
import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from . import metrics, robustness
from .baselines import NGramModel, random_in_key, repeat_input
from .batching import collate, pair_tokens
from .checkpoint import Checkpoint, load_checkpoint
from .data import DEFAULT_DATA, SPLITS, Pair, PairConfig, load_corpus, make_pairs
from .generate import extend
from .keys import Key, detect_key, in_key_ratio
from .midi_io import midi_bytes
from .mixing import mixed_pitch, pair_probabilities
from .model import IGNORE
from .notes import Note
from .tokenizer import DURATION, GAP, PITCH, Tokenizer

EVALUATION_SEED = 30_000  # test pairs are cut with this seed, the same in every run
SECONDS = 5.0
# Test inputs are cut as recorded, without training's pauses (the recording sweep adds its own).
EVALUATION_PAIRS = PairConfig(window=(SECONDS, SECONDS), extension=(SECONDS, SECONDS), pairs_per_song=4,
                              hesitation=0.0)  # 5 s input, 5 s continuation
# Pairs whose true continuation covers the 30 s of the length sweeps (kept if it reaches 25 s):
# up to four cuts per song, as few test songs last that long.
LONG_PAIRS = PairConfig(window=(SECONDS, SECONDS), extension=(robustness.LONG_SECONDS, robustness.LONG_SECONDS),
                        pairs_per_song=4, hesitation=0.0)
# The n-gram learns from pairs cut as training's default cuts them, but with 5 s inputs, as every
# test pair has, and no pauses: a baseline that stays put when training's inputs change.
NGRAM_PAIRS = PairConfig(window=(SECONDS, SECONDS), hesitation=0.0)
SWEEP_PAIRS = 300  # inputs per sweep, spread over the test pairs
UNSEEN_PAIRS = 300  # pairs per unseen collection, spread over all of its songs
DURATION_TOLERANCE = 0.2
SCORE_BATCH = 256  # pairs per teacher-forced pass
NGRAM_SEED = 40_000
# Histogram edges for comparing distributions of generated and true continuations.
EDGES = {
    "pitch_class": np.arange(13) - 0.5,
    "pitch_range": np.arange(0, 38) - 0.5,
    "mean_abs_interval": np.arange(0, 12.5, 0.5),
    "interval": np.arange(-13, 14) - 0.5,
    "ioi": np.geomspace(0.025, 4.5, 40),
    "duration": np.geomspace(0.025, 4.5, 40),
}


@dataclass
class Scores:
    """Negative log-likelihood sums (nats) of each field over `notes` true continuation notes."""

    gap: float = 0.0
    pitch: float = 0.0
    duration: float = 0.0
    notes: int = 0
    top1: int = 0
    top5: int = 0

    def add(self, gap: float, pitch: float, duration: float, pitch_rank: int) -> None:
        self.gap += gap
        self.pitch += pitch
        self.duration += duration
        self.notes += 1
        self.top1 += pitch_rank == 0
        self.top5 += pitch_rank < 5

    def summary(self) -> dict:
        per_note = lambda nats: metrics.bits(nats / self.notes)  # noqa: E731
        return {
            "bits_per_note": per_note(self.gap + self.pitch + self.duration),
            "pitch_bits_per_note": per_note(self.pitch),
            "timing_bits_per_note": per_note(self.gap + self.duration),
            "gap_bits_per_note": per_note(self.gap),
            "duration_bits_per_note": per_note(self.duration),
            "pitch_top1": self.top1 / self.notes,
            "pitch_top5": self.top5 / self.notes,
            "scored_notes": self.notes,
        }


@dataclass
class Candidate:
    name: str
    description: str
    generate: Callable[[Pair, Key, int], list[Note]]  # (pair, the input's key, seed) -> continuation
    score: Callable[[list[Pair]], Scores] | None = None  # true continuations, in its own tokens
    details: dict = field(default_factory=dict)
    sweep: robustness.Generate | None = None  # for the robustness sweeps
    drawn_once: robustness.Generate | None = None  # the same, keeping each first draw (no `keep_pace`)


@torch.no_grad()
def neural_scores(checkpoint: Checkpoint, tokens: list[tuple[np.ndarray, np.ndarray]]) -> Scores:
    """Each field's likelihood under the network; with a pitch mixture, the pitch's under the mixture."""
    model = checkpoint.model.eval()
    scores = Scores()
    for start in range(0, len(tokens), SCORE_BATCH):
        pairs = tokens[start : start + SCORE_BATCH]
        batch = collate(pairs)
        logits, _, _ = model(*batch)
        real = batch.targets[..., GAP] != IGNORE
        targets = batch.targets.clamp(min=0)
        gap, pitch, duration = (
            -F.log_softmax(field_logits, dim=-1).gather(-1, targets[..., column, None])[..., 0][real]
            for field_logits, column in zip(logits, (GAP, PITCH, DURATION))
        )
        true_pitch = logits.pitch.gather(-1, targets[..., PITCH, None])
        ranks = (logits.pitch > true_pitch).sum(dim=-1)[real].tolist()
        if checkpoint.mixture is not None:
            probabilities = mixed_pitch(checkpoint.mixture, pair_probabilities(logits.pitch, batch), pairs)
            truth = probabilities[np.arange(len(ranks)), targets[..., PITCH][real].numpy()]
            pitch = -np.log(truth)
            ranks = (probabilities > truth[:, None]).sum(axis=1).tolist()
        for note in zip(gap.tolist(), pitch.tolist(), duration.tolist(), ranks):
            scores.add(*note)
    return scores


def ngram_scores(model: NGramModel, tokens: list[tuple[np.ndarray, np.ndarray]]) -> Scores:
    scores = Scores()
    for source, target in tokens:
        sequence = np.vstack([source, target])
        for t in range(len(source), len(sequence)):
            gap_p, pitch_p, duration_p = model.field_distributions(sequence, t)
            gap, pitch, duration = (int(v) for v in sequence[t])
            rank = int((pitch_p > pitch_p[pitch]).sum())
            scores.add(-math.log(gap_p[gap]), -math.log(pitch_p[pitch]), -math.log(duration_p[duration]), rank)
    return scores


def model_label(path: Path) -> str:
    """A trained model's name in the report: its file's, less "segue-" and the suffix (two models
    may share an internal name)."""
    return Path(path).stem.removeprefix("segue-")


def neural_candidate(checkpoint: Checkpoint, path: Path, role: str) -> Candidate:
    """A trained model, labelled by its file's name (`model_label`)."""

    def generate(pair: Pair, key: Key, seed: int) -> list[Note]:
        return sweep(pair.input, pair.input_length, SECONDS, 1.0, seed)

    def sweep(notes: list[Note], input_length: float, seconds: float, temperature: float, seed: int,
              keep_pace: bool = True) -> list[Note]:
        [continuation] = extend(notes, seconds, temperature, seed=seed, input_length=input_length, checkpoint=checkpoint,
                                keep_pace=keep_pace)
        return continuation

    config = checkpoint.model.config
    layers = "1 layer" if config.num_layers == 1 else f"{config.num_layers} layers"
    description = (f"{role}: {config.cell.upper()} encoder-decoder with attention, {layers} of "
                   f"{config.hidden_size}, {'with' if config.copy else 'no'} copying, "
                   f"{'tempo-relative timing' if checkpoint.tokenizer.config.pulse else 'timing in seconds'}"
                   + ("" if checkpoint.mixture is None else ", pitch mixed with interval chains (weights "
                      + "/".join(f"{w:.2f}" for w in checkpoint.mixture.prior) + ")"))
    details = {"checkpoint": checkpoint.name, "parameters": sum(p.numel() for p in checkpoint.model.parameters()),
               "best_valid_bits_per_note": checkpoint.metrics.get("best_valid_bits_per_note"),
               "train_seconds": checkpoint.metrics.get("train_seconds")}
    return Candidate(model_label(path), description, generate,
                     lambda pairs: neural_scores(checkpoint, [pair_tokens(p, checkpoint.tokenizer) for p in pairs]),
                     details, sweep, partial(sweep, keep_pace=False))


def ngram_candidate(tokenizer: Tokenizer, training_pairs: list[Pair]) -> Candidate:
    model = NGramModel(tokenizer).fit(np.vstack(pair_tokens(p, tokenizer)) for p in training_pairs)
    return Candidate(
        "ngram",
        "variable-order Markov model (order 4), interpolated Witten-Bell backoff; pitch as intervals",
        lambda pair, key, seed: model.generate(pair.input, pair.input_length, SECONDS, seed),
        lambda pairs: ngram_scores(model, [pair_tokens(p, tokenizer) for p in pairs]),
        {"training_pairs": len(training_pairs), "order": model.gap.order},
    )


def baseline_candidates() -> list[Candidate]:
    return [
        Candidate("repeat", "plays the input again from its first note",
                  lambda pair, key, seed: repeat_input(pair.input, pair.input_length, SECONDS)),
        Candidate("random", "random pitches of the input's key and range, with the input's own note spacings",
                  lambda pair, key, seed: random_in_key(pair.input, SECONDS, key, seed)),
    ]


def file_length(notes: list[Note]) -> float:
    """How long the continuation lasts as the MIDI file Segue writes."""
    return mido.MidiFile(file=io.BytesIO(midi_bytes(notes, SECONDS))).length


def generation_metrics(pairs: list[Pair], keys: list[Key], continuations: list[list[Note]]) -> dict:
    """Musical measures of continuations against their inputs and the true continuations."""
    tempo = [metrics.tempo_ratio(p.input, c) for p, c in zip(pairs, continuations)]
    tempo = [t for t in tempo if t is not None]
    return {
        "in_key_ratio": statistics.mean(in_key_ratio(c, k) for c, k in zip(continuations, keys) if c),
        "tempo_ratio_median": statistics.median(tempo) if tempo else None,
        "copy_rate": statistics.mean(metrics.is_verbatim_copy(p.input, c) for p, c in zip(pairs, continuations)),
        "rushed_note_rate": metrics.rushed_share(continuations),
        "notes_per_extension": statistics.mean(len(c) for c in continuations),
        "pitch_range_mean": statistics.mean(metrics.pitch_range(c) for c in continuations),
    }


def feature_values(keys: list[Key], continuations: list[list[Note]]) -> dict[str, list[float]]:
    return {
        "pitch_class": [pc for c, k in zip(continuations, keys) for pc in metrics.pitch_classes_from_tonic(c, k)],
        "pitch_range": [metrics.pitch_range(c) for c in continuations if c],
        "mean_abs_interval": [metrics.mean_abs_interval(c) for c in continuations if len(c) > 1],
        "interval": [i for c in continuations for i in metrics.intervals(c)],
        "ioi": [g for c in continuations for g in metrics.onsets_gaps(c)],
        "duration": [d for c in continuations for d in metrics.durations(c)],
    }


def evaluate(
    checkpoint_path: Path,
    split: str = "test",
    data: Path = DEFAULT_DATA,
    compare: tuple[Path, ...] = (),
    max_pairs: int | None = None,
    max_training_songs: int | None = None,
    progress: bool = True,
    sweep_pairs: int = SWEEP_PAIRS,
    unseen: tuple[Path, ...] = (),
) -> tuple[dict, dict]:
    """Evaluate the model at `checkpoint_path`, the neural models in `compare`, an n-gram trained on
    the training songs, and the simple baselines; and the neural models and the n-gram on each
    `unseen` collection. Returns (results for the JSON report, examples for the pictures)."""
    compared = [path for path in dict.fromkeys(Path(p).resolve() for p in compare) if path != Path(checkpoint_path).resolve()]
    labels = [model_label(path) for path in [Path(checkpoint_path), *compared]]
    if len(set(labels)) < len(labels):
        raise ValueError("two models to compare would have the same name in the report "
                         f"({', '.join(labels)}, from their file names): rename one")
    unseen_labels = [Path(path).name for path in unseen]
    if len(set(unseen_labels)) < len(unseen_labels):
        raise ValueError(f"two unseen collections have the same name ({', '.join(unseen_labels)}): rename one")
    collections = {label: unseen_pairs(path, UNSEEN_PAIRS) for label, path in zip(unseen_labels, unseen)}
    corpus = load_corpus(data)
    checkpoint = load_checkpoint(checkpoint_path)
    tokenizer = checkpoint.tokenizer
    pairs = make_pairs(corpus, split, EVALUATION_PAIRS, EVALUATION_SEED)[:max_pairs]
    if not pairs:
        other = "valid" if split == "test" else "test"
        raise ValueError(f"the {split} split has no songs long enough to evaluate: try --split {other}, or prepare "
                         "more music (validation and test each get about 5 % of the tunes)")
    long_pairs = [p for p in make_pairs(corpus, split, LONG_PAIRS, EVALUATION_SEED)
                  if p.extension[-1].start >= robustness.LONG_SECONDS - robustness.WINDOW]
    keys = [detect_key(p.input) for p in tqdm(pairs, desc="finding keys", disable=not progress)]
    training_pairs = make_pairs(corpus, "train", NGRAM_PAIRS, NGRAM_SEED, max_training_songs)
    long_pairs = spread(long_pairs, sweep_pairs)
    tempo_pairs = spread(pairs, sweep_pairs)
    by_input_length = {}
    for seconds in robustness.INPUT_SECONDS:
        # A shorter input is the end of a 5 s one, so its true continuation still covers 5 s (a song
        # may end sooner after a cut made with a shorter window); a longer one is cut as the test
        # pairs are, with that window.
        cut = ([short for pair in tempo_pairs if (short := robustness.shortened(pair, seconds))]
               if seconds < SECONDS else
               spread(make_pairs(corpus, split, replace(EVALUATION_PAIRS, window=(seconds, seconds)), EVALUATION_SEED), sweep_pairs))
        if cut:
            by_input_length[f"{seconds:g} s"] = (cut, [robustness.melody_key(p) for p in cut])
    sweep_inputs = robustness.SweepInputs(tempo_pairs, long_pairs,
                                          [detect_key(p.input) for p in tqdm(long_pairs, desc="finding keys (sweeps)",
                                                                            disable=not progress)],
                                          spread(keys, sweep_pairs), by_input_length)

    candidates = [neural_candidate(checkpoint, checkpoint_path, f"the evaluated model ({Path(checkpoint_path).name})")]
    candidates += [neural_candidate(load_checkpoint(path), path, f"compared ({path.name})") for path in compared]
    candidates += [ngram_candidate(tokenizer, training_pairs), *baseline_candidates()]

    truth = [p.extension for p in pairs]
    results = {"split": split, "n_songs": len({p.song_id for p in pairs}), "split_songs": corpus.count(split),
               "n_pairs": len(pairs),
               "seconds": SECONDS, "data_fingerprint": corpus.fingerprint, "models": {},
               "robustness": {"tempo_pairs": len(sweep_inputs.tempo_pairs), "long_pairs": len(long_pairs),
                              "truth": robustness.truth_windows(sweep_inputs) if long_pairs else None}}
    examples = {"pairs": pairs, "keys": keys, "continuations": {}, "features": {"truth": feature_values(keys, truth)}}
    continued, latencies = continue_in_turns(candidates, pairs, keys, progress)
    for candidate in candidates:
        continuations = continued[candidate.name]
        entry = {"description": candidate.description, **candidate.details}
        if candidate.score is not None:
            entry |= candidate.score(pairs).summary()
        entry |= generation_metrics(pairs, keys, continuations)
        entry["duration_ok_rate"] = statistics.mean(abs(file_length(c) - SECONDS) <= DURATION_TOLERANCE for c in continuations)
        entry["latency_ms_p50"] = metrics.percentile(latencies[candidate.name], 50)
        if candidate.sweep is not None and long_pairs:
            entry["robustness"] = robustness.run_sweeps(candidate.sweep, sweep_inputs, progress, candidate.drawn_once)
        features = feature_values(keys, continuations)
        entry["overlap"] = {name: metrics.overlapped_area(features[name], examples["features"]["truth"][name], EDGES[name])
                            for name in EDGES}
        results["models"][candidate.name] = entry
        examples["continuations"][candidate.name] = continuations
        examples["features"][candidate.name] = features
    results["ground_truth"] = generation_metrics(pairs, keys, truth)
    if collections:
        results["unseen"] = {label: {"data": str(path)} | unseen_results([c for c in candidates if c.score is not None],
                                                                         collections[label], progress)
                             for label, path in zip(unseen_labels, unseen)}
    for name, entry in results["models"].items():
        if "bits_per_note" in entry and not name.startswith("ngram"):
            entry["targets"] = check_targets(results, name)
    results["targets"] = results["models"][candidates[0].name]["targets"]
    return results, examples


def continue_in_turns(candidates: list[Candidate], pairs: list[Pair], keys: list[Key],
                      progress: bool = False) -> tuple[dict[str, list[list[Note]]], dict[str, list[float]]]:
    """Each candidate's continuation of each pair, and the milliseconds each took. The candidates
    take turns pair by pair, so that the machine's load and warm caches weigh on each alike: one
    after another, the first model timed came out 10 % slower (5.4 against 4.9 ms p50) than when
    they took turns."""
    names = [candidate.name for candidate in candidates]
    if len(set(names)) < len(names):
        raise ValueError(f"two models would have the same name in the report ({', '.join(names)}): rename a model file")
    continuations = {name: [] for name in names}
    latencies = {name: [] for name in names}
    for seed, (pair, key) in enumerate(tqdm(list(zip(pairs, keys)), desc="continuing", disable=not progress)):
        for candidate in candidates:
            started = time.perf_counter()
            continuations[candidate.name].append(candidate.generate(pair, key, seed))
            latencies[candidate.name].append((time.perf_counter() - started) * 1000)
    return continuations, latencies


def unseen_pairs(data: Path, count: int) -> list[Pair]:
    """Up to `count` pairs cut as the test pairs are, spread over every song of a collection no
    model learnt from (its splits are the same to us)."""
    corpus = load_corpus(data)
    pairs = [pair for split in SPLITS for pair in make_pairs(corpus, split, EVALUATION_PAIRS, EVALUATION_SEED)]
    if not pairs:
        raise ValueError(f"the unseen collection {data} has no songs long enough to evaluate (5 s in, 5 s out)")
    return spread(pairs, count)


def unseen_results(candidates: list[Candidate], pairs: list[Pair], progress: bool) -> dict:
    """Each candidate's scores and continuations on one unseen collection, and the true
    continuations' measures: the register sweep's (robustness.register_row) and the tempo's."""
    keys = [detect_key(p.input) for p in pairs]
    inputs = [p.input for p in pairs]

    def measures(continuations: list[list[Note]]) -> dict:
        return robustness.register_row(inputs, continuations, keys) | robustness.tempo_row(inputs, continuations)

    models = {}
    for candidate in candidates:
        continuations = [candidate.generate(pair, key, seed) for seed, (pair, key) in
                         enumerate(tqdm(list(zip(pairs, keys)), desc=f"{candidate.name}, unseen", disable=not progress))]
        models[candidate.name] = candidate.score(pairs).summary() | measures(continuations)
    return {"songs": len({p.song_id for p in pairs}), "pairs": len(pairs), "models": models,
            "truth": measures([p.extension for p in pairs])}


def spread(items: list, count: int) -> list:
    """At most `count` items taken evenly over the list (pairs of one song sit together)."""
    if len(items) <= count:
        return items
    return [items[i] for i in np.linspace(0, len(items) - 1, count).round().astype(int)]


def check_targets(results: dict, model: str) -> dict:
    """The quality targets a model must meet to ship, each with its measured value."""
    models, truth = results["models"], results["ground_truth"]
    shipped = models[model]
    ngram = next((m for name, m in models.items() if name.startswith("ngram")), None)
    reduction = None if ngram is None else 1 - shipped["bits_per_note"] / ngram["bits_per_note"]
    pitch_reduction = None if ngram is None else 1 - shipped["pitch_bits_per_note"] / ngram["pitch_bits_per_note"]
    key_gap = abs(shipped["in_key_ratio"] - truth["in_key_ratio"])
    tempo = shipped["tempo_ratio_median"]
    targets = {
        "bits_below_ngram": {"value": reduction, "target": ">= 0.15", "met": reduction is not None and reduction >= 0.15},
        "pitch_bits_below_ngram": {"value": pitch_reduction, "target": ">= 0.10",
                                   "met": pitch_reduction is not None and pitch_reduction >= 0.10},
        "pitch_top1_over_ngram": {"value": None if ngram is None else shipped["pitch_top1"] - ngram["pitch_top1"],
                                  "target": "> 0", "met": ngram is not None and shipped["pitch_top1"] > ngram["pitch_top1"]},
        "in_key_gap_to_truth": {"value": key_gap, "target": "<= 0.05", "met": key_gap <= 0.05},
        "tempo_ratio_median": {"value": tempo, "target": "0.9 .. 1.1", "met": tempo is not None and 0.9 <= tempo <= 1.1},
        "duration_ok_rate": {"value": shipped["duration_ok_rate"], "target": "1.0", "met": shipped["duration_ok_rate"] == 1.0},
    }
    if "robustness" in shipped:
        targets |= robustness.check_sweep_targets(shipped["robustness"], results["robustness"]["truth"])
    return targets
