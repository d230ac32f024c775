"""`segue bench`: how fast a continuation is, alone and under load, measured the same way on any machine.

Four parts, the first three compared with the original system's 0.39 s per continuation:
- the model: `extend` on a 5 s phrase in this process, one continuation and eight variations;
- the server: a real `segue serve` started as a subprocess, timed from launch to its first
  answer, then loaded with 1, 4, 16 and 32 concurrent clients, each sending its next request as
  soon as the last one is answered (closed loop), for a bounded count and time per level;
- the server's peak memory (VmHWM of each of its processes);
- transcription: the same phrase whistled (made in code, with vibrato and glides) and turned back
  into notes, 5 s of audio per run.

The load generator is a small asyncio HTTP/1.1 client with one keep-alive connection per client:
on a 2-core machine it shares the cores with the server, so it has to cost as little as possible.
"""

from __future__ import annotations

import asyncio
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .modelfile import DEFAULT_MODEL, load_model
from .files import write_atomically
from .generate import extend
from .metrics import notes_heard
from .notes import Note

ORIGINAL_SECONDS = 0.39  # one continuation with the original system
# Ode to Joy's first phrase, as played: 15 notes in 5 s.
BENCH_PHRASE = [Note(p, 0.33 * i, 0.33 * i + 0.3, 80) for i, p in enumerate(
    (64, 64, 65, 67, 67, 65, 64, 62, 60, 60, 62, 64, 64, 62, 62))]
BENCH_INPUT_SECONDS = 5.0


@dataclass(frozen=True)
class BenchConfig:
    checkpoint: Path = DEFAULT_MODEL
    baseline: Path | None = None  # an earlier model timed alongside, run for run, on the same phrase
    model_runs: int = 300  # timed continuations per model figure, after warm_up_runs
    warm_up_runs: int = 20
    workers: int = 1  # `segue serve --workers`
    concurrency: tuple[int, ...] = (1, 4, 16, 32)  # closed-loop clients per level
    requests_per_client: int = 50  # each level sends clients * this many requests...
    min_requests: int = 300  # ...and at least this many
    seconds_per_level: float = 30.0  # ...stopping early when a level takes this long
    start_timeout: float = 60.0
    transcription_runs: int = 100  # timed transcriptions of the 5 s recording, after warm_up_runs // 4


@dataclass
class Level:
    clients: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    per_second: float


@dataclass
class BenchResult:
    machine: dict
    config: dict
    model: dict = field(default_factory=dict)
    server: dict = field(default_factory=dict)
    command_line: str = "segue bench"
    baseline: dict = field(default_factory=dict)  # the baseline model's figures, like `model`
    transcription: dict = field(default_factory=dict)


def percentiles(seconds: list[float]) -> dict:
    values = np.array(seconds) * 1000
    return {"p50_ms": float(np.percentile(values, 50)), "p95_ms": float(np.percentile(values, 95)),
            "p99_ms": float(np.percentile(values, 99)), "mean_ms": float(values.mean())}


def time_model(config: BenchConfig) -> tuple[dict, dict]:
    """Latency of `extend` in this process: one continuation, and eight variations at once; for
    the model and the baseline (if any), taking turns run by run so both meet the same machine."""
    checkpoints = {"model": load_model(config.checkpoint)}
    if config.baseline is not None:
        checkpoints["baseline"] = load_model(config.baseline)
    figures: dict[str, dict] = {label: {} for label in checkpoints}
    for name, variations in (("one", 1), ("eight_variations", 8)):
        runs = {label: (lambda seed, checkpoint=checkpoint: extend(  # noqa: E731
                    BENCH_PHRASE, seed=seed, variations=variations, input_length=BENCH_INPUT_SECONDS, checkpoint=checkpoint))
                for label, checkpoint in checkpoints.items()}
        for seed in range(config.warm_up_runs):
            for run in runs.values():
                run(seed)
        timings: dict[str, list[float]] = {label: [] for label in runs}
        for seed in range(config.model_runs):
            for label, run in runs.items():
                started = time.perf_counter()
                run(seed)
                timings[label].append(time.perf_counter() - started)
        for label, values in timings.items():
            figures[label][name] = {"runs": config.model_runs, "variations": variations, **percentiles(values)}
    baseline = {"checkpoint": str(config.baseline), **figures["baseline"]} if config.baseline is not None else {}
    return figures["model"], baseline


def time_transcription(config: BenchConfig) -> dict:
    """Latency of `transcribe` on 5 s of the bench phrase, whistled with vibrato and glides."""
    from .audio import wav_bytes
    from .performances import Expression, perform
    from .transcribe import transcribe

    recording = wav_bytes(perform(BENCH_PHRASE, BENCH_INPUT_SECONDS - 0.5, "whistle",
                                  Expression(vibrato_cents=40, glide_seconds=0.04, tuning_cents=-20)))
    heard = transcribe(recording).notes
    for _ in range(max(1, config.warm_up_runs // 4)):
        transcribe(recording)
    timings = []
    for _ in range(config.transcription_runs):
        started = time.perf_counter()
        transcribe(recording)
        timings.append(time.perf_counter() - started)
    return {"runs": config.transcription_runs, "audio_seconds": BENCH_INPUT_SECONDS,
            "notes_right": notes_heard(BENCH_PHRASE, heard),
            "notes": len(BENCH_PHRASE), "notes_heard": len(heard), **percentiles(timings)}


def request_body(seed: int) -> bytes:
    body = {"notes": [{"pitch": n.pitch, "start": n.start, "end": n.end, "velocity": n.velocity} for n in BENCH_PHRASE],
            "input_seconds": BENCH_INPUT_SECONDS, "seed": seed}
    return json.dumps(body).encode()


async def _post(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str, body: bytes) -> int:
    """One POST /api/extend on an open connection -> the HTTP status; the answer is read and dropped."""
    writer.write(b"POST /api/extend HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (host.encode(), len(body), body))
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    await reader.readexactly(int(length.group(1)) if length else 0)
    return int(head.split(b" ", 2)[1])


def good_request(number: int) -> tuple[bytes, int]:
    """The benchmark's request: the bench phrase with a new seed -> (body, status expected)."""
    return request_body(number), 200


async def load(host: str, port: int, clients: int, requests: int, seconds: float,
                make_request: Callable[[int], tuple[bytes, int]] = good_request) -> Level:
    """`clients` connections, each posting its next request when the last is answered, until
    `requests` were sent or `seconds` passed. An answer other than the one expected is an error."""
    latencies, errors, sent = [], 0, 0
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        nonlocal errors, sent
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while sent < requests and time.perf_counter() < deadline:
                sent += 1
                body, expected = make_request(sent)
                started = time.perf_counter()
                status = await _post(reader, writer, host, body)
                latencies.append(time.perf_counter() - started)
                errors += status != expected
        except (ConnectionError, asyncio.IncompleteReadError):
            errors += 1  # the server dropped the connection: counted, and this client stops
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    figures = percentiles(latencies)
    return Level(clients, len(latencies), errors, elapsed, figures["p50_ms"], figures["p95_ms"], figures["p99_ms"],
                 len(latencies) / elapsed)


def memory_mb(pid: int, field: str) -> float:
    """A memory figure of a process from /proc, in MiB: VmRSS (resident now) or VmHWM (its peak)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(rf"{field}:\s+(\d+) kB", status).group(1)) / 1024


def _peak_memory_mb(pid: int) -> dict:
    """VmHWM (peak resident memory) of a process and its children, in MiB."""
    def peak(process: int) -> float:
        return memory_mb(process, "VmHWM")

    children = Path(f"/proc/{pid}/task/{pid}/children")
    workers = [int(p) for p in children.read_text().split()] if children.exists() else []
    figures = {"main": peak(pid), "workers": [peak(w) for w in workers]}
    figures["total"] = figures["main"] + sum(figures["workers"])
    return figures


@contextmanager
def served(checkpoint: Path, workers: int, start_timeout: float) -> Iterator[tuple[str, int, int, float]]:
    """Start `segue serve` on a free port and wait for its first answer -> (host, port, pid,
    seconds from launch to that answer); stopped on leaving."""
    command = [sys.executable, "-m", "segue.cli", "serve", "--port", "0", "--workers", str(workers),
               "--checkpoint", str(checkpoint)]
    launched = time.perf_counter()
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = server.stdout.readline()
        found = re.search(r"http://([\d.]+):(\d+)/", line)
        if not found:
            raise RuntimeError(f"segue serve did not start: {line.strip() or 'no output'}")
        host, port = found.group(1), int(found.group(2))
        first_answer = asyncio.run(_first_answer(host, port, launched + start_timeout)) - launched
        yield host, port, server.pid, first_answer
    finally:
        server.terminate()
        server.wait(10)


def time_server(config: BenchConfig) -> dict:
    """Start `segue serve`, time it to its first answer, load it, read its peak memory."""
    with served(config.checkpoint, config.workers, config.start_timeout) as (host, port, pid, first_answer):
        at_first_answer = _peak_memory_mb(pid)["total"]
        levels = []
        for clients in config.concurrency:
            asyncio.run(load(host, port, clients, 4 * clients, config.seconds_per_level))  # warm connections
            count = max(config.min_requests, clients * config.requests_per_client)
            levels.append(asdict(asyncio.run(load(host, port, clients, count, config.seconds_per_level))))
        memory = _peak_memory_mb(pid)
    return {"workers": config.workers, "start_to_first_answer_s": first_answer, "levels": levels,
            "peak_rss_mb": memory, "peak_rss_mb_at_first_answer": at_first_answer}


def time_start(checkpoint: Path, config: BenchConfig) -> dict:
    """Start `segue serve` with another model: its start-up to the first answer and its peak memory then."""
    with served(checkpoint, config.workers, config.start_timeout) as (_, _, pid, first_answer):
        return {"start_to_first_answer_s": first_answer, "peak_rss_mb_at_first_answer": _peak_memory_mb(pid)["total"]}


async def _first_answer(host: str, port: int, deadline: float) -> float:
    """Post until the server answers 200 -> the perf_counter time it did."""
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port)
            try:
                if await _post(reader, writer, host, request_body(0)) == 200:
                    return time.perf_counter()
            finally:
                writer.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        if time.perf_counter() > deadline:
            raise RuntimeError("segue serve answered nothing before the start-up timeout")
        await asyncio.sleep(0.01)


def machine() -> dict:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
            "platform": platform.platform()}


def config_record(config) -> dict:
    """A config dataclass as JSON-ready values, for the reports."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}


def run(config: BenchConfig, command_line: str = "segue bench") -> BenchResult:
    model, baseline = time_model(config)
    transcription = time_transcription(config)
    server = time_server(config)
    if config.baseline is not None:
        baseline["server"] = time_start(config.baseline, config)
    return BenchResult(machine(), config_record(config), model, server, command_line, baseline, transcription)


def speedup(milliseconds: float) -> str:
    return f"{ORIGINAL_SECONDS * 1000 / milliseconds:,.0f}× faster"


def markdown(result: BenchResult) -> str:
    model, server = result.model, result.server
    lines = [
        "# Benchmarks",
        "",
        f"Written by `{result.command_line}` on {result.machine['cpu']} ({result.machine['cores']} cores), Python "
        f"{result.machine['python']}, numpy {result.machine['numpy']}. Every figure is compared with the original "
        f"system's {ORIGINAL_SECONDS} s per continuation. Rerun it to check them on your machine; "
        "`docs/performance.md` says how the code got here.",
        "",
        "## The model",
        "",
        f"`extend` on a 5 s phrase of 15 notes, in one process, {model['one']['runs']} runs after "
        f"{result.config['warm_up_runs']} warm-up runs.",
        "",
        "| continuations | p50 | p95 | mean | p50 vs 0.39 s |",
        "|---|---|---|---|---|",
    ]
    for figures in model.values():
        lines.append(f"| {figures['variations']} | {figures['p50_ms']:.2f} ms | {figures['p95_ms']:.2f} ms | "
                     f"{figures['mean_ms']:.2f} ms | {speedup(figures['p50_ms'])} |")
    if result.baseline:
        name = Path(result.baseline["checkpoint"]).name
        lines += ["", f"The baseline, `{name}`, timed in the same runs (the two models take turns, run by run):", "",
                  "| continuations | p50 | p95 | mean | model p50 / baseline p50 |", "|---|---|---|---|---|"]
        for key, figures in model.items():
            other = result.baseline[key]
            lines.append(f"| {other['variations']} | {other['p50_ms']:.2f} ms | {other['p95_ms']:.2f} ms | "
                         f"{other['mean_ms']:.2f} ms | {figures['p50_ms'] / other['p50_ms']:.2f} |")
    original_rate = 1 / ORIGINAL_SECONDS
    lines += [
        "",
        "## The server",
        "",
        f"`segue serve --workers {server['workers']}` on 127.0.0.1, `POST /api/extend` with the same phrase and a new "
        "seed each time. Each client sends its next request as soon as the last is answered; the load generator "
        "runs on the same machine.",
        "",
        f"- Start-up, from launching the process to its first answer: **{server['start_to_first_answer_s']:.2f} s** "
        f"({server['start_to_first_answer_s'] / ORIGINAL_SECONDS:.1f} × 0.39 s).",
        f"- Peak memory (VmHWM): {_memory(server['peak_rss_mb'])}; "
        f"{server['peak_rss_mb_at_first_answer']:.0f} MiB at the first answer.",
        "",
        "| clients | requests | errors | p50 | p95 | p99 | continuations/s | p50 vs 0.39 s | rate vs 2.6/s |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for level in server["levels"]:
        lines.append(f"| {level['clients']} | {level['requests']} | {level['errors']} | {level['p50_ms']:.1f} ms | "
                     f"{level['p95_ms']:.1f} ms | {level['p99_ms']:.1f} ms | {level['per_second']:.0f} | "
                     f"{speedup(level['p50_ms'])} | {level['per_second'] / original_rate:.0f}× |")
    if "server" in result.baseline:
        other = result.baseline["server"]
        name = Path(result.baseline["checkpoint"]).name
        lines += ["", f"The same server started with the baseline, `{name}`, in the same run:", "",
                  "| model | start-up to first answer | peak memory at the first answer |", "|---|---|---|",
                  f"| `{Path(result.config['checkpoint']).name}` | {server['start_to_first_answer_s']:.2f} s | "
                  f"{server['peak_rss_mb_at_first_answer']:.0f} MiB |",
                  f"| `{name}` | {other['start_to_first_answer_s']:.2f} s | {other['peak_rss_mb_at_first_answer']:.0f} MiB |",
                  "", "A PyTorch checkpoint (`.pt`) loads PyTorch into the server; a model file (`.npz`) does not."]
    if result.transcription:
        heard = result.transcription
        lines += ["", "## Transcription", "",
                  f"`transcribe` on {heard['audio_seconds']:g} s of the same phrase whistled (made in code, with "
                  f"vibrato and glides), {heard['runs']} runs: p50 **{heard['p50_ms']:.0f} ms**, p95 "
                  f"{heard['p95_ms']:.0f} ms, mean {heard['mean_ms']:.0f} ms (target: p50 at most 300 ms). It heard "
                  f"{heard['notes_heard']} notes: {heard['notes_right']} of the {heard['notes']} at the right pitch and within 50 ms of "
                  "their onsets."]
    return "\n".join(lines) + "\n"


def _memory(peak: dict) -> str:
    if not peak["workers"]:
        return f"{peak['total']:.0f} MiB (one process)"
    workers = ", ".join(f"{w:.0f}" for w in peak["workers"])
    return f"{peak['total']:.0f} MiB in all (supervisor {peak['main']:.0f} MiB, workers {workers} MiB)"


def summary(result: BenchResult) -> str:
    """What `segue bench` prints: one line per figure."""
    lines = [f"model, {f['variations']} continuation(s): p50 {f['p50_ms']:.2f} ms, p95 {f['p95_ms']:.2f} ms "
             f"({speedup(f['p50_ms'])} than 0.39 s)" for f in result.model.values()]
    lines += [f"baseline, {f['variations']} continuation(s): p50 {f['p50_ms']:.2f} ms, p95 {f['p95_ms']:.2f} ms"
              for key, f in result.baseline.items() if key not in ("checkpoint", "server")]
    if result.transcription:
        heard = result.transcription
        lines.append(f"transcription, {heard['audio_seconds']:g} s of audio: p50 {heard['p50_ms']:.0f} ms, "
                     f"p95 {heard['p95_ms']:.0f} ms")
    server = result.server
    lines.append(f"server start-up to first answer: {server['start_to_first_answer_s']:.2f} s; "
                 f"peak memory {server['peak_rss_mb']['total']:.0f} MiB")
    if "server" in result.baseline:
        other = result.baseline["server"]
        lines.append(f"baseline server start-up to first answer: {other['start_to_first_answer_s']:.2f} s; peak memory then "
                     f"{other['peak_rss_mb_at_first_answer']:.0f} MiB (the model's: "
                     f"{server['peak_rss_mb_at_first_answer']:.0f} MiB)")
    lines += [f"HTTP, {level['clients']:>2} clients: p50 {level['p50_ms']:.1f} ms, p99 {level['p99_ms']:.1f} ms, "
              f"{level['per_second']:.0f}/s, {level['errors']} errors" for level in server["levels"]]
    return "\n".join(lines)


def write(result: BenchResult, markdown_path: Path, json_path: Path) -> None:
    for path, text in ((markdown_path, markdown(result)), (json_path, json.dumps(asdict(result), indent=2) + "\n")):
        write_atomically(path, text)
