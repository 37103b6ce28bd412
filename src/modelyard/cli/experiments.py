"""``modelyard experiments``: list, show, create, rename, archive and restore experiments."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.render import console, print_json, table
from modelyard.cli.state import state_of
from modelyard.tracking import Experiment

app = typer.Typer(help="Experiments: named groups of runs.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _rows(found: list[Experiment]) -> list[list[object]]:
    return [
        [e.name, e.run_count, e.lifecycle, e.created_at, e.description, e.experiment_id]
        for e in found
    ]


_COLUMNS = ["name", "runs", "state", "created", "description", "id"]


@app.command("ls")
def list_experiments(
    ctx: typer.Context,
    include_archived: Annotated[
        bool, typer.Option("--all", "-a", help="Include archived experiments.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List experiments with their run counts."""
    with state_of(ctx).open() as ws:
        found = ws.experiments.list(include_archived=include_archived)
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no experiments yet: start a run, or `modelyard experiments create NAME`")
        return
    console.print(table(None, _COLUMNS, _rows(found)))


@app.command("show")
def show(ctx: typer.Context, name: str, as_json: JsonOption = False) -> None:
    """Show one experiment."""
    with state_of(ctx).open() as ws:
        found = ws.experiments.get(name)
    if as_json:
        print_json(found)
        return
    console.print(table(None, _COLUMNS, _rows([found])))


@app.command("create")
def create(
    ctx: typer.Context,
    name: str,
    description: Annotated[str, typer.Option("--description", "-d", help="What it is for.")] = "",
    as_json: JsonOption = False,
) -> None:
    """Create an experiment."""
    with state_of(ctx).open() as ws:
        created = ws.experiments.create(name, description=description)
    _report(created, "created", as_json)


@app.command("rename")
def rename(ctx: typer.Context, name: str, new_name: str, as_json: JsonOption = False) -> None:
    """Rename an experiment (its runs follow)."""
    with state_of(ctx).open() as ws:
        renamed = ws.experiments.rename(name, new_name)
    _report(renamed, f"renamed from {name} to", as_json)


@app.command("archive")
def archive(ctx: typer.Context, name: str, as_json: JsonOption = False) -> None:
    """Archive an experiment: hidden from listings, closed to new runs, runs kept."""
    with state_of(ctx).open() as ws:
        archived = ws.experiments.archive(name)
    _report(archived, "archived", as_json)


@app.command("restore")
def restore(ctx: typer.Context, name: str, as_json: JsonOption = False) -> None:
    """Restore an archived experiment."""
    with state_of(ctx).open() as ws:
        restored = ws.experiments.restore(name)
    _report(restored, "restored", as_json)


def _report(experiment: Experiment, verb: str, as_json: bool) -> None:
    if as_json:
        print_json(experiment)
    else:
        console.print(f"[green]✓[/] {verb} experiment [bold]{experiment.name}[/]")
