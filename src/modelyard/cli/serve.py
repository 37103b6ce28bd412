"""``modelyard serve``: the model server (FastAPI + uvicorn) for registered model versions."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from modelyard.cli.render import console, table
from modelyard.cli.state import state_of
from modelyard.errors import InvalidServingConfigError
from modelyard.serving.config import (
    ModelServingConfig,
    ServingConfig,
    load_serving_config,
)

CONFIG_ENV = "MODELYARD_SERVE_CONFIG"


def serve(
    ctx: typer.Context,
    models: Annotated[
        list[str] | None,
        typer.Argument(
            help="Model references to serve (fraud@champion, fraud/3); several versions of one "
            "model may be served side by side.",
            show_default=False,
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: a free one).")] = 8000,
    workers: Annotated[
        int, typer.Option(min=1, help="Worker processes (each loads every model).")
    ] = 1,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="A serving config (YAML): models, batching, features, fallbacks, PII.",
            show_default=False,
        ),
    ] = None,
    max_batch_size: Annotated[
        int | None,
        typer.Option(help="Most rows per model call; 1 turns batching off. [default: 64]"),
    ] = None,
    max_wait_ms: Annotated[
        float | None,
        typer.Option(help="How long a request waits for its batch to fill. [default: 2]"),
    ] = None,
    max_queue: Annotated[
        int | None,
        typer.Option(help="Most waiting requests per model before 503s. [default: 2048]"),
    ] = None,
    feature: Annotated[
        list[str] | None,
        typer.Option(
            "--feature",
            help="A feature (view:feature) read from the online store by the request's entity "
            "keys; repeat for several.",
            show_default=False,
        ),
    ] = None,
    on_feature_failure: Annotated[
        str | None,
        typer.Option(help="fallback (declared defaults) or reject (503). [default: fallback]"),
    ] = None,
    cache_size: Annotated[
        int | None, typer.Option(help="Prediction cache rows per model (0: off). [default: 0]")
    ] = None,
    no_log: Annotated[
        bool, typer.Option("--no-log", help="Do not append predictions to the prediction log.")
    ] = False,
    access_log: Annotated[bool, typer.Option(help="Log every HTTP request.")] = False,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="Check the models and config, print them, do not serve."),
    ] = False,
) -> None:
    """Serve registered model versions over HTTP: /v1 predict, Open Inference V2, /metrics.

    Each model is resolved to a version and pinned by its artifact digest, loaded (ONNX on
    onnxruntime where possible) and warmed up before /readyz turns ready. Requests are batched
    dynamically, checked against the signature (422 naming each bad field), and logged.
    """
    settings: dict[str, Any] = {
        key: value
        for key, value in {
            "max_batch_size": max_batch_size,
            "max_wait_ms": max_wait_ms,
            "max_queue": max_queue,
            "on_feature_failure": on_feature_failure,
            "cache_size": cache_size,
        }.items()
        if value is not None
    }
    if feature:
        settings["features"] = tuple(feature)
    serving = _config(models or [], config, settings, log_predictions=not no_log)
    workspace = state_of(ctx).open()
    try:
        versions = [workspace.models.version(model.ref) for model in serving.models]
        for model in serving.models:
            if model.features:
                workspace.features.request_fields(list(model.features))
        rows = [
            [
                Text(model.ref),
                Text(version.reference),
                Text(version.artifact_digest[:19] + "…"),
                Text(str(model.max_batch_size)),
                Text(f"{model.max_wait_ms:g}"),
                Text(", ".join(model.features) or "—"),
            ]
            for model, version in zip(serving.models, versions, strict=True)
        ]
        console.print(
            table(
                "models to serve",
                ["requested", "version", "digest", "max batch", "max wait ms", "features"],
                rows,
            )
        )
        if dry_run:
            return
        if workers == 1:
            _run_one(workspace, serving, host, port, access_log)
            return
    finally:
        workspace.close()
    _run_many(workspace.home, serving, host, port, workers, access_log)


def _config(
    refs: list[str], path: Path | None, settings: dict[str, Any], *, log_predictions: bool
) -> ServingConfig:
    base = load_serving_config(path) if path is not None else None
    if base is None and not refs:
        raise InvalidServingConfigError(
            "models", "name a model to serve (modelyard serve fraud@champion) or give --config"
        )
    models = list(base.models) if base is not None else []
    models += [ModelServingConfig(ref) for ref in refs]
    if base is None:
        serving = ServingConfig(tuple(models), log_predictions=log_predictions)
    else:
        serving = ServingConfig(
            tuple(models),
            pii_policy=base.pii_policy,
            log_predictions=base.log_predictions and log_predictions,
            breaker_failures=base.breaker_failures,
            breaker_reset_s=base.breaker_reset_s,
        )
    return serving.with_overrides(**settings)


def _uvicorn_config(app: Any, host: str, port: int, workers: int, access_log: bool) -> Any:
    import uvicorn

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        workers=workers,
        factory=isinstance(app, str),
        log_level="warning",
        access_log=access_log,
        # No "server: uvicorn" on every answer: it tells a scanner what runs here, and costs.
        server_header=False,
        # Forwarded-for headers only matter to the access log, which is off unless asked for.
        proxy_headers=access_log,
        http="httptools",
        loop="uvloop" if os.name != "nt" else "asyncio",
    )


def _announce(sock: socket.socket) -> None:
    host, port = sock.getsockname()[:2]
    console.print(
        f"listening on [bold]http://{host}:{port}[/]  (ready when GET /readyz answers 200; "
        "docs at /docs; Ctrl+C stops)"
    )


def _run_one(
    workspace: Any, serving: ServingConfig, host: str, port: int, access_log: bool
) -> None:
    import uvicorn

    from modelyard.api import create_app

    config = _uvicorn_config(create_app(workspace.serving(serving)), host, port, 1, access_log)
    sock = config.bind_socket()
    _announce(sock)
    uvicorn.Server(config).run(sockets=[sock])


def _run_many(
    home: Path | None, serving: ServingConfig, host: str, port: int, workers: int, access_log: bool
) -> None:

    from uvicorn.supervisors import Multiprocess

    os.environ[CONFIG_ENV] = json.dumps(serving.to_dict())
    if home is not None:
        os.environ["MODELYARD_HOME"] = str(home)
    # Each worker is a process with its own metrics; prometheus_client's multiprocess mode
    # lets /metrics in any worker report them all.
    metrics_dir = tempfile.mkdtemp(prefix="modelyard-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    # /readyz turns 200 only when every worker has loaded its models.
    ready_dir = Path(metrics_dir) / "ready"
    ready_dir.mkdir()
    os.environ["MODELYARD_SERVE_READY_DIR"] = str(ready_dir)
    os.environ["MODELYARD_SERVE_WORKERS"] = str(workers)
    config = _uvicorn_config(
        "modelyard.api.app:app_from_environment", host, port, workers, access_log
    )
    sock = config.bind_socket()
    _announce(sock)
    try:
        Multiprocess(config, sockets=[sock]).run()
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)
