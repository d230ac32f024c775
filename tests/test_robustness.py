"""The robustness measures on hand-made melodies with known answers, and the sweeps driven by a
real generator whose behaviour is known (the `repeat` baseline keeps the input's pace exactly)."""

import statistics

import numpy as np
import pytest

from conftest import played
from segue import metrics, robustness
from segue.baselines import repeat_input
from segue.data import Pair
from segue.keys import Key
from segue.notes import Note

C_MAJOR = Key(0, "major")


def repeat(notes, input_length, seconds, temperature, seed):
    return repeat_input(notes, input_length, seconds)


def steady(count: int, spacing: float, start: float = 0.0, pitch: int = 60) -> list[Note]:
    return [Note(pitch + (0, 2, 4)[i % 3], start + i * spacing, start + i * spacing + 0.8 * spacing) for i in range(count)]


def test_a_phrase_at_60_bpm_stretched_twice_has_two_second_spacing():
    phrase = steady(6, 1.0)
    assert metrics.median_spacing(phrase) == pytest.approx(1.0)
    slower = metrics.time_stretched(phrase, 2.0)
    assert metrics.median_spacing(slower) == pytest.approx(2.0)
    assert [n.pitch for n in slower] == [n.pitch for n in phrase] and slower[-1].end == pytest.approx(2 * phrase[-1].end)
    assert metrics.median_spacing(steady(1, 1.0)) is None


def test_a_burst_of_30_ms_notes_is_counted_as_rushed_in_its_window():
    calm = steady(10, 0.5)  # 0 .. 4.5 s: 9 gaps of 0.5 s
    burst = [Note(72, 6.0 + 0.03 * i, 6.0 + 0.03 * i + 0.02) for i in range(6)]  # 5 gaps of 30 ms
    windows = metrics.window_measures(calm + burst, C_MAJOR, 10.0, 5.0, reference_pitch=60)
    assert [w["notes"] for w in windows] == [10, 6]
    assert [(w["gaps"], w["rushed"]) for w in windows] == [(9, 0), (6, 5)]  # 4.5 -> 6.0 counts in the second
    assert windows[1]["pitch_range"] == 0 and windows[1]["pitch_drift"] == 12
    assert windows[0]["in_key"] == 1.0
    assert metrics.rushed_share([calm + burst]) == pytest.approx(5 / 15)
    # A gap of exactly 60 ms is melody; 59 ms is a glitch.
    assert metrics.rushed_share([[Note(60, 0, 0.05), Note(62, 0.06, 0.1)]]) == 0.0
    assert metrics.rushed_share([[Note(60, 0, 0.05), Note(62, 0.059, 0.1)]]) == 1.0
    edge = [Note(60, 0, 0.05), Note(62, 0.06, 0.1), Note(64, 0.119, 0.2)]
    assert metrics.window_measures(edge, C_MAJOR, 5.0, 5.0, 60)[0]["rushed"] == 1


def test_window_rows_pool_counts_and_average_values():
    first = metrics.window_measures(steady(10, 0.5), C_MAJOR, 10.0, 5.0, 60)  # 2 notes/s, then nothing
    second = metrics.window_measures(steady(20, 0.5) + [Note(70, 10.0, 10.02), Note(70, 10.03, 10.2)],
                                     C_MAJOR, 10.0, 5.0, 60)
    rows = metrics.pool_windows([first, second], 5.0)
    assert [row["start"] for row in rows] == [0.0, 5.0]
    assert rows[0]["notes_per_second"] == pytest.approx(2.0)
    assert rows[1]["notes_per_second"] == pytest.approx((0 + 10) / 2 / 5)
    assert rows[0]["rushed_share"] == 0.0 and rows[1]["rushed_share"] == 0.0  # notes past 10 s are outside
    assert rows[1]["pitch_range"] == 4  # the empty window of the first does not count


def pair_at(spacing: float) -> Pair:
    notes = played([60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67, 72], spacing=spacing)
    notes = [n for n in notes if n.end <= 5.0]
    return Pair("test", notes, steady(60, 0.5), 5.0)


def test_stretch_slices_reach_the_absolute_spacings():
    pair = pair_at(0.25)
    factors = dict(robustness.stretch_factors(pair))
    assert list(factors) == ["x0.4", "x0.6", "x1", "x1.6", "x2.5", "1 s", "1.5 s"]
    assert factors["1.5 s"] * metrics.median_spacing(pair.input) == pytest.approx(1.5)


def test_a_generator_that_keeps_the_pace_passes_the_tempo_sweep():
    sweep = robustness.tempo_sweep(repeat, [pair_at(0.25), pair_at(0.4)])
    assert sweep["within_share"] == 1.0
    for label, row in sweep["slices"].items():
        assert row["tempo_ratio_median"] == pytest.approx(1.0, abs=0.03), label
    assert sweep["slices"]["1.5 s"]["input_spacing_median"] == pytest.approx(1.5)
    spacing = {label: row["input_spacing_median"] for label, row in sweep["slices"].items()}
    assert spacing["x0.4"] == pytest.approx(0.4 * spacing["x1"]) and spacing["x2.5"] == pytest.approx(2.5 * spacing["x1"])


def test_chained_extension_fills_thirty_seconds_at_the_inputs_pace():
    pair = Pair("test", steady(10, 0.5), steady(60, 0.5), 5.0)
    inputs = robustness.SweepInputs([pair], [pair], [C_MAJOR], [C_MAJOR])
    [chained] = robustness.chained_continuations(repeat, inputs)
    assert chained[0].start == pytest.approx(0.0) and 29.0 < chained[-1].start < 30.0
    rows = robustness.windows_of([chained], inputs)
    assert [row["notes_per_second"] for row in rows] == pytest.approx([2.0] * 6)
    assert all(row["rushed_share"] == 0.0 for row in rows)


def sweep_result(ratios, within, rushed, density):
    rows = [{"rushed_share": rushed, "notes_per_second": d} for d in density]
    return {"tempo": {"slices": {str(i): {"tempo_ratio_median": r} for i, r in enumerate(ratios)}, "within_share": within},
            "length": {"windows": rows}, "chained": rows, "temperature": {"0": rows, "0.5": rows}}


def test_sweep_targets_are_met_only_within_their_limits():
    truth = {"rushed_share": 0.002, "input_notes_per_second": 2.0}
    good = robustness.check_sweep_targets(sweep_result([0.95, 1.05], 0.93, 0.004, [2.0, 2.4, 1.6]), truth)
    assert all(target["met"] for target in good.values())
    bad = robustness.check_sweep_targets(sweep_result([0.5, 1.0], 0.8, 0.0041, [2.0, 2.6, 3.1]), truth)
    assert not any(target["met"] for target in bad.values())
    assert bad["long_density_drift_max"]["value"] == pytest.approx(0.55)
    assert bad["low_temperature_density_over_input"]["value"] == pytest.approx(3.1 / 2.0)


def test_the_truths_own_tempo_ratios_are_reported_beside_the_sweep():
    pair = pair_at(0.25)
    halved = Pair("test", pair.input, metrics.time_stretched(pair.extension, 0.5), 5.0)
    truth = robustness.truth_windows(robustness.SweepInputs([pair, halved], [pair], [C_MAJOR], [C_MAJOR, C_MAJOR]))
    # steady(60, 0.5) against an input spaced 0.25 s: ratio 2 (outside x0.67-1.5); halved: 1.
    assert truth["tempo_within_share"] == 0.5
    assert truth["tempo_ratio_median"] == pytest.approx(1.5, abs=0.05)


def test_the_key_sweep_moves_each_input_to_every_tonic_in_its_own_mode():
    """A phrase in A minor moved to each tonic by the nearer way (never over half an octave) and
    repeated back: in the moved key every time, at the input's pitch."""
    assert [robustness.key_shift(Key(9, "minor"), tonic) for tonic in (0, 3, 4, 9, 10)] == [3, 6, -5, 0, 1]
    assert {robustness.key_shift(Key(k, "major"), t) for k in range(12) for t in range(12)} == set(range(-5, 7))
    pair = Pair("test", [Note(p, 0.5 * i, 0.5 * i + 0.4) for i, p in enumerate([69, 71, 72, 74, 76, 77, 76])],
                steady(10, 0.5), 5.0)
    a_minor = Key(9, "minor")
    seen = []

    def repeat_and_note_the_pitch(notes, input_length, seconds, temperature, seed):
        seen.append(statistics.median(n.pitch for n in notes))
        return repeat(notes, input_length, seconds, temperature, seed)

    rows = robustness.key_sweep(repeat_and_note_the_pitch, robustness.SweepInputs([pair], [pair], [a_minor], [a_minor]))
    assert list(rows) == ["C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"]
    assert all(row["in_key_ratio"] == 1.0 and row["pitch_drift"] == 0 for row in rows.values())
    assert seen == [74 + robustness.key_shift(a_minor, tonic) for tonic in range(12)]


def test_transposing_moves_every_note_and_leaves_out_those_off_the_midi_range():
    phrase = steady(3, 0.5, pitch=120)  # 120, 122, 124
    assert [n.pitch for n in metrics.transposed(phrase, 5)] == [125, 127]
    assert [n.pitch for n in metrics.transposed(phrase, -60)] == [60, 62, 64]
    assert Key(0, "major").transposed(-1) == Key(11, "major") and Key(9, "minor").transposed(15) == Key(0, "minor")


def test_the_register_sweep_moves_each_input_and_its_key():
    """A C major phrase (median E4) moved to each register and repeated back: the repeat stays in
    the moved key, at the input's pitch; one an octave up rises above every input's top note."""
    pair = Pair("test", [Note(p, 0.5 * i, 0.5 * i + 0.4) for i, p in enumerate([60, 62, 64, 65, 67])],
                steady(10, 0.5), 5.0)
    inputs = robustness.SweepInputs([pair, pair], [pair], [C_MAJOR], [C_MAJOR, C_MAJOR])
    rows = robustness.register_sweep(repeat, inputs)
    assert list(rows) == ["C2", "C3", "C4", "C5", "C6", "C7"]
    for row in rows.values():
        assert row["in_key_ratio"] == 1.0 and row["pitch_drift"] == 0 and row["above_top_share"] == 0
        assert row["notes_per_second"] == pytest.approx(1.0)  # five notes, then the input's 2.5 s of rest, again

    def octave_up(notes, input_length, seconds, temperature, seed):
        return metrics.transposed(repeat(notes, input_length, seconds, temperature, seed), 12)

    rows = robustness.register_sweep(octave_up, inputs)
    assert all(row["pitch_drift"] == 12 and row["above_top_share"] == 1 and row["below_bottom_share"] == 0
               and row["in_key_ratio"] == 1.0 for row in rows.values())
    # The truth's row: steady(10, 0.5) is C4 D4 E4 C4 ... (median D4) after an input of median E4.
    truth = robustness.truth_windows(inputs)["register"]
    assert truth["pitch_drift"] == -2 and truth["above_top_share"] == 0 and truth["in_key_ratio"] == 1.0


def test_a_shortened_input_is_the_last_seconds_of_the_phrase_from_zero():
    pair = Pair("test", steady(10, 0.5), steady(10, 0.5), 5.0)  # onsets 0, 0.5 .. 4.5
    short = robustness.shortened(pair, 1.5)
    assert [n.start for n in short.input] == pytest.approx([0.0, 0.5, 1.0])  # 3.5, 4.0, 4.5 moved back 3.5 s
    assert [n.pitch for n in short.input] == [n.pitch for n in pair.input[7:]]
    assert short.input_length == 1.5 and short.extension == pair.extension
    assert robustness.shortened(pair, 0.4) is None  # one note left: no phrase


def test_the_input_length_sweep_measures_each_length_in_its_melodys_key_beside_the_truth():
    """A C major phrase at 2 notes a second, whole and its last 2.5 s, repeated back: in key, at
    its pace; the melody's key is read from the input and its continuation together."""
    pair = Pair("test", [Note(p, 0.5 * i, 0.5 * i + 0.4) for i, p in enumerate([60, 64, 67, 72, 67, 65, 60, 62, 67, 60])],
                steady(10, 0.5), 5.0)
    assert robustness.melody_key(pair) == C_MAJOR
    slices = {f"{s:g} s": ([p], [robustness.melody_key(p)]) for s in (2.5, 5.0) if (p := robustness.shortened(pair, s))}
    inputs = robustness.SweepInputs([pair], [pair], [C_MAJOR], [C_MAJOR], slices)
    rows = robustness.input_length_sweep(repeat, inputs)
    assert list(rows) == ["2.5 s", "5 s"]
    for label, row in rows.items():
        assert row["in_key_ratio"] == 1.0 and row["tempo_ratio_median"] == pytest.approx(1.0, abs=0.03), label
        assert row["input_notes_per_second"] == pytest.approx(2.0) and row["pairs"] == 1
    assert rows["2.5 s"]["pitch_range"] == 67 - 60 and rows["5 s"]["pitch_range"] == 72 - 60  # the last 5 notes, or all
    truth = robustness.truth_windows(inputs)["input_length"]
    assert list(truth) == ["2.5 s", "5 s"] and truth["5 s"]["notes_per_second"] == pytest.approx(2.0)


def test_the_touch_sweep_holds_each_input_as_each_touch_says_and_measures_the_continuations_touch():
    """A C major phrase at 2 notes a second, played back by `repeat` with the same touch: the
    pace kept at every touch, and the continuation held as the input is."""
    pair = Pair("test", steady(10, 0.5), steady(10, 0.5), 5.0)
    inputs = robustness.SweepInputs([pair], [pair], [C_MAJOR], [C_MAJOR])
    rows = robustness.touch_sweep(repeat, inputs)
    assert list(rows) == list(robustness.TOUCHES) == ["as cut", "legato", "detached (1/2)", "staccato (1/5)",
                                                      "key taps (0.1 s)", "key taps, x2.5"]
    held = {"as cut": 0.8, "legato": 1.0, "detached (1/2)": 0.5, "staccato (1/5)": 0.2, "key taps (0.1 s)": 0.2,
            "key taps, x2.5": 0.1 / 1.25}
    for touch, row in rows.items():
        assert row["input_articulation"] == pytest.approx(held[touch]) == row["articulation"], touch
        assert row["tempo_ratio_median"] == pytest.approx(1.0) and row["tempo_within_share"] == 1.0, touch
        assert row["in_key_ratio"] == 1.0
    assert rows["legato"]["notes_per_second"] == pytest.approx(2.0) and rows["key taps, x2.5"]["notes_per_second"] == pytest.approx(0.8)
    # The true continuation is played with each touch too.
    truth = robustness.truth_windows(inputs)["touch"]
    assert {touch: row["articulation"] for touch, row in truth.items()} == pytest.approx(held)


def test_a_continuation_that_rushes_short_notes_is_seen_in_the_touch_sweep():
    """A generator that plays twice as fast when the input's notes are held under half their spacing."""
    pair = Pair("test", steady(10, 0.5), steady(10, 0.5), 5.0)
    inputs = robustness.SweepInputs([pair], [pair], [C_MAJOR], [C_MAJOR])

    def rushing(notes, input_length, seconds, temperature, seed):
        again = repeat(notes, input_length, seconds, temperature, seed)
        return metrics.time_stretched(again, 0.5) if metrics.articulation(notes) < 0.5 else again

    rows = robustness.touch_sweep(rushing, inputs)
    assert [rows[t]["tempo_ratio_median"] for t in robustness.TOUCHES] == pytest.approx([1, 1, 1, 0.5, 0.5, 0.5])
    assert rows["staccato (1/5)"]["tempo_within_share"] == 0.0


def test_a_loosened_line_moves_its_onsets_by_seeded_draws_and_keeps_its_notes_in_order():
    line = steady(10, 0.5)
    assert robustness.loosened(line, 0.0, np.random.default_rng(3)) == line
    loose = robustness.loosened(line, 0.03, np.random.default_rng(3))
    errors = np.random.default_rng(3).normal(0.0, 0.03, len(line))
    assert [n.start for n in loose] == pytest.approx(sorted(max(0.0, n.start + e) for n, e in zip(line, errors)))
    assert [n.pitch for n in loose] == [n.pitch for n in line] and all(type(n.start) is float for n in loose)
    assert all(a.end <= b.start for a, b in zip(loose, loose[1:])) and loose[0].start >= 0
    assert robustness.loosened(line, 0.03, np.random.default_rng(4)) != loose
    # Onsets drawn past each other are given out in time order, and those drawn before 0 all start
    # at 0: the notes keep their order, each ending by the next onset.
    close = [Note(60, 0.0, 0.01), Note(62, 0.01, 0.02), Note(64, 0.02, 0.5)]
    for seed in range(20):
        moved = robustness.loosened(close, 0.05, np.random.default_rng(seed))
        assert [n.pitch for n in moved] == [60, 62, 64] and [n.start for n in moved] == sorted(n.start for n in moved)
        assert all(a.end <= b.start or a.start == b.start for a, b in zip(moved, moved[1:]))


def test_a_recording_holds_the_input_late_with_a_rest_or_loosely():
    pair = Pair("test", steady(10, 0.5), steady(10, 0.5), 5.0)  # last note 4.5 .. 4.9 s
    notes, length = robustness.recorded(pair, "begun 2 s late", seed=0)
    assert [n.start for n in notes] == pytest.approx([2.0 + 0.5 * i for i in range(10)]) and length == 7.0
    notes, length = robustness.recorded(pair, "as cut", seed=0)
    assert notes == pair.input and length == 5.0
    notes, length = robustness.recorded(pair, "2 s rest at the end", seed=0)
    assert notes == pair.input and length == pytest.approx(7.0)
    notes, length = robustness.recorded(pair, "late and a rest", seed=0)
    assert notes[0].start == 2.0 and length == pytest.approx(9.0)
    short_rest = Pair("test", steady(10, 0.5), [], 4.6)  # recorded until 4.6 s, the last note sounding to 4.9
    assert robustness.recorded(short_rest, "1 s rest at the end", seed=0)[1] == pytest.approx(5.9)
    notes, length = robustness.recorded(pair, "a 1 s pause inside", seed=0)
    assert [n.start for n in notes] == pytest.approx([0.5 * i + (1.0 if i >= 5 else 0.0) for i in range(10)])
    assert length == 6.0
    notes, length = robustness.recorded(pair, "loose (50 ms)", seed=0)
    assert notes != pair.input and [n.pitch for n in notes] == [n.pitch for n in pair.input] and length == 5.0
    # The timing errors are drawn apart from the seed's own stream, which generation draws from.
    assert notes == robustness.loosened(pair.input, 0.05, np.random.default_rng((0, robustness.INPUT_TIMING)))


def test_a_continuation_thrown_by_a_rest_before_the_recording_ends_is_seen_in_the_recording_sweep():
    """`repeat` keeps the pace of every recording; a generator that answers a rest of over a second
    at the recording's end at half the pace is seen in the rest columns only."""
    pair = Pair("test", steady(10, 0.5), steady(10, 0.5), 5.0)
    inputs = robustness.SweepInputs([pair], [pair], [C_MAJOR], [C_MAJOR])
    rows = robustness.recording_sweep(repeat, inputs)
    assert list(rows) == list(robustness.RECORDINGS)
    for recording, row in rows.items():
        assert row["tempo_ratio_median"] == pytest.approx(1.0, abs=0.1) and row["tempo_within_share"] == 1.0, recording
        assert row["in_key_ratio"] == 1.0 and row["first_onset"] >= 0

    def thrown(notes, input_length, seconds, temperature, seed):
        again = repeat(notes, input_length, seconds, temperature, seed)
        return metrics.time_stretched(again, 2.0) if input_length - notes[-1].end > 1.0 else again

    rows = robustness.recording_sweep(thrown, inputs)
    slowed = {recording for recording, row in rows.items() if row["tempo_within_share"] == 0.0}
    assert slowed == {"1 s rest at the end", "2 s rest at the end", "late and a rest"}
    # The true continuations, played as loosely as their inputs (this one comes in 0.25 s after the input).
    later = Pair("test", steady(10, 0.5), steady(10, 0.5, start=0.25), 5.0)
    truth = robustness.truth_windows(robustness.SweepInputs([later], [later], [C_MAJOR], [C_MAJOR]))["recording"]
    assert list(truth) == list(robustness.RECORDINGS) and truth["as cut"]["tempo_ratio_median"] == pytest.approx(1.0)
    assert truth["as cut"]["first_onset"] == truth["2 s rest at the end"]["first_onset"] == 0.25
    true_loose = robustness.loosened(robustness.first_window(later), 0.05, np.random.default_rng((0, robustness.TRUTH_TIMING)))
    assert truth["loose (50 ms)"]["first_onset"] == pytest.approx(true_loose[0].start) != 0.25
    assert truth["loose (50 ms)"]["tempo_ratio_median"] == pytest.approx(metrics.tempo_ratio(later.input, true_loose))


def test_the_recording_sweep_measures_the_pace_against_the_input_as_cut():
    """A pause inside a short phrase can move its median spacing: here from 0.25 s to 0.5 s. A
    continuation that keeps the pace the player played at is within x0.67-1.5 in every column."""
    swung = [Note(60, start, start + 0.2) for start in np.cumsum([0.0] + [0.25, 0.5] * 4 + [0.25])]
    pair = Pair("test", swung, steady(20, 0.25), 5.0)
    assert metrics.median_spacing(robustness.recorded(pair, "a 1 s pause inside", seed=0)[0]) == 0.5
    inputs = robustness.SweepInputs([pair], [pair], [C_MAJOR], [C_MAJOR])

    def keeping(notes, input_length, seconds, temperature, seed):
        return steady(int(seconds / 0.25), 0.25)

    rows = robustness.recording_sweep(keeping, inputs)
    assert {recording: row["tempo_within_share"] for recording, row in rows.items()} == dict.fromkeys(robustness.RECORDINGS, 1.0)
    truth = robustness.true_recording_rows(inputs)
    assert truth["a 1 s pause inside"]["tempo_ratio_median"] == pytest.approx(1.0)
