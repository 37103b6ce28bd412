"""``modelyard score``: batch-score files or a dataset version with a registered model."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Annotated

import typer

from modelyard.cli.render import cell, console, duration, print_json, progress_bar, table
from modelyard.cli.state import state_of
from modelyard.errors import InvalidScoringInputError
from modelyard.features.offline import DEFAULT_TIMESTAMP_COLUMN
from modelyard.features.store import FeatureStore
from modelyard.ids import parse_reference
from modelyard.serving.batch import DEFAULT_BATCH_ROWS, ScoringResult
from modelyard.serving.batch import score as score_batch
from modelyard.serving.config import ModelServingConfig, load_serving_config
from modelyard.workspace import open_workspace


def score(
    ctx: typer.Context,
    reference: Annotated[
        str,
        typer.Argument(help="The model: NAME@ALIAS, NAME/VERSION or NAME.", show_default=False),
    ],
    source: Annotated[
        str,
        typer.Option(
            "--input",
            "-i",
            help="A Parquet or CSV file, a directory of them, or a dataset reference.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="The output directory (resumable).", show_default=False
        ),
    ],
    engine: Annotated[
        str, typer.Option("--engine", help="Where to run: local or ray (Ray Data).")
    ] = "local",
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A serving config: the model's features and defaults.",
            show_default=False,
        ),
    ] = None,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", help="Rows per model call.")
    ] = DEFAULT_BATCH_ROWS,
    timestamp_column: Annotated[
        str,
        typer.Option("--timestamp-column", help="The input's event-time column for lookups."),
    ] = DEFAULT_TIMESTAMP_COLUMN,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Score a file, a directory or a dataset version with a model; resumable by partition."""
    serving = _serving_entry(config, reference) if config is not None else None
    with (
        state_of(ctx).open() as ws,
        progress_bar("scoring", "rows", enabled=not as_json) as progress,
    ):
        home = ws.home.resolve() if ws.home is not None else None
        result = score_batch(
            reference,
            source,
            output,
            registry=ws.models,
            datasets=ws.datasets,
            feature_store=ws.features,
            serving=serving,
            timestamp_column=timestamp_column,
            engine=engine,
            batch_rows=batch_rows,
            open_feature_store=functools.partial(open_feature_store, home),
            progress=progress,
        )
    if as_json:
        print_json(result)
        return
    _print_summary(result)


def open_feature_store(home: Path | None) -> FeatureStore:
    """Open the feature store of the workspace at ``home`` (in a Ray worker).

    Args:
        home: the workspace directory; None for the default one.
    """
    return open_workspace(home).features


def _serving_entry(path: Path, reference: str) -> ModelServingConfig:
    name = parse_reference(reference).name
    entries = load_serving_config(path).models
    for entry in entries:
        if entry.ref == reference:
            return entry
    for entry in entries:
        if parse_reference(entry.ref).name == name:
            return entry
    raise InvalidScoringInputError(
        "config",
        f"{path} has no entry for model {name} (it serves {', '.join(e.ref for e in entries)})",
    )


def _print_summary(result: ScoringResult) -> None:
    rows = [
        ["model", f"{result.model} ({result.model_digest})"],
        ["input", result.input],
        ["output", result.output],
        ["engine", result.engine],
        ["partitions", f"{result.scored} scored, {result.skipped} already done"],
        ["rows", f"{result.rows:,}"],
        ["time", f"{duration(result.seconds)} ({cell(round(result.rows_per_s))} rows/s)"],
    ]
    summary = table(None, ["", ""], rows, no_wrap=[""])
    summary.show_header = False
    console.print(summary)
    console.print(f"[green]✓[/] scored {result.rows:,} rows into {result.output}")
