import numpy as np
import pytest

from conftest import played
from segue import ExtendError, extend
from segue.generate import continuation_notes, extend_batch, prepare
from segue.notes import Note, melody_end
from segue.tokenizer import Tokenizer


@pytest.fixture
def phrase():
    return played([60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67], spacing=0.42)


def test_continuation_fits_the_requested_seconds(tiny_checkpoint, phrase):
    for seconds in (5.0, 2.5, 8.0):
        [notes] = extend(phrase, seconds=seconds, seed=1, checkpoint=tiny_checkpoint)
        assert notes and all(0 <= n.start < n.end <= seconds for n in notes)
        assert all(a.end <= b.start for a, b in zip(notes, notes[1:]))


def test_same_seed_same_output_and_variations_differ(tiny_checkpoint, phrase):
    first = extend(phrase, seed=42, variations=3, checkpoint=tiny_checkpoint)
    again = extend(phrase, seed=42, variations=3, checkpoint=tiny_checkpoint)
    assert first == again
    assert len(first) == 3 and first[0] != first[1]
    assert extend(phrase, seed=43, checkpoint=tiny_checkpoint) != extend(phrase, seed=42, checkpoint=tiny_checkpoint)


def test_continuation_starts_at_the_input_end_even_after_a_long_rest(tiny_checkpoint, phrase):
    [notes] = extend(phrase, input_length=melody_end(phrase) + 3.0, seed=3, checkpoint=tiny_checkpoint)
    assert notes and notes[0].start >= 0


def test_a_very_long_final_rest_still_gets_a_full_continuation(tiny_checkpoint, phrase):
    [notes] = extend(phrase, input_length=melody_end(phrase) + 20.0, temperature=0, checkpoint=tiny_checkpoint)
    assert notes and notes[0].start < 1.0 and notes[-1].start > 2.0


def test_velocity_follows_the_player(tiny_checkpoint):
    quiet = played([60, 62, 64, 65], velocity=40)
    [notes] = extend(quiet, seed=1, checkpoint=tiny_checkpoint)
    assert {n.velocity for n in notes} == {40}


def test_long_input_uses_its_last_part(tiny_checkpoint):
    long = played([60 + (i * 5) % 12 for i in range(300)], spacing=0.2)
    [notes] = extend(long, seed=1, checkpoint=tiny_checkpoint)
    assert notes and notes[-1].end <= 5.0


def test_polyphonic_input_is_reduced_first(tiny_checkpoint):
    chords = [Note(p, i * 0.5, i * 0.5 + 0.45) for i in range(8) for p in (48, 52, 55 + i)]
    assert extend(chords, seed=5, checkpoint=tiny_checkpoint)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"seconds": 0}, "seconds"), ({"seconds": 1e9}, "seconds"), ({"seconds": float("nan")}, "seconds"),
     ({"temperature": -1}, "temperature"), ({"top_p": 0}, "top_p"), ({"variations": 0}, "variations"),
     ({"variations": 1000}, "variations"), ({"input_length": float("inf")}, "input_length"),
     ({"seed": -1}, "seed"), ({"seed": 2**64}, "seed")],
)
def test_bad_options_name_the_field(tiny_checkpoint, phrase, kwargs, field):
    with pytest.raises(ExtendError, match=field):
        extend(phrase, checkpoint=tiny_checkpoint, **kwargs)


def test_empty_input_is_refused(tiny_checkpoint):
    with pytest.raises(ExtendError, match="no notes"):
        extend([], checkpoint=tiny_checkpoint)


def test_key_lock_keeps_every_pitch_in_the_scale(tiny_checkpoint, phrase):
    c_major = {0, 2, 4, 5, 7, 9, 11}
    for notes in extend(phrase, key="C major", seed=4, variations=4, temperature=1.5, checkpoint=tiny_checkpoint):
        assert notes and all(n.pitch % 12 in c_major for n in notes)
    f_sharp_minor = {6, 8, 9, 11, 1, 2, 4}
    [notes] = extend(phrase, key="F# minor", seed=4, checkpoint=tiny_checkpoint)
    assert all(n.pitch % 12 in f_sharp_minor for n in notes)


def test_key_auto_uses_the_key_of_the_input(tiny_checkpoint):
    d_major = played([62, 64, 66, 67, 69, 71, 73, 74, 69, 66, 62])
    for notes in extend(d_major, key="auto", seed=2, variations=3, temperature=1.5, checkpoint=tiny_checkpoint):
        assert all(n.pitch % 12 in {2, 4, 6, 7, 9, 11, 1} for n in notes)


def test_bad_key_is_an_extend_error(tiny_checkpoint, phrase):
    with pytest.raises(ExtendError, match="key must look like"):
        extend(phrase, key="H minor", checkpoint=tiny_checkpoint)


def test_a_request_gives_the_same_notes_alone_as_in_any_batch(tiny_checkpoint, phrase):
    """The server batches concurrent requests; a seed must still mean the same continuation."""
    tokenizer = tiny_checkpoint.tokenizer
    requests = [
        dict(notes=phrase, seed=1),
        dict(notes=played([72, 71, 69]), seconds=8.0, temperature=0.0, seed=2),
        dict(notes=phrase, variations=3, top_p=0.5, key="C major", seed=3),
        dict(notes=played([60 + i % 5 for i in range(40)], spacing=0.15), seconds=2.0, temperature=1.7, seed=4),
    ]
    jobs = [prepare(tokenizer=tokenizer, **request) for request in requests]
    alone = [extend(checkpoint=tiny_checkpoint, **request) for request in requests]
    assert extend_batch(jobs, tiny_checkpoint) == alone
    assert extend_batch(jobs[::-1], tiny_checkpoint) == alone[::-1]
    assert extend_batch(jobs[1:2] * 3, tiny_checkpoint) == alone[1:2] * 3


def test_a_last_note_trimmed_to_under_a_millisecond_is_dropped():
    tokenizer = Tokenizer()
    bin_of = tokenizer.time_bin
    # Two notes a 1 s gap apart, read from the input's last onset 0.5 s before its end: the second
    # starts 0.5 s into a continuation that is asked to last 0.5 s plus a hair.
    tokens = np.array([[bin_of(1.0), 60, bin_of(0.5)], [bin_of(1.0), 62, bin_of(0.5)]])
    first, second = tokenizer.decode(tokens)
    seconds = second.start - 0.5 + 0.0004
    notes = continuation_notes(tokens, tokenizer, 0.5, seconds, [Note(60, 0.0, 0.4, 90)])
    assert [n.pitch for n in notes] == [60] and notes[0].velocity == 90
    longer = continuation_notes(tokens, tokenizer, 0.5, seconds + 0.01, [Note(60, 0.0, 0.4, 90)])
    assert [n.pitch for n in longer] == [60, 62]
