"""A small HTTP load generator for the demo, run in its own process so that the client does not
share an interpreter (and its lock) with the server it measures.

    python -m modelyard.workflows.loadgen URL BODIES.jsonl --clients 32

Each of ``--clients`` keep-alive connections sends one request at a time (a closed loop) until
every body of ``BODIES.jsonl`` (one JSON request body per line) has been sent once. Prints one
JSON line: the statuses, the latency percentiles in milliseconds and the seconds taken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np


async def _client(
    host: str,
    port: int,
    path: str,
    bodies: list[bytes],
    statuses: dict[int, int],
    latencies: list[float],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while bodies:
            body = bodies.pop()
            request = (
                f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
            ).encode() + body
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000.0)
            statuses[status] = statuses.get(status, 0) + 1
    finally:
        writer.close()


async def run_load(url: str, bodies: list[bytes], clients: int) -> dict[str, object]:
    """Send every body once over ``clients`` keep-alive connections; return what was seen."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    statuses: dict[int, int] = {}
    latencies: list[float] = []
    pending = list(reversed(bodies))
    started = time.perf_counter()
    await asyncio.gather(
        *(
            _client(host, port, parts.path, pending, statuses, latencies)
            for _ in range(min(clients, len(bodies)))
        )
    )
    seconds = time.perf_counter() - started
    percentiles = {f"p{q}": float(np.percentile(latencies, q)) for q in (50, 90, 99)}
    return {
        "statuses": {str(code): count for code, count in statuses.items()},
        "latency_ms": percentiles,
        "seconds": seconds,
        "requests": len(latencies),
    }


def main(argv: list[str] | None = None) -> None:
    """Run from the command line (see the module docstring)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("bodies", type=Path)
    parser.add_argument("--clients", type=int, default=32)
    args = parser.parse_args(argv)
    bodies = [line.encode() for line in args.bodies.read_text().splitlines() if line.strip()]
    try:
        import uvloop

        result = uvloop.run(run_load(args.url, bodies, args.clients))
    except ImportError:
        result = asyncio.run(run_load(args.url, bodies, args.clients))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
