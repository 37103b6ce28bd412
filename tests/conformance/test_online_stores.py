"""The online store conformance suite: every backend must pass every test here.

Backends: SQLite in a file under ``tmp_path``, and the real Redis server (``redis_url``) under a
key prefix of its own, removed after the test. ``Backend`` also gives the test a way around the
store: a fresh store on the same data (a new connection), a way to plant a foreign value, and a
way to make the write of one key fail.
"""

from __future__ import annotations

import math
import socket
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.errors import (
    CorruptOnlineRowError,
    FeaturePushRejectedError,
    InvalidEntityFrameError,
    InvalidNameError,
    OnlineStoreUnavailableError,
)
from modelyard.features.online import (
    OnlineRow,
    OnlineStore,
    SqliteOnlineStore,
    encode_key,
    open_online_store,
)
from modelyard.features.online.redis import RedisOnlineStore

# Small chunks, so that every Redis test crosses chunk boundaries.
CHUNK_ROWS = 7


@dataclass
class Backend:
    """A store under test, and ways around it to reopen, damage and break what it stores."""

    name: str
    store: OnlineStore
    reopen: Callable[[], OnlineStore]
    plant: Callable[[str, tuple[object, ...], bytes], None]
    break_key: Callable[[str, tuple[object, ...]], None]


def _sqlite_backend(path: Path) -> Backend:
    def raw() -> sqlite3.Connection:
        return sqlite3.connect(path, isolation_level=None)

    def plant(view: str, key: tuple[object, ...], data: bytes) -> None:
        with raw() as connection:
            connection.execute(
                f'UPDATE "online_{view}" SET payload = ? WHERE entity_key = ?',
                (data, encode_key(key)),
            )
        connection.close()

    def break_key(view: str, key: tuple[object, ...]) -> None:
        connection = raw()
        connection.execute(
            f'CREATE TRIGGER "fail_{view}" BEFORE INSERT ON "online_{view}" '
            f"WHEN NEW.entity_key = x'{encode_key(key).hex()}' "
            "BEGIN SELECT RAISE(ABORT, 'planted failure'); END"
        )
        connection.close()

    return Backend(
        "sqlite", SqliteOnlineStore(path), lambda: SqliteOnlineStore(path), plant, break_key
    )


def _redis_backend(url: str, prefix: str, client: redis.Redis) -> Backend:
    def name(view: str, key: tuple[object, ...]) -> bytes:
        return f"{prefix}:{view}:".encode() + encode_key(key)

    def plant(view: str, key: tuple[object, ...], data: bytes) -> None:
        client.set(name(view, key), data)

    def break_key(view: str, key: tuple[object, ...]) -> None:
        client.delete(name(view, key))
        client.hset(name(view, key), "planted", "a hash where a string belongs")

    def reopen() -> OnlineStore:
        return RedisOnlineStore(url, prefix, chunk_rows=CHUNK_ROWS)

    return Backend("redis", reopen(), reopen, plant, break_key)


@pytest.fixture(params=["sqlite", "redis"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """An empty store of each backend, closed (and for Redis, emptied) after the test."""
    if request.param == "sqlite":
        chosen = _sqlite_backend(tmp_path / "online.db")
        yield chosen
        chosen.store.close()
        return
    url: str = request.getfixturevalue("redis_url")
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(url)
    chosen = _redis_backend(url, prefix, client)
    try:
        yield chosen
    finally:
        chosen.store.close()
        leftover = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if leftover:
            client.delete(*leftover)
        client.close()


@pytest.fixture
def store(backend: Backend) -> OnlineStore:
    return backend.store


def _values(**columns: list[object] | pa.Array) -> pa.Table:
    return pa.table(columns)


# ----------------------------------------------------------------------------- round trips


def test_written_rows_read_back_over_a_fresh_connection(backend: Backend) -> None:
    values = pa.table(
        {
            "amount_sum_24h": pa.array([12.5, math.inf, None], pa.float64()),
            "tx_count": pa.array([3, -(2**63), None], pa.int64()),
            "country": pa.array(["DE", "", None], pa.string()),
            "is_blocked": pa.array([False, True, None], pa.bool_()),
            "last_seen": pa.array(
                [
                    datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
                    None,
                    datetime(1969, 12, 31, tzinfo=UTC),
                ],
                pa.timestamp("us", "UTC"),
            ),
            "signup": pa.array([date(2020, 2, 29), None, date(1, 1, 1)], pa.date32()),
            "token": pa.array([b"\x00\xff", b"", None], pa.binary()),
        }
    )

    written = backend.store.write("customer_stats", [(1,), (2,), (3,)], [100, 200, 300], values)

    assert written == 3
    fresh = backend.reopen()
    try:
        rows = fresh.read("customer_stats", [(3,), (1,), (2,)])
    finally:
        fresh.close()
    assert rows == [
        OnlineRow(
            300,
            {
                "amount_sum_24h": None,
                "tx_count": None,
                "country": None,
                "is_blocked": None,
                "last_seen": datetime(1969, 12, 31, tzinfo=UTC),
                "signup": date(1, 1, 1),
                "token": None,
            },
        ),
        OnlineRow(
            100,
            {
                "amount_sum_24h": 12.5,
                "tx_count": 3,
                "country": "DE",
                "is_blocked": False,
                "last_seen": datetime(2024, 5, 1, 12, 30, tzinfo=UTC),
                "signup": date(2020, 2, 29),
                "token": b"\x00\xff",
            },
        ),
        OnlineRow(
            200,
            {
                "amount_sum_24h": math.inf,
                "tx_count": -(2**63),
                "country": "",
                "is_blocked": True,
                "last_seen": None,
                "signup": None,
                "token": b"",
            },
        ),
    ]


def test_nan_reads_back_as_nan(store: OnlineStore) -> None:
    store.write("v", [("a",)], [1], _values(score=[math.nan]))

    (row,) = store.read("v", [("a",)])

    assert row is not None
    assert math.isnan(row.values["score"])  # type: ignore[arg-type]


def test_missing_keys_read_as_none_in_key_order(store: OnlineStore) -> None:
    store.write("v", [(1,), (3,)], [10, 30], _values(x=[1, 3]))

    rows = store.read("v", [(0,), (3,), (2,), (1,), (3,)])

    assert rows == [None, OnlineRow(30, {"x": 3}), None, OnlineRow(10, {"x": 1}), rows[1]]
    assert store.read("v", []) == []
    assert store.read("never_written", [(1,), (2,)]) == [None, None]


def test_composite_keys_are_typed_and_do_not_run_together(store: OnlineStore) -> None:
    keys: list[tuple[object, ...]] = [("eu", 7), ("eu", "7"), ("eu7",), ("e", "u7"), (1,), ("1",)]
    keys += [(True,), (b"1",), ("eu", 7, 0)]
    store.write("v", keys, list(range(len(keys))), _values(position=list(range(len(keys)))))

    rows = store.read("v", keys)

    assert [row.values["position"] if row else None for row in rows] == list(range(len(keys)))
    assert store.read("v", [("eu", 8), (7, "eu"), ("eu",)]) == [None, None, None]


def test_numpy_keys_match_python_keys(store: OnlineStore) -> None:
    store.write("v", [(np.int64(5), np.bool_(True))], [1], _values(x=[1]))

    assert store.read("v", [(5, True)]) == [OnlineRow(1, {"x": 1})]


def test_write_of_no_rows_stores_nothing(store: OnlineStore) -> None:
    assert store.write("v", [], [], _values(x=pa.array([], pa.int64()))) == 0
    assert store.read("v", [(1,)]) == [None]


# ----------------------------------------------------------------------------- event time


def test_late_data_does_not_overwrite_newer_values(store: OnlineStore) -> None:
    store.write("v", [(1,), (2,)], [1_000, 1_000], _values(x=[10, 20]))

    written = store.write("v", [(1,), (2,)], [999, 1_001], _values(x=[11, 21]))

    assert written == 1
    assert store.read("v", [(1,), (2,)]) == [
        OnlineRow(1_000, {"x": 10}),
        OnlineRow(1_001, {"x": 21}),
    ]


def test_a_row_of_the_same_event_time_replaces_the_stored_one(store: OnlineStore) -> None:
    store.write("v", [(1,)], [1_000], _values(x=[10]))

    assert store.write("v", [(1,)], [1_000], _values(x=[12])) == 1
    assert store.read("v", [(1,)]) == [OnlineRow(1_000, {"x": 12})]


def test_a_key_written_twice_in_one_call_keeps_the_newest_row(store: OnlineStore) -> None:
    keys: list[tuple[object, ...]] = [(1,), (2,), (1,), (2,), (1,)]
    written = store.write("v", keys, [5, 7, 9, 7, 3], _values(x=[1, 2, 3, 4, 5]))

    assert written == 2
    assert store.read("v", [(1,), (2,)]) == [OnlineRow(9, {"x": 3}), OnlineRow(7, {"x": 4})]


def test_new_columns_replace_the_whole_row(store: OnlineStore) -> None:
    store.write("v", [(1,)], [1], _values(x=[1], y=["a"]))
    store.write("v", [(1,)], [2], _values(z=[2.5]))

    assert store.read("v", [(1,)]) == [OnlineRow(2, {"z": 2.5})]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    writes=st.lists(
        st.lists(st.tuples(st.integers(0, 5), st.integers(-3, 3)), max_size=12),
        min_size=1,
        max_size=4,
    )
)
def test_reads_match_a_reference_after_any_writes(
    store: OnlineStore, writes: list[list[tuple[int, int]]]
) -> None:
    view = f"v{uuid.uuid4().hex[:8]}"
    expected: dict[int, tuple[int, int]] = {}
    serial = 0
    for call in writes:
        rows = []
        for key, event in call:
            serial += 1
            rows.append((key, event, serial))
            if key not in expected or event >= expected[key][0]:
                expected[key] = (event, serial)
        store.write(
            view,
            [(key,) for key, _, _ in rows],
            [event for _, event, _ in rows],
            _values(serial=pa.array([s for _, _, s in rows], pa.int64())),
        )

    read = store.read(view, [(key,) for key in range(6)])

    assert read == [
        OnlineRow(expected[key][0], {"serial": expected[key][1]}) if key in expected else None
        for key in range(6)
    ]
    store.delete_view(view)


# ----------------------------------------------------------------------------- views


def test_views_are_isolated(store: OnlineStore) -> None:
    store.write("clicks", [(1,)], [1], _values(x=[1]))
    store.write("clicks.v2", [(1,)], [2], _values(x=[2]))

    assert store.read("clicks", [(1,)]) == [OnlineRow(1, {"x": 1})]
    assert store.read("clicks.v2", [(1,)]) == [OnlineRow(2, {"x": 2})]
    assert store.read("click", [(1,)]) == [None]


def test_delete_view_removes_only_that_view(store: OnlineStore) -> None:
    keys = [(n,) for n in range(20)]
    store.write("a", keys, [1] * 20, _values(x=list(range(20))))
    store.write("a_b", keys, [1] * 20, _values(x=list(range(20))))

    store.delete_view("a")

    assert store.read("a", keys) == [None] * 20
    assert store.read("a_b", [(19,)]) == [OnlineRow(1, {"x": 19})]
    # Old event times are welcome again once the view is gone.
    assert store.write("a", [(1,)], [0], _values(x=[5])) == 1
    store.delete_view("never_written")


def test_a_view_deleted_through_another_store_is_gone_for_both(backend: Backend) -> None:
    backend.store.write("v", [(1,)], [5], _values(x=[1]))
    other = backend.reopen()
    try:
        other.delete_view("v")

        assert backend.store.read("v", [(1,)]) == [None]
        assert backend.store.write("v", [(1,)], [1], _values(x=[2])) == 1
        assert other.read("v", [(1,)]) == [OnlineRow(1, {"x": 2})]
    finally:
        other.close()


def test_bad_view_names_are_refused(store: OnlineStore) -> None:
    for view in ["", "a:b", "a b", "-a", "x" * 201, 'a"b']:
        with pytest.raises(InvalidNameError, match="feature view name"):
            store.read(view, [(1,)])
        with pytest.raises(InvalidNameError, match="feature view name"):
            store.write(view, [(1,)], [1], _values(x=[1]))
        with pytest.raises(InvalidNameError, match="feature view name"):
            store.delete_view(view)


# ----------------------------------------------------------------------------- bad input


def test_bad_keys_are_refused_and_nothing_is_written(store: OnlineStore) -> None:
    for bad in [None, 1.5, [1], datetime(2024, 1, 1)]:
        with pytest.raises(InvalidEntityFrameError, match="cannot be a join key value"):
            store.write("v", [(1,), (bad,)], [1, 1], _values(x=[1, 2]))
        with pytest.raises(InvalidEntityFrameError, match="entity key"):
            store.read("v", [(bad,)])

    assert store.read("v", [(1,)]) == [None]


def test_lengths_that_differ_are_refused(store: OnlineStore) -> None:
    with pytest.raises(FeaturePushRejectedError, match="2 keys, 1 event times and 2 rows") as info:
        store.write("v", [(1,), (2,)], [1], _values(x=[1, 2]))

    assert info.value.view == "v"
    assert store.read("v", [(1,), (2,)]) == [None, None]


def test_unsupported_column_types_are_refused_by_name(store: OnlineStore) -> None:
    values = _values(
        ok=[1], embedding=pa.array([[0.1, 0.2]]), price=pa.array([1], pa.decimal128(5, 2))
    )

    with pytest.raises(
        FeaturePushRejectedError, match='"embedding" has type list<item: double>'
    ) as info:
        store.write("v", [(1,)], [1], values)

    assert len(info.value.problems) == 2
    assert '"price" has type decimal128(5, 2)' in info.value.problems[1]
    assert store.read("v", [(1,)]) == [None]


def test_a_failure_partway_through_a_write_leaves_nothing_written(backend: Backend) -> None:
    store = backend.store
    store.write("v", [(0,)], [1], _values(x=[0]))
    backend.break_key("v", (5,))
    # Within one chunk for Redis: a write of at most chunk_rows entities is all-or-nothing.
    keys = [(n,) for n in range(CHUNK_ROWS)]

    with pytest.raises(OnlineStoreUnavailableError, match=r"nothing was written"):
        store.write("v", keys, [2] * len(keys), _values(x=[n + 100 for n in range(len(keys))]))

    assert store.read("v", [(0,), (1,), (6,)]) == [OnlineRow(1, {"x": 0}), None, None]


def test_an_unreadable_stored_row_is_reported(backend: Backend) -> None:
    backend.store.write("v", [(1,)], [1], _values(x=[1]))
    backend.plant("v", (1,), b"not a packed row")

    with pytest.raises(CorruptOnlineRowError, match='stored row of view "v" in the online store'):
        backend.store.read("v", [(1,)])


# ----------------------------------------------------------------------------- concurrency


def test_concurrent_writers_end_with_the_newest_row_per_key(backend: Backend) -> None:
    keys: list[tuple[object, ...]] = [(n,) for n in range(60)]
    writers = 4
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        store = backend.reopen()
        try:
            for round_ in range(5):
                # Each writer's event times rise and fall, so late data arrives all the time.
                events = [(n * 7 + writer * 13 + round_ * 29) % 50 for n in range(len(keys))]
                store.write("v", keys, events, _values(writer=[writer] * len(keys), event=events))
        except BaseException as exc:  # handed to the main thread, which fails the test
            errors.append(exc)
        finally:
            store.close()

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    rows = backend.store.read("v", keys)
    for n, row in enumerate(rows):
        newest = max(
            (n * 7 + writer * 13 + round_ * 29) % 50
            for writer in range(writers)
            for round_ in range(5)
        )
        assert row is not None
        assert row.event_ms == newest
        assert row.values["event"] == newest


def test_one_store_can_be_shared_by_threads(store: OnlineStore) -> None:
    errors: list[BaseException] = []

    def write(writer: int) -> None:
        try:
            for n in range(10):
                store.write("v", [(writer, n)], [n], _values(x=[n]))
                assert store.read("v", [(writer, n)]) == [OnlineRow(n, {"x": n})]
        except BaseException as exc:  # handed to the main thread, which fails the test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(writer,)) for writer in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []


# ----------------------------------------------------------------------------- unreachable


def test_an_unreachable_store_is_reported_with_its_url(backend: Backend, tmp_path: Path) -> None:
    if backend.name == "redis":
        store: OnlineStore = RedisOnlineStore("redis://:s3cret@127.0.0.1:1/0", timeout_s=1)
        url = "redis://:***@127.0.0.1:1/0"
    else:
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        store = SqliteOnlineStore(blocker / "online.db")
        url = f"sqlite:///{blocker / 'online.db'}"

    assert store.url == url
    for attempt in (
        lambda: store.write("v", [(1,)], [1], _values(x=[1])),
        lambda: store.read("v", [(1,)]),
        lambda: store.delete_view("v"),
    ):
        with pytest.raises(
            OnlineStoreUnavailableError, match="cannot use the online store"
        ) as info:
            attempt()
        assert info.value.url == url
        assert "s3cret" not in str(info.value)
    store.close()


def test_a_redis_server_that_does_not_answer_times_out() -> None:
    # A socket that accepts connections (the kernel's backlog) and never replies.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        store = RedisOnlineStore(f"redis://127.0.0.1:{port}/0", timeout_s=0.2, retries=0)

        with pytest.raises(OnlineStoreUnavailableError, match="Timeout") as info:
            store.read("v", [(1,)])

        assert info.value.url == f"redis://127.0.0.1:{port}/0"
        store.close()


# ----------------------------------------------------------------------------- redis chunks


def test_a_redis_write_larger_than_a_chunk_is_atomic_per_chunk(redis_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:12]}"
    client = redis.Redis.from_url(redis_url)
    backend = _redis_backend(redis_url, prefix, client)
    store = backend.store
    keys: list[tuple[object, ...]] = [(n,) for n in range(3 * CHUNK_ROWS)]
    try:
        # Keys go to chunks in order: the second chunk holds a key that makes its script fail.
        backend.break_key("v", keys[CHUNK_ROWS + 1])
        with pytest.raises(OnlineStoreUnavailableError, match="1 of 3 write chunks") as info:
            store.write("v", keys, [5] * len(keys), _values(x=list(range(len(keys)))))

        assert "WRONGTYPE" in info.value.reason
        assert info.value.written == 14
        assert "14 entities were written before the failure" in str(info.value)
        rows = store.read("v", keys)
        assert [row is not None for row in rows] == (
            [True] * CHUNK_ROWS + [False] * CHUNK_ROWS + [True] * CHUNK_ROWS
        )
        # Writing the same rows again, once the key is repaired, completes the write.
        client.delete(f"{prefix}:v:".encode() + encode_key(keys[CHUNK_ROWS + 1]))
        assert store.write("v", keys, [5] * len(keys), _values(x=list(range(len(keys))))) == 21
        assert [row.values["x"] if row else None for row in store.read("v", keys)] == list(
            range(len(keys))
        )
    finally:
        store.close()
        leftover = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        if leftover:
            client.delete(*leftover)
        client.close()


# ----------------------------------------------------------------------------- opening


def test_open_online_store_picks_the_backend(tmp_path: Path) -> None:
    by_url = open_online_store(f"sqlite:///{tmp_path}/a.db")
    by_path = open_online_store(str(tmp_path / "b.db"))
    by_pathlib = open_online_store(tmp_path / "c.db")
    by_redis = open_online_store("redis://:pw@127.0.0.1:6379/2", prefix="team")

    assert isinstance(by_url, SqliteOnlineStore)
    assert by_url.url == f"sqlite:///{tmp_path}/a.db"
    assert isinstance(by_path, SqliteOnlineStore)
    assert by_path.url == f"sqlite:///{tmp_path}/b.db"
    assert isinstance(by_pathlib, SqliteOnlineStore)
    assert isinstance(by_redis, RedisOnlineStore)
    assert (by_redis.url, by_redis.prefix) == ("redis://:***@127.0.0.1:6379/2", "team")
    # Opening connects to nothing: no file exists yet.
    assert list(tmp_path.iterdir()) == []


def test_open_online_store_refuses_unknown_schemes() -> None:
    with pytest.raises(OnlineStoreUnavailableError, match='unknown scheme "ftp"') as info:
        open_online_store("ftp://user:pw@host/x")

    assert info.value.url == "ftp://user:***@host/x"


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite:///:memory:"])
def test_open_online_store_needs_a_sqlite_file(url: str) -> None:
    with pytest.raises(OnlineStoreUnavailableError, match="needs a file"):
        open_online_store(url)
