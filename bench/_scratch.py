"""Scratch directories for benchmarks: under bench/.work/ (git-ignored), removed afterwards."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

WORK_DIR = Path(__file__).resolve().parent / ".work"


@contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """Yield a fresh directory under bench/.work/, removed afterwards."""
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=WORK_DIR))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
