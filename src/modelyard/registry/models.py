"""The model registry (``ws.models``): register, find, load, alias, promote, roll back, explain."""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import shutil
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select, update

from modelyard.artifacts import ArtifactStore, get_tree, read_tree
from modelyard.clock import Clock
from modelyard.errors import (
    InvalidInputError,
    InvalidTransitionError,
    RegisteredModelExistsError,
)
from modelyard.ids import RunId, check_name, parse_reference
from modelyard.metastore import Metastore
from modelyard.metastore.tables import model_payloads, registered_models
from modelyard.registry.audit import AuditEvent, AuditLog, current_actor
from modelyard.registry.cards import check_fields, render_card
from modelyard.registry.flavors import MANIFEST_FILE, Predictor, load_predictor, save_model
from modelyard.registry.gates import GateConfig, GateReport, MetricRule, SmokePayload
from modelyard.registry.lineage import LineageGraph, LineageNode
from modelyard.registry.promotion import Promotion, PromotionResult, expected_outputs
from modelyard.registry.versions import (
    PRODUCTION_ALIAS,
    ModelVersion,
    RegisteredModel,
    VersionStore,
)
from modelyard.tracking.artifacts import DIRECTORY, RunArtifacts
from modelyard.tracking.catalog import RunCatalog
from modelyard.tracking.model_logging import LoggedModel

_COMPLETE = ".complete"


class ModelRegistry:
    """Registered models and their versions, over the workspace's stores."""

    def __init__(
        self,
        metastore: Metastore,
        store: ArtifactStore,
        runs: RunCatalog,
        run_artifacts: RunArtifacts,
        clock: Clock,
        cache_dir: Path,
    ) -> None:
        self._db = metastore
        self._store = store
        self._runs = runs
        self._run_artifacts = run_artifacts
        self._cache_dir = cache_dir
        self._versions = VersionStore(metastore, clock)
        self._audit = AuditLog(metastore, clock)
        self._clock = clock
        self._promotion = Promotion(
            metastore,
            self._versions,
            self._audit,
            runs,
            store,
            clock,
            load_predictor=lambda version: self._predictor(version, "auto"),
            load_payloads=self.payloads,
            load_example=self._example,
        )
        self._lineage = LineageGraph(self._versions, runs)

    # ------------------------------------------------------------------ logging, registering

    def log_model(
        self,
        run_id: RunId,
        model: object,
        *,
        name: str,
        input_example: object,
        signature: object | None,
        trust: bool,
        registered_model_name: str | None,
    ) -> LoggedModel:
        """Package ``model`` into the run's artifact ``name`` (see ActiveRun.log_model)."""
        with tempfile.TemporaryDirectory(prefix="modelyard-model-") as tmp:
            directory = Path(tmp) / "package"
            package = save_model(
                model,
                directory,
                input_example=input_example,  # type: ignore[arg-type]
                signature=signature,  # type: ignore[arg-type]
                trust=trust,
            )
            record = self._run_artifacts.log(run_id, directory, name)
        registered = None
        if registered_model_name is not None:
            registered = self.register(registered_model_name, run_id, record.path).reference
        return LoggedModel(
            run_id=run_id,
            artifact_path=record.path,
            artifact_digest=record.digest,
            flavor=package.flavor,
            is_onnx=package.conversion.is_converted,
            registered_version=registered,
        )

    def create(
        self, name: str, *, description: str = "", tags: Mapping[str, str] | None = None
    ) -> RegisteredModel:
        """Create a registered model with no versions yet.

        Raises:
            RegisteredModelExistsError, InvalidNameError.
        """
        with self._db.write() as conn:
            self._versions.create_model(conn, name, description=description, tags=tags)
            self._audit.record(conn, "create_model", name, details={"description": description})
        return self.get(name)

    def register(
        self,
        name: str,
        run_id: str,
        artifact_path: str = "model",
        *,
        description: str = "",
    ) -> ModelVersion:
        """Register a run's logged model package as the next version of ``name`` (created on
        first use). The version is pinned to the artifact's digest and the run.

        Raises:
            ModelVersionExistsError: that artifact is already a version of the model.
            ArtifactPathNotFoundError, RunNotFoundError.
            InvalidInputError: the artifact is not a model package.
        """
        check_name("model name", name)
        run = self._runs.get(run_id)
        record = self._run_artifacts.get(run.run_id, artifact_path)
        package = self._read_manifest(run.run_id, artifact_path, record.kind, record.digest)
        with self._db.write() as conn:
            with contextlib.suppress(RegisteredModelExistsError):  # registered before
                self._versions.create_model(conn, name)
                self._audit.record(conn, "create_model", name)
            model_row = self._versions.model_row(conn, name, for_update=True)
            version = self._versions.insert_version(
                conn,
                model_row,
                run_id=run.run_id,
                artifact_path=artifact_path,
                artifact_digest=record.digest,
                package=package,
                description=description,
                created_by=current_actor(),
            )
            self._audit.record(
                conn,
                "register",
                name,
                version=version,
                details={
                    "run_id": run.run_id,
                    "artifact_path": artifact_path,
                    "digest": record.digest,
                    "flavor": package.get("flavor"),
                    "is_pickle_trusted": package.get("is_pickle_trusted", False),
                },
            )
        return self.version(f"{name}/{version}")

    def _read_manifest(
        self, run_id: str, artifact_path: str, kind: str, digest: str
    ) -> dict[str, Any]:
        not_a_package = InvalidInputError(
            f"artifact {artifact_path!r} of run {run_id} is not a model package "
            f"(no {MANIFEST_FILE}); log models with run.log_model(...)"
        )
        if kind != DIRECTORY:
            raise not_a_package
        entries = {entry.path: entry for entry in read_tree(self._store, digest).entries}
        if MANIFEST_FILE not in entries:
            raise not_a_package
        manifest: dict[str, Any] = json.loads(self._store.read_bytes(entries[MANIFEST_FILE].digest))
        return manifest

    # ------------------------------------------------------------------ reading

    def get(self, name: str) -> RegisteredModel:
        """Return a registered model (with latest and production versions, aliases)."""
        return self._versions.get_model(name)

    def list(self) -> builtins.list[RegisteredModel]:
        """Return every registered model."""
        return self._versions.list_models()

    def versions(self, name: str) -> builtins.list[ModelVersion]:
        """Return a model's versions, newest first."""
        return self._versions.list_versions(name)

    def version(self, reference: str) -> ModelVersion:
        """Return the version a reference names (``fraud/3``, ``fraud@champion``, ``fraud``)."""
        return self._versions.resolve(parse_reference(reference))

    def load(self, reference: str, *, backend: str = "auto") -> Predictor:
        """Load a version as a predictor that checks inputs against its signature.

        The artifact is fetched once into the workspace's cache (every file verified against its
        digest) and served by onnxruntime when an ONNX conversion exists.
        """
        return self._predictor(self.version(reference), backend)

    def load_version(
        self, version: ModelVersion, *, backend: str = "auto", threads: int | None = None
    ) -> Predictor:
        """Load a resolved version (pinned by its digest) as a predictor.

        Args:
            version: the version, from :meth:`version`.
            backend: ``auto``, ``onnx`` or ``native`` (see ``load_predictor``).
            threads: onnxruntime intra-op threads for large batches (None: the default).

        Raises:
            CorruptArtifactError: the stored files do not match the version's digest.
        """
        return load_predictor(self._local_copy(version), backend=backend, threads=threads)

    def package_dir(self, version: ModelVersion) -> Path:
        """Return the local, digest-verified copy of a version's package directory."""
        return self._local_copy(version)

    def input_example(self, version: ModelVersion) -> pd.DataFrame | np.ndarray:
        """Return the input example stored with a version (a frame, or an array for a tensor
        model)."""
        path = self._local_copy(version) / str(version.package["input_example_path"])
        if path.suffix == ".npy":
            example: np.ndarray = np.load(path, allow_pickle=False)
            return example
        return pd.read_parquet(path)

    def _predictor(self, version: ModelVersion, backend: str) -> Predictor:
        return load_predictor(self._local_copy(version), backend=backend)

    def _local_copy(self, version: ModelVersion) -> Path:
        target = self._cache_dir / version.artifact_digest.removeprefix("sha256:")
        if (target / _COMPLETE).is_file():
            return target
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        staging = self._cache_dir / f".{uuid.uuid4().hex}.part"
        try:
            get_tree(self._store, version.artifact_digest, staging)
            (staging / _COMPLETE).write_text(version.artifact_digest)
            try:
                staging.rename(target)
            except OSError:
                if not (target / _COMPLETE).is_file():
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target

    def _example(self, version: ModelVersion) -> pd.DataFrame:
        path = self._local_copy(version) / str(version.package["input_example_path"])
        return pd.read_parquet(path)

    # ------------------------------------------------------------------ aliases, stages

    def set_alias(
        self, name: str, alias: str, version: int, *, reason: str | None = None
    ) -> ModelVersion:
        """Point ``alias`` at ``name/version`` (audited).

        Raises:
            InvalidTransitionError: for ``champion``, which only promotion moves (gated).
        """
        if alias == PRODUCTION_ALIAS:
            raise InvalidTransitionError(
                f'the "{PRODUCTION_ALIAS}" alias follows production and only moves through the '
                f"gates: `modelyard models promote {name}/{version} --to production`"
            )
        target = self.version(f"{name}/{version}")
        with self._db.write() as conn:
            model = self._versions.model_row(conn, name, for_update=True)
            self._versions.set_alias(conn, model.id, alias, target.version_id)
            self._audit.record(
                conn, "set_alias", name, version=version, details={"alias": alias}, reason=reason
            )
        return self.version(f"{name}/{version}")

    def delete_alias(self, name: str, alias: str, *, reason: str | None = None) -> None:
        """Remove an alias (audited)."""
        if alias == PRODUCTION_ALIAS:
            raise InvalidTransitionError(
                f'the "{PRODUCTION_ALIAS}" alias follows production: archive or roll back instead'
            )
        with self._db.write() as conn:
            model = self._versions.model_row(conn, name, for_update=True)
            self._versions.delete_alias(conn, model.id, name, alias)
            self._audit.record(conn, "delete_alias", name, details={"alias": alias}, reason=reason)

    def promote(
        self,
        reference: str,
        to: str | None = None,
        *,
        alias: str | None = None,
        force: bool = False,
        reason: str | None = None,
        allow_breaking: bool = False,
    ) -> PromotionResult:
        """Promote through the gates; see Promotion.promote."""
        return self._promotion.promote(
            reference, to=to, alias=alias, force=force, reason=reason, allow_breaking=allow_breaking
        )

    def archive(self, reference: str, *, reason: str | None = None) -> PromotionResult:
        """Move a version to the Archived stage (audited)."""
        return self._promotion.promote(reference, to="archived", reason=reason)

    def rollback(self, name: str, *, reason: str | None = None) -> PromotionResult:
        """Return production to the previous production version in one step (audited)."""
        return self._promotion.rollback(name, reason=reason)

    def evaluate_gates(self, reference: str, *, allow_breaking: bool = False) -> GateReport:
        """Evaluate (and store) the gates for production without promoting."""
        version = self.version(reference)
        report, _ = self._promotion.evaluate(version, "dry run", allow_breaking=allow_breaking)
        return report

    def gate_report(self, reference: str) -> GateReport | None:
        """The most recent gate report of a version."""
        return self._promotion.latest_report(self.version(reference))

    # ------------------------------------------------------------------ gates and payloads

    def set_gates(
        self,
        name: str,
        *,
        metrics: Sequence[str] = (),
        latency_p99_ms: float | None = None,
        latency_samples: int = 200,
    ) -> GateConfig:
        """Configure a model's gates (audited), e.g.
        ``metrics=["auc >= 0.85", "auc >= champion.auc - 0.002"], latency_p99_ms=5``.

        Raises:
            InvalidInputError: a rule that does not parse, a non-positive budget.
        """
        if latency_p99_ms is not None and not latency_p99_ms > 0:
            raise InvalidInputError(f"latency_p99_ms {latency_p99_ms} must be greater than 0")
        if latency_samples < 10:
            raise InvalidInputError(f"latency_samples {latency_samples} must be at least 10")
        config = GateConfig(
            metric_rules=tuple(MetricRule.parse(rule) for rule in metrics),
            latency_p99_ms=latency_p99_ms,
            latency_samples=latency_samples,
        )
        with self._db.write() as conn:
            model = self._versions.model_row(conn, name, for_update=True)
            conn.execute(
                update(registered_models)
                .where(registered_models.c.id == model.id)
                .values(gates=json.dumps(config.to_dict()), updated_at_ms=self._clock.time_ms())
            )
            self._audit.record(conn, "set_gates", name, details=config.to_dict())
        return config

    def gates(self, name: str) -> GateConfig:
        """Return a model's gate configuration."""
        return self._promotion.gate_config(name)

    def add_payload(
        self,
        name: str,
        payload: str,
        frame: pd.DataFrame,
        *,
        expected: np.ndarray | None = None,
        from_version: str | None = None,
        method: str = "predict_proba",
        tolerance: float = 1e-6,
    ) -> SmokePayload:
        """Store a smoke payload: ``frame`` and its known-good outputs, given as ``expected``
        or computed now by the version ``from_version`` (audited). Promotions replay it.

        Raises:
            InvalidInputError: neither or both of ``expected``/``from_version``, a bad method or
                tolerance, an empty frame.
        """
        check_name("payload name", payload)
        if (expected is None) == (from_version is None):
            raise InvalidInputError("give the known-good outputs: expected=… or from_version=…")
        if not tolerance >= 0:
            raise InvalidInputError(f"tolerance {tolerance} must be 0 or more")
        if len(frame) == 0:
            raise InvalidInputError(f"payload {payload!r} has no rows")
        if from_version is not None:
            expected = expected_outputs(self.load(from_version), frame, method)
        elif method not in ("predict", "predict_proba"):
            raise InvalidInputError(f"payload method {method!r} must be predict or predict_proba")
        assert expected is not None
        buffer = io.BytesIO()
        frame.reset_index(drop=True).to_parquet(buffer, index=False)
        input_digest = self._store.put_bytes(buffer.getvalue()).digest
        array_buffer = io.BytesIO()
        np.save(array_buffer, np.asarray(expected), allow_pickle=False)
        expected_digest = self._store.put_bytes(array_buffer.getvalue()).digest
        with self._db.write() as conn:
            model = self._versions.model_row(conn, name, for_update=True)
            conn.execute(
                model_payloads.delete().where(
                    model_payloads.c.model_id == model.id, model_payloads.c.name == payload
                )
            )
            conn.execute(
                model_payloads.insert(),
                {
                    "model_id": model.id,
                    "name": payload,
                    "input_digest": input_digest,
                    "expected_digest": expected_digest,
                    "method": method,
                    "tolerance": tolerance,
                    "created_at_ms": self._clock.time_ms(),
                },
            )
            self._audit.record(
                conn,
                "add_payload",
                name,
                details={
                    "payload": payload,
                    "rows": len(frame),
                    "method": method,
                    "tolerance": tolerance,
                    "from_version": from_version,
                },
            )
        return SmokePayload(payload, frame, np.asarray(expected), method, tolerance)

    def payloads(self, name: str) -> builtins.list[SmokePayload]:
        """Return a model's stored smoke payloads (contents verified against their digests)."""
        with self._db.read() as conn:
            model = self._versions.model_row(conn, name)
            rows = conn.execute(
                select(model_payloads)
                .where(model_payloads.c.model_id == model.id)
                .order_by(model_payloads.c.name)
            ).all()
        return [
            SmokePayload(
                row.name,
                pd.read_parquet(io.BytesIO(self._store.read_bytes(row.input_digest))),
                np.load(
                    io.BytesIO(self._store.read_bytes(row.expected_digest)), allow_pickle=False
                ),
                row.method,
                float(row.tolerance),
            )
            for row in rows
        ]

    # ------------------------------------------------------------------ cards, history, lineage

    def card(self, reference: str) -> str:
        """The version's model card as markdown."""
        version = self.version(reference)
        run = self._runs.get(version.run_id)
        inputs = self._runs.inputs(version.run_id)
        return render_card(version, run, inputs, self._promotion.latest_report(version))

    def edit_card(self, reference: str, *, reason: str | None = None, **fields: str) -> str:
        """Set editable card fields (``intended_use``, ``limitations``, …); audited."""
        changes = check_fields(fields)
        version = self.version(reference)
        with self._db.write() as conn:
            self._versions.set_card(conn, version.version_id, {**version.card, **changes})
            self._audit.record(
                conn,
                "edit_card",
                version.model,
                version=version.version,
                details={"fields": sorted(changes)},
                reason=reason,
            )
        return self.card(reference)

    def history(self, name: str) -> builtins.list[AuditEvent]:
        """Every recorded mutation of a model, oldest first."""
        self._versions.get_model(name)
        return self._audit.history(name)

    def lineage(self, subject: str) -> LineageNode:
        """Lineage of a model reference, a run id, or ``KIND:NAME[/VERSION]`` input."""
        return self._lineage.of(subject)
