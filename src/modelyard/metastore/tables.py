"""The metadata schema: every table on one MetaData, the same for SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(32)
DIGEST = String(71)  # "sha256:" + 64 hex digits
KEY = String(250)

experiments = Table(
    "experiments",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("lifecycle", String(16), nullable=False, default="active"),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

# One row per distinct captured environment, shared by every run that ran in it.
environments = Table(
    "environments",
    metadata,
    Column("digest", DIGEST, primary_key=True),
    Column("python_version", String(64), nullable=False),
    Column("platform", String(256), nullable=False),
    Column("packages", Text, nullable=False),  # JSON list of "name==version", sorted
    Column("created_at_ms", BigInteger, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", ID, primary_key=True),
    Column("experiment_id", ID, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False),
    Column("parent_run_id", ID, ForeignKey("runs.id"), nullable=True),
    Column("start_time_ms", BigInteger, nullable=False),
    Column("end_time_ms", BigInteger, nullable=True),
    Column("note", Text, nullable=False, default=""),
    Column("error_type", String(256), nullable=True),
    Column("error_message", Text, nullable=True),
    Column("user_name", String(256), nullable=True),
    Column("host", String(256), nullable=True),
    Column("command", Text, nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("git_branch", String(256), nullable=True),
    Column("git_is_dirty", Boolean, nullable=True),
    Column("environment_digest", DIGEST, ForeignKey("environments.digest"), nullable=True),
    Column("seed", BigInteger, nullable=True),
    Index(None, "experiment_id", "start_time_ms"),
    Index(None, "parent_run_id"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key"),
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key"),
)

# Searches filter on params and tags by (key, value). On SQLite a covering index
# (key, value, run_id) serves them; PostgreSQL cannot index values over ~2.7 KB in a b-tree, so
# there only (key) is indexed and the planner filters the values. The migration creates the
# SQLite-only indexes.
SQLITE_ONLY_INDEXES = {"ix_params_key_value_run_id": "params", "ix_tags_key_value_run_id": "tags"}

# Every logged point. NULL value means NaN: SQLite cannot store NaN in a REAL column, so both
# backends store it the same way; ±inf are stored as they are. No primary key or foreign key on
# purpose: this is the ingest hot path, and rows are only written by the metric writer.
metrics = Table(
    "metrics",
    metadata,
    Column("run_id", ID, nullable=False),
    Column("key", KEY, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("value", Double, nullable=True),
    Index(None, "run_id", "key", "step"),
)

# The latest point of each metric of each run (highest step, then latest timestamp): what
# searches filter and sort on, kept in step by the metric writer in the same transaction.
latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("key", KEY, primary_key=True),
    Column("step", BigInteger, nullable=False),
    Column("timestamp_ms", BigInteger, nullable=False),
    Column("value", Double, nullable=True),
    Index(None, "key", "value", "run_id"),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", DIGEST, nullable=False),
    Column("kind", String(8), nullable=False),  # "file" | "dir"
    Column("size_bytes", BigInteger, nullable=False),
    Column("file_count", BigInteger, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
    Index(None, "digest"),
)

# What a run read: dataset versions, feature-view versions, model versions (lineage as data).
run_inputs = Table(
    "run_inputs",
    metadata,
    Column("run_id", ID, ForeignKey("runs.id"), primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("name", String(256), primary_key=True),
    Column("version", String(128), primary_key=True),
    Column("digest", DIGEST, nullable=True),
    Column("details", Text, nullable=False, default="{}"),
    Column("recorded_at_ms", BigInteger, nullable=False),
    Index(None, "kind", "name", "version"),
)
