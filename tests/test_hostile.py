"""Every hostile input of tests/hostile.py through the library, the CLI and both API routes:
a continuation, or one clear error (CLI: one line and exit 2; API: 4xx JSON), never a traceback,
a 5xx or a hang."""

from __future__ import annotations

import faulthandler
import re

import pytest
from fastapi.testclient import TestClient

from hostile import HOSTILE_BODIES, HOSTILE_FILES
from segue.cli import main
from segue.generate import extend
from segue.midi_io import MidiError, read_midi
from segue.server import Settings, create_app

# Reading the 100,000-note file takes under 2 s here; a hang would take forever. A test still
# running after this long is a hang: faulthandler prints every thread's stack and ends the run.
TIME_LIMIT = 120.0


@pytest.fixture(autouse=True)
def no_hang():
    faulthandler.dump_traceback_later(TIME_LIMIT, exit=True)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def client(tiny_model):
    with TestClient(create_app(Settings(), tiny_model)) as client:
        yield client


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_library(name, tiny_model):
    data, error = HOSTILE_FILES[name]
    if error:
        with pytest.raises(MidiError, match=re.escape(error)) as caught:
            read_midi(data)
        assert "\n" not in str(caught.value)
    else:
        melody = read_midi(data)
        [continuation] = extend(melody.notes, input_length=melody.length, seed=1, checkpoint=tiny_model)
        assert continuation and all(0 <= n.start < n.end <= 5.0 for n in continuation)


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
def test_cli(name, tmp_path, capsys, tiny_checkpoint_path):
    data, error = HOSTILE_FILES[name]
    (tmp_path / "in.mid").write_bytes(data)
    out = tmp_path / "out.mid"
    code = main(["extend", str(tmp_path / "in.mid"), "-o", str(out), "--include-input", "--seed", "1",
                 "--checkpoint", str(tiny_checkpoint_path)])
    captured = capsys.readouterr()
    if error:
        assert code == 2 and captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
        assert error in captured.err and captured.out == "" and not out.exists()
    else:
        assert code == 0 and captured.err == "", captured.err
        assert read_midi(out).length > read_midi(data).length  # the input, then its continuation


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
@pytest.mark.parametrize("route", ["/api/extend.mid", "/api/read-midi"])
def test_api_uploads(name, route, client):
    data, error = HOSTILE_FILES[name]
    response = client.post(route, files={"file": ("hostile.mid", data, "audio/midi")}, params={"seed": 1})
    if error:
        assert response.status_code == 400 and error in response.json()["detail"]
    elif len(read_midi(data).notes) > Settings().max_input_notes:
        assert response.status_code == 422 and "at most 2000" in response.json()["detail"]
    else:
        assert response.status_code == 200, response.text


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_api_json(name, client):
    body, status = HOSTILE_BODIES[name]
    response = client.post("/api/extend", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    if status == 200:
        assert response.json()["extensions"][0]["notes"]
    else:
        detail = response.json()["detail"]
        assert isinstance(detail, str) and detail and "\n" not in detail
        assert name != "deeply-nested" or "nested too deeply" in detail
