"""``modelyard models``: the registry — versions, aliases, gated promotion, rollback, lineage."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from modelyard.cli.render import cell, console, print_json, table
from modelyard.cli.state import state_of
from modelyard.errors import InvalidInputError, PromotionBlockedError
from modelyard.registry import GateReport, LineageNode, ModelVersion, PromotionResult

app = typer.Typer(
    help="The model registry: versions, aliases, stages, gated promotion, lineage, cards.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
ReasonOption = Annotated[
    str | None, typer.Option("--reason", "-r", help="Why (recorded in the audit trail).")
]
_STAGE_STYLE = {"Production": "bold green", "Staging": "cyan", "Archived": "dim", "None": ""}


def _versions_table(versions: list[ModelVersion], title: str | None = None) -> None:
    columns = ["version", "stage", "aliases", "flavor", "serving", "run", "registered", "digest"]
    rendered = table(title, columns, [], no_wrap=["version", "stage", "run", "registered"])
    for version in versions:
        serving = "onnx" if version.is_onnx else "native"
        if version.is_pickle_trusted:
            serving = "native (TRUSTED PICKLE)"
        rendered.add_row(
            str(version.version),
            Text(version.stage.value, style=_STAGE_STYLE[version.stage.value]),
            ", ".join(version.aliases) or "—",
            version.flavor,
            serving,
            version.run_id[:8],
            cell(version.created_at),
            version.artifact_digest[7:19],
        )
    console.print(rendered)


def print_report(report: GateReport) -> None:
    """Print a gate report as a table."""
    verdict = "[green]passed[/]" if report.is_passed else "[red]failed[/]"
    rendered = table(
        f"Gates for {report.model}/{report.version} → {report.target}: {verdict}",
        ["gate", "result", "observed", "expected", "message"],
        [],
        no_wrap=["result"],
    )
    for result in report.results:
        mark = Text("pass", style="green") if result.is_passed else Text("FAIL", style="bold red")
        rendered.add_row(result.gate, mark, result.observed, result.expected, result.message)
    console.print(rendered)


@app.command("ls")
def list_models(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List registered models with their latest and production versions."""
    with state_of(ctx).open() as ws:
        found = ws.models.list()
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no registered models yet: run.log_model(..., registered_model_name=NAME)")
        return
    rows = [
        [
            model.name,
            model.latest_version,
            model.production_version,
            ", ".join(f"{alias}→{number}" for alias, number in model.aliases.items()) or "—",
            model.updated_at,
            model.description,
        ]
        for model in found
    ]
    console.print(
        table(None, ["name", "latest", "production", "aliases", "updated", "description"], rows)
    )


@app.command("show")
def show(ctx: typer.Context, name: str, as_json: JsonOption = False) -> None:
    """Show a registered model and its versions."""
    with state_of(ctx).open() as ws:
        model = ws.models.get(name)
        versions = ws.models.versions(name)
        gates = ws.models.gates(name)
    if as_json:
        print_json({"model": model, "versions": versions, "gates": gates.to_dict()})
        return
    console.print(Text.assemble(("model ", "bold"), (model.name, "bold")))
    if model.description:
        console.print(model.description)
    rules = ", ".join(str(rule) for rule in gates.metric_rules) or "none"
    budget = f"{gates.latency_p99_ms:g} ms" if gates.latency_p99_ms is not None else "none"
    console.print(f"gates: metrics {rules}; latency p99 budget {budget}")
    _versions_table(versions)


@app.command("versions")
def versions(ctx: typer.Context, name: str, as_json: JsonOption = False) -> None:
    """List a model's versions, newest first."""
    with state_of(ctx).open() as ws:
        found = ws.models.versions(name)
    if as_json:
        print_json(found)
    else:
        _versions_table(found)


@app.command("register")
def register(
    ctx: typer.Context,
    name: str,
    run_id: str,
    path: Annotated[str, typer.Option("--path", "-p", help="The run's model artifact.")] = "model",
    description: Annotated[str, typer.Option("--description", "-d")] = "",
    as_json: JsonOption = False,
) -> None:
    """Register a run's logged model as the next version of NAME."""
    with state_of(ctx).open() as ws:
        version = ws.models.register(name, run_id, path, description=description)
    if as_json:
        print_json(version)
    else:
        console.print(f"[green]✓[/] registered {version.reference} ({version.artifact_digest})")


@app.command("promote")
def promote(
    ctx: typer.Context,
    reference: Annotated[str, typer.Argument(help="NAME/VERSION or NAME@ALIAS.")],
    to: Annotated[
        str | None, typer.Option("--to", help="Stage: staging, production or archived.")
    ] = None,
    alias: Annotated[str | None, typer.Option("--alias", help="Move this alias instead.")] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Promote although gates fail (needs --reason).")
    ] = False,
    reason: ReasonOption = None,
    allow_breaking: Annotated[
        bool, typer.Option("--allow-breaking", help="Accept removed or retyped inputs.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Promote a version through its gates; a failed gate blocks with a report (exit 5)."""
    with state_of(ctx).open() as ws:
        try:
            result = ws.models.promote(
                reference,
                to,
                alias=alias,
                force=force,
                reason=reason,
                allow_breaking=allow_breaking,
            )
        except PromotionBlockedError as error:
            if isinstance(error.report, GateReport):
                if as_json:
                    print_json(error.report)
                else:
                    print_report(error.report)
            raise
    _promotion(result, as_json)


def _promotion(result: PromotionResult, as_json: bool) -> None:
    if as_json:
        print_json(result)
        return
    if result.report.results:
        print_report(result.report)
    forced = " [yellow](forced over failed gates)[/]" if result.is_forced else ""
    previous = (
        f"; version {result.previous_production} archived"
        if result.previous_production is not None
        else ""
    )
    console.print(
        f"[green]✓[/] {result.version.reference} is now {result.target}{previous}{forced}"
    )


@app.command("alias")
def alias(
    ctx: typer.Context,
    name: str,
    alias_name: Annotated[str, typer.Argument(metavar="ALIAS")],
    version: Annotated[int | None, typer.Argument(help="Version to point at.")] = None,
    delete: Annotated[bool, typer.Option("--delete", help="Remove the alias.")] = False,
    reason: ReasonOption = None,
) -> None:
    """Point an alias (e.g. challenger) at a version, or remove it with --delete."""
    with state_of(ctx).open() as ws:
        if delete:
            ws.models.delete_alias(name, alias_name, reason=reason)
            console.print(f"[green]✓[/] removed alias {name}@{alias_name}")
            return
        if version is None:
            raise InvalidInputError("give the VERSION the alias should point at, or --delete")
        target = ws.models.set_alias(name, alias_name, version, reason=reason)
    console.print(f"[green]✓[/] {name}@{alias_name} → {target.reference}")


@app.command("rollback")
def rollback(
    ctx: typer.Context, name: str, reason: ReasonOption = None, as_json: JsonOption = False
) -> None:
    """Return production to the previous production version in one step."""
    with state_of(ctx).open() as ws:
        result = ws.models.rollback(name, reason=reason)
    if as_json:
        print_json(result)
    else:
        console.print(
            f"[green]✓[/] rolled {name} back to version {result.version.version} "
            f"(version {result.previous_production} archived)"
        )


@app.command("lineage")
def lineage(
    ctx: typer.Context,
    subject: Annotated[
        str,
        typer.Argument(help="NAME/VERSION, NAME@ALIAS, a run id, or KIND:NAME[/VERSION]."),
    ],
    as_json: JsonOption = False,
) -> None:
    """Show lineage as a tree: version → run → code, environment, seed, params, inputs."""
    with state_of(ctx).open() as ws:
        node = ws.lineage(subject)
    if as_json:
        print_json(node)
        return
    # Wrap long lines (digests) at the terminal's edge: soft wrap would crop a tree's lines.
    console.print(lineage_tree(node), soft_wrap=False)


def lineage_tree(node: LineageNode, parent: Tree | None = None) -> Tree:
    """Build a Rich tree of a lineage node."""
    label = Text.assemble((f"{node.kind} ", "dim"), (node.label, "bold"))
    branch = Tree(label) if parent is None else parent.add(label)
    for key, value in node.details.items():
        branch.add(Text(f"{key}: {value}", style="dim"))
    for child in node.children:
        lineage_tree(child, branch)
    return branch


@app.command("card")
def card(
    ctx: typer.Context,
    reference: str,
    fields: Annotated[
        list[str] | None,
        typer.Option("--set", help="FIELD=TEXT for intended_use, limitations, … (repeatable)."),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the markdown here.")
    ] = None,
    reason: ReasonOption = None,
) -> None:
    """Print (or write) a version's model card; --set edits its free-text fields."""
    changes: dict[str, str] = {}
    for item in fields or []:
        key, separator, value = item.partition("=")
        if not separator:
            raise InvalidInputError(f"--set {item!r} must read FIELD=TEXT")
        changes[key.strip()] = value
    with state_of(ctx).open() as ws:
        text = (
            ws.models.edit_card(reference, reason=reason, **changes)
            if changes
            else ws.models.card(reference)
        )
    if output is not None:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as error:
            raise InvalidInputError(
                f"cannot write the model card of {reference} to {output}: "
                f"{error.strerror or error}; create the directory or pick another --output"
            ) from error
        console.print(f"[green]✓[/] model card written to {escape(str(output))}")
    else:
        sys.stdout.write(text)  # verbatim markdown, the same bytes --output writes


@app.command("history")
def history(ctx: typer.Context, name: str, as_json: JsonOption = False) -> None:
    """Show a model's audit trail: every change, who made it, when and why."""
    with state_of(ctx).open() as ws:
        events = ws.models.history(name)
    if as_json:
        print_json(events)
        return
    rows = [
        [
            event.at,
            event.actor,
            event.action,
            event.version,
            ", ".join(f"{k}={v}" for k, v in event.details.items() if k != "gates"),
            event.reason,
        ]
        for event in events
    ]
    console.print(table(None, ["when", "who", "action", "version", "details", "reason"], rows))


@app.command("gates")
def gates(
    ctx: typer.Context,
    name: str,
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric", "-m", help='Rule such as "auc >= 0.85" or "auc >= champion.auc - 0.002".'
        ),
    ] = None,
    latency_p99_ms: Annotated[
        float | None, typer.Option("--latency-p99-ms", help="Single-row p99 budget.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Show a model's promotion gates, or set them with --metric / --latency-p99-ms."""
    with state_of(ctx).open() as ws:
        config = ws.models.gates(name)
        if metric or latency_p99_ms is not None:
            # --metric replaces the rules; what is not given on the command line stays as it is.
            config = ws.models.set_gates(
                name,
                metrics=metric or [str(rule) for rule in config.metric_rules],
                latency_p99_ms=latency_p99_ms
                if latency_p99_ms is not None
                else config.latency_p99_ms,
                latency_samples=config.latency_samples,
            )
    if as_json:
        print_json(config.to_dict())
        return
    rows = [["metric", str(rule)] for rule in config.metric_rules]
    if config.latency_p99_ms is not None:
        rows.append(["latency p99", f"<= {config.latency_p99_ms:g} ms"])
    rows += [
        ["always", "artifact digest verification"],
        ["always", "signature compatible with production"],
        ["always", "stored smoke payloads replay within tolerance"],
    ]
    console.print(table(f"gates of {name}", ["gate", "rule"], rows))
