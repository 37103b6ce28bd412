"""The embedded online store: a SQLite file of its own (WAL), one table per feature view."""

from __future__ import annotations

import sqlite3
import struct
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import pyarrow as pa

from modelyard.errors import CorruptOnlineRowError, OnlineStoreUnavailableError
from modelyard.features.online.codec import encode_keys, pack_rows, unpack_rows
from modelyard.features.online.store import (
    EntityKey,
    OnlineRow,
    check_view_name,
    check_write_shape,
    newest_per_key,
)

# SQLite limits the number of ? parameters in one statement (32766 since 3.32, 999 before).
_READ_CHUNK = 900
_TABLE_PREFIX = "online_"


class SqliteOnlineStore:
    """An :class:`~modelyard.features.online.store.OnlineStore` in a local SQLite file.

    One connection, shared by the threads of a process under a lock; several processes may
    use the same file (SQLite serialises their writes, waiting up to ``busy_timeout_s``).

    Args:
        path: the database file; created with its parent directory on first use.
        busy_timeout_s: how long a write waits for another writer before giving up.
    """

    def __init__(self, path: str | Path, *, busy_timeout_s: float = 10.0) -> None:
        self.path = Path(path).expanduser()
        self.busy_timeout_s = busy_timeout_s
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None

    @property
    def url(self) -> str:
        """``sqlite:///`` and the absolute path of the file."""
        return f"sqlite:///{self.path.absolute()}"

    def write(
        self,
        view: str,
        keys: Sequence[EntityKey],
        event_ms: Sequence[int],
        values: pa.Table,
    ) -> int:
        """Upsert one row per entity in one transaction; see ``OnlineStore.write``.

        Raises:
            InvalidNameError: ``view`` is not a valid view name.
            InvalidEntityFrameError: a key holds a value that cannot be a join key.
            FeaturePushRejectedError: the lengths differ, or a column has an unsupported type.
            OnlineStoreUnavailableError: the file cannot be opened or written.
        """
        table = _table(check_view_name(view))
        check_write_shape(view, keys, event_ms, values)
        encoded = encode_keys(keys)
        blobs = pack_rows(view, event_ms, values)
        rows = [(encoded[i], int(event_ms[i]), blobs[i]) for i in newest_per_key(encoded, event_ms)]
        if not rows:
            return 0
        with self._transaction("IMMEDIATE") as connection:
            # Not cached: another store on the same file may have dropped the table since.
            connection.execute(
                f"CREATE TABLE IF NOT EXISTS {table} (entity_key BLOB PRIMARY KEY, "
                "event_ms INTEGER NOT NULL, payload BLOB NOT NULL) WITHOUT ROWID"
            )
            # The WHERE keeps late data out: an older event never replaces a newer one.
            cursor = connection.executemany(
                f"INSERT INTO {table} (entity_key, event_ms, payload) VALUES (?, ?, ?) "
                "ON CONFLICT (entity_key) DO UPDATE SET event_ms = excluded.event_ms, "
                f"payload = excluded.payload WHERE excluded.event_ms >= {table}.event_ms",
                rows,
            )
            return cursor.rowcount

    def read(self, view: str, keys: Sequence[EntityKey]) -> list[OnlineRow | None]:
        """Return the stored row of each key, in key order; see ``OnlineStore.read``.

        Raises:
            InvalidNameError: ``view`` is not a valid view name.
            InvalidEntityFrameError: a key holds a value that cannot be a join key.
            OnlineStoreUnavailableError: the file cannot be read.
            CorruptOnlineRowError: a stored row cannot be decoded.
        """
        table = _table(check_view_name(view))
        encoded = encode_keys(keys)
        found: dict[bytes, bytes] = {}
        # One read transaction: the chunks of a long key list see the same snapshot.
        with self._transaction("DEFERRED") as connection:
            try:
                for start in range(0, len(encoded), _READ_CHUNK):
                    chunk = encoded[start : start + _READ_CHUNK]
                    marks = ", ".join("?" * len(chunk))
                    found.update(
                        connection.execute(
                            f"SELECT entity_key, payload FROM {table} "
                            f"WHERE entity_key IN ({marks})",
                            chunk,
                        ).fetchall()
                    )
            except sqlite3.OperationalError as exc:
                if not str(exc).startswith("no such table"):
                    raise
                # The view was never written (or was deleted): no rows.
        try:
            return unpack_rows([found.get(key) for key in encoded])
        except (ValueError, KeyError, struct.error) as exc:
            raise CorruptOnlineRowError(self.url, view, str(exc)) from exc

    def delete_view(self, view: str) -> None:
        """Drop the table of ``view``; see ``OnlineStore.delete_view``.

        Raises:
            InvalidNameError: ``view`` is not a valid view name.
            OnlineStoreUnavailableError: the file cannot be written.
        """
        table = _table(check_view_name(view))
        with self._transaction("IMMEDIATE") as connection:
            connection.execute(f"DROP TABLE IF EXISTS {table}")

    def close(self) -> None:
        """Close the connection (a later call opens a new one)."""
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    # ------------------------------------------------------------------------- plumbing

    @contextmanager
    def _connected(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                if self._connection is None:
                    self._connection = self._connect()
                yield self._connection
            except (sqlite3.Error, OSError) as exc:
                raise OnlineStoreUnavailableError(self.url, str(exc)) from exc

    @contextmanager
    def _transaction(self, mode: Literal["DEFERRED", "IMMEDIATE"]) -> Iterator[sqlite3.Connection]:
        with self._connected() as connection:
            # Writers BEGIN IMMEDIATE: taking the write lock up front, two writers never
            # deadlock upgrading a read lock.
            connection.execute(f"BEGIN {mode}")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException as exc:
                # Also after a failed COMMIT, which leaves the transaction open.
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                if mode == "IMMEDIATE" and isinstance(exc, sqlite3.Error | OSError):
                    # A write rolled back whole.
                    raise OnlineStoreUnavailableError(self.url, str(exc), written=0) from exc
                raise

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout_s,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            _use_wal(connection)
            connection.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error:
            connection.close()
            raise
        return connection


def _use_wal(connection: sqlite3.Connection) -> None:
    """Put the file in WAL mode once. Changing the journal mode needs the file to itself and
    SQLite does not wait for that (no busy handler): a store opened while another writes got
    "database is locked". The mode is kept in the file, so a connection finding WAL is done,
    and one that must switch retries for a moment."""
    (mode,) = connection.execute("PRAGMA journal_mode").fetchone()
    if str(mode).lower() == "wal":
        return
    for attempt in range(_WAL_ATTEMPTS):
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _WAL_ATTEMPTS - 1:
                raise
            time.sleep(0.02)


_WAL_ATTEMPTS = 250  # 5 s


def _table(view: str) -> str:
    """The quoted table name of a view; check_view_name leaves nothing that needs escaping."""
    return f'"{_TABLE_PREFIX}{view}"'
