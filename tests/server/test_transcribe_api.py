"""Recordings through the API: /api/transcribe answers notes, /api/extend.mid continues a
recording as it does a MIDI file, and every bad recording is a 4xx naming the problem."""

from __future__ import annotations

import io

import numpy as np
import pytest
import soundfile
from fastapi.testclient import TestClient

from segue.midi_io import midi_bytes, read_midi
from segue.server import Settings, create_app
from singing import MELODY, SPACING, sung

LIMITS = Settings(max_upload_bytes=4096, max_audio_bytes=400_000, max_audio_seconds=6.0)


@pytest.fixture(scope="module")
def client(tiny_model):
    with TestClient(create_app(LIMITS, tiny_model)) as client:
        yield client


def upload(client, route: str, data: bytes, name: str = "take.wav", **params):
    return client.post(route, files={"file": (name, data, "application/octet-stream")}, params=params)


def test_a_recording_is_answered_as_its_notes(client):
    response = upload(client, "/api/transcribe", sung(cents=-30))
    assert response.status_code == 200, response.text
    body = response.json()
    assert [n["pitch"] for n in body["notes"]] == MELODY
    assert body["tuning_cents"] == pytest.approx(-30, abs=12)
    assert body["input_seconds"] == pytest.approx(len(MELODY) * SPACING + 0.3, abs=0.01)
    assert body["estimated_bpm"] == pytest.approx(60 / SPACING, rel=0.05)


def test_extend_mid_continues_a_recording(client):
    response = upload(client, "/api/extend.mid", sung(audio_format="FLAC"), "hum.flac", seed=3, include_input=True)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/midi"
    melody = read_midi(response.content)
    assert [n.pitch for n in melody.notes][: len(MELODY)] == MELODY
    assert len(melody.notes) > len(MELODY)  # and the continuation after it


def _wav(samples: np.ndarray, rate: int = 22050) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV")
    return buffer.getvalue()


@pytest.mark.parametrize(("route", "data", "status", "says"), [
    ("/api/transcribe", lambda: _wav(np.zeros(22050 * 2)), 422, "silent"),
    ("/api/transcribe", lambda: _wav(0.2 * np.random.default_rng(0).normal(size=22050 * 2)), 422, "no sung or played"),
    ("/api/transcribe", lambda: _wav(np.clip(10 * soundfile.read(io.BytesIO(sung()))[0], -1, 1)), 422, "clipped"),
    ("/api/transcribe", lambda: sung([60]), 422, "sing at least 1 s"),
    ("/api/transcribe", lambda: sung(harmony=-4), 422, "two or more notes sound at once"),
    ("/api/transcribe", lambda: sung(MELODY * 2, rate=8000), 422, "at most 6 s"),  # the setting, not the default
    ("/api/transcribe", lambda: sung(MELODY * 2), 413, "recording larger than the 400,000 byte limit"),
    ("/api/transcribe", lambda: b"RIFF" + bytes(2000), 422, "not audio this can read"),
    ("/api/transcribe", lambda: midi_bytes([], 1.0), 415, "not a recording"),
    ("/api/extend.mid", lambda: _wav(np.zeros(22050 * 2)), 422, "silent"),
    ("/api/extend.mid", lambda: b"OggS" + bytes(3000), 422, "not audio this can read"),
])
def test_bad_recordings_are_a_4xx_naming_the_problem(client, route, data, status, says):
    response = upload(client, route, data())
    assert response.status_code == status, response.text
    assert says in response.json()["detail"]


def test_a_recording_has_no_tracks(client):
    response = upload(client, "/api/extend.mid", sung(), track=2)
    assert response.status_code == 422 and "no tracks" in response.json()["detail"]


def test_midi_keeps_its_own_smaller_limit(client):
    response = upload(client, "/api/extend.mid", b"MThd" + bytes(5000), "big.mid")
    assert response.status_code == 413 and "MIDI file larger than the 4,096 byte limit" in response.json()["detail"]
