"""Schemathesis fuzzes the real server from its own OpenAPI document: whatever the generated
request (valid or not), the answer is never a 5xx and its status is one the document lists."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from sklearn.linear_model import LogisticRegression

import modelyard
from live_server import live_server
from modelyard.api import create_app
from modelyard.serving.config import serving_config

FEATURES = ["amount", "hour", "customer_age", "card_present"]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    from modelyard.workflows.fraud_data import generate_transactions

    data = generate_transactions(rows=1_000, seed=13)
    frame = data.assign(**{name: data[name].astype("float64") for name in FEATURES})
    ws = modelyard.open(tmp_path_factory.mktemp("fuzz") / "ws")
    model = LogisticRegression(max_iter=300).fit(frame[FEATURES], frame["is_fraud"])
    with ws.start_run("fuzz") as run:
        run.log_model(model, input_example=frame[FEATURES].head(20), registered_model_name="fraud")
    # A small queue and no wait: the fuzzer's requests are answered, never left waiting.
    app = create_app(ws.serving(serving_config(["fraud/1"], max_wait_ms=0)))
    try:
        with live_server(app) as base:
            yield schemathesis.openapi.from_url(f"{base}/openapi.json")
    finally:
        ws.close()


def test_no_generated_request_gets_a_server_error(api_schema: schemathesis.BaseSchema) -> None:
    # Driven by hand rather than through schemathesis' pytest plugin, which does not support
    # the pytest this project runs.
    operations = [
        result.ok() for result in api_schema.get_all_operations() if isinstance(result, Ok)
    ]
    assert len(operations) >= 14
    statuses: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=25,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def fuzz(case: schemathesis.Case[Any]) -> None:
            # Aim most requests at the served model, so bodies reach the contract checks.
            aimed = zlib.crc32(repr(case.body).encode()) % 4 != 0
            if case.path_parameters and "name" in case.path_parameters and aimed:
                case.path_parameters["name"] = "fraud"
            response = case.call_and_validate(checks=[not_a_server_error])
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1

        fuzz()
    # The fuzzer reached the contract checks and the parser, and valid calls were answered.
    assert {200, 400, 404, 422} <= set(statuses)
