"""Fitting the pitch mixture: the grid search scores what generation and evaluation draw from."""

import numpy as np
import pytest

from segue.markov import N_PITCHES, PitchMixture, fit_intervals
from segue.mixing import mixed_pitch, note_terms, pitch_bits
from segue.tokenizer import PITCH

TUNE = [60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72, 67, 64, 60]


def _pairs(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    pairs = []
    for source_notes, target_notes in ((9, 6), (3, 5)):
        source, target = np.zeros((source_notes, 3), np.int64), np.zeros((target_notes, 3), np.int64)
        source[:, PITCH], target[:, PITCH] = rng.integers(55, 75, source_notes), rng.integers(55, 75, target_notes)
        pairs.append((source, target))
    return pairs


@pytest.mark.parametrize("prior, bias", [((0.5, 0.3, 0.2), 2.0), ((0.6, 0.0, 0.4), 1.0), ((1.0, 0.0, 0.0), 0.0)])
def test_the_fit_scores_the_mixture_that_is_drawn_from(prior, bias):
    """`pitch_bits` (the grid search's score, from each note's terms) is the mean bits of the true
    pitch under `mixed_pitch`, the mixture generation and evaluation use."""
    mixture = PitchMixture(fit_intervals([TUNE, TUNE[::-1]]).frozen(), prior, bias)
    rng = np.random.default_rng(4)
    tokens = _pairs(rng)
    networks = [rng.dirichlet(np.ones(N_PITCHES), size=len(target)) for _, target in tokens]
    mixed = mixed_pitch(mixture, networks, tokens)
    truth = np.concatenate([target[:, PITCH] for _, target in tokens])
    expected = float(np.mean(-np.log2(mixed[np.arange(len(truth)), truth])))
    assert pitch_bits(mixture, note_terms(mixture, networks, tokens)) == pytest.approx(expected, rel=1e-9)
