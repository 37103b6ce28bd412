"""The predict hot path as plain ASGI: the same answer as the FastAPI routes, without the routing,
dependency solving and middleware every other endpoint goes through.

At a few thousand one-row requests a second, FastAPI's per-request machinery costs more than the
model: :class:`ServerApp` answers ``POST /v1/models/{name}[/versions/{v}]/predict`` itself and
hands everything else (and any request it cannot place) to FastAPI, whose routes stay the
documented, fuzzed definition of the same endpoints.
"""

from __future__ import annotations

import orjson
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from modelyard.api.errors import UNAVAILABLE, error_body, retry_after_s, status_for
from modelyard.api.responses import new_request_id
from modelyard.api.v1 import decode_body, prediction_body, read_asgi_body
from modelyard.errors import ModelyardError
from modelyard.serving.runtime import ServedModel, ServingRuntime

_JSON_HEADER = (b"content-type", b"application/json")


class ServerApp(FastAPI):
    """The server's FastAPI app, with the predict hot path answered in plain ASGI."""

    runtime: ServingRuntime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            model = self._model_for(scope["path"])
            if model is not None:
                await _predict(self.runtime, model, scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def _model_for(self, path: str) -> ServedModel | None:
        """The served model a predict path names, if it is one (else FastAPI answers)."""
        parts = path.split("/")
        if len(parts) == 5 and parts[4] == "predict":
            name, version = parts[3], None
        elif len(parts) == 7 and parts[4] == "versions" and parts[6] == "predict":
            name, version = parts[3], parts[5]
        else:
            return None
        if parts[1] != "v1" or parts[2] != "models" or not self.runtime.is_ready:
            return None
        return self.runtime.find(name, version)


async def _predict(
    runtime: ServingRuntime, model: ServedModel, scope: Scope, receive: Receive, send: Send
) -> None:
    content_type = b""
    request_id = ""
    declared = -1
    for key, value in scope["headers"]:
        if key == b"content-type":
            content_type = value
        elif key == b"x-request-id":
            given = value.decode("latin-1")
            if len(given) <= 128 and given.isprintable():
                request_id = given
        elif key == b"content-length" and value.isdigit():
            declared = int(value)
    request_id = request_id or new_request_id()
    headers = [
        _JSON_HEADER,
        (b"x-request-id", request_id.encode("latin-1")),
        (b"x-model-name", model.name.encode()),
        (b"x-model-version", str(model.version).encode()),
        (b"x-model-digest", model.digest.encode()),
    ]
    metrics = model.metrics
    try:
        body = await read_asgi_body(receive, declared)
        decoded = decode_body(model, body, content_type.decode("latin-1"))
        prediction = await model.predict(decoded, request_id)
        payload = orjson.dumps(
            prediction_body(model, request_id, prediction), option=orjson.OPT_SERIALIZE_NUMPY
        )
        status = 200
    except ModelyardError as exc:
        status = status_for(exc)
        retry = retry_after_s(exc)
        if retry is not None and status == UNAVAILABLE:
            headers.append((b"retry-after", str(retry).encode()))
        runtime.metrics.errors.labels(model.name, exc.code).inc()
        payload = error_body(exc)
    if status == 200:
        metrics.answered.inc()
    else:
        runtime.metrics.requests.labels(model.name, str(model.version), str(status)).inc()
    headers.append((b"content-length", str(len(payload)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
