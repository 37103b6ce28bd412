"""Feature store: versioned entity and feature view definitions, materializations.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ID = sa.String(32)
DIGEST = sa.String(71)


def upgrade() -> None:
    op.create_table(
        "feature_definitions",
        sa.Column("id", ID, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feature_definitions"),
        sa.UniqueConstraint(
            "kind", "name", "version", name="uq_feature_definitions_kind_name_version"
        ),
    )
    op.create_index(
        "ix_feature_definitions_kind_name_digest",
        "feature_definitions",
        ["kind", "name", "digest"],
    )
    op.create_table(
        "feature_materializations",
        sa.Column("id", ID, nullable=False),
        sa.Column("view", sa.String(128), nullable=False),
        sa.Column("view_version", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("store", sa.String(256), nullable=False),
        sa.Column("start_ms", sa.BigInteger(), nullable=True),
        sa.Column("end_ms", sa.BigInteger(), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("newest_event_ms", sa.BigInteger(), nullable=True),
        sa.Column("started_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("finished_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_feature_materializations"),
    )
    op.create_index(
        "ix_feature_materializations_view_finished_at_ms",
        "feature_materializations",
        ["view", "finished_at_ms"],
    )


def downgrade() -> None:
    op.drop_table("feature_materializations")
    op.drop_table("feature_definitions")
