"""Servers of bench/serving.py: start one as a subprocess, wait for readiness, check, stop.

Every server runs in its own process group (``start_new_session``); leaving ``running`` sends
SIGTERM to the whole group (uvicorn workers, BentoML's arbiter), waits, SIGKILLs whatever is
left, then ends any descendant that had left the group (BentoML's workers call setsid), whatever
happened inside the block.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_CLK_TCK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ServerSpec:
    """How to start, probe and talk to one server.

    Attributes:
        key: short name (``modelyard_batched``, ``mlflow`` …).
        label: the line in the report.
        command: argv; run with ``cwd`` and ``env`` added to this process's environment.
        ready_path: answers 200 once the server is warm.
        predict_path: where the 1-row requests go.
        wrap: the body key: ``{"<wrap>": [row]}``.
        startup_timeout_s: how long readiness may take.
    """

    key: str
    label: str
    command: list[str]
    ready_path: str
    predict_path: str
    wrap: str = "records"
    cwd: Path | None = None
    env: dict[str, str] = field(default_factory=dict)
    startup_timeout_s: float = 120.0


@dataclass
class Server:
    """A started server."""

    spec: ServerSpec
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    startup_s: float = 0.0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def predict_url(self) -> str:
        return self.base + self.spec.predict_path

    def cpu_seconds(self) -> float:
        """CPU time (user + system) of the server process and every live descendant."""
        table = _processes()
        pids = {self.process.pid, *_descendants(self.process.pid, table)}
        return sum(table[pid].cpu_ticks for pid in pids if pid in table) / _CLK_TCK

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


@dataclass(frozen=True)
class _Process:
    ppid: int
    start_ticks: int  # since boot: tells a process from a later one with the same pid
    cpu_ticks: int


def _processes() -> dict[int, _Process]:
    """Every live process: parent, start time and CPU time (from /proc/PID/stat)."""
    table = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # fields[0] is stat field 3 (state): ppid is field 4, utime/stime 14/15, starttime 22.
        table[int(entry.name)] = _Process(
            int(fields[1]), int(fields[19]), int(fields[11]) + int(fields[12])
        )
    return table


def _descendants(pid: int, table: dict[int, _Process]) -> list[int]:
    children: dict[int, list[int]] = {}
    for child, info in table.items():
        children.setdefault(info.ppid, []).append(child)
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children.get(child, []))
    return found


class ServerFailed(Exception):
    """A server did not start, did not become ready or answered wrongly."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, timeout_s: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def post_json(url: str, body: bytes, timeout_s: float = 30.0) -> tuple[int, Any]:
    """POST ``body`` as JSON; return the status and the decoded answer (or its text)."""
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            status, text = int(answer.status), answer.read()
    except urllib.error.HTTPError as error:
        status, text = int(error.code), error.read()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text.decode(errors="replace")[:500]


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the server's process group, then any descendant that left it (BentoML's workers
    run in sessions of their own)."""
    table = _processes()
    family = {pid: table[pid].start_ticks for pid in _descendants(process.pid, table)}
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=15)
    # Whatever is left in the group (a worker that ignored SIGTERM) goes now.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    deadline = time.monotonic() + 5
    while True:
        table = _processes()
        alive = [
            pid for pid, start in family.items() if pid in table and table[pid].start_ticks == start
        ]
        if not alive or time.monotonic() > deadline + 5:
            return
        for pid in alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM if time.monotonic() < deadline else signal.SIGKILL)
        time.sleep(0.2)


@contextlib.contextmanager
def running(spec: ServerSpec, port: int, logdir: Path) -> Iterator[Server]:
    """Start ``spec`` on ``port``, yield it once ready, and always stop its process group."""
    log = logdir / f"{spec.key}-{port}.log"
    env = dict(os.environ, **spec.env)
    started = time.perf_counter()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            spec.command,
            cwd=spec.cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = Server(spec, port, process, log)
    try:
        ready_url = server.base + spec.ready_path
        deadline = started + spec.startup_timeout_s
        while True:
            if process.poll() is not None:
                raise ServerFailed(
                    f"{spec.label} exited with status {process.returncode} before it was ready:"
                    f"\n{server.log_tail()}"
                )
            try:
                if _get(ready_url) == 200:
                    break
            except (OSError, urllib.error.URLError):
                pass
            if time.perf_counter() > deadline:
                raise ServerFailed(
                    f"{spec.label} not ready after {spec.startup_timeout_s:.0f} s:"
                    f"\n{server.log_tail()}"
                )
            time.sleep(0.2)
        server.startup_s = time.perf_counter() - started
        yield server
    finally:
        _stop(process)
