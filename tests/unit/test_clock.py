"""Tests of modelyard/clock.py: the fixed clock, the system clock and epoch-millisecond helpers."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.clock import SYSTEM_CLOCK, Clock, FixedClock, SystemClock, from_ms, to_ms

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
START = datetime(2026, 1, 1, tzinfo=UTC)
START_MS = 1_767_225_600_000


def test_fixed_clock_starts_on_new_year_2026_utc() -> None:
    clock = FixedClock()

    assert clock.now() == START
    assert clock.now().tzinfo is UTC
    assert clock.time_ms() == START_MS


def test_fixed_clock_stands_still_until_advanced() -> None:
    clock = FixedClock()

    assert [clock.now() for _ in range(3)] == [START, START, START]


def test_fixed_clock_takes_a_naive_start_as_utc() -> None:
    clock = FixedClock(datetime(2025, 6, 1, 12, 30))

    assert clock.now() == datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_fixed_clock_keeps_an_aware_start_in_its_zone() -> None:
    plus_two = timezone(timedelta(hours=2))
    clock = FixedClock(datetime(2025, 6, 1, 14, 30, tzinfo=plus_two))

    assert clock.now() == datetime(2025, 6, 1, 12, 30, tzinfo=UTC)
    assert clock.time_ms() == to_ms(datetime(2025, 6, 1, 12, 30, tzinfo=UTC))


def test_advance_moves_by_seconds_and_milliseconds_and_returns_the_new_time() -> None:
    clock = FixedClock()

    assert clock.advance(seconds=1.5) == START + timedelta(seconds=1.5)
    assert clock.advance(ms=250) == START + timedelta(seconds=1.75)
    assert clock.advance(seconds=60, ms=1) == START + timedelta(seconds=61.751)
    assert clock.time_ms() == START_MS + 61_751


def test_advance_from_many_threads_loses_no_step() -> None:
    clock = FixedClock()

    def step() -> None:
        for _ in range(500):
            clock.advance(ms=1)

    threads = [threading.Thread(target=step) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert clock.time_ms() == START_MS + 4_000


def test_both_clocks_satisfy_the_protocol_and_the_system_clock_is_utc() -> None:
    clocks: list[Clock] = [FixedClock(), SystemClock(), SYSTEM_CLOCK]

    assert isinstance(SYSTEM_CLOCK, SystemClock)
    assert SYSTEM_CLOCK.now().tzinfo is UTC
    assert all(isinstance(clock.time_ms(), int) for clock in clocks)


@pytest.mark.parametrize(
    ("moment", "epoch_ms"),
    [
        (EPOCH, 0),
        (START, START_MS),
        (START + timedelta(milliseconds=1), START_MS + 1),
        (START + timedelta(microseconds=999), START_MS),
        (datetime(2026, 1, 1, 2, tzinfo=timezone(timedelta(hours=2))), START_MS),
        (datetime(2038, 9, 27, 22, 45, 23, 857000, tzinfo=UTC), 2_169_240_323_857),
        (datetime(1978, 9, 8, 7, 20, 59, 715000, tzinfo=UTC), 274_087_259_715),
    ],
)
def test_to_ms(moment: datetime, epoch_ms: int) -> None:
    assert to_ms(moment) == epoch_ms


@pytest.mark.parametrize(
    ("epoch_ms", "moment"),
    [
        (0, EPOCH),
        (START_MS + 1, START + timedelta(milliseconds=1)),
        (-1, EPOCH - timedelta(milliseconds=1)),
        (8_789_921_859_859, datetime(2248, 7, 17, 4, 57, 39, 859000, tzinfo=UTC)),
    ],
)
def test_from_ms(epoch_ms: int, moment: datetime) -> None:
    assert from_ms(epoch_ms) == moment
    assert from_ms(epoch_ms).tzinfo is UTC


@given(epoch_ms=st.integers(min_value=-(10**12), max_value=10**13))
@settings(max_examples=300, derandomize=True, deadline=None)
def test_epoch_milliseconds_round_trip_exactly(epoch_ms: int) -> None:
    assert to_ms(from_ms(epoch_ms)) == epoch_ms
    assert from_ms(epoch_ms) == EPOCH + timedelta(milliseconds=epoch_ms)
