"""Clocks: the system clock, and a fixed one that tests and rollouts move by hand."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Where modelyard reads the time."""

    def now(self) -> datetime:
        """Return the current time, timezone-aware in UTC."""
        ...

    def time_ms(self) -> int:
        """Return the current time in milliseconds since the Unix epoch."""
        ...


class SystemClock:
    """The machine's clock."""

    def now(self) -> datetime:
        """Return the current time in UTC."""
        return datetime.now(UTC)

    def time_ms(self) -> int:
        """Return the current time in epoch milliseconds."""
        return time.time_ns() // 1_000_000


class FixedClock:
    """A clock that stands still until told to move."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        """Return the fixed time."""
        with self._lock:
            return self._now

    def time_ms(self) -> int:
        """Return the fixed time in epoch milliseconds."""
        return to_ms(self.now())

    def advance(self, *, seconds: float = 0, ms: int = 0) -> datetime:
        """Move the clock forward and return the new time."""
        with self._lock:
            self._now += timedelta(seconds=seconds, milliseconds=ms)
            return self._now


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)


def to_ms(moment: datetime) -> int:
    """Return epoch milliseconds of a timezone-aware datetime."""
    # Integer arithmetic: going through a float timestamp loses a millisecond for some dates.
    if moment.tzinfo is None:
        moment = moment.astimezone()  # as datetime.timestamp(): naive means local time
    return (moment - _EPOCH) // _ONE_MS


def from_ms(epoch_ms: int) -> datetime:
    """Return the UTC datetime of epoch milliseconds."""
    return _EPOCH + timedelta(milliseconds=epoch_ms)


SYSTEM_CLOCK = SystemClock()
