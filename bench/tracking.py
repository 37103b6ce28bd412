"""Tracking benchmark: metric ingest and run search, modelyard vs MLflow vs plain SQLite."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import modelyard
from _report import cpu_model, ratio
from _scratch import scratch_dir
from _tracking_data import ORDER_BY, SEARCH_FILTER, SEARCH_LIMIT, expected_ranking, make_runs

BENCH_DIR = Path(__file__).resolve().parent
PEERS_PYTHON = BENCH_DIR / ".venv-peers" / "bin" / "python"
SETUP_PEERS = BENCH_DIR / "setup-peers.sh"
PEER_SCRIPT = BENCH_DIR / "_mlflow_peer.py"

# Targets (the ratio must be at least this).
TARGET_VS_MLFLOW = 50.0
TARGET_VS_SQLITE = 0.30
TARGET_SEARCH = 5.0

# Same table and index as modelyard's metrics table (migration 0001).
_METRICS_DDL = (
    "CREATE TABLE metrics (run_id VARCHAR(32) NOT NULL, key VARCHAR(250) NOT NULL,"
    " step BIGINT NOT NULL, timestamp_ms BIGINT NOT NULL, value FLOAT)",
    "CREATE INDEX ix_metrics_run_id_key_step ON metrics (run_id, key, step)",
)
_METRICS_INSERT = (
    "INSERT INTO metrics (run_id, key, step, timestamp_ms, value) VALUES (?, ?, ?, ?, ?)"
)
_KEYS_PER_CALL = 10


def progress(message: str) -> None:
    """Print one progress line to stderr."""
    print(f"[tracking] {message}", file=sys.stderr, flush=True)


def _values(n: int, seed: int = 1) -> list[float]:
    rng = random.Random(seed)
    return [rng.random() for _ in range(n)]


# ---------------------------------------------------------------------------- (a) and (e)


def bench_modelyard_log_metric(points: int) -> dict[str, Any]:
    """Per-call ``log_metric`` of ``points`` points into one run: call rate and durable rate."""
    values = _values(points)
    with scratch_dir("ingest-") as workdir:
        ws = modelyard.open(workdir)
        try:
            run = ws.start_run("bench", name="log-metric")
            log_metric = run.log_metric
            start = time.perf_counter()
            for step in range(points):
                log_metric("loss", values[step], step=step)
            calls_done = time.perf_counter()
            run.flush()
            durable = time.perf_counter()
            run.end()
            history = ws.runs.metric_history(run.run_id, "loss")
        finally:
            ws.close()
    if len(history) != points or history[-1].step != points - 1:
        raise RuntimeError(f"modelyard holds {len(history)} points, expected {points}")
    call_s = calls_done - start
    e2e_s = durable - start
    return {
        "points": points,
        "call_seconds": call_s,
        "call_rate": points / call_s,
        "flush_wait_seconds": durable - calls_done,
        "e2e_seconds": e2e_s,
        "e2e_rate": points / e2e_s,
        "verified_points": len(history),
    }


def bench_modelyard_log_metrics(points: int) -> dict[str, Any]:
    """``log_metrics`` with ``_KEYS_PER_CALL`` keys a call (informational, not a target)."""
    calls = max(1, points // _KEYS_PER_CALL)
    keys = [f"m{k}" for k in range(_KEYS_PER_CALL)]
    values = _values(calls, seed=2)
    with scratch_dir("ingest-multi-") as workdir:
        ws = modelyard.open(workdir)
        try:
            run = ws.start_run("bench", name="log-metrics")
            log_metrics = run.log_metrics
            start = time.perf_counter()
            for step in range(calls):
                value = values[step]
                log_metrics(dict.fromkeys(keys, value), step=step)
            calls_done = time.perf_counter()
            run.flush()
            durable = time.perf_counter()
            run.end()
            stored = sum(len(ws.runs.metric_history(run.run_id, key)) for key in keys)
        finally:
            ws.close()
    total = calls * _KEYS_PER_CALL
    if stored != total:
        raise RuntimeError(f"modelyard holds {stored} points, expected {total}")
    return {
        "points": total,
        "keys_per_call": _KEYS_PER_CALL,
        "call_rate": total / (calls_done - start),
        "e2e_seconds": durable - start,
        "e2e_rate": total / (durable - start),
    }


# ---------------------------------------------------------------------------- (c)


def bench_sqlite_executemany(points: int) -> dict[str, Any]:
    """Plain sqlite3 ``executemany`` of the same rows in one transaction (the practical limit)."""
    now_ms = int(time.time() * 1000)
    run_id = "0" * 32
    rows = [(run_id, "loss", step, now_ms, value) for step, value in enumerate(_values(points))]
    with scratch_dir("sqlite-") as workdir:
        conn = sqlite3.connect(workdir / "limit.db", isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            for statement in _METRICS_DDL:
                conn.execute(statement)
            start = time.perf_counter()
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(_METRICS_INSERT, rows)
            conn.execute("COMMIT")
            seconds = time.perf_counter() - start
            (stored,) = conn.execute("SELECT count(*) FROM metrics").fetchone()
        finally:
            conn.close()
    if stored != points:
        raise RuntimeError(f"sqlite holds {stored} rows, expected {points}")
    return {
        "points": points,
        "seconds": seconds,
        "rate": points / seconds,
        "sqlite_version": sqlite3.sqlite_version,
    }


# ---------------------------------------------------------------------------- (b), (d) MLflow


def ensure_peers() -> Path:
    """Return the peers' python, running bench/setup-peers.sh first when the venv is missing."""
    if not PEERS_PYTHON.exists():
        progress(f"peers venv missing: running bash {SETUP_PEERS} …")
        done = subprocess.run(["bash", str(SETUP_PEERS)], check=False)
        if done.returncode != 0 or not PEERS_PYTHON.exists():
            raise SystemExit(
                "could not create the peers venv. Create it with `bash bench/setup-peers.sh`"
                " (needs network access to PyPI), or pass --skip-mlflow."
            )
    return PEERS_PYTHON


def bench_mlflow(python: Path, points: int, runs: int, repeat: int) -> dict[str, Any]:
    """Run bench/_mlflow_peer.py in the peers venv and return its JSON result."""
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="1")
    with scratch_dir("mlflow-") as workdir:
        command = [
            str(python),
            str(PEER_SCRIPT),
            "--workdir",
            str(workdir / "store"),
            "--metric-points",
            str(points),
            "--search-runs",
            str(runs),
            "--repeat",
            str(repeat),
        ]
        done = subprocess.run(command, check=False, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise RuntimeError(f"the MLflow peer failed with exit status {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---------------------------------------------------------------------------- (d) modelyard


def bench_modelyard_search(n_runs: int, repeat: int) -> dict[str, Any]:
    """Populate ``make_runs(n_runs)`` through the public API and time the filtered search."""
    runs = make_runs(n_runs)
    expected = expected_ranking(runs, SEARCH_LIMIT)
    step = max(1, n_runs // 10)
    with scratch_dir("search-") as workdir:
        # capture_environment=False: no git/pip/host capture per run, only to populate faster.
        ws = modelyard.open(workdir, capture_environment=False)
        try:
            start = time.perf_counter()
            for i, data in enumerate(runs, 1):
                run = ws.start_run(
                    "search", name=data["name"], params=data["params"], tags=data["tags"]
                )
                run.log_metrics(data["metrics"])
                run.end()
                if i % step == 0:
                    progress(f"  populated {i:,}/{n_runs:,} runs")
            populate_s = time.perf_counter() - start

            def search() -> list[str]:
                found = ws.runs.search(
                    "search", SEARCH_FILTER, order_by=ORDER_BY, limit=SEARCH_LIMIT
                )
                return [run.name for run in found]

            timings, correct = _time_search(search, expected, repeat)
        finally:
            ws.close()
    return {
        "runs": n_runs,
        "populate_seconds": populate_s,
        "populate_runs_per_s": n_runs / populate_s,
        "capture_environment": False,
        "repeat": repeat,
        "seconds": timings,
        "seconds_min": min(timings),
        "seconds_median": statistics.median(timings),
        "matches": len(expected),
        "correct": correct,
    }


def _time_search(
    search: Callable[[], list[str]], expected: list[str], repeat: int
) -> tuple[list[float], bool]:
    """One untimed warm-up call, then ``repeat`` timed calls, each checked against ``expected``."""
    correct = search() == expected
    timings: list[float] = []
    for _ in range(repeat):
        start = time.perf_counter()
        names = search()
        timings.append(time.perf_counter() - start)
        correct = correct and names == expected
    return timings, correct


# ---------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    """Describe the machine the figures come from."""
    model = cpu_model()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "modelyard": modelyard.__version__,
    }


def compute_targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The three compared ratios with their targets and verdicts (None when not measured)."""
    my = summary["modelyard_log_metric"]["e2e_rate"]
    mlflow = summary.get("mlflow")
    limit = summary["sqlite_executemany"]["rate"]
    search = summary.get("modelyard_search")
    rows = [
        (
            "ingest: modelyard e2e / MLflow log_metric",
            ratio(my, mlflow["log_metric_rate"] if mlflow else None),
            TARGET_VS_MLFLOW,
        ),
        ("ingest: modelyard e2e / sqlite executemany", ratio(my, limit), TARGET_VS_SQLITE),
        (
            "search: MLflow median / modelyard median",
            ratio(
                mlflow["search_seconds_median"] if mlflow and search else None,
                search["seconds_median"] if search else None,
            ),
            TARGET_SEARCH,
        ),
    ]
    return [
        {
            "name": name,
            "ratio": ratio,
            "target": target,
            "verdict": "n/a" if ratio is None else "PASS" if ratio >= target else "FAIL",
        }
        for name, ratio, target in rows
    ]


def render(summary: dict[str, Any]) -> str:
    """The human-readable table."""
    info = summary["machine"]
    my = summary["modelyard_log_metric"]
    multi = summary.get("modelyard_log_metrics")
    limit = summary["sqlite_executemany"]
    mlflow = summary.get("mlflow")
    search = summary.get("modelyard_search")
    lines = [
        f"Tracking benchmark, {info['date']}, {info['cpus']} CPUs ({info['cpu_model']}),"
        f" Python {info['python']}, SQLite {info['sqlite']}",
        "",
        f"{'measurement':<58} {'figure':>22}",
        "-" * 81,
        f"{'(a) modelyard log_metric, calls returning':<58} {my['call_rate']:>16,.0f} pts/s",
        f"{'(a) modelyard log_metric, end to end (until flush)':<58}"
        f" {my['e2e_rate']:>16,.0f} pts/s",
        f"{'    points, verified in the DB':<58} {my['verified_points']:>22,}",
        f"{'    flush wait after the last call':<58} {my['flush_wait_seconds']:>20.3f} s",
    ]
    if mlflow:
        lines += [
            f"{'(b) MLflow ' + mlflow['mlflow_version'] + ' log_metric (SQLite), per call':<58}"
            f" {mlflow['log_metric_rate']:>16,.0f} pts/s",
            f"{'    points':<58} {mlflow['log_metric_points']:>22,}",
        ]
    else:
        lines.append(f"{'(b) MLflow log_metric':<58} {'skipped':>22}")
    lines.append(
        f"{'(c) sqlite3 executemany, one transaction (limit)':<58} {limit['rate']:>16,.0f} pts/s"
    )
    if search:
        label = f"(d) modelyard search, {search['runs']:,} runs, min / median"
        lines += [
            f"{label:<58} {search['seconds_min']:>8.4f} / {search['seconds_median']:.4f} s",
            f"{'    correct (ranking == ground truth), matches':<58}"
            f" {str(search['correct']) + ', ' + str(search['matches']):>22}",
            f"{'    populated via public API (capture_environment=False)':<58}"
            f" {search['populate_runs_per_s']:>15,.0f} runs/s",
        ]
    if mlflow:
        label = f"(d) MLflow search_runs, {mlflow['search_runs']:,} runs, min / median"
        lines += [
            f"{label:<58} {mlflow['search_seconds_min']:>8.4f} / "
            f"{mlflow['search_seconds_median']:.4f} s",
            f"{'    correct (matching set), order correct':<58}"
            f" {str(mlflow['search_correct']) + ', ' + str(mlflow['search_order_correct']):>22}",
        ]
    if multi:
        label = f"(e) modelyard log_metrics, {multi['keys_per_call']} keys/call, end to end"
        lines.append(f"{label:<58} {multi['e2e_rate']:>16,.0f} pts/s")
    if mlflow:
        label = f"(e) MLflow log_batch, {mlflow['log_batch_size']:,} metrics/call"
        lines.append(f"{label:<58} {mlflow['log_batch_rate']:>16,.0f} pts/s")
    lines += ["", f"{'target':<58} {'ratio':>9} {'need':>7} {'':>5}".rstrip(), "-" * 81]
    for target in summary["targets"]:
        ratio = "-" if target["ratio"] is None else f"{target['ratio']:.2f}"
        lines.append(
            f"{target['name']:<58} {ratio:>9} {'>= ' + format(target['target'], 'g'):>7}"
            f" {target['verdict']:>5}"
        )
    if search and mlflow:
        lines.append(
            f"{'  (search ratio on min times)':<58}"
            f" {mlflow['search_seconds_min'] / search['seconds_min']:>9.2f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the CLI, run every measurement in this process and print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--points", type=int, default=100_000, help="modelyard/sqlite points")
    parser.add_argument("--mlflow-points", type=int, default=3000, help="MLflow log_metric points")
    parser.add_argument("--runs", type=int, default=10_000, help="runs in the search stores")
    parser.add_argument("--repeat", type=int, default=5, help="timed searches on each side")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    parser.add_argument("--skip-mlflow", action="store_true", help="leave MLflow out")
    args = parser.parse_args(argv)
    if min(args.points, args.mlflow_points, args.runs, args.repeat) < 1:
        parser.error("counts must be positive")

    peers_python = None if args.skip_mlflow else ensure_peers()
    summary: dict[str, Any] = {"machine": machine()}

    progress(f"(a) modelyard log_metric x {args.points:,} …")
    summary["modelyard_log_metric"] = bench_modelyard_log_metric(args.points)
    progress(f"(c) sqlite3 executemany x {args.points:,} …")
    summary["sqlite_executemany"] = bench_sqlite_executemany(args.points)
    progress(f"(e) modelyard log_metrics x {args.points:,} points …")
    summary["modelyard_log_metrics"] = bench_modelyard_log_metrics(args.points)
    if peers_python is not None:
        progress(
            f"(b)+(d) MLflow peer: log_metric x {args.mlflow_points:,}, log_batch,"
            f" search over {args.runs:,} runs (about a minute) …"
        )
        summary["mlflow"] = bench_mlflow(peers_python, args.mlflow_points, args.runs, args.repeat)
    else:
        progress("MLflow skipped (--skip-mlflow); create its venv with: bash bench/setup-peers.sh")
    progress(f"(d) modelyard search: populating {args.runs:,} runs …")
    summary["modelyard_search"] = bench_modelyard_search(args.runs, args.repeat)
    summary["targets"] = compute_targets(summary)

    table = render(summary)
    if args.json:
        print(table, file=sys.stderr)
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(table)
    if not summary["modelyard_search"]["correct"]:
        progress("modelyard search returned a wrong ranking")
        return 1
    return 0 if all(t["verdict"] != "FAIL" for t in summary["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
