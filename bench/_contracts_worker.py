"""Child processes of bench/contracts.py (one measurement each, so peak RSS is its own).

Modes: ``duckdb`` (the hand-written single-statement limit), ``duckdb-flat`` (the same as one
flat aggregate, DISTINCTs inline, for orientation), ``modelyard`` (``Contract.validate`` on
the Parquet path) and ``add`` (``ws.datasets.add`` of a large Parquet file). Each prints one JSON
line on stdout with its timings, verdicts and RSS figures.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from _contracts_memory import claim_stdout, emit, proc_status_kib
from _contracts_rules import (
    CONTRACT_YAML,
    duckdb_query,
    duckdb_verdicts,
    parse_rules,
    sample_query,
    subset_yaml,
)


def _rss() -> int:
    return (proc_status_kib("VmRSS") or 0) * 1024


def run_duckdb(data: Path, *, flat: bool = False) -> dict[str, Any]:
    """One SQL statement for every rule, then up to 5 sample rows for each failed row rule."""
    import duckdb

    rules = parse_rules()
    source = f"read_parquet('{data}')"
    sql, names = duckdb_query(rules, source, flat=flat)
    connection = duckdb.connect()
    baseline = _rss()
    start = time.perf_counter()
    row = dict(zip(names, connection.execute(sql).fetchone() or (), strict=True))
    verdicts = duckdb_verdicts(rules, row)
    aggregated = time.perf_counter()
    by_id = {rule.rule_id: rule for rule in rules}
    for rule_id, verdict in verdicts.items():
        query = None if verdict["passed"] else sample_query(by_id[rule_id], source)
        verdict["sample"] = [] if query is None else connection.execute(query).fetchall()
    done = time.perf_counter()
    return {
        "engine": f"duckdb {duckdb.__version__}",
        "query_seconds": aggregated - start,
        "sample_seconds": done - aggregated,
        "seconds": done - start,
        "baseline_rss_bytes": baseline,
        "aggregates": len(names),
        "verdicts": verdicts,
    }


def run_modelyard(data: Path, now_ms: int, kind: str | None = None) -> dict[str, Any]:
    """``Contract.from_yaml`` once, then a timed ``contract.validate(path, now_ms=...)``.

    With ``kind``, the contract holds only that kind's rules (for the per-kind profile).
    """
    import modelyard
    from modelyard.contracts import Contract

    text = CONTRACT_YAML if kind is None else subset_yaml(kind)
    start = time.perf_counter()
    contract = Contract.from_yaml(text)
    parsed = time.perf_counter()
    baseline = _rss()
    start_validate = time.perf_counter()
    report = contract.validate(data, now_ms=now_ms)
    done = time.perf_counter()
    verdicts = {
        result.rule_id: {
            "passed": bool(result.passed),
            "observed": result.observed,
            "failing": result.failing_rows,
            "sample": list(result.sample or [])[:5],
            "kind": result.kind,
        }
        for result in report.results
    }
    return {
        "engine": f"modelyard {modelyard.__version__}",
        "parse_seconds": parsed - start,
        "seconds": done - start_validate,
        "baseline_rss_bytes": baseline,
        "report_passed": bool(report.passed),
        "num_rows": report.num_rows,
        "verdicts": verdicts,
    }


def run_add(data: Path, workdir: Path) -> dict[str, Any]:
    """``ws.datasets.add`` of the Parquet file ``data`` into a fresh workspace."""
    import modelyard

    ws = modelyard.open(workdir)
    try:
        baseline = _rss()
        start = time.perf_counter()
        version = ws.datasets.add("big", data)
        seconds = time.perf_counter() - start
        return {
            "seconds": seconds,
            "baseline_rss_bytes": baseline,
            "num_rows": version.num_rows,
            "num_columns": version.num_columns,
            "stored_bytes": version.size_bytes,
            "digest": version.digest,
        }
    finally:
        ws.close()


def main() -> int:
    """Run one mode and print its JSON line."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=["duckdb", "duckdb-flat", "modelyard", "add"])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--now-ms", type=int, default=0)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--kind", help="modelyard: validate only this kind of rule")
    args = parser.parse_args()
    out = claim_stdout()
    if args.mode in ("duckdb", "duckdb-flat"):
        result = run_duckdb(args.data, flat=args.mode == "duckdb-flat")
    elif args.mode == "modelyard":
        result = run_modelyard(args.data, args.now_ms, args.kind)
    else:
        if args.workdir is None:
            parser.error("add needs --workdir")
        result = run_add(args.data, args.workdir)
    emit(out, result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
