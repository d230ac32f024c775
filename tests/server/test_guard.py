"""The request guard: bodies bounded in size and time before parsing; security headers; CORS."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi.testclient import TestClient

from segue.server import Settings, create_app
from segue.server.guard import RequestGuard
from conftest import played

NOTES = [{"pitch": n.pitch, "start": n.start, "end": n.end} for n in played([60, 62, 64, 65, 67])]


@pytest.fixture(scope="module")
def client(tiny_model):
    with TestClient(create_app(Settings(max_upload_bytes=4096), tiny_model)) as client:
        yield client


def test_a_declared_oversized_body_is_refused_unread(client):
    response = client.post("/api/extend", content=b"{" + b" " * 30_000 + b"}", headers={"content-type": "application/json"})
    assert response.status_code == 413 and "20,480 byte limit" in response.json()["detail"]


def test_only_the_routes_that_take_recordings_take_their_larger_bodies(tiny_model):
    settings = Settings(max_upload_bytes=4096, max_audio_bytes=100_000)
    with TestClient(create_app(settings, tiny_model)) as client:
        json_body = client.post("/api/extend", content=b"{" + b" " * 30_000 + b"}",
                                headers={"content-type": "application/json"})
        assert json_body.status_code == 413 and "20,480 byte limit" in json_body.json()["detail"]
        recording = client.post("/api/transcribe", files={"file": ("a.wav", b"RIFF" + bytes(30_000))})
        assert recording.status_code == 422 and "not audio" in recording.json()["detail"]  # read, not refused
        too_big = client.post("/api/transcribe", files={"file": ("a.wav", b"RIFF" + bytes(120_000))})
        assert too_big.status_code == 413 and "116,384 byte limit" in too_big.json()["detail"]


def test_a_chunked_oversized_body_is_refused_as_it_grows(client):
    def chunks():
        yield b'{"notes": ['
        for _ in range(2000):
            yield json.dumps(NOTES[0]).encode() + b","
    response = client.post("/api/extend", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "byte limit" in response.json()["detail"]


def test_bodies_under_the_limit_pass(client):
    assert client.post("/api/extend", json={"notes": NOTES, "seed": 1}).status_code == 200


async def _call(pieces: list[tuple[float, bytes]]) -> tuple[list[dict], list[dict]]:
    """Send a body as (delay, bytes) pieces through the guard -> (what the app read, what was sent)."""
    read, sent = [], []

    async def receive():
        if not pieces:
            await asyncio.sleep(3600)  # a client that keeps the connection open and sends nothing
        delay, body = pieces.pop(0)
        await asyncio.sleep(delay)
        return {"type": "http.request", "body": body, "more_body": bool(pieces)}

    async def send(message):
        sent.append(message)

    async def app(scope, receive, send):
        while True:
            message = await receive()
            read.append(message)
            if message["type"] == "http.disconnect" or not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    scope = {"type": "http", "path": "/api/extend", "headers": []}
    await RequestGuard(app, max_body_bytes=100, body_seconds=0.2)(scope, receive, send)
    return read, sent


def test_a_body_that_trickles_in_gets_408_and_the_app_sees_a_disconnect():
    read, sent = asyncio.run(_call([(0.0, b"{"), (0.15, b" "), (0.15, b"}")]))
    assert sent[0]["status"] == 408 and b"0.2 s" in sent[1]["body"]
    assert read[-1]["type"] == "http.disconnect" and len(sent) == 2  # the app's own answer was dropped


def test_a_body_in_time_reaches_the_app_whole():
    read, sent = asyncio.run(_call([(0.0, b"{"), (0.05, b"}")]))
    assert b"".join(m["body"] for m in read) == b"{}" and sent[0]["status"] == 200


def test_security_headers_on_the_page_the_api_and_the_docs(client):
    for path in ("/", "/api/health", "/static/app.js"):
        headers = client.get(path).headers
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        assert "script-src 'self';" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "'unsafe-inline'" in client.get("/docs").headers["content-security-policy"]


@pytest.mark.parametrize("path", ["/static/../settings.py", "/static/%2e%2e/settings.py", "/static/..%2fsettings.py",
                                  "/static/%2e%2e%2f%2e%2e%2fcheckpoint.py", "/static//etc/passwd"])
def test_no_path_traversal_out_of_the_static_folder(client, path):
    response = client.get(path)
    assert response.status_code == 404 and "Settings" not in response.text


def test_cors_is_closed_by_default(client):
    response = client.options("/api/extend", headers={"Origin": "https://evil.example",
                                                      "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in response.headers
    answer = client.post("/api/extend", json={"notes": NOTES}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in answer.headers


def test_cors_opens_to_the_named_origins_only(tiny_model):
    settings = Settings(cors_origins=["https://band.example"])
    with TestClient(create_app(settings, tiny_model)) as client:
        allowed = client.post("/api/extend", json={"notes": NOTES}, headers={"Origin": "https://band.example"})
        other = client.post("/api/extend", json={"notes": NOTES}, headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://band.example"
    assert "access-control-allow-origin" not in other.headers
