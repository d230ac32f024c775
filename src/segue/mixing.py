"""Fitting a trained network's pitch mixture (`markov.PitchMixture`): the long-term chain learns
the training songs' intervals, and the prior and bias are chosen on the validation split, never on
the test split, by a grid search for the fewest pitch bits per note. Needs PyTorch (the network's
teacher-forced predictions); the fitted mixture runs without it."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .batching import Batch, batches, pair_tokens
from .checkpoint import Checkpoint
from .data import Corpus, PairConfig, ShardedCorpus, make_pairs
from .markov import PitchMixture, ShortTermRows, entropy, fit_intervals
from .model import IGNORE
from .tokenizer import GAP, PITCH

FIT_PAIRS = PairConfig(window=(5.0, 5.0), extension=(5.0, 5.0), pairs_per_song=4, hesitation=0.0)  # as the evaluation's: 5 s in, 5 s out
FIT_SEED = 50_000
MAX_FIT_PAIRS = 2000
BIASES = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
PRIOR_STEP = 0.05


@dataclass(frozen=True)
class NoteTerms:
    """What the mixture's weights and result depend on, for each true continuation note: each
    model's entropy, P(true pitch) and mass over the MIDI pitches (columns: network, long-term,
    short-term). A grid search over prior and bias needs nothing else."""

    entropies: np.ndarray  # (notes, 3)
    truth: np.ndarray  # (notes, 3)
    mass: np.ndarray  # (notes, 3)


def pair_probabilities(pitch_logits: torch.Tensor, batch: Batch) -> list[np.ndarray]:
    """A batch's pitch logits as each pair's P(pitch) for its real target notes: (notes, 128)."""
    probabilities = F.softmax(pitch_logits.double(), dim=-1).numpy()
    lengths = (batch.targets[..., GAP] != IGNORE).sum(dim=1).tolist()
    return [rows[:n] for rows, n in zip(probabilities, lengths)]


@torch.no_grad()
def network_pitch(checkpoint: Checkpoint, tokens: list[tuple[np.ndarray, np.ndarray]]) -> list[np.ndarray]:
    """The network's P(pitch | the true notes before, the true gap) for each pair: (notes, 128)."""
    model = checkpoint.model.eval()
    out = []
    for batch in batches(tokens, 256):
        logits, _, _ = model(*batch)
        out += pair_probabilities(logits.pitch, batch)
    return out


def _notes(mixture: PitchMixture, networks: list[np.ndarray], tokens: list[tuple[np.ndarray, np.ndarray]]):
    """For every true continuation note of each pair, given the network's P(pitch) per pair: (the
    network's, the chains, the true pitch), the chains reading the true notes before it, as
    generation reads its own. The chains are one object moved on after each note: read them
    before asking for the next."""
    for network, (source, target) in zip(networks, tokens):
        chains = ShortTermRows(mixture, [source[:, PITCH]])
        for probabilities, pitch in zip(network, target[:, PITCH].tolist()):
            yield probabilities, chains, pitch
            chains.add(np.array([pitch]))


def mixed_pitch(mixture: PitchMixture, networks: list[np.ndarray], tokens: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The mixture's P(pitch) for every true continuation note, in order: (notes, 128)."""
    return np.concatenate([chains.mix(network[None]) for network, chains, _ in _notes(mixture, networks, tokens)])


def note_terms(mixture: PitchMixture, networks: list[np.ndarray], tokens: list[tuple[np.ndarray, np.ndarray]]) -> NoteTerms:
    rows = []
    for network, chains, pitch in _notes(mixture, networks, tokens):
        parts = chains.parts()
        rows.append(np.concatenate([[entropy(network)], parts.entropies[0], [network[pitch]], parts.probabilities[0, :, pitch],
                                    [network.sum()], parts.probabilities[0].sum(axis=1)]))
    table = np.array(rows).reshape(-1, 9)
    return NoteTerms(table[:, 0:3], table[:, 3:6], table[:, 6:9])


def pitch_bits(mixture: PitchMixture, terms: NoteTerms) -> float:
    """Mean bits of the true pitch under `mixture` (`ShortTermRows.mix`, from its terms)."""
    weights = mixture.weights(terms.entropies)
    return float(np.mean(-np.log2((weights * terms.truth).sum(axis=1) / (weights * terms.mass).sum(axis=1))))


def fit_mixture(checkpoint: Checkpoint, corpus: Corpus | ShardedCorpus, max_songs: int | None = None,
                progress: bool = True) -> tuple[PitchMixture, dict]:
    """The mixture for `checkpoint` (from at most `max_songs` songs per split), and a summary of
    the fit: its settings and the pitch bits per note on validation, with and without it."""
    melodies = [song.pitch for shard in corpus.shards("train") for song in corpus.shard(shard).songs("train")][:max_songs]
    long_term = fit_intervals(tqdm(melodies, desc="long-term chain", disable=not progress)).frozen()
    pairs = make_pairs(corpus, "valid", FIT_PAIRS, FIT_SEED, max_songs)[:MAX_FIT_PAIRS]
    if not pairs:
        raise ValueError("the validation split has no songs long enough to fit the pitch mixture")
    tokens = [pair_tokens(p, checkpoint.tokenizer) for p in pairs]
    network_only = PitchMixture(long_term, (1.0, 0.0, 0.0), 0.0)
    terms = note_terms(network_only, network_pitch(checkpoint, tokens), tokens)
    steps = round(1 / PRIOR_STEP)
    grid = [(a / steps, b / steps, (steps - a - b) / steps) for a, b in itertools.product(range(steps + 1), repeat=2)
            if a + b <= steps]
    scored = sorted((pitch_bits(PitchMixture(long_term, prior, bias), terms), bias, prior)
                    for bias in BIASES for prior in grid)
    bits, bias, prior = scored[0]
    summary = {"data_fingerprint": corpus.fingerprint, "valid_pairs": len(pairs), "valid_notes": len(terms.truth), "long_term_melodies": len(melodies),
               "prior": list(prior), "bias": bias, "valid_pitch_bits": bits,
               "valid_pitch_bits_network": pitch_bits(network_only, terms)}
    return PitchMixture(long_term, prior, bias), summary
