"""Continue a melody: the one function behind the CLI, the web app and keyboard mode."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path

import numpy as np

from .inference import InferenceModel
from .keys import Key, resolve_key
from .markov import PitchMixture, ShortTermRows
from .metrics import GLITCH_SECONDS, articulation, keeps_pace, median_spacing, pace_error, transposed
from .modelfile import DEFAULT_MODEL, Model, load_model
from .notes import MAX_PITCH, MIN_NOTE_SECONDS, Note, melody_end, melody_line
from .options import DEFAULTS, MAX_SECONDS, MAX_SEED, MAX_TEMPERATURE, MAX_VARIATIONS, random_seed
from .sampling import choose, choose_probabilities
from .tokenizer import DURATION, GAP, N_PITCHES, PITCH, Tokenizer

# Semitones kept clear of each end of the register the model was trained in: an input whose
# median pitch is nearer an end than this (or outside) is moved there by whole octaves.
REGISTER_MARGIN = 6
# The share of an input's onset spacings (and at least two of them) that must be under 60 ms
# before a continuation may play that fast too (`no_faster_than_the_input`): a trill or a
# tremolo, not one grace note.
FAST_PLAYING_SHARE = 0.25
# How far inside the most detached touch training used (55 % of a note's value) a line must be held
# to be heard as played: a line held for less of its spacing than 0.55 + this is heard held that long.
# On 300 validation inputs (`robustness.touch_sweep` and the tempo sweep) 0.65 kept the pace best of
# 0.55, 0.65 and the middle of the range, 0.765 (which also moved half the inputs as cut).
ARTICULATION_MARGIN = 0.1
# s: the shortest a continuation's note is held for a player's touch (`Job.hold`), unless the model
# wrote it shorter. A tap on a phone's screen can last under a millisecond: held that much
# shorter, every note of a continuation fell under MIN_NOTE_SECONDS and none was left to play.
SHORTEST_HELD = 0.05
# Draws a continuation may take to keep its input's pace (`metrics.keeps_pace`), the first
# included. Of 5 s continuations of 300 validation inputs (four seeds each), 12.5 % strayed drawn
# once, as 12.7 % of the true continuations do; 0.8 % within three draws (docs/model-card.md).
PACE_DRAWS = 3
# Extended once at start-up (server, keyboard mode) so the first real request runs at full speed.
WARM_UP_PHRASE = [Note(60 + step, 0.4 * i, 0.4 * i + 0.35) for i, step in enumerate((0, 2, 4, 5, 7))]


class ExtendError(ValueError):
    """A request that cannot be extended; the message names the bad value."""


@lru_cache(maxsize=4)
def cached_model(path: str = str(DEFAULT_MODEL)) -> Model:
    """Load a model once per process."""
    return load_model(Path(path))


@dataclass(frozen=True)
class Job:
    """One validated call of `extend`, ready to be decoded alone or in a batch with others."""

    line: list[Note]  # the input's melodic line
    source: np.ndarray  # its tokens, as the model reads them
    scale: float  # model seconds per played second: the input's tempo (Tokenizer.tempo_scale)
    boundary: float  # model seconds from its last onset to its end as heard (`heard_end`): the earliest first new onset
    seconds: float
    temperature: float
    top_p: float
    variations: int
    seed: int
    pitch_allowed: np.ndarray | None  # the key's scale and the MIDI range (model pitches), or None for every pitch
    gap_allowed: np.ndarray  # the onset gaps a new note may take (`no_faster_than_the_input`)
    shift: int = 0  # semitones the model hears the input moved by (`register_shift`); its notes are moved back
    hold: float = 1.0  # times longer the model hears the input's notes held (`hold_factor`); its notes are held as
    # much shorter, down to SHORTEST_HELD
    keep_pace: bool = True  # draw a continuation that strays from the input's pace again (`extend_batch`)
    draw: tuple[int, ...] = ()  # (variation, attempt) of a draw again: its generator's seed follows the job's


def prepare(
    notes: list[Note],
    tokenizer: Tokenizer,
    seconds: float = DEFAULTS.seconds,
    temperature: float = DEFAULTS.temperature,
    top_p: float = DEFAULTS.top_p,
    seed: int | None = None,
    variations: int = DEFAULTS.variations,
    input_length: float | None = None,
    key: str | Key | None = None,
    register: tuple[int, int] | None = None,
    articulation_range: tuple[float, float] | None = None,
    keep_pace: bool = True,
) -> Job:
    """Check a request and read its input (see `extend`; `register` and `articulation_range`:
    `trained_register` and `trained_articulation` of the model); raises ExtendError naming a bad value."""
    check_options(seconds, temperature, top_p, variations)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED):
        raise ExtendError(f"seed must be an integer from 0 to 2**63 - 1, got {seed!r}")
    line = melody_line(notes)
    if not line:
        raise ExtendError("the input has no notes")
    try:
        musical_scale = resolve_key(key, line)
    except ValueError as error:
        raise ExtendError(str(error)) from None
    context = line[-tokenizer.config.max_input_notes - 1 :]  # what the model reads (the first for its onset only)
    end = input_end(notes, input_length)
    shift = register_shift(context, register)
    hold = hold_factor(context, articulation_range)
    end = heard_end(context, end, tokenizer)
    # A recording's start is no beat: a player who begins late was read as opening with a long rest
    # (2 s of it took the share of continuations keeping the pace from 0.89 to 0.81 on validation).
    # Training's inputs begin within about one note spacing of their first note; so is this one.
    source, tempo = tokenizer.encode_context(transposed(held_longer(context, hold, end), shift),
                                             max_lead=median_spacing(context))
    # Model pitches that land on a MIDI pitch once moved back; an octave keeps the key's scale.
    moved_back = np.arange(N_PITCHES) - shift
    pitch_allowed = (moved_back >= 0) & (moved_back <= MAX_PITCH)
    if musical_scale is not None:
        pitch_allowed &= np.array([musical_scale.allows(p) for p in range(N_PITCHES)])
    return Job(
        line, source, tempo, time_to_input_end(line, end, tokenizer, tempo),
        seconds, temperature, top_p, variations, random_seed() if seed is None else seed,
        None if pitch_allowed.all() else pitch_allowed, no_faster_than_the_input(tokenizer, line, tempo), shift, hold,
        keep_pace,
    )


def trained_playing(model: Model) -> dict:
    """`prepare`'s arguments that move an input to where and how training played its songs."""
    return {"register": trained_register(model), "articulation_range": trained_articulation(model)}


def trained_register(model: Model) -> tuple[int, int] | None:
    """The MIDI pitches training put each song's median pitch between, as the model's data
    record says; None for a model that does not say."""
    register = model.data.get("pair_config", {}).get("register")
    return None if register is None else (int(register[0]), int(register[1]))


def trained_articulation(model: Model) -> tuple[float, float] | None:
    """The shares of its notated length training held a note for (`PairConfig.articulation`), as
    the model's data record says; None for a model that does not say."""
    articulation = model.data.get("pair_config", {}).get("articulation")
    return None if articulation is None else (float(articulation[0]), float(articulation[1]))


def hold_factor(line: list[Note], articulation_range: tuple[float, float] | None) -> float:
    """How much longer the model hears a line's notes held: one played more detached than
    ARTICULATION_MARGIN inside the most detached touch training used (`trained_articulation`) is
    heard held that long. Training saw players who hold a note for 55-98 % of its value; staccato
    and key taps were read as quicker music, and the shipped model answered notes held a fifth of
    their spacing at 1.9 times the input's pace (docs/model-card.md). The continuation is held as
    much shorter, in the player's touch (down to SHORTEST_HELD: `continuation_notes`). 1 for a line
    held at least that long, or when either is unknown."""
    played = articulation(line)
    if articulation_range is None or played is None:
        return 1.0
    return max(1.0, (articulation_range[0] + ARTICULATION_MARGIN) / max(played, 1e-3))


def held_longer(line: list[Note], factor: float, end: float) -> list[Note]:
    """Each note held `factor` times as long, but never past the next onset, nor the last past
    `end` (the recording's end)."""
    if factor == 1.0:
        return line
    ends = [b.start for b in line[1:]] + [max(end, line[-1].end)]
    return [Note(n.pitch, n.start, min(n.start + n.duration * factor, limit), n.velocity) for n, limit in zip(line, ends)]


def register_shift(line: list[Note], register: tuple[int, int] | None) -> int:
    """Semitones, in whole octaves, that move a line's median pitch to at least REGISTER_MARGIN
    inside `register`: a whistled phrase around C7 is heard two octaves down, where the model
    learnt (left at C7, the shipped model's continuations fell 15 semitones below it). 0 within
    it, or with no register; never so far that a note leaves the MIDI range."""
    if register is None:
        return 0
    low, high = register[0] + REGISTER_MARGIN, register[1] - REGISTER_MARGIN
    median = statistics.median(n.pitch for n in line)
    if median < low:
        headroom = MAX_PITCH - max(n.pitch for n in line)
        return 12 * min(math.ceil((low - median) / 12), headroom // 12)
    if median > high:
        floor_room = min(n.pitch for n in line)
        return -12 * min(math.ceil((median - high) / 12), floor_room // 12)
    return 0


def extend(
    notes: list[Note],
    seconds: float = DEFAULTS.seconds,
    temperature: float = DEFAULTS.temperature,
    top_p: float = DEFAULTS.top_p,
    seed: int | None = None,
    variations: int = DEFAULTS.variations,
    input_length: float | None = None,
    checkpoint: Model | None = None,
    key: str | Key | None = None,
    keep_pace: bool = True,
) -> list[list[Note]]:
    """Write `variations` continuations of `notes`, each lasting `seconds`.

    `notes` are timed in seconds from the start of the recording, and may be polyphonic: the
    melodic line is taken from them. The continuation starts where the input ends, at the later
    of `input_length` and its last note-off, and its notes are timed from there (0 = the input's
    end). An input longer than the model's context is read from its last part. The same `seed`
    with the same input gives the same continuations. `key` ("D major", "F# minor", or "auto" for
    the key found in the input) keeps every generated pitch in that key's scale. With `keep_pace`,
    a continuation whose pace strays from the input's is drawn again (`extend_batch`).
    """
    checkpoint = checkpoint or cached_model()
    job = prepare(notes, checkpoint.tokenizer, seconds, temperature, top_p, seed, variations, input_length, key,
                  keep_pace=keep_pace, **trained_playing(checkpoint))
    return extend_batch([job], checkpoint)[0]


def extend_batch(jobs: list[Job], checkpoint: Model) -> list[list[list[Note]]]:
    """Decode several prepared requests as one batch -> each job's continuations. Each continuation
    draws from its own generator, seeded by its job's seed (`variation_generator`), so a job gets
    the same notes alone as in a batch, and the first k of its variations are the same however
    many it asks for, up to float rounding: BLAS sums a one-row product in another order than a
    many-row one, and a draw that falls within about 1e-6 of a boundary between two choices can
    go either way.

    A job that keeps its pace (`Job.keep_pace`, at a temperature above 0) has each continuation
    that strays from its input's pace (`metrics.keeps_pace`: a tempo ratio outside
    `metrics.PACE_BAND`) drawn again, up to PACE_DRAWS draws in all, each from a generator of its
    own; the first that keeps the pace stands, else the nearest to it (`metrics.pace_error`: a draw
    again of fewer than two notes, with no pace, never replaces one that has a pace). Real tunes
    change pace that much in about one continuation in eight, and so did the model's; a player
    asking for more of a phrase expects it at the pace they played."""
    continuations = _decode(jobs, checkpoint)
    for attempt in range(1, PACE_DRAWS):
        strays = [(j, v) for j, job in enumerate(jobs) if job.keep_pace and job.temperature > 0
                  for v, notes in enumerate(continuations[j]) if not keeps_pace(job.line, notes)]
        if not strays:
            break
        redrawn = _decode([replace(jobs[j], variations=1, draw=(v, attempt)) for j, v in strays], checkpoint)
        for (j, v), [notes] in zip(strays, redrawn):
            line = jobs[j].line
            if keeps_pace(line, notes) or pace_error(line, notes) < pace_error(line, continuations[j][v]):
                continuations[j][v] = notes
    return continuations


def _decode(jobs: list[Job], checkpoint: Model) -> list[list[list[Note]]]:
    tokenizer = checkpoint.tokenizer
    tokens = _sample_tokens(checkpoint.inference, tokenizer, jobs, checkpoint.mixture)
    return [[continuation_notes(rows, tokenizer, job) for rows in job_tokens]
            for job, job_tokens in zip(jobs, tokens)]


def input_end(notes: list[Note], input_length: float | None = None) -> float:
    """Where a recording ends and its continuation begins: the later of its length and the last
    note-off of any of its notes (a dropped accompaniment note still sounds until it ends)."""
    if input_length is not None and not (isinstance(input_length, (int, float)) and math.isfinite(input_length)
                                         and input_length >= 0):
        raise ExtendError(f"input_length must be a finite number of seconds >= 0, got {input_length!r}")
    return max(input_length or 0.0, melody_end(notes))


def heard_end(line: list[Note], end: float, tokenizer: Tokenizer) -> float:
    """Where the model hears a recording end, in played seconds. A recording's end is no beat
    either: a player who stops and waits for it was heard resting, and a continuation forced to
    open with that rest went on slower or quicker (after 2 s of it 0.84 of continuations kept the
    pace on validation, 0.88 with this rule, 0.89 with no wait). So a wait longer than one median spacing after the last onset (or
    than the last note, if it is held longer) is heard that many whole spacings shorter, which
    leaves the continuation on the player's beat, coming in within one spacing of the recording's
    end. A line of one note is heard at the tokenizer's pulse; without one, its end stands."""
    last = line[-1]
    spacing = median_spacing(line) or tokenizer.config.pulse
    if spacing is None:
        return end
    room = max(last.duration, spacing)
    wait = end - last.start - room
    if wait <= 0:
        return end
    # How far the recording's end falls short of the player's next beat (a remainder, not a count
    # of spacings: a wait of 1e308 s has one too); on a beat, less rounding, it falls short by none.
    short = -wait % spacing
    return last.start + room - (0.0 if short > spacing - 1e-9 else short)


def time_to_input_end(line: list[Note], end: float, tokenizer: Tokenizer, scale: float) -> float:
    """Model seconds from the input's last onset to its end: the first new onset must come at
    least this late. A rest longer than the longest gap the model knows is heard as that longest
    gap, so the continuation still fills its time."""
    return min((end - line[-1].start) * scale, tokenizer.config.max_time)


def first_gap_allowed(tokenizer: Tokenizer, boundary: float) -> np.ndarray:
    """Which gap bins the first new note may take: it may not start inside the input, but within
    half a bin of the input's end is close enough. The longest gap is always allowed."""
    half_bin = math.sqrt(tokenizer.time_values[1] / tokenizer.time_values[0])
    allowed = tokenizer.time_values * half_bin >= boundary
    allowed[-1] = True
    return allowed


def no_faster_than_the_input(tokenizer: Tokenizer, line: list[Note], scale: float) -> np.ndarray:
    """Which gap bins a new note may take: none that starts it under GLITCH_SECONDS (60 ms) after
    the note before, unless the input itself plays that fast as a habit: in at least
    FAST_PLAYING_SHARE of its onset spacings, and at least twice (then none faster than the
    quickest spacing of that share). Onsets that close are heard as glitches: about 1 in 17,500
    true continuations' onsets, but sampled ones fed back into machine-gun runs; one quick pair
    in an input (a slip, a grace note, timing jitter on a quick tune) let a 30 s continuation add
    its own. The longest gap is always allowed."""
    spacings = sorted(b.start - a.start for a, b in zip(line, line[1:]) if b.start > a.start)
    habit = max(2, math.ceil(FAST_PLAYING_SHARE * len(spacings)))  # the spacings that make a habit
    floor = min(GLITCH_SECONDS, spacings[habit - 1]) if len(spacings) >= habit else GLITCH_SECONDS
    allowed = tokenizer.time_values / scale >= floor
    allowed[-1] = True
    return allowed


def continuation_notes(tokens: np.ndarray, tokenizer: Tokenizer, job: Job) -> list[Note]:
    """Sampled tokens -> notes in played seconds from the input's end, at the input's median
    velocity and pitch (moved back by `job.shift`), held `job.hold` times shorter than written
    (but no shorter than SHORTEST_HELD for that).

    Tokens count from the input's last onset, `job.boundary` model seconds before its end. Notes
    starting past `job.seconds` are dropped, the last is trimmed to fit (and dropped if that leaves less
    than MIN_NOTE_SECONDS), and a note sampled a hair before the input's end starts exactly at it."""
    velocity = round(statistics.median(n.velocity for n in job.line))
    boundary, seconds = job.boundary / job.scale, job.seconds
    notes = []
    for note in tokenizer.decode(tokens, velocity=velocity, scale=job.scale):
        start = max(note.start - boundary, 0.0)
        held = max(note.duration / job.hold, min(note.duration, SHORTEST_HELD))
        end = min(note.start + held - boundary, seconds)
        if start >= seconds:
            break
        if end - start >= MIN_NOTE_SECONDS:
            notes.append(Note(note.pitch - job.shift, start, end, note.velocity))
    return notes


def check_options(seconds: float, temperature: float, top_p: float, variations: int) -> None:
    """Raise ExtendError naming the first option out of range."""
    if not (isinstance(seconds, (int, float)) and math.isfinite(seconds) and 0 < seconds <= MAX_SECONDS):
        raise ExtendError(f"seconds must be above 0 and at most {MAX_SECONDS:g}, got {seconds!r}")
    if not (isinstance(temperature, (int, float)) and 0 <= temperature <= MAX_TEMPERATURE):
        raise ExtendError(f"temperature must be between 0 and {MAX_TEMPERATURE:g}, got {temperature!r}")
    if not (isinstance(top_p, (int, float)) and 0 < top_p <= 1):
        raise ExtendError(f"top_p must be above 0 and at most 1, got {top_p!r}")
    if isinstance(variations, bool) or not isinstance(variations, int) or not 1 <= variations <= MAX_VARIATIONS:
        raise ExtendError(f"variations must be an integer from 1 to {MAX_VARIATIONS}, got {variations!r}")


def variation_generator(job: Job, variation: int) -> np.random.Generator:
    """One continuation's generator: the seed's own for the first variation (so it is the one
    continuation asked for alone), the seed spawned by the variation's number for the others (so
    each is the same however many are asked for; a spawn key, as `[seed, variation]` would be the
    seed `seed + variation * 2**32`'s own); a draw again's from the seed, its variation and
    attempt (`Job.draw`: three numbers, which no seed up to MAX_SEED spells)."""
    if job.draw:
        return np.random.default_rng([job.seed, *job.draw])
    return np.random.default_rng(job.seed if variation == 0 else np.random.SeedSequence(job.seed, spawn_key=(variation,)))


def _sample_tokens(network: InferenceModel, tokenizer: Tokenizer, jobs: list[Job],
                   mixture: PitchMixture | None = None) -> list[list[np.ndarray]]:
    """Decode note by note, every variation of every job as one batch row, until each row has an
    onset past its job's end; with a pitch mixture, each pitch is drawn from the network's
    prediction mixed with the interval chains' (`markov.py`). Returns each job's rows of tokens."""
    job_of_row = np.repeat(np.arange(len(jobs)), [job.variations for job in jobs])
    by_row = lambda values: np.array(values)[job_of_row]  # noqa: E731
    # Settings shared by every job stay plain numbers: the sampling functions are quicker on those.
    shared_or_by_row = lambda values: values[0] if len(set(values)) == 1 else by_row(values)[:, None]  # noqa: E731
    temperature = shared_or_by_row([job.temperature for job in jobs])
    top_p = shared_or_by_row([job.top_p for job in jobs])
    gap_allowed = by_row([job.gap_allowed for job in jobs])
    first_allowed = by_row([first_gap_allowed(tokenizer, job.boundary) & job.gap_allowed for job in jobs])
    pitch_allowed = None
    if any(job.pitch_allowed is not None for job in jobs):
        every_pitch = np.ones(N_PITCHES, bool)
        pitch_allowed = by_row([every_pitch if job.pitch_allowed is None else job.pitch_allowed for job in jobs])
    boundaries = by_row([job.boundary for job in jobs])
    ends = boundaries + by_row([job.seconds * job.scale for job in jobs])  # in model seconds
    generators = [variation_generator(job, variation) for job in jobs for variation in range(job.variations)]
    starts = np.cumsum([0] + [job.variations for job in jobs])
    drawn = np.empty(len(generators))

    def uniforms() -> np.ndarray:  # one number per row, each from its own generator
        for row, generator in enumerate(generators):
            drawn[row] = generator.random()
        return drawn

    memory, state = network.encode([job.source for job in jobs])
    memory, state = memory.rows(job_of_row), network.select(state, job_of_row)
    step = by_row([job.source[-1] for job in jobs])
    onsets = np.zeros(len(job_of_row))
    chains = None if mixture is None else ShortTermRows(mixture, [jobs[j].source[:, PITCH] for j in job_of_row])
    # What temperature keeps the mean of (`sampling.sharpen_keeping_mean`): pitch, and the log of a time.
    pitch_values, time_values = np.arange(N_PITCHES, dtype=np.float64), np.log(tokenizer.time_values)
    max_steps = math.ceil((ends - boundaries).max() / tokenizer.config.min_time) + 1
    rows = np.empty((max_steps, len(job_of_row), 3), np.int64)
    for index in range(max_steps):
        heads, state = network.decode(step, state, memory)
        step = rows[index]
        step[:, GAP] = choose(network.gap_logits(heads), temperature, top_p, uniforms(),
                              first_allowed if index == 0 else gap_allowed, time_values)
        pitch = network.pitch_probabilities(heads, step[:, GAP])
        if chains is not None:
            pitch = chains.mix(pitch)
        step[:, PITCH] = choose_probabilities(pitch, temperature, top_p, uniforms(), pitch_allowed, pitch_values)
        if chains is not None:
            chains.add(step[:, PITCH])
        step[:, DURATION] = choose(network.duration_logits(heads, step[:, GAP], step[:, PITCH]), temperature, top_p,
                                   uniforms(), values=time_values)
        onsets += tokenizer.time_values[step[:, GAP]]
        if (onsets >= ends).all():
            break
    rows = rows[: index + 1]
    # A job is done at the first step where each of its rows is past its end: what it would get alone.
    past_end = np.cumsum(tokenizer.time_values[rows[:, :, GAP]], axis=0) >= ends
    steps_needed = np.argmax(past_end, axis=0) + 1
    return [list(rows[: steps_needed[start:end].max(), start:end].transpose(1, 0, 2))
            for start, end in zip(starts, starts[1:])]
