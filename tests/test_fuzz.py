"""A short coverage-guided fuzz run of the MIDI loader (tests/fuzz/fuzz_midi.py), starting from
the kept corpus in tests/fuzz/corpus/midi; what it finds this time goes to a temporary folder."""

from __future__ import annotations

import platform
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import in_ci

FUZZ = Path(__file__).parent / "fuzz"
RUNS = 2000  # a count, not a time: the same inputs on any machine, however busy


def test_the_midi_loader_survives_fuzzing(tmp_path):
    try:
        import atheris  # noqa: F401
    except ImportError:
        if in_ci() and sys.platform == "linux" and platform.machine() == "x86_64":
            pytest.fail("atheris is missing: it is in the test extras for Linux x86-64 (pip install -e '.[test]')")
        pytest.skip("atheris has wheels for Linux x86-64 only")
    found = tmp_path / "found"
    found.mkdir()
    # A fixed libFuzzer seed: a crash in CI reproduces with the same command.
    run = subprocess.run(
        [sys.executable, str(FUZZ / "fuzz_midi.py"), f"-runs={RUNS}", "-seed=1",
         f"-artifact_prefix={tmp_path}/", str(found), str(FUZZ / "corpus" / "midi")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert run.returncode == 0 and not crashes, f"crashing inputs {crashes}:\n{run.stderr[-3000:]}"
    runs = int(re.search(r"Done (\d+) runs", run.stderr).group(1))
    assert runs >= RUNS, run.stderr[-2000:]
