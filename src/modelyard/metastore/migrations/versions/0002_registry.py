"""Model registry: registered models, versions, aliases, smoke payloads, gate results, audit.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ID = sa.String(32)
DIGEST = sa.String(71)
AUTO_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "registered_models",
        sa.Column("id", ID, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("tags", sa.Text(), nullable=False),
        sa.Column("gates", sa.Text(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_registered_models"),
        sa.UniqueConstraint("name", name="uq_registered_models_name"),
    )
    op.create_table(
        "model_versions",
        sa.Column("id", ID, nullable=False),
        sa.Column("model_id", ID, nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("run_id", ID, nullable=False),
        sa.Column("artifact_path", sa.String(1024), nullable=False),
        sa.Column("artifact_digest", DIGEST, nullable=False),
        sa.Column("flavor", sa.String(32), nullable=False),
        sa.Column("model_type", sa.String(256), nullable=False),
        sa.Column("package", sa.Text(), nullable=False),
        sa.Column("is_pickle_trusted", sa.Boolean(), nullable=False),
        sa.Column("is_onnx", sa.Boolean(), nullable=False),
        sa.Column("stage", sa.String(16), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("card", sa.Text(), nullable=False),
        sa.Column("created_by", sa.String(256), nullable=True),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name="fk_model_versions_model_id_registered_models",
        ),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_model_versions_run_id_runs"),
        sa.PrimaryKeyConstraint("id", name="pk_model_versions"),
        sa.UniqueConstraint("model_id", "version", name="uq_model_versions_model_id_version"),
        sa.UniqueConstraint(
            "model_id", "artifact_digest", name="uq_model_versions_model_id_artifact_digest"
        ),
    )
    op.create_index("ix_model_versions_run_id", "model_versions", ["run_id"])
    op.create_index("ix_model_versions_artifact_digest", "model_versions", ["artifact_digest"])
    op.create_table(
        "model_aliases",
        sa.Column("model_id", ID, nullable=False),
        sa.Column("alias", sa.String(128), nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("updated_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name="fk_model_aliases_model_id_registered_models",
        ),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name="fk_model_aliases_version_id_model_versions"
        ),
        sa.PrimaryKeyConstraint("model_id", "alias", name="pk_model_aliases"),
    )
    op.create_table(
        "model_payloads",
        sa.Column("model_id", ID, nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("input_digest", DIGEST, nullable=False),
        sa.Column("expected_digest", DIGEST, nullable=False),
        sa.Column("method", sa.String(16), nullable=False),
        sa.Column("tolerance", sa.Double(), nullable=False),
        sa.Column("created_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["registered_models.id"],
            name="fk_model_payloads_model_id_registered_models",
        ),
        sa.PrimaryKeyConstraint("model_id", "name", name="pk_model_payloads"),
    )
    op.create_table(
        "gate_results",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("evaluation_id", ID, nullable=False),
        sa.Column("version_id", ID, nullable=False),
        sa.Column("target", sa.String(128), nullable=False),
        sa.Column("gate", sa.String(64), nullable=False),
        sa.Column("is_passed", sa.Boolean(), nullable=False),
        sa.Column("observed", sa.Text(), nullable=False),
        sa.Column("expected", sa.Text(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("evaluated_at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"], ["model_versions.id"], name="fk_gate_results_version_id_model_versions"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_gate_results"),
    )
    op.create_index(
        "ix_gate_results_version_id_evaluated_at_ms",
        "gate_results",
        ["version_id", "evaluated_at_ms"],
    )
    op.create_table(
        "registry_audit",
        sa.Column("id", AUTO_ID, autoincrement=True, nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("model", sa.String(128), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=True),
        sa.Column("details", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_registry_audit"),
    )
    op.create_index("ix_registry_audit_model_id", "registry_audit", ["model", "id"])


def downgrade() -> None:
    for name in (
        "registry_audit",
        "gate_results",
        "model_payloads",
        "model_aliases",
        "model_versions",
        "registered_models",
    ):
        op.drop_table(name)
