"""The prediction log: every prediction, appended off the hot path to day-partitioned Parquet.

The server hands each model call's rows to :meth:`PredictionLog.append` (a queue append, never
I/O); a daemon thread writes them in batches under the workspace::

    root/model=<name>/date=YYYY-MM-DD/part-<epoch ms>-<uuid>.parquet

One file holds the rows of one model, one UTC day and one input schema from one flush. Its
columns are ``request_id``, ``time`` (timestamp[ms, UTC]), ``model``, ``version`` (int64),
``digest``, ``latency_ms``, ``feature_fallback``, then the struct columns ``inputs`` (the
features actually used, after enrichment) and ``outputs`` (``prediction``, ``probability``...),
so each model version keeps its own fields and :func:`read_predictions` unifies them by name.

Fields marked PII (per model, or for every model under ``"*"``) never reach the disk raw: the
``hash`` policy writes the hex HMAC-SHA256 of ``str(value)`` under a per-workspace key (so equal
values still join), ``drop`` leaves the field out.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import os
import secrets
import threading
import uuid
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from modelyard.clock import SYSTEM_CLOCK
from modelyard.errors import (
    CorruptArtifactError,
    InvalidInputError,
    InvalidNameError,
    InvalidServingConfigError,
)
from modelyard.ids import check_name
from modelyard.serving.config import PII_POLICIES

# A column of a batch: a list (or any sequence) or a 1-D numpy array (2-D: one list per row).
Values = Sequence[object] | npt.NDArray[np.generic]
PII_KEY_FILE = ".pii_key"
ALL_MODELS = "*"
_KEY_BYTES = 32
_DAY_MS = 86_400_000
_TIME = pa.timestamp("ms", tz="UTC")
BASE_SCHEMA = pa.schema(
    [
        ("request_id", pa.string()),
        ("time", _TIME),
        ("model", pa.string()),
        ("version", pa.int64()),
        ("digest", pa.string()),
        ("latency_ms", pa.float64()),
        ("feature_fallback", pa.bool_()),
    ]
)
STRUCT_COLUMNS = ("inputs", "outputs")
# What a failed write may raise: disk full or permission (OSError), values Arrow cannot
# convert (ArrowException, or the ValueError / TypeError it derives from), a model name that
# cannot name a directory, an unusable PII key file (CorruptArtifactError).
_WRITE_ERRORS = (
    OSError,
    ValueError,
    TypeError,
    pa.ArrowException,
    InvalidNameError,
    CorruptArtifactError,
)


@dataclass(frozen=True, slots=True)
class PredictionBatch:
    """The rows of one model call, columnar: cheap to build on the hot path.

    Attributes:
        model: the registered model's name.
        version: the model version.
        digest: the version's artifact digest.
        request_ids: one request id per row.
        time_ms: when each row was answered, epoch milliseconds (UTC).
        inputs: column name to values: the features the model was given, after enrichment.
        outputs: output name to values (``{"prediction": [...], "probability": [...]}``); a
            2-D numpy array is one list per row.
        latency_ms: each row's latency.
        feature_fallback: whether each row used declared defaults instead of online features.

    Raises:
        InvalidInputError: the columns do not all have one value per request id.
    """

    model: str
    version: int
    digest: str
    request_ids: Sequence[str]
    time_ms: Sequence[int] | npt.NDArray[np.int64]
    inputs: Mapping[str, Values]
    outputs: Mapping[str, Values]
    latency_ms: Sequence[float] | npt.NDArray[np.float64]
    feature_fallback: Sequence[bool] | npt.NDArray[np.bool_]

    def __post_init__(self) -> None:
        rows = len(self.request_ids)
        lengths = {
            len(self.time_ms),
            len(self.latency_ms),
            len(self.feature_fallback),
            *map(len, self.inputs.values()),
            *map(len, self.outputs.values()),
        }
        if lengths != {rows}:  # the names are spelled out only on this (rare) path
            columns: list[tuple[str, Values]] = [
                ("time_ms", self.time_ms),
                ("latency_ms", self.latency_ms),
                ("feature_fallback", self.feature_fallback),
                *((f"inputs.{name}", values) for name, values in self.inputs.items()),
                *((f"outputs.{name}", values) for name, values in self.outputs.items()),
            ]
            name, values = next(item for item in columns if len(item[1]) != rows)
            raise InvalidInputError(
                f'prediction batch of model "{self.model}": {name} has {len(values)} '
                f"values for {rows} request ids"
            )

    @property
    def rows(self) -> int:
        """The number of rows (predictions) in the batch."""
        return len(self.request_ids)


class PredictionLog:
    """Appends prediction batches to Parquet from a background thread.

    ``append`` never blocks on I/O and never raises: beyond ``max_pending_rows`` rows waiting,
    a batch is dropped and counted in ``dropped_rows``; a batch that cannot be written (disk
    full, no permission, values Arrow cannot hold) is counted in ``failed_rows`` and described
    in ``last_error``. Call :meth:`close` at shutdown, or the rows still queued are lost.

    Args:
        root: the log's directory in the workspace.
        pii_policy: ``hash`` or ``drop``.
        pii_fields: model name to the input or output fields that are PII; fields listed under
            ``"*"`` are PII for every model.
        key: the HMAC key for ``hash``; by default read from (or created at) ``root/.pii_key``
            on the first write that needs it.
        flush_rows: rows waiting that wake the writer before its interval.
        flush_interval_s: the writer's period.
        max_pending_rows: the most rows waiting (queued or being written).
        clock_ms: epoch milliseconds, for the part files' names.

    Raises:
        InvalidServingConfigError: an unknown policy, an empty key, or a bound below 1.
    """

    def __init__(
        self,
        root: Path,
        *,
        pii_policy: str = "hash",
        pii_fields: Mapping[str, Collection[str]] | None = None,
        key: bytes | None = None,
        flush_rows: int = 5_000,
        flush_interval_s: float = 1.0,
        max_pending_rows: int = 200_000,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        if pii_policy not in PII_POLICIES:
            raise InvalidServingConfigError(
                "pii_policy", f"{pii_policy!r} is not one of {', '.join(PII_POLICIES)}"
            )
        if key is not None and (not isinstance(key, bytes) or not key):
            raise InvalidServingConfigError("key", "the PII key must be non-empty bytes")
        for field, value in (("flush_rows", flush_rows), ("max_pending_rows", max_pending_rows)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidServingConfigError(field, f"must be an integer >= 1, not {value!r}")
        if not isinstance(flush_interval_s, int | float) or not 0 < flush_interval_s < math.inf:
            raise InvalidServingConfigError(
                "flush_interval_s",
                f"must be a positive number of seconds, not {flush_interval_s!r}",
            )
        self._root = Path(root)
        self._policy = pii_policy
        self._pii = {model: frozenset(fields) for model, fields in (pii_fields or {}).items()}
        self._key = key
        self._flush_rows = flush_rows
        self._interval_s = float(flush_interval_s)
        self._max_pending = max_pending_rows
        self._clock_ms = clock_ms or SYSTEM_CLOCK.time_ms
        # _lock guards the queue and the counters; _write_lock makes one writer at a time, and
        # is taken before _lock so that flush() returns only after earlier writes are done.
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._write_lock = threading.Lock()
        self._queue: deque[PredictionBatch] = deque()
        self._queued_rows = 0
        self._pending_rows = 0
        self._written_rows = 0
        self._dropped_rows = 0
        self._failed_rows = 0
        self._last_error: str | None = None
        self._thread: threading.Thread | None = None
        self._closing = False
        self._closed = False

    @property
    def root(self) -> Path:
        """The log's directory."""
        return self._root

    @property
    def written_rows(self) -> int:
        """Rows written to Parquet."""
        with self._lock:
            return self._written_rows

    @property
    def dropped_rows(self) -> int:
        """Rows refused because too many were waiting (or the log was closed)."""
        with self._lock:
            return self._dropped_rows

    @property
    def failed_rows(self) -> int:
        """Rows that could not be written (see ``last_error``)."""
        with self._lock:
            return self._failed_rows

    @property
    def pending_rows(self) -> int:
        """Rows appended and not yet written (or failed)."""
        with self._lock:
            return self._pending_rows

    @property
    def last_error(self) -> str | None:
        """Why the last failed write failed, or None."""
        with self._lock:
            return self._last_error

    def append(self, batch: PredictionBatch) -> None:
        """Queue a batch for writing; never blocks on I/O, never raises.

        The batch is dropped (and counted in ``dropped_rows``) when the rows waiting would
        exceed ``max_pending_rows``, or once the log is closed. The first append starts the
        writer thread.

        Args:
            batch: the rows of one model call; its sequences must not change afterwards.
        """
        rows = batch.rows
        if not rows:
            return
        with self._lock:
            if self._closing or self._pending_rows + rows > self._max_pending:
                self._dropped_rows += rows
                return
            self._queue.append(batch)
            self._queued_rows += rows
            self._pending_rows += rows
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="modelyard-prediction-log", daemon=True
                )
                self._thread.start()
            elif self._queued_rows >= self._flush_rows:
                self._wake.notify()

    def flush(self) -> None:
        """Write every batch appended so far, now; returns when they are on disk (or failed)."""
        with self._write_lock:
            self._write(self._take())

    def close(self) -> None:
        """Write what is pending and stop the writer thread; later calls do nothing."""
        with self._lock:
            if self._closed:
                return
            self._closed = self._closing = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join()
        self.flush()

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._closing and self._queued_rows < self._flush_rows:
                    self._wake.wait(self._interval_s)
                stopping = self._closing
            self.flush()
            if stopping:
                return

    def _take(self) -> list[PredictionBatch]:
        with self._lock:
            batches = list(self._queue)
            self._queue.clear()
            self._queued_rows = 0
            return batches

    def _write(self, batches: list[PredictionBatch]) -> None:
        if not batches:
            return
        # Batches of one model with the same fields are converted to Arrow together: the cost
        # is per column, not per batch, which keeps the writer's share of the GIL small.
        groups: dict[tuple[str, tuple[str, ...], tuple[str, ...]], list[PredictionBatch]] = {}
        for batch in batches:
            key = (batch.model, tuple(batch.inputs), tuple(batch.outputs))
            groups.setdefault(key, []).append(batch)
        for (model, _, _), members in groups.items():
            for table in self._tables(members):
                self._write_days(model, table)
        with self._lock:
            self._pending_rows -= sum(batch.rows for batch in batches)

    def _tables(self, members: list[PredictionBatch]) -> list[pa.Table]:
        try:
            return [self._table(members)]
        except _WRITE_ERRORS as error:
            if len(members) == 1:
                self._count_failure(members[0].rows, f'model "{members[0].model}": {error}')
                return []
        # One batch spoiled the group (values Arrow cannot hold): the others are still written.
        tables = []
        for batch in members:
            tables.extend(self._tables([batch]))
        return tables

    def _write_days(self, model: str, table: pa.Table) -> None:
        try:
            days = list(_split_by_day(table))
        except _WRITE_ERRORS as error:
            self._count_failure(table.num_rows, f'model "{model}": {error}')
            return
        for day, rows in days:
            try:
                self._write_file(model, day, rows)
            except _WRITE_ERRORS as error:
                self._count_failure(rows.num_rows, f'model "{model}", {day}: {error}')
            else:
                with self._lock:
                    self._written_rows += rows.num_rows

    def _count_failure(self, rows: int, message: str) -> None:
        with self._lock:
            self._failed_rows += rows
            self._last_error = message

    def _table(self, batches: list[PredictionBatch]) -> pa.Table:
        first = batches[0]
        counts = np.fromiter((batch.rows for batch in batches), np.int64, len(batches))
        which = pa.array(np.repeat(np.arange(len(batches)), counts))
        pii = self._pii.get(first.model, frozenset()) | self._pii.get(ALL_MODELS, frozenset())
        columns: dict[str, pa.Array] = {
            "request_id": _joined([batch.request_ids for batch in batches], pa.string()),
            "time": _joined([batch.time_ms for batch in batches], pa.int64()).cast(_TIME),
            "model": pa.array([first.model] * int(counts.sum()), pa.string()),
            "version": pa.array([batch.version for batch in batches], pa.int64()).take(which),
            "digest": pa.array([batch.digest for batch in batches], pa.string()).take(which),
            "latency_ms": _joined([batch.latency_ms for batch in batches], pa.float64()),
            "feature_fallback": _joined([batch.feature_fallback for batch in batches], pa.bool_()),
        }
        for name in STRUCT_COLUMNS:
            fields = [getattr(batch, name) for batch in batches]
            struct = self._struct(fields, pii)
            if struct is not None:  # Parquet cannot hold a struct without fields
                columns[name] = struct
        return pa.table(columns)

    def _struct(
        self, fields: list[Mapping[str, Values]], pii: frozenset[str]
    ) -> pa.StructArray | None:
        names: list[str] = []
        arrays: list[pa.Array] = []
        for name in fields[0]:
            parts = [batch_fields[name] for batch_fields in fields]
            if name in pii:
                if self._policy == "drop":
                    continue
                arrays.append(pa.array(self._hashed(parts), pa.string()))
            else:
                arrays.append(_joined(parts))
            names.append(name)
        if not names:
            return None
        return pa.StructArray.from_arrays(arrays, names=names)

    def _hashed(self, parts: list[Values]) -> list[str | None]:
        key = self._pii_key()
        seen: dict[str, str] = {}  # ids repeat: hash each distinct value once
        hashed: list[str | None] = []
        for part in parts:
            for value in part.tolist() if isinstance(part, np.ndarray) else part:
                if value is None or (isinstance(value, float) and math.isnan(value)):
                    hashed.append(None)
                    continue
                text = str(value)
                digest = seen.get(text)
                if digest is None:
                    digest = seen[text] = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()
                hashed.append(digest)
        return hashed

    def _pii_key(self) -> bytes:
        if self._key is None:
            self._key = _load_or_create_key(self._root / PII_KEY_FILE)
        return self._key

    def _write_file(self, model: str, day: date, table: pa.Table) -> None:
        check_name("model", model)  # it names a directory: no "..", no separators
        folder = self._root / f"model={model}" / f"date={day.isoformat()}"
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{self._clock_ms():013d}-{uuid.uuid4().hex}.parquet"
        temporary = folder / f".{name}.tmp"
        try:
            pq.write_table(table, temporary, compression="zstd")
            os.replace(temporary, folder / name)
        finally:
            temporary.unlink(missing_ok=True)


def read_predictions(
    root: Path,
    *,
    model: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pa.Table:
    """Read the prediction log, oldest first.

    Files of different model versions (different input or output fields) are read together:
    the ``inputs`` and ``outputs`` structs hold the union of their fields, null where a file
    has none; a field whose type widened (int64 to float64) is read as the wider type.

    Args:
        root: the log's directory.
        model: only this model's predictions.
        start: only rows at or after this time (naive means UTC).
        end: only rows before this time (naive means UTC).

    Returns:
        The rows sorted by ``time`` (the columns of the module docstring); empty with the base
        columns and empty structs when nothing matches.

    Raises:
        InvalidNameError: ``model`` is not a valid model name.
        CorruptArtifactError: a file cannot be read, or two files give one field types that
            cannot be unified.
    """
    if model is not None:
        check_name("model", model)
    low, high = _utc(start), _utc(end)
    files = [str(path) for path in _files(Path(root), model, low, high)]
    if not files:
        return _empty_table()
    try:
        schemas = [pq.read_schema(path) for path in files]
        schema = _ordered(pa.unify_schemas(schemas, promote_options="permissive"))
        condition: ds.Expression | None = None
        if low is not None:
            condition = ds.field("time") >= pa.scalar(low, _TIME)
        if high is not None:
            before = ds.field("time") < pa.scalar(high, _TIME)
            condition = before if condition is None else condition & before
        table = ds.dataset(files, schema=schema, format="parquet").to_table(filter=condition)
    except (OSError, pa.ArrowException) as error:
        raise CorruptArtifactError(
            f"the prediction log under {root} cannot be read: {error}; read one model or a "
            "shorter date range, or move the unreadable part files away"
        ) from error
    return table.sort_by([("time", "ascending")])


def _files(
    root: Path, model: str | None, low: datetime | None, high: datetime | None
) -> Iterator[Path]:
    models = [root / f"model={model}"] if model is not None else sorted(root.glob("model=*"))
    first = low.date() if low is not None else None
    last = (high - timedelta(milliseconds=1)).date() if high is not None else None  # exclusive
    for folder in models:
        for day_folder in sorted(folder.glob("date=*")):
            try:
                day = date.fromisoformat(day_folder.name.removeprefix("date="))
            except ValueError:
                continue  # not one of ours
            if (first is not None and day < first) or (last is not None and day > last):
                continue
            yield from sorted(day_folder.glob("part-*.parquet"))


def _ordered(schema: pa.Schema) -> pa.Schema:
    names = [*BASE_SCHEMA.names, *STRUCT_COLUMNS]
    fields = [schema.field(name) for name in names if schema.get_field_index(name) >= 0]
    fields.extend(field for field in schema if field.name not in names)
    return pa.schema(fields)


def _empty_table() -> pa.Table:
    schema = BASE_SCHEMA
    for name in STRUCT_COLUMNS:
        schema = schema.append(pa.field(name, pa.struct([])))
    return schema.empty_table()


def _utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _split_by_day(table: pa.Table) -> Iterator[tuple[date, pa.Table]]:
    epoch_ms = table.column("time").cast(pa.int64()).to_numpy()
    days = epoch_ms // _DAY_MS
    first, last = int(days.min()), int(days.max())
    if first == last:
        yield _day(first), table
        return
    for day in np.unique(days):
        yield _day(int(day)), table.filter(pa.array(days == day))


def _day(index: int) -> date:
    return date(1970, 1, 1) + timedelta(days=index)


def _joined(parts: list[Values], kind: pa.DataType | None = None) -> pa.Array:
    """One Arrow array of the parts' values (one list per row for 2-D numpy parts)."""
    arrays = [part for part in parts if isinstance(part, np.ndarray)]
    if len(arrays) == len(parts):
        try:
            values = np.concatenate(arrays) if len(arrays) > 1 else arrays[0]
        except ValueError:  # mixed dimensions: fall back to Python values
            pass
        else:
            return _from_numpy(values, kind)
    items: list[object] = []
    for part in parts:
        items.extend(part.tolist() if isinstance(part, np.ndarray) else part)
    return pa.array(items, kind)


def _from_numpy(values: npt.NDArray[np.generic], kind: pa.DataType | None) -> pa.Array:
    if values.ndim <= 1:
        return pa.array(values, kind)
    rows = values.reshape(len(values), -1)
    flat = pa.array(np.ascontiguousarray(rows).reshape(-1))
    offsets = pa.array(np.arange(len(rows) + 1, dtype=np.int32) * np.int32(rows.shape[1]))
    return pa.ListArray.from_arrays(offsets, flat)


def _load_or_create_key(path: Path) -> bytes:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as handle:
                handle.write(secrets.token_bytes(_KEY_BYTES))
            # A hard link never replaces an existing file: when several server processes race,
            # the first key wins and every process reads it back.
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)
        key = path.read_bytes()
    if len(key) != _KEY_BYTES:
        raise CorruptArtifactError(
            f"the prediction log's PII key {path} holds {len(key)} bytes, not {_KEY_BYTES}; "
            "restore it (hashes made with another key no longer join) or remove it to start anew"
        )
    return key
