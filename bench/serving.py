"""Model-serving benchmark: modelyard's server vs MLflow, BentoML and a bare uvicorn endpoint.

One model (a 200-tree GradientBoostingClassifier on 20 float features, fixed seeds), one run:
(a) in-process batched inference, modelyard's predictor and serving runtime vs raw onnxruntime
on the same ONNX file; (b) HTTP throughput and p50/p99 at 64 concurrent clients sending 1-row
JSON requests, modelyard's dynamic batching on vs off; (c) the same load against
``mlflow models serve``, BentoML and a bare uvicorn + onnxruntime endpoint; (d) batch scoring
rows/s of a Parquet file, modelyard's ``batch.score`` vs raw onnxruntime on the same batches.
Load comes from a separate process (bench/_serving_load.py) on loopback; every measurement
runs in its own process and every server is stopped (its whole process group) afterwards.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import pickle
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

import modelyard
from _report import cpu_model, ensure_peer_python, finish, ratio, verdicts
from _scratch import scratch_dir
from _serving_data import (
    ESTIMATOR,
    FEATURES,
    MODEL_NAME,
    MODEL_REF,
    fit_model,
    frame,
    make_data,
    write_rows,
    write_scoring_file,
)
from _serving_servers import ServerFailed, ServerSpec, free_port, post_json, running

BENCH_DIR = Path(__file__).resolve().parent
PEERS_VENV = BENCH_DIR / ".venv-peers"
PEERS_PYTHON = PEERS_VENV / "bin" / "python"
BENTOML_VENV = PEERS_VENV / "bentoml"
SETUP_PEERS = BENCH_DIR / "setup-peers.sh"
WORKER = BENCH_DIR / "_serving_worker.py"
LOAD = BENCH_DIR / "_serving_load.py"
MLFLOW_PEER = BENCH_DIR / "_serving_mlflow.py"
MODELYARD_CLI = Path(sys.executable).parent / "modelyard"
PARTS = ("a", "b", "c", "d")
TELEMETRY_OFF = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "BENTOML_DO_NOT_TRACK": "True",
}

# Targets.
TARGET_BATCHING = 5.0  # batched / unbatched throughput at 64 clients, at least
TARGET_VS_MLFLOW = 5.0  # modelyard / MLflow throughput, at least (at an equal or better p99)
TARGET_VS_BENTOML = 2.0  # modelyard / BentoML throughput, at least (at an equal or better p99)
TARGET_VS_BARE = 1.0  # modelyard / bare uvicorn + onnxruntime throughput, at least
TARGET_P99 = 1.0  # peer p99 / modelyard p99, at least (modelyard's p99 equal or better)
TARGET_SCORING = 0.70  # modelyard batch scoring rows/s / raw onnxruntime rows/s, at least

_MIB = 1024 * 1024


def progress(message: str) -> None:
    """Print one progress line to stderr."""
    print(f"[serving] {message}", file=sys.stderr, flush=True)


def run_child(command: list[str], *, label: str, logdir: Path, env: dict[str, str] | None = None):
    """Run ``command`` to completion and return its last stdout line as JSON."""
    out_path, err_path = logdir / f"{label}.out", logdir / f"{label}.err"
    with out_path.open("w") as out, err_path.open("w") as err:
        done = subprocess.run(
            command,
            stdout=out,
            stderr=err,
            env=dict(os.environ, **TELEMETRY_OFF, **(env or {})),
            cwd=BENCH_DIR,
            check=False,
        )
    if done.returncode != 0:
        sys.stderr.write(err_path.read_text()[-4000:])
        raise RuntimeError(f"{label} failed with exit status {done.returncode}")
    return json.loads(out_path.read_text().strip().splitlines()[-1])


# ---------------------------------------------------------------------------- preparation


def prepare(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Fit the model, register it in a scratch workspace, write rows, bodies and files."""
    progress(f"fitting {ESTIMATOR} on {args.train_rows:,} rows x 20 features …")
    train_x, train_y, request_x = make_data(args.train_rows, args.pool)
    started = time.perf_counter()
    model = fit_model(train_x, train_y)
    fit_s = time.perf_counter() - started
    rows_path = workdir / "rows.jsonl"
    write_rows(rows_path, request_x)

    ws_dir = workdir / "ws"
    ws = modelyard.open(ws_dir)
    with ws.start_run("bench") as run:
        run.log_model(model, input_example=frame(train_x).head(50), registered_model_name="gbm")
    version = ws.models.version(MODEL_REF)
    predictor = ws.models.load(MODEL_REF)
    onnx = _onnx_file(ws_dir, version.artifact_digest, predictor.package.onnx_path)
    session = ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"])
    check = request_x[: args.check_rows]
    onnx_labels = session.run(None, {session.get_inputs()[0].name: check.astype(np.float32)})[0]
    model_path = workdir / "model.pkl"
    model_path.write_bytes(pickle.dumps(model))
    np.savez(workdir / "train.npz", X=train_x, y=train_y)
    return {
        "ws": ws_dir,
        "rows": rows_path,
        "onnx": onnx,
        "model_pickle": model_path,
        "train": workdir / "train.npz",
        "check_bodies": [_row_json(row) for row in check],
        "expected_onnx": [int(label) for label in onnx_labels],
        "expected_sklearn": [int(label) for label in model.predict(frame(check))],
        "info": {
            "estimator": ESTIMATOR,
            "train_rows": args.train_rows,
            "fit_seconds": fit_s,
            "request_rows": args.pool,
            "digest": version.artifact_digest,
            "backend": predictor.backend,
            "onnx_file_bytes": onnx.stat().st_size,
        },
    }


def _row_json(row: np.ndarray) -> str:
    return json.dumps(dict(zip(FEATURES, row.tolist(), strict=True)), separators=(",", ":"))


def _onnx_file(ws_dir: Path, digest: str, name: str | None) -> Path:
    """The ONNX file of the version in the workspace's model cache (filled by models.load)."""
    if name is None:
        raise SystemExit("the model did not convert to ONNX; nothing to compare with")
    cached = ws_dir / "cache" / "models" / digest.removeprefix("sha256:") / name
    if cached.is_file():
        return cached
    found = sorted(ws_dir.rglob(Path(name).name))
    if not found:
        raise SystemExit(f"no {name} under {ws_dir}")
    return found[0]


# ---------------------------------------------------------------------------- (a) in-process


def part_a(args: argparse.Namespace, prep: dict[str, Any], logdir: Path) -> dict[str, Any]:
    common = ["--rows", str(prep["rows"]), "--batch-sizes", args.batch_sizes]
    common += ["--seconds", str(args.inproc_seconds), "--clients", str(args.clients)]
    common += ["--max-batch-size", str(args.max_batch_size)]
    common += ["--max-wait-ms", str(args.max_wait_ms)]
    progress(f"(a) modelyard in-process: predictor on {args.batch_sizes}-row frames, batcher …")
    mine = run_child(
        [
            sys.executable,
            str(WORKER),
            "inproc-modelyard",
            *common,
            "--ws",
            str(prep["ws"]),
            "--log-root",
            str(logdir.parent / "inproc-predictions"),
        ],
        label="inproc-modelyard",
        logdir=logdir,
    )
    progress("(a) raw onnxruntime on the same frames and bodies …")
    limit = run_child(
        [sys.executable, str(WORKER), "inproc-onnxruntime", *common, "--onnx", str(prep["onnx"])],
        label="inproc-onnxruntime",
        logdir=logdir,
    )
    return {"modelyard": mine, "onnxruntime": limit}


# ---------------------------------------------------------------------------- (b), (c) HTTP


def server_specs(args: argparse.Namespace, prep: dict[str, Any], workdir: Path):
    """The servers to measure, in order, with why any is left out."""
    parts = set(args.only)
    specs: list[ServerSpec] = []
    missing: dict[str, str] = {}
    workers = str(args.workers)

    def modelyard_spec(key: str, label: str, batch: int) -> ServerSpec:
        return ServerSpec(
            key=key,
            label=label,
            command=[
                str(MODELYARD_CLI),
                "-w",
                str(prep["ws"]),
                "serve",
                MODEL_REF,
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--workers",
                workers,
                "--max-batch-size",
                str(batch),
                "--max-wait-ms",
                str(args.max_wait_ms),
                *(["--no-log"] if args.no_prediction_log else []),
            ],
            ready_path="/readyz",
            predict_path=f"/v1/models/{MODEL_NAME}/predict",
        )

    if "b" in parts:
        specs.append(modelyard_spec("modelyard_unbatched", "modelyard, batching off", 1))
    if "b" in parts or "c" in parts:
        specs.append(
            modelyard_spec(
                "modelyard_batched",
                f"modelyard, batching on ({args.max_batch_size}/{args.max_wait_ms:g} ms)",
                args.max_batch_size,
            )
        )
    if "c" not in parts:
        return specs, missing
    specs.append(
        ServerSpec(
            key="bare",
            label="bare uvicorn + onnxruntime",
            command=[
                sys.executable,
                "-m",
                "uvicorn",
                "_serving_bare:app",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
                "--workers",
                workers,
                "--loop",
                "uvloop",
                "--http",
                "httptools",
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            ready_path="/readyz",
            predict_path="/predict",
            cwd=BENCH_DIR,
            env={"SERVING_BARE_ONNX": str(prep["onnx"])},
        )
    )
    if args.skip_mlflow:
        missing["mlflow"] = "skipped (--skip-mlflow)"
    else:
        specs.append(mlflow_spec(args, prep, workdir))
    if args.skip_bentoml:
        missing["bentoml"] = "skipped (--skip-bentoml)"
    else:
        spec, why = bentoml_spec(args, prep, workdir)
        if spec is None:
            missing["bentoml"] = why
        else:
            specs.append(spec)
    return specs, missing


def mlflow_spec(args: argparse.Namespace, prep: dict[str, Any], workdir: Path) -> ServerSpec:
    """Save the model as an MLflow model (peers venv) and describe `mlflow models serve`."""
    python = ensure_peer_python(PEERS_PYTHON, "mlflow", SETUP_PEERS, progress)
    model_dir = workdir / "mlflow-model"
    progress("(c) saving the model with mlflow.sklearn.save_model (peers venv) …")
    saved = run_child(
        [
            str(python),
            str(MLFLOW_PEER),
            "--model",
            str(prep["model_pickle"]),
            "--train",
            str(prep["train"]),
            "--example",
            str(prep["rows"]),
            "--out",
            str(model_dir),
        ],
        label="mlflow-save",
        logdir=workdir / "logs",
    )
    prep["info"]["mlflow"] = saved
    bin_dir = python.parent
    return ServerSpec(
        key="mlflow",
        label=f"mlflow models serve (MLflow {saved['mlflow']}, sklearn flavor)",
        command=[
            str(bin_dir / "mlflow"),
            "models",
            "serve",
            "-m",
            str(model_dir),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            "{port}",
            "-w",
            str(args.workers),
        ],
        ready_path="/ping",
        predict_path="/invocations",
        wrap="dataframe_records",
        env={
            # `mlflow models serve --env-manager local` calls a bare `uvicorn`: the peers' first.
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
            # No access log, as for every server here (uvicorn reads its flags from UVICORN_*).
            "UVICORN_ACCESS_LOG": "false",
        },
        startup_timeout_s=180.0,
    )


def bentoml_spec(
    args: argparse.Namespace, prep: dict[str, Any], workdir: Path
) -> tuple[ServerSpec | None, str]:
    """Describe `bentoml serve` of bench/_serving_bento.py, or say why BentoML is n/a."""
    python = BENTOML_VENV / "bin" / "python"
    check = [str(python), "-c", "import bentoml; print(bentoml.__version__)"]

    def version() -> str | None:
        if not python.exists():
            return None
        done = subprocess.run(check, capture_output=True, text=True, env=_env(), check=False)
        return done.stdout.strip() if done.returncode == 0 else None

    found = version()
    if found is None:
        progress(f"{BENTOML_VENV} lacks bentoml: running bash {SETUP_PEERS} …")
        subprocess.run(["bash", str(SETUP_PEERS)], check=False)
        found = version()
    if found is None:
        return None, (
            f"not installed: {BENTOML_VENV} could not be made from"
            " requirements-peers-bentoml.txt (see the output of bench/setup-peers.sh)"
        )
    prep["info"]["bentoml"] = found
    return (
        ServerSpec(
            key="bentoml",
            label=f"BentoML {found}, adaptive batching {args.bentoml_batching}",
            command=[
                str(BENTOML_VENV / "bin" / "bentoml"),
                "serve",
                "_serving_bento:Gbm",
                "--host",
                "127.0.0.1",
                "--port",
                "{port}",
            ],
            ready_path="/readyz",
            predict_path="/predict",
            cwd=BENCH_DIR,
            env={
                "SERVING_BENTO_ONNX": str(prep["onnx"]),
                "SERVING_BENTO_WORKERS": str(args.workers),
                "SERVING_BENTO_BATCHING": args.bentoml_batching,
                "SERVING_BENTO_MAX_BATCH": str(args.max_batch_size),
                "BENTOML_HOME": str(workdir / "bentoml-home"),
                "PATH": f"{BENTOML_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
            },
            startup_timeout_s=180.0,
        ),
        "",
    )


def _env() -> dict[str, str]:
    return dict(os.environ, **TELEMETRY_OFF)


def _label_of(answer: Any) -> int | None:
    """The label of a 1-row answer, whichever server's shape it has."""
    try:
        if isinstance(answer, dict):
            return int(np.asarray(answer["predictions"]).reshape(-1)[0])
        if isinstance(answer, list):
            return int(answer[0]["prediction"])
    except (KeyError, IndexError, TypeError, ValueError):
        return None
    return None


def check_server(server: Any, prep: dict[str, Any]) -> dict[str, Any]:
    """Send the check rows one by one; count wrong labels against what the model gives."""
    expected = prep["expected_sklearn" if server.spec.key == "mlflow" else "expected_onnx"]
    wrong, failures, sample = 0, 0, None
    for row, label in zip(prep["check_bodies"], expected, strict=True):
        body = ('{"' + server.spec.wrap + '":[' + row + "]}").encode()
        status, answer = post_json(server.predict_url, body)
        if sample is None:
            sample = answer
        if status != 200:
            failures += 1
        elif _label_of(answer) != label:
            wrong += 1
    return {
        "rows": len(expected),
        "failed": failures,
        "wrong": wrong,
        "sample_answer": json.dumps(sample)[:300],
    }


def measure_servers(
    args: argparse.Namespace, prep: dict[str, Any], workdir: Path
) -> dict[str, Any]:
    """Every server, ``--rounds`` times in turn: start, check, load, stop."""
    logdir = workdir / "logs"
    specs, missing = server_specs(args, prep, workdir)
    results: dict[str, Any] = {
        key: {"label": key, "status": "n/a", "reason": why} for key, why in missing.items()
    }
    for spec in specs:
        results[spec.key] = {"label": spec.label, "status": "ok", "rounds": []}
    for round_index in range(args.rounds):
        for spec in specs:
            entry = results[spec.key]
            if entry["status"] != "ok":
                continue
            port = free_port()
            spec_now = ServerSpec(
                **{
                    **spec.__dict__,
                    "command": [part.replace("{port}", str(port)) for part in spec.command],
                    "env": {**TELEMETRY_OFF, **spec.env},
                }
            )
            progress(
                f"({'b' if spec.key.startswith('modelyard') else 'c'}) {spec.label}:"
                f" round {round_index + 1}/{args.rounds}, port {port} …"
            )
            try:
                with running(spec_now, port, logdir) as server:
                    check = check_server(server, prep)
                    cpu_before = server.cpu_seconds()
                    load = run_child(
                        [
                            sys.executable,
                            str(LOAD),
                            "--url",
                            server.predict_url,
                            "--rows",
                            str(prep["rows"]),
                            "--wrap",
                            spec.wrap,
                            "--clients",
                            str(args.clients),
                            "--warmup-s",
                            str(args.warmup_s),
                            "--seconds",
                            str(args.seconds),
                            "--client",
                            args.client,
                        ],
                        label=f"load-{spec.key}-{round_index}",
                        logdir=logdir,
                    )
                    cpu = server.cpu_seconds() - cpu_before
                    load["server_cpu_s"] = cpu
                    load["server_cpu_us_per_request"] = (
                        cpu / load["completed_total"] * 1e6 if load["completed_total"] else None
                    )
                    load["startup_s"] = server.startup_s
                    load["check"] = check
                    entry["rounds"].append(load)
                    progress(
                        f"    {load['throughput_rps']:,.0f} req/s, p50"
                        f" {_ms(load['p50_ms'])}, p99 {_ms(load['p99_ms'])},"
                        f" {load['errors']} errors; check: {check['wrong']} wrong,"
                        f" {check['failed']} failed of {check['rows']}"
                    )
            except ServerFailed as error:
                entry["status"] = "failed"
                entry["reason"] = str(error).splitlines()[0]
                entry["log_tail"] = str(error)[-2000:]
                progress(f"    {spec.label} failed: {entry['reason']}")
    for entry in results.values():
        if entry.get("rounds"):
            entry["summary"] = _summarize(entry["rounds"])
    return results


def _summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over rounds (throughput, p50, p99), errors summed."""

    def median(key: str) -> float | None:
        values = [r[key] for r in rounds if r.get(key) is not None]
        return statistics.median(values) if values else None

    return {
        "rounds": len(rounds),
        "throughput_rps": median("throughput_rps"),
        "p50_ms": median("p50_ms"),
        "p99_ms": median("p99_ms"),
        "errors": sum(r["errors"] for r in rounds),
        # Requests still unanswered --drain-s after the window (all 64 are in flight at its end).
        "unanswered": sum(r["cancelled_after_drain"] for r in rounds),
        "client_cpu_us_per_request": median("client_cpu_us_per_request"),
        "server_cpu_us_per_request": median("server_cpu_us_per_request"),
        "check_wrong": sum(r["check"]["wrong"] for r in rounds),
        "check_failed": sum(r["check"]["failed"] for r in rounds),
        "startup_s": median("startup_s"),
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} ms"


# ---------------------------------------------------------------------------- (d) scoring


def part_d(args: argparse.Namespace, prep: dict[str, Any], workdir: Path) -> dict[str, Any]:
    logdir = workdir / "logs"
    path = workdir / "score-input.parquet"
    progress(f"(d) writing {args.rows:,} rows x 20 features to Parquet …")
    data = write_scoring_file(path, args.rows)
    from modelyard.serving.batch import DEFAULT_BATCH_ROWS

    batch_rows = args.score_batch or DEFAULT_BATCH_ROWS
    common = ["--input", str(path), "--batch-rows", str(batch_rows)]
    progress(f"(d) modelyard batch scoring, {batch_rows:,}-row batches …")
    mine = run_child(
        [
            sys.executable,
            str(WORKER),
            "score-modelyard",
            *common,
            "--ws",
            str(prep["ws"]),
            "--output",
            str(workdir / "scores-modelyard"),
        ],
        label="score-modelyard",
        logdir=logdir,
    )
    progress(f"    {mine['rows_per_s']:,.0f} rows/s")
    progress("(d) raw onnxruntime on the same batches (pyarrow) …")
    limit = run_child(
        [
            sys.executable,
            str(WORKER),
            "score-onnxruntime",
            *common,
            "--onnx",
            str(prep["onnx"]),
            "--output",
            str(workdir / "scores-onnxruntime"),
        ],
        label="score-onnxruntime",
        logdir=logdir,
    )
    progress(f"    {limit['rows_per_s']:,.0f} rows/s")
    return {
        "data": data,
        "batch_rows": batch_rows,
        "modelyard": mine,
        "onnxruntime": limit,
        "agreement": scoring_agreement(
            workdir / "scores-modelyard", Path(limit["output"]), args.check_score_rows
        ),
    }


def scoring_agreement(mine_dir: Path, limit_dir: Path, rows: int) -> dict[str, Any]:
    """Compare the first ``rows`` scored rows of both outputs (labels, probabilities)."""
    import pyarrow.parquet as pq

    def head(directory: Path) -> dict[str, np.ndarray]:
        files = sorted(directory.glob("*.parquet"))
        table = pq.ParquetFile(files[0]).read_row_groups([0], columns=["prediction", "probability"])
        table = table.slice(0, rows)
        return {name: table.column(name).to_numpy() for name in table.column_names}

    mine, limit = head(mine_dir), head(limit_dir)
    count = min(len(mine["prediction"]), len(limit["prediction"]))
    labels = mine["prediction"][:count].astype(np.int64) != limit["prediction"][:count]
    diff = np.abs(mine["probability"][:count] - limit["probability"][:count])
    return {
        "rows_compared": int(count),
        "label_mismatches": int(labels.sum()),
        "max_abs_probability_diff": float(diff.max()) if count else None,
    }


# ---------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    """Describe the machine and the libraries the figures come from."""
    versions = {}
    for name in ("modelyard", "onnxruntime", "scikit-learn", "skl2onnx", "uvicorn", "fastapi"):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": platform.python_version(),
        **versions,
    }


def _get(result: dict[str, Any], *path: str) -> Any:
    value: Any = result
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def compute_targets(b: dict[str, Any], clients: int) -> list[dict[str, Any]]:
    """The compared ratios with their targets and verdicts (n/a when not measured)."""
    http = b.get("http", {})

    def rps(key: str) -> float | None:
        return _get(http, key, "summary", "throughput_rps")

    def p99(key: str) -> float | None:
        return _get(http, key, "summary", "p99_ms")

    mine = "modelyard_batched"
    rows: list[tuple[str, float | None, float, bool]] = [
        (
            f"(b) batching on / off, throughput at {clients} clients",
            ratio(rps(mine), rps("modelyard_unbatched")),
            TARGET_BATCHING,
            True,
        ),
        (
            "(c) modelyard / MLflow throughput",
            ratio(rps(mine), rps("mlflow")),
            TARGET_VS_MLFLOW,
            True,
        ),
        ("(c) MLflow p99 / modelyard p99", ratio(p99("mlflow"), p99(mine)), TARGET_P99, True),
        (
            "(c) modelyard / BentoML throughput",
            ratio(rps(mine), rps("bentoml")),
            TARGET_VS_BENTOML,
            True,
        ),
        ("(c) BentoML p99 / modelyard p99", ratio(p99("bentoml"), p99(mine)), TARGET_P99, True),
        (
            "(c) modelyard / bare uvicorn + onnxruntime throughput",
            ratio(rps(mine), rps("bare")),
            TARGET_VS_BARE,
            True,
        ),
        (
            "(d) modelyard / raw onnxruntime batch scoring rows/s",
            ratio(
                _get(b, "scoring", "modelyard", "rows_per_s"),
                _get(b, "scoring", "onnxruntime", "rows_per_s"),
            ),
            TARGET_SCORING,
            True,
        ),
    ]
    return verdicts(rows)


_WIDTH = 58


def render(summary: dict[str, Any]) -> str:
    """The human-readable table."""
    info, b, opts = summary["machine"], summary["bench"], summary["options"]
    model = b["model"]
    rule = "-" * (_WIDTH + 48)
    lines = [
        f"Serving benchmark, {info['date']}, {info['cpus']} CPUs ({info['cpu_model']}),",
        f"  Python {info['python']}, modelyard {info['modelyard']}, onnxruntime"
        f" {info['onnxruntime']}, scikit-learn {info['scikit-learn']}, uvicorn {info['uvicorn']}",
        f"model: {model['estimator']}, 20 float features, {model['train_rows']:,} training rows"
        f" (fit {model['fit_seconds']:.1f} s); modelyard backend {model['backend']};"
        f" ONNX {model['onnx_file_bytes'] / 1024:,.0f} KiB",
    ]
    a = b.get("inproc")
    if a:
        mine, limit = a["modelyard"], a["onnxruntime"]
        lines += [
            "",
            f"{'(a) in-process':<{_WIDTH}} {'rows/s':>12} {'p50':>11} {'p99':>11} {'t/limit':>7}",
            rule,
        ]
        for size, row in mine["batches"].items():
            best = limit["batches"][size]
            for label, item, slower in (
                (
                    f"modelyard predict_proba, {int(size):,}-row frames",
                    row,
                    ratio(best["rows_per_s"], row["rows_per_s"]),
                ),
                (f"raw onnxruntime ({best['session'].replace('_', ' ')}), same frames", best, None),
            ):
                lines.append(
                    f"  {label:<{_WIDTH - 2}} {item['rows_per_s']:>12,.0f}"
                    f" {_us(item['p50_us']):>11} {_us(item['p99_us']):>11}"
                    f" {'' if slower is None else format(slower, '.2f'):>7}"
                )
        json_limit = limit["json_batches"]
        for key, how in (("batcher", "log on"), ("batcher_no_log", "log off")):
            batcher = mine[key]
            through = f"modelyard runtime, {batcher['clients']} tasks x 1-row JSON, {how}"
            mean_rows = _num(batcher["mean_batch_rows"], ".1f")
            lines.append(
                f"  {through:<{_WIDTH - 2}} {batcher['rows_per_s']:>12,.0f}"
                f" {_us(batcher['p50_us']):>11} {_us(batcher['p99_us']):>11}"
                f" {_num(ratio(json_limit['rows_per_s'], batcher['rows_per_s']), '.2f'):>7}"
            )
            lines.append(f"  {'    mean rows per model call':<{_WIDTH - 2}} {mean_rows:>12}")
        by_hand = f"raw onnxruntime, {json_limit['batch_rows']} JSON bodies per call"
        lines.append(
            f"  {by_hand:<{_WIDTH - 2}} {json_limit['rows_per_s']:>12,.0f}"
            f" {_us(json_limit['p50_us']):>11} {_us(json_limit['p99_us']):>11}"
        )
    http = b.get("http")
    if http:
        lines += [
            "",
            f"(b)/(c) HTTP, {opts['clients']} clients, 1-row JSON, {opts['seconds']} s after"
            f" {opts['warmup_s']} s warm-up, {opts['rounds']} round(s), {opts['workers']}"
            f" worker(s), client {opts['client']}",
            f"{'server':<{_WIDTH}} {'req/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
            f" {'srv µs/req':>10}",
            rule,
        ]
        order = ["modelyard_unbatched", "modelyard_batched", "bare", "mlflow", "bentoml"]
        for key in order:
            entry = http.get(key)
            if entry is None:
                continue
            tag = "(b)" if key.startswith("modelyard") else "(c)"
            label = f"{tag} {entry['label']}"
            summ = entry.get("summary")
            if not summ:
                lines.append(f"{label:<{_WIDTH}} {'n/a':>10}  {entry.get('reason', '')}")
                continue
            lines.append(
                f"{label:<{_WIDTH}} {summ['throughput_rps']:>10,.0f}"
                f" {_num(summ['p50_ms'], '.2f'):>8} {_num(summ['p99_ms'], '.2f'):>8}"
                f" {summ['errors']:>7} {_num(summ['server_cpu_us_per_request'], ',.0f'):>10}"
            )
            if summ["check_wrong"] or summ["check_failed"] or summ["unanswered"]:
                lines.append(
                    f"    check: {summ['check_wrong']} wrong, {summ['check_failed']} failed;"
                    f" unanswered after the drain: {summ['unanswered']}"
                )
            if entry.get("status") == "failed":
                lines.append(f"    a later round failed: {entry.get('reason', '')}")
        client_cost = [
            entry["summary"]["client_cpu_us_per_request"]
            for entry in http.values()
            if entry.get("summary") and entry["summary"]["client_cpu_us_per_request"]
        ]
        if client_cost:
            cost = f"{min(client_cost):.0f}-{max(client_cost):.0f} µs"
            lines.append(f"    load generator CPU per request: {cost}")
    d = b.get("scoring")
    if d:
        mine, limit = d["modelyard"], d["onnxruntime"]
        lines += [
            "",
            f"(d) batch scoring, {d['data']['rows']:,} rows x 20 float64 (Parquet"
            f" {d['data']['file_bytes'] / _MIB:,.1f} MiB), {d['batch_rows']:,}-row batches",
            f"{'scorer':<{_WIDTH}} {'rows/s':>12} {'seconds':>8} {'peak RSS':>9}",
            rule,
        ]
        for label, item in (
            ("modelyard batch.score (input columns + scores out)", mine),
            (f"raw onnxruntime + pyarrow, same output ({limit['session']})", limit),
        ):
            lines.append(
                f"{label:<{_WIDTH}} {item['rows_per_s']:>12,.0f} {item['seconds']:>8.2f}"
                f" {item['vm_hwm_bytes'] / _MIB:>5,.0f} MiB"
            )
        bare = limit.get("read_and_run_only")
        if bare:
            lines.append(
                f"{'    for orientation: read + run only, nothing written':<{_WIDTH}}"
                f" {bare['rows_per_s']:>12,.0f} {bare['seconds']:>8.2f}"
            )
    lines += ["", f"{'target':<{_WIDTH}} {'ratio':>9} {'need':>8}", rule]
    for target in summary["targets"]:
        value = "-" if target["ratio"] is None else f"{target['ratio']:.2f}"
        need = (">= " if target["at_least"] else "<= ") + format(target["target"], "g")
        lines.append(f"{target['name']:<{_WIDTH}} {value:>9} {need:>8} {target['verdict']:>5}")
    return "\n".join(lines)


def _num(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _us(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f} µs"


def failed_checks(b: dict[str, Any]) -> list[str]:
    """modelyard problems (each fails the run); peers' problems are only reported."""
    problems = []
    for key in ("modelyard_unbatched", "modelyard_batched"):
        entry = _get(b, "http", key)
        if not entry:
            continue
        if entry.get("status") == "failed":
            problems.append(f"{entry['label']}: {entry.get('reason')}")
        summ = entry.get("summary")
        if summ and (
            summ["errors"] or summ["unanswered"] or summ["check_wrong"] or summ["check_failed"]
        ):
            problems.append(
                f"{entry['label']}: {summ['errors']} errors and {summ['unanswered']} unanswered"
                f" under load, check {summ['check_wrong']} wrong / {summ['check_failed']} failed"
            )
    scoring = b.get("scoring")
    if scoring:
        rows = scoring["data"]["rows"]
        for name in ("modelyard", "onnxruntime"):
            if scoring[name]["rows_out"] != rows:
                problems.append(f"(d) {name} wrote {scoring[name]['rows_out']:,} of {rows:,} rows")
        if scoring.get("agreement", {}).get("label_mismatches"):
            problems.append(f"(d) modelyard labels differ from the limit's: {scoring['agreement']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Parse the CLI, run each part in its own processes and print the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="a,b,c,d", help="parts to run, e.g. b,c")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per server")
    parser.add_argument("--warmup-s", type=float, default=2.0, help="unmeasured seconds first")
    parser.add_argument("--clients", type=int, default=64, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument("--rounds", type=int, default=1, help="HTTP rounds (medians compared)")
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw", help="load client")
    parser.add_argument("--max-batch-size", type=int, default=64, help="batching on: rows")
    parser.add_argument("--max-wait-ms", type=float, default=2.0, help="batching on: wait")
    parser.add_argument(
        "--bentoml-batching",
        choices=("on", "off"),
        default="on",
        help="BentoML's adaptive batching",
    )
    parser.add_argument(
        "--no-prediction-log",
        action="store_true",
        help="serve modelyard with --no-log (default: the prediction log on, as shipped)",
    )
    parser.add_argument("--skip-mlflow", action="store_true", help="leave MLflow out")
    parser.add_argument("--skip-bentoml", action="store_true", help="leave BentoML out")
    parser.add_argument("--train-rows", type=int, default=10_000, help="training rows")
    parser.add_argument("--pool", type=int, default=2_000, help="distinct request rows")
    parser.add_argument("--check-rows", type=int, default=20, help="rows checked per server")
    parser.add_argument("--batch-sizes", default="1,64,1024", help="(a) frame sizes")
    parser.add_argument("--inproc-seconds", type=float, default=2.0, help="(a) seconds per size")
    parser.add_argument("--rows", type=int, default=1_000_000, help="(d) rows to score")
    parser.add_argument(
        "--score-batch", type=int, default=0, help="(d) rows per batch (0: default)"
    )
    parser.add_argument(
        "--check-score-rows", type=int, default=50_000, help="(d) rows compared between outputs"
    )
    parser.add_argument("--results", type=Path, help="write the JSON summary to this file")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    args = parser.parse_args(argv)
    args.only = [part.strip() for part in args.only.split(",") if part.strip()]
    if not args.only or set(args.only) - set(PARTS):
        parser.error(f"--only takes a comma-separated subset of {','.join(PARTS)}")
    if min(args.clients, args.workers, args.rounds, args.max_batch_size, args.train_rows) < 1:
        parser.error("counts must be positive")
    if args.seconds <= 0 or args.warmup_s < 0 or args.rows < 1:
        parser.error("--seconds and --rows must be positive, --warmup-s not negative")
    if args.pool < max(args.check_rows, args.max_batch_size, args.clients):
        parser.error("--pool must be at least --check-rows, --max-batch-size and --clients")
    summary: dict[str, Any] = {
        "machine": machine(),
        "options": {key: value for key, value in vars(args).items() if key != "results"},
    }
    summary["options"]["results"] = str(args.results) if args.results else None
    bench: dict[str, Any] = {}
    with scratch_dir("serving-") as workdir:
        (workdir / "logs").mkdir()
        prep = prepare(args, workdir)
        bench["model"] = prep["info"]
        if "a" in args.only:
            bench["inproc"] = part_a(args, prep, workdir / "logs")
        if "b" in args.only or "c" in args.only:
            bench["http"] = measure_servers(args, prep, workdir)
        if "d" in args.only:
            bench["scoring"] = part_d(args, prep, workdir)
    summary["bench"] = bench
    summary["targets"] = compute_targets(bench, args.clients)
    summary["problems"] = failed_checks(bench)
    table = render(summary)
    return 1 if finish(summary, table, results=args.results, as_json=args.json) else 0


if __name__ == "__main__":
    raise SystemExit(main())
