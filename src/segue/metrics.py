"""Measures of a continuation, as pure functions on notes (after Yang & Lerch 2018, "On the
evaluation of generative models in music"), plus the comparison of two distributions."""

from __future__ import annotations

import math
import statistics

import numpy as np

from .keys import Key, in_key_ratio
from .notes import MAX_PITCH, Note


def bits(nats: float) -> float:
    return nats / math.log(2)


def onsets_gaps(notes: list[Note]) -> list[float]:
    """Inter-onset intervals, in seconds."""
    return [b.start - a.start for a, b in zip(notes, notes[1:])]


def durations(notes: list[Note]) -> list[float]:
    return [n.duration for n in notes]


def intervals(notes: list[Note]) -> list[int]:
    return [b.pitch - a.pitch for a, b in zip(notes, notes[1:])]


def pitch_range(notes: list[Note]) -> int:
    return max(n.pitch for n in notes) - min(n.pitch for n in notes) if notes else 0


def mean_abs_interval(notes: list[Note]) -> float:
    steps = intervals(notes)
    return sum(abs(s) for s in steps) / len(steps) if steps else 0.0


def pitch_classes_from_tonic(notes: list[Note], key: Key) -> list[int]:
    """Each note's pitch class counted from the key's tonic (0 = tonic), so that melodies in
    different keys compare."""
    return [(n.pitch - key.tonic) % 12 for n in notes]


def tempo_ratio(melody: list[Note], continuation: list[Note]) -> float | None:
    """Median inter-onset interval of the continuation over that of the melody (None if either
    has fewer than two notes). 1.0 means the same pace."""
    before, after = onsets_gaps(melody), onsets_gaps(continuation)
    if not before or not after:
        return None
    return statistics.median(after) / statistics.median(before)


PACE_BAND = (0.67, 1.5)  # tempo ratios at which a continuation keeps its melody's pace


def within_pace_band(ratio: float) -> bool:
    return PACE_BAND[0] <= ratio <= PACE_BAND[1]


def keeps_pace(melody: list[Note], continuation: list[Note]) -> bool:
    """Whether the continuation's tempo ratio is within PACE_BAND; True where none can be taken."""
    ratio = tempo_ratio(melody, continuation)
    return ratio is None or within_pace_band(ratio)


def pace_error(melody: list[Note], continuation: list[Note]) -> float:
    """How far a continuation strays from its melody's pace: |log tempo ratio|; infinite where
    none can be taken (a continuation of fewer than two notes has no pace to compare)."""
    ratio = tempo_ratio(melody, continuation)
    return math.inf if ratio is None else abs(math.log(max(ratio, 1e-9)))


GLITCH_SECONDS = 0.06  # onsets closer than this are heard as a glitch, not as melody


def glitches(gaps: list[float], threshold: float = GLITCH_SECONDS) -> int:
    """How many inter-onset intervals are shorter than `threshold` seconds: notes too close to be
    heard as melody (a 32nd note at 240 BPM is 62 ms), which sound like glitches."""
    return sum(g < threshold for g in gaps)


def rushed_share(continuations: list[list[Note]], threshold: float = GLITCH_SECONDS) -> float:
    """Share of inter-onset intervals that are glitches (see `glitches`)."""
    gaps = [g for notes in continuations for g in onsets_gaps(notes)]
    return glitches(gaps, threshold) / len(gaps) if gaps else 0.0


def median_spacing(notes: list[Note]) -> float | None:
    """Median inter-onset interval in seconds (None under two notes): the pace a melody is played at."""
    gaps = onsets_gaps(notes)
    return statistics.median(gaps) if gaps else None


def articulation(notes: list[Note]) -> float | None:
    """How detached a line is played: the median share of the time to the next onset that a
    note is held (1: legato); None with fewer than two such spacings."""
    held = [min(1.0, a.duration / (b.start - a.start)) for a, b in zip(notes, notes[1:]) if b.start > a.start]
    return statistics.median(held) if len(held) >= 2 else None


def held_for(notes: list[Note], share: float | None = None, seconds: float | None = None) -> list[Note]:
    """The same notes played with another touch: each held `share` of the time to the next onset
    (the last, of its own length), or for `seconds` but never past the next onset."""
    spacings = onsets_gaps(notes) + [notes[-1].duration] if notes else []
    held = [share * spacing if seconds is None else min(seconds, spacing or seconds) for spacing in spacings]
    return [Note(n.pitch, n.start, n.start + length, n.velocity) for n, length in zip(notes, held)]


def transposed(notes: list[Note], semitones: int) -> list[Note]:
    """The same notes `semitones` higher; any moved off the MIDI range (0..127) are left out."""
    return [Note(n.pitch + semitones, n.start, n.end, n.velocity) for n in notes if 0 <= n.pitch + semitones <= MAX_PITCH]


def time_stretched(notes: list[Note], factor: float) -> list[Note]:
    """The same notes played `factor` times slower (0.5: twice as fast)."""
    return [Note(n.pitch, n.start * factor, n.end * factor, n.velocity) for n in notes]


def window_measures(notes: list[Note], key: Key, seconds: float, window: float, reference_pitch: float) -> list[dict]:
    """Per `window` seconds of a continuation lasting `seconds`: counts that add up over many
    continuations (notes; gaps, and how many of them are glitches, each counted in the window of
    its later onset) and per-continuation values (in-key ratio, pitch range, median pitch above
    `reference_pitch`, None for an empty window)."""
    measures = []
    for start in np.arange(0.0, seconds - 1e-9, window):
        inside = [n for n in notes if start <= n.start < start + window]
        gaps = [b.start - a.start for a, b in zip(notes, notes[1:]) if start <= b.start < start + window]
        measures.append({
            "notes": len(inside),
            "gaps": len(gaps),
            "rushed": glitches(gaps),
            "in_key": in_key_ratio(inside, key) if inside else None,
            "pitch_range": pitch_range(inside) if inside else None,
            "pitch_drift": statistics.median(n.pitch for n in inside) - reference_pitch if inside else None,
        })
    return measures


def pool_windows(per_continuation: list[list[dict]], window: float) -> list[dict]:
    """Window measures of many continuations -> one row per window: glitch share of all gaps,
    mean notes per second, and the mean of each per-continuation value over non-empty windows."""
    rows = []
    for index, cells in enumerate(zip(*per_continuation)):
        gaps = sum(cell["gaps"] for cell in cells)
        mean = lambda name: statistics.mean(v) if (v := [c[name] for c in cells if c[name] is not None]) else None  # noqa: E731
        rows.append({
            "start": index * window,
            "rushed_share": sum(cell["rushed"] for cell in cells) / gaps if gaps else 0.0,
            "notes_per_second": statistics.mean(cell["notes"] for cell in cells) / window,
            "in_key_ratio": mean("in_key"),
            "pitch_range": mean("pitch_range"),
            "pitch_drift": mean("pitch_drift"),
        })
    return rows


def is_verbatim_copy(melody: list[Note], continuation: list[Note], min_notes: int = 3) -> bool:
    """True if the continuation (at least `min_notes` long) replays the melody's pitches note for
    note from some point on, wrapping around to its start as a repeat would."""
    source = [n.pitch for n in melody]
    copy = [n.pitch for n in continuation]
    if len(copy) < min_notes or not source:
        return False
    return any(all(copy[i] == source[(offset + i) % len(source)] for i in range(len(copy))) for offset in range(len(source)))


def overlapped_area(a: list[float], b: list[float], edges: np.ndarray) -> float:
    """Area shared by the two normalized histograms of `a` and `b` over `edges`: 1.0 for the same
    distribution, 0.0 for disjoint ones (values outside the edges count in the end bins)."""
    if not a or not b:
        return 0.0
    clipped = lambda values: np.clip(values, edges[0], edges[-1])  # noqa: E731
    p, _ = np.histogram(clipped(a), bins=edges)
    q, _ = np.histogram(clipped(b), bins=edges)
    return float(np.minimum(p / p.sum(), q / q.sum()).sum())


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def notes_heard(reference: list[Note], heard: list[Note], onset_tolerance: float = 0.05) -> int:
    """How many reference notes a transcription heard: the same pitch, starting within
    `onset_tolerance` s, each heard note counted once (the nearest onset first). Unlike pairing
    notes in order, a missed or extra note costs one note, not every note after it."""
    candidates = sorted((abs(h.start - r.start), i, j) for i, r in enumerate(reference) for j, h in enumerate(heard)
                        if h.pitch == r.pitch and abs(h.start - r.start) <= onset_tolerance)
    used_reference, used_heard = set(), set()
    for _, i, j in candidates:
        if i not in used_reference and j not in used_heard:
            used_reference.add(i)
            used_heard.add(j)
    return len(used_reference)
