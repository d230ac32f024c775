"""A short coverage-guided fuzz run of the MIDI loader (tests/fuzz/fuzz_midi.py), starting from
the kept corpus in tests/fuzz/corpus/midi; what it finds this time goes to a temporary folder."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

FUZZ = Path(__file__).parent / "fuzz"
SECONDS = 20


def test_the_midi_loader_survives_fuzzing(tmp_path):
    pytest.importorskip("atheris", reason="atheris has wheels for Linux x86-64 only")
    found = tmp_path / "found"
    found.mkdir()
    # A fixed libFuzzer seed: a crash in CI reproduces with the same command.
    run = subprocess.run(
        [sys.executable, str(FUZZ / "fuzz_midi.py"), f"-max_total_time={SECONDS}", "-seed=1",
         f"-artifact_prefix={tmp_path}/", str(found), str(FUZZ / "corpus" / "midi")],
        capture_output=True, text=True, timeout=SECONDS + 120, cwd=tmp_path,
    )
    crashes = sorted(p.name for p in tmp_path.glob("crash-*"))
    assert run.returncode == 0 and not crashes, f"crashing inputs {crashes}:\n{run.stderr[-3000:]}"
    runs = int(re.search(r"Done (\d+) runs", run.stderr).group(1))
    assert runs > 1000, run.stderr[-2000:]
