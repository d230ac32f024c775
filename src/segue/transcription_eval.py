"""`segue evaluate-transcription`: how well recordings of one voice become notes, and what that
changes in the continuations.

The test set is made in code each run, never stored: the opening 5 s of held-out test songs (the
same pairs `segue evaluate` uses, reduced to one line), performed by each of `performances.TIMBRES`
with vibrato (30-60 cents at 5-6 Hz, growing on held notes), a glide into each note (30-80 ms),
the whole phrase off A440 by up to ±40 cents, and white noise at 20 and 10 dB SNR (pink at 10),
or heard in a room (RT60 0.5 s, the direct sound 5 dB above the reverberation), or sung by an
untrained voice (drifting up to 60 cents, each note about 20 cents off); each voice plays in its
own range (`MEDIAN_FROM`: the melody moved by octaves). Each performance's expression is drawn from a seeded
generator, so a rerun renders the same audio.

Scores are `mir_eval.transcription`'s note precision, recall and F1 (onset within 50 ms, pitch
within 50 cents; and with offsets within 20 % of the note or 50 ms), averaged over melodies. The
end-to-end part continues each melody from its transcribed notes and from its true notes with the
same seed, and compares the continuations' in-key share and tempo, and the bits per note of the
true continuation under the model given either input.
"""

from __future__ import annotations

import json
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from tqdm import tqdm

from . import metrics
from .data import DEFAULT_DATA, Pair, load_corpus, make_pairs
from .keys import detect_key, in_key_ratio
from .notes import Note
from .audio import SAMPLE_RATE, wav_bytes
from .performances import TIMBRES, Expression, chords, heard, perform
from .robustness import within_share
from .transcribe import SeveralVoicesError, TranscriptionError, transcribe

SEED = 50_000
MELODIES = 40  # per timbre and condition
# What each condition adds to a performance, as `Expression` fields (a pair: drawn uniformly between
# them for each recording): background noise (as SNR); a living room's reverberation heard from
# arm's length; an untrained singer, who starts within 20 cents of A440 (so which semitone was
# meant stays clear), drifts by up to 60 cents either way and sings each note about 20 cents off;
# pink noise (a fan, traffic), whose power lies low, over a voice's first harmonics, where white
# noise is thin. The last three have no target: they show what a room, an untrained voice and
# the noise of a real place cost.
CONDITIONS = {"clean": {}, "20 dB": {"snr_db": 20.0}, "10 dB": {"snr_db": 10.0},
              "room": {"room_seconds": 0.5, "room_drr_db": 5.0},
              "untrained": {"tuning_cents": (-20.0, 20.0), "drift_cents": (-60.0, 60.0), "intonation_cents": 20.0},
              "10 dB pink": {"snr_db": 10.0, "noise_slope": 1.0}}
# Where each voice carries a tune: a melody is moved by octaves until its median pitch is in
# [low, low + 12). Test songs are transposed anywhere from bass to treble, and no one sings a bass
# line on a recorder.
MEDIAN_FROM = {"choir-aahs": 55, "voice-oohs": 55, "synth-voice": 55, "whistle": 79, "recorder": 74, "flute": 70,
               "violin": 64, "hum": 48, "oboe": 67, "clarinet": 62, "alto-sax": 60, "trumpet": 62, "harmonica": 65,
               "accordion": 62}
ONSET_TOLERANCE = 0.05  # s
PITCH_TOLERANCE = 50.0  # cents
TARGETS = {"clean": 0.90, "10 dB": 0.80}  # note F1 (onset + pitch), for every timbre
TIMING_TARGET_MS = 300.0  # p50 to transcribe 5 s of audio
END_TO_END_TOLERANCE = 0.05  # relative difference of the continuations' measures
# Continuations per input in the end-to-end part: with one, the 40 from the true notes put a
# standard error of about 6 points on their share within the tempo range, above the tolerance.
END_TO_END_VARIATIONS = 8
FAST_NOTES_PER_SECOND = 6.0  # melodies faster than this are reported apart too: no one sings them
# Recordings of two or more notes at once, which `transcribe` should refuse: two voices singing
# different tunes; one tune sung in parallel thirds, fourths or sixths (semitones below it, in
# turn); a tune over piano chords; chords alone. Fifths and octaves lie on one harmonic series
# and are not listened for.
HARMONIES = {"thirds": (-4, -3), "fourths": (-5,), "sixths": (-9, -8)}
CHORD_KINDS = {"tune over piano chords": (0, True), "piano chords": (0, False), "guitar chords": (24, False)}
# (the chords' General MIDI program, whether the tune is sung over them)
SEVERAL_VOICES = ("duet", *HARMONIES, *CHORD_KINDS)


def one_line(notes: list[Note]) -> list[Note]:
    """The melody as one voice sings it: of notes starting together the highest, and each note
    cut where the next begins."""
    line: list[Note] = []
    for note in sorted(notes, key=lambda n: (n.start, -n.pitch)):
        if line and note.start <= line[-1].start:
            continue
        if line and note.start < line[-1].end:
            line[-1] = Note(line[-1].pitch, line[-1].start, note.start, line[-1].velocity)
        line.append(note)
    return line


def expression_for(rng: np.random.Generator, condition: str) -> Expression:
    drawn = dict(vibrato_cents=float(rng.uniform(30, 60)), vibrato_hz=float(rng.uniform(5, 6)),
                 glide_seconds=float(rng.uniform(0.03, 0.08)), tuning_cents=float(rng.uniform(-40, 40)))
    fields = {name: float(rng.uniform(*value)) if isinstance(value, tuple) else value
              for name, value in CONDITIONS[condition].items()}
    return Expression(**drawn | fields)


def note_scores(reference: list[Note], estimate: list[Note]) -> dict[str, float]:
    """mir_eval's note precision, recall and F1, without and with offsets."""
    import mir_eval

    (ref_i, ref_p), (est_i, est_p) = _mir_eval_notes(reference), _mir_eval_notes(estimate)
    scores = {}
    for name, offset_ratio in (("", None), ("_with_offsets", 0.2)):
        with warnings.catch_warnings():  # "Estimated notes are empty": scored as nothing found
            warnings.simplefilter("ignore", UserWarning)
            precision, recall, f1, _ = mir_eval.transcription.precision_recall_f1_overlap(
                ref_i, ref_p, est_i, est_p, onset_tolerance=ONSET_TOLERANCE, pitch_tolerance=PITCH_TOLERANCE,
                offset_ratio=offset_ratio)
        scores |= {f"precision{name}": precision, f"recall{name}": recall, f"f1{name}": f1}
    return scores


def repeats_found(reference: list[Note], estimate: list[Note]) -> dict[str, int]:
    """How many of the reference's notes repeat the pitch of the note before (`repeated`) and how
    many do not (`other`), and of each how many were found (onset and pitch as in `note_scores`).
    A repeated note is heard only by its new attack, not by a change of pitch."""
    import mir_eval

    found = {index for index, _ in mir_eval.transcription.match_notes(
        *_mir_eval_notes(reference), *_mir_eval_notes(estimate), onset_tolerance=ONSET_TOLERANCE,
        pitch_tolerance=PITCH_TOLERANCE, offset_ratio=None)} if reference and estimate else set()
    repeated = {index for index in range(1, len(reference)) if reference[index].pitch == reference[index - 1].pitch}
    others = set(range(len(reference))) - repeated
    return {"repeated": len(repeated), "repeated_found": len(repeated & found),
            "other": len(others), "other_found": len(others & found)}


def _mir_eval_notes(notes: list[Note]) -> tuple[np.ndarray, np.ndarray]:
    """Notes as mir_eval takes them: (onset, offset) intervals and pitches in Hz."""
    intervals = np.array([[n.start, n.end] for n in notes]).reshape(-1, 2)
    return intervals, np.array([440.0 * 2 ** ((n.pitch - 69) / 12) for n in notes])


def test_melodies(data: Path, split: str, count: int) -> list[Pair]:
    """`count` pairs spread over the split's evaluation pairs, inputs reduced to one line."""
    from .evaluate import EVALUATION_PAIRS, EVALUATION_SEED, spread

    pairs = [p for p in make_pairs(load_corpus(data), split, EVALUATION_PAIRS, EVALUATION_SEED)
             if len(one_line(p.input)) >= 4]
    if not pairs:
        raise ValueError(f"the {split} split has no songs long enough to evaluate")
    return [Pair(p.song_id, one_line(p.input), p.extension, p.input_length) for p in spread(pairs, count)]


def evaluate_transcription(data: Path = DEFAULT_DATA, split: str = "test", melodies: int = MELODIES,
                           timbres: tuple[str, ...] = tuple(TIMBRES), checkpoint_path: Path | None = None,
                           progress: bool = True) -> dict:
    pairs = test_melodies(data, split, melodies)
    results: dict = {"split": split, "melodies": len(pairs), "timbres": {}, "conditions": list(CONDITIONS),
                     "onset_tolerance_s": ONSET_TOLERANCE, "pitch_tolerance_cents": PITCH_TOLERANCE}
    timings, transcribed = [], {}  # transcribed[(timbre, condition, index)]: the notes heard
    refused_as_several = {(t, c): 0 for t in timbres for c in CONDITIONS}  # one voice taken for several
    jobs = [(t, c, i) for t in timbres for c in CONDITIONS for i in range(len(pairs))]
    # Each recording's expression from a generator of its own, so a voice or condition added at
    # the end leaves every other recording as it was.
    expressions = {(timbre, condition, index): expression_for(np.random.default_rng(
        (SEED, list(TIMBRES).index(timbre), list(CONDITIONS).index(condition), index)), condition)
        for timbre, condition, index in jobs}
    shifts = {(timbre, i): octave_shift(pairs[i].input, timbre) for timbre in timbres for i in range(len(pairs))}
    for timbre, condition, index in tqdm(jobs, desc="transcribing", disable=not progress):
        reference = metrics.transposed(pairs[index].input, shifts[timbre, index])
        samples = perform(reference, pairs[index].input_length, timbre, expressions[timbre, condition, index],
                          seed=SEED + index)
        audio = wav_bytes(samples)
        started = time.perf_counter()
        try:
            notes = transcribe(audio).notes
        except TranscriptionError as error:
            notes = []
            refused_as_several[timbre, condition] += isinstance(error, SeveralVoicesError)
        seconds = time.perf_counter() - started
        timings.append(1000 * seconds * 5.0 / (len(samples) / SAMPLE_RATE))  # per 5 s of audio
        transcribed[timbre, condition, index] = (reference, notes)
    for timbre in timbres:
        results["timbres"][timbre] = {}
        for condition in CONDITIONS:
            rows = [note_scores(*transcribed[timbre, condition, i]) for i in range(len(pairs))]
            summary = {name: float(np.mean([r[name] for r in rows])) for name in rows[0]}
            summary["f1_lowest"] = float(min(r["f1"] for r in rows))
            slow = [r["f1"] for r, pair in zip(rows, pairs) if _notes_per_second(pair) <= FAST_NOTES_PER_SECOND]
            summary["f1_up_to_fast"] = float(np.mean(slow)) if slow else None
            summary["empty"] = sum(not transcribed[timbre, condition, i][1] for i in range(len(pairs)))
            summary["refused_as_several_voices"] = refused_as_several[timbre, condition]
            counts = [repeats_found(*transcribed[timbre, condition, i]) for i in range(len(pairs))]
            summary["repeats"] = {name: sum(c[name] for c in counts) for name in counts[0]}
            results["timbres"][timbre][condition] = summary
    results["fast_melodies"] = sum(_notes_per_second(p) > FAST_NOTES_PER_SECOND for p in pairs)
    results["timing_ms_per_5s"] = {"p50": float(np.percentile(timings, 50)), "p90": float(np.percentile(timings, 90)),
                                   "runs": len(timings)}
    results["several_voices"] = several_voices(pairs, timbres, progress)
    if checkpoint_path is not None:
        heard_notes = {i: {timbre: metrics.transposed(transcribed[timbre, "clean", i][1], -shifts[timbre, i])
                           for timbre in timbres} for i in range(len(pairs))}
        results["end_to_end"] = end_to_end(pairs, heard_notes, checkpoint_path, progress)
    results["targets"] = check_targets(results)
    return results


def several_voices(pairs: list[Pair], timbres: tuple[str, ...], progress: bool) -> dict:
    """How many recordings of two or more notes at once `transcribe` refuses, per kind in
    `SEVERAL_VOICES`: one for each of the first half of the melodies (a duet's second tune is one
    of the second half), in each condition in turn, the voices drawn from `timbres`, the second
    part 0-8 dB softer than the first."""
    rng = np.random.default_rng(SEED + 1)
    half = len(pairs) // 2
    answer = {}
    for kind in tqdm(SEVERAL_VOICES, desc="several voices", disable=not progress):
        refused = 0
        for index in range(half):
            pair, condition = pairs[index], list(CONDITIONS)[index % len(CONDITIONS)]
            first, second = (str(rng.choice(timbres)) for _ in range(2))
            tune = metrics.transposed(pair.input, octave_shift(pair.input, first))
            seconds = pair.input_length
            program, sung_over = CHORD_KINDS.get(kind, (None, True))
            lead = perform(tune, seconds, first, expression_for(rng, "clean"), seed=SEED + index) if sung_over else 0.0
            if kind == "duet":
                other = pairs[index + half]
                part = perform(metrics.transposed(other.input, octave_shift(other.input, second)), seconds, second,
                               expression_for(rng, "clean"), seed=SEED + half + index)
            elif kind in HARMONIES:  # two singers of one kind
                steps = HARMONIES[kind][index % len(HARMONIES[kind])]
                part = perform(metrics.transposed(tune, steps), seconds, first, expression_for(rng, "clean"),
                               seed=SEED + half + index)
            else:
                part = chords(_chord_sequence(seconds, rng), seconds, program)
            if sung_over:
                part = part * 10 ** (-rng.uniform(0, 8) / 20) * np.sqrt(np.mean(lead ** 2) / max(np.mean(part ** 2), 1e-12))
            audio = wav_bytes(heard(lead + part, expression_for(rng, condition), seed=SEED + index))
            try:
                transcribe(audio)
            except SeveralVoicesError:
                refused += 1
            except TranscriptionError:
                pass
        answer[kind] = {"recordings": half, "refused": refused}
    return answer


def _chord_sequence(seconds: float, rng: np.random.Generator) -> list[Note]:
    """Triads a second each, below middle C: on I, II, IV, V or VI of a random key, major or minor."""
    tonic, notes = 48 + int(rng.integers(12)), []
    for start in np.arange(0.0, seconds, 1.0):
        root = tonic + int(rng.choice([0, 2, 5, 7, 9]))
        notes += [Note(root + step, float(start), float(start) + 0.9, 80) for step in (0, 3 + int(rng.integers(2)), 7)]
    return notes


def octave_shift(notes: list[Note], timbre: str) -> int:
    """Semitones (whole octaves) that put the melody's median pitch in the voice's range."""
    median = float(np.median([n.pitch for n in notes]))
    return 12 * int(np.ceil((MEDIAN_FROM[timbre] - median) / 12))


def _notes_per_second(pair: Pair) -> float:
    return len(pair.input) / pair.input_length


def end_to_end(pairs: list[Pair], heard_notes: dict[int, dict[str, list[Note]]], checkpoint_path: Path,
               progress: bool) -> dict:
    """Continuations from the true notes and from each clean transcription of them (same seeds):
    in-key share, tempo against the true input, and the true continuation's bits per note; for
    every voice's transcriptions together ("transcribed") and for each voice's."""
    from .batching import pair_tokens
    from .checkpoint import load_checkpoint
    from .evaluate import SECONDS, neural_scores
    from .generate import extend

    checkpoint = load_checkpoint(checkpoint_path)
    timbres = list(heard_notes[0]) if heard_notes else []
    measures: dict[str, dict[str, list]] = {label: {"in_key": [], "tempo": [], "pairs": []}
                                            for label in ("true notes", "transcribed", *timbres)}
    for index, pair in enumerate(tqdm(pairs, desc="continuing", disable=not progress)):
        key = detect_key(pair.input)
        sources = [(("true notes",), pair.input)] + [(("transcribed", timbre), notes)
                                                     for timbre, notes in heard_notes[index].items() if len(notes) >= 2]
        for labels, notes in sources:
            continuations = extend(notes, SECONDS, 1.0, seed=SEED + index, variations=END_TO_END_VARIATIONS,
                                   input_length=pair.input_length, checkpoint=checkpoint)
            ratios = [metrics.tempo_ratio(pair.input, continuation) for continuation in continuations]
            for label in labels:
                measures[label]["in_key"] += [in_key_ratio(c, key) for c in continuations if c]
                measures[label]["tempo"] += [r for r in ratios if r is not None]
                measures[label]["pairs"].append(Pair(pair.song_id, notes, pair.extension, pair.input_length))
    answer = {}
    for label, values in measures.items():
        if not values["pairs"]:
            continue
        bits = neural_scores(checkpoint, [pair_tokens(p, checkpoint.tokenizer) for p in values["pairs"]]).summary()
        answer[label] = {"inputs": len(values["pairs"]), "continuations": END_TO_END_VARIATIONS * len(values["pairs"]),
                         "in_key_ratio": float(statistics.mean(values["in_key"])),
                         "tempo_ratio_median": statistics.median(values["tempo"]),
                         "tempo_within_share": within_share(values["tempo"]),
                         "bits_per_note": bits["bits_per_note"], "pitch_bits_per_note": bits["pitch_bits_per_note"]}
    answer["checkpoint"] = Path(checkpoint_path).name
    return answer


def check_targets(results: dict) -> dict:
    targets = {}
    for condition, floor in TARGETS.items():
        lowest = min(results["timbres"].items(), key=lambda item: item[1][condition]["f1"])
        targets[f"note_f1_{condition.replace(' ', '')}_every_timbre"] = {
            "value": round(lowest[1][condition]["f1"], 3), "target": f">= {floor} (lowest: {lowest[0]})",
            "met": bool(lowest[1][condition]["f1"] >= floor)}
    p50 = results["timing_ms_per_5s"]["p50"]
    targets["transcription_ms_p50"] = {"value": round(p50, 1), "target": f"<= {TIMING_TARGET_MS:g}",
                                       "met": bool(p50 <= TIMING_TARGET_MS)}
    if "transcribed" in results.get("end_to_end", {}):  # none, if no transcription held two notes
        true, transcribed_row = results["end_to_end"]["true notes"], results["end_to_end"]["transcribed"]
        for name in ("in_key_ratio", "tempo_within_share"):
            difference = abs(transcribed_row[name] - true[name]) / true[name]
            targets[f"end_to_end_{name}"] = {"value": round(difference, 3),
                                             "target": f"relative difference <= {END_TO_END_TOLERANCE}",
                                             "met": bool(difference <= END_TO_END_TOLERANCE)}
    return targets


def write_report(results: dict, out: Path, command: str) -> list[Path]:
    out.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out.with_suffix(".json"), out.with_suffix(".md")
    json_path.write_text(json.dumps({**results, "command": command}, indent=2) + "\n")
    md_path.write_text(_markdown(results, command))
    return [md_path, json_path]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _recall_cell(counts: dict[str, int]) -> str:
    def share(found: int, total: int) -> str:
        return f"{found / total:.2f}" if total else "—"

    return (f"{share(counts['repeated_found'], counts['repeated'])} / {share(counts['other_found'], counts['other'])} "
            f"({counts['repeated']} / {counts['other']})")


def _markdown(results: dict, command: str) -> str:
    conditions = results["conditions"]
    lines = [
        "# Transcription: sung and played recordings as notes",
        "",
        f"Generated by `{command}`. {results['melodies']} melodies (the opening 5 s of held-out "
        f"{results['split']} songs, one line each) performed by each voice with vibrato, glides, a tuning offset "
        "and noise, made in code each run (`segue.transcription_eval`, `segue.performances`). The *hum* and the "
        "*whistle* are made in code too (the hum from a voice's harmonics through the resonances of a nasal murmur, "
        "lips closed; a note hummed on at the pitch just hummed, without a rest, re-attacked by a dip of 6–18 dB); "
        "the others are FluidSynth's General MIDI samples.",
        "",
        "Conditions: *clean*; white noise at *20 dB* and *10 dB* SNR; *room*: heard in a living room (reverberation "
        "time 0.5 s) from arm's length (the direct sound 5 dB above the reverberation); *untrained*: a singer who "
        "starts within 20 cents of A440, drifts steadily by up to 60 cents either way over the recording, and sings "
        "each note off by a normal draw of 20 cents (standard deviation). The targets do not cover these two: "
        "they show what a room's ring under the next notes and an untrained voice cost. *10 dB pink*: noise at 10 dB SNR "
        "whose power falls by 3 dB an octave (a fan, traffic, the murmur of a room), lying over a voice's first "
        "harmonics, where white noise is thin; it has no target either.",
        "",
        f"Note F1 with `mir_eval.transcription` (onset within {1000 * results['onset_tolerance_s']:.0f} ms, pitch "
        f"within {results['pitch_tolerance_cents']:.0f} cents), the mean over melodies; precision / recall "
        "beside it, and the lowest melody's F1. *Offsets*: F1 also requiring the note's end within 20 %.",
        "",
        f"*Up to {FAST_NOTES_PER_SECOND:g}/s*: F1 of the melodies of at most {FAST_NOTES_PER_SECOND:g} notes a second "
        f"({results['fast_melodies']} of the {results['melodies']} melodies are faster: instrumental runs, some of "
        "30 ms notes, faster than anyone sings).",
        "",
        "| voice | " + " | ".join(f"{c}: F1 (P / R), lowest" for c in conditions) + " | clean, with offsets | "
        f"clean, up to {FAST_NOTES_PER_SECOND:g}/s | 10 dB, up to {FAST_NOTES_PER_SECOND:g}/s |",
        "|---|" + "---|" * (len(conditions) + 3),
    ]
    for timbre, by_condition in results["timbres"].items():
        cells = [f"{s['f1']:.3f} ({s['precision']:.2f} / {s['recall']:.2f}), {s['f1_lowest']:.2f}"
                 for s in (by_condition[c] for c in conditions)]
        slow = [_fmt(by_condition[c]["f1_up_to_fast"]) for c in ("clean", "10 dB")]
        lines.append(f"| {timbre} | " + " | ".join(cells) + f" | {by_condition['clean']['f1_with_offsets']:.3f} | "
                     + " | ".join(slow) + " |")
    lines += ["", "*Repeated notes*: a note on the pitch of the one before is told from it only by its new attack "
              "(a dip in loudness, a new onset), not by a change of pitch. The share of such notes found, beside the "
              "share of the other notes found (recall, pooled over the melodies; how many notes of each kind).", "",
              "| voice | " + " | ".join(f"{c}: repeated / other" for c in conditions) + " |",
              "|---|" + "---|" * len(conditions)]
    for timbre, by_condition in results["timbres"].items():
        cells = [_recall_cell(by_condition[c]["repeats"]) for c in conditions]
        lines.append(f"| {timbre} | " + " | ".join(cells) + " |")
    timing = results["timing_ms_per_5s"]
    lines += ["", f"Time to transcribe 5 s of audio (per recording, scaled to 5 s): p50 {timing['p50']:.0f} ms, "
              f"p90 {timing['p90']:.0f} ms over {timing['runs']} recordings.", ""]
    singles = sum(s["refused_as_several_voices"] for by_condition in results["timbres"].values()
                  for s in by_condition.values())
    lines += ["## Several voices at once", "",
              "Recordings of two or more notes at once are refused with a message, as the notes of one line cannot "
              "be read from them. Each kind below is made from the melodies above (the second part 0–8 dB softer "
              "than the first, the conditions in turn); *one voice* counts the recordings of the table above "
              "refused as several voices.", "",
              "| recordings | count | refused |", "|---|---|---|",
              f"| one voice (all voices and conditions above) | {len(results['timbres']) * len(conditions) * results['melodies']} "
              f"| {singles} |"]
    for kind, row in results["several_voices"].items():
        lines.append(f"| {kind} | {row['recordings']} | {row['refused']} ({row['refused'] / row['recordings']:.0%}) |")
    lines.append("")
    if "end_to_end" in results:
        e2e = results["end_to_end"]
        lines += [f"## Continuations from transcribed input ({e2e['checkpoint']})", "",
                  f"Each melody continued {END_TO_END_VARIATIONS} times (5 s, temperature 1, the same seeds) from its true "
                  "notes and from each voice's clean transcription (all voices together, then each); tempo against "
                  "the true input's.", "",
                  "| input | inputs | continuations | in key | tempo ratio (median) | tempo within ×0.67–1.5 | "
                  "bits per note of the true continuation | pitch bits |", "|---|---|---|---|---|---|---|---|"]
        for label in [name for name in e2e if name != "checkpoint"]:
            m = e2e[label]
            lines.append(f"| {label} | {m['inputs']} | {m['continuations']} | {m['in_key_ratio']:.3f} | {m['tempo_ratio_median']:.3f} | "
                         f"{m['tempo_within_share']:.3f} | {m['bits_per_note']:.3f} | {m['pitch_bits_per_note']:.3f} |")
        lines.append("")
    lines += ["## Targets", "", "| target | value | wanted | met |", "|---|---|---|---|"]
    for name, target in results["targets"].items():
        lines.append(f"| {name} | {target['value']} | {target['target']} | {'yes' if target['met'] else '**no**'} |")
    return "\n".join(lines) + "\n"

