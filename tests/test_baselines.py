import numpy as np
import pytest

from conftest import played
from segue.baselines import NGramModel, random_in_key, repeat_input
from segue.keys import Key
from segue.tokenizer import Tokenizer


@pytest.fixture(scope="module")
def scale_model():
    tokenizer = Tokenizer()
    runs = [tokenizer.encode(played([60, 62, 64, 65, 67, 69, 71, 72] * 2, spacing=0.3)) for _ in range(5)]
    return NGramModel(tokenizer).fit(runs)


def test_ngram_learns_a_pattern_in_any_key(scale_model):
    tokenizer = scale_model.tokenizer
    tokens = tokenizer.encode(played([65, 67, 69, 70, 72], spacing=0.3))  # the same steps, in F
    _, pitch, _ = scale_model.field_distributions(np.vstack([tokens, [[tokens[-1, 0], 0, 0]]]), len(tokens))
    assert pitch.argmax() == 74 and pitch.sum() == pytest.approx(1.0)


def test_ngram_generation_fills_the_time_and_is_seeded(scale_model):
    line = played([60, 62, 64, 65, 67], spacing=0.3)
    first = scale_model.generate(line, 1.6, 5.0, seed=3)
    assert first == scale_model.generate(line, 1.6, 5.0, seed=3)
    assert first and first[0].start >= 0 and first[-1].end <= 5.0 and first[-1].start > 4.0
    in_key = scale_model.generate(line, 1.6, 5.0, seed=4, key=Key(0, "major"))
    assert all(Key(0, "major").allows(n.pitch) for n in in_key)


def test_repeat_replays_the_input_with_its_final_rest():
    line = played([60, 62, 64], spacing=0.5, start=0.2)
    notes = repeat_input(line, input_length=2.2, seconds=5.0)
    assert [n.pitch for n in notes] == [60, 62, 64] * 3
    assert notes[3].start == pytest.approx(2.0)  # the input lasts 2.0 s from its first note
    assert all(n.end <= 5.0 for n in notes)


def test_random_in_key_stays_in_key_range_and_pace():
    line = played([62, 64, 66, 67, 69, 71], spacing=0.4)
    notes = random_in_key(line, 5.0, Key(2, "major"), seed=1)
    assert notes == random_in_key(line, 5.0, Key(2, "major"), seed=1)
    assert all(Key(2, "major").allows(n.pitch) and 62 <= n.pitch <= 71 for n in notes)
    assert 11 <= len(notes) <= 14  # spaced like the input: about 0.4 s apart
    assert notes[-1].end <= 5.0
