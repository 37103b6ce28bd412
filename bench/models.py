"""Model serving benchmark: modelyard's Predictor vs native scikit-learn vs raw onnxruntime.

One 200-tree GradientBoostingClassifier (max_depth 3) is trained on the numeric features of the
fraud data, packaged with ``save_model`` (skops + ONNX) and loaded with ``load_predictor``. On
the same pandas frames, single rows and 1,000-row batches, it times ``predict_proba`` through
(1) modelyard, (2) scikit-learn itself and (3) the practical limit: a raw onnxruntime session
on the package's ONNX file, ``session.run(None, {"input": df.to_numpy(dtype=float32)})`` with
the conversion inside the timed call.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import onnxruntime as ort
import pandas as pd
from sklearn.ensemble import GradientBoostingClassifier

from _report import cpu_model
from _scratch import scratch_dir
from modelyard.registry.flavors import load_predictor, save_model
from modelyard.registry.flavors.runtime import open_session
from modelyard.workflows.fraud_data import LABEL, generate_transactions

FEATURES = ["amount", "hour", "customer_age", "card_present", "is_new_device"]
BATCH_ROWS = 1_000
TOLERANCE = 1e-4
ROUNDS = 20  # contenders alternate in short rounds, so drift on the machine hits them alike
# Between two contenders' blocks: a default onnxruntime session keeps its idle pool spinning
# for ~40 ms of CPU after its last call, which would steal a core from the next contender.
PAUSE_S = 0.06

# Targets: modelyard p50 / limit p50 at most these, and native p50 / modelyard p50 at least.
TARGET_SINGLE_VS_LIMIT = 1.3
TARGET_BATCH_VS_LIMIT = 1.1
TARGET_SINGLE_VS_NATIVE = 5.0


def progress(message: str) -> None:
    """Print one progress line to stderr."""
    print(f"[models] {message}", file=sys.stderr, flush=True)


def frames(features: pd.DataFrame, rows: int, count: int, seed: int) -> list[pd.DataFrame]:
    """Return ``count`` frames of ``rows`` rows, each built afresh from its column values.

    A server builds a new frame per request (new column index, new arrays), so nothing cached
    for one frame helps with the next.
    """
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, len(features) - rows, size=count)
    columns = {name: features[name].to_numpy() for name in features.columns}
    return [
        pd.DataFrame({name: values[start : start + rows] for name, values in columns.items()})
        for start in starts
    ]


def time_calls(
    contenders: dict[str, Callable[[pd.DataFrame], object]],
    pool: list[pd.DataFrame],
    calls: dict[str, int],
    warmup: int,
) -> dict[str, dict[str, float]]:
    """Time each contender on the frames of ``pool``, in alternating rounds; µs p50/p99/mean."""
    samples: dict[str, list[int]] = {name: [] for name in contenders}
    for call in contenders.values():
        for index in range(warmup):
            call(pool[index % len(pool)])
    clock = time.perf_counter_ns
    for _ in range(ROUNDS):
        for name, call in contenders.items():
            time.sleep(PAUSE_S)
            per_round = max(1, calls[name] // ROUNDS)
            timings = samples[name]
            for index in range(per_round):
                frame = pool[index % len(pool)]
                start = clock()
                call(frame)
                timings.append(clock() - start)
    return {
        name: {
            "calls": len(values),
            "p50_us": float(np.percentile(values, 50)) / 1_000,
            "p99_us": float(np.percentile(values, 99)) / 1_000,
            "mean_us": statistics.fmean(values) / 1_000,
        }
        for name, values in samples.items()
    }


def machine() -> dict[str, Any]:
    """Describe the machine and the libraries the figures come from."""
    model = cpu_model()
    versions = {
        name: importlib.metadata.version(name)
        for name in ("modelyard", "scikit-learn", "onnxruntime", "skl2onnx", "pandas", "numpy")
    }
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        **versions,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Train, package, check and time; return the summary."""
    progress(f"training GradientBoostingClassifier(200 trees, depth 3) on {args.rows:,} rows …")
    data = generate_transactions(rows=args.rows)
    features, label = data[FEATURES], data[LABEL]
    model = GradientBoostingClassifier(n_estimators=200, max_depth=3, random_state=0)
    started = time.perf_counter()
    model.fit(features, label)
    fit_seconds = time.perf_counter() - started

    with scratch_dir("models-") as workdir:
        package_dir = workdir / "package"
        package = save_model(model, package_dir, input_example=features.iloc[:BATCH_ROWS])
        if package.onnx_path is None:
            raise SystemExit(f"the model did not convert: {package.conversion.error}")
        predictor = load_predictor(package_dir)
        onnx_file = package_dir / package.onnx_path
        # The limit: the same ONNX file on a raw session, default options, and on one with
        # modelyard's options; the faster of the two is the limit.
        default_session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
        tuned_session = open_session(onnx_file)

        def limit_default(frame: pd.DataFrame) -> object:
            return default_session.run(None, {"input": frame.to_numpy(dtype=np.float32)})

        def limit_tuned(frame: pd.DataFrame) -> object:
            return tuned_session.run(None, {"input": frame.to_numpy(dtype=np.float32)})

        contenders: dict[str, Callable[[pd.DataFrame], object]] = {
            "modelyard": predictor.predict_proba,
            "limit_default": limit_default,
            "limit_tuned": limit_tuned,
            "native": model.predict_proba,
        }
        single_pool = frames(features, 1, 2_000, seed=1)
        batch_pool = frames(features, BATCH_ROWS, 20, seed=2)

        batch = batch_pool[0]
        mine = predictor.predict_proba(batch)
        raw = default_session.run(None, {"input": batch.to_numpy(dtype=np.float32)})[1]
        check = {
            "conversion_max_abs_diff": package.conversion.max_abs_diff,
            "equal_to_raw_onnxruntime": bool(np.array_equal(mine, raw.astype(np.float64))),
            "max_abs_diff_vs_native": float(np.abs(mine - model.predict_proba(batch)).max()),
        }

        progress(f"single rows: {args.single_calls:,} calls each ({args.native_calls:,} native) …")
        single = time_calls(
            contenders,
            single_pool,
            {**dict.fromkeys(contenders, args.single_calls), "native": args.native_calls},
            warmup=500,
        )
        progress(f"{BATCH_ROWS:,}-row batches: {args.batch_calls:,} calls each …")
        batched = time_calls(
            contenders,
            batch_pool,
            {**dict.fromkeys(contenders, args.batch_calls), "native": args.batch_calls // 2},
            warmup=20,
        )
        threads = tuned_session.get_session_options().intra_op_num_threads
    summary: dict[str, Any] = {
        "machine": machine(),
        "model": {
            "estimator": "GradientBoostingClassifier(n_estimators=200, max_depth=3)",
            "features": FEATURES,
            "train_rows": args.rows,
            "fit_seconds": fit_seconds,
            "backend": predictor.backend,
            "onnx_opset": package.conversion.opset,
            "intra_op_threads": threads,
        },
        "check": check,
        "single_row": single,
        "batch": batched,
    }
    summary["targets"] = compute_targets(summary)
    return summary


def _limit(timings: dict[str, dict[str, float]]) -> dict[str, float]:
    return min(timings["limit_default"], timings["limit_tuned"], key=lambda t: t["p50_us"])


def compute_targets(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The three compared ratios (on p50s) with their targets and verdicts."""
    single, batch = summary["single_row"], summary["batch"]
    rows = [
        (
            "single row: modelyard / limit",
            single["modelyard"]["p50_us"] / _limit(single)["p50_us"],
            "<=",
            TARGET_SINGLE_VS_LIMIT,
        ),
        (
            f"{BATCH_ROWS:,} rows: modelyard / limit",
            batch["modelyard"]["p50_us"] / _limit(batch)["p50_us"],
            "<=",
            TARGET_BATCH_VS_LIMIT,
        ),
        (
            "single row: native sklearn / modelyard",
            single["native"]["p50_us"] / single["modelyard"]["p50_us"],
            ">=",
            TARGET_SINGLE_VS_NATIVE,
        ),
    ]
    return [
        {
            "name": name,
            "ratio": ratio,
            "need": f"{op} {target:g}",
            "verdict": "PASS" if (ratio <= target if op == "<=" else ratio >= target) else "FAIL",
        }
        for name, ratio, op, target in rows
    ]


def render(summary: dict[str, Any]) -> str:
    """The human-readable table."""
    info, model, check = summary["machine"], summary["model"], summary["check"]
    lines = [
        f"Model serving benchmark, {info['date']}, {info['cpus']} CPUs ({info['cpu_model']}),"
        f" Python {info['python']}, scikit-learn {info['scikit-learn']},"
        f" onnxruntime {info['onnxruntime']}",
        f"{model['estimator']} on {', '.join(model['features'])};"
        f" {model['train_rows']:,} training rows (fit {model['fit_seconds']:.1f} s);"
        f" predictor backend {model['backend']}, opset {model['onnx_opset']},"
        f" {model['intra_op_threads']} intra-op threads",
        f"checks: conversion max |diff| {check['conversion_max_abs_diff']:.2e};"
        f" modelyard == raw onnxruntime: {check['equal_to_raw_onnxruntime']};"
        f" max |modelyard - sklearn| on a batch {check['max_abs_diff_vs_native']:.2e}",
        "",
        f"{'predict_proba on a pandas DataFrame':<44} {'p50 µs':>10} {'p99 µs':>10} {'calls':>8}",
        "-" * 75,
    ]
    labels = {
        "modelyard": "(1) modelyard Predictor",
        "native": "(2) native scikit-learn",
        "limit_default": "(3) limit: raw onnxruntime, default options",
        "limit_tuned": "(3) limit: raw onnxruntime, modelyard's options",
    }
    for section, title in (("single_row", "single row"), ("batch", f"{BATCH_ROWS:,} rows")):
        lines.append(f"{title}:")
        for key, label in labels.items():
            row = summary[section][key]
            lines.append(
                f"  {label:<42} {row['p50_us']:>10,.1f} {row['p99_us']:>10,.1f} {row['calls']:>8,}"
            )
        mine, limit = summary[section]["modelyard"], _limit(summary[section])
        lines.append(
            f"  {'p99 ratio modelyard / limit (for orientation)':<42}"
            f" {mine['p99_us'] / limit['p99_us']:>21.2f}"
        )
    lines += ["", f"{'target (on p50)':<44} {'ratio':>8} {'need':>8} {'':>6}", "-" * 75]
    for target in summary["targets"]:
        lines.append(
            f"{target['name']:<44} {target['ratio']:>8.2f} {target['need']:>8}"
            f" {target['verdict']:>6}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the CLI, run every measurement in this process and print the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000, help="training rows")
    parser.add_argument("--single-calls", type=int, default=20_000, help="timed one-row calls")
    parser.add_argument("--native-calls", type=int, default=2_000, help="one-row sklearn calls")
    parser.add_argument("--batch-calls", type=int, default=600, help="timed 1,000-row calls")
    parser.add_argument("--json", action="store_true", help="JSON on stdout, table on stderr")
    args = parser.parse_args(argv)
    if min(args.rows - BATCH_ROWS, args.single_calls, args.native_calls, args.batch_calls) < 1:
        parser.error("counts must be positive (and rows above 1,000)")

    summary = run(args)
    table = render(summary)
    if args.json:
        print(table, file=sys.stderr)
        json.dump(summary, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print(table)
    correct = summary["check"]["max_abs_diff_vs_native"] <= TOLERANCE
    if not correct:
        progress("modelyard's probabilities differ from scikit-learn's beyond the tolerance")
    return 0 if correct and all(t["verdict"] == "PASS" for t in summary["targets"]) else 1


if __name__ == "__main__":
    sys.exit(main())
