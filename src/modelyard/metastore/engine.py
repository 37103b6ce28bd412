"""Engine and transactions: SQLite in WAL mode with IMMEDIATE writers, or PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, exc, make_url, text
from sqlalchemy.engine import URL

from modelyard.errors import DatabaseUnavailableError, InvalidSettingError
from modelyard.settings import Settings, redact_url

_WRITE = "modelyard_write"


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
