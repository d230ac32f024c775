import math

import pytest

from segue.notes import Note, melody_end, melody_line, paused, quantized


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        ({"pitch": 128, "start": 0.0, "end": 1.0}, "pitch"),
        ({"pitch": -1, "start": 0.0, "end": 1.0}, "pitch"),
        ({"pitch": 60.5, "start": 0.0, "end": 1.0}, "pitch"),
        ({"pitch": 60, "start": -0.1, "end": 1.0}, "start"),
        ({"pitch": 60, "start": 1.0, "end": 1.0}, "end"),
        ({"pitch": 60, "start": math.nan, "end": 1.0}, "start"),
        ({"pitch": 60, "start": 0.0, "end": math.inf}, "end"),
        ({"pitch": 60, "start": 0.0, "end": 1.0, "velocity": 0}, "velocity"),
        ({"pitch": 60, "start": 0.0, "end": 1.0, "velocity": 128}, "velocity"),
    ],
)
def test_note_rejects_bad_values_and_names_them(kwargs, names):
    with pytest.raises(ValueError, match=names):
        Note(**kwargs)


def test_chord_keeps_its_top_note_even_with_a_ragged_attack():
    chord = [Note(60, 0.0, 1.0), Note(67, 0.01, 1.0), Note(64, 0.02, 1.0)]
    assert melody_line(chord) == [Note(67, 0.01, 1.0)]


def test_accompaniment_under_a_held_melody_note_is_dropped():
    melody = [Note(72, 0.0, 2.0), Note(74, 2.0, 3.0)]
    bass = [Note(48, 0.5, 1.0), Note(50, 1.0, 1.5)]
    assert melody_line(melody + bass) == melody


def test_melody_over_a_sustained_bass_is_kept_whole():
    bass = [Note(40, 0.0, 4.0)]
    melody = [Note(72, 0.0, 1.0), Note(74, 1.0, 2.0), Note(76, 2.5, 3.0)]
    assert melody_line(bass + melody) == melody


def test_legato_overlap_of_a_descending_line_trims_the_earlier_note():
    line = melody_line([Note(76, 0.0, 0.55), Note(74, 0.5, 1.0)])
    assert line == [Note(76, 0.0, 0.5), Note(74, 0.5, 1.0)]


def test_higher_note_cuts_the_sounding_one():
    assert melody_line([Note(60, 0.0, 2.0), Note(67, 1.0, 1.5)]) == [Note(60, 0.0, 1.0), Note(67, 1.0, 1.5)]


def test_monophonic_line_is_unchanged():
    line = [Note(60, 0.0, 0.4), Note(62, 0.5, 0.9), Note(64, 1.0, 1.4)]
    assert melody_line(list(reversed(line))) == line
    assert melody_end(line) == 1.4
    assert melody_end([]) == 0.0


def test_quantized_notes_land_on_the_grid_and_keep_a_step_each():
    notes = [Note(60, 0.02, 0.23), Note(62, 0.26, 0.3), Note(64, 0.49, 1.9), Note(64, 0.51, 0.6)]
    snapped = quantized(notes, 0.25, 1.5)
    assert snapped == [Note(60, 0.0, 0.25), Note(62, 0.25, 0.5), Note(64, 0.5, 1.5)]  # the doubled 64 once
    with pytest.raises(ValueError, match="grid"):
        quantized(notes, 0.0, 1.5)


def test_a_pause_moves_the_note_it_comes_before_and_every_later_one():
    line = [Note(60, 0.0, 0.4), Note(62, 0.5, 0.9), Note(64, 1.0, 1.4)]
    assert paused(line, 1, 2.0) == [Note(60, 0.0, 0.4), Note(62, 2.5, 2.9), Note(64, 3.0, 3.4)]
    assert paused(line, 3, 2.0) == line
