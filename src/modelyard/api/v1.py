"""``/v1``: the model list and predict, with JSON (records, columns, MLflow's forms) or Arrow IPC.

A predict answer carries the model name, version, digest and the request id, in the body and in
the ``X-Model-Name``, ``X-Model-Version``, ``X-Model-Digest`` and ``X-Request-ID`` headers (error
answers carry the headers too once the model is known).
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response

from modelyard.api.responses import json_response, request_id_of
from modelyard.errors import MalformedRequestError
from modelyard.serving.runtime import Prediction, ServedModel, ServingRuntime

ARROW_STREAM = "application/vnd.apache.arrow.stream"
MAX_BODY_BYTES = 64 * 1024 * 1024

_VALUE: dict[str, Any] = {
    "anyOf": [
        {"type": "number"},
        {"type": "integer"},
        {"type": "string"},
        {"type": "boolean"},
        {"type": "null"},
    ]
}
PREDICT_BODY: dict[str, Any] = {
    "content": {
        "application/json": {
            "schema": {
                "description": "Rows in one of these forms; fields are the model's inputs "
                "(GET /v1/models/{name}) and, for models with features, their entity keys.",
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["records"],
                        "properties": {
                            "records": {
                                "type": "array",
                                "items": {"type": "object", "additionalProperties": _VALUE},
                            }
                        },
                    },
                    {
                        "type": "object",
                        "required": ["columns"],
                        "properties": {
                            "columns": {
                                "type": "object",
                                "additionalProperties": {"type": "array", "items": _VALUE},
                            }
                        },
                    },
                    {
                        "type": "object",
                        "required": ["dataframe_split"],
                        "properties": {
                            "dataframe_split": {
                                "type": "object",
                                "properties": {
                                    "columns": {"type": "array", "items": {"type": "string"}},
                                    "data": {
                                        "type": "array",
                                        "items": {"type": "array", "items": _VALUE},
                                    },
                                },
                            }
                        },
                    },
                    {
                        "type": "object",
                        "required": ["inputs"],
                        "properties": {"inputs": {"type": "array"}},
                        "description": "A tensor model's input as nested lists.",
                    },
                ],
            },
            "example": {"records": [{"amount": 42.5, "country": "DE"}]},
        },
        ARROW_STREAM: {"schema": {"type": "string", "format": "binary"}},
    },
    "required": True,
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "the body does not parse (not JSON / Arrow, no accepted form)"},
    404: {"description": "the server does not serve this model or version"},
    422: {"description": "fields break the model's signature; details.problems names each"},
    503: {"description": "queue full, features unavailable (reject policy) or still loading"},
}


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """Read the request body, refusing one larger than ``limit`` without reading it all.

    Raises:
        MalformedRequestError: the body is larger than the limit.
    """
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise MalformedRequestError(f"body of {int(declared):,} bytes; the limit is {limit:,}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise MalformedRequestError(f"body larger than the limit of {limit:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def model_headers(model: ServedModel, request_id: str) -> dict[str, str]:
    """The headers every answer about ``model`` carries."""
    return {
        "X-Request-ID": request_id,
        "X-Model-Name": model.name,
        "X-Model-Version": str(model.version),
        "X-Model-Digest": model.digest,
    }


def prediction_body(model: ServedModel, request_id: str, prediction: Prediction) -> dict[str, Any]:
    """The JSON answer of a v1 predict."""
    labels = prediction.predictions
    body: dict[str, Any] = {
        "model": model.name,
        "version": model.version,
        "digest": model.digest,
        "request_id": request_id,
        "predictions": labels if labels.dtype.kind in "biuf" else labels.tolist(),
    }
    if prediction.probabilities is not None:
        body["probabilities"] = prediction.probabilities
    body["feature_fallback"] = prediction.feature_fallback
    if prediction.fallback_reason is not None:
        body["fallback_reason"] = prediction.fallback_reason
    if prediction.cached_rows:
        body["cached_rows"] = prediction.cached_rows
    return body


def add_routes(app: FastAPI, runtime: ServingRuntime) -> None:
    """Add the ``/v1`` routes to ``app``."""

    @app.get("/v1/models", tags=["v1"], summary="The models this server hosts")
    async def list_models() -> Response:
        return json_response({"models": [model.describe() for model in runtime.models]})

    @app.get(
        "/v1/models/{name}",
        tags=["v1"],
        summary="A served model: version, digest, signature, batching and features",
        responses={404: _ERRORS[404]},
    )
    async def describe(name: str) -> Response:
        return json_response(runtime.get(name).describe())

    async def answer(request: Request, model: ServedModel) -> Response:
        request_id = request_id_of(request)
        headers = model_headers(model, request_id)
        request.state.response_headers = headers
        body = await read_body(request)
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(ARROW_STREAM):
            decoded = model.schema.decode_arrow(body)
        else:
            decoded = model.schema.decode_json(body)
        prediction = await model.predict(decoded, request_id)
        return json_response(prediction_body(model, request_id, prediction), headers=headers)

    @app.post(
        "/v1/models/{name}/predict",
        tags=["v1"],
        summary="Predict with the model's first served version",
        openapi_extra={"requestBody": PREDICT_BODY},
        responses=_ERRORS,
    )
    async def predict(name: str, request: Request) -> Response:
        return await answer(request, runtime.get(name))

    @app.post(
        "/v1/models/{name}/versions/{version}/predict",
        tags=["v1"],
        summary="Predict with one served version (by number or digest)",
        openapi_extra={"requestBody": PREDICT_BODY},
        responses=_ERRORS,
    )
    async def predict_version(name: str, version: str, request: Request) -> Response:
        return await answer(request, runtime.get(name, version))
