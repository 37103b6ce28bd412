"""The prediction cache: canonical row keys (equal exactly when the rows are), LRU, hit ratio."""

from __future__ import annotations

import datetime as dt
import math
import threading

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import InvalidServingConfigError
from modelyard.serving.cache import PredictionCache, canonical_key

# ---------------------------------------------------------------- canonical keys


def _identity(value: object) -> object:
    """What makes two values the same under canonical_key's documented rules."""
    if isinstance(value, np.ndarray):
        return ("seq", tuple(_identity(item) for item in value.tolist()))
    if isinstance(value, np.generic):
        return _identity(value.item())
    if value is None:
        return ("none",)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, int):
        return ("int", value)
    if isinstance(value, float):
        if math.isnan(value):
            return ("float", "nan")
        return ("float", value, math.copysign(1.0, value))  # -0.0 and 0.0 differ
    if isinstance(value, str):
        return ("str", value)
    if isinstance(value, list | tuple):
        return ("seq", tuple(_identity(item) for item in value))
    return ("object", type(value).__qualname__, repr(value))


# Small pools so that hypothesis draws equal and nearly equal values often.
TRICKY = st.sampled_from(
    [
        None,
        0,
        1,
        -1,
        0.0,
        -0.0,
        1.0,
        float("nan"),
        -float("nan"),
        float("inf"),
        -float("inf"),
        True,
        False,
        "",
        "0",
        "1",
        "1.0",
        "nan",
        "null",
        "None",
        "True",
        '"1"',
        "[1]",
        2**64,
        2**64 - 1,
        -(2**63),
        np.float64(1.0),
        np.float32(0.5),
        np.float32("nan"),
        np.int64(1),
        np.uint8(0),
        np.bool_(True),
        dt.date(2026, 1, 1),
        "2026-01-01",
    ]
)
SCALARS = (
    TRICKY
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.integers()
    | st.text(max_size=6)
    | st.booleans()
    | st.none()
)
VALUES = SCALARS | st.lists(SCALARS, max_size=3) | st.tuples(SCALARS, SCALARS)
ROWS = st.lists(VALUES, min_size=1, max_size=4)


def _same(first: list[object], second: list[object]) -> bool:
    return [_identity(value) for value in first] == [_identity(value) for value in second]


@given(st.lists(ROWS, min_size=2, max_size=8))
def test_keys_are_equal_exactly_when_the_rows_are(rows: list[list[object]]) -> None:
    for first in rows:
        for second in rows:
            assert (canonical_key(first) == canonical_key(second)) is _same(first, second)


@given(ROWS)
def test_the_key_does_not_depend_on_the_sequence_type(row: list[object]) -> None:
    key = canonical_key(row)
    assert canonical_key(tuple(row)) == key
    assert canonical_key(iter(row)) == key  # type: ignore[arg-type]  # any iterable works


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (None, float("nan")),
        (None, 0),
        (float("nan"), 0.0),
        ("1", 1),
        (True, 1),
        (1, 1.0),
        (float("inf"), None),
        ("null", None),
        ("nan", float("nan")),
        (dt.date(2026, 1, 1), "2026-01-01"),
        ([1, 2], "[1, 2]"),
    ],
)
def test_rows_that_differ_by_the_rules_get_different_keys(first: object, second: object) -> None:
    assert canonical_key([first, "x"]) != canonical_key([second, "x"])


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (float("nan"), -float("nan")),
        (float("nan"), np.float32("nan")),
        (np.float32(0.5), 0.5),
        (np.int64(7), 7),
        (np.bool_(False), False),
        (np.array([1.5, 2.5]), [1.5, 2.5]),
        ((1, "a"), [1, "a"]),
    ],
)
def test_equal_values_of_other_representations_get_one_key(first: object, second: object) -> None:
    assert canonical_key([first, 3]) == canonical_key([second, 3])


def test_the_key_of_a_plain_row_is_its_compact_json() -> None:
    assert canonical_key([1.5, "DE", None, 3, True]) == b'[1.5,"DE",null,3,true]'
    assert canonical_key(np.array([1.0, 2.0])) == b"[1.0,2.0]"


# ---------------------------------------------------------------- the cache


def test_the_least_recently_used_entry_is_evicted() -> None:
    cache = PredictionCache(3)
    for key in (b"a", b"b", b"c"):
        cache.put(key, key.upper())
    assert cache.get(b"a") == b"A"  # a is now the most recent: b is the oldest
    cache.put(b"d", b"D")
    assert (cache.get(b"b"), cache.get(b"c"), cache.get(b"a"), cache.get(b"d")) == (
        None,
        b"C",
        b"A",
        b"D",
    )
    cache.put(b"c", b"C2")  # an update refreshes too: a is the oldest now
    cache.put(b"e", b"E")
    assert cache.get(b"a") is None
    assert (cache.get(b"c"), cache.size) == (b"C2", 3)


def test_hits_misses_and_hit_ratio() -> None:
    cache = PredictionCache(2)
    assert (cache.hits, cache.misses, cache.hit_ratio, cache.size) == (0, 0, 0.0, 0)
    cache.put(b"k", 1)
    assert cache.get(b"k") == 1
    assert cache.get(b"other") is None
    assert cache.get(b"k") == 1
    assert cache.get(b"k") == 1
    assert (cache.hits, cache.misses, cache.hit_ratio) == (3, 1, 0.75)
    cache.clear()
    assert (cache.size, cache.get(b"k"), cache.hits, cache.misses) == (0, None, 3, 2)


@pytest.mark.parametrize("capacity", [0, -1, True, 1.5])
def test_a_capacity_below_one_is_refused(capacity: object) -> None:
    with pytest.raises(InvalidServingConfigError, match="cache_size: must be an integer >= 1"):
        PredictionCache(capacity)  # type: ignore[arg-type]  # the point is the wrong value


def test_threads_share_one_cache_without_losing_counts() -> None:
    cache = PredictionCache(64)
    threads_n, calls = 8, 500
    barrier = threading.Barrier(threads_n)

    def work(worker: int) -> None:
        barrier.wait()
        for call in range(calls):
            key = canonical_key([worker, call % 100])
            if cache.get(key) is None:
                cache.put(key, (worker, call % 100))

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert cache.hits + cache.misses == threads_n * calls
    assert cache.size == 64
