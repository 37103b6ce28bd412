"""A real model server on a loopback port for the serving tests (uvicorn in a thread), and a
private redis-server process that a test may stop and start again."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI

from modelyard.api.background import serve_in_background


@contextmanager
def live_server(app: FastAPI, *, wait_ready: bool = True) -> Iterator[str]:
    """Serve ``app`` on a free loopback port; yield its base URL (ready unless told not to)."""
    with serve_in_background(app, wait_ready=wait_ready) as base:
        yield base


def metric(text: str, series: str) -> float:
    """The value of one series (``name{label="…",…}`` as written) in a ``/metrics`` answer."""
    match = re.search(rf"^{re.escape(series)} (\S+)$", text, re.MULTILINE)
    assert match is not None, f"{series} not in /metrics"
    return float(match.group(1))


def free_port() -> int:
    """A TCP port free on the loopback address right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PrivateRedis:
    """A redis-server of the test's own on a loopback port, which the test may stop."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.directory = directory
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """Its URL."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start it and wait until it answers."""
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.fail("redis-server is not installed")
        self._process = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        pytest.fail(f"redis-server on port {self.port} did not start")

    def stop(self) -> None:
        """Stop it (connections are refused afterwards)."""
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=10)
            self._process = None
