import math

import numpy as np
import pytest

from conftest import played
from segue import metrics
from segue.keys import Key
from segue.notes import Note


def test_bits_of_a_uniform_choice_is_log2_of_the_vocabulary():
    vocabulary = 48 * 128 * 48
    assert metrics.bits(-math.log(1 / vocabulary)) == pytest.approx(math.log2(vocabulary))


def test_repeated_input_is_a_verbatim_copy_even_when_looped():
    melody = played([60, 62, 64, 65])
    assert metrics.is_verbatim_copy(melody, melody)
    assert metrics.is_verbatim_copy(melody, played([64, 65, 60, 62, 64, 65, 60]))  # from the middle, wrapping
    assert not metrics.is_verbatim_copy(melody, played([60, 62, 64, 67]))
    assert not metrics.is_verbatim_copy(melody, played([60, 62]))  # too short to tell


def test_tempo_ratio():
    slow, fast = played([60, 62, 64, 65], spacing=0.5), played([60, 62, 64, 65], spacing=0.25)
    assert metrics.tempo_ratio(slow, fast) == pytest.approx(0.5, rel=0.05)
    assert metrics.tempo_ratio(slow, slow) == pytest.approx(1.0)
    assert metrics.tempo_ratio(slow, [Note(60, 0.0, 1.0)]) is None


@pytest.mark.parametrize(("spacing", "kept"), [(0.5, True), (0.335, True), (0.33, False), (0.75, True), (0.76, False)])
def test_a_continuation_keeps_the_pace_within_two_thirds_to_one_and_a_half(spacing, kept):
    melody = [Note(60, 0.5 * i, 0.5 * i + 0.25) for i in range(5)]  # 0.5 s apart
    assert metrics.keeps_pace(melody, [Note(62, spacing * i, spacing * i + 0.1) for i in range(6)]) is kept
    assert metrics.keeps_pace(melody, [Note(62, 0.0, 0.1)])  # no pace to keep
    ratio = spacing / 0.5
    assert metrics.pace_error(melody, [Note(62, spacing * i, spacing * i + 0.1) for i in range(6)]) == pytest.approx(
        abs(np.log(ratio)))
    assert metrics.pace_error(melody, [Note(62, 0.0, 0.1)]) == np.inf  # never nearer the pace than one that has one


def test_simple_features():
    notes = played([60, 64, 62, 67])
    assert metrics.pitch_range(notes) == 7
    assert metrics.intervals(notes) == [4, -2, 5]
    assert metrics.mean_abs_interval(notes) == pytest.approx(11 / 3)
    assert metrics.pitch_classes_from_tonic(notes, Key(7, "major")) == [5, 9, 7, 0]
    assert metrics.onsets_gaps([Note(60, 0.0, 0.5), Note(62, 0.75, 1.0)]) == [0.75]


def test_overlapped_area():
    edges = np.arange(0, 11) - 0.5
    same = [1, 2, 2, 3, 3, 3]
    assert metrics.overlapped_area(same, same, edges) == pytest.approx(1.0)
    assert metrics.overlapped_area([1, 1], [5, 5], edges) == 0.0
    assert metrics.overlapped_area([1, 2], [2, 3], edges) == pytest.approx(0.5)
    assert metrics.overlapped_area([], [1], edges) == 0.0
    assert metrics.overlapped_area([-100], [0], edges) == pytest.approx(1.0)  # outliers land in the end bins


def test_rushed_share_counts_onsets_too_close_to_be_melody():
    steady = played([60, 62, 64, 65], spacing=0.3)
    glitch = [Note(60, 0.0, 0.02), Note(62, 0.03, 0.3), Note(64, 0.3, 0.5)]
    assert metrics.rushed_share([steady]) == 0.0
    assert metrics.rushed_share([steady, glitch]) == pytest.approx(1 / 5)
    assert metrics.rushed_share([]) == 0.0


def test_notes_heard_matches_each_note_once_by_pitch_and_onset():
    reference = [Note(60 + i, 0.5 * i, 0.5 * i + 0.4) for i in range(5)]
    heard = [reference[0], *reference[2:]]  # the second note missed: the rest still count
    assert metrics.notes_heard(reference, heard) == 4
    extra = sorted(heard + [Note(70, 0.7, 0.8)], key=lambda n: n.start)
    assert metrics.notes_heard(reference, extra) == 4
    late = [Note(n.pitch, n.start + 0.06, n.end) for n in reference]  # past the 50 ms tolerance
    assert metrics.notes_heard(reference, late) == 0
    assert metrics.notes_heard(reference, late, onset_tolerance=0.1) == 5
    twice = [Note(60, 0.0, 0.2), Note(60, 0.02, 0.4)]  # one heard note answers one sung note
    assert metrics.notes_heard([Note(60, 0.01, 0.4)], twice) == 1
    assert metrics.notes_heard(twice, [Note(60, 0.01, 0.4)]) == 1
    assert metrics.notes_heard(reference, [Note(n.pitch + 1, n.start, n.end) for n in reference]) == 0


def test_articulation_is_the_median_share_of_the_spacing_a_note_is_held():
    line = [Note(pitch, 0.5 * i, 0.5 * i + 0.45) for i, pitch in enumerate([60, 62, 64, 65, 67])]  # 0.45 s of each 0.5
    assert metrics.articulation(line) == pytest.approx(0.9)
    assert metrics.articulation(metrics.held_for(line, share=0.2)) == pytest.approx(0.2)
    # A rest after one note is one share of four; an overlap counts as legato; one spacing tells nothing.
    rest = line[:2] + [Note(64, 2.0, 2.45), Note(65, 2.5, 2.95), Note(67, 3.0, 3.45)]
    assert metrics.articulation(rest) == pytest.approx(0.9)
    assert metrics.articulation([Note(60, 0, 0.8), Note(62, 0.5, 1.0), Note(64, 1.0, 1.2)]) == pytest.approx(1.0)
    assert metrics.articulation(line[:2]) is None


def test_held_for_plays_the_same_onsets_with_another_touch():
    line = [Note(60, 0.0, 0.45), Note(62, 0.5, 0.95), Note(64, 2.0, 2.4)]
    assert metrics.held_for(line, share=0.5) == [Note(60, 0.0, 0.25), Note(62, 0.5, 1.25), Note(64, 2.0, 2.2)]
    assert metrics.held_for(line, seconds=0.1) == [Note(60, 0.0, 0.1), Note(62, 0.5, 0.6), Note(64, 2.0, 2.1)]
    assert metrics.held_for(line, seconds=1.0) == [Note(60, 0.0, 0.5), Note(62, 0.5, 1.5), Note(64, 2.0, 2.4)]
    assert metrics.held_for([], share=0.5) == []
