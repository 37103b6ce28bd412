"""The Open Inference Protocol (KServe V2) REST endpoints, so existing V2 clients work.

Inputs are one tensor per signature column (shape ``[N]`` or ``[N, 1]``), or the one tensor of a
tensor model; outputs are ``predictions`` (shape ``[N]``) and, for classifiers, ``probabilities``
(shape ``[N, classes]``). JSON tensor data only: the binary-data extension is refused with a
400. The response's ``parameters`` carry the model digest and whether features fell back.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import Response

from modelyard import __version__
from modelyard.api.responses import json_response, request_id_of
from modelyard.api.v1 import model_headers, read_body
from modelyard.errors import MalformedRequestError, ModelNotReadyError
from modelyard.registry.flavors.signature import Array, ColumnSpec
from modelyard.serving.requests import V2_DATATYPES, parse_json
from modelyard.serving.runtime import ServedModel, ServingRuntime

_TENSOR: dict[str, Any] = {
    "type": "object",
    "required": ["name", "shape", "datatype", "data"],
    "properties": {
        "name": {"type": "string"},
        "shape": {"type": "array", "items": {"type": "integer"}},
        "datatype": {"type": "string"},
        "data": {"type": "array"},
        "parameters": {"type": "object"},
    },
}
INFER_BODY: dict[str, Any] = {
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["inputs"],
                "properties": {
                    "id": {"type": "string"},
                    "parameters": {"type": "object"},
                    "inputs": {"type": "array", "items": _TENSOR},
                    "outputs": {
                        "type": "array",
                        "items": {"type": "object", "properties": {"name": {"type": "string"}}},
                    },
                },
            }
        }
    },
    "required": True,
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body does not parse as a V2 inference request"},
    404: {"description": "the server does not serve this model or version"},
    422: {"description": "inputs break the model's signature"},
    503: {"description": "queue full, features unavailable or still loading"},
}


def _datatype(spec: ColumnSpec | None, values: Array | None = None) -> str:
    if values is not None and values.dtype.kind in "biuf":
        return V2_DATATYPES.get(values.dtype.name, "FP64")
    if spec is None:
        return "BYTES"
    return V2_DATATYPES.get(spec.dtype, "BYTES")


def _shape(spec: ColumnSpec, is_tensor: bool) -> list[int]:
    if is_tensor and spec.shape is not None:
        return [-1 if dim is None else dim for dim in spec.shape]
    return [-1]


def metadata(model: ServedModel) -> dict[str, Any]:
    """The V2 model metadata of ``model``."""
    signature = model.predictor.signature
    is_tensor = signature.input_kind == "tensor"
    inputs: list[dict[str, object]] = [
        {"name": spec.name, "datatype": _datatype(spec), "shape": _shape(spec, is_tensor)}
        for spec in signature.inputs
    ]
    inputs += [
        {"name": name, "datatype": "BYTES", "shape": [-1], "parameters": {"entity_key": True}}
        for name in model.schema.entity_fields
    ]
    outputs = [
        {
            "name": "predictions",
            "datatype": _datatype(signature.outputs[0] if signature.outputs else None),
            "shape": [-1],
        }
    ]
    if model.predictor.is_classifier:
        outputs.append({"name": "probabilities", "datatype": "FP64", "shape": [-1, -1]})
    return {
        "name": model.name,
        "versions": [str(model.version)],
        "platform": f"modelyard-{model.predictor.backend}",
        "inputs": inputs,
        "outputs": outputs,
        "parameters": {"digest": model.digest, "flavor": model.predictor.flavor},
    }


def add_routes(app: FastAPI, runtime: ServingRuntime) -> None:
    """Add the ``/v2`` routes to ``app``."""

    @app.get("/v2", tags=["v2"], summary="V2 server metadata")
    async def server_metadata() -> Response:
        return json_response({"name": "modelyard", "version": __version__, "extensions": []})

    @app.get("/v2/health/live", tags=["v2"], summary="V2 liveness")
    async def live() -> Response:
        return json_response({"live": True})

    @app.get(
        "/v2/health/ready",
        tags=["v2"],
        summary="V2 readiness",
        responses={503: {"description": "still loading"}},
    )
    async def ready() -> Response:
        if not runtime.is_ready or app.state.load_error is not None:
            raise ModelNotReadyError(list(runtime.pending) or ["(loading failed)"])
        return json_response({"ready": True})

    @app.get("/v2/models/{name}", tags=["v2"], summary="V2 model metadata", responses=_ERRORS)
    async def model_metadata(name: str) -> Response:
        return json_response(metadata(runtime.get(name)))

    @app.get(
        "/v2/models/{name}/versions/{version}",
        tags=["v2"],
        summary="V2 model version metadata",
        responses=_ERRORS,
    )
    async def version_metadata(name: str, version: str) -> Response:
        return json_response(metadata(runtime.get(name, version)))

    @app.get(
        "/v2/models/{name}/ready", tags=["v2"], summary="V2 model readiness", responses=_ERRORS
    )
    async def model_ready(name: str) -> Response:
        runtime.get(name)
        return json_response({"name": name, "ready": True})

    async def infer(request: Request, model: ServedModel) -> Response:
        request_id = request_id_of(request)
        headers = model_headers(model, request_id)
        request.state.response_headers = headers
        if "inference-header-content-length" in request.headers:
            raise MalformedRequestError(
                "the V2 binary tensor extension is not supported; send JSON tensor data"
            )
        data = parse_json(await read_body(request))
        if not isinstance(data, dict):
            raise MalformedRequestError("a V2 inference request is a JSON object with inputs")
        given_id = data.get("id")
        if isinstance(given_id, str) and given_id:
            request_id = given_id[:128]
        decoded = model.schema.decode_v2(data.get("inputs"))
        prediction = await model.predict(decoded, request_id)
        labels = prediction.predictions
        outputs = [
            {
                "name": "predictions",
                "datatype": _datatype(None, labels),
                "shape": [int(labels.shape[0])],
                "data": labels.reshape(-1) if labels.dtype.kind in "biuf" else labels.tolist(),
            }
        ]
        if prediction.probabilities is not None:
            probabilities = np.asarray(prediction.probabilities, dtype=np.float64)
            outputs.append(
                {
                    "name": "probabilities",
                    "datatype": "FP64",
                    "shape": list(probabilities.shape),
                    "data": probabilities.reshape(-1),
                }
            )
        wanted = data.get("outputs")
        if isinstance(wanted, list) and wanted:
            names = {item.get("name") for item in wanted if isinstance(item, dict)}
            outputs = [output for output in outputs if output["name"] in names] or outputs
        body = {
            "model_name": model.name,
            "model_version": str(model.version),
            "id": request_id,
            "parameters": {
                "digest": model.digest,
                "feature_fallback": prediction.feature_fallback,
            },
            "outputs": outputs,
        }
        return json_response(body, headers=headers)

    @app.post(
        "/v2/models/{name}/infer",
        tags=["v2"],
        summary="V2 inference with the model's first served version",
        openapi_extra={"requestBody": INFER_BODY},
        responses=_ERRORS,
    )
    async def infer_default(name: str, request: Request) -> Response:
        return await infer(request, runtime.get(name))

    @app.post(
        "/v2/models/{name}/versions/{version}/infer",
        tags=["v2"],
        summary="V2 inference with one served version",
        openapi_extra={"requestBody": INFER_BODY},
        responses=_ERRORS,
    )
    async def infer_version(name: str, version: str, request: Request) -> Response:
        return await infer(request, runtime.get(name, version))
