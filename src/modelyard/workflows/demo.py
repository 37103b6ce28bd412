"""The end-to-end demo on embedded defaults: synthetic card fraud stored as a dataset version,
checked against a data contract, two tracked models trained from it, compared, registered and
promoted through gates; then an upstream change stopped by the contract before training.

Later capabilities (features, serving, rollout, monitoring) extend this same scenario.
"""

from __future__ import annotations

import dataclasses
import json
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from modelyard.contracts import (
    CompatibilityReport,
    Contract,
    ContractStore,
    RowCount,
    ValidationReport,
    compare_contracts,
    load_contract,
)
from modelyard.datasets import DatasetDiff, DatasetStore
from modelyard.errors import PromotionBlockedError
from modelyard.features.store import (
    FeatureStore,
    MaterializationResult,
    OnlineFeatures,
    ParityReport,
)
from modelyard.registry import GateReport, LineageNode, ModelRegistry, PromotionResult
from modelyard.tracking import ActiveRun, Comparison
from modelyard.tracking.catalog import RunCatalog
from modelyard.workflows.demo_serving import ServerStarter, ServingDemoResult, run_serving_demo
from modelyard.workflows.fraud_data import (
    CATEGORICAL,
    FEATURES,
    LABEL,
    generate_transactions,
    time_split,
)
from modelyard.workflows.fraud_features import DEFINITIONS, FEATURE_COLUMNS, FEATURE_REFS

EXPERIMENT = "fraud-demo"
MODEL_NAME = "fraud"
EXAMPLE_ROWS = 200
SMOKE_ROWS = 25
# Scores of a retrained model move; a smoke payload catches a model that answers wrongly.
SMOKE_TOLERANCE = 0.25
# The review queue scores transactions within a quarter second. The boosted pipeline serves
# natively: skl2onnx 1.20 cannot convert scikit-learn 1.9's HistGradientBoosting, and the
# version records that conversion error.
LATENCY_BUDGET_MS = 250.0
GATE_RULES = (
    "average_precision >= 0.05",
    "roc_auc >= 0.70",
    "average_precision >= champion.average_precision - 0.005",
)
SEED = 42
ALERT_SHARE = 0.01  # the share of transactions an analyst team can review
SELECTION_METRIC = "average_precision"
# The models see the raw transaction and the point-in-time activity features.
MODEL_FEATURES = (*FEATURES, *FEATURE_COLUMNS)
PARITY_SAMPLE = 500
DATASET = "transactions"
# The tag of the newest version that passed the contract; the feature views read it.
VALIDATED_TAG = "validated"
# The contract the payments team publishes for its export; examples/contracts/ links to it.
CONTRACT_PATH = Path(__file__).with_name("contracts") / "transactions.yaml"
# The upstream change: a renamed column and a burst of missing countries on the last days.
RENAMED = {"amount": "amount_usd"}
NULL_BURST_SHARE = 0.08

Step = Callable[[str], None]


class TrackingWorkspace(Protocol):
    """What the demo needs of a workspace (``modelyard.Workspace`` is one)."""

    runs: RunCatalog
    models: ModelRegistry
    datasets: DatasetStore
    contracts: ContractStore
    features: FeatureStore

    def lineage(self, subject: str) -> LineageNode:
        """Lineage of a model reference, run or input."""
        ...

    def start_run(
        self,
        experiment: str = ...,
        *,
        name: str | None = ...,
        params: Mapping[str, object] | None = ...,
        tags: Mapping[str, object] | None = ...,
        note: str = ...,
        parent: ActiveRun | str | None = ...,
        seed: int | None = ...,
    ) -> ActiveRun:
        """Start a tracked run."""
        ...


@dataclass(frozen=True, slots=True)
class TrainedModel:
    """One model trained by the demo, with its run and registered version."""

    name: str
    run_id: str
    metrics: Mapping[str, float]
    version: str  # "fraud/N"
    is_onnx: bool


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What the demo did, for the CLI to show."""

    rows: int
    fraud_rate: float
    train_rows: int
    test_rows: int
    dataset: str  # "transactions/N"
    dataset_digest: str
    validation: ValidationReport
    parent_run_id: str
    models: tuple[TrainedModel, ...]
    comparison: Comparison
    best: TrainedModel
    promotion: PromotionResult
    lineage: LineageNode
    broken_version: str
    blocked_report: GateReport
    changed_dataset: str
    changed_validation: ValidationReport
    dataset_diff: DatasetDiff
    contract_changes: CompatibilityReport
    feature_refs: tuple[str, ...]
    materializations: tuple[MaterializationResult, ...]
    parity: ParityReport
    online_entity: dict[str, object]
    online: OnlineFeatures
    serving: ServingDemoResult | None
    seconds: float


def run_demo(
    workspace: TrackingWorkspace,
    *,
    rows: int = 300_000,
    on_step: Step | None = None,
    start_server: ServerStarter | None = None,
    prediction_log: Path | None = None,
    scores_dir: Path | None = None,
) -> DemoResult:
    """Store synthetic fraud data as a dataset version, check it against the contract, train two
    scikit-learn models from that version in tracked runs, compare them, register both, promote
    the better one through the gates; then show an upstream change (a renamed column and a null
    burst) stopped by the contract before training, and a model trained on the renamed frame
    anyway being blocked by the gates.

    Args:
        workspace: where datasets, runs and models are kept.
        rows: transactions to generate (300,000 by default).
        on_step: called with a short description as each step starts.
        start_server: serves a runtime on loopback and yields its URL; None skips the serving
            act (server burst, bad requests, online-store outage).
        prediction_log: where the server's prediction log goes.
        scores_dir: where the serving act batch-scores the last day of transactions.

    Returns:
        What the demo did: dataset versions and validation reports, the trained models, their
        comparison, the promotion, and the reports that stopped the upstream change.
    """
    step = on_step or (lambda _message: None)
    started = time.perf_counter()
    contract = load_contract(CONTRACT_PATH)
    step(f"generating {rows:,} synthetic card transactions")
    generated = generate_transactions(rows=rows)
    models: list[TrainedModel] = []
    with workspace.start_run(
        EXPERIMENT,
        name="fraud-baseline-comparison",
        params={"rows": rows, "test_share": 0.2, "split": "by event_time"},
        tags={"scenario": "card-fraud", "stage": "demo"},
        note="Two candidate fraud models on the same synthetic transactions.",
        seed=SEED,
    ) as parent:
        step(f"storing the transactions as a version of dataset {DATASET!r}")
        dataset = workspace.datasets.add(
            DATASET,
            generated,
            description="Card authorisations exported nightly by the payments team (synthetic).",
        )
        step(f"validating {dataset.ref} against contract {contract.name!r}")
        validation = workspace.contracts.validate(contract, dataset)
        validation.raise_for_errors()
        workspace.datasets.tag(DATASET, dataset.version, VALIDATED_TAG)
        # Train from the stored version, not the generator's frame: the run's lineage records
        # exactly which data the models saw.
        step("building point-in-time customer and merchant activity features")
        workspace.features.apply(DEFINITIONS)
        raw = dataset.to_pandas()
        frame = with_features(workspace.features, raw)
        train, test = time_split(frame)
        parent.log_metrics(
            {
                "fraud_rate": float(frame[LABEL].mean()),
                "train_rows": float(len(train)),
                "test_rows": float(len(test)),
            }
        )
        for name, builder in (("logistic_regression", _logistic), ("gradient_boosting", _boosting)):
            step(f"training {name.replace('_', ' ')} on {len(train):,} rows")
            models.append(_train(workspace, parent, name, builder, train, test))
    best = max(models, key=lambda model: model.metrics[SELECTION_METRIC])
    comparison = workspace.runs.compare([model.run_id for model in models])
    step(f"promoting {best.version} to production through the gates")
    workspace.models.set_gates(MODEL_NAME, metrics=GATE_RULES, latency_p99_ms=LATENCY_BUDGET_MS)
    promotion = workspace.models.promote(best.version, "production", reason="best candidate")
    workspace.models.add_payload(
        MODEL_NAME,
        "known-transactions",
        test[list(MODEL_FEATURES)].head(SMOKE_ROWS),
        from_version=promotion.version.reference,
        tolerance=SMOKE_TOLERANCE,
    )
    workspace.models.edit_card(
        promotion.version.reference,
        intended_use="Rank card transactions by fraud risk for the analyst review queue "
        "(top 1 % of daily volume). Not for automatic declines.",
        limitations="Trained on synthetic data; scores drift when the merchant or country "
        "mix changes; no label for chargebacks older than 90 days.",
    )
    lineage = workspace.lineage(promotion.version.reference)
    step("materializing the online store and checking it against the offline values")
    end = frame["event_time"].max().to_pydatetime()
    materializations = tuple(
        workspace.features.materialize(view, end=end)
        for view in ("customer_activity", "merchant_activity")
    )
    parity = workspace.features.parity("customer_activity", sample=PARITY_SAMPLE, seed=SEED)
    online_entity: dict[str, object] = {
        "customer_id": int(frame["customer_id"].iloc[-1]),
        "merchant_category": str(frame["merchant_category"].iloc[-1]),
    }
    online = workspace.features.online(list(FEATURE_REFS), [online_entity])
    serving = None
    if start_server is not None:
        step(
            f"serving {MODEL_NAME}@champion: a burst of requests, bad ones, an outage, "
            "then a day scored in batch"
        )
        serving = run_serving_demo(
            models=workspace.models,
            features=workspace.features,
            reference=f"{MODEL_NAME}@champion",
            feature_refs=FEATURE_REFS,
            transactions=test.tail(2_000),
            raw_columns=FEATURES,
            log_root=prediction_log,
            start_server=start_server,
            scores_dir=scores_dir,
        )
    step("an upstream change lands: amount renamed to amount_usd, a burst of missing countries")
    changed = workspace.datasets.add(
        DATASET,
        upstream_change(raw),
        description="Nightly export after the payments team's schema change.",
    )
    changed_validation = workspace.contracts.validate(contract, changed)
    dataset_diff = workspace.datasets.diff(dataset.ref, changed.ref)
    contract_changes = compare_contracts(contract, _upstream_contract(contract))
    step("training a model after the rename anyway (the gates must block it)")
    broken_version, blocked = _blocked_promotion(workspace, train, test)
    return DemoResult(
        rows=rows,
        fraud_rate=float(frame[LABEL].mean()),
        train_rows=len(train),
        test_rows=len(test),
        dataset=dataset.ref,
        dataset_digest=dataset.digest,
        validation=validation,
        parent_run_id=parent.run_id,
        models=tuple(models),
        comparison=comparison,
        best=best,
        promotion=promotion,
        lineage=lineage,
        broken_version=broken_version,
        blocked_report=blocked,
        changed_dataset=changed.ref,
        changed_validation=changed_validation,
        dataset_diff=dataset_diff,
        contract_changes=contract_changes,
        feature_refs=FEATURE_REFS,
        materializations=materializations,
        parity=parity,
        online_entity=online_entity,
        online=online,
        serving=serving,
        seconds=time.perf_counter() - started,
    )


def with_features(features: FeatureStore, frame: pd.DataFrame) -> pd.DataFrame:
    """Add the activity features to each transaction, as of just before it happened.

    The entity time is the event time less a millisecond, so a transaction never counts
    itself: at serving time it is not in the online store yet either.
    """
    entities = pd.DataFrame(
        {
            "customer_id": frame["customer_id"].to_numpy(),
            "merchant_category": frame["merchant_category"].to_numpy(),
            "event_timestamp": frame["event_time"] - pd.Timedelta(milliseconds=1),
        }
    )
    values = features.historical(entities, list(FEATURE_REFS)).select(list(FEATURE_COLUMNS))
    combined: pd.DataFrame = pd.concat(
        [frame.reset_index(drop=True), values.to_pandas().reset_index(drop=True)], axis=1
    )
    return combined


def upstream_change(frame: pd.DataFrame, seed: int = SEED) -> pd.DataFrame:
    """The export after an upstream team's change: ``amount`` renamed to ``amount_usd`` and the
    country missing for a burst of the newest transactions."""
    changed = frame.rename(columns=RENAMED)
    rng = np.random.default_rng(seed)
    newest = np.arange(len(changed)) >= int(len(changed) * (1 - 2 * NULL_BURST_SHARE))
    burst = newest & (rng.random(len(changed)) < 0.5)
    changed["country"] = changed["country"].where(~burst)
    return changed


def _upstream_contract(contract: Contract) -> Contract:
    """The contract the upstream team would publish for its changed export."""
    columns = {RENAMED.get(name, name): spec for name, spec in contract.columns.items()}
    rules = [
        rule
        if isinstance(rule, RowCount) or rule.column not in RENAMED
        else dataclasses.replace(rule, column=RENAMED[rule.column])
        for rule in contract.rules
    ]
    return Contract(contract.name, columns, rules, contract.description)


def _logistic() -> tuple[Any, dict[str, object]]:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    params: dict[str, object] = {"model": "LogisticRegression", "C": 0.5, "max_iter": 300}
    numeric = [column for column in MODEL_FEATURES if column not in CATEGORICAL]
    # A window without events has no amount sum: counted as zero spend.
    numbers = Pipeline(
        [("fill", SimpleImputer(strategy="constant", fill_value=0.0)), ("scale", StandardScaler())]
    )
    preprocess = ColumnTransformer(
        [
            ("categories", OneHotEncoder(handle_unknown="ignore"), list(CATEGORICAL)),
            ("log_amount", FunctionTransformer(np.log1p), ["amount"]),
            ("numbers", numbers, numeric),
        ]
    )
    model = Pipeline(
        [
            ("preprocess", preprocess),
            ("classifier", LogisticRegression(C=0.5, max_iter=300)),
        ]
    )
    return model, params


def _boosting() -> tuple[Any, dict[str, object]]:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OrdinalEncoder

    params: dict[str, object] = {
        "model": "HistGradientBoostingClassifier",
        "max_iter": 200,
        "learning_rate": 0.08,
        "max_leaf_nodes": 31,
        "l2_regularization": 1.0,
        "early_stopping": True,
    }
    preprocess = ColumnTransformer(
        [("categories", OrdinalEncoder(), list(CATEGORICAL))],
        remainder="passthrough",
        verbose_feature_names_out=False,
    )
    classifier = HistGradientBoostingClassifier(
        max_iter=200,
        learning_rate=0.08,
        max_leaf_nodes=31,
        l2_regularization=1.0,
        categorical_features=list(range(len(CATEGORICAL))),
        early_stopping=True,
        scoring="loss",
        validation_fraction=0.1,
        n_iter_no_change=15,
        random_state=SEED,
    )
    return Pipeline([("preprocess", preprocess), ("classifier", classifier)]), params


def _train(
    workspace: TrackingWorkspace,
    parent: ActiveRun,
    name: str,
    builder: Callable[[], tuple[Any, dict[str, object]]],
    train: pd.DataFrame,
    test: pd.DataFrame,
) -> TrainedModel:
    model, params = builder()
    with workspace.start_run(
        EXPERIMENT,
        name=name,
        params={**params, "features": ",".join(MODEL_FEATURES), "seed": SEED},
        tags={"scenario": "card-fraud", "candidate": name},
        parent=parent,
        seed=SEED,
    ) as run:
        fit_started = time.perf_counter()
        model.fit(train[list(MODEL_FEATURES)], train[LABEL])
        fit_seconds = time.perf_counter() - fit_started
        _log_learning_curve(run, model)
        predict_started = time.perf_counter()
        scores = model.predict_proba(test[list(MODEL_FEATURES)])[:, 1]
        predict_ms_per_1k = (time.perf_counter() - predict_started) * 1e6 / len(test)
        metrics = evaluate(test[LABEL].to_numpy(), scores)
        metrics.update(fit_seconds=fit_seconds, predict_ms_per_1k_rows=predict_ms_per_1k)
        run.log_metrics(metrics)
        logged = run.log_model(
            model,
            input_example=train[list(MODEL_FEATURES)].head(EXAMPLE_ROWS),
            registered_model_name=MODEL_NAME,
        )
        with tempfile.TemporaryDirectory(prefix="modelyard-demo-") as tmp:
            report = Path(tmp) / "evaluation.json"
            report.write_text(
                json.dumps(
                    {
                        "model": name,
                        "alert_share": ALERT_SHARE,
                        "metrics": metrics,
                        "test_rows": len(test),
                        "test_fraud_rate": float(test[LABEL].mean()),
                    },
                    indent=2,
                    sort_keys=True,
                )
            )
            run.log_artifact(report)
    assert logged.registered_version is not None
    return TrainedModel(
        name=name,
        run_id=run.run_id,
        metrics=metrics,
        version=logged.registered_version,
        is_onnx=logged.is_onnx,
    )


def _blocked_promotion(
    workspace: TrackingWorkspace, train: pd.DataFrame, test: pd.DataFrame
) -> tuple[str, GateReport]:
    """An upstream team renames ``amount``; a model trained on the new frame must not serve."""
    renamed = {"amount": "amount_usd"}
    features = [renamed.get(column, column) for column in MODEL_FEATURES]
    model, params = _boosting()
    with workspace.start_run(
        EXPERIMENT,
        name="gradient_boosting_after_rename",
        params={**params, "features": ",".join(features), "seed": SEED},
        tags={"scenario": "card-fraud", "candidate": "broken-upstream-rename"},
        seed=SEED,
    ) as run:
        frame = train.rename(columns=renamed)
        model.fit(frame[features], frame[LABEL])
        scores = model.predict_proba(test.rename(columns=renamed)[features])[:, 1]
        run.log_metrics(evaluate(test[LABEL].to_numpy(), scores))
        logged = run.log_model(
            model,
            input_example=frame[features].head(EXAMPLE_ROWS),
            registered_model_name=MODEL_NAME,
        )
    assert logged.registered_version is not None
    try:
        promoted = workspace.models.promote(logged.registered_version, "production")
    except PromotionBlockedError as error:
        report = error.report
        if not isinstance(report, GateReport):
            report = workspace.models.gate_report(logged.registered_version)
        assert report is not None  # the blocked promotion stored its gate results
        return logged.registered_version, report
    # Gates that let this model through are a defect the caller shows (report.is_passed).
    return logged.registered_version, promoted.report


def _log_learning_curve(run: ActiveRun, model: Any) -> None:
    classifier = model.named_steps["classifier"]
    train_scores = getattr(classifier, "train_score_", None)
    if train_scores is None:
        return
    validation = getattr(classifier, "validation_score_", np.array([]))
    for iteration, score in enumerate(train_scores):
        points = {"train_log_loss": -float(score)}
        if iteration < len(validation):
            points["validation_log_loss"] = -float(validation[iteration])
        run.log_metrics(points, step=iteration)


def evaluate(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Score fraud predictions: ranking quality, calibration, and the top-1 % alert queue."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    alerts = max(round(len(scores) * ALERT_SHARE), 1)
    flagged = np.argsort(-scores, kind="stable")[:alerts]
    caught = float(labels[flagged].sum())
    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        SELECTION_METRIC: float(average_precision_score(labels, scores)),
        "log_loss": float(log_loss(labels, scores, labels=[0, 1])),
        "brier": float(brier_score_loss(labels, scores)),
        "precision_at_1pct": caught / alerts,
        "recall_at_1pct": caught / max(float(labels.sum()), 1.0),
    }
