"""Schema migrations: bring a metadata database to the head revision, safely under concurrency."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from modelyard.errors import SchemaOutdatedError
from modelyard.metastore.engine import Metastore

VERSION_TABLE = "modelyard_alembic_version"
# Arbitrary, fixed key of the PostgreSQL advisory lock that serialises migrators.
_PG_LOCK_KEY = 0x6D6F64656C


def _config() -> Config:
    config = Config()
    location = resources.files("modelyard.metastore") / "migrations"
    config.set_main_option("script_location", str(location))
    return config


def head_revision() -> str:
    """Return the newest schema revision this code knows."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None  # the package always ships at least one revision
    return head


def current_revision(conn: Connection) -> str | None:
    """Return the revision the database is at (None when it has no modelyard schema)."""
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(store: Metastore) -> tuple[str | None, str]:
    """Migrate ``store`` to the head revision; return (revision before, revision after).

    Several processes may open a new workspace at the same moment: the migration runs inside
    one write transaction holding the database's write lock (SQLite ``BEGIN IMMEDIATE``,
    a PostgreSQL advisory lock), and the revision is read again under that lock.

    Raises:
        SchemaOutdatedError: the database is at a revision this code does not know.
        DatabaseUnavailableError: the database cannot be reached.
    """
    config = _config()
    script = ScriptDirectory.from_config(config)
    head = head_revision()
    with store.read() as conn:
        before = current_revision(conn)
    if before == head:
        return before, head
    with store.write() as conn:
        if store.dialect == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        before = current_revision(conn)
        known = {revision.revision for revision in script.walk_revisions()}
        if before is not None and before not in known:
            raise SchemaOutdatedError(store.redacted_url, before, head)
        if before != head:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    return before, head
