"""Child processes of bench/serving.py in the project venv (one contender each).

Modes:

- ``inproc-modelyard``: (a) ``predictor.predict_proba`` on DataFrames of each ``--batch-sizes``
  size; then modelyard's serving path without HTTP: ``--clients`` asyncio tasks, each sending
  1-row JSON bodies through the model's request schema (``decode_json``) and
  ``ServedModel.predict``, i.e. its DynamicBatcher (``--max-batch-size``, ``--max-wait-ms``);
  once with the prediction log on (under ``--log-root``, as the server runs by default) and
  once without it.
- ``inproc-onnxruntime``: (a) the limit: raw onnxruntime on the same frames
  (``frame.to_numpy(float32)`` inside the timed call; a session with default options and one
  with modelyard's, the faster counts), and on the same JSON bodies taken ``--max-batch-size``
  at a time (orjson decode, one float32 array, one ``session.run``).
- ``score-modelyard``: (d) modelyard's batch scoring of the Parquet file.
- ``score-onnxruntime``: (d) the limit: ``pyarrow.parquet.ParquetFile.iter_batches`` of the
  same batch size, a float32 matrix per batch, one ``session.run``, labels and probabilities
  written to Parquet.

Each prints one JSON line on stdout (timings, checks, VmHWM); anything else goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from _contracts_memory import claim_stdout, emit
from _serving_data import FEATURES, MODEL_REF

_WARMUP_S = 0.5


def _rows(path: Path) -> np.ndarray:
    return np.array(
        [[row[name] for name in FEATURES] for row in map(json.loads, path.read_text().split())]
    )


def _bodies(path: Path) -> list[bytes]:
    return [b'{"records":[' + line.encode() + b"]}" for line in path.read_text().split()]


def _frames(pool: np.ndarray, rows: int, count: int, seed: int) -> list[pd.DataFrame]:
    """``count`` DataFrames of ``rows`` rows, each built afresh from numpy slices of the pool
    (wrapping around), as a server builds one per request."""
    rng = np.random.default_rng(seed)
    tiled = np.concatenate([pool] * (1 + rows // len(pool) + 1))
    starts = rng.integers(0, len(pool), size=count)
    return [
        pd.DataFrame(
            {name: tiled[start : start + rows, i].copy() for i, name in enumerate(FEATURES)}
        )
        for start in starts
    ]


def _time_calls(call: Callable[[Any], object], frames: list[Any], seconds: float) -> dict[str, Any]:
    """Call ``call`` on the frames in turn for ``seconds`` (after a warm-up); per-call stats."""
    clock = time.perf_counter_ns
    index, deadline = 0, time.perf_counter() + _WARMUP_S
    while time.perf_counter() < deadline:
        call(frames[index % len(frames)])
        index += 1
    samples: list[int] = []
    rows = 0
    end = time.perf_counter_ns() + int(seconds * 1e9)
    started = clock()
    while clock() < end:
        frame = frames[index % len(frames)]
        before = clock()
        call(frame)
        samples.append(clock() - before)
        rows += len(frame)
        index += 1
    total_s = (clock() - started) / 1e9
    return {
        "calls": len(samples),
        "rows": rows,
        "rows_per_s": rows / total_s,
        "p50_us": float(np.percentile(samples, 50)) / 1e3,
        "p99_us": float(np.percentile(samples, 99)) / 1e3,
        "mean_us": statistics.fmean(samples) / 1e3,
    }


def _sizes(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


# ---------------------------------------------------------------------------- (a) in-process


def inproc_modelyard(args: argparse.Namespace) -> dict[str, Any]:
    import modelyard

    ws = modelyard.open(args.ws)
    predictor = ws.models.load(MODEL_REF)
    pool = _rows(args.rows)
    out: dict[str, Any] = {"backend": predictor.backend, "batches": {}}
    for size in _sizes(args.batch_sizes):
        frames = _frames(pool, size, max(8, min(200, 20_000 // size)), seed=size)
        out["batches"][str(size)] = _time_calls(predictor.predict_proba, frames, args.seconds)
    # As the server runs by default (predictions appended to the log), and without the log.
    out["batcher"] = asyncio.run(_through_batcher(ws, args, log_root=args.log_root))
    out["batcher_no_log"] = asyncio.run(_through_batcher(ws, args, log_root=None))
    return out


async def _through_batcher(
    ws: Any, args: argparse.Namespace, *, log_root: Path | None
) -> dict[str, Any]:
    """``--clients`` concurrent 1-row requests through the serving runtime (no HTTP); with
    ``log_root``, predictions are appended to a prediction log there."""
    from modelyard.serving.config import ModelServingConfig, ServingConfig
    from modelyard.serving.runtime import ServingRuntime

    config = ServingConfig(
        models=(
            ModelServingConfig(
                ref=MODEL_REF, max_batch_size=args.max_batch_size, max_wait_ms=args.max_wait_ms
            ),
        ),
        log_predictions=log_root is not None,
    )
    runtime = ServingRuntime(config, ws.models, log_root=log_root)
    await runtime.start()
    try:
        served = runtime.get(MODEL_REF.split("/")[0])
        bodies = _bodies(args.rows)
        decode = served.schema.decode_json
        predict = served.predict
        batches_before = 0
        counts = {"rows": 0, "is_counting": False, "is_stopping": False}
        latencies: list[int] = []

        async def client(index: int) -> None:
            clock = time.perf_counter_ns
            position = index
            while not counts["is_stopping"]:
                started = clock()
                await predict(decode(bodies[position % len(bodies)]), uuid.uuid4().hex)
                if counts["is_counting"]:
                    latencies.append(clock() - started)
                    counts["rows"] += 1
                position += args.clients

        tasks = [asyncio.create_task(client(i)) for i in range(args.clients)]
        await asyncio.sleep(_WARMUP_S)
        batches_before = served.batcher.batches
        counts["is_counting"] = True
        started = time.perf_counter()
        await asyncio.sleep(args.seconds)
        counts["is_counting"] = False
        elapsed = time.perf_counter() - started
        batches = served.batcher.batches - batches_before
        counts["is_stopping"] = True
        await asyncio.gather(*tasks)
    finally:
        await runtime.close()
    rows = int(counts["rows"])
    return {
        "clients": args.clients,
        "max_batch_size": args.max_batch_size,
        "max_wait_ms": args.max_wait_ms,
        "log_predictions": log_root is not None,
        "rows": rows,
        "rows_per_s": rows / elapsed,
        "batches": batches,
        "mean_batch_rows": rows / batches if batches else None,
        "p50_us": float(np.percentile(latencies, 50)) / 1e3 if latencies else None,
        "p99_us": float(np.percentile(latencies, 99)) / 1e3 if latencies else None,
    }


def _limit_sessions(onnx: Path) -> dict[str, ort.InferenceSession]:
    from modelyard.registry.flavors.runtime import open_session

    return {
        "default": ort.InferenceSession(str(onnx), providers=["CPUExecutionProvider"]),
        "modelyard_options": open_session(onnx),
    }


def inproc_onnxruntime(args: argparse.Namespace) -> dict[str, Any]:
    sessions = _limit_sessions(args.onnx)
    pool = _rows(args.rows)
    out: dict[str, Any] = {"batches": {}}
    for size in _sizes(args.batch_sizes):
        frames = _frames(pool, size, max(8, min(200, 20_000 // size)), seed=size)
        per_session = {}
        for label, session in sessions.items():
            name = session.get_inputs()[0].name

            def call(frame: pd.DataFrame, session: Any = session, name: str = name) -> object:
                return session.run(None, {name: frame.to_numpy(dtype=np.float32)})

            per_session[label] = _time_calls(call, frames, args.seconds)
            time.sleep(0.06)  # a spinning default pool keeps a core busy for ~40 ms
        best = max(per_session, key=lambda key: per_session[key]["rows_per_s"])
        out["batches"][str(size)] = {**per_session[best], "session": best, "all": per_session}

    # The limit of answering 1-row JSON requests max-batch-size at a time.
    bodies = _bodies(args.rows)
    chunks = [
        bodies[start : start + args.max_batch_size]
        for start in range(0, len(bodies) - args.max_batch_size + 1, args.max_batch_size)
    ]
    session = sessions["modelyard_options"]
    name = session.get_inputs()[0].name

    def json_batch(chunk: list[bytes]) -> object:
        records = [orjson.loads(body)["records"][0] for body in chunk]
        matrix = np.array([[row[key] for key in FEATURES] for row in records], np.float32)
        labels, probabilities = session.run(None, {name: matrix})
        return [(labels[i : i + 1], probabilities[i : i + 1]) for i in range(len(chunk))]

    out["json_batches"] = {
        "batch_rows": args.max_batch_size,
        **_time_calls(json_batch, chunks, args.seconds),
    }
    return out


# ---------------------------------------------------------------------------- (d) batch scoring


def score_modelyard(args: argparse.Namespace) -> dict[str, Any]:
    import modelyard
    from modelyard.serving.batch import score

    ws = modelyard.open(args.ws)
    started = time.perf_counter()
    result = score(
        MODEL_REF, args.input, args.output, registry=ws.models, batch_rows=args.batch_rows
    )
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows_in": pq.ParquetFile(args.input).metadata.num_rows,
        "rows_out": _count_rows(args.output),
        "rows_per_s": result.rows / seconds if seconds else None,
        "batch_rows": args.batch_rows,
        "result": result.to_dict(),
    }


def _count_rows(output: Path) -> int:
    return sum(pq.ParquetFile(path).metadata.num_rows for path in sorted(output.glob("*.parquet")))


def _score_by_hand(
    session: ort.InferenceSession, source: Path, output: Path | None, batch_rows: int
) -> dict[str, Any]:
    """Read ``source`` in batches, one ``session.run`` each; with ``output``, write each batch
    with its scores appended as modelyard's scorer lays them out (same writer defaults)."""
    name = session.get_inputs()[0].name
    version = pa.array([MODEL_REF], pa.string())
    digest = pa.array(["sha256:limit"], pa.string())
    started = time.perf_counter()
    parquet = pq.ParquetFile(source, pre_buffer=False)
    writer: pq.ParquetWriter | None = None
    rows = 0
    for batch in parquet.iter_batches(batch_size=batch_rows):
        matrix = np.column_stack(
            [batch.column(key).to_numpy(zero_copy_only=False) for key in FEATURES]
        ).astype(np.float32)
        labels, probabilities = session.run(None, {name: matrix})
        rows += batch.num_rows
        if output is None:
            continue
        table = pa.Table.from_batches([batch])
        table = table.append_column("prediction", pa.array(labels))
        table = table.append_column("probability", pa.array(probabilities[:, 1].astype(np.float64)))
        indices = pa.array(np.zeros(batch.num_rows, dtype=np.int32))
        table = table.append_column(
            "model_version", pa.DictionaryArray.from_arrays(indices, version)
        )
        table = table.append_column("model_digest", pa.DictionaryArray.from_arrays(indices, digest))
        if writer is None:
            writer = pq.ParquetWriter(output / "part-00000.parquet", table.schema)
        writer.write_table(table)
    if writer is not None:
        writer.close()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "rows": rows, "rows_per_s": rows / seconds if seconds else None}


def score_onnxruntime(args: argparse.Namespace) -> dict[str, Any]:
    sessions = _limit_sessions(args.onnx)
    runs = {}
    for label, session in sessions.items():
        target = args.output / label
        target.mkdir(parents=True)
        runs[label] = _score_by_hand(session, args.input, target, args.batch_rows)
        runs[label]["rows_out"] = _count_rows(target)
        time.sleep(0.06)
    best = max(runs, key=lambda key: runs[key]["rows_per_s"])
    for label in runs:
        if label != best:
            for path in (args.output / label).glob("*.parquet"):
                path.unlink()
    only_run = _score_by_hand(sessions[best], args.input, None, args.batch_rows)
    return {
        **runs[best],
        "session": best.replace("_", " "),
        "output": str(args.output / best),
        "rows_in": pq.ParquetFile(args.input).metadata.num_rows,
        "batch_rows": args.batch_rows,
        "all": runs,
        "read_and_run_only": only_run,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "mode",
        choices=("inproc-modelyard", "inproc-onnxruntime", "score-modelyard", "score-onnxruntime"),
    )
    parser.add_argument("--ws", type=Path, help="the modelyard workspace")
    parser.add_argument("--onnx", type=Path, help="the ONNX file (the limit)")
    parser.add_argument("--rows", type=Path, help="request rows, one JSON object a line")
    parser.add_argument("--batch-sizes", default="1,64,1024")
    parser.add_argument("--seconds", type=float, default=2.0, help="timed seconds per size")
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--max-batch-size", type=int, default=64)
    parser.add_argument("--max-wait-ms", type=float, default=2.0)
    parser.add_argument("--log-root", type=Path, help="(a) the prediction log's directory")
    parser.add_argument("--input", type=Path, help="the Parquet file to score")
    parser.add_argument("--output", type=Path, help="where scores go (a new directory)")
    parser.add_argument("--batch-rows", type=int, default=0, help="scoring batch (0: default)")
    args = parser.parse_args(argv)
    out = claim_stdout()
    modes = {
        "inproc-modelyard": inproc_modelyard,
        "inproc-onnxruntime": inproc_onnxruntime,
        "score-modelyard": score_modelyard,
        "score-onnxruntime": score_onnxruntime,
    }
    result = modes[args.mode](args)
    emit(out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
