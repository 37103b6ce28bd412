"""Load generator of bench/serving.py: N concurrent keep-alive clients, 1-row JSON requests.

Run in its own process (the project venv's python), against one server on loopback:

    python bench/_serving_load.py --url http://127.0.0.1:8000/predict --rows rows.jsonl \\
        --wrap records --clients 64 --warmup-s 2 --seconds 10

Each of ``--clients`` asyncio tasks holds one HTTP/1.1 keep-alive connection and sends one
request at a time (a closed loop: the next request leaves when the answer is in). Request i of
client c carries row ``(c + i * clients) mod len(rows)`` of ``--rows`` (one JSON object per
line), wrapped as ``{"<wrap>": [<row>]}``, so every server gets the identical bodies in the
identical order. Requests answered during the first ``--warmup-s`` seconds are not counted;
requests answered in the next ``--seconds`` seconds give the throughput and the latencies
(send to last byte of the answer). Then the clients stop; a request still unanswered
``--drain-s`` seconds later is cancelled and reported as ``unfinished``. Anything but a 2xx,
and any connection failure, counts as an error (the connection is opened anew).

The default client (``--client raw``) writes prebuilt request bytes on asyncio streams (uvloop)
and reads the answer by its Content-Length (or chunks): about 15-25 µs of CPU a request, so
that on 2 shared cores the client takes as little as possible from the server it measures.
``--client httpx`` uses ``httpx.AsyncClient`` (a pool of ``--clients`` connections) instead,
for a cross-check; it costs several times more CPU per request. The client's own CPU time is
reported either way.

Prints one JSON line on stdout.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

_NS = 1_000_000_000


@dataclass
class Tally:
    """What the clients saw; shared by every client task (one event loop, no locks)."""

    window_start_ns: int
    window_end_ns: int
    latencies_ns: list[int] = field(default_factory=list)
    completed: int = 0  # every answered request, warm-up included
    errors: int = 0  # errors inside the measured window
    errors_total: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    error_samples: list[str] = field(default_factory=list)
    is_stopping: bool = False
    in_flight: int = 0

    def answered(self, started_ns: int, ended_ns: int, status: int) -> None:
        self.completed += 1
        is_ok = 200 <= status < 300
        if not is_ok:
            self.errors_total += 1
            key = str(status)
            self.statuses[key] = self.statuses.get(key, 0) + 1
        if self.window_start_ns <= ended_ns <= self.window_end_ns:
            if is_ok:
                self.latencies_ns.append(ended_ns - started_ns)
            else:
                self.errors += 1

    def failed(self, ended_ns: int, error: BaseException) -> None:
        self.errors_total += 1
        name = type(error).__name__
        self.statuses[name] = self.statuses.get(name, 0) + 1
        if len(self.error_samples) < 5:
            self.error_samples.append(f"{name}: {error}"[:300])
        if self.window_start_ns <= ended_ns <= self.window_end_ns:
            self.errors += 1


def load_bodies(rows_path: Path, wrap: str) -> list[bytes]:
    """The request bodies: each row (a JSON object per line) as ``{"<wrap>": [row]}``."""
    prefix = b'{"' + wrap.encode() + b'":['
    bodies = []
    for line in rows_path.read_text().splitlines():
        if line.strip():
            bodies.append(prefix + line.strip().encode() + b"]}")
    if not bodies:
        raise SystemExit(f"{rows_path} holds no rows")
    return bodies


# ---------------------------------------------------------------------------- raw client


def _raw_requests(host: str, port: int, path: str, bodies: list[bytes]) -> list[bytes]:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nAccept: application/json\r\n"
    )
    return [
        (head + f"Content-Length: {len(body)}\r\n\r\n").encode("latin-1") + body for body in bodies
    ]


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 response; return (status, whether the server closes the connection)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    closes = b"\r\nconnection: close" in lower
    at = lower.find(b"\r\ncontent-length:")
    if at >= 0:
        end = lower.index(b"\r\n", at + 2)
        length = int(lower[at + 17 : end])
        if length:
            await reader.readexactly(length)
    elif b"\r\ntransfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    else:  # no length: the body runs to the end of the connection
        await reader.read()
        closes = True
    return status, closes


async def _raw_client(
    index: int, clients: int, host: str, port: int, requests: list[bytes], tally: Tally
) -> None:
    clock = time.perf_counter_ns
    count = len(requests)
    position = index % count
    writer: asyncio.StreamWriter | None = None
    reader: asyncio.StreamReader | None = None
    while not tally.is_stopping:
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(host, port)
            assert reader is not None
            started = clock()
            tally.in_flight += 1
            try:
                writer.write(requests[position])
                status, closes = await _read_answer(reader)
            finally:
                tally.in_flight -= 1
            tally.answered(started, clock(), status)
            position = (position + clients) % count
            if closes:
                writer.close()
                writer = None
        except asyncio.CancelledError:
            raise
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as e:
            tally.failed(clock(), e)
            if writer is not None:
                writer.close()
                writer = None
            await asyncio.sleep(0.01)  # a refused connection must not turn into a busy loop
    if writer is not None:
        writer.close()


# ---------------------------------------------------------------------------- httpx client


def _httpx_clients(
    url: str, clients: int, bodies: list[bytes], tally: Tally, timeout_s: float
) -> tuple[list[asyncio.Task[None]], Callable[[], Awaitable[None]]]:
    """Start the httpx clients; return their tasks and the pool's close."""
    import httpx

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    session = httpx.AsyncClient(limits=limits, timeout=timeout_s)
    headers = {"content-type": "application/json", "accept": "application/json"}

    async def client(index: int) -> None:
        clock = time.perf_counter_ns
        position = index % len(bodies)
        while not tally.is_stopping:
            started = clock()
            tally.in_flight += 1
            try:
                answer = await session.post(url, content=bodies[position], headers=headers)
                tally.answered(started, clock(), answer.status_code)
            except httpx.HTTPError as e:
                tally.failed(clock(), e)
                await asyncio.sleep(0.01)
            finally:
                tally.in_flight -= 1
            position = (position + clients) % len(bodies)

    return [asyncio.create_task(client(i)) for i in range(clients)], session.aclose


# ---------------------------------------------------------------------------- the run


async def run(args: argparse.Namespace, bodies: list[bytes]) -> dict[str, Any]:
    parts = urlsplit(args.url)
    host, port, path = parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/"
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"loopback only: {args.url}")
    start = time.perf_counter_ns()
    window_start = start + int(args.warmup_s * _NS)
    window_end = window_start + int(args.seconds * _NS)
    tally = Tally(window_start_ns=window_start, window_end_ns=window_end)
    close: Callable[[], Awaitable[None]] | None = None
    if args.client == "raw":
        requests = _raw_requests(host, port, path, bodies)
        tasks = [
            asyncio.create_task(_raw_client(i, args.clients, host, port, requests, tally))
            for i in range(args.clients)
        ]
    else:
        tasks, close = _httpx_clients(args.url, args.clients, bodies, tally, args.drain_s)
    await asyncio.sleep(max(0.0, (window_start - time.perf_counter_ns()) / _NS))
    usage_before = resource.getrusage(resource.RUSAGE_SELF)
    completed_at_start = tally.completed
    await asyncio.sleep(max(0.0, (window_end - time.perf_counter_ns()) / _NS))
    usage_after = resource.getrusage(resource.RUSAGE_SELF)
    completed_in_window = tally.completed - completed_at_start
    unfinished_at_end = tally.in_flight
    tally.is_stopping = True
    _, pending = await asyncio.wait(tasks, timeout=args.drain_s)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    if close is not None:
        await close()
    for task in tasks:
        error = None if task.cancelled() else task.exception()
        if error is not None:
            raise error  # a bug in the client: fail loudly
    latencies = np.array(tally.latencies_ns, dtype=np.float64) / 1e6
    client_cpu_s = (usage_after.ru_utime - usage_before.ru_utime) + (
        usage_after.ru_stime - usage_before.ru_stime
    )
    ok = len(latencies)

    def pct(q: float) -> float | None:
        return float(np.percentile(latencies, q)) if ok else None

    return {
        "url": args.url,
        "client": args.client,
        "clients": args.clients,
        "warmup_s": args.warmup_s,
        "window_s": args.seconds,
        "requests_ok": ok,
        "errors": tally.errors,
        "errors_total": tally.errors_total,
        "error_kinds": tally.statuses,
        "error_samples": tally.error_samples,
        "throughput_rps": ok / args.seconds,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": float(latencies.max()) if ok else None,
        "mean_ms": float(latencies.mean()) if ok else None,
        "completed_total": tally.completed,
        "unfinished_at_end": unfinished_at_end,
        "cancelled_after_drain": len(pending),
        "client_cpu_s": client_cpu_s,
        "client_cpu_us_per_request": (
            client_cpu_s / completed_in_window * 1e6 if completed_in_window else None
        ),
        "distinct_bodies": len(bodies),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", required=True, help="http://127.0.0.1:PORT/path (loopback)")
    parser.add_argument("--rows", type=Path, required=True, help="rows, one JSON object a line")
    parser.add_argument("--wrap", default="records", help='body key: {"<wrap>": [row]}')
    parser.add_argument("--clients", type=int, default=64, help="concurrent connections")
    parser.add_argument("--warmup-s", type=float, default=2.0, help="uncounted seconds first")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--drain-s", type=float, default=10.0, help="wait for the last answers")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default="uvloop")
    args = parser.parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.warmup_s < 0 or args.drain_s <= 0:
        parser.error("--clients and --seconds must be positive, --warmup-s not negative")
    bodies = load_bodies(args.rows, args.wrap)
    if args.loop == "uvloop":
        import uvloop

        result = uvloop.run(run(args, bodies))
    else:
        result = asyncio.run(run(args, bodies))
    result["loop"] = args.loop
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
