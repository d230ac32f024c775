"""Keyboard mode with a voice: a recording played in as if into a microphone, with the clock
faked; the take's audio is kept before it is transcribed, and a missing microphone is one line."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from segue import microphone
from segue.cli import main
from segue.keyboard import Display, Session, SessionOptions, continue_in_process, level_meter
from segue.microphone import MicrophoneError, ReplayMicrophone, level_dbfs
from segue.midi_io import read_midi
from singing import MELODY, sung
from test_keyboard import FakeClock, MemoryPort, console


def voice_session(tmp_path, recording: bytes, generate, clock=None, display=None):
    (tmp_path / "take.wav").write_bytes(recording)
    clock = clock or FakeClock()
    recorder = ReplayMicrophone(tmp_path / "take.wav")
    out = console()
    synth = MemoryPort(clock)
    session = Session(SessionOptions(takes_dir=tmp_path / "takes", countdown=1, takes=1), lambda: recorder, synth,
                      generate, display or Display(out), clock, ask=lambda _: "q")
    return session, synth, out


def test_a_sung_take_is_kept_transcribed_continued_and_played(tmp_path, tiny_model):
    model = continue_in_process(tiny_model, 1.0, 0.95, 3, None)

    def model_after_the_audio_is_kept(notes, length, seconds):
        [kept] = (tmp_path / "takes").glob("*-take.wav")
        assert soundfile.info(kept).duration == pytest.approx(5.0)
        return model(notes, length, seconds)

    session, synth, out = voice_session(tmp_path, sung(cents=-30), model_after_the_audio_is_kept)
    [take] = session.run()
    assert [n.pitch for n in take.notes] == MELODY
    assert [n.pitch for n in read_midi(take.files["take"]).notes] == MELODY
    assert take.continuation and [m.note for _, m in synth.sent if m.type == "note_on"][:1] == [take.continuation[0].pitch]
    names = sorted(p.name.split("-")[-1] for p in (tmp_path / "takes").iterdir())
    assert names == ["continuation.mid", "joined.mid", "take.mid", "take.wav"]
    text = out.file.getvalue()
    assert "heard: 11 notes" in text and "ended -30 cents from A440" in text and "dB" in text


def test_silence_keeps_the_recording_and_says_why_nothing_follows(tmp_path):
    def no_model(*_):
        raise AssertionError("nothing to continue")

    buffer = io.BytesIO()
    soundfile.write(buffer, np.zeros(22050 * 5), 22050, format="WAV")
    session, synth, out = voice_session(tmp_path, buffer.getvalue(), no_model)
    [take] = session.run()
    assert not take.notes and take.files["take-audio"].exists()
    assert "No notes heard: the recording is silent" in " ".join(out.file.getvalue().split())


def test_stopped_mid_take_keeps_what_was_sung(tmp_path):
    clock = FakeClock(interrupt_at=100.0 + 1 + 2.5)  # after the count-in, 2.5 s into the take
    session, _, _ = voice_session(tmp_path, sung(), lambda *_: ([], 0.0), clock=clock)
    with pytest.raises(KeyboardInterrupt):
        session.run()
    [kept] = (tmp_path / "takes").glob("*-take-interrupted.wav")
    assert soundfile.info(kept).duration == pytest.approx(2.5, abs=0.11)


def test_the_level_meter():
    assert level_meter(-60) == " " * 8 and level_meter(0) == "█" * 8 and level_meter(-30) == "████    "
    assert level_dbfs(np.full(100, 0.5)) == pytest.approx(-6.02, abs=0.01) and level_dbfs(np.zeros(0)) == -120


def test_no_microphone_is_one_line(monkeypatch, capsys):
    sounddevice = pytest.importorskip("sounddevice")

    def no_device(**_):
        raise sounddevice.PortAudioError("Error querying device -1")

    monkeypatch.setattr(sounddevice, "check_input_settings", no_device)
    assert main(["play", "--mic", "--takes", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no microphone to record from" in err and "--replay take.wav" in err
    with pytest.raises(MicrophoneError, match="no microphone"):
        microphone.Microphone()


def test_segue_play_replays_a_recording_end_to_end(tmp_path):
    (tmp_path / "hum.flac").write_bytes(sung(audio_format="FLAC"))
    done = subprocess.run([sys.executable, "-m", "segue.cli", "play", "--replay", str(tmp_path / "hum.flac"),
                           "--countdown", "0", "--takes", "1", "--takes-dir", str(tmp_path / "takes"), "--seed", "1"],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    assert "heard: 11 notes" in done.stdout and "continuation" in done.stdout
    assert main(["play", "--mic", "--replay", str(tmp_path / "hum.flac")]) == 2
