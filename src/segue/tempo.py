"""The tempo a phrase was played at, so a downloaded file lines up with bars in a sequencer.

Method (an inter-onset-interval histogram with harmonic summation and a tempo prior, after Dixon
2001, "Automatic extraction of tempo and beat from expressive performances", and Parncutt 1994 /
Moelants 2002 for the prior): every pair of onsets up to `MAX_SPAN` seconds apart gives an
interval; the intervals are smoothed into a density with a Gaussian of `SMOOTHING` (relative, so
a 4 % timing spread is one kernel). A candidate beat period T scores the density at T, 2T, 3T and
4T (a beat is confirmed by the bars and half-bars built on it) plus half the density at T/2 (its
subdivisions), times a log-Gaussian preference for beats near `PREFERRED_BPM`, where listeners
hear the beat of most music. Candidates run from `MIN_BPM` to `MAX_BPM` in 0.5 % steps.

A phrase with fewer than `MIN_ONSETS` onsets, or whose onsets are all within a few milliseconds,
has no tempo to find: `estimate_bpm` returns None and callers use `DEFAULT_BPM`. Only the last
`MAX_ONSETS` onsets are read, and the density is kept on a grid, so a long file costs no more
than a phrase.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .notes import Note

MIN_BPM, MAX_BPM = 40.0, 220.0
PREFERRED_BPM = 110.0  # centre of the prior (Moelants 2002: preferred tempo near 100-120 bpm)
PRIOR_OCTAVES = 1.0  # the prior's width, in octaves of tempo (a factor of 2)
MAX_SPAN = 4.0  # seconds: intervals between onsets further apart than this are not counted
SMOOTHING = 0.04  # relative width of each interval's Gaussian
MIN_ONSETS = 3
MAX_ONSETS = 400  # the last ones: a long file's tempo is heard where its continuation starts
GRID = 0.005  # the density's grid, in natural-log units (0.5 %)
DEFAULT_BPM = 120.0
HARMONICS = ((1, 1.0), (2, 1.0), (3, 0.5), (4, 0.5), (0.5, 0.5))  # (multiple of T, weight)


def estimate_bpm(notes: Sequence[Note]) -> float | None:
    """The beats per minute of a played phrase (see the module docstring), rounded to 0.1."""
    starts = np.array([n.start for n in notes], np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # an onset near the float limit rounds to inf: kept unrounded
        rounded = np.round(starts, 3)
    onsets = np.unique(np.where(np.isfinite(rounded), rounded, starts))[-MAX_ONSETS:]
    if len(onsets) < MIN_ONSETS:
        return None
    gaps = (onsets[None, :] - onsets[:, None])[np.triu_indices(len(onsets), 1)]
    intervals = gaps[(gaps > 0.05) & (gaps <= MAX_SPAN)]
    if not len(intervals):
        return None
    # The smoothed density of log-intervals, on a grid: a histogram convolved with the Gaussian.
    low = np.log(0.05)
    bins = int(np.ceil((np.log(MAX_SPAN) - low) / GRID)) + 1
    histogram = np.bincount(np.round((np.log(intervals) - low) / GRID).astype(int), minlength=bins)[:bins]
    reach = int(np.ceil(4 * SMOOTHING / GRID))
    kernel = np.exp(-0.5 * (np.arange(-reach, reach + 1) * GRID / SMOOTHING) ** 2)
    smoothed = np.convolve(histogram, kernel, mode="same")
    grid = low + GRID * np.arange(bins)
    periods = 60.0 / np.geomspace(MIN_BPM, MAX_BPM, int(np.log(MAX_BPM / MIN_BPM) / np.log(1.005)))

    def density(at: np.ndarray) -> np.ndarray:
        return np.interp(np.log(at), grid, smoothed, left=0.0, right=0.0)

    scores = sum(weight * density(periods * multiple) for multiple, weight in HARMONICS)
    prior = np.exp(-0.5 * (np.log2(60.0 / periods / PREFERRED_BPM) / PRIOR_OCTAVES) ** 2)
    best = periods[np.argmax(scores * prior)]
    return round(60.0 / best, 1)
