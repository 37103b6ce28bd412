"""MLflow peer for bench/tracking.py: metric logging and search_runs on a SQLite store, as JSON."""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from _tracking_data import (
    ORDER_BY,
    SEARCH_FILTER,
    SEARCH_LIMIT,
    expected_matches,
    expected_ranking,
    make_runs,
)

if TYPE_CHECKING:
    from mlflow import MlflowClient

# search_runs refuses max_results above this (mlflow.store.tracking.SEARCH_MAX_RESULTS_THRESHOLD).
_SEARCH_PAGE = 50_000


def _claim_stdout() -> TextIO:
    """Keep the real stdout for the JSON result and send everything else (fd 1 too) to stderr."""
    sys.stdout.flush()
    result = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return result


def _fresh_db(path: Path) -> str:
    """Return the SQLAlchemy URI of a SQLite file that must not exist yet."""
    if path.exists():
        raise SystemExit(f"{path} already exists: pass an empty --workdir")
    return f"sqlite:///{path}"


def bench_log_metric(
    client: MlflowClient, exp_id: str, points: int, batch_points: int, batch_size: int
) -> dict[str, Any]:
    """Time per-call ``log_metric`` and batched ``log_batch`` into one run each."""
    from mlflow.entities import Metric

    rng = random.Random(1)
    values = [rng.random() for _ in range(max(points, batch_points))]

    run_id = client.create_run(exp_id, run_name="log-metric").info.run_id
    start = time.perf_counter()
    for step in range(points):
        client.log_metric(run_id, "loss", values[step], step=step)
    per_call = time.perf_counter() - start
    client.set_terminated(run_id)
    logged = len(client.get_metric_history(run_id, "loss"))
    if logged != points:
        raise RuntimeError(f"log_metric: MLflow holds {logged} points, expected {points}")

    batch_run_id = client.create_run(exp_id, run_name="log-batch").info.run_id
    start = time.perf_counter()
    for first in range(0, batch_points, batch_size):
        now = int(time.time() * 1000)
        steps = range(first, min(first + batch_size, batch_points))
        client.log_batch(batch_run_id, metrics=[Metric("loss", values[s], now, s) for s in steps])
    batched = time.perf_counter() - start
    client.set_terminated(batch_run_id)
    logged = len(client.get_metric_history(batch_run_id, "loss"))
    if logged != batch_points:
        raise RuntimeError(f"log_batch: MLflow holds {logged} points, expected {batch_points}")

    return {
        "log_metric_points": points,
        "log_metric_seconds": per_call,
        "log_metric_rate": points / per_call,
        "log_batch_points": batch_points,
        "log_batch_size": batch_size,
        "log_batch_seconds": batched,
        "log_batch_rate": batch_points / batched,
    }


def insert_runs(
    db_path: Path, exp_id: str, artifact_location: str, runs: list[dict[str, Any]]
) -> None:
    """Write ``runs`` straight into MLflow's own tables, shaped as ``MlflowClient.create_run``,
    ``log_batch`` and ``set_terminated`` leave them (verified against API-made rows, 3.17)."""
    rng = random.Random(2)
    base_ms = int(time.time() * 1000) - len(runs) * 1000
    run_rows: list[tuple[Any, ...]] = []
    param_rows: list[tuple[str, str, str]] = []
    tag_rows: list[tuple[str, str, str]] = []
    metric_rows: list[tuple[str, float, int, str, int, int]] = []
    latest_rows: list[tuple[str, float, int, int, int, str]] = []
    for i, run in enumerate(runs):
        run_uuid = uuid.UUID(int=rng.getrandbits(128), version=4).hex
        start_ms = base_ms + i * 1000
        end_ms = start_ms + 500
        run_rows.append(
            (
                run_uuid,
                run["name"],
                "UNKNOWN",  # source_type
                "",  # source_name
                "",  # entry_point_name
                "unknown",  # user_id
                "FINISHED",
                start_ms,
                end_ms,
                "",  # source_version
                "active",
                f"{artifact_location}/{run_uuid}/artifacts",
                int(exp_id),
                None,  # deleted_time
            )
        )
        param_rows.extend((key, value, run_uuid) for key, value in run["params"].items())
        tag_rows.extend((key, value, run_uuid) for key, value in run["tags"].items())
        tag_rows.append(("mlflow.runName", run["name"], run_uuid))
        for key, value in run["metrics"].items():
            metric_rows.append((key, value, end_ms, run_uuid, 0, 0))
            latest_rows.append((key, value, end_ms, 0, 0, run_uuid))

    conn = sqlite3.connect(db_path)
    try:
        with conn:
            conn.executemany(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name,"
                " user_id, status, start_time, end_time, source_version, lifecycle_stage,"
                " artifact_uri, experiment_id, deleted_time)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                run_rows,
            )
            conn.executemany(
                'INSERT INTO params ("key", value, run_uuid) VALUES (?, ?, ?)', param_rows
            )
            conn.executemany('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)', tag_rows)
            conn.executemany(
                'INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan)'
                " VALUES (?, ?, ?, ?, ?, ?)",
                metric_rows,
            )
            conn.executemany(
                'INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid)'
                " VALUES (?, ?, ?, ?, ?, ?)",
                latest_rows,
            )
    finally:
        conn.close()


def _count_runs(client: MlflowClient, exp_id: str) -> set[str]:
    """Return the names of every run MLflow's ``search_runs`` sees in the experiment."""
    names: set[str] = set()
    token: str | None = None
    while True:
        page = client.search_runs([exp_id], max_results=_SEARCH_PAGE, page_token=token)
        names.update(run.info.run_name for run in page)
        token = page.token
        if not token:
            return names


def bench_search(client: MlflowClient, db_path: Path, n_runs: int, repeat: int) -> dict[str, Any]:
    """Load ``make_runs(n_runs)`` into a fresh store and time the filtered ``search_runs``."""
    exp_id = client.create_experiment(
        "search", artifact_location=(db_path.parent / "search-artifacts").as_uri()
    )
    artifact_location = client.get_experiment(exp_id).artifact_location
    runs = make_runs(n_runs)

    start = time.perf_counter()
    insert_runs(db_path, exp_id, artifact_location, runs)
    insert_seconds = time.perf_counter() - start

    seen = _count_runs(client, exp_id)
    if seen != {run["name"] for run in runs}:
        raise RuntimeError(f"search_runs sees {len(seen)} runs after inserting {n_runs}")

    timings: list[float] = []
    names: list[str] = []
    for _ in range(repeat):
        start = time.perf_counter()
        found = client.search_runs(
            [exp_id], filter_string=SEARCH_FILTER, order_by=ORDER_BY, max_results=SEARCH_LIMIT
        )
        timings.append(time.perf_counter() - start)
        names = [run.info.run_name for run in found]

    expected = expected_matches(runs)
    return {
        "search_runs": n_runs,
        "search_insert_seconds": insert_seconds,
        "search_visible_runs": len(seen),
        "search_repeat": repeat,
        "search_seconds": timings,
        "search_seconds_min": min(timings),
        "search_seconds_median": statistics.median(timings),
        "search_matches": len(names),
        "search_expected_matches": len(expected),
        "search_correct": sorted(names) == expected,
        "search_order_correct": names == expected_ranking(runs),
    }


def main(argv: list[str] | None = None) -> int:
    """Parse the CLI, run both measurements and print one JSON object on the real stdout."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, required=True, help="where the stores go")
    parser.add_argument("--metric-points", type=int, default=3000, help="per-call log_metric")
    parser.add_argument("--batch-points", type=int, default=10_000, help="points via log_batch")
    parser.add_argument("--batch-size", type=int, default=1000, help="metrics per log_batch")
    parser.add_argument("--search-runs", type=int, default=10_000, help="runs in the store")
    parser.add_argument("--repeat", type=int, default=5, help="timed search_runs calls")
    args = parser.parse_args(argv)
    if min(args.metric_points, args.batch_points, args.batch_size, args.search_runs) < 1:
        parser.error("counts must be positive")
    if args.repeat < 1:
        parser.error("--repeat must be positive")

    out = _claim_stdout()
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    os.environ["DO_NOT_TRACK"] = "1"
    import mlflow
    from mlflow import MlflowClient

    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    log_client = MlflowClient(tracking_uri=_fresh_db(workdir / "mlflow.db"))
    search_db = workdir / "search.db"
    search_client = MlflowClient(tracking_uri=_fresh_db(search_db))

    exp_id = log_client.create_experiment(
        "log-metric", artifact_location=(workdir / "artifacts").as_uri()
    )
    result: dict[str, Any] = {"mlflow_version": mlflow.__version__}
    result |= bench_log_metric(
        log_client, exp_id, args.metric_points, args.batch_points, args.batch_size
    )
    result |= bench_search(search_client, search_db, args.search_runs, args.repeat)

    json.dump(result, out)
    out.write("\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
