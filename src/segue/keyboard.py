"""Keyboard mode (`segue play`): count in, record a phrase from a MIDI input or a microphone
(`--mic`: sung, hummed or whistled, then transcribed), extend it, play the continuation back, and
keep every take on disk (a sung take as its recording, kept before it is transcribed).

Hardware stays at the edges: recording and playback take mido ports, recorders
(`segue.microphone`) and a clock, so `--replay` and the tests run the whole flow without a
keyboard, a microphone or a sound card."""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import mido
from mido.ports import BaseInput, BaseOutput
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from .audio import hushed_stderr, wav_bytes
from .errors import first_line
from .keys import pitch_name
from .files import replaced_atomically
from .microphone import Recorder
from .midi_io import DRUM_CHANNEL, NoteTracker, note_events, read_midi, write_midi
from .notes import Note
from .options import DEFAULTS
from .transcribe import TranscriptionError, transcribe_samples

POLL_SECONDS = 0.001  # how often the recorder looks for new messages: its timing resolution
SPIN_SECONDS = 0.002  # the last stretch of a wait is spun, not slept: sleep can overshoot by a millisecond
THROUGH_PORT = "Midi Through"  # ALSA's loopback port, on every Linux machine: never a keyboard
DEFAULT_TAKES_DIR = Path("~/.segue/takes")
HEALTH_TIMEOUT = 5.0  # s: a server that does not say it is up this soon is reported before the count-in


class KeyboardError(Exception):
    """A problem with ports, devices or the server, said in one line."""


class Clock:
    """Wall-clock time for recording and playback; tests pass one that only pretends to wait."""

    def now(self) -> float:
        return time.perf_counter()

    def sleep_until(self, moment: float) -> None:
        while (left := moment - self.now()) > 0:
            if left > SPIN_SECONDS:
                time.sleep(left - SPIN_SECONDS)


# ---- ports ---------------------------------------------------------------------------------------

def list_ports() -> tuple[list[str], list[str]]:
    """(input names, output names) of the MIDI system."""
    try:
        with hushed_stderr():
            return mido.get_input_names(), mido.get_output_names()
    # rtmidi raises SystemError where there is no ALSA sequencer (no /dev/snd/seq), and ImportError
    # or OSError where the backend itself is missing.
    except (SystemError, ImportError, OSError, RuntimeError) as error:
        raise KeyboardError(f"cannot reach the MIDI system ({first_line(error)}); "
                            "without MIDI hardware, try --replay FILE.mid") from None


def open_input(name: str | None) -> BaseInput:
    """The named input, or the first keyboard (not ALSA's loopback) when no name is given."""
    inputs, _ = list_ports()
    if name is None:
        keyboards = [n for n in inputs if not n.startswith(THROUGH_PORT)]
        if not keyboards:
            raise KeyboardError("no MIDI keyboard found: connect one and check `segue ports`, "
                                "or play a file as if from a keyboard with --replay FILE.mid")
        name = keyboards[0]
    return _open_port("input", name, inputs, mido.open_input)


def open_output(name: str) -> BaseOutput:
    return _open_port("output", name, list_ports()[1], mido.open_output)


def _open_port(kind: str, name: str, names: list[str], opener: Callable[[str], BaseInput | BaseOutput]):
    if name not in names:
        raise KeyboardError(f"no MIDI {kind} named {name!r}; {kind}s: {', '.join(names) or 'none'}")
    try:
        with hushed_stderr():
            return opener(name)
    except (SystemError, OSError, RuntimeError) as error:
        raise KeyboardError(f"cannot open MIDI {kind} {name!r}: {first_line(error)}") from None


def flushed(port: BaseInput) -> BaseInput:
    """The port, with what was played before now (during the count-in, or the last playback) dropped."""
    for _ in port.iter_pending():
        pass
    return port


class ReplayInput(BaseInput):
    """A MIDI file played into the recorder in real time, as if from a keyboard: each message
    arrives when its time since the port was opened has come."""

    def __init__(self, path: str | Path, clock: Clock) -> None:
        super().__init__(f"replay of {Path(path).name}", path=path, clock=clock)  # mido calls _open

    def _open(self, path: str | Path, clock: Clock) -> None:
        read_midi(path)  # a clear MidiError for a file that is not a usable melody
        self.schedule: list[tuple[float, mido.Message]] = []
        now = 0.0
        for message in mido.MidiFile(path):
            now += message.time
            if message.type in ("note_on", "note_off"):
                self.schedule.append((now, message.copy(time=0)))
        self.clock = clock
        self.origin = clock.now()
        self.next = 0

    def _receive(self, block: bool = True) -> mido.Message | None:
        if self.next < len(self.schedule) and self.schedule[self.next][0] <= self.clock.now() - self.origin:
            self.next += 1
            return self.schedule[self.next - 1][1]
        return None


# ---- recording and playback ----------------------------------------------------------------------

def record(port: BaseInput, seconds: float, clock: Clock,
           on_message: Callable[[float, mido.Message], None] | None = None,
           tracker: NoteTracker | None = None) -> list[Note]:
    """Notes played on `port` during the next `seconds`, timed from now. Keys still down when the
    window closes end there. `on_message(time, message)` sees each message as it arrives; pass a
    `tracker` to keep what was played if recording is interrupted."""
    tracker = tracker or NoteTracker()
    start = clock.now()
    end = start + seconds
    while True:
        now = clock.now()
        for message in port.iter_pending():
            moment = min(clock.now() - start, seconds)
            tracker.feed(message, moment)
            if on_message:
                on_message(moment, message)
        if now >= end:
            return tracker.close(seconds)
        clock.sleep_until(min(now + POLL_SECONDS, end))


def play(notes: list[Note], port: BaseOutput, clock: Clock, origin: float) -> float | None:
    """Send `notes` to `port`, each at `origin` + its start. A note whose time has already passed
    is sent at once. Returns when the first note-on was sent (None for no notes). If anything
    interrupts playback (Ctrl-C included), every sounding note is released and all notes are
    turned off before the interruption goes on, so nothing is left stuck."""
    sounding: set[int] = set()
    first_sent = None
    try:
        for moment, message in note_events(notes):
            clock.sleep_until(origin + moment)
            port.send(message)
            if message.type == "note_on":
                sounding.add(message.note)
                first_sent = first_sent if first_sent is not None else clock.now()
            else:
                sounding.discard(message.note)
    except BaseException:
        silence(port, sounding)
        raise
    return first_sent


def silence(port: BaseOutput, sounding: set[int] = frozenset()) -> None:
    """Release `sounding` notes, then all-notes-off and reset-controllers on every channel."""
    for pitch in sorted(sounding):
        port.send(mido.Message("note_off", note=pitch, velocity=0))
    port.reset()


# ---- the session ---------------------------------------------------------------------------------

# (notes, input length, seconds) -> (continuation, milliseconds the model took)
Continue = Callable[[list[Note], float, float], tuple[list[Note], float]]


def continue_in_process(checkpoint, temperature: float, top_p: float, seed: int | None, key: str | None,
                        keep_pace: bool = True) -> Continue:
    """Continue each take with the model here; without `keep_pace`, the first continuation drawn
    stands even where it strays from the take's pace (`generate.extend`)."""
    from .generate import extend

    def run(notes: list[Note], input_length: float, seconds: float) -> tuple[list[Note], float]:
        started = time.perf_counter()
        [continuation] = extend(notes, seconds, temperature, top_p, seed, input_length=input_length,
                                checkpoint=checkpoint, key=key, keep_pace=keep_pace)
        return continuation, (time.perf_counter() - started) * 1000

    return run


def continue_with_server(url: str, temperature: float, top_p: float, seed: int | None, key: str | None,
                         timeout: float = 30.0, keep_pace: bool = True) -> Continue:
    """Ask a running `segue serve` at `url` instead of loading the model here; `keep_pace` as
    `continue_in_process`. The server is asked whether it is up at once, before any take is
    played that it could not answer."""
    base = url.rstrip("/")

    def ask(request: urllib.request.Request | str, wait: float, refused: str) -> dict:
        try:
            with urllib.request.urlopen(request, timeout=wait) as response:
                return json.load(response)
        except urllib.error.HTTPError as error:
            raise KeyboardError(f"{refused}: {_detail(error)}") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:  # no server; not HTTP; a bad URL
            raise KeyboardError(f"cannot reach the Segue server at {url}: {getattr(error, 'reason', error)}") from None
        except ValueError:  # another kind of server, answering in HTML or text
            raise KeyboardError(f"{url} does not answer as a Segue server: its answer is not JSON") from None

    def run(notes: list[Note], input_length: float, seconds: float) -> tuple[list[Note], float]:
        # keep_pace only when turned off: a server from before it refuses fields it does not know
        body = {"notes": [{"pitch": n.pitch, "start": n.start, "end": n.end, "velocity": n.velocity} for n in notes],
                "input_seconds": input_length, "seconds": seconds, "temperature": temperature, "top_p": top_p,
                "seed": seed, "key": key, **({} if keep_pace else {"keep_pace": False})}
        request = urllib.request.Request(base + "/api/extend", json.dumps(body).encode(),
                                         {"Content-Type": "application/json"})
        started = time.perf_counter()
        answer = ask(request, timeout, "the server refused the take")
        notes = [Note(n["pitch"], n["start"], n["end"], n["velocity"]) for n in answer["extensions"][0]["notes"]]
        return notes, (time.perf_counter() - started) * 1000

    health = ask(base + "/api/health", HEALTH_TIMEOUT, f"{url} does not answer as a Segue server")
    if not (isinstance(health, dict) and {"status", "model"} <= health.keys()):
        raise KeyboardError(f"{url} does not answer as a Segue server: its /api/health says {str(health)[:80]}")
    return run


@dataclass
class Take:
    """One round: what was played, its continuation, and where both were saved."""

    notes: list[Note]
    files: dict[str, Path] = field(default_factory=dict)
    continuation: list[Note] = field(default_factory=list)
    model_ms: float = 0.0
    ready_ms: float = 0.0  # from the end of the take until the continuation was ready
    latency_ms: float | None = None  # how late the first continuation note sounded


@dataclass
class SessionOptions:
    seconds: float = DEFAULTS.seconds  # length of each recording, and of each continuation
    countdown: int = 3  # seconds of count-in before recording
    takes_dir: Path = DEFAULT_TAKES_DIR
    loop: bool = False  # call and response: the next take starts after playback
    takes: int | None = None  # stop after this many takes (None: until the player quits)


class Session:
    """The keyboard-mode loop. `source()` gives the input port for a take as the count-in ends
    (a keyboard with nothing pending, or a fresh replay of a file); `output` plays the continuation (a MIDI port or a synth), or None
    to only save it; `display` shows progress; `ask()` reads the player's choice after playback."""

    def __init__(self, options: SessionOptions, source: Callable[[], BaseInput], output: BaseOutput | None,
                 generate: Continue, display: "Display", clock: Clock | None = None,
                 ask: Callable[[str], str] = input) -> None:
        self.options = options
        self.source = source
        self.output = output
        self.generate = generate
        self.display = display
        self.clock = clock or Clock()
        self.ask = ask
        self.takes: list[Take] = []

    def run(self) -> list[Take]:
        try:
            take = self.take()
            while self.options.takes is None or len(self.takes) < self.options.takes:
                choice = "" if self.options.loop else self._choice()
                if choice == "q":
                    break
                if choice == "r":
                    self.playback(take)
                    continue
                take = self.take()
        finally:
            if self.output is not None:
                silence(self.output)
        return self.takes

    def _choice(self) -> str:
        try:
            return self.ask("Enter: another take   r: replay   q: quit > ").strip().lower()[:1]
        except EOFError:  # input closed (a pipe, a script): nothing more is coming
            return "q"

    def take(self) -> Take:
        options, clock = self.options, self.clock
        for count in range(options.countdown, 0, -1):
            self.display.countdown(count)
            clock.sleep_until(clock.now() + 1)
        source = self.source()
        self.display.recording(options.seconds, clock)
        started = clock.now()
        if isinstance(source, BaseInput):
            take, base = self._played(source, started)
        else:
            take, base = self._sung(source, started)
        if not take.notes:
            return take
        take_end = started + options.seconds
        take.continuation, take.model_ms = self.generate(take.notes, options.seconds, options.seconds)
        take.ready_ms = (clock.now() - take_end) * 1000
        take.files["continuation"] = base.with_name(base.name + "-continuation.mid")
        take.files["joined"] = base.with_name(base.name + "-joined.mid")
        write_midi(take.continuation, take.files["continuation"], options.seconds)
        write_midi(take.notes + [n.shifted(options.seconds) for n in take.continuation], take.files["joined"],
                   2 * options.seconds)
        self.display.continuation(take)
        self.playback(take, origin=take_end)
        return take

    def _played(self, port: BaseInput, started: float) -> tuple[Take, Path]:
        """A take from a MIDI input, saved before the model runs."""
        seconds = self.options.seconds
        tracker = NoteTracker()
        try:
            notes = record(port, seconds, self.clock, self.display.message, tracker)
        except KeyboardInterrupt:  # stopped mid-take: keep what was played so far
            elapsed = min(max(self.clock.now() - started, 0.0), seconds)
            partial = tracker.close(elapsed)
            if partial:
                self._save_notes(*self._new_take(partial), elapsed, "take-interrupted")
            raise
        finally:
            self.display.recorded()
        take, base = self._new_take(notes)
        self._save_notes(take, base, seconds, "take")
        if not notes:
            self.display.nothing_played()
        return take, base

    def _sung(self, recorder: Recorder, started: float) -> tuple[Take, Path]:
        """A take from a recorder: its audio saved first, then transcribed and the notes saved."""
        try:
            samples = recorder.record(self.options.seconds, self.clock, self.display.level)
        except KeyboardInterrupt:  # stopped mid-take: keep what was sung so far
            if len(recorder.heard):
                self._save_audio(*self._new_take([]), recorder.heard, recorder.rate, "take-interrupted")
            raise
        finally:
            self.display.recorded()
        take, base = self._new_take([])
        self._save_audio(take, base, samples, recorder.rate, "take")
        try:
            heard = transcribe_samples(samples, recorder.rate)
        except TranscriptionError as error:
            self.display.not_heard(str(error))
            return take, base
        take.notes = heard.notes
        self.display.heard(heard.notes, heard.tuning_cents)
        self._save_notes(take, base, self.options.seconds, "take")
        return take, base

    def _new_take(self, notes: list[Note]) -> tuple[Take, Path]:
        """A take, kept in the session, and the base of its files' names."""
        take = Take(notes)
        self.takes.append(take)
        stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
        return take, self.options.takes_dir.expanduser() / f"{stamp}-{len(self.takes):03d}"

    def _save_notes(self, take: Take, base: Path, length: float, kind: str) -> None:
        take.files[kind] = base.with_name(f"{base.name}-{kind}.mid")
        write_midi(take.notes, take.files[kind], length)
        self.display.saved(take.files[kind], len(take.notes))

    def _save_audio(self, take: Take, base: Path, samples, rate: int, kind: str) -> None:
        path = take.files[f"{kind}-audio"] = base.with_name(f"{base.name}-{kind}.wav")
        path.parent.mkdir(parents=True, exist_ok=True)
        with replaced_atomically(path) as temporary:
            temporary.write_bytes(wav_bytes(samples, rate))
        self.display.saved_audio(path, len(samples) / rate)

    def playback(self, take: Take, origin: float | None = None) -> None:
        """Play the continuation. Right after a take its timeline starts where the take ended, so it
        keeps the player's time; the first note is late only by what the model took past its onset."""
        if self.output is None or not take.continuation:
            self.display.not_played(take)
            return
        origin = self.clock.now() if origin is None else origin
        self.display.playing(take)
        first_sent = play(take.continuation, self.output, self.clock, origin)
        if first_sent is not None:
            take.latency_ms = (first_sent - origin - take.continuation[0].start) * 1000
        self.display.played(take)


LEVEL_BARS = " ▁▂▃▄▅▆▇█"
LEVEL_FLOOR_DBFS = -60.0  # the meter's empty end; its full end is 0 dBFS


def level_meter(dbfs: float, width: int = 8) -> str:
    """A level as a bar of `width` characters: -60 dBFS empty, 0 dBFS full."""
    filled = max(0.0, min(1.0, 1 - dbfs / LEVEL_FLOOR_DBFS)) * width
    whole = int(filled)
    part = LEVEL_BARS[round((filled - whole) * (len(LEVEL_BARS) - 1))] if whole < width else ""
    return (LEVEL_BARS[-1] * whole + part).ljust(width)


class RecordingBar(Progress):
    """A progress bar that reads the recording clock each time it is drawn, so it moves while
    the player rests too; with a microphone, the input level beside it."""

    def __init__(self, seconds: float, clock: Clock, console: Console) -> None:
        self.clock, self.seconds, self.started, self.task = clock, seconds, clock.now(), None
        super().__init__(TextColumn("[red]● rec[/]"), BarColumn(bar_width=36),
                         TextColumn("{task.completed:4.1f} / {task.total:g} s"), TextColumn("{task.fields[level]}"),
                         console=console, refresh_per_second=20)
        self.task = self.add_task("recording", total=seconds, level="")

    def get_renderables(self):
        if self.task is not None:
            self.update(self.task, completed=min(self.clock.now() - self.started, self.seconds))
        yield from super().get_renderables()


class Display:
    """What the player sees, in an 80-column terminal."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(highlight=False)
        self.bar = None

    def countdown(self, count: int) -> None:
        self.console.print(f"[bold]{count}…[/]")

    def recording(self, seconds: float, clock: Clock) -> None:
        self.console.print(f"[bold red]● recording {seconds:g} s[/]: play or sing now")
        self.bar = RecordingBar(seconds, clock, self.console)
        self.bar.start()

    def message(self, moment: float, message: mido.Message) -> None:
        if message.type not in ("note_on", "note_off") or message.channel == DRUM_CHANNEL:
            return
        on = message.type == "note_on" and message.velocity > 0
        velocity = f"vel {message.velocity:3d}" if on else ""
        self.console.print(f"  {moment:5.2f} s  {'▶ on ' if on else '  off'}  {pitch_name(message.note):<4} {velocity}")

    def level(self, dbfs: float) -> None:
        self.bar.update(self.bar.task, level=f"[green]{level_meter(dbfs)}[/] {dbfs:5.0f} dB")

    def recorded(self) -> None:
        self.bar.stop()

    def saved_audio(self, path: Path, seconds: float) -> None:
        self.console.print(f"■ {seconds:.1f} s of sound, saved {path}")

    def heard(self, notes: list[Note], tuning_cents: float) -> None:
        names = "  ".join(f"{pitch_name(n.pitch)}@{n.start:.2f}" for n in notes)
        self.console.print(f"[bold]heard[/]: {len(notes)} notes (you ended {tuning_cents:+.0f} cents from A440)")
        self.console.print(f"  {names}")

    def not_heard(self, problem: str) -> None:
        self.console.print(f"[yellow]No notes heard: {problem}. The recording is kept; try again.[/]")

    def saved(self, path: Path, count: int) -> None:
        self.console.print(f"■ {count} notes, saved {path}")

    def nothing_played(self) -> None:
        self.console.print("[yellow]Nothing was played in the take: play while the bar fills.[/]")

    def continuation(self, take: Take) -> None:
        notes = "  ".join(f"{pitch_name(n.pitch)}@{n.start:.2f}" for n in take.continuation)
        self.console.print(f"[bold]continuation[/]: {len(take.continuation)} notes, ready {take.ready_ms:.0f} ms "
                           f"after the take ended (model {take.model_ms:.0f} ms)")
        self.console.print(f"  {notes}")
        folder = take.files["take"].parent
        self.console.print(f"saved {take.files['continuation'].name} and {take.files['joined'].name} in {folder}")

    def playing(self, take: Take) -> None:
        self.console.print("[green]▶ playing the continuation[/]")

    def not_played(self, take: Take) -> None:
        if take.continuation:
            self.console.print("not played: no output (use --out-port NAME or --audio to hear it)")

    def played(self, take: Take) -> None:
        if take.latency_ms is not None:
            due = take.continuation[0].start * 1000
            self.console.print(f"latency {take.latency_ms:.1f} ms: the first note sounded {due + take.latency_ms:.1f} ms "
                               f"after the take ended, due at {due:.1f} ms")


def _detail(error: urllib.error.HTTPError) -> str:
    try:
        return str(json.load(error)["detail"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {error.code}"



