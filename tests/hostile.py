"""A catalogue of hostile and odd inputs, shared by the CLI, library and API tests and by the
fuzzer's seed corpus: each MIDI file with what reading it must give (None = a melody to extend,
else words the one-line error must contain), and each JSON body with the status the API answers."""

from __future__ import annotations

import io
import json
import random
import struct

import mido


def smf(tracks: list[list[mido.Message | mido.MetaMessage]], type: int = 1, ticks_per_beat: int = 480) -> bytes:
    midi = mido.MidiFile(type=type, ticks_per_beat=ticks_per_beat)
    for messages in tracks:
        midi.tracks.append(mido.MidiTrack(messages))
    buffer = io.BytesIO()
    midi.save(file=buffer)
    return buffer.getvalue()


def line(pitches: list[int], step: int = 240, held: int = 200, channel: int = 0) -> list[mido.Message]:
    """Note-ons `step` ticks apart, each held `held` ticks (held <= step)."""
    messages = []
    for index, pitch in enumerate(pitches):
        messages.append(mido.Message("note_on", note=pitch, velocity=90, channel=channel, time=step - held if index else 0))
        messages.append(mido.Message("note_off", note=pitch, velocity=0, channel=channel, time=held))
    return messages


def _noise(seed: int, size: int) -> bytes:
    return random.Random(seed).randbytes(size)


TUNE = smf([line([60, 62, 64, 65, 67, 69, 67, 65])])
_TRACK_LENGTH = slice(18, 22)  # the first MTrk chunk's length field


def _with_track_length(length: int) -> bytes:
    return TUNE[: _TRACK_LENGTH.start] + struct.pack(">I", length) + TUNE[_TRACK_LENGTH.stop :]


def _tempo(tempo: int) -> bytes:
    return smf([[mido.MetaMessage("set_tempo", tempo=tempo)] + line([60, 62, 64, 65])])


def _chords() -> bytes:
    messages = []
    for index, chord in enumerate(([60, 64, 67], [62, 65, 69], [64, 67, 71], [60, 64, 67])):
        messages += [mido.Message("note_on", note=p, velocity=80, time=0) for p in chord]
        messages += [mido.Message("note_off", note=p, time=480 if i == 0 else 0) for i, p in enumerate(chord)]
    return smf([messages])


def _held_forever() -> bytes:
    return smf([[mido.Message("note_on", note=60, velocity=90), mido.Message("note_on", note=64, velocity=90, time=480),
                 mido.MetaMessage("end_of_track", time=480)]])


def _zero_length() -> bytes:
    return smf([[mido.Message("note_on", note=60, velocity=90), mido.Message("note_off", note=60, time=0)]])


# name -> (file bytes, None when it holds a melody to extend, else words its error must contain)
HOSTILE_FILES: dict[str, tuple[bytes, str | None]] = {
    "empty": (b"", "empty"),
    "text": (b"this is a text file, not music\n", "not a MIDI file"),
    "random-bytes": (_noise(1, 4000), "not a MIDI file"),
    "header-then-garbage": (TUNE[:14] + _noise(2, 300), "corrupt"),
    "truncated-track": (TUNE[: len(TUNE) // 2], "truncated"),
    "track-length-too-long": (_with_track_length(10**9), "truncated"),
    "track-length-too-short": (_with_track_length(3), "truncated"),
    "zero-ticks-per-beat": (TUNE[:12] + b"\x00\x00" + TUNE[14:], "0 ticks per beat"),
    "smpte-bad-rate": (TUNE[:12] + b"\xe9\x28" + TUNE[14:], "SMPTE"),
    "smpte-25fps": (TUNE[:12] + b"\xe7\x28" + TUNE[14:], None),
    "tempo-zero": (_tempo(0), "invalid tempo"),
    "tempo-huge": (_tempo(16_777_215), None),
    "tempo-tiny": (_tempo(1), "shorter than 1 ms"),
    "no-notes": (smf([[mido.MetaMessage("track_name", name="silence")]]), "no notes"),
    "drums-only": (smf([line([36, 38, 42, 36], channel=9)]), "drum notes only"),
    "never-released": (_held_forever(), None),
    "zero-length-notes": (_zero_length(), "no notes (1 shorter than 1 ms)"),
    "100k-notes-in-seconds": (smf([line([60 + i % 12 for i in range(100_000)], step=2, held=1)]), None),
    "hour-long": (smf([line([60, 62], step=480 * 2 * 3600, held=480)]), None),
    "pitches-0-and-127": (smf([line([0, 127, 0, 127, 0])]), None),
    "block-chords": (_chords(), None),
    "type-2": (smf([line([60, 62])], type=2), "format 2"),
    # A key signature with 114 sharps: mido raises its own KeySignatureError (found by the fuzzer).
    "impossible-key-signature": (_with_track_length(len(TUNE) - 22 + 6)[:22] + b"\x00\xff\x59\x02\x72\x70"
                                 + TUNE[22:], "corrupt"),
    "type-1-melody-in-second-track": (smf([[mido.MetaMessage("set_tempo", tempo=400_000)], line([72, 71, 69, 67])]), None),
}


def _notes(count: int, spacing: float = 0.25) -> list[dict]:
    return [{"pitch": 60 + i % 12, "start": i * spacing, "end": i * spacing + spacing * 0.9, "velocity": 90}
            for i in range(count)]


GOOD = _notes(12)


def _body(**fields) -> str:
    return json.dumps({"notes": GOOD, **fields})


def _with_note(**fields) -> str:
    return json.dumps({"notes": [GOOD[0] | fields] + GOOD[1:]})


# name -> (raw JSON body for POST /api/extend, expected status)
HOSTILE_BODIES: dict[str, tuple[str, int]] = {
    "negative-start": (_with_note(start=-1.0), 422),
    "nan-start": (_with_note(start=0).replace('"start": 0', '"start": NaN', 1), 422),
    "infinite-end": (_with_note(end=0).replace('"end": 0', '"end": Infinity', 1), 422),
    "huge-end": (_with_note(end=1e308), 200),  # finite: a very long note, held under the rest
    "huge-end-alone": (json.dumps({"notes": [{"pitch": 0, "start": 0, "end": 6e306}]}), 200),  # found by schemathesis
    "inverted-times": (_with_note(start=2.0, end=1.0), 422),
    "pitch-128": (_with_note(pitch=128), 422),
    "pitch-minus-1": (_with_note(pitch=-1), 422),
    "velocity-0": (_with_note(velocity=0), 422),
    "pitch-as-string": (_with_note(pitch="C4"), 422),
    "unsorted-notes": (json.dumps({"notes": GOOD[::-1]}), 200),
    "overlapping-notes": (json.dumps({"notes": [n | {"end": n["end"] + 1.0} for n in GOOD]}), 200),
    "pitches-0-and-127": (json.dumps({"notes": [n | {"pitch": 127 * (i % 2)} for i, n in enumerate(GOOD)]}), 200),
    "empty-notes": (json.dumps({"notes": []}), 422),
    "no-notes-field": ("{}", 422),
    "notes-null": ('{"notes": null}', 422),
    "body-is-a-list": (json.dumps([GOOD]), 422),
    "body-is-a-string": ('"la la la"', 422),
    "broken-json": ('{"notes": [', 422),
    "deeply-nested": ("[" * 100_000 + "]" * 100_000, 400),
    "over-the-note-limit": (json.dumps({"notes": _notes(2001, 0.01)}), 422),
    "100k-notes": (json.dumps({"notes": _notes(100_000, 0.0001)}), 413),
    "huge-body": ('{"notes": [], "pad": "' + "x" * (3 * 1024 * 1024) + '"}', 413),
    "seconds-zero": (_body(seconds=0), 422),
    "seconds-huge": (_body(seconds=1e308), 422),
    "seconds-negative": (_body(seconds=-5), 422),
    "variations-huge": (_body(variations=10**9), 422),
    "variations-zero": (_body(variations=0), 422),
    "temperature-huge": (_body(temperature=1e9), 422),
    "temperature-negative": (_body(temperature=-1), 422),
    "temperature-tiny": (_body(temperature=1e-300), 200),  # found by hypothesis: every logit overflowed
    "top-p-zero": (_body(top_p=0), 422),
    "seed-negative": (_body(seed=-1), 422),
    "seed-too-big": (_body(seed=2**70), 422),
    "key-nonsense": (_body(key="H super-major"), 422),
    "input-seconds-nan": (_body(input_seconds=0).replace('"input_seconds": 0', '"input_seconds": NaN'), 422),
    "unknown-field": (_body(tempo=120), 422),
    "the-most-work-allowed": (_body(seconds=60, variations=32), 200),
}
