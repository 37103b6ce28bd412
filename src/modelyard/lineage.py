"""The context through which lower layers report the inputs that the current run reads.

A dataset read or a feature retrieval cannot import tracking (it sits earlier in the flow), so it
calls :func:`report_input`; tracking installs a recorder for the duration of a run with
:func:`recording`. Outside a run the report goes nowhere.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LineageInput:
    """One input a run read: a dataset version, a feature-view version, a model version."""

    kind: str
    name: str
    version: str
    digest: str | None = None
    details: Mapping[str, str] = field(default_factory=dict)


class LineageRecorder(Protocol):
    """Receives the inputs read while it is installed."""

    @property
    def run_id(self) -> str:
        """The id of the run that records, so that writers can name their creator."""
        ...

    def record_input(self, item: LineageInput) -> None:
        """Record that the current run read ``item``."""
        ...


_current: ContextVar[LineageRecorder | None] = ContextVar("modelyard_lineage", default=None)


def report_input(item: LineageInput) -> bool:
    """Report an input to the recorder of the current run; return whether one listened."""
    recorder = _current.get()
    if recorder is None:
        return False
    recorder.record_input(item)
    return True


def current_run_id() -> str | None:
    """Return the id of the run recording in this context, if any (a dataset's creator)."""
    recorder = _current.get()
    return None if recorder is None else recorder.run_id


def current_recorder() -> LineageRecorder | None:
    """Return the recorder installed in this context, if any."""
    return _current.get()


@contextmanager
def recording(recorder: LineageRecorder) -> Iterator[LineageRecorder]:
    """Install ``recorder`` for the duration of the block."""
    token = _current.set(recorder)
    try:
        yield recorder
    finally:
        _current.reset(token)
