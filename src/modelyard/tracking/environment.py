"""What a run ran on: git commit and dirty flag, Python, packages, host, user, command line."""

from __future__ import annotations

import functools
import getpass
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import platform
import random
import re
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

# Git state is read once per directory and reused for this long: a training loop starting
# hundreds of runs should not fork git three times each.
_GIT_TTL_S = 2.0
_SECRET_ARG = re.compile(
    r"(?i)(--?[\w-]*(?:password|passwd|secret|token|api[_-]?key|credential)[\w-]*[=\s])\S+"
)
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


@dataclass(frozen=True, slots=True)
class GitState:
    """The git repository a run started in."""

    commit: str
    branch: str | None
    is_dirty: bool


@dataclass(frozen=True, slots=True)
class Environment:
    """The interpreter and installed packages, addressed by digest."""

    digest: str
    python_version: str
    platform: str
    packages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RunContext:
    """Everything captured when a run starts."""

    git: GitState | None
    environment: Environment
    host: str
    user: str | None
    command: str


def capture(cwd: Path | None = None) -> RunContext:
    """Capture the context of a run starting now in ``cwd`` (default: the working directory)."""
    directory = (cwd or Path.cwd()).resolve()
    return RunContext(
        git=git_state(directory),
        environment=current_environment(),
        host=socket.gethostname(),
        user=_user(),
        command=redact_command(sys.argv),
    )


def git_state(directory: Path) -> GitState | None:
    """Return the git state of ``directory`` (None outside a repository or without git)."""
    bucket = int(time.monotonic() / _GIT_TTL_S)
    return _git_state_cached(str(directory), bucket)


@functools.lru_cache(maxsize=32)
def _git_state_cached(directory: str, _bucket: int) -> GitState | None:
    commit = _git(directory, "rev-parse", "HEAD")
    if commit is None:
        return None
    branch = _git(directory, "rev-parse", "--abbrev-ref", "HEAD")
    status = _git(directory, "status", "--porcelain", "--untracked-files=no")
    return GitState(
        commit=commit,
        branch=None if branch in (None, "HEAD") else branch,
        is_dirty=bool(status),
    )


def _git(directory: str, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


@functools.lru_cache(maxsize=1)
def current_environment() -> Environment:
    """Return this interpreter's environment (read once per process)."""
    packages = sorted(
        {
            f"{dist.metadata['Name']}=={dist.version}"
            for dist in importlib.metadata.distributions()
            if dist.metadata["Name"]
        },
        key=str.lower,
    )
    python_version = platform.python_version()
    system = platform.platform()
    canonical = json.dumps(
        {"python": python_version, "platform": system, "packages": packages},
        sort_keys=True,
        separators=(",", ":"),
    )
    digest = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    return Environment(digest, python_version, system, tuple(packages))


def redact_command(argv: list[str]) -> str:
    """Join ``argv``, hiding values of password/secret/token arguments and URL passwords."""
    command = " ".join(argv)
    command = _SECRET_ARG.sub(r"\1***", command)
    return _URL_PASSWORD.sub(r"\1***@", command)


def _user() -> str | None:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return os.environ.get("USER") or None


def seed_everything(seed: int) -> list[str]:
    """Seed Python's ``random``, numpy and torch (when installed); return what was seeded."""
    seeded = ["random"]
    random.seed(seed)
    import numpy as np  # a core dependency; imported here to keep module import light

    np.random.seed(seed % 2**32)
    seeded.append("numpy")
    if importlib.util.find_spec("torch") is not None:
        torch = importlib.import_module("torch")
        torch.manual_seed(seed)
        seeded.append("torch")
    return seeded
