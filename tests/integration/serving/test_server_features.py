"""Feature enrichment on the real server with a real Redis online store, which the test stops
mid-way: the breaker opens, fallback or 503 per policy, and recovery when Redis returns."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard
from feature_stores import CARD, at
from live_server import PrivateRedis, live_server, metric
from modelyard.api import create_app
from modelyard.features import DatasetSource, Feature, FeatureView, OnDemandFeatureView
from modelyard.serving.config import ModelServingConfig, ServingConfig
from modelyard.workspace import Workspace

pytestmark = pytest.mark.redis

INPUTS = ["amount", "balance", "double_balance"]
FEATURES = ("card_stats:balance", "doubled:double_balance")
DEFAULTS = {"balance": 0.0, "double_balance": 0.0}


def double(table: pa.Table) -> pa.Table:
    return pa.table({"double_balance": pc.multiply(table.column("balance"), 2.0)})


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def workspace_with_features(tmp_path: Path, redis_server: PrivateRedis) -> Iterator[Workspace]:
    ws = modelyard.open(
        tmp_path / "ws", online_store=redis_server.url, online_store_prefix=uuid.uuid4().hex
    )
    cards = np.arange(1, 41)
    ws.datasets.add(
        "tx",
        pd.DataFrame(
            {
                "card_id": cards,
                "event_time": [at(float(card)) for card in cards],
                "balance": cards * 10.0,
            }
        ),
    )
    view = FeatureView(
        "card_stats",
        entities=("card",),
        source=DatasetSource("tx"),
        timestamp_field="event_time",
        features=(Feature("balance", "float64"),),
    )
    doubled = OnDemandFeatureView(
        "doubled",
        inputs=("card_stats:balance",),
        outputs=(Feature("double_balance", "float64"),),
        function=double,
    )
    ws.features.apply([CARD, view, doubled])
    ws.features.materialize("card_stats", end=at(100))
    rng = np.random.default_rng(0)
    train = pd.DataFrame({"amount": rng.normal(50, 20, 400), "balance": rng.uniform(0, 400, 400)})
    train["double_balance"] = train["balance"] * 2
    label = (train["amount"] + train["balance"] / 8 + rng.normal(0, 10, 400) > 80).astype(int)
    model = LogisticRegression(max_iter=500).fit(train[INPUTS], label)
    with ws.start_run("serving") as run:
        for name in ("scorer", "strict"):
            run.log_model(
                model,
                name=name,
                input_example=train[INPUTS].head(10),
                registered_model_name=name,
            )
    try:
        yield ws
    finally:
        ws.close()


def test_enrichment_breaker_fallback_reject_and_recovery(
    workspace_with_features: Workspace, redis_server: PrivateRedis
) -> None:
    ws = workspace_with_features
    common = {"features": FEATURES, "defaults": DEFAULTS, "feature_timeout_ms": 2000.0}
    config = ServingConfig(
        (
            ModelServingConfig("scorer/1", on_feature_failure="fallback", **common),  # type: ignore[arg-type]
            ModelServingConfig("strict/1", on_feature_failure="reject", **common),  # type: ignore[arg-type]
        ),
        breaker_failures=2,
        breaker_reset_s=0.3,
    )
    predictor = ws.models.load("scorer/1")
    expected = np.asarray(
        predictor.predict_proba(
            pd.DataFrame(
                {"amount": [5.0, 7.0], "balance": [30.0, 40.0], "double_balance": [60.0, 80.0]}
            )
        ),
        dtype=np.float64,
    )
    fallback = np.asarray(
        predictor.predict_proba(
            pd.DataFrame({"amount": [5.0], "balance": [0.0], "double_balance": [0.0]})
        ),
        dtype=np.float64,
    )
    body = {"records": [{"card_id": 3, "amount": 5.0}, {"card_id": 4, "amount": 7.0}]}
    with live_server(create_app(ws.serving(config))) as base, httpx.Client(base_url=base) as client:
        # Entity keys in, looked-up and on-demand features used.
        answer = client.post("/v1/models/scorer/predict", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["feature_fallback"] is False
        np.testing.assert_allclose(answer.json()["probabilities"], expected, rtol=1e-5)
        # A feature sent in the request is used as sent, without a lookup.
        sent = client.post(
            "/v1/models/scorer/predict",
            json={"records": [{"amount": 5.0, "balance": 0.0, "double_balance": 0.0}]},
        )
        np.testing.assert_allclose(sent.json()["probabilities"], fallback, rtol=1e-5)
        # No entity key and no features: a 422 naming the key.
        missing = client.post("/v1/models/scorer/predict", json={"records": [{"amount": 1.0}]})
        assert missing.status_code == 422
        assert [item["field"] for item in missing.json()["details"]["problems"]] == ["card_id"]
        # An unknown card: not found online, served with the declared defaults and marked.
        unknown = client.post(
            "/v1/models/scorer/predict", json={"records": [{"card_id": 999, "amount": 5.0}]}
        )
        assert unknown.json()["feature_fallback"] is True
        assert unknown.json()["fallback_reason"] == "not_found"

        redis_server.stop()
        reasons = []
        for _ in range(3):
            down = client.post("/v1/models/scorer/predict", json=body)
            assert down.status_code == 200
            assert down.json()["feature_fallback"] is True
            reasons.append(down.json()["fallback_reason"])
            np.testing.assert_allclose(down.json()["probabilities"][0], fallback[0], rtol=1e-5)
        assert reasons == ["unavailable", "unavailable", "circuit_open"]
        rejected = client.post("/v1/models/strict/predict", json=body)
        assert rejected.status_code == 503
        assert rejected.json()["code"] == "feature_lookup_failed"
        assert rejected.headers["retry-after"] == "5"
        metrics = client.get("/metrics").text
        assert metric(metrics, 'modelyard_circuit_state{store="online"}') == 2.0
        assert (
            metric(
                metrics, 'modelyard_feature_fallbacks_total{model="scorer",reason="circuit_open"}'
            )
            == 2.0
        )

        redis_server.start()
        ws.features.materialize("card_stats", end=at(100))
        time.sleep(0.4)  # past breaker_reset_s: the next lookup is the half-open trial
        recovered = client.post("/v1/models/strict/predict", json=body)
        assert recovered.status_code == 200, recovered.text
        assert recovered.json()["feature_fallback"] is False
        np.testing.assert_allclose(recovered.json()["probabilities"], expected, rtol=1e-5)
        metrics = client.get("/metrics").text
        assert metric(metrics, 'modelyard_circuit_state{store="online"}') == 0.0
