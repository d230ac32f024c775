import random

import pytest

from conftest import played
from segue.keys import Key, detect_key, in_key_ratio, key_of_pitches, parse_key, resolve_key
from segue.notes import Note


@pytest.mark.parametrize(
    ("text", "key"),
    [("D major", Key(2, "major")), ("F# minor", Key(6, "minor")), ("Bb", Key(10, "major")), ("c minor", Key(0, "minor")),
     ("Am", Key(9, "minor")), ("E-", Key(3, "major")), ("  G  MAJOR ", Key(7, "major")), ("Cb", Key(11, "major"))],
)
def test_parse_key(text, key):
    assert parse_key(text) == key


@pytest.mark.parametrize("text", ["", "H major", "D dorian", "auto?", "C##"])
def test_bad_key_names_are_refused_with_the_name(text):
    with pytest.raises(ValueError, match="key must look like"):
        parse_key(text)


def test_scales():
    assert Key(0, "major").pitch_classes == {0, 2, 4, 5, 7, 9, 11}
    assert Key(9, "minor").pitch_classes == {9, 11, 0, 2, 4, 5, 7}
    assert str(Key(6, "minor")) == "F# minor"


def test_a_c_major_scale_is_entirely_in_c_major_and_partly_in_c_sharp_major():
    scale = played([60, 62, 64, 65, 67, 69, 71, 72])
    assert in_key_ratio(scale, Key(0, "major")) == 1.0
    assert in_key_ratio(scale, Key(1, "major")) == pytest.approx(3 / 8)  # C, F and high C (B#, E#) are in C# major
    assert in_key_ratio([], Key(0, "major")) == 0.0


def test_in_key_ratio_weighs_by_sounding_time():
    notes = [Note(60, 0.0, 3.0), Note(61, 3.0, 4.0)]
    assert in_key_ratio(notes, Key(0, "major")) == pytest.approx(0.75)


D_MAJOR = played([62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62])


def test_detect_key_uses_music21_analysis():
    assert detect_key(D_MAJOR) == Key(2, "major")
    a_minor = played([69, 72, 76, 74, 72, 71, 69, 64, 69], held=0.9)
    assert detect_key(a_minor) == Key(9, "minor")


def _music21_key(notes) -> Key:
    from music21 import note, stream

    melody = stream.Stream()
    for n in notes:
        melody.append(note.Note(n.pitch, quarterLength=max(n.duration, 0.01)))
    found = melody.analyze("key")
    return Key(found.tonic.pitchClass, found.mode)


def test_detect_key_agrees_with_music21_without_importing_it():
    """Random phrases, mostly in one scale, with notes of many lengths: the same key as music21's
    own analysis, which generation no longer needs installed."""
    generator = random.Random(1)
    for _ in range(300):
        tonic, onset, notes = generator.randrange(12), 0.0, []
        for _ in range(generator.randrange(2, 25)):
            length = generator.choice([0.1, 0.25, 0.333, 0.5, 0.75, 1.0, 1.5]) * generator.uniform(0.8, 1.2)
            pitch = (60 + tonic + generator.choice((0, 2, 4, 5, 7, 9, 11)) + 12 * generator.choice((-1, 0, 1))
                     if generator.random() < 0.85 else generator.randrange(48, 84))
            notes.append(Note(pitch, onset, onset + length))
            onset += length
        assert detect_key(notes) == _music21_key(notes), notes


def test_key_of_pitches_finds_every_major_and_minor_key():
    """The pitch mixture's quick estimate: a scale tune in each of the 24 keys; no pitch is C major."""
    for tonic in range(12):
        assert key_of_pitches([60 + tonic + step for step in (0, 2, 4, 5, 7, 9, 11, 12, 7, 4, 0)]) == Key(tonic, "major")
        minor = [57 + tonic + step for step in (0, 2, 3, 5, 7, 8, 10, 12, 7, 3, 0, 0, 7)]
        assert key_of_pitches(minor) == Key((9 + tonic) % 12, "minor")
    assert key_of_pitches([]) == Key(0, "major")


def test_resolve_key():
    assert resolve_key(None, D_MAJOR) is None
    assert resolve_key("auto", D_MAJOR) == Key(2, "major")
    assert resolve_key(" AUTO ", D_MAJOR) == Key(2, "major")
    assert resolve_key("Eb major", D_MAJOR) == Key(3, "major")
