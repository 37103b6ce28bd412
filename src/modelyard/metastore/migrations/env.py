"""Alembic environment: migrations run on the connection modelyard hands over."""

from __future__ import annotations

from alembic import context

from modelyard.metastore.tables import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table="modelyard_alembic_version",
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
