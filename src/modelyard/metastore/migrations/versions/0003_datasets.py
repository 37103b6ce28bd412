"""Datasets and data contracts: datasets, versions, tags, contracts, validation reports.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.String(32)
DIGEST = sa.String(71)


def upgrade() -> None:
    op.create_table(
        "datasets",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
        sa.UniqueConstraint("name", name="uq_datasets_name"),
    )
    op.create_table(
        "dataset_versions",
        sa.Column("id", ID, nullable=False),
        sa.Column("dataset_id", ID, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("num_columns", sa.Integer(), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("schema", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_by_run", ID, nullable=True),
        sa.Column("created_by", sa.String(256), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name="fk_dataset_versions_dataset_id_datasets"
        ),
        sa.ForeignKeyConstraint(
            ["created_by_run"], ["runs.id"], name="fk_dataset_versions_created_by_run_runs"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_dataset_versions"),
        sa.UniqueConstraint("dataset_id", "version", name="uq_dataset_versions_dataset_id_version"),
        sa.UniqueConstraint("dataset_id", "digest", name="uq_dataset_versions_dataset_id_digest"),
    )
    op.create_index("ix_dataset_versions_digest", "dataset_versions", ["digest"])
    op.create_table(
        "dataset_tags",
        sa.Column("dataset_id", ID, nullable=False),
        sa.Column("tag", sa.String(128), nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name="fk_dataset_tags_dataset_id_datasets"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["dataset_versions.id"],
            name="fk_dataset_tags_version_id_dataset_versions",
        ),
        sa.PrimaryKeyConstraint("dataset_id", "tag", name="pk_dataset_tags"),
    )
    op.create_table(
        "contracts",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("digest", DIGEST, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_contracts"),
        sa.UniqueConstraint("name", "version", name="uq_contracts_name_version"),
        sa.UniqueConstraint("name", "digest", name="uq_contracts_name_digest"),
    )
    op.create_table(
        "validation_reports",
        sa.Column("id", ID, nullable=False),
        sa.Column("contract_id", ID, nullable=False),
        sa.Column("dataset_version_id", ID, nullable=True),
        sa.Column("run_id", ID, nullable=True),
        sa.Column("is_passed", sa.Boolean(), nullable=False),
        sa.Column("error_failures", sa.Integer(), nullable=False),
        sa.Column("warn_failures", sa.Integer(), nullable=False),
        sa.Column("num_rows", sa.BigInteger(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contract_id"], ["contracts.id"], name="fk_validation_reports_contract_id_contracts"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name="fk_validation_reports_dataset_version_id_dataset_versions",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_validation_reports_run_id_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_validation_reports"),
    )
    op.create_index(
        "ix_validation_reports_dataset_version_id_created_at_ms",
        "validation_reports",
        ["dataset_version_id", "created_at_ms"],
    )
    op.create_index("ix_validation_reports_run_id", "validation_reports", ["run_id"])


def downgrade() -> None:
    for name in ("validation_reports", "contracts", "dataset_tags", "dataset_versions", "datasets"):
        op.drop_table(name)
