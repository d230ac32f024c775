import hashlib
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from segue import data
from segue.notes import melody_end


def test_prepare_writes_songs_and_a_split_by_song(small_corpus, tmp_path):
    assert len(small_corpus.bounds) - 1 == sum(small_corpus.count(s) for s in data.SPLITS) >= 50
    ids = {split: {s.song_id for s in small_corpus.songs(split)} for split in data.SPLITS}
    assert not ids["train"] & ids["valid"] and not ids["train"] & ids["test"] and not ids["valid"] & ids["test"]
    assert any(i.startswith("bach/") for i in ids["train"] | ids["valid"] | ids["test"])


def test_split_manifest_is_written_beside_the_data(tmp_path):
    out = tmp_path / "c.npz"
    summary = data.prepare(out, [data.corpus_root() / "bach/bwv1.6.mxl"], workers=1, progress=False)
    manifest = json.loads((tmp_path / "split.json").read_text())
    assert manifest["fingerprint"] == summary["fingerprint"] == data.load_corpus(out).fingerprint
    assert sum(len(v) for v in manifest["ids"].values()) == summary["distinct_songs"] == 1


def test_chorale_melody_is_the_soprano_line(small_corpus):
    song = next(s for split in data.SPLITS for s in small_corpus.songs(split) if s.song_id == "bach/bwv1.6.mxl#0")
    assert list(song.pitch[:4]) == [65, 72, 69, 65]  # the soprano's opening, not the horn's (65, 67, 60)


def test_duplicates_are_removed_in_any_key():
    a = data.Song("a", np.array([60, 62, 64], np.uint8), np.array([0, 1, 2], np.float32), np.ones(3, np.float32), np.nan)
    b = data.Song("b", np.array([65, 67, 69], np.uint8), np.array([0, 1, 2], np.float32), np.ones(3, np.float32), np.nan)
    c = data.Song("c", np.array([65, 67, 68], np.uint8), np.array([0, 1, 2], np.float32), np.ones(3, np.float32), np.nan)
    assert data.song_key(a) == data.song_key(b) != data.song_key(c)


def test_split_percentages():
    keys = [hashlib.sha1(str(i).encode()).hexdigest() for i in range(5000)]
    counts = {s: sum(data.split_of(k) == s for k in keys) / len(keys) for s in data.SPLITS}
    assert counts["train"] == pytest.approx(0.9, abs=0.02)
    assert counts["test"] == pytest.approx(0.05, abs=0.01)


def test_pairs_are_1_5_to_12_seconds_of_input_and_up_to_thirty_of_continuation_and_reproducible(small_corpus):
    config = data.PairConfig()
    pairs = data.make_pairs(small_corpus, "train", config, seed=7)
    again = data.make_pairs(small_corpus, "train", config, seed=7)
    assert len(pairs) > 50
    assert [p.input for p in pairs[:20]] == [p.input for p in again[:20]]
    for pair in pairs:
        assert 1.5 <= pair.input_length <= 12.0 + config.pause[1]  # a hesitation makes the recording longer
        assert len(pair.input) >= config.min_input_notes and pair.extension
        assert pair.input[0].start >= 0 and melody_end(pair.input) <= pair.input_length + 1e-9
        assert pair.extension[-1].start < 30.0
        for line in (pair.input, pair.extension):
            assert all(a.end <= b.start + 1e-9 for a, b in zip(line, line[1:]))  # monophonic
    # Input lengths and continuation lengths both spread over their ranges.
    lengths = [pair.input_length for pair in pairs]
    # (a song's cuts share one length, so over these 48 songs the median ranges 2.9-6.0 s by seed)
    assert min(lengths) < 2.5 and max(lengths) > 8.0 and 2.5 < np.median(lengths) < 6.5
    last_onsets = [pair.extension[-1].start for pair in pairs]
    assert min(last_onsets) < 5.0 and max(last_onsets) > 15.0


def test_a_fixed_window_cuts_every_input_at_that_length(small_corpus):
    pairs = data.make_pairs(small_corpus, "train", data.PairConfig(window=(5.0, 5.0), hesitation=0.0), seed=7)
    assert {pair.input_length for pair in pairs} == {5.0}
    assert max(melody_end(pair.input) for pair in pairs) > 4.5


def test_a_hesitating_player_pauses_once_inside_the_input_and_plays_the_continuation_through(small_corpus):
    steady = data.PairConfig(window=(5.0, 5.0), hesitation=0.0)
    hesitant = replace(steady, hesitation=1.0, pause=(2.0, 2.0))
    places = []
    for index, song in enumerate(small_corpus.songs("train")):
        # The first cut of a song draws the same performance either way, then the pause.
        [plain, *_] = data.song_pairs(song, steady, np.random.default_rng(index)) or [None]
        [held_up, *_] = data.song_pairs(song, hesitant, np.random.default_rng(index)) or [None]
        if plain is None:
            continue
        assert held_up.extension == plain.extension and held_up.input_length == plain.input_length + 2.0
        at = next(i for i, (a, b) in enumerate(zip(plain.input, held_up.input)) if a != b)
        assert 1 <= at and held_up.input[at:] == [note.shifted(2.0) for note in plain.input[at:]]
        places.append(at / len(plain.input))
    assert len(places) > 20 and min(places) < 0.25 and max(places) > 0.75  # anywhere inside the phrase


def test_by_default_a_share_of_inputs_hold_one_pause(small_corpus):
    config = data.PairConfig(window=(5.0, 5.0))
    pauses = [pair.input_length - 5.0 for seed in range(10) for pair in data.make_pairs(small_corpus, "train", config, seed)]
    held_up = [pause for pause in pauses if pause > 0]
    assert len(pauses) > 800 and len(held_up) / len(pauses) == pytest.approx(config.hesitation, abs=0.04)
    assert config.pause[0] <= min(held_up) and max(held_up) <= config.pause[1] and 0.7 < np.median(held_up) < 1.2


def test_a_fixed_extension_cuts_the_continuation_there_but_keeps_its_last_note_whole(small_corpus):
    config = data.PairConfig(extension=(5.0, 5.0))
    pairs = data.make_pairs(small_corpus, "train", config, seed=7)
    assert all(pair.extension[-1].start < 5.0 for pair in pairs)
    # The true continuation's last note is not cut at the window's end: its length is the
    # player's, which the decoder should learn (cut notes taught it short notes late on).
    assert any(melody_end(pair.extension) > 5.0 for pair in pairs)


@pytest.mark.parametrize("bad", [{"window": (0.0, 5.0)}, {"window": (6.0, 5.0)}, {"extension": (-1.0, 5.0)},
                                 {"ioi_range": (0.6, 0.16)}, {"pairs_per_song": 0}, {"hesitation": 1.5},
                                 {"pause": (0.0, 1.0)}])
def test_a_pair_config_names_a_bad_setting(bad):
    name = next(iter(bad))
    with pytest.raises(ValueError, match=name):
        data.PairConfig(**bad)


def test_augmentation_spreads_keys_registers_and_tempos(small_corpus):
    pairs = data.make_pairs(small_corpus, "train", data.PairConfig(), seed=1)
    medians = [np.median([n.pitch for n in p.input]) for p in pairs]
    spacing = [np.median(np.diff([n.start for n in p.input])) for p in pairs if len(p.input) > 2]
    assert min(medians) < 48 and max(medians) > 76  # from bass to treble
    assert np.percentile(spacing, 10) < 0.25 and np.percentile(spacing, 90) > 0.4
    assert len({n.velocity for p in pairs for n in p.input}) > 20
    different_seed = data.make_pairs(small_corpus, "train", data.PairConfig(), seed=2)
    assert [p.input for p in different_seed[:5]] != [p.input for p in pairs[:5]]


def test_missing_data_says_what_to_run(tmp_path):
    with pytest.raises(data.DataError, match="segue prepare"):
        data.load_corpus(tmp_path / "none.npz")


def test_prepare_is_deterministic(tmp_path):
    files = [data.corpus_root() / "bach/bwv10.7.mxl", data.corpus_root() / "bach/bwv1.6.mxl"]
    first = data.prepare(tmp_path / "a.npz", files, workers=2, progress=False)
    second = data.prepare(tmp_path / "b" / "b.npz", list(reversed(files)), workers=1, progress=False)
    assert first == second
    assert data.load_corpus(tmp_path / "a.npz").fingerprint == first["fingerprint"]


def test_committed_dataset_matches_its_split_and_is_big_enough():
    root = Path(__file__).resolve().parents[1] / "data"
    corpus = data.load_corpus(root / "corpus.npz")
    manifest = json.loads((root / "split.json").read_text())
    assert corpus.fingerprint == manifest["fingerprint"]
    assert {s: corpus.count(s) for s in data.SPLITS} == manifest["songs"] == {s: len(v) for s, v in manifest["ids"].items()}
    assert manifest["distinct_songs"] >= 5000
    assert len(data.make_pairs(corpus, "train", data.PairConfig(), seed=0)) >= 20_000
