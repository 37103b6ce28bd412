"""The metadata schema: every table on one MetaData, the same for SQLite and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
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

# ------------------------------------------------------------------ model registry

registered_models = Table(
    "registered_models",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("tags", Text, nullable=False, default="{}"),  # JSON object
    Column("gates", Text, nullable=False, default="{}"),  # JSON GateConfig
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("model_id", ID, ForeignKey("registered_models.id"), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("run_id", ID, ForeignKey("runs.id"), nullable=False),
    Column("artifact_path", String(1024), nullable=False),
    Column("artifact_digest", DIGEST, nullable=False),
    Column("flavor", String(32), nullable=False),
    Column("model_type", String(256), nullable=False),
    Column("package", Text, nullable=False),  # JSON ModelPackage manifest
    Column("is_pickle_trusted", Boolean, nullable=False),
    Column("is_onnx", Boolean, nullable=False),
    Column("stage", String(16), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("card", Text, nullable=False, default="{}"),  # JSON editable card fields
    Column("created_by", String(256), nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
    UniqueConstraint("model_id", "version"),
    UniqueConstraint("model_id", "artifact_digest"),
    Index(None, "run_id"),
    Index(None, "artifact_digest"),
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("model_id", ID, ForeignKey("registered_models.id"), primary_key=True),
    Column("alias", String(128), primary_key=True),
    Column("version_id", ID, ForeignKey("model_versions.id"), nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

# Stored inputs with known-good outputs; the smoke-test gate replays them.
model_payloads = Table(
    "model_payloads",
    metadata,
    Column("model_id", ID, ForeignKey("registered_models.id"), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("input_digest", DIGEST, nullable=False),  # Parquet blob
    Column("expected_digest", DIGEST, nullable=False),  # .npy blob
    Column("method", String(16), nullable=False),  # "predict" | "predict_proba"
    Column("tolerance", Double, nullable=False),
    Column("created_at_ms", BigInteger, nullable=False),
)

gate_results = Table(
    "gate_results",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("evaluation_id", ID, nullable=False),
    Column("version_id", ID, ForeignKey("model_versions.id"), nullable=False),
    Column("target", String(128), nullable=False),
    Column("gate", String(64), nullable=False),
    Column("is_passed", Boolean, nullable=False),
    Column("observed", Text, nullable=False),
    Column("expected", Text, nullable=False),
    Column("message", Text, nullable=False),
    Column("evaluated_at_ms", BigInteger, nullable=False),
    Index(None, "version_id", "evaluated_at_ms"),
)

# Append-only: every registry mutation, with who, when, what and why.
registry_audit = Table(
    "registry_audit",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("at_ms", BigInteger, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(64), nullable=False),
    Column("model", String(128), nullable=False),
    Column("version", BigInteger, nullable=True),
    Column("details", Text, nullable=False, default="{}"),
    Column("reason", Text, nullable=True),
    Index(None, "model", "id"),
)

# ------------------------------------------------------------------ datasets and contracts

datasets = Table(
    "datasets",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False, unique=True),
    Column("description", Text, nullable=False, default=""),
    Column("created_at_ms", BigInteger, nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

# Immutable: one row per distinct content of a dataset, addressed by the Parquet blob's digest.
dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("dataset_id", ID, ForeignKey("datasets.id"), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("digest", DIGEST, nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("num_columns", Integer, nullable=False),
    Column("size_bytes", BigInteger, nullable=False),
    Column("schema", Text, nullable=False),  # JSON list of {name, type, nullable}
    Column("summary", Text, nullable=False),  # JSON per-column statistics
    Column("source", Text, nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("created_by_run", ID, ForeignKey("runs.id"), nullable=True),
    Column("created_by", String(256), nullable=True),
    Column("created_at_ms", BigInteger, nullable=False),
    UniqueConstraint("dataset_id", "version"),
    UniqueConstraint("dataset_id", "digest"),
    Index(None, "digest"),
)

dataset_tags = Table(
    "dataset_tags",
    metadata,
    Column("dataset_id", ID, ForeignKey("datasets.id"), primary_key=True),
    Column("tag", String(128), primary_key=True),
    Column("version_id", ID, ForeignKey("dataset_versions.id"), nullable=False),
    Column("updated_at_ms", BigInteger, nullable=False),
)

# Immutable: one row per distinct definition of a named contract (digest of its canonical form).
contracts = Table(
    "contracts",
    metadata,
    Column("id", ID, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("digest", DIGEST, nullable=False),
    Column("body", Text, nullable=False),  # canonical JSON of the contract
    Column("created_at_ms", BigInteger, nullable=False),
    UniqueConstraint("name", "version"),
    UniqueConstraint("name", "digest"),
)

validation_reports = Table(
    "validation_reports",
    metadata,
    Column("id", ID, primary_key=True),
    Column("contract_id", ID, ForeignKey("contracts.id"), nullable=False),
    Column("dataset_version_id", ID, ForeignKey("dataset_versions.id"), nullable=True),
    Column("run_id", ID, ForeignKey("runs.id"), nullable=True),
    Column("is_passed", Boolean, nullable=False),
    Column("error_failures", Integer, nullable=False),
    Column("warn_failures", Integer, nullable=False),
    Column("num_rows", BigInteger, nullable=False),
    Column("report", Text, nullable=False),  # JSON ValidationReport
    Column("created_at_ms", BigInteger, nullable=False),
    Index(None, "dataset_version_id", "created_at_ms"),
    Index(None, "run_id"),
)

# ------------------------------------------------------------------ feature store

# Immutable: one row per applied definition of an entity or feature view (digest of its
# canonical form); the newest version of a name is the applied one. A digest may come back as a
# later version (reverting a change).
feature_definitions = Table(
    "feature_definitions",
    metadata,
    Column("id", ID, primary_key=True),
    Column("kind", String(32), nullable=False),  # "entity" | "feature_view"
    Column("name", String(128), nullable=False),
    Column("version", BigInteger, nullable=False),
    Column("digest", DIGEST, nullable=False),
    Column("body", Text, nullable=False),  # canonical JSON of the definition
    Column("created_at_ms", BigInteger, nullable=False),
    UniqueConstraint("kind", "name", "version"),
    Index(None, "kind", "name", "digest"),
)

# One row per materialization (or push) into the online store: the incremental watermark and
# the freshness of each view.
feature_materializations = Table(
    "feature_materializations",
    metadata,
    Column("id", ID, primary_key=True),
    Column("view", String(128), nullable=False),
    Column("view_version", BigInteger, nullable=False),
    Column("kind", String(16), nullable=False),  # "materialize" | "push"
    Column("store", String(256), nullable=False),
    Column("start_ms", BigInteger, nullable=True),
    Column("end_ms", BigInteger, nullable=False),
    Column("rows", BigInteger, nullable=False),
    Column("newest_event_ms", BigInteger, nullable=True),
    Column("started_at_ms", BigInteger, nullable=False),
    Column("finished_at_ms", BigInteger, nullable=False),
    Index(None, "view", "finished_at_ms"),
)
