"""The real server on loopback over HTTP: predict forms, contracts, errors, batching, a full
queue, several versions, metrics and the prediction log."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard
from live_server import live_server, metric
from modelyard.api import create_app
from modelyard.serving.config import serving_config
from modelyard.serving.predlog import read_predictions
from modelyard.workspace import Workspace

FEATURES = ["amount", "hour", "customer_age", "card_present"]


def _train(ws: Workspace, frame: pd.DataFrame, c: float) -> str:
    model = LogisticRegression(C=c, max_iter=500).fit(frame[FEATURES], frame["is_fraud"])
    with ws.start_run("serving") as run:
        logged = run.log_model(
            model, input_example=frame[FEATURES].head(20), registered_model_name="fraud"
        )
    assert logged.registered_version is not None
    return logged.registered_version


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, pd.DataFrame]]:
    from modelyard.workflows.fraud_data import generate_transactions

    data = generate_transactions(rows=3_000, seed=5)
    frame = data.assign(**{name: data[name].astype("float64") for name in FEATURES})
    ws = modelyard.open(tmp_path_factory.mktemp("serving") / "ws")
    _train(ws, frame, 1.0)
    _train(ws, frame, 0.01)
    ws.models.set_alias("fraud", "stable", 1)
    try:
        yield ws, frame
    finally:
        ws.close()


def _records(frame: pd.DataFrame, rows: slice) -> list[dict[str, object]]:
    return [
        {str(key): value for key, value in row.items()}
        for row in frame[FEATURES].iloc[rows].to_dict(orient="records")
    ]


def _expected(ws: Workspace, frame: pd.DataFrame, rows: slice, version: int = 1) -> np.ndarray:
    return ws.models.load(f"fraud/{version}").predict_proba(frame[FEATURES].iloc[rows])


def test_predict_forms_agree_with_the_predictor_and_carry_the_version(
    served: tuple[Workspace, pd.DataFrame],
) -> None:
    ws, frame = served
    version = ws.models.version("fraud/1")
    expected = _expected(ws, frame, slice(0, 5))
    subset = frame[FEATURES].iloc[0:5]
    arrow = io.BytesIO()
    table = pa.Table.from_pandas(subset, preserve_index=False)
    with pa.ipc.new_stream(arrow, table.schema) as writer:
        writer.write_table(table)
    bodies: list[dict[str, Any]] = [
        {"json": {"records": _records(frame, slice(0, 5))}},
        {"json": {"columns": {name: subset[name].tolist() for name in FEATURES}}},
        {"json": {"dataframe_split": {"columns": FEATURES, "data": subset.to_numpy().tolist()}}},
        {
            "content": arrow.getvalue(),
            "headers": {"content-type": "application/vnd.apache.arrow.stream"},
        },
    ]
    app = create_app(ws.serving(serving_config(["fraud@stable"])))
    with live_server(app) as base, httpx.Client(base_url=base) as client:
        for body in bodies:
            headers = {"x-request-id": "req-1", **body.pop("headers", {})}
            answer = client.post("/v1/models/fraud/predict", headers=headers, **body)
            assert answer.status_code == 200, answer.text
            payload = answer.json()
            assert payload["model"] == "fraud"
            assert payload["version"] == 1
            assert payload["digest"] == version.artifact_digest
            assert payload["request_id"] == "req-1"
            assert payload["feature_fallback"] is False
            np.testing.assert_allclose(payload["probabilities"], expected, rtol=1e-5)
            assert payload["predictions"] == expected.argmax(axis=1).tolist()
            assert answer.headers["x-model-digest"] == version.artifact_digest
            assert answer.headers["x-model-version"] == "1"
            assert answer.headers["x-request-id"] == "req-1"
        ready = client.get("/readyz").json()
        assert ready == {
            "status": "ready",
            "models": [{"reference": "fraud/1", "digest": version.artifact_digest}],
        }


def test_bad_requests_are_4xx_with_every_problem_named(
    served: tuple[Workspace, pd.DataFrame],
) -> None:
    ws, _ = served
    app = create_app(ws.serving(serving_config(["fraud/1"])))
    with live_server(app) as base, httpx.Client(base_url=base) as client:
        answer = client.post(
            "/v1/models/fraud/predict",
            json={"records": [{"amount": "12", "hour": 3.0, "customer_agee": 40, "extra": 1}]},
        )
        assert answer.status_code == 422
        body = answer.json()
        assert body["code"] == "request_contract_violation"
        problems = {(item["field"], item["rule"]) for item in body["details"]["problems"]}
        assert problems == {
            ("amount", "type"),
            ("customer_agee", "unknown_field"),
            ("extra", "unknown_field"),
            ("customer_age", "required"),
            ("card_present", "required"),
        }
        assert 'did you mean "customer_age"' in body["message"]
        assert answer.headers["x-model-name"] == "fraud"

        malformed = client.post("/v1/models/fraud/predict", content=b'{"records": [')
        assert malformed.status_code == 400
        assert malformed.json()["code"] == "malformed_request"

        no_form = client.post("/v1/models/fraud/predict", json={"rows": []})
        assert no_form.status_code == 400
        assert "expected one of records" in no_form.json()["message"]

        unknown = client.post("/v1/models/fruad/predict", json={"records": []})
        assert unknown.status_code == 404
        assert unknown.json()["code"] == "model_not_served"
        assert 'did you mean "fraud"' in unknown.json()["message"]
        assert "fraud/1" in unknown.json()["message"]

        no_route = client.get("/v1/nothing")
        assert no_route.status_code == 404
        assert no_route.json()["code"] == "not_found"

        wrong_version = client.post("/v1/models/fraud/versions/9/predict", json={"records": []})
        assert wrong_version.status_code == 404


def test_concurrent_requests_are_batched_and_each_gets_its_own_answer(
    served: tuple[Workspace, pd.DataFrame],
) -> None:
    ws, frame = served
    rows = 120
    expected = _expected(ws, frame, slice(0, rows))
    app = create_app(ws.serving(serving_config(["fraud/1"], max_batch_size=16, max_wait_ms=20)))

    async def burst(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(
            base_url=base, limits=httpx.Limits(max_connections=64)
        ) as client:
            return await asyncio.gather(
                *(
                    client.post(
                        "/v1/models/fraud/predict",
                        json={"records": _records(frame, slice(i, i + 1))},
                        headers={"x-request-id": f"row-{i}"},
                    )
                    for i in range(rows)
                )
            )

    with live_server(app) as base:
        answers = asyncio.run(burst(base))
        metrics = httpx.get(f"{base}/metrics").text
    for i, answer in enumerate(answers):
        assert answer.status_code == 200
        body = answer.json()
        assert body["request_id"] == f"row-{i}"
        np.testing.assert_allclose(body["probabilities"][0], expected[i], rtol=1e-5)
    batches = metric(metrics, 'modelyard_batch_size_requests_count{model="fraud",version="1"}')
    requests = metric(metrics, 'modelyard_batch_size_requests_sum{model="fraud",version="1"}')
    assert requests == rows
    assert batches < rows  # requests were coalesced
    assert (
        metric(metrics, 'modelyard_batch_size_rows_bucket{le="16.0",model="fraud",version="1"}')
        == batches
    )


def test_a_full_queue_answers_503_with_retry_after(served: tuple[Workspace, pd.DataFrame]) -> None:
    ws, frame = served
    # The first request waits up to 1.5 s for company; three more fit the queue; the rest
    # arrive while the queue is full.
    app = create_app(
        ws.serving(serving_config(["fraud/1"], max_batch_size=64, max_wait_ms=1500, max_queue=3))
    )

    async def burst(base: str) -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            first = asyncio.create_task(
                client.post(
                    "/v1/models/fraud/predict", json={"records": _records(frame, slice(0, 1))}
                )
            )
            await asyncio.sleep(0.2)
            rest = await asyncio.gather(
                *(
                    client.post(
                        "/v1/models/fraud/predict",
                        json={"records": _records(frame, slice(i, i + 1))},
                    )
                    for i in range(1, 10)
                )
            )
            return [await first, *rest]

    with live_server(app) as base:
        answers = asyncio.run(burst(base))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 4 + [503] * 6
    refused = next(answer for answer in answers if answer.status_code == 503)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["code"] == "queue_full"
    assert "max_queue" in refused.json()["message"]


def test_several_versions_are_served_side_by_side_pinned_by_digest(
    served: tuple[Workspace, pd.DataFrame],
) -> None:
    ws, frame = served
    first, second = ws.models.version("fraud/1"), ws.models.version("fraud/2")
    app = create_app(ws.serving(serving_config(["fraud@stable", "fraud/2"])))
    body = {"records": _records(frame, slice(0, 3))}
    with live_server(app) as base, httpx.Client(base_url=base) as client:
        default = client.post("/v1/models/fraud/predict", json=body).json()
        by_number = client.post("/v1/models/fraud/versions/2/predict", json=body).json()
        by_digest = client.post(
            f"/v1/models/fraud/versions/{second.artifact_digest}/predict", json=body
        ).json()
        listing = client.get("/v1/models").json()["models"]
    assert default["digest"] == first.artifact_digest
    assert by_number["digest"] == by_digest["digest"] == second.artifact_digest
    np.testing.assert_allclose(
        by_number["probabilities"], _expected(ws, frame, slice(0, 3), version=2), rtol=1e-5
    )
    assert [(item["reference"], item["requested"]) for item in listing] == [
        ("fraud/1", "fraud@stable"),
        ("fraud/2", "fraud/2"),
    ]


def test_predictions_are_logged_with_pii_hashed(
    served: tuple[Workspace, pd.DataFrame], tmp_path: Path
) -> None:
    ws, frame = served
    config = serving_config(["fraud/1"], pii_fields=("customer_age",))
    runtime = ws.serving(config)
    runtime._log_root = tmp_path / "predictions"  # this test's own log
    app = create_app(runtime)
    with live_server(app) as base, httpx.Client(base_url=base) as client:
        for i in range(3):
            answer = client.post(
                "/v1/models/fraud/predict",
                json={"records": _records(frame, slice(2 * i, 2 * i + 2))},
                headers={"x-request-id": f"log-{i}"},
            )
            assert answer.status_code == 200
    logged = read_predictions(tmp_path / "predictions", model="fraud").to_pylist()
    assert [row["request_id"] for row in logged] == [
        "log-0",
        "log-0",
        "log-1",
        "log-1",
        "log-2",
        "log-2",
    ]
    digest = ws.models.version("fraud/1").artifact_digest
    assert {row["digest"] for row in logged} == {digest}
    ages = frame["customer_age"].iloc[0:6].tolist()
    # The inputs exactly as the model saw them: this ONNX model takes a float32 matrix.
    seen = frame["amount"].iloc[0:6].to_numpy(dtype=np.float32).tolist()
    assert [row["inputs"]["amount"] for row in logged] == seen
    hashed = [row["inputs"]["customer_age"] for row in logged]
    assert all(isinstance(value, str) and len(value) == 64 for value in hashed)
    assert hashed[0] != str(ages[0])
    assert all(row["feature_fallback"] is False for row in logged)


def test_the_prediction_cache_answers_a_repeated_input(
    served: tuple[Workspace, pd.DataFrame],
) -> None:
    ws, frame = served
    app = create_app(ws.serving(serving_config(["fraud/1"], cache_size=100, max_wait_ms=0)))
    body = {"records": _records(frame, slice(0, 2))}
    with live_server(app) as base, httpx.Client(base_url=base) as client:
        first = client.post("/v1/models/fraud/predict", json=body).json()
        second = client.post("/v1/models/fraud/predict", json=body).json()
        metrics = client.get("/metrics").text
    assert "cached_rows" not in first
    assert second["cached_rows"] == 2
    assert second["probabilities"] == first["probabilities"]
    labels = 'model="fraud",version="1"'
    assert metric(metrics, f"modelyard_prediction_cache_hits_total{{{labels}}}") == 2.0
    assert metric(metrics, f"modelyard_prediction_cache_misses_total{{{labels}}}") == 2.0
    assert metric(metrics, f"modelyard_prediction_cache_hit_ratio{{{labels}}}") == 0.5
