"""The transcription evaluation: its scores on hand-made notes with known answers, and a tiny run
end to end (two melodies, whistled, continued by the tiny model)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import require_fluidsynth
from segue.cli import main
from segue.notes import Note
from segue.performances import TIMBRES
from segue.transcription_eval import (END_TO_END_VARIATIONS, MEDIAN_FROM, SEVERAL_VOICES, evaluate_transcription,
                                      expression_for, note_scores, octave_shift, one_line, repeats_found, write_report)

REFERENCE = [Note(60, 0.0, 0.4, 80), Note(62, 0.5, 0.9, 80), Note(64, 1.0, 1.4, 80), Note(65, 1.5, 1.9, 80)]


def test_note_scores_count_onsets_within_50_ms_and_pitches_within_50_cents():
    assert note_scores(REFERENCE, REFERENCE)["f1"] == 1.0
    wrong_pitch = [REFERENCE[0], Note(63, 0.5, 0.9, 80), *REFERENCE[2:]]
    assert note_scores(REFERENCE, wrong_pitch)["precision"] == pytest.approx(0.75)
    late = [Note(n.pitch, n.start + 0.06, n.end, 80) for n in REFERENCE]  # 60 ms: every onset missed
    assert note_scores(REFERENCE, late)["f1"] == 0.0
    nearly = [Note(n.pitch, n.start + 0.04, n.end, 80) for n in REFERENCE]
    assert note_scores(REFERENCE, nearly)["f1"] == 1.0
    short = [Note(n.pitch, n.start, n.start + 0.1, 80) for n in REFERENCE]  # ends far too early
    scores = note_scores(REFERENCE, short)
    assert scores["f1"] == 1.0 and scores["f1_with_offsets"] == 0.0
    assert note_scores(REFERENCE, [])["recall"] == 0.0


def test_repeated_notes_are_counted_apart_from_the_others():
    sung = [Note(60, 0.0, 0.4, 80), Note(60, 0.5, 0.9, 80), Note(62, 1.0, 1.4, 80), Note(62, 1.5, 1.9, 80),
            Note(62, 2.0, 2.4, 80)]
    # The second 60 merged into the first, the last 62 into the one before.
    heard = [Note(60, 0.0, 0.9, 80), Note(62, 1.0, 1.4, 80), Note(62, 1.5, 2.4, 80)]
    assert repeats_found(sung, heard) == {"repeated": 3, "repeated_found": 1, "other": 2, "other_found": 2}
    assert repeats_found(sung, []) == {"repeated": 3, "repeated_found": 0, "other": 2, "other_found": 0}
    assert repeats_found(REFERENCE, REFERENCE) == {"repeated": 0, "repeated_found": 0, "other": 4, "other_found": 4}


def test_one_line_keeps_the_top_of_a_chord_and_cuts_overlaps():
    chord_then_legato = [Note(60, 0.0, 1.0, 80), Note(64, 0.0, 1.0, 80), Note(67, 0.8, 1.5, 80)]
    assert one_line(chord_then_legato) == [Note(64, 0.0, 0.8, 80), Note(67, 0.8, 1.5, 80)]


@pytest.mark.parametrize(("median", "moved_to"), [(40, 64), (54, 66), (55, 55), (66, 66), (67, 55), (80, 56)])
def test_a_melody_is_moved_by_octaves_into_the_voice_range(median, moved_to):
    assert median + octave_shift([Note(median, 0.0, 1.0, 80)], "voice-oohs") == moved_to


def test_an_untrained_singer_drifts_and_misses_each_note_within_the_ranges_drawn():
    untrained = [expression_for(np.random.default_rng(seed), "untrained") for seed in range(200)]
    assert all(abs(e.tuning_cents) <= 20 and abs(e.drift_cents) <= 60 and e.intonation_cents == 20 for e in untrained)
    drifts = [e.drift_cents for e in untrained]
    assert min(drifts) < -50 and max(drifts) > 50 and max(abs(e.tuning_cents) for e in untrained) > 15
    trained = [expression_for(np.random.default_rng(seed), "clean") for seed in range(200)]
    assert all(e.drift_cents == 0 and e.intonation_cents == 0 for e in trained)
    assert max(abs(e.tuning_cents) for e in trained) > 35  # up to 40 cents off A440, held
    # The condition draws after the others' fields: a recording's vibrato is the same in each.
    assert [e.vibrato_cents for e in untrained] == [e.vibrato_cents for e in trained]


def test_a_tiny_evaluation_end_to_end(small_corpus_path, tiny_checkpoint_path, tmp_path):
    require_fluidsynth()  # the chords of the several-voices part
    results = evaluate_transcription(small_corpus_path, "train", 2, ("whistle",), tiny_checkpoint_path, progress=False)
    assert results["melodies"] == 2 and set(results["timbres"]["whistle"]) == {"clean", "20 dB", "10 dB", "room",
                                                                                    "untrained", "10 dB pink"}
    assert all(0 <= s["f1"] <= 1 for s in results["timbres"]["whistle"].values())
    assert results["timing_ms_per_5s"]["runs"] == 12 and results["timing_ms_per_5s"]["p50"] > 0
    assert all(s["refused_as_several_voices"] == 0 for s in results["timbres"]["whistle"].values())
    several = results["several_voices"]
    assert set(several) == set(SEVERAL_VOICES) and all(row["recordings"] == 1 for row in several.values())
    assert several["piano chords"]["refused"] == several["guitar chords"]["refused"] == 1
    e2e = results["end_to_end"]
    assert e2e["true notes"]["inputs"] == 2 and e2e["transcribed"]["inputs"] <= 2
    assert e2e["true notes"]["continuations"] == 2 * END_TO_END_VARIATIONS
    assert e2e["whistle"] == e2e["transcribed"]  # one voice: its row is all the transcriptions
    assert e2e["true notes"]["bits_per_note"] > 0
    assert set(results["targets"]) >= {"note_f1_clean_every_timbre", "note_f1_10dB_every_timbre",
                                       "transcription_ms_p50", "end_to_end_in_key_ratio"}
    md, js = write_report(results, tmp_path / "transcription", "segue evaluate-transcription --test")
    assert md.read_text().count("| whistle |") == 3 and "segue evaluate-transcription --test" in md.read_text()
    repeats = results["timbres"]["whistle"]["clean"]["repeats"]
    assert repeats["repeated_found"] <= repeats["repeated"] and 0 < repeats["other_found"] <= repeats["other"]
    assert "*Repeated notes*" in md.read_text()
    assert "| piano chords | 1 | 1 (100%) |" in md.read_text() and "| one voice (all voices and conditions above) | 12 | 0 |" in md.read_text()
    assert json.loads(js.read_text())["command"] == "segue evaluate-transcription --test"


def test_bad_options_are_one_line(capsys, tmp_path):
    assert main(["evaluate-transcription", "--timbre", "kazoo"]) == 2
    assert main(["evaluate-transcription", "--melodies", "0"]) == 2
    assert main(["evaluate-transcription", "--data", str(tmp_path / "none"), "--timbre", "whistle"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "unknown voice 'kazoo'" in err and "--melodies" in err


def test_every_voice_has_a_range_to_carry_its_tunes_in():
    assert set(MEDIAN_FROM) == set(TIMBRES)
