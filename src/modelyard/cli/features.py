"""``modelyard features``: feature definitions (plan, apply, ls), materialization, online lookups,
freshness and the online/offline parity check."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from modelyard.cli.render import cell, console, duration, print_json, progress_bar, table
from modelyard.cli.state import state_of
from modelyard.clock import from_ms, to_ms
from modelyard.errors import FeatureParityError, InvalidInputError
from modelyard.features import Definition, load_definitions
from modelyard.features.registry import FeaturePlan
from modelyard.features.store import FeatureStatus, OnlineFeatures, ParityReport

app = typer.Typer(
    help="The feature store: definitions, materialization, online values, freshness, parity.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
FilesArgument = Annotated[
    list[Path],
    typer.Argument(help="Definition files: Python modules or YAML.", show_default=False),
]
_ACTION_STYLE = {"added": "green", "changed": "cyan", "unchanged": "dim", "breaking": "bold red"}


def _load(files: list[Path]) -> list[Definition]:
    definitions: list[Definition] = []
    for path in files:
        definitions.extend(load_definitions(path))
    return definitions


def _print_plan(plan: FeaturePlan, title: str) -> None:
    rendered = table(title, ["kind", "name", "action", "version", "changes"], [])
    for item in plan.items:
        version = (
            f"{item.previous_version} → {item.version}"
            if item.previous_version not in (None, item.version)
            else str(item.version)
        )
        rendered.add_row(
            Text(item.kind.replace("_", " ")),
            Text(item.name),
            Text(item.action, style=_ACTION_STYLE.get(item.action, "")),
            Text(version),
            Text("; ".join(item.changes) or "—"),
        )
    console.print(rendered)


@app.command("plan")
def plan(ctx: typer.Context, files: FilesArgument, as_json: JsonOption = False) -> None:
    """Show what `features apply` would change: added, changed, unchanged and breaking."""
    definitions = _load(files)
    with state_of(ctx).open() as ws:
        result = ws.features.plan(definitions)
    if as_json:
        print_json(result)
        return
    _print_plan(result, "Plan")
    if result.breaking:
        console.print("[bold red]breaking[/]: apply refuses these unless --allow-breaking is given")


@app.command("apply")
def apply(
    ctx: typer.Context,
    files: FilesArgument,
    allow_breaking: Annotated[
        bool,
        typer.Option("--allow-breaking", help="Apply retyped or removed features in place."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Register and version the definitions (a version is the digest of a definition)."""
    definitions = _load(files)
    with state_of(ctx).open() as ws:
        result = ws.features.apply(definitions, allow_breaking=allow_breaking)
    if as_json:
        print_json(result)
    else:
        _print_plan(result, "Applied")


@app.command("ls")
def list_views(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List the applied entities and feature views with their versions and freshness."""
    with state_of(ctx).open() as ws:
        entities = ws.features.registry.entities()
        views = ws.features.registry.views()
        freshness = {item.view: item for item in ws.features.freshness()}
    if as_json:
        print_json({"entities": entities, "views": views, "freshness": list(freshness.values())})
        return
    console.print(
        table(
            "Entities",
            ["name", "version", "join keys"],
            [[e.name, e.version, ", ".join(e.definition.join_keys)] for e in entities],
        )
    )
    rows: list[list[Any]] = []
    for view in views:
        lag = freshness.get(view.name)
        rows.append(
            [
                view.name,
                view.version,
                ", ".join(view.definition.output_names),
                None if lag is None or lag.lag_ms is None else duration(lag.lag_ms / 1000),
            ]
        )
    console.print(table("Feature views", ["name", "version", "features", "online lag"], rows))


def _instant(text: str | None, option: str) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError(f"{option} {text!r} is not an ISO date or time") from exc
    # A naive time means UTC here (to_ms would read it as local time).
    return to_ms(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))


@app.command("materialize")
def materialize(
    ctx: typer.Context,
    view: Annotated[str, typer.Argument(help="The feature view.", show_default=False)],
    start: Annotated[
        str | None, typer.Option("--start", help="Only entities with events after (ISO time).")
    ] = None,
    end: Annotated[
        str | None, typer.Option("--end", help="Values as of this time (ISO; default now).")
    ] = None,
    incremental: Annotated[
        bool,
        typer.Option("--incremental", help="Start where the last materialization ended."),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Load the latest feature values into the online store (a progress bar on a terminal)."""
    if incremental and start is not None:
        raise InvalidInputError("give --incremental or --start, not both")
    start_ms, end_ms = _instant(start, "--start"), _instant(end, "--end")
    with (
        state_of(ctx).open() as ws,
        progress_bar("materializing", "entities", enabled=not as_json) as progress,
    ):
        if incremental:
            result = ws.features.materialize_incremental(view, end_ms, progress=progress)
        else:
            result = ws.features.materialize(view, start_ms, end_ms, progress=progress)
    if as_json:
        print_json(result)
        return
    console.print(
        f"[green]✓[/] {result.view}/{result.version}: {result.rows:,} entities → "
        f"{result.store} as of {cell(from_ms(result.end_ms))} in {result.seconds:.2f}s"
    )


@app.command("online")
def online(
    ctx: typer.Context,
    features: Annotated[
        list[str], typer.Argument(help='"view:feature" references.', show_default=False)
    ],
    entities: Annotated[
        list[str],
        typer.Option(
            "--entity",
            "-e",
            help="An entity as JSON, e.g. '{\"customer_id\": 42}' (repeatable).",
            show_default=False,
        ),
    ],
    as_json: JsonOption = False,
) -> None:
    """Read feature values from the online store, with each value's status and age."""
    parsed: list[dict[str, object]] = []
    for text in entities:
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"--entity {text!r} is not JSON: {exc.msg}") from exc
        if not isinstance(value, dict):
            raise InvalidInputError(f"--entity {text!r} is not a JSON object")
        parsed.append(value)
    with state_of(ctx).open() as ws:
        found = ws.features.online(features, parsed)
    if as_json:
        print_json(found.to_dict())
        return
    print_online(found, parsed)


def print_online(found: OnlineFeatures, entities: list[dict[str, object]]) -> None:
    """Print an online lookup: per entity and feature, the value, its status and its age."""
    rendered = table(None, ["entity", "feature", "value", "status", "age"], [])
    for entity, values, statuses, ages in zip(
        entities, found.values, found.statuses, found.ages_ms, strict=True
    ):
        for name in found.names:
            status = statuses[name]
            style = "green" if status is FeatureStatus.PRESENT else "yellow"
            age = ages[name]
            rendered.add_row(
                Text(json.dumps(entity)),
                Text(name),
                Text(cell(values[name])),
                Text(status.value, style=style),
                Text("—" if age is None else duration(age / 1000)),
            )
    console.print(rendered)


@app.command("freshness")
def freshness(
    ctx: typer.Context,
    view: Annotated[str | None, typer.Argument(help="One view (default: every view).")] = None,
    as_json: JsonOption = False,
) -> None:
    """How far the newest event loaded online lags behind now, per view."""
    with state_of(ctx).open() as ws:
        found = ws.features.freshness(view)
    if as_json:
        print_json(found)
        return
    console.print(
        table(
            None,
            ["view", "newest event online", "lag", "last loaded"],
            [
                [
                    item.view,
                    None if item.newest_event_ms is None else from_ms(item.newest_event_ms),
                    None if item.lag_ms is None else duration(item.lag_ms / 1000),
                    None if item.materialized_at_ms is None else from_ms(item.materialized_at_ms),
                ]
                for item in found
            ],
        )
    )


@app.command("parity")
def parity(
    ctx: typer.Context,
    view: Annotated[str, typer.Argument(help="The feature view.", show_default=False)],
    sample: Annotated[int, typer.Option("--sample", min=1, help="Entities to check.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the entity sample.")] = 0,
    as_json: JsonOption = False,
) -> None:
    """Compare online values with offline values as of the same time; exit 5 on a mismatch.

    This is the training-serving skew detector: every mismatch is listed with the entity, the
    online value and the offline value.
    """
    with state_of(ctx).open() as ws:
        report = ws.features.parity(view, sample=sample, seed=seed)
    if as_json:
        print_json(report)
    else:
        print_parity(report)
    if not report.is_consistent:
        raise FeatureParityError(report.view, len(report.mismatches), report.values)


def print_parity(report: ParityReport) -> None:
    """Print a parity report and its first mismatches."""
    verdict = "[green]consistent[/]" if report.is_consistent else "[bold red]MISMATCH[/]"
    console.print(
        f"{report.view}/{report.version}: {verdict} — {report.entities:,} entities, "
        f"{report.values:,} values compared, {len(report.mismatches):,} mismatch(es)"
    )
    if report.mismatches:
        console.print(
            table(
                None,
                ["feature", "entity", "online", "offline", "as of"],
                [
                    [
                        item.feature,
                        json.dumps(item.entity, default=str),
                        item.online,
                        item.offline,
                        from_ms(item.as_of_ms),
                    ]
                    for item in report.mismatches[:50]
                ],
            )
        )
        if len(report.mismatches) > 50:
            console.print(f"… and {len(report.mismatches) - 50:,} more (see --json)")
