"""Promotion through gates, stage transitions and one-step rollback, each audited.

Gates are evaluated outside any transaction (loading the model and timing it takes a while);
the change itself is applied in one write transaction that holds the model's lock and first
checks that production is still what the gates compared against. Two processes promoting
different versions at once therefore leave exactly one production version and a consistent
history: the later one is told to evaluate again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from modelyard.artifacts import ArtifactStore, read_tree
from modelyard.clock import Clock
from modelyard.errors import (
    CorruptArtifactError,
    InvalidInputError,
    InvalidTransitionError,
    ModelyardError,
    NoRollbackTargetError,
    PromotionBlockedError,
    PromotionConflictError,
)
from modelyard.ids import new_run_id, parse_reference
from modelyard.metastore import Metastore
from modelyard.metastore.tables import gate_results, model_versions
from modelyard.registry.audit import AuditLog
from modelyard.registry.flavors import Predictor, Signature
from modelyard.registry.gates import (
    GateConfig,
    GateReport,
    GateResult,
    SmokePayload,
    latency_gate,
    metric_gates,
    signature_gate,
    smoke_gates,
)
from modelyard.registry.versions import PRODUCTION_ALIAS, ModelVersion, Stage, VersionStore
from modelyard.tracking.catalog import RunCatalog

LoadPredictor = Callable[[ModelVersion], Predictor]
LoadPayloads = Callable[[str], list[SmokePayload]]
LoadExample = Callable[[ModelVersion], pd.DataFrame]


@dataclass(frozen=True, slots=True)
class PromotionResult:
    """What a promotion did."""

    version: ModelVersion
    target: str
    report: GateReport
    previous_production: int | None
    is_forced: bool


class Promotion:
    """Promote, archive and roll back model versions."""

    def __init__(
        self,
        metastore: Metastore,
        versions: VersionStore,
        audit: AuditLog,
        runs: RunCatalog,
        store: ArtifactStore,
        clock: Clock,
        *,
        load_predictor: LoadPredictor,
        load_payloads: LoadPayloads,
        load_example: LoadExample,
    ) -> None:
        self._db = metastore
        self._versions = versions
        self._audit = audit
        self._runs = runs
        self._store = store
        self._clock = clock
        self._load_predictor = load_predictor
        self._load_payloads = load_payloads
        self._load_example = load_example

    # ------------------------------------------------------------------ gates

    def evaluate(
        self, candidate: ModelVersion, target: str, *, allow_breaking: bool = False
    ) -> tuple[GateReport, ModelVersion | None]:
        """Run every gate for ``candidate`` and store the results; return the report and the
        production version the gates compared against."""
        self._runs.flush()  # metrics logged moments ago must count
        production = self._production(candidate.model)
        if production is not None and production.version_id == candidate.version_id:
            production = None
        config = self.gate_config(candidate.model)
        results: list[GateResult] = [self._digest_gate(candidate)]
        champion_metrics = (
            None if production is None else dict(self._runs.get(production.run_id).metrics)
        )
        results += metric_gates(
            config.metric_rules, self._runs.get(candidate.run_id).metrics, champion_metrics
        )
        candidate_signature = Signature.from_dict(candidate.signature)
        production_signature = (
            None if production is None else Signature.from_dict(production.signature)
        )
        results.append(
            signature_gate(production_signature, candidate_signature, allow_breaking=allow_breaking)
        )
        results += self._runtime_gates(candidate, config, is_verified=results[0].is_passed)
        report = GateReport(
            evaluation_id=new_run_id(),
            model=candidate.model,
            version=candidate.version,
            target=target,
            results=tuple(results),
        )
        self._store_report(candidate, report)
        return report, production

    def _digest_gate(self, candidate: ModelVersion) -> GateResult:
        expected = "every blob matches its digest"
        try:
            tree = read_tree(self._store, candidate.artifact_digest)
            for entry in tree.entries:
                self._store.verify(entry.digest)
        except CorruptArtifactError as error:
            return GateResult("artifact digest", False, "corrupt", expected, str(error))
        except ModelyardError as error:
            return GateResult("artifact digest", False, "unreadable", expected, str(error))
        count = len(tree.entries)
        return GateResult("artifact digest", True, f"{count} files verified", expected, "ok")

    def _runtime_gates(
        self, candidate: ModelVersion, config: GateConfig, *, is_verified: bool
    ) -> list[GateResult]:
        payloads = self._load_payloads(candidate.model)
        if not is_verified:
            skipped = "skipped: the artifact failed digest verification"
            names = [f"smoke: {p.name}" for p in payloads]
            if config.latency_p99_ms is not None:
                names.append("latency p99")
            return [GateResult(name, False, "—", "—", skipped) for name in names]
        if not payloads and config.latency_p99_ms is None:
            return []
        try:
            predictor = self._load_predictor(candidate)
        except ModelyardError as error:
            return [
                GateResult("load", False, "error", "loads", f"the model does not load: {error}")
            ]
        results = smoke_gates(predictor, payloads)
        if config.latency_p99_ms is not None:
            example = self._load_example(candidate)
            results.append(
                latency_gate(predictor, example, config.latency_p99_ms, config.latency_samples)
            )
        return results

    def _store_report(self, candidate: ModelVersion, report: GateReport) -> None:
        now = self._clock.time_ms()
        rows = [
            {
                "evaluation_id": report.evaluation_id,
                "version_id": candidate.version_id,
                "target": report.target,
                "gate": result.gate,
                "is_passed": result.is_passed,
                "observed": result.observed,
                "expected": result.expected,
                "message": result.message,
                "evaluated_at_ms": now,
            }
            for result in report.results
        ]
        if rows:
            with self._db.write() as conn:
                conn.execute(gate_results.insert(), rows)

    def latest_report(self, version: ModelVersion) -> GateReport | None:
        """Return the most recent gate report stored for a version."""
        with self._db.read() as conn:
            latest = conn.execute(
                gate_results.select()
                .where(gate_results.c.version_id == version.version_id)
                .order_by(gate_results.c.id.desc())
                .limit(1)
            ).first()
            if latest is None:
                return None
            rows = conn.execute(
                gate_results.select()
                .where(gate_results.c.evaluation_id == latest.evaluation_id)
                .order_by(gate_results.c.id)
            ).all()
        return GateReport(
            evaluation_id=latest.evaluation_id,
            model=version.model,
            version=version.version,
            target=latest.target,
            results=tuple(
                GateResult(r.gate, bool(r.is_passed), r.observed, r.expected, r.message)
                for r in rows
            ),
        )

    def gate_config(self, model: str) -> GateConfig:
        """Return the model's gate configuration."""
        with self._db.read() as conn:
            row = self._versions.model_row(conn, model)
        return GateConfig.from_dict(json.loads(row.gates))

    # ------------------------------------------------------------------ promotion

    def promote(
        self,
        reference: str,
        *,
        to: str | None = None,
        alias: str | None = None,
        force: bool = False,
        reason: str | None = None,
        allow_breaking: bool = False,
    ) -> PromotionResult:
        """Promote a version to a stage (``staging``, ``production``) or an alias.

        Promotion to production (or to the ``champion`` alias, the same thing) moves the
        ``champion`` alias and archives the previous production version.

        Raises:
            PromotionBlockedError: a gate failed (the report is on ``error.report``).
            PromotionConflictError: production changed while the gates ran.
            InvalidInputError: neither or both of ``to``/``alias``; ``force`` without a reason.
            CorruptBlobError: never overridden, even with ``force``.
        """
        if (to is None) == (alias is None):
            raise InvalidInputError("promote needs exactly one of to=STAGE or alias=NAME")
        if force and not (reason and reason.strip()):
            raise InvalidInputError("--force needs --reason: say why the gates are overridden")
        stage = Stage.parse(to) if to is not None else None
        if alias == PRODUCTION_ALIAS:
            stage, alias = Stage.PRODUCTION, None
        if stage is Stage.NONE:
            raise InvalidInputError("promote to a stage: staging, production or archived")
        candidate = self._versions.resolve(parse_reference(reference))
        if stage is Stage.ARCHIVED:
            return self._archive(candidate, reason)
        target = stage.value if stage is not None else f"@{alias}"
        report, compared = self.evaluate(candidate, target, allow_breaking=allow_breaking)
        failed = [f"{r.gate}: {r.message}" for r in report.failed]
        digest_failed = any(r.gate == "artifact digest" for r in report.failed)
        if failed and (not force or digest_failed):
            with self._db.write() as conn:
                self._audit.record(
                    conn,
                    "promotion_blocked",
                    candidate.model,
                    version=candidate.version,
                    details={"target": target, "failed": failed},
                    reason=reason,
                )
            error = PromotionBlockedError(candidate.model, candidate.version, target, failed)
            error.report = report
            raise error
        previous = self._apply(candidate, stage, alias, compared, report, force, reason)
        return PromotionResult(
            version=self._versions.resolve(parse_reference(candidate.reference)),
            target=target,
            report=report,
            previous_production=previous,
            is_forced=bool(failed),
        )

    def _apply(
        self,
        candidate: ModelVersion,
        stage: Stage | None,
        alias: str | None,
        compared: ModelVersion | None,
        report: GateReport,
        force: bool,
        reason: str | None,
    ) -> int | None:
        details: dict[str, Any] = {
            "from_stage": candidate.stage.value,
            "evaluation_id": report.evaluation_id,
            "gates": {r.gate: r.is_passed for r in report.results},
        }
        previous: int | None = None
        with self._db.write() as conn:
            model = self._versions.model_row(conn, candidate.model, for_update=True)
            current = self._production_in(conn, model.id)
            if stage is Stage.PRODUCTION:
                expected = None if compared is None else compared.version
                actual = None if current is None else int(current.version)
                if current is not None and current.id == candidate.version_id:
                    actual = None  # re-promoting the production version itself
                if actual != expected:
                    raise PromotionConflictError(
                        candidate.model, candidate.version, expected, actual
                    )
                if current is not None and current.id != candidate.version_id:
                    self._versions.set_stage(conn, current.id, Stage.ARCHIVED)
                    previous = int(current.version)
                self._versions.set_stage(conn, candidate.version_id, Stage.PRODUCTION)
                self._versions.set_alias(conn, model.id, PRODUCTION_ALIAS, candidate.version_id)
                details.update(to_stage=Stage.PRODUCTION.value, previous_production=previous)
            elif stage is Stage.STAGING:
                self._versions.set_stage(conn, candidate.version_id, Stage.STAGING)
                details.update(to_stage=Stage.STAGING.value)
            else:
                assert alias is not None
                self._versions.set_alias(conn, model.id, alias, candidate.version_id)
                details.update(alias=alias)
            if report.failed:
                details["forced_over"] = [f"{r.gate}: {r.message}" for r in report.failed]
            action = "promote_forced" if force and report.failed else "promote"
            self._audit.record(
                conn,
                action,
                candidate.model,
                version=candidate.version,
                details=details,
                reason=reason,
            )
        return previous

    def _archive(self, candidate: ModelVersion, reason: str | None) -> PromotionResult:
        with self._db.write() as conn:
            model = self._versions.model_row(conn, candidate.model, for_update=True)
            self._versions.set_stage(conn, candidate.version_id, Stage.ARCHIVED)
            if PRODUCTION_ALIAS in candidate.aliases:
                self._versions.delete_alias(conn, model.id, candidate.model, PRODUCTION_ALIAS)
            self._audit.record(
                conn,
                "archive",
                candidate.model,
                version=candidate.version,
                details={"from_stage": candidate.stage.value, "to_stage": Stage.ARCHIVED.value},
                reason=reason,
            )
        report = GateReport(new_run_id(), candidate.model, candidate.version, "Archived")
        return PromotionResult(
            version=self._versions.resolve(parse_reference(candidate.reference)),
            target=Stage.ARCHIVED.value,
            report=report,
            previous_production=None,
            is_forced=False,
        )

    # ------------------------------------------------------------------ rollback

    def rollback(self, model: str, *, reason: str | None = None) -> PromotionResult:
        """Return production to the version that was production before the current one.

        Raises:
            NoRollbackTargetError: there is no earlier production version.
            CorruptBlobError: the earlier version's artifact no longer verifies.
        """
        history = self._audit.history(model)
        with self._db.write() as conn:
            row = self._versions.model_row(conn, model, for_update=True)
            current = self._production_in(conn, row.id)
            if current is None:
                raise NoRollbackTargetError(model)
            target_number = _previous_production(history, int(current.version))
            if target_number is None:
                raise NoRollbackTargetError(model)
            target = self._versions.resolve(parse_reference(f"{model}/{target_number}"), conn)
            digest = self._digest_gate(target)
            if not digest.is_passed:
                raise InvalidTransitionError(
                    f"cannot roll {model} back to version {target_number}: {digest.message}"
                )
            self._versions.set_stage(conn, current.id, Stage.ARCHIVED)
            self._versions.set_stage(conn, target.version_id, Stage.PRODUCTION)
            self._versions.set_alias(conn, row.id, PRODUCTION_ALIAS, target.version_id)
            self._audit.record(
                conn,
                "rollback",
                model,
                version=target_number,
                details={
                    "from_version": int(current.version),
                    "to_stage": Stage.PRODUCTION.value,
                    "previous_production": int(current.version),
                },
                reason=reason,
            )
        report = GateReport(new_run_id(), model, target_number, Stage.PRODUCTION.value, (digest,))
        return PromotionResult(
            version=self._versions.resolve(parse_reference(f"{model}/{target_number}")),
            target=Stage.PRODUCTION.value,
            report=report,
            previous_production=int(current.version),
            is_forced=False,
        )

    # ------------------------------------------------------------------ helpers

    def _production(self, model: str) -> ModelVersion | None:
        with self._db.read() as conn:
            row = self._versions.model_row(conn, model)
            current = self._production_in(conn, row.id)
            if current is None:
                return None
            return self._versions.resolve(parse_reference(f"{model}/{int(current.version)}"), conn)

    def _production_in(self, conn: Any, model_id: str) -> Any:
        return conn.execute(
            model_versions.select()
            .where(
                model_versions.c.model_id == model_id,
                model_versions.c.stage == Stage.PRODUCTION.value,
            )
            .order_by(model_versions.c.version.desc())
            .limit(1)
        ).first()


def _previous_production(history: Sequence[Any], current: int) -> int | None:
    """The version that was production before ``current`` last became production."""
    for event in reversed(history):
        if event.details.get("to_stage") == Stage.PRODUCTION.value and event.version == current:
            previous = event.details.get("previous_production")
            return None if previous is None else int(previous)
    return None


def expected_outputs(predictor: Predictor, frame: pd.DataFrame, method: str) -> np.ndarray:
    """Outputs of ``predictor`` on ``frame`` to store as a smoke payload's known-good answer."""
    if method not in ("predict", "predict_proba"):
        raise InvalidInputError(f"payload method {method!r} must be predict or predict_proba")
    return np.asarray(getattr(predictor, method)(frame))
