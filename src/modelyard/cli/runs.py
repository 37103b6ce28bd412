"""``modelyard runs``: list, show, search, compare runs; metric history; artifacts."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text

from modelyard.cli.render import cell, console, duration, print_json, sparkline, table
from modelyard.cli.state import state_of
from modelyard.tracking import Run, RunStatus

app = typer.Typer(help="Tracked runs: params, metrics, artifacts, lineage.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ExperimentOption = Annotated[
    str | None, typer.Option("--experiment", "-e", help="Only this experiment.")
]
LimitOption = Annotated[int, typer.Option("--limit", "-n", help="At most this many runs.")]
_STATUS_STYLE = {
    RunStatus.RUNNING: "cyan",
    RunStatus.FINISHED: "green",
    RunStatus.FAILED: "red",
    RunStatus.KILLED: "yellow",
}
_MAX_METRIC_COLUMNS = 5


def _runs_table(found: list[Run], title: str | None = None) -> None:
    # The metrics most runs share make the columns; --json and `runs show` have them all.
    counts = Counter(key for run in found for key in run.metrics)
    metric_keys = sorted(key for key, _ in counts.most_common(_MAX_METRIC_COLUMNS))
    show_experiment = len({run.experiment for run in found}) > 1
    columns = ["run id", "name", *(["experiment"] if show_experiment else []), "status"]
    columns += ["started", "took", *metric_keys]
    rendered = table(title, columns, [], no_wrap=["run id", "name", "status", "started", "took"])
    if not show_experiment:
        rendered.caption = f"experiment: {found[0].experiment}"
    for run in found:
        status = Text(run.status.value, style=_STATUS_STYLE[run.status])
        rendered.add_row(
            run.run_id[:8],
            run.name,
            *([run.experiment] if show_experiment else []),
            status,
            run.start_time.strftime("%m-%d %H:%M"),
            duration(run.duration_s),
            *(cell(run.metrics.get(key)) for key in metric_keys),
        )
    console.print(rendered)


@app.command("ls")
def list_runs(
    ctx: typer.Context,
    experiment: ExperimentOption = None,
    status: Annotated[
        RunStatus | None, typer.Option("--status", "-s", help="Only runs with this status.")
    ] = None,
    limit: LimitOption = 20,
    as_json: JsonOption = False,
) -> None:
    """List the newest runs."""
    with state_of(ctx).open() as ws:
        found = ws.runs.search(experiment, limit=limit, status=status)
    if as_json:
        print_json(found)
    elif not found:
        console.print("no runs found")
    else:
        _runs_table(found)


@app.command("search")
def search(
    ctx: typer.Context,
    filter_text: Annotated[
        str,
        typer.Argument(
            metavar="FILTER",
            help="e.g. \"metrics.auc > 0.8 and params.max_depth = '6' and tags.team = 'risk'\"",
        ),
    ],
    experiment: ExperimentOption = None,
    order_by: Annotated[
        list[str] | None,
        typer.Option("--order-by", "-o", help='e.g. "metrics.auc DESC" (repeatable).'),
    ] = None,
    limit: LimitOption = 100,
    as_json: JsonOption = False,
) -> None:
    """Search runs with a filter evaluated in the database."""
    with state_of(ctx).open() as ws:
        found = ws.runs.search(experiment, filter_text, order_by=order_by, limit=limit)
    if as_json:
        print_json(found)
    elif not found:
        console.print("no runs match")
    else:
        _runs_table(found, title=f"{len(found)} run(s) match")


@app.command("show")
def show(ctx: typer.Context, run_id: str, as_json: JsonOption = False) -> None:
    """Show a run: attributes, params, metrics, tags, inputs, artifacts, children."""
    with state_of(ctx).open() as ws:
        run = ws.runs.get(run_id)
        artifacts = ws.runs.artifacts(run_id)
        inputs = ws.runs.inputs(run_id)
        children = ws.runs.children(run_id)
        environment = ws.runs.environment(run_id)
    if as_json:
        print_json(
            {
                "run": run,
                "artifacts": artifacts,
                "inputs": inputs,
                "children": [child.run_id for child in children],
                "environment": environment,
            }
        )
        return
    status = Text(run.status.value, style=_STATUS_STYLE[run.status])
    console.print(Text.assemble(("run ", "bold"), (run.run_id, "bold"), "  ", status))
    git = "—"
    if run.git_commit:
        git = f"{run.git_commit[:12]} ({run.git_branch or 'detached'})"
        git += ", dirty" if run.git_is_dirty else ""
    attributes = [
        ("name", run.name),
        ("experiment", run.experiment),
        ("started", cell(run.start_time)),
        ("duration", duration(run.duration_s)),
        ("parent", run.parent_run_id or "—"),
        ("user@host", f"{run.user or '?'}@{run.host or '?'}"),
        ("git", git),
        ("python", environment.python_version if environment else "—"),
        (
            "packages",
            f"{len(environment.packages)} ({environment.digest[:19]})" if environment else "—",
        ),
        ("seed", cell(run.seed)),
        ("command", run.command or "—"),
    ]
    if run.error_type:
        attributes.append(("error", f"{run.error_type}: {run.error_message}"))
    if run.note:
        attributes.append(("note", run.note))
    console.print(table(None, ["attribute", "value"], attributes))
    for title, mapping in (("params", run.params), ("metrics", run.metrics), ("tags", run.tags)):
        if mapping:
            console.print(table(title, ["key", "value"], sorted(mapping.items())))
    if inputs:
        console.print(
            table(
                "inputs",
                ["kind", "name", "version", "digest"],
                [[i.kind, i.name, i.version, i.digest] for i in inputs],
            )
        )
    if artifacts:
        console.print(
            table(
                "artifacts",
                ["path", "kind", "files", "bytes", "digest"],
                [[a.path, a.kind, a.file_count, a.size_bytes, a.digest] for a in artifacts],
            )
        )
    if children:
        _runs_table(children, title="child runs")


@app.command("compare")
def compare(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Two or more run ids.")],
    only_different: Annotated[
        bool, typer.Option("--diff", help="Only rows whose values differ.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Compare runs side by side; the best value of each metric is highlighted."""
    with state_of(ctx).open() as ws:
        comparison = ws.runs.compare(run_ids)
    if as_json:
        print_json(comparison)
        return
    columns = ["", "key", *(f"{run.name}\n{run.run_id[:8]}" for run in comparison.runs)]
    rendered = table(None, columns, [])
    for row in comparison.rows:
        if only_different and not row.is_different:
            continue
        values = [
            Text(cell(value), style="bold green" if index == row.best_index else "")
            for index, value in enumerate(row.values)
        ]
        rendered.add_row(
            row.section, Text(row.key, style="bold" if row.is_different else ""), *values
        )
    console.print(rendered)


@app.command("history")
def history(
    ctx: typer.Context,
    run_id: str,
    metric: str,
    as_json: JsonOption = False,
) -> None:
    """Show a metric's history, with a sparkline of its values."""
    with state_of(ctx).open() as ws:
        points = ws.runs.metric_history(run_id, metric)
    if as_json:
        print_json(points)
        return
    if not points:
        console.print(f"run {run_id} has no points of metric {metric!r}")
        return
    values = [point.value for point in points]
    console.print(f"{metric}  {sparkline(values)}  ({len(points)} points)")
    shown = points if len(points) <= 20 else [*points[:10], *points[-10:]]
    console.print(
        table(None, ["step", "time", "value"], [[p.step, p.timestamp, p.value] for p in shown])
    )
    if len(points) > 20:
        console.print(f"… {len(points) - 20} points not shown; --json prints them all")


@app.command("artifacts")
def artifacts(ctx: typer.Context, run_id: str, as_json: JsonOption = False) -> None:
    """List a run's artifacts, including the files inside logged directories."""
    with state_of(ctx).open() as ws:
        found = ws.runs.artifacts(run_id, expand=True)
    if as_json:
        print_json(found)
    elif not found:
        console.print(f"run {run_id} has no artifacts")
    else:
        console.print(
            table(
                None,
                ["path", "kind", "bytes", "digest"],
                [[a.path, a.kind, a.size_bytes, a.digest] for a in found],
            )
        )


@app.command("download")
def download(
    ctx: typer.Context,
    run_id: str,
    dest: Annotated[Path, typer.Argument(help="Directory to write into.")],
    path: Annotated[str | None, typer.Option("--path", "-p", help="Only this artifact.")] = None,
) -> None:
    """Download a run's artifacts into a directory (each file verified against its digest)."""
    with state_of(ctx).open() as ws:
        written = ws.runs.download_artifacts(run_id, dest, path)
    console.print(
        f"[green]✓[/] artifacts of run {escape(run_id)} written to {escape(str(written))}"
    )


@app.command("verify")
def verify(ctx: typer.Context, run_id: str, as_json: JsonOption = False) -> None:
    """Re-hash every artifact blob of a run; exit non-zero on the first corrupt one."""
    with state_of(ctx).open() as ws:
        checked = ws.runs.verify_artifacts(run_id)
    if as_json:
        print_json({"run_id": run_id, "verified": len(checked)})
    else:
        console.print(
            f"[green]✓[/] {len(checked)} artifact blob(s) of run {run_id} match their digests"
        )
