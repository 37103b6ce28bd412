"""Great Expectations peer for bench/contracts.py: read the Parquet file into pandas, validate.

Runs in bench/.venv-peers. Input: --data PATH (the Parquet file) and --suite PATH (JSON list of
{"rule_id", "type", "kwargs"} from _contracts_rules.ge_expectations). Output: one JSON line with
the timings, per-rule verdicts and this process's RSS figures.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from _contracts_memory import claim_stdout, emit, proc_status_kib


def main() -> int:
    """Time pandas.read_parquet and a GX 1.x validation of the suite; print the JSON result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", required=True)
    parser.add_argument("--suite", required=True)
    args = parser.parse_args()
    out = claim_stdout()
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

    import great_expectations as gx
    import pandas as pd

    specs: list[dict[str, Any]] = json.loads(Path(args.suite).read_text())
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_pandas("bench")
    asset = source.add_dataframe_asset("transactions")
    batch_definition = asset.add_batch_definition_whole_dataframe("all")
    baseline = (proc_status_kib("VmRSS") or 0) * 1024

    start = time.perf_counter()
    frame = pd.read_parquet(args.data)
    loaded = time.perf_counter()
    suite = gx.ExpectationSuite(name="bench")
    for spec in specs:
        kwargs = dict(spec["kwargs"])
        kwargs["meta"] = {"rule_id": spec["rule_id"]}
        suite.add_expectation(getattr(gx.expectations, spec["type"])(**kwargs))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": frame})
    result = batch.validate(suite, result_format="BASIC")
    done = time.perf_counter()

    verdicts: dict[str, dict[str, Any]] = {}
    exceptions = 0
    for item in result.results:
        rule_id = item.expectation_config.meta["rule_id"]
        raised = bool(item.exception_info.get("raised_exception")) if item.exception_info else False
        exceptions += raised
        previous = verdicts.get(rule_id, {"passed": True, "observed": []})
        details = item.result or {}
        observed = details.get("observed_value", details.get("unexpected_count"))
        verdicts[rule_id] = {
            "passed": previous["passed"] and bool(item.success),
            "observed": [*previous["observed"], observed],
            "sample": details.get("partial_unexpected_list", [])[:5],
        }
    emit(
        out,
        {
            "engine": f"great_expectations {gx.__version__} (pandas {pd.__version__})",
            "load_seconds": loaded - start,
            "validate_seconds": done - loaded,
            "seconds": done - start,
            "expectations": len(specs),
            "exceptions": exceptions,
            "baseline_rss_bytes": baseline,
            "frame_bytes": int(frame.memory_usage(deep=True).sum()),
            "verdicts": verdicts,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
