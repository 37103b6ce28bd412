"""A circuit breaker (closed / open / half-open) that guards a slow or failing backend.

The server wraps each online-store lookup in one::

    if not breaker.allow():
        ...  # fall back (or reject) at once: the store is known to be failing
    try:
        row = await store.read(...)
    except OnlineStoreUnavailableError:
        breaker.record_failure()
        ...
    else:
        breaker.record_success()

The rules:

- ``closed``: every call is allowed; ``failures`` consecutive failures open the circuit.
- ``open``: no call is allowed until ``reset_s`` seconds have passed since it opened; then the
  breaker reports ``half_open``.
- ``half_open``: exactly one trial call is allowed at a time. Its success closes the circuit;
  its failure opens it again (and ``reset_s`` starts over). A trial that has not reported
  more than ``reset_s`` after it was allowed (its task was cancelled) is given up, and another
  trial is allowed.
- A report that no admitted call can explain (a slow call allowed while closed that finishes
  after the circuit opened) is ignored: it says nothing about the backend now.

Every method is a few attribute reads under one lock, so it is cheap enough for the event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from enum import StrEnum

from modelyard.errors import InvalidServingConfigError


class BreakerState(StrEnum):
    """Where a circuit breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stop calling a backend that keeps failing, and probe it again after a pause.

    Thread-safe. ``on_change(old, new)`` is called on each transition, in order, while the
    breaker's (re-entrant) lock is held: it may read the breaker but must be quick (a
    Prometheus gauge update) and must not raise. The move from open to half-open is noticed
    when the breaker is next used (``state``, ``allow``, or a report), not by a timer.

    Args:
        failures: consecutive failures that open the circuit (at least 1).
        reset_s: seconds an open circuit waits before it allows a trial call (at least 0).
        clock: monotonic seconds; tests pass a fake one.
        on_change: called with the old and the new state on each transition.

    Raises:
        InvalidServingConfigError: ``failures`` is below 1 or ``reset_s`` is negative or not
            finite.
    """

    def __init__(
        self,
        *,
        failures: int = 5,
        reset_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        if isinstance(failures, bool) or not isinstance(failures, int) or failures < 1:
            raise InvalidServingConfigError(
                "failures", f"must be an integer >= 1, not {failures!r}"
            )
        if not isinstance(reset_s, int | float) or not 0 <= reset_s < float("inf"):
            raise InvalidServingConfigError(
                "reset_s", f"must be a finite number >= 0, not {reset_s!r}"
            )
        self._threshold = failures
        self._reset_s = float(reset_s)
        self._clock = clock
        self._on_change = on_change
        # Re-entrant so that on_change may read `state` without deadlocking.
        self._lock = threading.RLock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_count = 0
        self._opened_at = 0.0
        self._trial_at: float | None = None  # when the half-open trial was admitted

    @property
    def state(self) -> BreakerState:
        """The current state; an open breaker whose ``reset_s`` has passed is half-open."""
        with self._lock:
            self._refresh(self._clock())
            return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures counted since the last success."""
        with self._lock:
            return self._failures

    @property
    def opened_count(self) -> int:
        """How many times the circuit has opened (re-opening after a failed trial counts)."""
        with self._lock:
            return self._opened_count

    def allow(self) -> bool:
        """Return whether a call may go to the backend now.

        Closed: always. Open: never. Half-open: for one trial call at a time; the others are
        refused until the trial reports (or ``reset_s`` passes without a report).

        Returns:
            True when the caller may make the call (and must then report its outcome).
        """
        with self._lock:
            now = self._clock()
            self._refresh(now)
            if self._state is BreakerState.CLOSED:
                return True
            if self._state is BreakerState.OPEN:
                return False
            if self._trial_at is not None and now - self._trial_at <= self._reset_s:
                return False
            self._trial_at = now
            return True

    def record_success(self) -> None:
        """Report a successful call: reset the failure count; a half-open trial closes it."""
        with self._lock:
            self._refresh(self._clock())
            if self._state is BreakerState.CLOSED:
                self._failures = 0
            elif self._state is BreakerState.HALF_OPEN and self._trial_at is not None:
                self._failures = 0
                self._trial_at = None
                self._move(BreakerState.CLOSED)

    def record_failure(self) -> None:
        """Report a failed call: count it; enough in a row, or a failed trial, open the circuit."""
        with self._lock:
            now = self._clock()
            self._refresh(now)
            if self._state is BreakerState.CLOSED:
                self._failures += 1
                if self._failures >= self._threshold:
                    self._open(now)
            elif self._state is BreakerState.HALF_OPEN and self._trial_at is not None:
                self._failures += 1
                self._trial_at = None
                self._open(now)

    def _refresh(self, now: float) -> None:
        if self._state is BreakerState.OPEN and now - self._opened_at >= self._reset_s:
            self._trial_at = None
            self._move(BreakerState.HALF_OPEN)

    def _open(self, now: float) -> None:
        self._opened_at = now
        self._opened_count += 1
        self._move(BreakerState.OPEN)

    def _move(self, new: BreakerState) -> None:
        old, self._state = self._state, new
        if self._on_change is not None:
            self._on_change(old, new)
