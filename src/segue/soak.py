"""`segue soak`: a long, bounded run of requests against a real server: no errors, no growing memory.

It starts `segue serve` as `segue bench` does, warms it up, then sends `requests` requests from
`clients` concurrent keep-alive clients in `rounds` rounds. One request in ten is invalid (a pitch
out of range, a note ending before it starts, broken or deeply nested JSON, an absurd option) and
must get its 4xx; the rest must get 200. After the warm-up and after each round it reads the
server's resident memory (VmRSS): memory is flat when no reading exceeds the first by more than
`max_growth`.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

from .bench import BENCH_PHRASE, config_record, good_request, load, machine, memory_mb, served
from .modelfile import DEFAULT_MODEL

_NOTES = [{"pitch": n.pitch, "start": n.start, "end": n.end} for n in BENCH_PHRASE]
# (body, the status it must get): the error paths run thousands of times too.
BAD_REQUESTS = [
    (json.dumps({"notes": [_NOTES[0] | {"pitch": 200}] + _NOTES[1:]}).encode(), 422),
    (json.dumps({"notes": [_NOTES[0] | {"end": -1.0}] + _NOTES[1:]}).encode(), 422),
    (json.dumps({"notes": _NOTES, "variations": 10**6}).encode(), 422),
    (json.dumps({"notes": _NOTES, "key": "Q minor"}).encode(), 422),
    (b'{"notes": [', 422),
    (b"[" * 5000 + b"]" * 5000, 400),
]
BAD_EVERY = 10


@dataclass(frozen=True)
class SoakConfig:
    checkpoint: Path = DEFAULT_MODEL
    requests: int = 10_000
    clients: int = 32
    rounds: int = 10  # resident memory is read after each
    warm_up_requests: int = 1000  # before the first reading: caches and allocator pools fill up first
    max_growth: float = 0.10  # memory is flat if no reading exceeds the first by more than this share
    round_seconds: float = 600.0  # a round stops early after this long (a stuck server fails, not hangs)


def is_invalid(number: int) -> bool:
    return number % BAD_EVERY == 0


def soak_request(number: int) -> tuple[bytes, int]:
    if is_invalid(number):
        return BAD_REQUESTS[number // BAD_EVERY % len(BAD_REQUESTS)]
    return good_request(number)


def run(config: SoakConfig, command_line: str = "segue soak") -> dict:
    per_round = -(-config.requests // config.rounds)
    with served(config.checkpoint, 1, 60.0) as (host, port, pid, _):
        asyncio.run(load(host, port, config.clients, config.warm_up_requests, config.round_seconds, soak_request))
        after_warm_up = memory_mb(pid, "VmRSS")
        rounds, invalid = [], 0
        for index in range(config.rounds):
            offset = config.warm_up_requests + index * per_round  # new seeds every round

            def request(number: int, offset: int = offset) -> tuple[bytes, int]:
                return soak_request(number + offset)

            level = asyncio.run(load(host, port, config.clients, per_round, config.round_seconds, request))
            invalid += sum(is_invalid(number + offset) for number in range(1, level.requests + 1))
            rounds.append({"requests": level.requests, "errors": level.errors, "p50_ms": level.p50_ms,
                           "p99_ms": level.p99_ms, "per_second": level.per_second, "rss_mb": memory_mb(pid, "VmRSS")})
    requests = sum(r["requests"] for r in rounds)
    errors = sum(r["errors"] for r in rounds)
    growth = max(r["rss_mb"] for r in rounds) / after_warm_up - 1
    return {
        "command_line": command_line, "machine": machine(),
        "config": config_record(config),
        "requests": requests, "invalid_requests": invalid,
        "errors": errors, "rss_after_warm_up_mb": after_warm_up, "max_growth": growth, "rounds": rounds,
        "passed": errors == 0 and requests >= config.requests and growth <= config.max_growth,
    }


def summary(result: dict) -> str:
    readings = ", ".join(f"{r['rss_mb']:.0f}" for r in result["rounds"])
    return (f"{result['requests']} requests ({result['invalid_requests']} of them invalid) at "
            f"{result['config']['clients']} clients: {result['errors']} errors; resident memory "
            f"{result['rss_after_warm_up_mb']:.0f} MiB after warm-up, then {readings} MiB "
            f"(at most {result['max_growth']:+.1%}); {'passed' if result['passed'] else 'FAILED'}")
