"""``modelyard demo``: the end-to-end fraud scenario on embedded defaults."""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from modelyard.api import create_app
from modelyard.api.background import serve_in_background
from modelyard.cli.data import print_compatibility, print_diff, print_validation
from modelyard.cli.features import print_online, print_parity
from modelyard.cli.models import lineage_tree, print_report
from modelyard.cli.render import cell, console, print_json, table
from modelyard.errors import InvalidInputError
from modelyard.serving.runtime import ServingRuntime
from modelyard.workflows.demo import SELECTION_METRIC, DemoResult, run_demo
from modelyard.workflows.demo_serving import ServingDemoResult
from modelyard.workspace import open_workspace

_SHOWN_METRICS = {
    "roc_auc": "ROC AUC",
    "average_precision": "avg precision",
    "precision_at_1pct": "precision@1%",
    "recall_at_1pct": "recall@1%",
    "fit_seconds": "fit s",
}


def demo(
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="Keep the demo workspace here (default: a temporary one)."),
    ] = None,
    rows: Annotated[
        int, typer.Option("--rows", min=2_000, help="Synthetic transactions to generate.")
    ] = 300_000,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Run the end-to-end demo: a contract-checked dataset, two tracked models, gated promotion."""
    if importlib.util.find_spec("sklearn") is None:
        raise InvalidInputError(
            "the demo trains scikit-learn models: pip install 'modelyard[sklearn]'"
        )
    keep = directory is not None
    home = directory or Path(tempfile.mkdtemp(prefix="modelyard-demo-"))
    try:
        with open_workspace(home) as ws:
            options = {
                "rows": rows,
                "start_server": _start_server,
                "prediction_log": ws.prediction_log_dir,
                "scores_dir": home / "scores",
            }
            if as_json:
                result = run_demo(ws, **options)  # type: ignore[arg-type]  # typed above
            else:
                with console.status("starting") as status:
                    result = run_demo(
                        ws,
                        on_step=lambda message: status.update(message),
                        **options,  # type: ignore[arg-type]  # typed above
                    )
    finally:
        if not keep:
            shutil.rmtree(home, ignore_errors=True)
    if as_json:
        print_json({"workspace": str(home) if keep else None, "result": result})
        return
    _show(result, home if keep else None)


@contextmanager
def _start_server(runtime: ServingRuntime) -> Iterator[str]:
    with serve_in_background(create_app(runtime)) as base:
        yield base


def print_serving(result: ServingDemoResult) -> None:
    """The serving act: throughput, latency, batching, bad requests, the outage."""
    console.print(
        f"\n[green]✓[/] served {result.reference} (pinned to {result.digest[:19]}…) on a loopback "
        f"port: {result.requests:,} one-row requests from 32 concurrent clients (another "
        f"process) in "
        f"{result.seconds:.2f}s ({result.throughput:,.0f} req/s), {result.failed} failed"
    )
    latency = result.latency_ms
    console.print(
        f"  client latency p50 {latency['p50']:.1f} ms, p90 {latency['p90']:.1f} ms, "
        f"p99 {latency['p99']:.1f} ms; server p99 ≤ {result.server_p99_ms:g} ms (from /metrics)"
    )
    console.print(
        f"  dynamic batching: {result.batches:,} model calls, {result.mean_batch_rows:.1f} rows "
        "per call on average"
    )
    rendered = table("Bad requests", ["request", "status", "code", "message"], [])
    for bad in result.bad_requests:
        rendered.add_row(
            Text(bad.description), Text(str(bad.status)), Text(bad.code), Text(bad.message)
        )
    console.print(rendered)
    rendered = table(
        "The online store goes down, then comes back",
        ["phase", "status", "features", "circuit"],
        [],
    )
    for step in result.outage:
        if not step.feature_fallback:
            features = "looked up"
        elif step.reason in ("not_found", "expired"):
            features = f"looked up; {step.reason.replace('_', ' ')} values → defaults"
        else:
            features = f"store failed → defaults ({step.reason})"
        rendered.add_row(
            Text(step.phase), Text(str(step.status)), Text(features), Text(step.circuit)
        )
    console.print(rendered)
    console.print(f"  {result.logged_predictions:,} predictions in the prediction log")
    if result.scoring is not None:
        scoring = result.scoring
        console.print(
            f"[green]✓[/] batch-scored {result.scored_day}: {scoring.rows:,} transactions with "
            f"{scoring.model} (features as of each transaction) in {scoring.seconds:.2f}s "
            f"({scoring.rows_per_s:,.0f} rows/s) → {scoring.output}"
        )


def _show(result: DemoResult, home: Path | None) -> None:
    console.print(
        f"[green]✓[/] {result.rows:,} synthetic transactions, fraud rate "
        f"{result.fraud_rate:.2%}; trained on {result.train_rows:,}, tested on the last "
        f"{result.test_rows:,} by time"
    )
    console.print(f"  stored as dataset version {result.dataset} ({result.dataset_digest})")
    print_validation(result.validation)
    columns = ["model", "run id", *_SHOWN_METRICS.values()]
    rendered = table(
        "Candidates compared on the held-out period", columns, [], no_wrap=["model", "run id"]
    )
    for model in result.models:
        is_best = model is result.best
        rendered.add_row(
            Text(model.name, style="bold green" if is_best else ""),
            model.run_id[:8],
            *(cell(model.metrics[key]) for key in _SHOWN_METRICS),
        )
    console.print(rendered)
    console.print(
        f"best by {SELECTION_METRIC}: [bold green]{result.best.name}[/] "
        f"({result.best.metrics[SELECTION_METRIC]:.4f})"
    )
    registered = ", ".join(
        f"{model.version} ({model.name}, {'onnx' if model.is_onnx else 'native'})"
        for model in result.models
    )
    console.print(f"\nregistered {registered}")
    print_report(result.promotion.report)
    console.print(
        f"[green]✓[/] {result.promotion.version.reference} is in production (alias champion)\n"
    )
    console.print(lineage_tree(result.lineage), soft_wrap=False)
    console.print(
        f"\nThe models read {len(result.feature_refs)} point-in-time features "
        "(the activity before each transaction, never after): "
        + ", ".join(ref.split(":", 1)[1] for ref in result.feature_refs)
    )
    for loaded in result.materializations:
        console.print(
            f"[green]✓[/] materialized {loaded.view}/{loaded.version}: {loaded.rows:,} "
            f"entities → {loaded.store} in {loaded.seconds:.2f}s"
        )
    print_parity(result.parity)
    console.print("Online lookup for the last transaction's customer and merchant:")
    print_online(result.online, [result.online_entity])
    if result.serving is not None:
        print_serving(result.serving)
    console.print(
        "\nThe payments team renames [bold]amount[/] to [bold]amount_usd[/], and a burst of "
        f"transactions arrives without a country. The new export is {result.changed_dataset}:"
    )
    print_diff(result.dataset_diff)
    console.print("Their new contract against ours:")
    print_compatibility(result.contract_changes)
    print_validation(result.changed_validation)
    if result.changed_validation.passed:
        console.print(f"[bold red]✗ {result.changed_dataset} was NOT stopped[/]")
    else:
        console.print(
            f"[green]✓[/] {result.changed_dataset} stopped by the contract before training "
            f"({len(result.changed_validation.errors)} error rule(s) failed)"
        )
    console.print(
        f"\nIf someone trains on the renamed frame anyway, {result.broken_version} "
        "meets the promotion gates:"
    )
    print_report(result.blocked_report)
    if result.blocked_report.is_passed:
        console.print(f"[bold red]✗ {result.broken_version} was NOT blocked[/]")
    else:
        console.print(
            f"[green]✓[/] promotion of {result.broken_version} blocked; production still serves "
            f"{result.promotion.version.reference}"
        )
    console.print(f"finished in {result.seconds:.1f}s")
    if home is not None:
        console.print("\nLook around:")
        console.print(f"  modelyard -w {home} runs ls")
        console.print(f"  modelyard -w {home} runs show {result.parent_run_id}")
        ids = " ".join(model.run_id for model in result.models)
        console.print(f"  modelyard -w {home} runs compare {ids} --diff")
        console.print(
            f"  modelyard -w {home} runs history {result.models[-1].run_id} validation_log_loss"
        )
        console.print(f"  modelyard -w {home} models show fraud")
        console.print(f"  modelyard -w {home} models card {result.promotion.version.reference}")
        console.print(f"  modelyard -w {home} models history fraud")
        console.print(f"  modelyard -w {home} features ls")
        console.print(f"  modelyard -w {home} features parity customer_activity --sample 1000")
        console.print(f"  modelyard -w {home} data show {result.changed_dataset}")
        console.print(f"  modelyard -w {home} data diff {result.dataset} {result.changed_dataset}")
        console.print(
            f"  modelyard -w {home} data validate {result.changed_dataset} "
            "--contract examples/contracts/transactions.yaml --html report.html"
        )
    else:
        console.print("(temporary workspace removed; keep one with --dir DIR)")
