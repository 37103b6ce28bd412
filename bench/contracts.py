"""Contracts benchmark: 40 rules over 5M rows, modelyard vs Great Expectations vs one DuckDB query.

Also times ``ws.datasets.add`` of a ~2 GB Parquet file (wall time and peak RSS).
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

import modelyard
from _contracts_data import REFERENCE_MS, write_big_parquet, write_parquet
from _contracts_rules import EXPECTED_FAILURES, ge_expectations, kinds, parse_rules
from _report import cpu_model, ensure_peer_python, finish, ratio, verdicts
from _scratch import scratch_dir

BENCH_DIR = Path(__file__).resolve().parent
PEERS_PYTHON = BENCH_DIR / ".venv-peers" / "bin" / "python"
SETUP_PEERS = BENCH_DIR / "setup-peers.sh"
WORKER = BENCH_DIR / "_contracts_worker.py"
GE_PEER = BENCH_DIR / "_contracts_ge_peer.py"

# Targets.
TARGET_VS_GE = 10.0  # GE time / modelyard time, at least
TARGET_VS_DUCKDB = 2.0  # modelyard time / DuckDB time, at most
TARGET_MEMORY = 2.0  # modelyard peak RSS / the data's Arrow size, at most

_MIB = 1024 * 1024


def progress(message: str) -> None:
    """Print one progress line to stderr."""
    print(f"[contracts] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------- child processes


def run_child(command: list[str], *, label: str, logdir: Path) -> dict[str, Any]:
    """Run ``command`` to completion and return its JSON line, with its peak RSS.

    ``peak_rss_bytes`` is the child's own ``VmHWM`` (/proc/self/status, read just before it
    exits): the kernel's high-water mark of its resident memory, native allocations by DuckDB,
    Arrow and numpy included (tracemalloc would only see Python's). ``ru_maxrss`` from
    ``wait4`` is kept as ``ru_maxrss_bytes`` but not used: Linux carries the parent's high-water
    mark across fork + exec into it, so it never reads below this process's own size.
    """
    env = dict(os.environ, GX_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    out_path = logdir / f"{label}.out"
    err_path = logdir / f"{label}.err"
    start = time.perf_counter()
    with out_path.open("w") as out, err_path.open("w") as err:
        child = subprocess.Popen(command, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if child.returncode != 0:
        sys.stderr.write(err_path.read_text()[-4000:])
        raise RuntimeError(f"{label} failed with exit status {child.returncode}")
    result: dict[str, Any] = json.loads(out_path.read_text().strip().splitlines()[-1])
    result["process_wall_seconds"] = wall
    result["ru_maxrss_bytes"] = usage.ru_maxrss * 1024  # KiB on Linux
    result["peak_rss_bytes"] = result["vm_hwm_bytes"]
    return result


def ensure_peers() -> Path:
    """Return the peers' python with Great Expectations, running setup-peers.sh when needed."""
    return ensure_peer_python(
        PEERS_PYTHON, "great_expectations", SETUP_PEERS, progress, " (needs PyPI), or --skip-ge"
    )


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def _merge_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The first run's details with min/median seconds and the max peak over every run."""
    merged = dict(runs[0])
    seconds = [run["seconds"] for run in runs]
    merged["runs_seconds"] = seconds
    merged["seconds_min"] = min(seconds)
    merged["seconds_median"] = _median(seconds)
    merged["peak_rss_bytes"] = max(run["peak_rss_bytes"] for run in runs)
    merged["vm_hwm_bytes"] = max(run["vm_hwm_bytes"] for run in runs)
    for key in ("query_seconds", "sample_seconds"):
        if key in runs[0]:
            merged[key + "_median"] = _median([run[key] for run in runs])
    return merged


# ---------------------------------------------------------------------------- agreement


def agreement(rule_ids: list[str], contenders: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """Per-rule pass/fail of every contender; a rule where any two differ is a mismatch."""
    table: dict[str, dict[str, bool | None]] = {}
    mismatches: list[str] = []
    for rule_id in rule_ids:
        row: dict[str, bool | None] = {}
        for name, result in contenders.items():
            if result is None:
                continue
            verdict = result["verdicts"].get(rule_id)
            row[name] = None if verdict is None else bool(verdict["passed"])
        table[rule_id] = row
        if len(set(row.values())) > 1 or None in row.values():
            mismatches.append(rule_id)
    extra: dict[str, dict[str, Any]] = {}
    for name, result in contenders.items():
        if result is None:
            continue
        for rule_id, verdict in result["verdicts"].items():
            if rule_id not in table:
                extra[f"{name}:{rule_id}"] = {"passed": verdict["passed"]}
    reference = contenders.get("duckdb")
    mine = contenders.get("modelyard")
    count_mismatches = []
    if reference is not None and mine is not None:
        for rule_id in rule_ids:
            theirs = reference["verdicts"][rule_id].get("failing")
            ours = (mine["verdicts"].get(rule_id) or {}).get("failing")
            if theirs is not None and ours is not None and theirs != ours:
                count_mismatches.append(rule_id)
    unexpected = []
    if reference is not None:
        unexpected = [
            rule_id
            for rule_id in rule_ids
            if reference["verdicts"][rule_id]["passed"] == (rule_id in EXPECTED_FAILURES)
        ]
    return {
        "rules": len(rule_ids),
        "compared": sorted(name for name, result in contenders.items() if result is not None),
        "mismatches": mismatches,
        "mismatch_count": len(mismatches),
        "failing_count_mismatches_modelyard_vs_duckdb": count_mismatches,
        "failed_rules": sorted(r for r in rule_ids if not all(v for v in table[r].values())),
        "unexpected_vs_planted": unexpected,
        "extra_rules": extra,
        "extra_rules_failed": sorted(k for k, v in extra.items() if not v["passed"]),
        "verdicts": table,
    }


# ---------------------------------------------------------------------------- steps


def bench_validation(
    rows: int,
    repeat: int,
    *,
    skip_ge: bool,
    skip_modelyard: bool,
    skip_profile: bool,
    logdir: Path,
    workdir: Path,
) -> dict[str, Any]:
    """Generate the data, then time DuckDB and modelyard (alternating) and GX once."""
    rules = parse_rules()
    data = workdir / "transactions.parquet"
    progress(f"writing {rows:,} rows x 20 columns to Parquet …")
    start = time.perf_counter()
    info = write_parquet(data, rows)
    info["generate_seconds"] = time.perf_counter() - start
    progress(
        f"  {info['file_bytes'] / _MIB:,.0f} MiB on disk, {info['arrow_bytes'] / _MIB:,.0f} MiB"
        f" as Arrow, {info['generate_seconds']:.1f} s"
    )
    python = sys.executable
    duck_runs: list[dict[str, Any]] = []
    my_runs: list[dict[str, Any]] = []
    for i in range(repeat):
        progress(f"DuckDB one statement, run {i + 1}/{repeat} …")
        duck_runs.append(
            run_child(
                [python, str(WORKER), "duckdb", "--data", str(data)], label="duckdb", logdir=logdir
            )
        )
        progress(f"  {duck_runs[-1]['seconds']:.2f} s")
        if not skip_modelyard:
            progress(f"modelyard contract.validate, run {i + 1}/{repeat} …")
            command = [python, str(WORKER), "modelyard", "--data", str(data)]
            my_runs.append(
                run_child(
                    [*command, "--now-ms", str(REFERENCE_MS)], label="modelyard", logdir=logdir
                )
            )
            progress(f"  {my_runs[-1]['seconds']:.2f} s")
    progress("DuckDB flat aggregate (DISTINCTs inline), one run, for orientation …")
    flat = run_child(
        [python, str(WORKER), "duckdb-flat", "--data", str(data)], label="flat", logdir=logdir
    )
    progress(f"  {flat['seconds']:.2f} s")
    profile: list[dict[str, Any]] = []
    if not skip_modelyard and not skip_profile:
        for kind in ["type", *kinds(rules)]:
            command = [python, str(WORKER), "modelyard", "--data", str(data), "--kind", kind]
            one = run_child(
                [*command, "--now-ms", str(REFERENCE_MS)], label=f"kind-{kind}", logdir=logdir
            )
            profile.append(
                {
                    "kind": kind,
                    "rules": sum(1 for rule in rules if rule.kind == kind),
                    "seconds": one["seconds"],
                    "peak_rss_bytes": one["peak_rss_bytes"],
                    "baseline_rss_bytes": one["baseline_rss_bytes"],
                }
            )
            progress(f"  profile {kind}: {one['seconds']:.2f} s")
    ge: dict[str, Any] | None = None
    if not skip_ge:
        peers = ensure_peers()
        suite = workdir / "suite.json"
        suite.write_text(json.dumps(ge_expectations(rules)))
        progress("Great Expectations (pandas), one run …")
        ge = run_child(
            [str(peers), str(GE_PEER), "--data", str(data), "--suite", str(suite)],
            label="great_expectations",
            logdir=logdir,
        )
        progress(f"  {ge['seconds']:.1f} s ({ge['load_seconds']:.1f} s of it read_parquet)")
    duck = _merge_runs(duck_runs)
    mine = _merge_runs(my_runs) if my_runs else None
    check = agreement(
        [rule.rule_id for rule in rules],
        {"duckdb": duck, "duckdb_flat": flat, "modelyard": mine, "great_expectations": ge},
    )
    return {
        "data": info,
        "rules": len(rules),
        "duckdb": duck,
        "duckdb_flat": flat,
        "modelyard": mine,
        "modelyard_by_kind": profile,
        "ge": ge,
        "agreement": check,
    }


def bench_add(target_gb: float, logdir: Path) -> dict[str, Any]:
    """Write a ~``target_gb`` GB Parquet file row group by row group, then time datasets.add."""
    with scratch_dir("contracts-add-") as workdir:
        big = workdir / "big.parquet"
        progress(f"writing a ~{target_gb:g} GB Parquet file row group by row group …")
        start = time.perf_counter()
        info = write_big_parquet(big, int(target_gb * 1e9))
        info["generate_seconds"] = time.perf_counter() - start
        progress(
            f"  {info['file_bytes'] / 1e9:.2f} GB, {info['rows']:,} rows,"
            f" {info['generate_seconds']:.0f} s"
        )
        progress("ws.datasets.add of that file …")
        command = [sys.executable, str(WORKER), "add", "--data", str(big)]
        result = run_child([*command, "--workdir", str(workdir / "ws")], label="add", logdir=logdir)
        progress(
            f"  {result['seconds']:.1f} s, peak RSS {result['peak_rss_bytes'] / _MIB:,.0f} MiB"
        )
    if result["num_rows"] != info["rows"]:
        raise RuntimeError(
            f"datasets.add stored {result['num_rows']} rows, expected {info['rows']}"
        )
    result["source"] = info
    return result


# ---------------------------------------------------------------------------- report


def machine() -> dict[str, Any]:
    """Describe the machine the figures come from."""
    model = cpu_model()
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
        "modelyard": modelyard.__version__,
    }


def compute_targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The compared ratios with their targets and verdicts (None when not measured)."""
    validation = summary["validation"]
    mine = validation["modelyard"]
    ge = validation["ge"]
    duck = validation["duckdb"]
    my_s = mine["seconds_median"] if mine else None
    rows: list[tuple[str, float | None, float, bool]] = [
        (
            "GX time (read + validate) / modelyard time",
            ratio(ge and ge["seconds"], my_s),
            TARGET_VS_GE,
            True,
        ),
        (
            "modelyard time / DuckDB one statement (+ samples)",
            ratio(my_s, duck["seconds_median"]),
            TARGET_VS_DUCKDB,
            False,
        ),
        (
            "modelyard peak RSS / data's Arrow size",
            ratio(mine and mine["peak_rss_bytes"], validation["data"]["arrow_bytes"]),
            TARGET_MEMORY,
            False,
        ),
    ]
    return verdicts(rows)


def _mib(value: float) -> str:
    return f"{value / _MIB:,.0f} MiB"


_WIDTH = 66


def render(summary: dict[str, Any]) -> str:
    """The human-readable table."""
    info = summary["machine"]
    validation = summary["validation"]
    data = validation["data"]
    duck = validation["duckdb"]
    flat = validation["duckdb_flat"]
    mine = validation["modelyard"]
    ge = validation["ge"]
    check = validation["agreement"]
    rule = "-" * (_WIDTH + 24)
    lines = [
        f"Contracts benchmark, {info['date']}, {info['cpus']} CPUs ({info['cpu_model']}),"
        f" Python {info['python']}, DuckDB {info['duckdb']}, modelyard {info['modelyard']}",
        f"data: {data['rows']:,} rows x 20 columns, {validation['rules']} rules;"
        f" Parquet {_mib(data['file_bytes'])}, Arrow {_mib(data['arrow_bytes'])}",
        "",
        f"{'measurement':<{_WIDTH}} {'time':>10} {'peak RSS':>12}",
        rule,
    ]

    def line(label: str, seconds: float | None, rss: float | None = None) -> None:
        t = "-" if seconds is None else f"{seconds:.2f} s"
        m = "" if rss is None else _mib(rss)
        lines.append(f"{label:<{_WIDTH}} {t:>10} {m:>12}".rstrip())

    def text(label: str, value: str) -> None:
        lines.append(f"{label:<{_WIDTH}} {value}")

    n = len(duck["runs_seconds"])
    if mine:
        line(
            f"(1) modelyard contract.validate(parquet path), median of {n}",
            mine["seconds_median"],
            mine["peak_rss_bytes"],
        )
        line("    min", mine["seconds_min"])
        line("    RSS before validate (interpreter, imports)", None, mine["baseline_rss_bytes"])
    else:
        line("(1) modelyard", None)
    if ge:
        line(f"(2) {ge['engine']}", ge["seconds"], ge["peak_rss_bytes"])
        line("    of which pandas.read_parquet", ge["load_seconds"])
        line("    of which validate (result_format BASIC)", ge["validate_seconds"])
        text(
            "    expectations for the rules; raised exceptions",
            f"{ge['expectations']}; {ge['exceptions']}",
        )
    else:
        line("(2) Great Expectations", None)
    line(
        f"(3) {duck['engine']}, one hand-written statement + samples, median of {n}",
        duck["seconds_median"],
        duck["peak_rss_bytes"],
    )
    line(f"    the statement alone ({duck['aggregates']} values)", duck["query_seconds_median"])
    line("    sample queries for the failed row rules", duck["sample_seconds_median"])
    line(
        "    for orientation: one flat aggregate, DISTINCTs inline",
        flat["seconds"],
        flat["peak_rss_bytes"],
    )
    text(
        "agreement: rules; contenders; mismatches",
        f"{check['rules']}; {len(check['compared'])}; {check['mismatch_count']}",
    )
    text("rules failing (8 planted)", str(len(check["failed_rules"])))
    text(
        "failing-row counts differing, modelyard vs DuckDB",
        str(len(check["failing_count_mismatches_modelyard_vs_duckdb"])),
    )
    if check["extra_rules"]:
        text(
            "modelyard's extra rules (column types); failed",
            f"{len(check['extra_rules'])}; {len(check['extra_rules_failed'])}",
        )
    add = summary.get("add")
    if add:
        src = add["source"]
        line(
            f"(4) ws.datasets.add, {src['file_bytes'] / 1e9:.2f} GB Parquet, {src['rows']:,} rows",
            add["seconds"],
            add["peak_rss_bytes"],
        )
        text(
            "    throughput; stored blob",
            f"{src['file_bytes'] / _MIB / add['seconds']:,.0f} MiB/s; {_mib(add['stored_bytes'])}",
        )
        text("    peak RSS / source file size", f"{add['peak_rss_bytes'] / src['file_bytes']:.3f}")
    profile = validation.get("modelyard_by_kind") or []
    if profile:
        lines += [
            "",
            f"{'modelyard, one rule kind at a time':<{_WIDTH}} {'time':>10} {'peak RSS':>12}",
            rule,
        ]
        for item in profile:
            label = f"  {item['kind']} ({item['rules']} rule{'s' if item['rules'] > 1 else ''})"
            if item["kind"] == "type":
                label = "  column types only: scan + count(*) (the floor)"
            line(label, item["seconds"], item["peak_rss_bytes"])
    lines += ["", f"{'target':<{_WIDTH}} {'ratio':>9} {'need':>8}", rule]
    for target in summary["targets"]:
        ratio = "-" if target["ratio"] is None else f"{target['ratio']:.2f}"
        need = (">= " if target["at_least"] else "<= ") + format(target["target"], "g")
        lines.append(f"{target['name']:<{_WIDTH}} {ratio:>9} {need:>8} {target['verdict']:>5}")

    def extra(label: str, value: float) -> None:
        lines.append(f"{label:<{_WIDTH}} {value:>9.2f}")

    extra(
        "  (GX / DuckDB limit: what a DuckDB-based engine can reach)",
        ratio(ge and ge["seconds"], duck["seconds_median"]) or 0.0,
    )
    if ge and mine:
        extra("  (GX validate alone / modelyard)", ge["validate_seconds"] / mine["seconds_median"])
    if mine:
        extra("  (modelyard / DuckDB flat aggregate)", mine["seconds_median"] / flat["seconds"])
        growth = mine["peak_rss_bytes"] - mine["baseline_rss_bytes"]
        extra("  (modelyard RSS growth in validate / Arrow size)", growth / data["arrow_bytes"])
    extra("  (DuckDB limit peak RSS / Arrow size)", duck["peak_rss_bytes"] / data["arrow_bytes"])
    if check["mismatches"]:
        lines += ["", "MISMATCHES (rule: verdicts)"]
        lines += [f"  {r}: {check['verdicts'][r]}" for r in check["mismatches"]]
    if check["unexpected_vs_planted"]:
        lines.append(f"note: verdicts unlike the planted ones: {check['unexpected_vs_planted']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the CLI, run each measurement in its own process and print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000, help="rows of the validated data")
    parser.add_argument("--repeat", type=int, default=3, help="modelyard / DuckDB runs (median)")
    parser.add_argument("--add-gb", type=float, default=2.0, help="size of the datasets.add file")
    parser.add_argument("--skip-add", action="store_true", help="leave the datasets.add step out")
    parser.add_argument("--skip-ge", action="store_true", help="leave Great Expectations out")
    parser.add_argument(
        "--skip-profile", action="store_true", help="leave the per-rule-kind profile out"
    )
    parser.add_argument("--skip-modelyard", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, help="write the JSON summary to this file")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    args = parser.parse_args(argv)
    if args.rows < 1 or args.repeat < 1 or args.add_gb <= 0:
        parser.error("--rows, --repeat and --add-gb must be positive")
    summary: dict[str, Any] = {
        "machine": machine(),
        "options": {k: str(v) for k, v in vars(args).items()},
    }
    with scratch_dir("contracts-") as workdir:
        logdir = workdir / "logs"
        logdir.mkdir()
        summary["validation"] = bench_validation(
            args.rows,
            args.repeat,
            skip_ge=args.skip_ge,
            skip_modelyard=args.skip_modelyard,
            skip_profile=args.skip_profile,
            logdir=logdir,
            workdir=workdir,
        )
        if not args.skip_add:
            summary["add"] = bench_add(args.add_gb, logdir)
    summary["targets"] = compute_targets(summary)
    table = render(summary)
    failed = finish(summary, table, results=args.results, as_json=args.json)
    return 1 if failed or summary["validation"]["agreement"]["mismatch_count"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
