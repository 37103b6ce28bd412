"""Running the ``modelyard`` CLI in-process from tests: exit code, stdout and stderr.

The ``cli`` fixture is registered through tests/conftest.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from modelyard.cli.app import main


@dataclass(frozen=True)
class Result:
    """What one ``modelyard`` invocation did."""

    code: int | str | None
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


Cli = Callable[..., Result]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    """Run ``modelyard ARGS...`` in-process; return its exit code, stdout and stderr."""

    def run(*args: str | Path) -> Result:
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main([str(arg) for arg in args])
        out, err = capsys.readouterr()
        return Result(exited.value.code, out, err)

    return run
