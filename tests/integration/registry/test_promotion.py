"""Gated promotion, rollback, audit, cards and lineage (SQLite and PostgreSQL)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

from fraud_models import FEATURES, LogFn
from modelyard.errors import (
    InvalidInputError,
    NoRollbackTargetError,
    PromotionBlockedError,
)
from modelyard.lineage import LineageInput, report_input
from modelyard.registry import GateReport, Stage
from modelyard.workspace import Workspace


def _stages(workspace: Workspace) -> dict[int, str]:
    return {v.version: v.stage.value for v in workspace.models.versions("fraud")}


def test_promotion_moves_production_and_champion_and_rollback_returns(
    workspace: Workspace, log_version: LogFn
) -> None:
    log_version(0.5)
    log_version(2.0)
    first = workspace.models.promote("fraud/1", "production", reason="first")
    assert first.previous_production is None
    assert first.report.is_passed
    second = workspace.models.promote("fraud/2", "production")
    assert second.previous_production == 1
    assert _stages(workspace) == {1: "Archived", 2: "Production"}
    assert workspace.models.version("fraud@champion").version == 2
    assert workspace.models.version("fraud@production").version == 2
    back = workspace.models.rollback("fraud", reason="latency regression")
    assert (back.version.version, back.previous_production) == (1, 2)
    assert _stages(workspace) == {1: "Production", 2: "Archived"}
    assert workspace.models.version("fraud@champion").version == 1
    actions = [(e.action, e.version, e.reason) for e in workspace.models.history("fraud")]
    assert actions == [
        ("create_model", None, None),
        ("register", 1, None),
        ("register", 2, None),
        ("promote", 1, "first"),
        ("promote", 2, None),
        ("rollback", 1, "latency regression"),
    ]
    assert all(event.actor for event in workspace.models.history("fraud"))


def test_rollback_without_an_earlier_production_version(
    workspace: Workspace, log_version: LogFn
) -> None:
    log_version()
    with pytest.raises(NoRollbackTargetError, match="no earlier production version"):
        workspace.models.rollback("fraud")
    workspace.models.promote("fraud/1", "production")
    with pytest.raises(NoRollbackTargetError):
        workspace.models.rollback("fraud")


def test_metric_gates_absolute_and_relative_to_the_champion(
    workspace: Workspace, log_version: LogFn
) -> None:
    workspace.models.create("fraud")
    workspace.models.set_gates("fraud", metrics=["auc >= 0.7", "auc >= champion.auc - 0.01"])
    log_version(0.5, metrics={"auc": 0.80})
    log_version(1.0, metrics={"auc": 0.795})  # within 0.01 of the champion
    log_version(2.0, metrics={"auc": 0.75})  # more than 0.01 below
    log_version(3.0, metrics={"auc": 0.60})  # below the absolute floor too
    workspace.models.promote("fraud/1", "production")
    workspace.models.promote("fraud/2", "production")
    with pytest.raises(PromotionBlockedError) as blocked:
        workspace.models.promote("fraud/3", "production")
    assert "auc = 0.75, needs >= 0.785" in str(blocked.value)
    report = blocked.value.report
    assert isinstance(report, GateReport)
    assert [(r.gate, r.is_passed) for r in report.results if r.gate.startswith("metric")] == [
        ("metric: auc >= 0.7", True),
        ("metric: auc >= champion.auc - 0.01", False),
    ]
    assert _stages(workspace)[2] == "Production"
    stored = workspace.models.gate_report("fraud/3")
    assert stored is not None
    assert stored.is_passed is False
    with pytest.raises(PromotionBlockedError, match=r"auc = 0.6, needs >= 0.7"):
        workspace.models.promote("fraud/4", "production")
    history = workspace.models.history("fraud")
    assert [e.action for e in history][-2:] == ["promotion_blocked", "promotion_blocked"]


def test_force_needs_a_reason_and_is_audited(workspace: Workspace, log_version: LogFn) -> None:
    workspace.models.create("fraud")
    workspace.models.set_gates("fraud", metrics=["auc >= 0.9"])
    log_version(metrics={"auc": 0.8})
    with pytest.raises(InvalidInputError, match="--force needs --reason"):
        workspace.models.promote("fraud/1", "production", force=True)
    result = workspace.models.promote(
        "fraud/1", "production", force=True, reason="incident 42: old model is worse"
    )
    assert result.is_forced is True
    event = workspace.models.history("fraud")[-1]
    assert (event.action, event.reason) == ("promote_forced", "incident 42: old model is worse")
    assert event.details["forced_over"] == ["metric: auc >= 0.9: auc = 0.8, needs >= 0.9"]


def test_signature_gate_blocks_removed_inputs_unless_allowed(
    workspace: Workspace, log_version: LogFn, frame: pd.DataFrame
) -> None:
    log_version()
    workspace.models.promote("fraud/1", "production")
    renamed = frame.rename(columns={"amount": "amount_usd"})
    columns = ["amount_usd", "hour", "customer_age", "card_present"]
    log_version(features=columns, data=renamed)
    with pytest.raises(PromotionBlockedError, match="signature: breaking changes"):
        workspace.models.promote("fraud/2", "production")
    result = workspace.models.promote(
        "fraud/2", "production", allow_breaking=True, reason="schema v2"
    )
    assert [r.message for r in result.report.results if r.gate == "signature"] == [
        "breaking changes allowed"
    ]


def test_smoke_payload_and_latency_gates(
    workspace: Workspace, log_version: LogFn, frame: pd.DataFrame
) -> None:
    log_version(1.0)
    workspace.models.promote("fraud/1", "production")
    workspace.models.add_payload(
        "fraud", "known", frame[FEATURES].head(20), from_version="fraud@champion", tolerance=1e-6
    )
    log_version(0.001)  # heavily regularised: different scores on the payload
    with pytest.raises(PromotionBlockedError, match="smoke: known: outputs differ by up to"):
        workspace.models.promote("fraud/2", "production")
    workspace.models.set_gates("fraud", latency_p99_ms=1e-6, latency_samples=20)
    with pytest.raises(PromotionBlockedError, match="latency p99: single-row p99"):
        workspace.models.promote("fraud/1", "staging")
    workspace.models.set_gates("fraud", latency_p99_ms=10_000)
    staged = workspace.models.promote("fraud/1", "staging")
    assert [r.gate for r in staged.report.results][-1] == "latency p99"
    assert staged.version.stage is Stage.STAGING


def test_a_corrupt_artifact_is_refused_even_with_force(
    workspace: Workspace, log_version: LogFn
) -> None:
    logged = log_version()
    version = workspace.models.version("fraud/1")
    assert workspace.home is not None
    tree = workspace.artifacts.read_bytes(version.artifact_digest)
    import json

    entry = json.loads(tree)["files"][0]["digest"].removeprefix("sha256:")
    blob = workspace.home / "artifacts" / "sha256" / entry[:2] / entry
    os.chmod(blob, 0o644)
    blob.write_bytes(b"tampered")
    with pytest.raises(
        PromotionBlockedError, match=r"artifact digest: artifact blob .* is corrupt"
    ):
        workspace.models.promote("fraud/1", "production", force=True, reason="try anyway")
    assert _stages(workspace) == {1: "None"}
    assert logged.artifact_digest == version.artifact_digest


def test_card_lineage_and_edits(
    workspace: Workspace, frame: pd.DataFrame, log_version: LogFn, tmp_path: Path
) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["is_fraud"])
    with workspace.start_run("registry", params={"C": 1.0}, seed=7) as run:
        report_input(LineageInput("dataset", "transactions", "3", "sha256:" + "a" * 64))
        run.log_metric("auc", 0.81)
        run.log_model(model, input_example=frame[FEATURES].head(20), registered_model_name="fraud")
    workspace.models.promote("fraud/1", "production")
    card = workspace.models.edit_card("fraud/1", intended_use="Rank transactions for review.")
    assert "# Model card: fraud/1" in card
    assert "Rank transactions for review." in card
    assert "| auc | 0.81 |" in card
    assert "dataset **transactions** version `3`" in card
    assert "| artifact digest | pass |" in card
    with pytest.raises(InvalidInputError, match="card field 'owner' is not editable"):
        workspace.models.edit_card("fraud/1", owner="me")

    tree = workspace.lineage("fraud@champion")
    assert tree.kind == "model_version"
    assert tree.label == "fraud/1"
    (run_node,) = tree.find("run")
    assert run_node.details["run id"] == run.run_id
    assert [n.label for n in tree.find("input")] == ["dataset transactions/3"]
    assert [n.label for n in tree.find("seed")] == ["seed 7"]
    assert tree.find("params")[0].details == {"C": "1.0"}

    back = workspace.lineage(run.run_id)
    assert [n.label for n in back.find("model_version")] == ["fraud/1"]
    from_data = workspace.lineage("dataset:transactions/3")
    assert [n.label for n in from_data.find("model_version")] == ["fraud/1"]
    assert workspace.lineage("dataset:transactions").find("run")[0].details["run id"] == run.run_id


def test_lineage_shows_what_the_parent_run_read(workspace: Workspace, frame: pd.DataFrame) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["is_fraud"])
    with workspace.start_run("sweep", name="sweep") as parent:
        report_input(LineageInput("dataset", "transactions", "7"))
        with workspace.start_run("sweep", parent=parent) as child:
            child.log_model(
                model, input_example=frame[FEATURES].head(10), registered_model_name="fraud"
            )
    tree = workspace.lineage("fraud/1")
    (parent_node,) = tree.find("parent_run")
    assert parent_node.details == {"run id": parent.run_id}
    assert [node.label for node in parent_node.children] == ["dataset transactions/7"]
