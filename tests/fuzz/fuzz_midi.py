"""Coverage-guided fuzzing of the MIDI loader with atheris (libFuzzer for Python).

Any input must give a melody or a MidiError; anything else is a crash, which libFuzzer saves as
crash-<hash> in the working folder (or -artifact_prefix). Run it longer to grow the corpus:

    .venv/bin/python tests/fuzz/fuzz_midi.py -max_total_time=600 tests/fuzz/corpus/midi

tests/test_fuzz.py runs it briefly on every test run, starting from the kept corpus.
"""

import sys

import atheris

with atheris.instrument_imports(include=["segue", "mido"]):
    from segue.midi_io import MidiError, read_midi


def test_one_input(data: bytes) -> None:
    try:
        melody = read_midi(data)
    except MidiError:
        return
    assert melody.notes and melody.length >= melody.notes[-1].end


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
