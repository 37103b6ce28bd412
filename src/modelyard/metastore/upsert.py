"""INSERT … ON CONFLICT for both backends: insert-or-ignore and conditional upserts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def _insert(dialect: str, table: Table) -> Any:
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(dialect: str, table: Table) -> Insert:
    """INSERT that skips rows whose primary key is already present."""
    statement: Insert = _insert(dialect, table).on_conflict_do_nothing()
    return statement


def upsert(
    dialect: str,
    table: Table,
    keys: Sequence[str],
    columns: Sequence[str],
    *,
    where: Any = None,
) -> Insert:
    """INSERT that, on a key conflict, overwrites ``columns`` (only where ``where`` holds).

    ``where`` is a callable given the ``excluded`` pseudo-table that returns a condition.
    """
    statement = _insert(dialect, table)
    excluded = statement.excluded
    condition: ColumnElement[bool] | None = where(excluded) if where is not None else None
    result: Insert = statement.on_conflict_do_update(
        index_elements=list(keys),
        set_={name: excluded[name] for name in columns},
        where=condition,
    )
    return result
