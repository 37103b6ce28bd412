"""A model server on a free loopback port in a background thread (the demo, notebooks, tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from modelyard.errors import ModelNotReadyError

READY_TIMEOUT_S = 120.0


@contextmanager
def serve_in_background(
    app: FastAPI, *, host: str = "127.0.0.1", port: int = 0, wait_ready: bool = True
) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a daemon thread; yield its base URL, stop it on exit.

    Args:
        app: the app (``create_app(runtime)``).
        host: the address (loopback by default).
        port: the port (0: a free one).
        wait_ready: wait until ``/readyz`` answers 200 before yielding.

    Raises:
        ModelNotReadyError: the server did not start, or did not turn ready in time.
    """
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="modelyard-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + READY_TIMEOUT_S
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise ModelNotReadyError(["the server did not start"])
            time.sleep(0.01)
        bound = server.servers[0].sockets[0].getsockname()[1]
        base = f"http://{host}:{bound}"
        if wait_ready:
            _wait_ready(base, deadline)
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _wait_ready(base: str, deadline: float) -> None:
    last = ""
    while time.monotonic() < deadline:
        answer = httpx.get(f"{base}/readyz")
        if answer.status_code == 200:
            return
        last = answer.text
        if "loading failed" in last:
            break
        time.sleep(0.05)
    raise ModelNotReadyError([f"{base} did not turn ready: {last}"])
