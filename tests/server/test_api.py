"""The JSON API through FastAPI's TestClient, with a tiny model injected."""

from __future__ import annotations

import gc
import io
import json
import math

import mido
import pytest
from fastapi.testclient import TestClient

import segue
from segue.keys import parse_key
from segue.midi_io import midi_bytes, read_midi
from segue.server import Settings, create_app
from conftest import played

PHRASE = played([60, 62, 64, 65, 67, 65, 64, 62, 60, 64, 67])
NOTES = [{"pitch": n.pitch, "start": n.start, "end": n.end, "velocity": n.velocity} for n in PHRASE]
LIMITS = Settings(max_input_notes=40, max_upload_bytes=4096)


@pytest.fixture(scope="module")
def client(tiny_model):
    with TestClient(create_app(LIMITS, tiny_model)) as client:
        yield client


def extend(client, **fields):
    return client.post("/api/extend", json={"notes": NOTES, **fields})


def test_extend_answers_timed_continuations(client, tiny_model):
    response = extend(client, seconds=5.0, seed=11, variations=3, input_seconds=5.0)
    assert response.status_code == 200
    body = response.json()
    assert body["input_seconds"] == 5.0 and body["seconds"] == 5.0 and body["seed"] == 11
    assert body["model"]["name"] == tiny_model.name and len(body["model"]["version"]) == 12
    assert body["bpm"] == pytest.approx(150, rel=0.02)  # the phrase's notes are 0.4 s apart
    assert len(body["extensions"]) == 3 and body["elapsed_ms"] > 0
    for extension in body["extensions"]:
        starts = [n["start"] for n in extension["notes"]]
        assert extension["notes"] and starts == sorted(starts)
        assert all(0 <= n["start"] < n["end"] <= 5.0 for n in extension["notes"])


# Three octaves up: around C7, heard lower (generate.register_shift); keys tapped for 50 ms: heard
# held longer (generate.hold_factor).
@pytest.mark.parametrize("octaves, held", [(0, None), (3, None), (0, 0.05)])
def test_extend_is_the_library_function(client, tiny_model, octaves, held):
    phrase = [segue.Note(n.pitch + 12 * octaves, n.start, n.start + (held or n.duration), n.velocity) for n in PHRASE]
    notes = [{"pitch": n.pitch, "start": n.start, "end": n.end, "velocity": n.velocity} for n in phrase]
    body = client.post("/api/extend", json={"notes": notes, "seed": 5, "temperature": 0.8}).json()
    [expected] = segue.extend(phrase, seed=5, temperature=0.8, checkpoint=tiny_model)
    assert [(n["pitch"], n["start"], n["end"]) for n in body["extensions"][0]["notes"]] == [
        (n.pitch, round(n.start, 6), round(n.end, 6)) for n in expected]


def test_extend_reports_the_seed_it_chose(client):
    first = extend(client).json()
    assert 0 <= first["seed"] < 2**53  # a browser's numbers hold it exactly
    again = extend(client, seed=first["seed"]).json()
    assert again["extensions"] == first["extensions"]


def test_input_ends_at_its_last_note_unless_longer(client):
    assert extend(client).json()["input_seconds"] == pytest.approx(max(n.end for n in PHRASE))
    assert extend(client, input_seconds=1.0).json()["input_seconds"] == pytest.approx(max(n.end for n in PHRASE))


@pytest.mark.parametrize("keep_pace", [True, False])
def test_keep_pace_is_the_library_option(client, tiny_model, keep_pace):
    body = extend(client, seed=5, temperature=2.0, variations=30, keep_pace=keep_pace).json()
    expected = segue.extend(PHRASE, seed=5, temperature=2.0, variations=30, checkpoint=tiny_model, keep_pace=keep_pace)
    assert [[(n["pitch"], n["start"]) for n in e["notes"]] for e in body["extensions"]] == [
        [(n.pitch, round(n.start, 6)) for n in notes] for notes in expected]
    # Hot, some first draws stray from the pace (tests/test_generate.py): the option changes them.
    assert expected != segue.extend(PHRASE, seed=5, temperature=2.0, variations=30, checkpoint=tiny_model,
                                    keep_pace=not keep_pace)


def test_key_lock(client):
    body = extend(client, key="D major", seed=3, temperature=1.5, variations=4).json()
    scale = parse_key("D major")
    assert all(scale.allows(n["pitch"]) for e in body["extensions"] for n in e["notes"])


@pytest.mark.parametrize(("fields", "named"), [
    ({"notes": [{"pitch": 128, "start": 0, "end": 1}]}, "notes[0].pitch"),
    ({"notes": [{"pitch": 60, "start": 1, "end": 0.5}]}, "notes[0]: end must be after start"),
    ({"notes": [{"pitch": 60, "start": -1, "end": 0.5}]}, "notes[0].start"),
    ({"notes": [{"pitch": 60, "start": 0, "end": 1, "velocity": 0}]}, "notes[0].velocity"),
    ({"notes": []}, "notes"),
    ({}, "notes"),
    ({"notes": NOTES, "seconds": 0}, "seconds"),
    ({"notes": NOTES, "seconds": 1e9}, "seconds"),
    ({"notes": NOTES, "variations": 1000}, "variations"),
    ({"notes": NOTES, "temperature": -1}, "temperature"),
    ({"notes": NOTES, "top_p": 0}, "top_p"),
    ({"notes": NOTES, "seed": -4}, "seed"),
    ({"notes": NOTES, "temprature": 2}, "temprature"),
    ({"notes": NOTES, "key": "H major"}, "key must look like"),
    ({"notes": NOTES * 4}, "at most 40 notes"),
])
def test_bad_fields_are_422_naming_the_field(client, fields, named):
    response = client.post("/api/extend", json=fields)
    assert response.status_code == 422
    assert named in response.json()["detail"]


@pytest.mark.parametrize("content", [
    '{"notes": [{"pitch": 60, "start": NaN, "end": 1}]}',
    '{"notes": [{"pitch": 60, "start": 0, "end": Infinity}]}',
    '{"notes": ',
    "[1, 2]",
])
def test_non_finite_or_broken_json_is_422(client, content):
    response = client.post("/api/extend", content=content, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and isinstance(response.json()["detail"], str)


def test_a_body_that_is_not_json_says_so_and_where(client):
    response = client.post("/api/extend", content="hello", headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["detail"] == "the body is not valid JSON: expecting value at character 0"


def midi_upload(notes=PHRASE, length=5.0, name="my phrase.mid"):
    return {"file": (name, midi_bytes(notes, length), "audio/midi")}


def test_extend_mid_answers_a_midi_continuation(client):
    response = client.post("/api/extend.mid", files=midi_upload(), params={"seed": 4, "seconds": 4})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/midi"
    assert response.headers["content-disposition"] == 'attachment; filename="my-phrase-extended.mid"'
    assert response.headers["x-segue-seed"] == "4"
    # The file lasts the seconds asked for, whatever the tiny model wrote in them (maybe a rest).
    assert mido.MidiFile(file=io.BytesIO(response.content)).length == pytest.approx(4.0)


def test_extend_mid_takes_keep_pace_from_the_query(client, tiny_model):
    melody = read_midi(midi_upload()["file"][1])
    changed = 0
    for seed in range(10):
        answers = []
        for keep_pace in (True, False):
            response = client.post("/api/extend.mid", files=midi_upload(),
                                   params={"seed": seed, "temperature": 5.0, "keep_pace": keep_pace})
            [expected] = segue.extend(melody.notes, temperature=5.0, seed=seed, input_length=melody.length,
                                      checkpoint=tiny_model, keep_pace=keep_pace)
            answers.append([n.pitch for n in read_midi(response.content).notes])
            assert answers[-1] == [n.pitch for n in expected]
        changed += answers[0] != answers[1]
    assert changed  # hot, some first draws stray from the pace


def test_extend_mid_can_include_the_input(client):
    response = client.post("/api/extend.mid", files=midi_upload(), params={"seed": 4, "include_input": True})
    joined = read_midi(response.content)
    assert joined.length == pytest.approx(10.0)
    assert [n.pitch for n in joined.notes[:len(PHRASE)]] == [n.pitch for n in PHRASE]
    assert min(n.start for n in joined.notes[len(PHRASE):]) >= 5.0 - 1e-3


@pytest.mark.parametrize(("content", "status", "says"), [
    (b"", 400, "empty"),
    (b"hello, this is not music", 400, "not a MIDI file"),
    (b"MThd\x00\x00\x00\x06\x00\x01\x00\x01\x01\xe0MTrk\x00\x00\xff\xff", 400, "truncated"),
    (b"MThd" + bytes(5000), 413, "larger than the 4,096 byte limit"),
])
def test_bad_uploads_are_4xx_json(client, content, status, says):
    for route in ("/api/extend.mid", "/api/read-midi"):
        response = client.post(route, files={"file": ("x.mid", content, "audio/midi")})
        assert response.status_code == status and says in response.json()["detail"]


def test_extend_mid_bad_query_and_missing_file(client):
    response = client.post("/api/extend.mid", files=midi_upload(), params={"seconds": -1})
    assert response.status_code == 422 and response.json()["detail"].startswith("seconds")
    response = client.post("/api/extend.mid")
    assert response.status_code == 422 and response.json()["detail"].startswith("file")


def test_a_track_can_be_named_for_the_melody(client):
    """midi_bytes writes one track: track 1 is the phrase; a second does not exist."""
    melody = client.post("/api/read-midi", files=midi_upload(), params={"track": 1}).json()
    assert [n["pitch"] for n in melody["notes"]] == [n.pitch for n in PHRASE]
    assert melody["track"] == 1 and melody["tracks"] == [1]
    for route in ("/api/read-midi", "/api/extend.mid"):
        response = client.post(route, files=midi_upload(), params={"track": 2})
        assert response.status_code == 400 and "track must be a track number from 1 to 1" in response.json()["detail"]
        response = client.post(route, files=midi_upload(), params={"track": 0})
        assert response.status_code == 422 and response.json()["detail"].startswith("track")


def test_read_and_write_midi_round_trip(client):
    melody = client.post("/api/read-midi", files=midi_upload(length=6.0)).json()
    assert melody["input_seconds"] == pytest.approx(6.0)
    assert [n["pitch"] for n in melody["notes"]] == [n.pitch for n in PHRASE]
    response = client.post("/api/write-midi", json={"notes": melody["notes"], "seconds": 6.0})
    assert response.status_code == 200 and response.headers["content-type"] == "audio/midi"
    again = read_midi(response.content)
    assert again.length == pytest.approx(6.0)
    assert [n.pitch for n in again.notes] == [n["pitch"] for n in melody["notes"]]
    assert [t for n in again.notes for t in (n.start, n.end)] == pytest.approx(
        [t for n in melody["notes"] for t in (n["start"], n["end"])], abs=1e-3)


def test_write_midi_states_a_meter_and_can_snap_to_its_grid(client):
    response = client.post("/api/write-midi", json={"notes": NOTES, "seconds": 5.0, "bpm": 90,
                                                    "time_signature": [3, 4], "quantize": 0.5})
    assert response.status_code == 200
    midi = mido.MidiFile(file=io.BytesIO(response.content))
    messages = list(midi.tracks[0])
    assert [m.tempo for m in messages if m.type == "set_tempo"] == [666_667]
    assert [(m.numerator, m.denominator) for m in messages if m.type == "time_signature"] == [(3, 4)]
    ticks, onsets = 0, []
    for message in messages:
        ticks += message.time
        if message.type == "note_on":
            onsets.append(ticks)
    assert onsets and all(t % (midi.ticks_per_beat // 2) == 0 for t in onsets)
    melody = client.post("/api/read-midi", files={"file": ("m.mid", response.content, "audio/midi")}).json()
    assert melody["bpm"] == pytest.approx(90, abs=1e-3) and melody["time_signature"] == [3, 4]
    assert melody["estimated_bpm"] is not None


@pytest.mark.parametrize("change, words", [({"time_signature": [4, 3]}, "denominator must be"),
                                           ({"bpm": 5}, "bpm"), ({"quantize": 0}, "quantize"),
                                           ({"quantize": 5e-324}, "quantize")])
def test_write_midi_refuses_a_bad_meter_in_words(client, change, words):
    response = client.post("/api/write-midi", json={"notes": NOTES, "seconds": 5.0, **change})
    assert response.status_code == 422 and words in response.json()["detail"]


def test_write_midi_refuses_a_length_shorter_than_its_notes(client):
    response = client.post("/api/write-midi", json={"notes": NOTES, "seconds": 1.0})
    assert response.status_code == 422 and "ends before the last note" in response.json()["detail"]


def test_health_model_page_and_docs(client, tiny_model):
    assert client.get("/api/health").json() == {"status": "ok", "model": tiny_model.name}
    info = client.get("/api/model").json()
    assert info["cell"] == "gru" and info["parameters"] == tiny_model.parameter_count
    assert info["data"]["songs"] == tiny_model.data["songs"] and info["context_notes"] == 64
    assert info["copies"] is False and info["pulse_seconds"] == 0.3  # the tiny preset, as the shipped model, has no pointers
    assert len(info["pitch_mixture"]) == 3 and math.isclose(sum(info["pitch_mixture"]), 1.0)
    assert info["limits"] == {"seconds": 60.0, "variations": 32, "temperature": 5.0, "seed": 2**63 - 1,
                              "input_notes": LIMITS.max_input_notes,
                              "defaults": {"seconds": 5.0, "temperature": 1.0, "top_p": 0.95, "variations": 1}}
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"] and "Segue" in page.text
    assert client.get("/static/app.js").status_code == 200
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()  # the docs work offline
    assert client.get("/static-offline-docs/swagger-ui-bundle.js").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/api/extend", "/api/extend.mid", "/api/health", "/api/model"} <= set(paths)


def test_start_up_freezes_the_long_lived_objects(tiny_model):
    # Full collections scanning them stalled requests under load (docs/performance.md).
    gc.unfreeze()
    with TestClient(create_app(LIMITS, tiny_model)):
        assert gc.get_freeze_count() > 1000


def test_unknown_routes_are_404_json(client):
    response = client.get("/api/nothing")
    assert response.status_code == 404 and json.loads(response.text)["detail"]
    assert client.get("/static/../pyproject.toml").status_code == 404


def test_a_request_unanswered_in_time_is_503_and_the_server_goes_on(tiny_model):
    with TestClient(create_app(Settings(request_seconds=1e-6), tiny_model)) as hurried:
        response = hurried.post("/api/extend", json={"notes": NOTES, "variations": 32, "seconds": 60})
        assert response.status_code == 503 and response.headers["retry-after"] == "5"
        assert "too busy" in response.json()["detail"]
        hurried.app.state.settings.request_seconds = 30.0  # the abandoned batch must not block the next
        assert hurried.post("/api/extend", json={"notes": NOTES}).status_code == 200
