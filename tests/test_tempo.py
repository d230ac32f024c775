import random
import warnings

import pytest

from conftest import played
from segue.notes import Note
from segue.tempo import estimate_bpm


def performed(bpm: float, beats: list[float], jitter: float = 0.012, seed: int = 0) -> list[Note]:
    """A phrase played at `bpm`: note lengths in beats, onsets wobbling by `jitter` seconds."""
    rng, beat, onset, notes = random.Random(seed), 60 / bpm, 0.1, []
    for length in beats:
        start = max(0.0, onset + rng.gauss(0, jitter))
        notes.append(Note(60, start, start + 0.8 * length * beat))
        onset += length * beat
    return notes


RHYTHMS = {"quarters": [1] * 8, "mixed": [1, 0.5, 0.5, 1, 1, 0.5, 0.5, 2], "dotted": [1.5, 0.5, 1, 1, 1.5, 0.5, 2]}


@pytest.mark.parametrize("bpm", [72, 90, 100, 120, 140, 160])
@pytest.mark.parametrize("rhythm", sorted(RHYTHMS))
def test_the_tempo_of_a_played_phrase(bpm, rhythm):
    assert estimate_bpm(performed(bpm, RHYTHMS[rhythm])) == pytest.approx(bpm, rel=0.02)


@pytest.mark.parametrize("bpm", [45, 200, 240])
def test_outside_the_preferred_range_the_beat_is_an_octave_away_at_worst(bpm):
    """Very slow or very fast: the beat found is the played one, doubled or halved, so notes still
    fall on the grid."""
    found = estimate_bpm(performed(bpm, RHYTHMS["quarters"]))
    assert min(abs(found / bpm - ratio) for ratio in (0.5, 1, 2)) < 0.02


def test_too_few_notes_have_no_tempo():
    assert estimate_bpm(played([60, 62])) is None
    assert estimate_bpm([Note(60, 0.0, 1.0), Note(64, 0.0, 1.0), Note(67, 0.0, 1.0)]) is None


def test_an_onset_near_the_float_limit_is_left_out_quietly():
    """schemathesis sent one: rounding it to milliseconds overflowed, and inf - inf warned of NaN."""
    notes = [Note(60, 0.0, 0.4), Note(62, 0.5, 0.9), Note(64, 1.0, 1.4), Note(65, 1.797693134862316e305, 1.7976931348623163e305)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert estimate_bpm(notes) == pytest.approx(120, abs=1)
