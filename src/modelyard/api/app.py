"""The model server's ASGI app: health, readiness, metrics, predict (v1 and Open Inference V2).

``create_app(runtime)`` builds the FastAPI app over a :class:`ServingRuntime`. The app starts
answering at once: ``/healthz`` and ``/v2/health/live`` say the process is up while the models
load and warm up in the background, and ``/readyz`` / ``/v2/health/ready`` turn 200 only when
every model is loaded, pinned by digest and warm. Every error is a JSON body
``{"code", "message", "details"}`` with the status of the table in ``api/errors.py``; a bad
request is never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from modelyard import __version__
from modelyard.api import v1, v2
from modelyard.api.errors import (
    INTERNAL,
    UNAVAILABLE,
    UNPROCESSABLE,
    error_body,
    plain_error_body,
    retry_after_s,
    status_for,
)
from modelyard.api.fastpath import ServerApp
from modelyard.api.responses import JSON, json_response
from modelyard.errors import ModelNotReadyError, ModelyardError
from modelyard.serving.metrics import CONTENT_TYPE
from modelyard.serving.runtime import ServingRuntime

log = logging.getLogger("modelyard.server")


def create_app(
    runtime: ServingRuntime,
    *,
    title: str = "modelyard model server",
    ready_dir: Path | None = None,
    workers: int = 1,
) -> FastAPI:
    """Build the server app over ``runtime`` (its models load when the app starts).

    Args:
        runtime: the models to serve.
        title: the OpenAPI title.
        ready_dir: with several worker processes, a directory they share: each marks itself
            ready there, and ``/readyz`` is 200 only once all ``workers`` have (a load
            balancer must not send traffic to a worker still loading).
        workers: how many worker processes serve the same port.

    Returns:
        The ASGI app; run it with uvicorn.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_start(runtime, app, ready_dir))
        app.state.loading = task
        try:
            yield
        finally:
            if not task.done():
                task.cancel()
            await runtime.close()

    app = ServerApp(
        title=title,
        version=__version__,
        description="Predictions from registered model versions, pinned by digest, with dynamic "
        "batching, request contracts and feature enrichment. Errors are JSON bodies "
        '{"code", "message", "details"}.',
        lifespan=lifespan,
        # FastAPI's OpenTelemetry hooks cost time on every request; /metrics is the telemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.runtime = runtime
    app.state.runtime = runtime
    app.state.load_error = None
    app.state.ready_dir = ready_dir
    app.state.workers = workers
    _add_error_handlers(app, runtime)
    _add_health_routes(app, runtime)
    v1.add_routes(app, runtime)
    v2.add_routes(app, runtime)
    return app


async def _start(runtime: ServingRuntime, app: FastAPI, ready_dir: Path | None) -> None:
    try:
        await runtime.start()
        if ready_dir is not None:
            (ready_dir / f"ready-{os.getpid()}").touch()
    except ModelyardError as exc:
        app.state.load_error = exc
        log.error("cannot load the models: %s", exc)
        print(f"error: cannot load the models: {exc}", file=sys.stderr)
    except Exception as exc:
        # A bug while loading: /readyz stays 503 with the reason instead of hanging silently.
        app.state.load_error = ModelNotReadyError([f"loading failed: {type(exc).__name__}: {exc}"])
        log.exception("unexpected error while loading the models")


def _add_health_routes(app: FastAPI, runtime: ServingRuntime) -> None:
    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    async def healthz() -> Response:
        return json_response({"status": "ok"})

    @app.get(
        "/readyz",
        tags=["health"],
        summary="Readiness: every model is loaded, pinned and warm",
        responses={503: {"description": "still loading, or loading failed"}},
    )
    async def readyz() -> Response:
        error = app.state.load_error
        if error is not None:
            return json_response(
                {"code": error.code, "message": f"loading failed: {error}", "details": {}},
                UNAVAILABLE,
                headers={"Retry-After": "5"},
            )
        if not runtime.is_ready:
            raise ModelNotReadyError(list(runtime.pending))
        ready_dir = app.state.ready_dir
        if ready_dir is not None:
            ready = len(list(ready_dir.glob("ready-*")))
            if ready < app.state.workers:
                raise ModelNotReadyError([f"{ready} of {app.state.workers} workers ready"])
        return json_response(
            {
                "status": "ready",
                "models": [
                    {"reference": model.reference, "digest": model.digest}
                    for model in runtime.models
                ],
            }
        )

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE)


def _add_error_handlers(app: FastAPI, runtime: ServingRuntime) -> None:
    @app.exception_handler(ModelyardError)
    async def modelyard_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ModelyardError)
        status = status_for(exc)
        headers = dict(getattr(request.state, "response_headers", {}))
        retry = retry_after_s(exc)
        if retry is not None and status == UNAVAILABLE:
            headers["Retry-After"] = str(retry)
        model = request.path_params.get("name")
        if isinstance(model, str):
            runtime.metrics.errors.labels(model, exc.code).inc()
        return Response(error_body(exc), status_code=status, media_type=JSON, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        problems = [
            {
                "field": ".".join(str(part) for part in error.get("loc", ())),
                "rule": str(error.get("type", "invalid")),
                "message": str(error.get("msg", "")),
            }
            for error in exc.errors()
        ]
        return Response(
            plain_error_body("invalid_request", "the request is invalid", {"problems": problems}),
            status_code=UNPROCESSABLE,
            media_type=JSON,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = "not_found" if exc.status_code == 404 else "http_error"
        return Response(
            plain_error_body(code, str(exc.detail)),
            status_code=exc.status_code,
            media_type=JSON,
            headers=dict(exc.headers or {}),
        )

    @app.exception_handler(Exception)
    async def bug(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error answering %s", request.url.path)
        return Response(
            plain_error_body("internal_error", f"unexpected error: {type(exc).__name__}"),
            status_code=INTERNAL,
            media_type=JSON,
        )


def app_from_environment() -> FastAPI:
    """The app of one worker of ``modelyard serve --workers N`` (uvicorn's factory): the
    workspace from MODELYARD_HOME and the serving config from MODELYARD_SERVE_CONFIG."""
    import json

    from modelyard.serving.config import config_from_mapping
    from modelyard.workspace import open_workspace

    config = config_from_mapping(json.loads(os.environ["MODELYARD_SERVE_CONFIG"]))
    workspace = open_workspace()
    ready_dir = os.environ.get("MODELYARD_SERVE_READY_DIR")
    return create_app(
        workspace.serving(config),
        ready_dir=Path(ready_dir) if ready_dir else None,
        workers=int(os.environ.get("MODELYARD_SERVE_WORKERS", "1")),
    )
