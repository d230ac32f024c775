"""Keyboard mode without hardware: in-memory mido ports that deliver timed messages and capture
what is sent, a clock that only pretends to wait, and `--replay` end to end."""

from __future__ import annotations

import io
import subprocess
import sys

import mido
import pytest
from mido.ports import BaseIOPort
from rich.console import Console

from conftest import played
from segue import keyboard
from segue.keyboard import (Clock, Display, KeyboardError, ReplayInput, Session, SessionOptions,
                            continue_in_process, play, record)
from segue.midi_io import MidiError, read_midi, write_midi
from segue.notes import Note


class FakeClock(Clock):
    """Time moves only when someone waits, so timing is exact and tests take no time."""

    def __init__(self, interrupt_at: float | None = None) -> None:
        self.time = 100.0
        self.interrupt_at = interrupt_at

    def now(self) -> float:
        return self.time

    def sleep_until(self, moment: float) -> None:
        if self.interrupt_at is not None and moment >= self.interrupt_at:
            raise KeyboardInterrupt
        self.time = max(self.time, moment)


class MemoryPort(BaseIOPort):
    """An in-memory keyboard and synth: delivers (seconds after opening, message) pairs when their
    time comes, and keeps what it is sent with the time it was sent."""

    def __init__(self, clock: FakeClock, timed: list[tuple[float, mido.Message]] = ()) -> None:
        self.clock, self.origin, self.timed, self.sent = clock, clock.now(), list(timed), []
        super().__init__("memory")

    def _receive(self, block=True):
        if self.timed and self.timed[0][0] <= self.clock.now() - self.origin:
            return self.timed.pop(0)[1]
        return None

    def _send(self, message):
        self.sent.append((self.clock.now(), message))


def on(pitch, velocity=90, channel=0):
    return mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)


def off(pitch, channel=0):
    return mido.Message("note_off", note=pitch, channel=channel)


def console():
    return Console(file=io.StringIO(), width=80, force_terminal=False, highlight=False)


def test_recording_keeps_the_window_and_its_timing():
    clock = FakeClock()
    port = MemoryPort(clock, [(0.5, on(60)), (0.9, off(60)), (1.2, on(36, channel=9)), (1.3, on(64, 70)),
                              (1.3, on(67, 0)), (4.8, on(62)), (5.3, on(65))])
    seen = []
    notes = record(port, 5.0, clock, lambda moment, message: seen.append((moment, message.type)))
    assert [(n.pitch, n.velocity) for n in notes] == [(60, 90), (64, 70), (62, 90)]
    assert [n.start for n in notes] == pytest.approx([0.5, 1.3, 4.8], abs=0.0011)
    assert [n.end for n in notes] == pytest.approx([0.9, 5.0, 5.0], abs=0.0011)  # keys still down end with the window
    assert clock.now() == pytest.approx(105.0)
    assert [m for _, m in seen].count("note_on") == 5 and all(t <= 5.0 for t, _ in seen)  # 65 came too late
    assert port.timed == [(5.3, on(65))]


def test_live_display_shows_each_event_in_80_columns():
    clock = FakeClock()
    out = console()
    display = Display(out)
    display.recording(5.0, clock)
    record(MemoryPort(clock, [(0.25, on(61, 101)), (0.5, off(61))]), 5.0, clock, display.message)
    display.recorded()
    text = out.file.getvalue()
    assert "0.25 s  ▶ on   C#4  vel 101" in text and "0.50 s    off  C#4" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_playback_sends_each_message_at_its_time():
    clock = FakeClock()
    port = MemoryPort(clock)
    notes = [Note(60, 0.0, 0.5, 80), Note(62, 0.5, 1.0, 81), Note(64, 1.25, 1.5, 82)]
    first = play(notes, port, clock, origin=clock.now())
    assert first == 100.0
    sent = [(round(t - 100.0, 6), m.type, m.note) for t, m in port.sent]
    assert sent == [(0.0, "note_on", 60), (0.5, "note_off", 60), (0.5, "note_on", 62), (1.0, "note_off", 62),
                    (1.25, "note_on", 64), (1.5, "note_off", 64)]


def test_playback_plays_late_notes_at_once_and_measures_it():
    clock = FakeClock()
    port = MemoryPort(clock)
    origin = clock.now() - 0.03  # the model took 30 ms after the take ended
    first = play([Note(60, 0.0, 0.5), Note(62, 0.5, 1.0)], port, clock, origin)
    assert (first - origin) * 1000 == pytest.approx(30.0)
    assert port.sent[2][0] - origin == pytest.approx(0.5)  # the rest keeps its time


def test_interrupted_playback_turns_every_note_off():
    clock = FakeClock(interrupt_at=100.7)
    port = MemoryPort(clock)
    with pytest.raises(KeyboardInterrupt):
        play([Note(60, 0.0, 1.0), Note(64, 0.5, 1.0), Note(67, 0.8, 1.2)], port, clock, clock.now())
    messages = [m for _, m in port.sent]
    assert [m.note for m in messages if m.type == "note_off"][:2] == [60, 64]
    all_off = {m.channel for m in messages if m.type == "control_change" and m.control == 123}
    assert all_off == set(range(16))


def make_session(tmp_path, clock, timed, generate, output=True, **options):
    out = console()
    synth = MemoryPort(clock) if output else None
    session = Session(SessionOptions(takes_dir=tmp_path / "takes", **options),
                      lambda: MemoryPort(clock, timed), synth, generate, Display(out), clock, ask=lambda _: "q")
    return session, synth, out


PHRASE = [(n.start, on(n.pitch, n.velocity)) for n in played([60, 62, 64, 65, 67, 65, 64])] + \
         [(n.end, off(n.pitch)) for n in played([60, 62, 64, 65, 67, 65, 64])]
PHRASE.sort(key=lambda pair: pair[0])


def test_take_is_saved_before_the_model_runs(tmp_path):
    clock = FakeClock()

    def failing_model(notes, length, seconds):
        [saved] = (tmp_path / "takes").glob("*-take.mid")
        assert [n.pitch for n in read_midi(saved).notes] == [n.pitch for n in notes]
        raise KeyboardError("the server refused the take: busy")

    session, synth, _ = make_session(tmp_path, clock, PHRASE, failing_model, countdown=3)
    with pytest.raises(KeyboardError):
        session.run()
    [saved] = (tmp_path / "takes").glob("*-take.mid")
    assert read_midi(saved).length == pytest.approx(5.0)
    assert any(m.type == "control_change" and m.control == 123 for _, m in synth.sent)  # silenced on the way out


def test_a_take_end_to_end_with_latency(tmp_path, tiny_model):
    clock = FakeClock()
    model = continue_in_process(tiny_model, 1.0, 0.95, 7, None)

    def slow_model(notes, length, seconds):
        clock.time += 0.02  # the model takes 20 ms
        return model(notes, length, seconds)

    session, synth, out = make_session(tmp_path, clock, PHRASE, slow_model, countdown=3, takes=1)
    [take] = session.run()
    assert take.ready_ms == pytest.approx(20.0)
    assert take.latency_ms == pytest.approx(max(0.0, 20.0 - take.continuation[0].start * 1000), abs=1.1)
    files = sorted(p.name.split("-")[-1] for p in (tmp_path / "takes").iterdir())
    assert files == ["continuation.mid", "joined.mid", "take.mid"]
    assert read_midi(take.files["take"]).length == pytest.approx(5.0)
    assert read_midi(take.files["continuation"]).length == pytest.approx(5.0)
    assert read_midi(take.files["joined"]).length == pytest.approx(10.0)
    ons = [m.note for _, m in synth.sent if m.type == "note_on"]
    assert ons == [n.pitch for n in take.continuation]
    text = out.file.getvalue()
    assert "3…" in text and "1…" in text and "latency" in text and "ready 20 ms" in text


def test_replay_again_then_quit(tmp_path, tiny_model):
    clock = FakeClock()
    answers = iter(["r", "q"])
    session, synth, _ = make_session(tmp_path, clock, PHRASE, continue_in_process(tiny_model, 1.0, 0.95, 7, None),
                                     countdown=0)
    session.ask = lambda _: next(answers)
    [take] = session.run()
    ons = [m.note for _, m in synth.sent if m.type == "note_on"]
    assert ons == [n.pitch for n in take.continuation] * 2


def test_loop_is_call_and_response(tmp_path, tiny_model):
    clock = FakeClock()
    session, _, _ = make_session(tmp_path, clock, PHRASE, continue_in_process(tiny_model, 1.0, 0.95, 7, None),
                                 countdown=0, loop=True, takes=3)
    session.ask = lambda _: pytest.fail("--loop never asks")
    assert len(session.run()) == 3
    assert len(list((tmp_path / "takes").glob("*-take.mid"))) == 3


def test_ctrl_c_while_recording_keeps_what_was_played(tmp_path):
    clock = FakeClock(interrupt_at=102.0)
    session, _, _ = make_session(tmp_path, clock, PHRASE, lambda *a: pytest.fail("no model"), countdown=0)
    with pytest.raises(KeyboardInterrupt):
        session.run()
    [partial] = (tmp_path / "takes").glob("*-take-interrupted.mid")
    assert len(read_midi(partial).notes) == 5


def test_nothing_played_saves_an_empty_take_and_says_so(tmp_path):
    clock = FakeClock()
    session, _, out = make_session(tmp_path, clock, [], lambda *a: pytest.fail("no model"), countdown=0, takes=1)
    [take] = session.run()
    assert "Nothing was played" in out.file.getvalue()
    [saved] = (tmp_path / "takes").glob("*-take.mid")
    assert take.notes == [] and take.files["take"] == saved
    assert mido.MidiFile(saved).length == pytest.approx(session.options.seconds)  # the silent take, its whole length
    with pytest.raises(MidiError, match="no notes"):
        read_midi(saved)


def test_replay_input_plays_a_file_in_time(tmp_path):
    write_midi(played([60, 64, 67]), tmp_path / "phrase.mid", 2.0)
    clock = FakeClock()
    notes = record(ReplayInput(tmp_path / "phrase.mid", clock), 5.0, clock)
    assert [(n.pitch, round(n.start, 2)) for n in notes] == [(n.pitch, round(n.start, 2)) for n in played([60, 64, 67])]


def test_no_keyboard_or_no_midi_system_says_what_to_do(monkeypatch):
    monkeypatch.setattr(mido, "get_input_names", lambda: ["Midi Through:Midi Through Port-0 14:0"])
    monkeypatch.setattr(mido, "get_output_names", lambda: [])
    with pytest.raises(KeyboardError, match="no MIDI keyboard found.*--replay"):
        keyboard.open_input(None)
    with pytest.raises(KeyboardError, match="no MIDI output named 'Synth'; outputs: none"):
        keyboard.open_output("Synth")

    def no_alsa():
        raise SystemError("MidiInAlsa::initialize: error creating ALSA sequencer client object.")

    monkeypatch.setattr(mido, "get_input_names", no_alsa)
    with pytest.raises(KeyboardError, match="cannot reach the MIDI system.*try --replay"):
        keyboard.list_ports()


def test_segue_play_replay_end_to_end(tmp_path):
    """The way a new user without hardware tries it: a real 5 s take, in real time."""
    write_midi(played([62, 64, 66, 67, 69, 67, 66, 64, 62, 61]), tmp_path / "phrase.mid", 4.5)
    done = subprocess.run([sys.executable, "-m", "segue.cli", "play", "--replay", str(tmp_path / "phrase.mid"),
                           "--countdown", "0", "--takes-dir", str(tmp_path / "takes"), "--seed", "1"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "▶ on   D4" in done.stdout and "continuation" in done.stdout and "ms after the take ended" in done.stdout
    files = {p.name.rsplit("-", 1)[-1]: p for p in (tmp_path / "takes").iterdir()}
    assert set(files) == {"take.mid", "continuation.mid", "joined.mid"}
    assert abs(mido.MidiFile(files["take.mid"]).length - 5.0) <= 0.2
    assert abs(mido.MidiFile(files["continuation.mid"]).length - 5.0) <= 0.2
    assert len(read_midi(files["take.mid"]).notes) == 10


@pytest.mark.parametrize(("args", "says"), [
    (["--countdown", "-1"], "--countdown must be 0 or more seconds, got -1"),
    (["--takes", "0"], "--takes must be 1 or more, got 0"),
    (["--seconds", "0"], "seconds"),
    (["--key", "H major"], "key must look like"),
    (["--replay", "missing.mid"], "cannot read missing.mid"),
    (["--replay", __file__], "is not a MIDI file or a recording"),
    (["--audio", "--out-port", "x"], "choose one of"),
])
def test_segue_play_bad_options_are_one_line(args, says, capsys):
    from segue.cli import main

    code = main(["play", *args])
    err = capsys.readouterr().err
    assert code == 2 and says in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def live_server(tiny_model):
    """A real `segue serve` app with the tiny model, on a free port, in a thread."""
    import socket
    import threading
    import time

    import uvicorn

    from segue.server import Settings, create_app

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(Settings(), tiny_model), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    server.should_exit = True
    thread.join(10)


def test_server_mode_gives_the_same_continuation(live_server, tiny_model):
    notes = played([60, 62, 64, 65, 67])
    remote, _ = keyboard.continue_with_server(live_server, 1.0, 0.95, 9, None)(notes, 5.0, 5.0)
    local, _ = continue_in_process(tiny_model, 1.0, 0.95, 9, None)(notes, 5.0, 5.0)
    assert [n.pitch for n in remote] == [n.pitch for n in local]
    assert [n.start for n in remote] == pytest.approx([n.start for n in local], abs=1e-6)  # JSON keeps 6 decimals
    with pytest.raises(KeyboardError, match="the server refused the take: key must look like"):
        keyboard.continue_with_server(live_server, 1.0, 0.95, 9, "H major")(notes, 5.0, 5.0)
    with pytest.raises(KeyboardError, match="cannot reach the Segue server"):
        keyboard.continue_with_server("http://127.0.0.1:9", 1.0, 0.95, 9, None)  # asked at once, before any take
    with pytest.raises(KeyboardError, match="does not answer as a Segue server"):
        keyboard.continue_with_server(live_server + "/elsewhere", 1.0, 0.95, 9, None)


@pytest.fixture
def answering():
    """A one-shot server on a free port that answers any request with the given raw bytes."""
    import socket
    import threading

    listeners = []

    def serve(raw: bytes) -> str:
        listener = socket.create_server(("127.0.0.1", 0))
        listeners.append(listener)

        def answer():
            connection, _ = listener.accept()
            with connection:
                connection.recv(65536)
                connection.sendall(raw)

        threading.Thread(target=answer, daemon=True).start()
        return f"http://127.0.0.1:{listener.getsockname()[1]}"

    yield serve
    for listener in listeners:
        listener.close()


def http_answer(body: bytes, kind: str = "application/json") -> bytes:
    return (f"HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
            .encode() + body)


@pytest.mark.parametrize(("raw", "says"), [
    (http_answer(b"<html>a router's page</html>", "text/html"), "its answer is not JSON"),
    (http_answer(b'{"ok": true}'), "its /api/health says"),
    (b"SSH-2.0-OpenSSH_9.2\r\n", "cannot reach the Segue server"),  # a port that speaks no HTTP
])
def test_a_url_that_is_not_a_segue_server_is_named_before_any_take(answering, raw, says):
    with pytest.raises(KeyboardError, match=says):
        keyboard.continue_with_server(answering(raw), 1.0, 0.95, 9, None)


def test_a_malformed_server_url_is_one_line(capsys, tmp_path):
    from segue.cli import main

    assert main(["play", "--server", "http://127.0.0.1:port", "--replay", str(tmp_path / "x.mid")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the Segue server" in err


def test_segue_play_with_an_unreachable_server_says_so_before_the_take(tmp_path, capsys):
    write_midi(played([62, 64, 66]), tmp_path / "phrase.mid", 1.3)
    from segue.cli import main

    assert main(["play", "--server", "http://127.0.0.1:9", "--replay", str(tmp_path / "phrase.mid"), "--countdown", "0",
                 "--takes-dir", str(tmp_path / "takes")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot reach the Segue server" in err and not (tmp_path / "takes").exists()


def test_keyboard_mode_can_keep_the_first_draw_at_any_pace(live_server, tiny_model):
    """`segue play --any-pace`: the first continuation drawn stands, in process and through a
    server alike; by default one that strays from the take's pace is drawn again."""
    notes = played([60, 62, 64, 65, 67])
    for seed in range(40):  # at temperature 2: at 1 the tiny model seldom strays from the pace
        kept, _ = continue_in_process(tiny_model, 2.0, 0.95, seed, None)(notes, 5.0, 5.0)
        once, _ = continue_in_process(tiny_model, 2.0, 0.95, seed, None, keep_pace=False)(notes, 5.0, 5.0)
        if kept != once:
            break
    else:
        pytest.fail("no take was drawn again")
    for keep_pace, local in ((True, kept), (False, once)):
        remote, _ = keyboard.continue_with_server(live_server, 2.0, 0.95, seed, None, keep_pace=keep_pace)(notes, 5.0, 5.0)
        assert [n.pitch for n in remote] == [n.pitch for n in local]
        assert [n.start for n in remote] == pytest.approx([n.start for n in local], abs=1e-6)


def test_segue_play_any_pace_reaches_the_model(tmp_path, monkeypatch, live_server):
    """The flag is passed on to the continuation, in process and through a server (the real ones,
    watched on their way)."""
    asked = []

    def watched(real):
        def continuation(*args, **options):
            asked.append((real.__name__, options.get("keep_pace", True)))
            return real(*args, **options)
        return continuation

    for real in (keyboard.continue_in_process, keyboard.continue_with_server):
        monkeypatch.setattr(keyboard, real.__name__, watched(real))
    write_midi(played([62, 64, 66]), tmp_path / "phrase.mid", 1.3)
    from segue.cli import main

    for where, server in (("continue_in_process", []), ("continue_with_server", ["--server", live_server])):
        for flags, keep_pace in (([], True), (["--any-pace"], False)):
            assert main(["play", "--replay", str(tmp_path / "phrase.mid"), "--countdown", "0", "--seconds", "1.5",
                         "--takes", "1", "--takes-dir", str(tmp_path / "takes"), "--seed", "1", *server, *flags]) == 0
            assert asked.pop() == (where, keep_pace)
