"""Robustness sweeps for `segue evaluate`: what a user controls or does differently from the
training data, one slice at a time.

- tempo: the test inputs played slower and faster (stretched by a factor, or to a given median
  note spacing) -> does the continuation keep the player's pace?
- length: 30 s continuations, measured per 5 s window -> does it hold together past the 5 s it
  was first made for? (A shorter continuation with the same seed is the start of the longer one,
  note for note, so the first windows are the 5, 10 and 20 s continuations.)
- temperature: 30 s continuations at 0 (greedy) to 2 (the page's highest) -> the same per-window
  measures.
- chained: "extend again" six times, 5 s each, from the whole take so far -> the same measures.
- register: the test inputs moved by whole semitones so their median pitch is C2 .. C7 (training
  put tunes from D2 to C6), each in its own new key -> does the continuation stay in the key and
  near the input's pitch, or drift up or down?
- key: the test inputs moved by at most half an octave so that their key's tonic is C, C#, .. B
  (a player may start anywhere) -> the same measures, key by key.
- touch: the test inputs played legato, detached, staccato or as quick key taps (a computer
  keyboard's), also at a slow pace -> is the continuation's pace the player's, and its touch?
- recording: the test inputs as a recording holds them: begun late, with a rest before the recording
  ends, with a pause inside, or played loosely in time -> does the continuation keep the pace, and
  come in on time?
- input length: inputs of 1.5 to 20 s cut from the test songs as the 5 s ones are (a player may
  give a two-note motif or a whole verse), each continued for 5 s
  -> the same measures, in the key of the input and its true continuation together (a short input
  alone does not tell its key), and the tempo ratio, beside the true continuations'.

Each sweep gives the same per-window rows (metrics.pool_windows) beside the true continuations'
rows, so a glitch rate or a density can be read against what real music does.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from . import metrics
from .data import Pair
from .keys import NOTE_NAMES, Key, detect_key, pitch_name
from .notes import Note, melody_end, paused

# (notes, input_length, seconds, temperature, seed) -> a continuation timed from the input's end
Generate = Callable[[list[Note], float, float, float, int], list[Note]]

WINDOW = 5.0
LONG_SECONDS = 30.0
TEMPO_STRETCHES = (0.4, 0.6, 1.0, 1.6, 2.5)  # times slower than the test input as cut
TEMPO_SPACINGS = (1.0, 1.5)  # s: inputs stretched to this median note spacing (a slow hymn)
TEMPERATURES = (0.0, 0.5, 1.0, 1.3, 2.0)  # 2: the highest the page offers
CHAIN_STEPS = 6
REGISTERS = (36, 48, 60, 72, 84, 96)  # MIDI: the inputs' median pitch in each register slice (C2 .. C7)
INPUT_SECONDS = (1.5, 2.5, 5.0, 10.0, 20.0)  # s of input a player gives: a motif .. a verse
# How a player holds the notes, and how much slower than the input as cut they play: training held
# each note for 55-98 % of its notated length, as the inputs as cut are.
TOUCHES: dict[str, tuple[Callable[[list[Note]], list[Note]], float]] = {
    "as cut": (list, 1.0),
    "legato": (partial(metrics.held_for, share=1.0), 1.0),
    "detached (1/2)": (partial(metrics.held_for, share=0.5), 1.0),
    "staccato (1/5)": (partial(metrics.held_for, share=0.2), 1.0),
    "key taps (0.1 s)": (partial(metrics.held_for, seconds=0.1), 1.0),
    "key taps, x2.5": (partial(metrics.held_for, seconds=0.1), 2.5),
}


class Recording(NamedTuple):
    """How a recording holds an input besides its notes (seconds)."""

    lead: float = 0.0  # silence before the first note
    rest: float = 0.0  # rest after the later of the input's end as cut and its last note-off
    loose: float = 0.0  # standard deviation of each onset's error (the true continuation is played as loosely)
    pause: float = 0.0  # a pause before the middle note: a player who hesitates, or two motifs apart


# Streams of the timing errors, apart from the seed's own, which the generator draws its notes from.
INPUT_TIMING, TRUTH_TIMING = 1, 2
RECORDINGS: dict[str, Recording] = {
    "as cut": Recording(),
    "begun 2 s late": Recording(lead=2.0),
    "1 s rest at the end": Recording(rest=1.0),
    "2 s rest at the end": Recording(rest=2.0),
    "late and a rest": Recording(lead=2.0, rest=2.0),
    "a 1 s pause inside": Recording(pause=1.0),
    "loose (30 ms)": Recording(loose=0.03),
    "loose (50 ms)": Recording(loose=0.05),
}


@dataclass(frozen=True)
class SweepInputs:
    """The pairs each sweep reads: 5 s test pairs for tempo, register and key, with each input's key;
    pairs whose true continuation covers 30 s for the others, with each input's key and median
    pitch."""

    tempo_pairs: list[Pair]
    long_pairs: list[Pair]
    keys: list[Key]  # of the long pairs' inputs
    tempo_keys: list[Key]  # of the tempo pairs' inputs
    # Per input length ("1.5 s"): pairs whose input is that long, each with its melody's key (`melody_key`)
    by_input_length: dict[str, tuple[list[Pair], list[Key]]] = field(default_factory=dict)

    def reference_pitch(self, index: int) -> float:
        return statistics.median(n.pitch for n in self.long_pairs[index].input)


def stretch_factors(pair: Pair) -> list[tuple[str, float]]:
    """(slice label, factor) for every tempo slice of one input."""
    spacing = metrics.median_spacing(pair.input) or 1.0
    return ([(f"x{factor:g}", factor) for factor in TEMPO_STRETCHES]
            + [(f"{target:g} s", target / spacing) for target in TEMPO_SPACINGS])


def tempo_sweep(generate: Generate, pairs: list[Pair], progress: bool = False) -> dict:
    """Per slice: the inputs' median spacing, the median tempo ratio and the share of
    continuations within metrics.PACE_BAND; and that share over every slice together."""
    ratios: dict[str, list[float]] = {}
    spacings: dict[str, list[float]] = {}
    for seed, pair in enumerate(tqdm(pairs, desc="tempo sweep", disable=not progress)):
        for label, factor in stretch_factors(pair):
            played = metrics.time_stretched(pair.input, factor)
            # As long as the input, within 5..30 s: a slow input still gets several notes.
            seconds = min(max(pair.input_length * factor, WINDOW), LONG_SECONDS)
            continuation = generate(played, pair.input_length * factor, seconds, 1.0, seed)
            ratio = metrics.tempo_ratio(played, continuation)
            spacings.setdefault(label, []).append(metrics.median_spacing(played))
            if ratio is not None:
                ratios.setdefault(label, []).append(ratio)
    slices = {label: {"input_spacing_median": statistics.median(spacings[label]),
                      "tempo_ratio_median": statistics.median(ratios[label]) if ratios.get(label) else None,
                      "within_share": within_share(ratios.get(label, [])), "pairs": len(ratios.get(label, []))}
              for label in spacings}
    return {"slices": slices, "within_share": within_share([r for values in ratios.values() for r in values])}


def semitones_to(notes: list[Note], median_pitch: int) -> int:
    """Semitones that move a phrase's median pitch to `median_pitch` (to the nearest semitone)."""
    return round(median_pitch - statistics.median(n.pitch for n in notes))


def register_row(inputs: list[list[Note]], continuations: list[list[Note]], keys: list[Key]) -> dict:
    """5 s continuations of `inputs` -> one row: the window measures (metrics.pool_windows, pitch
    drift from each input's median pitch) and the share of continuations that rise above their
    input's highest note or sink below its lowest."""
    cells = [metrics.window_measures(notes, key, WINDOW, WINDOW, statistics.median(n.pitch for n in given))
             for given, notes, key in zip(inputs, continuations, keys)]
    rises = [max(n.pitch for n in notes) > max(n.pitch for n in given) for given, notes in zip(inputs, continuations) if notes]
    sinks = [min(n.pitch for n in notes) < min(n.pitch for n in given) for given, notes in zip(inputs, continuations) if notes]
    return metrics.pool_windows(cells, WINDOW)[0] | {"above_top_share": statistics.mean(rises) if rises else None,
                                                     "below_bottom_share": statistics.mean(sinks) if sinks else None}


def moved_sweep(generate: Generate, inputs: SweepInputs, shifts: Callable[[Pair, Key], dict[str, int]],
                description: str, progress: bool = False) -> dict:
    """Per slice: the tempo inputs each moved by its slice's semitones (`shifts`, from the input
    and its key, slice label -> semitones), continued for 5 s, measured by `register_row` in the
    input's moved key."""
    moved: dict[str, tuple[list, list, list]] = {}
    for seed, (pair, key) in enumerate(tqdm(list(zip(inputs.tempo_pairs, inputs.tempo_keys)), desc=description,
                                            disable=not progress)):
        for label, shift in shifts(pair, key).items():
            played = metrics.transposed(pair.input, shift)
            given, continuations, keys = moved.setdefault(label, ([], [], []))
            given.append(played)
            continuations.append(generate(played, pair.input_length, WINDOW, 1.0, seed))
            keys.append(key.transposed(shift))
    return {label: register_row(*lists) for label, lists in moved.items()}


def register_sweep(generate: Generate, inputs: SweepInputs, progress: bool = False) -> dict:
    """Per register (the note name of the inputs' median pitch): the tempo inputs moved there."""
    return moved_sweep(generate, inputs, lambda pair, key: {pitch_name(r): semitones_to(pair.input, r) for r in REGISTERS},
                       "register sweep", progress)


def key_shift(key: Key, tonic: int) -> int:
    """Semitones, -5 .. +6, that move `key`'s tonic to the pitch class `tonic`: the nearer way, so
    that the input stays near its register."""
    return (tonic - key.tonic + 5) % 12 - 5


def key_sweep(generate: Generate, inputs: SweepInputs, progress: bool = False) -> dict:
    """Per tonic (C .. B): the tempo inputs moved so that their key's tonic is there, in their own
    mode (a tune in A minor moved to C is in C minor)."""
    return moved_sweep(generate, inputs, lambda pair, key: {NOTE_NAMES[t]: key_shift(key, t) for t in range(12)},
                       "key sweep", progress)


def shortened(pair: Pair, seconds: float) -> Pair | None:
    """The pair with only the last `seconds` of its input, as if the player began there (a note
    begun earlier is left out); None when under two notes are left."""
    origin = pair.input_length - seconds
    kept = [n.shifted(-origin) for n in pair.input if n.start >= origin]
    return Pair(pair.song_id, kept, pair.extension, seconds) if len(kept) >= 2 else None


def melody_key(pair: Pair) -> Key:
    """The key of the input and its true continuation together: what a short input belongs to."""
    return detect_key(pair.input + [n.shifted(pair.input_length) for n in pair.extension])


def input_length_row(pairs: list[Pair], keys: list[Key], continuations: list[list[Note]]) -> dict:
    """5 s continuations of the pairs' inputs -> `register_row`'s measures in `keys`, `tempo_row`'s,
    and the inputs' own notes per second."""
    inputs = [pair.input for pair in pairs]
    return (register_row(inputs, continuations, keys) | tempo_row(inputs, continuations)
            | {"pairs": len(pairs),
               "input_notes_per_second": statistics.mean(len(p.input) / p.input_length for p in pairs)})


def input_length_sweep(generate: Generate, inputs: SweepInputs, progress: bool = False) -> dict:
    """Per input length: each input continued for 5 s, measured by `input_length_row`."""
    return {label: input_length_row(pairs, keys, [generate(pair.input, pair.input_length, WINDOW, 1.0, seed)
                                                  for seed, pair in enumerate(tqdm(pairs, desc=f"{label} inputs",
                                                                                   disable=not progress))])
            for label, (pairs, keys) in inputs.by_input_length.items()}


def touched(notes: list[Note], touch: str) -> list[Note]:
    """The notes played slower and held as the touch `touch` (TOUCHES) says."""
    hold, factor = TOUCHES[touch]
    return hold(metrics.time_stretched(notes, factor))


def touch_row(inputs: list[list[Note]], continuations: list[list[Note]], keys: list[Key]) -> dict:
    """Continuations of inputs played with one touch -> `register_row`'s measures, `tempo_row`'s,
    and the median articulation (`metrics.articulation`) of the inputs and of the continuations."""
    def held(lines: list[list[Note]]) -> float | None:
        shares = [a for notes in lines if (a := metrics.articulation(notes)) is not None]
        return statistics.median(shares) if shares else None

    return (register_row(inputs, continuations, keys) | tempo_row(inputs, continuations)
            | {"input_articulation": held(inputs), "articulation": held(continuations)})


def touch_sweep(generate: Generate, inputs: SweepInputs, progress: bool = False) -> dict:
    """Per touch: the tempo inputs played with it, each continued for as long as it lasts (5 to 30 s)."""
    rows = {}
    for touch, (_, factor) in TOUCHES.items():
        played, continuations = [], []
        for seed, pair in enumerate(tqdm(inputs.tempo_pairs, desc=f"touch: {touch}", disable=not progress)):
            played.append(touched(pair.input, touch))
            length = pair.input_length * factor
            continuations.append(generate(played[-1], length, min(max(length, WINDOW), LONG_SECONDS), 1.0, seed))
        rows[touch] = touch_row(played, continuations, inputs.tempo_keys)
    return rows


def loosened(notes: list[Note], seconds: float, rng: np.random.Generator) -> list[Note]:
    """The notes with their onsets moved by normal draws of standard deviation `seconds` (none
    before 0), given out in time order so that the notes keep theirs, each held as long as before
    but not past the next onset."""
    if not seconds:
        return list(notes)
    starts = sorted(max(0.0, n.start + error) for n, error in zip(notes, rng.normal(0.0, seconds, len(notes)).tolist()))
    ends = starts[1:] + [math.inf]
    return [Note(n.pitch, start, min(start + n.duration, max(limit, start + 1e-3)), n.velocity)
            for n, start, limit in zip(notes, starts, ends)]


def recorded(pair: Pair, recording: str, seed: int) -> tuple[list[Note], float]:
    """The pair's input as the recording `recording` (RECORDINGS) holds it, and the recording's length."""
    kind = RECORDINGS[recording]
    notes = loosened(pair.input, kind.loose, np.random.default_rng((seed, INPUT_TIMING)))
    notes = [n.shifted(kind.lead) for n in paused(notes, len(notes) // 2, kind.pause)]
    length = pair.input_length + kind.lead + kind.pause
    return notes, max(length, melody_end(notes)) + kind.rest


def first_onsets(continuations: list[list[Note]]) -> float | None:
    """The median time from a recording's end to its continuation's first note."""
    starts = [notes[0].start for notes in continuations if notes]
    return statistics.median(starts) if starts else None


def recording_sweep(generate: Generate, inputs: SweepInputs, progress: bool = False) -> dict:
    """Per kind of recording: the tempo inputs as it holds them, each continued for 5 s, measured by
    `register_row`, by `tempo_row` against the input as cut (the pace the player played at, which a
    pause inside a short phrase, or loose onsets, would move), and how soon the continuation comes
    in (`first_onsets`)."""
    rows, as_cut = {}, [pair.input for pair in inputs.tempo_pairs]
    for recording in RECORDINGS:
        played, continuations = [], []
        for seed, pair in enumerate(tqdm(inputs.tempo_pairs, desc=f"recording: {recording}", disable=not progress)):
            notes, length = recorded(pair, recording, seed)
            played.append(notes)
            continuations.append(generate(notes, length, WINDOW, 1.0, seed))
        rows[recording] = (register_row(played, continuations, inputs.tempo_keys) | tempo_row(as_cut, continuations)
                           | {"first_onset": first_onsets(continuations)})
    return rows


def true_recording_rows(inputs: SweepInputs) -> dict:
    """`recording_sweep`'s rows for the true continuations, played as loosely as their inputs."""
    rows, as_cut = {}, [pair.input for pair in inputs.tempo_pairs]
    for recording, kind in RECORDINGS.items():
        played = [recorded(pair, recording, seed)[0] for seed, pair in enumerate(inputs.tempo_pairs)]
        truth = [loosened(first_window(pair), kind.loose, np.random.default_rng((seed, TRUTH_TIMING)))
                 for seed, pair in enumerate(inputs.tempo_pairs)]
        rows[recording] = (register_row(played, truth, inputs.tempo_keys) | tempo_row(as_cut, truth)
                           | {"first_onset": first_onsets(truth)})
    return rows


def tempo_row(inputs: list[list[Note]], continuations: list[list[Note]]) -> dict:
    """How continuations keep their inputs' pace: the median tempo ratio and the share within
    metrics.PACE_BAND (None where no ratio can be taken)."""
    ratios = [r for given, notes in zip(inputs, continuations) if (r := metrics.tempo_ratio(given, notes)) is not None]
    return {"tempo_ratio_median": statistics.median(ratios) if ratios else None, "tempo_within_share": within_share(ratios)}


def within_share(ratios: list[float]) -> float | None:
    """Share of tempo ratios within metrics.PACE_BAND (None for none)."""
    return sum(map(metrics.within_pace_band, ratios)) / len(ratios) if ratios else None


def windows_of(continuations: list[list[Note]], inputs: SweepInputs, seconds: float = LONG_SECONDS) -> list[dict]:
    return metrics.pool_windows(
        [metrics.window_measures(notes, inputs.keys[i], seconds, WINDOW, inputs.reference_pitch(i))
         for i, notes in enumerate(continuations)], WINDOW)


def long_continuations(generate: Generate, inputs: SweepInputs, temperature: float, progress: bool = False) -> list[list[Note]]:
    return [generate(pair.input, pair.input_length, LONG_SECONDS, temperature, seed)
            for seed, pair in enumerate(tqdm(inputs.long_pairs, desc=f"30 s at temperature {temperature:g}",
                                             disable=not progress))]


def chained_continuations(generate: Generate, inputs: SweepInputs, progress: bool = False) -> list[list[Note]]:
    """Each input extended by WINDOW seconds, CHAIN_STEPS times, each time from the whole take so
    far (as the page's "Extend again" does); the joined continuation is timed from the input's end."""
    chained = []
    for seed, pair in enumerate(tqdm(inputs.long_pairs, desc="chained extension", disable=not progress)):
        take, length, added = list(pair.input), pair.input_length, []
        for step in range(CHAIN_STEPS):
            new = [n.shifted(length) for n in generate(take, length, WINDOW, 1.0, seed * CHAIN_STEPS + step)]
            take += new
            added += [n.shifted(-pair.input_length) for n in new]
            length += WINDOW
        chained.append(added)
    return chained


def input_notes_per_second(inputs: SweepInputs) -> float:
    return statistics.mean(len(pair.input) / pair.input_length for pair in inputs.long_pairs)


def truth_windows(inputs: SweepInputs) -> dict:
    """The true continuations' per-window rows and their glitch share over all 30 s; and how the
    true 5 s continuations of the tempo inputs keep their pace (stretching an input and its
    continuation alike leaves the ratio as it is, so one slice stands for all)."""
    rows = windows_of([pair.extension for pair in inputs.long_pairs], inputs)
    return {"windows": rows, "rushed_share": metrics.rushed_share([pair.extension for pair in inputs.long_pairs]),
            "input_notes_per_second": input_notes_per_second(inputs),
            **tempo_row([pair.input for pair in inputs.tempo_pairs], [pair.extension for pair in inputs.tempo_pairs]),
            # Moving an input and its continuation together leaves these as they are: one row for every
            # register and every key.
            "register": register_row([pair.input for pair in inputs.tempo_pairs],
                                     [first_window(pair) for pair in inputs.tempo_pairs], inputs.tempo_keys),
            "input_length": {label: input_length_row(pairs, keys, [first_window(pair) for pair in pairs])
                             for label, (pairs, keys) in inputs.by_input_length.items()},
            # The true continuations played with each touch, as their inputs are.
            "touch": {touch: touch_row([touched(pair.input, touch) for pair in inputs.tempo_pairs],
                                       [touched(first_window(pair), touch) for pair in inputs.tempo_pairs], inputs.tempo_keys)
                      for touch in TOUCHES},
            "recording": true_recording_rows(inputs)}


def first_window(pair: Pair) -> list[Note]:
    """The true continuation's first 5 s."""
    return [n for n in pair.extension if n.start < WINDOW]


def run_sweeps(generate: Generate, inputs: SweepInputs, progress: bool = False,
               drawn_once: Generate | None = None) -> dict:
    """Every sweep for one model -> its JSON section; with `drawn_once` (the model keeping every
    first draw, where `generate` draws a continuation that strays from the input's pace again),
    the tempo sweep again with that."""
    by_temperature = {temperature: long_continuations(generate, inputs, temperature, progress)
                      for temperature in TEMPERATURES}
    long = by_temperature[1.0]
    return {
        "tempo": tempo_sweep(generate, inputs.tempo_pairs, progress),
        **({} if drawn_once is None else {"tempo_drawn_once": tempo_sweep(drawn_once, inputs.tempo_pairs, progress)}),
        "length": {
            "windows": windows_of(long, inputs),
            "by_length": {f"{seconds:g}": metrics.rushed_share([[n for n in c if n.start < seconds] for c in long])
                          for seconds in (5.0, 10.0, 20.0, 30.0)},
        },
        "temperature": {f"{t:g}": windows_of(c, inputs) for t, c in by_temperature.items()},
        "chained": windows_of(chained_continuations(generate, inputs, progress), inputs),
        "register": register_sweep(generate, inputs, progress),
        "key": key_sweep(generate, inputs, progress),
        "input_length": input_length_sweep(generate, inputs, progress),
        "touch": touch_sweep(generate, inputs, progress),
        "recording": recording_sweep(generate, inputs, progress),
    }


def check_sweep_targets(sweeps: dict, truth: dict) -> dict:
    """The robustness targets of one model, each with its measured value."""
    ratios = [s["tempo_ratio_median"] for s in sweeps["tempo"]["slices"].values()]
    within = sweeps["tempo"]["within_share"]
    true_rate = truth["rushed_share"]
    glitch_cap = 2 * true_rate
    long_rows = sweeps["length"]["windows"] + sweeps["chained"]

    def density_drift(rows: list[dict]) -> float:
        first = rows[0]["notes_per_second"]
        return max(abs(row["notes_per_second"] / first - 1) for row in rows) if first else float("inf")

    low_rows = [row for t in ("0", "0.5") for row in sweeps["temperature"][t]]
    densest = max(row["notes_per_second"] for row in low_rows) / truth["input_notes_per_second"]
    worst_long = max(row["rushed_share"] for row in long_rows)
    worst_low = max(row["rushed_share"] for row in low_rows)
    drift = max(density_drift(sweeps["length"]["windows"]), density_drift(sweeps["chained"]))
    return {
        "tempo_ratio_every_stretch": {"value": [min(ratios), max(ratios)] if None not in ratios else None,
                                      "target": "0.9 .. 1.1 at every stretch",
                                      "met": None not in ratios and 0.9 <= min(ratios) and max(ratios) <= 1.1},
        "tempo_within_share": {"value": within, "target": ">= 0.9", "met": within is not None and within >= 0.9},
        "long_rushed_share_max": {"value": worst_long, "target": f"<= {glitch_cap:.3%} (2 x true)",
                                  "met": worst_long <= glitch_cap},
        "long_density_drift_max": {"value": drift, "target": "<= 0.25", "met": drift <= 0.25},
        "low_temperature_rushed_share_max": {"value": worst_low, "target": f"<= {glitch_cap:.3%} (2 x true)",
                                             "met": worst_low <= glitch_cap},
        "low_temperature_density_over_input": {"value": densest, "target": "<= 1.5", "met": densest <= 1.5},
    }
