"""``/v1``: the model list and predict, with JSON (records, columns, MLflow's forms) or Arrow IPC.

A predict answer carries the model name, version, digest and the request id, in the body and in
the ``X-Model-Name``, ``X-Model-Version``, ``X-Model-Digest`` and ``X-Request-ID`` headers (error
answers carry the headers too once the model is known).
"""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.types import Receive

from modelyard.api.responses import json_response, request_id_of
from modelyard.errors import MalformedRequestError
from modelyard.serving.requests import Decoded
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


async def read_body(request: Request) -> bytes:
    """Read the request body, refusing one larger than ``MAX_BODY_BYTES`` without reading it
    all.

    Raises:
        MalformedRequestError: the body is larger than the limit.
    """
    declared = request.headers.get("content-length", "")
    return await read_asgi_body(request.receive, int(declared) if declared.isdigit() else -1)


async def read_asgi_body(receive: Receive, declared: int) -> bytes:
    """Read an ASGI request body of ``declared`` bytes (-1: unknown), refusing one larger than
    ``MAX_BODY_BYTES`` without reading it all.

    Raises:
        MalformedRequestError: the body is larger than the limit.
    """
    if declared > MAX_BODY_BYTES:
        raise MalformedRequestError(f"body of {declared:,} bytes; the limit is {MAX_BODY_BYTES:,}")
    message: MutableMapping[str, Any] = await receive()
    body: bytes = message.get("body", b"")
    if not message.get("more_body", False):
        return body
    chunks = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise MalformedRequestError(f"body larger than the limit of {MAX_BODY_BYTES:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def decode_body(model: ServedModel, body: bytes, content_type: str) -> Decoded:
    """Decode a predict body by its content type (an Arrow IPC stream, else JSON).

    Raises:
        MalformedRequestError: the body does not parse.
        RequestContractError: its rows break the model's signature.
    """
    if content_type.startswith(ARROW_STREAM):
        return model.schema.decode_arrow(body)
    return model.schema.decode_json(body)


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
        decoded = decode_body(model, body, request.headers.get("content-type", ""))
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
