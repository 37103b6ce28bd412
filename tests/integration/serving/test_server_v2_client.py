"""An existing Open Inference Protocol (KServe V2) client, tritonclient's HTTP client, against the
real server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard
from live_server import live_server
from modelyard.api import create_app
from modelyard.serving.config import serving_config
from modelyard.workspace import Workspace

FEATURES = ["amount", "hour", "customer_age", "card_present"]


@pytest.fixture(scope="module")
def workspace_and_frame(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Workspace, pd.DataFrame]]:
    from modelyard.workflows.fraud_data import generate_transactions

    data = generate_transactions(rows=2_000, seed=11)
    frame = data.assign(**{name: data[name].astype("float64") for name in FEATURES})
    ws = modelyard.open(tmp_path_factory.mktemp("v2") / "ws")
    model = LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["is_fraud"])
    with ws.start_run("v2") as run:
        run.log_model(model, input_example=frame[FEATURES].head(20), registered_model_name="fraud")
    try:
        yield ws, frame
    finally:
        ws.close()


def test_tritonclient_speaks_to_the_v2_endpoints(
    workspace_and_frame: tuple[Workspace, pd.DataFrame],
) -> None:
    import tritonclient.http as triton

    ws, frame = workspace_and_frame
    rows = frame[FEATURES].head(6)
    expected = np.asarray(ws.models.load("fraud/1").predict_proba(rows), dtype=np.float64)
    app = create_app(ws.serving(serving_config(["fraud/1"])))
    with live_server(app) as base:
        client = triton.InferenceServerClient(url=base.removeprefix("http://"))
        try:
            assert client.is_server_live()
            assert client.is_server_ready()
            assert client.is_model_ready("fraud")
            metadata = client.get_model_metadata("fraud")
            assert metadata["name"] == "fraud"
            assert [item["name"] for item in metadata["inputs"]] == FEATURES
            assert [item["name"] for item in metadata["outputs"]] == [
                "predictions",
                "probabilities",
            ]
            inputs = []
            for name in FEATURES:
                tensor = triton.InferInput(name, [len(rows)], "FP64")
                tensor.set_data_from_numpy(rows[name].to_numpy(), binary_data=False)
                inputs.append(tensor)
            outputs = [triton.InferRequestedOutput("probabilities", binary_data=False)]
            result = client.infer("fraud", inputs, outputs=outputs, request_id="v2-1")
            np.testing.assert_allclose(result.as_numpy("probabilities"), expected, rtol=1e-5)
            response = result.get_response()
            assert response["id"] == "v2-1"
            assert response["model_version"] == "1"
            assert response["parameters"]["digest"] == ws.models.version("fraud/1").artifact_digest
        finally:
            client.close()
        # A V2 request breaking the signature is a 422 naming the input.
        bad = httpx.post(
            f"{base}/v2/models/fraud/infer",
            json={
                "inputs": [
                    {"name": "amount", "shape": [2], "datatype": "BYTES", "data": ["a", "b"]}
                ]
            },
        )
        assert bad.status_code == 422
        fields = {item["field"] for item in bad.json()["details"]["problems"]}
        assert fields == {"amount", "hour", "customer_age", "card_present"}
