"""The package as a user installs it: the wheel, built from this tree, installed into a fresh
virtual environment (no PyTorch, no editable install, another working directory), extends the
bundled example and serves the page."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(command: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The bin folder of a fresh environment with only the wheel (and its dependencies) installed."""
    dist, home = tmp_path_factory.mktemp("dist"), tmp_path_factory.mktemp("env")
    _run([sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(ROOT)], ROOT, 600)
    [wheel] = dist.glob("segue-*.whl")
    venv.EnvBuilder(with_pip=True).create(home / "venv")
    bin_dir = home / "venv" / "bin"
    _run([str(bin_dir / "python"), "-m", "pip", "install", "--quiet", str(wheel)], home, 900)
    return bin_dir


def test_the_wheel_holds_the_model_and_needs_no_torch(installed, tmp_path):
    python = str(installed / "python")
    found = _run([python, "-c", "import importlib.util, json, segue.modelfile as m; print(json.dumps("
                  "[str(m.DEFAULT_MODEL), m.DEFAULT_MODEL.is_file(), importlib.util.find_spec('torch') is not None]))"],
                 tmp_path, 120)
    model, exists, has_torch = json.loads(found.stdout)
    assert exists and "site-packages" in model and not has_torch
    version = _run([str(installed / "segue"), "--version"], tmp_path, 60).stdout
    assert version.startswith("segue ") and "unknown" not in version


def test_the_installed_command_extends_the_bundled_example(installed, tmp_path):
    example = _run([str(installed / "python"), "-c", "import segue, pathlib; "
                    "print(pathlib.Path(segue.__file__).parent / 'examples' / 'ode-to-joy.mid')"], tmp_path, 60).stdout.strip()
    result = _run([str(installed / "segue"), "extend", example, "-o", "out.mid", "--seed", "3", "--key", "auto"], tmp_path, 120)
    assert result.stdout.startswith("wrote out.mid:") and (tmp_path / "out.mid").stat().st_size > 50


def test_the_installed_server_answers(installed, tmp_path):
    server = subprocess.Popen([str(installed / "segue"), "serve", "--port", "0"], cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()  # "Segue is running at http://127.0.0.1:PORT/ ..."; EOF if it died
        assert "running at" in line, server.stderr.read()
        url = line.split("running at ")[1].split()[0]
        # The app answers once its model is loaded; readiness is the first 200 from /api/health.
        body = json.dumps({"notes": [{"pitch": 60 + i, "start": 0.4 * i, "end": 0.4 * i + 0.3} for i in range(5)],
                           "seed": 1}).encode()
        request = urllib.request.Request(url + "api/extend", body, {"Content-Type": "application/json"})
        for attempt in range(600):
            try:
                with urllib.request.urlopen(request, timeout=30) as response:
                    answer = json.load(response)
                break
            except (urllib.error.URLError, ConnectionError):
                assert server.poll() is None, server.stderr.read()
                time.sleep(0.1)
        assert answer["extensions"][0]["notes"] and answer["model"]["name"] == "segue-gru"
        with urllib.request.urlopen(url, timeout=30) as page:
            assert "<title>" in page.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=30)
