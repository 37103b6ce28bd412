"""Engine and transactions: SQLite in WAL mode with IMMEDIATE writers, or PostgreSQL."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.engine import URL

from modelyard.errors import DatabaseUnavailableError, InvalidSettingError
from modelyard.settings import Settings, redact_url

_WRITE = "modelyard_write"
_STATS_CHECK_S = 60.0
_STATS_MIN_ROWS = 1_000


class Metastore:
    """The metadata database of a workspace.

    Use :meth:`read` for a consistent snapshot and :meth:`write` for a transaction that
    changes rows. On SQLite a writer takes the write lock when it begins (``BEGIN IMMEDIATE``)
    and waits up to the busy timeout for it, so concurrent processes queue instead of failing
    with "database is locked" half-way through a transaction.
    """

    def __init__(self, engine: Engine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.dialect = engine.dialect.name
        self._stats_checked_at = -_STATS_CHECK_S

    @property
    def redacted_url(self) -> str:
        """The URL with its password replaced by ***."""
        return redact_url(self.url)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """Yield a connection inside a read transaction."""
        with self._translated(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """Yield a connection inside a write transaction, committed when the block ends."""
        with (
            self._translated(),
            self.engine.connect() as conn,
            conn.execution_options(**{_WRITE: True}).begin(),
        ):
            yield conn

    def refresh_statistics(self, sentinel_table: str, tables: Sequence[str]) -> bool:
        """Keep SQLite's planner statistics current; return whether ANALYZE ran.

        Without statistics SQLite guesses join orders and can start a search from a range over
        thousands of metric values instead of a selective param index (5x slower at 10k runs).
        When ``sentinel_table`` has grown past twice its size at the last ANALYZE (and holds at
        least a thousand rows), ``tables`` are analyzed, checked at most once per minute per
        process. Sampled statistics (``analysis_limit``) mislead the planner here, so the
        analysis is full, and limited to the tables the caller's queries join.
        PostgreSQL's autovacuum does this by itself.
        """
        now = time.monotonic()
        if self.dialect != "sqlite" or now - self._stats_checked_at < _STATS_CHECK_S:
            return False
        self._stats_checked_at = now
        with self.read() as conn:
            rows = conn.exec_driver_sql(f"SELECT count(*) FROM {sentinel_table}").scalar_one()
            has_stats = conn.exec_driver_sql(
                "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
            ).scalar_one()
            analyzed = 0
            if has_stats:
                stat = conn.exec_driver_sql(
                    "SELECT stat FROM sqlite_stat1 WHERE tbl = ? ORDER BY stat DESC LIMIT 1",
                    (sentinel_table,),
                ).scalar_one_or_none()
                analyzed = int(str(stat).split()[0]) if stat else 0
        if rows < _STATS_MIN_ROWS or rows <= 2 * analyzed:
            return False
        with self.write() as conn:
            for table in tables:
                conn.exec_driver_sql(f"ANALYZE {table}")
        return True

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (exc.OperationalError, exc.InterfaceError) as error:
            raise DatabaseUnavailableError(self.redacted_url, _reason(error)) from error


def connect(settings: Settings) -> Metastore:
    """Open the metadata database named by ``settings.db_url`` and check that it answers.

    Raises:
        InvalidSettingError: the URL is malformed or names a backend that is not supported
            or whose driver is not installed.
        DatabaseUnavailableError: the server cannot be reached or the file cannot be opened.
    """
    url = _parse_url(settings.db_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        engine = _sqlite_engine(url, settings)
    elif backend == "postgresql":
        engine = _postgres_engine(url, settings)
    else:
        raise InvalidSettingError(
            "db_url",
            redact_url(settings.db_url),
            "use sqlite:///… or postgresql+psycopg://…",
            "settings",
        )
    store = Metastore(engine, settings.db_url)
    with store.read() as conn:
        conn.execute(text("SELECT 1"))
    return store


def _parse_url(raw: str) -> URL:
    try:
        return make_url(raw)
    except exc.ArgumentError as error:
        raise InvalidSettingError(
            "db_url",
            redact_url(raw),
            "not a database URL (e.g. sqlite:///path/to.db)",
            "settings",
        ) from error


def _sqlite_engine(url: URL, settings: Settings) -> Engine:
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        parent = Path(database).expanduser().parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseUnavailableError(redact_url(str(url)), str(error)) from error
    engine = create_engine(
        url,
        connect_args={
            "timeout": settings.sqlite_busy_timeout_ms / 1000,
            "check_same_thread": False,
        },
    )
    busy_ms = settings.sqlite_busy_timeout_ms

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        # Autocommit at the driver; SQLAlchemy's "begin" event below emits BEGIN itself, the
        # documented recipe for choosing DEFERRED or IMMEDIATE per transaction.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_ms)}")
        if database != ":memory:":
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        is_write = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if is_write else "BEGIN")

    return engine


def _postgres_engine(url: URL, settings: Settings) -> Engine:
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    try:
        return create_engine(
            url,
            pool_pre_ping=True,
            pool_size=5,
            max_overflow=10,
            connect_args={"connect_timeout": 5},
        )
    except ModuleNotFoundError as error:
        raise InvalidSettingError(
            "db_url",
            redact_url(settings.db_url),
            f"its driver is not installed ({error.name}); pip install 'modelyard[postgres]'",
            "settings",
        ) from error


def _reason(error: exc.DBAPIError) -> str:
    original = getattr(error, "orig", None)
    message = str(original if original is not None else error).strip()
    return message.splitlines()[0] if message else type(error).__name__
