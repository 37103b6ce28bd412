"""Metric ingest: log calls return at once; a background writer stores points in batches.

Points wait in an in-process queue and are written, many per transaction, when the writer wakes:
every ``metrics_flush_interval_s`` (1 s by default), as soon as ``metrics_batch_size`` points
are waiting, on ``flush()``, when a run ends, and at interpreter exit. A caller that outpaces the
database is slowed down, never allowed to grow the queue past ``metrics_max_buffer``.

What a hard crash can lose: a process killed without running its exit handlers (SIGKILL, a
power cut, ``os._exit``) loses the points logged since the last write, at most about one flush
interval's worth; everything a returned ``flush()`` or a finished run acknowledged is committed.
"""

from __future__ import annotations

import atexit
import sys
import threading
import weakref
from collections import deque
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.sql.dml import Insert

from modelyard.clock import from_ms
from modelyard.errors import ModelyardError
from modelyard.metastore import Metastore
from modelyard.metastore.tables import latest_metrics, metrics
from modelyard.metastore.upsert import upsert

# (run_id, key, step, timestamp_ms, value)
Point = tuple[str, str, int, int, float]

_INSERT_SQLITE = (
    "INSERT INTO metrics (run_id, key, step, timestamp_ms, value) VALUES (?, ?, ?, ?, ?)"
)
_COPY_POSTGRES = "COPY metrics (run_id, key, step, timestamp_ms, value) FROM STDIN"
_RETRY_S = 1.0


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One stored point of a metric's history."""

    step: int
    timestamp: datetime
    value: float


class MetricWriter:
    """The batched, background metric writer of one workspace in one process."""

    def __init__(
        self,
        metastore: Metastore,
        *,
        flush_interval_s: float,
        batch_size: int,
        max_buffer: int,
    ) -> None:
        self._db = metastore
        self._interval_s = flush_interval_s
        self._batch_size = batch_size
        self._max_buffer = max_buffer
        self._queue: deque[Point] = deque()
        self._drain_lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.last_error: ModelyardError | None = None
        _LIVE_WRITERS.add(self)

    @property
    def pending(self) -> int:
        """Points accepted and not yet written."""
        return len(self._queue)

    def append(self, point: Point) -> None:
        """Queue one point (the hot path: an append and a length check)."""
        queue = self._queue
        queue.append(point)
        if len(queue) >= self._batch_size:
            if self._thread is None:
                self._start()
            self._wake.set()
            if len(queue) > self._max_buffer:
                self.flush()
        elif self._thread is None:
            self._start()

    def extend(self, points: list[Point]) -> None:
        """Queue several points."""
        self._queue.extend(points)
        if self._thread is None:
            self._start()
        if len(self._queue) >= self._batch_size:
            self._wake.set()
            if len(self._queue) > self._max_buffer:
                self.flush()

    def flush(self) -> None:
        """Write every point queued so far; return once they are committed.

        Raises:
            DatabaseUnavailableError: the database cannot be written; the points stay queued
                and are written by a later flush.
        """
        with self._drain_lock:
            self._drain()

    def close(self) -> None:
        """Write what is queued and stop the background thread."""
        self._closed = True
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)
        self.flush()
        _LIVE_WRITERS.discard(self)

    def _start(self) -> None:
        with self._start_lock:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._loop, name="modelyard-metric-writer", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        while not self._closed:
            self._wake.wait(self._interval_s)
            self._wake.clear()
            try:
                with self._drain_lock:
                    self._drain()
                self.last_error = None
            except ModelyardError as error:
                # Points stay queued; flush() or the next wake-up retries and reports.
                self.last_error = error
                self._wake.wait(_RETRY_S)

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            take = min(len(queue), self._batch_size)
            batch = [queue.popleft() for _ in range(take)]
            try:
                self._write(batch)
            except BaseException:
                queue.extendleft(reversed(batch))
                raise

    def _write(self, batch: list[Point]) -> None:
        # NaN is stored as NULL (SQLite cannot hold NaN in a REAL); NaN != NaN finds it.
        rows = [(r, k, s, t, v if v == v else None) for (r, k, s, t, v) in batch]
        latest: dict[tuple[str, str], tuple[str, str, int, int, float | None]] = {}
        for row in rows:
            key = (row[0], row[1])
            seen = latest.get(key)
            if seen is None or (row[2], row[3]) >= (seen[2], seen[3]):
                latest[key] = row
        newest = [
            {"run_id": r, "key": k, "step": s, "timestamp_ms": t, "value": v}
            for (r, k, s, t, v) in latest.values()
        ]
        with self._db.write() as conn:
            if self._db.dialect == "postgresql":
                cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
                with cursor.copy(_COPY_POSTGRES) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                conn.exec_driver_sql(_INSERT_SQLITE, rows)
            conn.execute(_latest_upsert(self._db.dialect), newest)


def _latest_upsert(dialect: str) -> Insert:
    return upsert(
        dialect,
        latest_metrics,
        ["run_id", "key"],
        ["step", "timestamp_ms", "value"],
        where=lambda new: or_(
            new.step > latest_metrics.c.step,
            and_(
                new.step == latest_metrics.c.step,
                new.timestamp_ms >= latest_metrics.c.timestamp_ms,
            ),
        ),
    )


def metric_history(metastore: Metastore, run_id: str, key: str) -> list[MetricPoint]:
    """Return every stored point of one metric of one run, by step then time."""
    query = (
        select(metrics.c.step, metrics.c.timestamp_ms, metrics.c.value)
        .where(metrics.c.run_id == run_id, metrics.c.key == key)
        .order_by(metrics.c.step, metrics.c.timestamp_ms)
    )
    with metastore.read() as conn:
        return [
            MetricPoint(
                int(step), from_ms(int(ts)), float("nan") if value is None else float(value)
            )
            for step, ts, value in conn.execute(query)
        ]


_LIVE_WRITERS: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for writer in list(_LIVE_WRITERS):
        try:
            writer.close()
        except ModelyardError as error:
            print(
                f"modelyard: {writer.pending} metric points could not be written at exit: {error}",
                file=sys.stderr,
            )
