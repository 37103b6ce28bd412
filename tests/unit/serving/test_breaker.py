"""The circuit breaker: transitions on a fake clock, a state machine against a model, threads."""

from __future__ import annotations

import threading

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from modelyard.errors import InvalidServingConfigError
from modelyard.serving.breaker import BreakerState, CircuitBreaker

CLOSED, OPEN, HALF_OPEN = BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN


class FakeClock:
    """Monotonic seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _breaker(
    clock: FakeClock, failures: int = 3, reset_s: float = 5.0
) -> tuple[CircuitBreaker, list[tuple[BreakerState, BreakerState]]]:
    changes: list[tuple[BreakerState, BreakerState]] = []
    breaker = CircuitBreaker(
        failures=failures,
        reset_s=reset_s,
        clock=clock,
        on_change=lambda old, new: changes.append((old, new)),
    )
    return breaker, changes


def test_consecutive_failures_open_it_and_a_success_resets_the_count() -> None:
    clock = FakeClock()
    breaker, changes = _breaker(clock)
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()
    assert (breaker.failures, breaker.state) == (0, CLOSED)
    for _ in range(3):
        assert breaker.allow() is True
        breaker.record_failure()
    assert (breaker.state, breaker.failures, breaker.opened_count) == (OPEN, 3, 1)
    assert breaker.allow() is False
    assert changes == [(CLOSED, OPEN)]


def test_after_reset_s_one_trial_passes_and_its_success_closes_it() -> None:
    clock = FakeClock()
    breaker, changes = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 4.999
    assert (breaker.state, breaker.allow()) == (OPEN, False)
    clock.now += 0.001
    assert breaker.state is HALF_OPEN
    assert breaker.allow() is True
    assert breaker.allow() is False  # one trial at a time
    breaker.record_success()
    assert (breaker.state, breaker.failures, breaker.allow()) == (CLOSED, 0, True)
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, CLOSED)]


def test_a_failed_trial_opens_it_again_for_another_reset_s() -> None:
    clock = FakeClock()
    breaker, changes = _breaker(clock)
    for _ in range(3):
        breaker.record_failure()
    clock.now += 5.0
    assert breaker.allow() is True
    clock.now += 1.0
    breaker.record_failure()
    assert (breaker.state, breaker.opened_count, breaker.failures) == (OPEN, 2, 4)
    clock.now += 4.5
    assert breaker.allow() is False  # reset_s counts from the re-opening
    clock.now += 0.5
    assert breaker.allow() is True
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN), (HALF_OPEN, OPEN), (OPEN, HALF_OPEN)]


def test_a_trial_that_never_reports_is_given_up_after_reset_s() -> None:
    clock = FakeClock()
    breaker, _ = _breaker(clock, failures=1)
    breaker.record_failure()
    clock.now += 5.0
    assert breaker.allow() is True  # this trial's task is cancelled: it never reports
    clock.now += 5.0
    assert breaker.allow() is False
    clock.now += 0.001
    assert breaker.allow() is True
    assert breaker.state is HALF_OPEN


def test_reports_no_admitted_call_explains_are_ignored() -> None:
    clock = FakeClock()
    breaker, changes = _breaker(clock, failures=1)
    breaker.record_failure()
    breaker.record_success()  # a slow call allowed while closed, answering late
    breaker.record_failure()
    assert (breaker.state, breaker.opened_count, breaker.failures) == (OPEN, 1, 1)
    clock.now += 5.0
    breaker.record_success()  # half-open, but no trial was allowed yet
    assert breaker.state is HALF_OPEN
    assert changes == [(CLOSED, OPEN), (OPEN, HALF_OPEN)]


def test_on_change_may_read_the_breaker() -> None:
    seen: list[BreakerState] = []
    breaker: CircuitBreaker | None = None

    def on_change(old: BreakerState, new: BreakerState) -> None:
        assert breaker is not None
        seen.append(breaker.state)

    breaker = CircuitBreaker(failures=1, on_change=on_change)
    breaker.record_failure()
    assert seen == [OPEN]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"failures": 0}, "failures"),
        ({"failures": True}, "failures"),
        ({"reset_s": -1.0}, "reset_s"),
        ({"reset_s": float("inf")}, "reset_s"),
        ({"reset_s": float("nan")}, "reset_s"),
    ],
)
def test_bad_settings_are_refused(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidServingConfigError, match=f"serving config {field}: must be") as info:
        CircuitBreaker(**arguments)  # type: ignore[arg-type]  # the point is the wrong values
    assert info.value.field == field


def test_only_one_half_open_trial_among_many_threads() -> None:
    clock = FakeClock()
    breaker, _ = _breaker(clock, failures=1)
    breaker.record_failure()
    clock.now += 5.0
    threads_n = 32
    barrier = threading.Barrier(threads_n)
    admitted: list[bool] = []
    lock = threading.Lock()

    def call() -> None:
        barrier.wait()
        allowed = [breaker.allow() for _ in range(50)]
        with lock:
            admitted.extend(allowed)

    threads = [threading.Thread(target=call) for _ in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert admitted.count(True) == 1
    assert len(admitted) == threads_n * 50


class BreakerMachine(RuleBasedStateMachine):
    """The breaker against a reference model of its rules, written as plainly as possible."""

    @initialize(failures=st.integers(1, 4), reset_s=st.sampled_from([0.5, 1.0, 3.0]))
    def start(self, failures: int, reset_s: float) -> None:
        self.clock = FakeClock()
        self.changes: list[tuple[BreakerState, BreakerState]] = []
        self.breaker = CircuitBreaker(
            failures=failures,
            reset_s=reset_s,
            clock=self.clock,
            on_change=lambda old, new: self.changes.append((old, new)),
        )
        self.threshold, self.reset_s = failures, reset_s
        self.model_state = CLOSED
        self.model_failures = 0
        self.model_opened = 0
        self.opened_at = 0.0
        self.trial_at: float | None = None
        self.model_changes: list[tuple[BreakerState, BreakerState]] = []

    def _move(self, new: BreakerState) -> None:
        self.model_changes.append((self.model_state, new))
        self.model_state = new

    def _tick(self) -> None:
        if self.model_state is OPEN and self.clock.now - self.opened_at >= self.reset_s:
            self.trial_at = None
            self._move(HALF_OPEN)

    def _open(self) -> None:
        self.opened_at = self.clock.now
        self.model_opened += 1
        self._move(OPEN)

    @rule(seconds=st.sampled_from([0.0, 0.25, 0.5, 1.0, 2.5]))
    def wait(self, seconds: float) -> None:
        self.clock.now += seconds

    @rule()
    def allow(self) -> None:
        self._tick()
        if self.model_state is CLOSED:
            expected = True
        elif self.model_state is OPEN:
            expected = False
        elif self.trial_at is None or self.clock.now - self.trial_at > self.reset_s:
            self.trial_at = self.clock.now
            expected = True
        else:
            expected = False
        assert self.breaker.allow() is expected

    @rule()
    def succeed(self) -> None:
        self._tick()
        if self.model_state is CLOSED:
            self.model_failures = 0
        elif self.model_state is HALF_OPEN and self.trial_at is not None:
            self.model_failures = 0
            self.trial_at = None
            self._move(CLOSED)
        self.breaker.record_success()

    @rule()
    def fail(self) -> None:
        self._tick()
        if self.model_state is CLOSED:
            self.model_failures += 1
            if self.model_failures >= self.threshold:
                self._open()
        elif self.model_state is HALF_OPEN and self.trial_at is not None:
            self.model_failures += 1
            self.trial_at = None
            self._open()
        self.breaker.record_failure()

    @invariant()
    def agrees_with_the_model(self) -> None:
        self._tick()
        assert self.breaker.state is self.model_state
        assert self.breaker.failures == self.model_failures
        assert self.breaker.opened_count == self.model_opened
        assert self.changes == self.model_changes


BreakerMachine.TestCase.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)
test_breaker_follows_its_rules = BreakerMachine.TestCase
