"""Feature-store benchmark: modelyard vs Feast vs DuckDB / redis-py, on the same data.

(a) historical retrieval (point-in-time join) of 10 features for a 100k-row entity frame over
1M feature rows; (b) online lookups of 1 and of 100 entities from Redis (p50/p99); (c)
materialization of the 100k entities into Redis. Every measurement runs in its own process
(peak RSS is its own VmHWM); Feast runs in bench/.venv-peers/feast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import redis

import modelyard
from _features_checks import expected_online, historical_agreement, online_agreement
from _features_data import write_entity_frame, write_features
from _report import cpu_model, ensure_peer_python, finish, ratio, verdicts
from _scratch import scratch_dir

BENCH_DIR = Path(__file__).resolve().parent
FEAST_PYTHON = BENCH_DIR / ".venv-peers" / "feast" / "bin" / "python"
SETUP_PEERS = BENCH_DIR / "setup-peers.sh"
WORKER = BENCH_DIR / "_features_worker.py"
FEAST_PEER = BENCH_DIR / "_features_feast_peer.py"
REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379

# Targets.
TARGET_HISTORICAL_VS_FEAST = 10.0  # Feast time / modelyard time, at least
TARGET_HISTORICAL_VS_DUCKDB = 1.5  # modelyard time / DuckDB time, at most
TARGET_ONLINE100_VS_FEAST = 10.0  # Feast p99 / modelyard p99 (100 entities), at least
TARGET_ONLINE100_VS_MGET = 2.0  # modelyard p99 / raw MGET p99, at most
TARGET_ONLINE1_VS_GET = 1.5  # modelyard p99 / raw GET p99 (1 entity), at most
TARGET_MATERIALIZE_VS_FEAST = 5.0  # Feast time / modelyard time, at least

_MIB = 1024 * 1024


def progress(message: str) -> None:
    """Print one progress line to stderr."""
    print(f"[features] {message}", file=sys.stderr, flush=True)


def run_child(command: list[str], *, label: str, logdir: Path) -> dict[str, Any]:
    """Run ``command`` to completion and return its JSON line (with VmHWM as peak RSS)."""
    env = dict(os.environ, DO_NOT_TRACK="1", FEAST_USAGE="False")
    out_path = logdir / f"{label}.out"
    err_path = logdir / f"{label}.err"
    start = time.perf_counter()
    with out_path.open("w") as out, err_path.open("w") as err:
        done = subprocess.run(command, stdout=out, stderr=err, env=env, check=False)
    if done.returncode != 0:
        sys.stderr.write(err_path.read_text()[-4000:])
        raise RuntimeError(f"{label} failed with exit status {done.returncode}")
    result: dict[str, Any] = json.loads(out_path.read_text().strip().splitlines()[-1])
    result["process_wall_seconds"] = time.perf_counter() - start
    result["peak_rss_bytes"] = result["vm_hwm_bytes"]
    return result


def ensure_feast() -> Path:
    """Return the Feast venv's python, running setup-peers.sh when needed."""
    return ensure_peer_python(FEAST_PYTHON, "feast", SETUP_PEERS, progress)


def flush(db: int) -> None:
    """FLUSHDB the bench's Redis database ``db``."""
    redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=db).flushdb()


# ---------------------------------------------------------------------------- the steps


def run_bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    logdir = workdir / "logs"
    logdir.mkdir()
    features = workdir / "features.parquet"
    frame = workdir / "entity_df.parquet"
    progress(f"writing {args.entities:,} entities x {args.per_entity} rows x 10 features …")
    data = write_features(features, args.entities, args.per_entity)
    write_entity_frame(frame, args.rows, args.entities, args.per_entity)
    data["entity_rows"] = args.rows
    my_db, feast_db = args.redis_db, args.redis_db + 1
    my_url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{my_db}"
    py = sys.executable
    common = ["--features", str(features), "--entities", str(args.entities)]
    common += ["--per-entity", str(args.per_entity)]
    lookups = ["--single", str(args.single), "--batch", str(args.batch)]
    ws = workdir / "ws"
    feast_py = None if args.skip_feast else ensure_feast()
    feast_common = [*common, "--repo", str(workdir / "feast"), "--redis-db", str(feast_db)]
    out: dict[str, Any] = {"data": data, "redis_dbs": [my_db, feast_db]}

    # (a) historical retrieval
    hist = ["--entity-frame", str(frame), "--repeat", str(args.repeat)]
    results = {name: workdir / f"historical-{name}.parquet" for name in ("duckdb", "my", "feast")}
    progress(f"(a) DuckDB ASOF JOIN, {args.repeat} runs …")
    out["duckdb"] = run_child(
        [py, str(WORKER), "duckdb-historical", *common, *hist, "--result", str(results["duckdb"])],
        label="duckdb-historical",
        logdir=logdir,
    )
    progress(f"    median {out['duckdb']['seconds_median']:.3f} s")
    progress(f"(a) modelyard ws.features.historical, {args.repeat} runs …")
    out["modelyard"] = run_child(
        [
            py,
            str(WORKER),
            "modelyard-historical",
            *common,
            *hist,
            "--ws",
            str(ws),
            "--result",
            str(results["my"]),
        ],
        label="modelyard-historical",
        logdir=logdir,
    )
    progress(f"    median {out['modelyard']['seconds_median']:.3f} s")
    out["agreement_modelyard"] = historical_agreement(results["duckdb"], results["my"])
    if feast_py:
        progress(f"(a) Feast get_historical_features, {args.repeat} runs …")
        out["feast"] = run_child(
            [
                str(feast_py),
                str(FEAST_PEER),
                "historical",
                *feast_common,
                *hist,
                "--result",
                str(results["feast"]),
            ],
            label="feast-historical",
            logdir=logdir,
        )
        progress(f"    median {out['feast']['seconds_median']:.3f} s")
        out["agreement_feast"] = historical_agreement(results["duckdb"], results["feast"])

    # (c) materialization, then (b) online lookups against what it wrote
    for db in (my_db, feast_db):
        flush(db)
    try:
        progress("(c) modelyard ws.features.materialize → Redis …")
        out["modelyard_materialize"] = run_child(
            [py, str(WORKER), "modelyard-materialize", *common, "--ws", str(ws), "--redis", my_url],
            label="modelyard-materialize",
            logdir=logdir,
        )
        progress(f"    {out['modelyard_materialize']['seconds']:.2f} s")
        progress(f"(b) modelyard ws.features.online, {args.single} x 1, {args.batch} x 100 …")
        out["modelyard_online"] = run_child(
            [
                py,
                str(WORKER),
                "modelyard-online",
                *common,
                *lookups,
                "--ws",
                str(ws),
                "--redis",
                my_url,
            ],
            label="modelyard-online",
            logdir=logdir,
        )
        progress("(b) raw redis-py GET / MGET of packed rows (and their pipelined write) …")
        out["limit"] = run_child(
            [py, str(WORKER), "redis-limit", *common, *lookups, "--redis", my_url],
            label="redis-limit",
            logdir=logdir,
        )
        if feast_py:
            progress("(c) Feast materialize → Redis …")
            out["feast_materialize"] = run_child(
                [str(feast_py), str(FEAST_PEER), "materialize", *feast_common],
                label="feast-materialize",
                logdir=logdir,
            )
            progress(f"    {out['feast_materialize']['seconds']:.2f} s")
            progress(f"(b) Feast get_online_features, {args.single} x 1, {args.batch} x 100 …")
            out["feast_online"] = run_child(
                [str(feast_py), str(FEAST_PEER), "online", *feast_common, *lookups],
                label="feast-online",
                logdir=logdir,
            )
    finally:
        for db in (my_db, feast_db):
            flush(db)
    expected = expected_online(features, args.entities, args.per_entity)
    for name in ("modelyard_online", "limit", "feast_online"):
        if name in out:
            out[name]["agreement"] = online_agreement(expected, out[name].pop("check_values"))
    return out


# ---------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    """Describe the machine the figures come from."""
    model = cpu_model()
    server = redis.Redis(host=REDIS_HOST, port=REDIS_PORT).info("server")
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
        "redis_py": redis.__version__,
        "redis_server": server.get("redis_version"),
        "modelyard": modelyard.__version__,
    }


def _get(result: dict[str, Any], *path: str) -> float | None:
    value: Any = result
    for key in path:
        if value is None:
            return None
        value = value.get(key)
    return value


def compute_targets(b: dict[str, Any]) -> list[dict[str, Any]]:
    """The compared ratios with their targets and verdicts (None when not measured)."""
    my_h = _get(b, "modelyard", "seconds_median")
    rows: list[tuple[str, float | None, float, bool]] = [
        (
            "(a) Feast historical / modelyard (medians)",
            ratio(_get(b, "feast", "seconds_median"), my_h),
            TARGET_HISTORICAL_VS_FEAST,
            True,
        ),
        (
            "(a) modelyard historical / DuckDB ASOF JOIN (medians)",
            ratio(my_h, _get(b, "duckdb", "seconds_median")),
            TARGET_HISTORICAL_VS_DUCKDB,
            False,
        ),
        (
            "(b) Feast p99 / modelyard p99, 100 entities",
            ratio(
                _get(b, "feast_online", "batch", "p99_ms"),
                _get(b, "modelyard_online", "batch", "p99_ms"),
            ),
            TARGET_ONLINE100_VS_FEAST,
            True,
        ),
        (
            "(b) modelyard p99 / raw MGET p99, 100 entities",
            ratio(
                _get(b, "modelyard_online", "batch", "p99_ms"), _get(b, "limit", "batch", "p99_ms")
            ),
            TARGET_ONLINE100_VS_MGET,
            False,
        ),
        (
            "(b) modelyard p99 / raw GET p99, 1 entity",
            ratio(
                _get(b, "modelyard_online", "single", "p99_ms"),
                _get(b, "limit", "single", "p99_ms"),
            ),
            TARGET_ONLINE1_VS_GET,
            False,
        ),
        (
            "(c) Feast materialize / modelyard materialize",
            ratio(
                _get(b, "feast_materialize", "seconds"), _get(b, "modelyard_materialize", "seconds")
            ),
            TARGET_MATERIALIZE_VS_FEAST,
            True,
        ),
    ]
    return verdicts(rows)


_WIDTH = 64


def render(summary: dict[str, Any]) -> str:
    """The human-readable table."""
    info = summary["machine"]
    b = summary["bench"]
    data = b["data"]
    rule = "-" * (_WIDTH + 30)
    feast_engine = (b.get("feast") or {}).get("engine", "Feast (skipped)")
    lines = [
        f"Feature-store benchmark, {info['date']}, {info['cpus']} CPUs ({info['cpu_model']}),",
        f"  Python {info['python']}, modelyard {info['modelyard']}, DuckDB {info['duckdb']},"
        f" redis-py {info['redis_py']}, Redis {info['redis_server']}, {feast_engine}",
        f"data: {data['rows']:,} feature rows (Parquet {data['file_bytes'] / _MIB:,.1f} MiB),"
        f" {data['entity_rows']:,} entity rows; Redis DBs {b['redis_dbs']}",
        "",
        f"{'measurement':<{_WIDTH}} {'median/p50':>12} {'min/p99':>10} {'peak RSS':>9}",
        rule,
    ]

    def line(label: str, first: str, second: str = "", rss: float | None = None) -> None:
        m = "" if rss is None else f"{rss / _MIB:,.0f} MiB"
        lines.append(f"{label:<{_WIDTH}} {first:>12} {second:>10} {m:>9}".rstrip())

    def text(label: str, value: str) -> None:
        lines.append(f"{label:<{_WIDTH}} {value}")

    def hist(label: str, result: dict[str, Any] | None) -> None:
        if not result:
            line(label, "-")
            return
        line(
            f"{label}, {len(result['runs_seconds'])} runs",
            f"{result['seconds_median']:.3f} s",
            f"{result['seconds_min']:.3f} s",
            result["peak_rss_bytes"],
        )

    hist("(a) modelyard ws.features.historical", b.get("modelyard"))
    hist("(a) Feast get_historical_features().to_df()", b.get("feast"))
    hist("(a) DuckDB ASOF LEFT JOIN … ORDER BY row (the limit)", b.get("duckdb"))
    unordered = b["duckdb"]["unordered"]
    line(
        "    for orientation: the same without ORDER BY",
        f"{unordered['seconds_median']:.3f} s",
        f"{unordered['seconds_min']:.3f} s",
    )
    my = b["modelyard"]
    text(
        "    modelyard rows out / in; with a value; in input order",
        f"{my['rows_out']:,} / {my['rows_in']:,}; {my['rows_with_values']:,};"
        f" {my['in_input_order']}",
    )
    agree = b["agreement_modelyard"]
    text(
        "    modelyard vs DuckDB: rows matched; value mismatches; missing",
        f"{agree['matched']:,}; {agree['mismatches']}; {agree['missing']}",
    )
    feast = b.get("agreement_feast")
    if feast:
        dropped = feast["missing"] / data["entity_rows"]
        text(
            "    Feast rows out / in (dropped)",
            f"{b['feast']['rows_out']:,} / {b['feast']['rows_in']:,} ({dropped:.1%} dropped)",
        )
        text(
            "    Feast dropped rows that have no value in the limit",
            f"{feast['missing_without_value']:,} of {feast['missing']:,}",
        )
        text(
            "    Feast vs DuckDB on the rows it returns: matched; mismatches",
            f"{feast['matched']:,}; {feast['mismatches']}",
        )

    def lookups(label: str, result: dict[str, Any] | None, key: str) -> None:
        if not result:
            line(label, "-")
            return
        item = result[key]
        line(
            f"{label} ({item['calls']:,} calls)",
            f"{item['p50_ms']:.3f} ms",
            f"{item['p99_ms']:.3f} ms",
            result["peak_rss_bytes"],
        )

    for key, n in (("single", "1 entity"), ("batch", "100 entities")):
        lookups(f"(b) modelyard ws.features.online, {n}", b.get("modelyard_online"), key)
        lookups(f"(b) Feast get_online_features().to_dict(), {n}", b.get("feast_online"), key)
        verb = "GET" if key == "single" else "MGET"
        lookups(f"(b) redis-py {verb} + unpack (the limit), {n}", b.get("limit"), key)
    for name, label in (
        ("modelyard_online", "modelyard"),
        ("feast_online", "Feast"),
        ("limit", "raw redis-py"),
    ):
        if name in b:
            check = b[name]["agreement"]
            text(
                f"    {label} online values vs latest in the file: mismatches",
                f"{check['mismatches']} of {check['entities']} entities",
            )
    for name, label in (
        ("modelyard_materialize", "(c) modelyard ws.features.materialize → Redis"),
        ("feast_materialize", "(c) Feast materialize → Redis"),
    ):
        result = b.get(name)
        if result:
            line(label, f"{result['seconds']:.2f} s", "", result["peak_rss_bytes"])
            text("    keys in its Redis DB afterwards", f"{result['redis_keys']:,}")
        else:
            line(label, "-")
    limit = b.get("limit")
    if limit:
        line(
            "    for orientation: redis-py pipelined SET of packed rows",
            f"{limit['write_seconds']:.2f} s",
        )
    lines += ["", f"{'target':<{_WIDTH}} {'ratio':>9} {'need':>8}", rule]
    for target in summary["targets"]:
        ratio = "-" if target["ratio"] is None else f"{target['ratio']:.2f}"
        need = (">= " if target["at_least"] else "<= ") + format(target["target"], "g")
        lines.append(f"{target['name']:<{_WIDTH}} {ratio:>9} {need:>8} {target['verdict']:>5}")
    if limit and b.get("feast_online"):
        lines.append(
            f"{'  (Feast p99 / raw MGET p99, 100 entities)':<{_WIDTH}}"
            f" {b['feast_online']['batch']['p99_ms'] / limit['batch']['p99_ms']:>9.2f}"
        )
    return "\n".join(lines)


def failed_checks(b: dict[str, Any]) -> list[str]:
    """modelyard correctness problems (each fails the run)."""
    problems = []
    agree = b["agreement_modelyard"]
    if agree["mismatches"] or agree["missing"] or agree["rows"] != b["data"]["entity_rows"]:
        problems.append(f"modelyard historical differs from the DuckDB limit: {agree}")
    if not b["modelyard"]["in_input_order"]:
        problems.append("modelyard historical rows are not in input order")
    online = b.get("modelyard_online")
    if online and online["agreement"]["mismatches"]:
        problems.append(f"modelyard online values differ: {online['agreement']}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Parse the CLI, run each measurement in its own process and print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=100_000, help="entities in the data")
    parser.add_argument("--per-entity", type=int, default=10, help="feature rows per entity")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the entity frame")
    parser.add_argument("--repeat", type=int, default=3, help="timed historical calls (median)")
    parser.add_argument("--single", type=int, default=2000, help="timed 1-entity lookups")
    parser.add_argument("--batch", type=int, default=500, help="timed 100-entity lookups")
    parser.add_argument("--redis-db", type=int, default=9, help="Redis DBs N and N+1 (flushed)")
    parser.add_argument("--skip-feast", action="store_true", help="leave Feast out")
    parser.add_argument("--results", type=Path, help="write the JSON summary to this file")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    args = parser.parse_args(argv)
    if min(args.entities, args.per_entity, args.rows, args.repeat, args.single, args.batch) < 1:
        parser.error("counts must be positive")
    if not 0 <= args.redis_db <= 14:
        parser.error("--redis-db must be 0-14 (N and N+1 are used)")
    summary: dict[str, Any] = {
        "machine": machine(),
        "options": {k: str(v) for k, v in vars(args).items()},
    }
    with scratch_dir("features-") as workdir:
        summary["bench"] = run_bench(args, workdir)
    summary["targets"] = compute_targets(summary["bench"])
    summary["problems"] = failed_checks(summary["bench"])
    table = render(summary)
    return 1 if finish(summary, table, results=args.results, as_json=args.json) else 0


if __name__ == "__main__":
    raise SystemExit(main())
