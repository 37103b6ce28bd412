"""Migrations: the schema they build matches the tables, on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from modelyard.errors import (
    DatabaseUnavailableError,
    InvalidSettingError,
    SchemaOutdatedError,
)
from modelyard.metastore import connect, current_revision, head_revision, upgrade
from modelyard.metastore.migrate import VERSION_TABLE
from modelyard.metastore.tables import SQLITE_ONLY_INDEXES, metadata
from modelyard.settings import load_settings


def _store(db_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    return connect(load_settings(tmp_path, overrides={"db_url": db_url}))


def test_upgrade_builds_the_declared_schema_and_is_idempotent(db_url: str, tmp_path: Path) -> None:
    store = _store(db_url, tmp_path)
    try:
        assert upgrade(store) == (None, head_revision())
        assert upgrade(store) == (head_revision(), head_revision())
        with store.read() as conn:
            assert current_revision(conn) == head_revision()
            context = MigrationContext.configure(
                conn, opts={"version_table": VERSION_TABLE, "compare_type": True}
            )
            differences = [
                diff
                for diff in compare_metadata(context, metadata)
                if not _is_expected_difference(diff, store.dialect)
            ]
        assert differences == []
    finally:
        store.dispose()


def _is_expected_difference(diff: object, dialect: str) -> bool:
    # The covering (key, value, run_id) indexes exist on SQLite only (see tables.py).
    if isinstance(diff, tuple) and diff[0] in ("add_index", "remove_index"):
        return diff[1].name in SQLITE_ONLY_INDEXES and dialect == "sqlite"
    return False


def test_a_newer_schema_is_refused(db_url: str, tmp_path: Path) -> None:
    store = _store(db_url, tmp_path)
    try:
        upgrade(store)
        with store.write() as conn:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = '9999'"))
        with pytest.raises(SchemaOutdatedError, match="schema revision 9999, which this"):
            upgrade(store)
    finally:
        store.dispose()


def test_unreachable_postgres_names_the_url_without_its_password(tmp_path: Path) -> None:
    url = "postgresql+psycopg://trainer:s3cret-pw@127.0.0.1:1/metadata"
    with pytest.raises(DatabaseUnavailableError) as caught:
        _store(url, tmp_path)
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert "postgresql+psycopg://trainer:***@127.0.0.1:1/metadata" in message
    assert caught.value.url == "postgresql+psycopg://trainer:***@127.0.0.1:1/metadata"


def test_unopenable_sqlite_file(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(DatabaseUnavailableError, match="cannot use the metadata database"):
        _store(f"sqlite:///{blocker}/sub/meta.db", tmp_path)


@pytest.mark.parametrize(
    ("url", "rule"),
    [
        ("not a url", "not a database URL"),
        ("mysql://u@h/db", "use sqlite:///… or postgresql+psycopg://…"),
    ],
)
def test_bad_urls(tmp_path: Path, url: str, rule: str) -> None:
    with pytest.raises(InvalidSettingError, match=re.escape(rule)):
        _store(url, tmp_path)
