"""``modelyard data``: dataset versions (add, list, show, diff, tag, checkout) and data contracts
(validate, infer, compatibility diff)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.text import Text

from modelyard.cli.html import render_validation_html
from modelyard.cli.render import cell, console, duration, errors, print_json, progress_bar, table
from modelyard.cli.state import state_of
from modelyard.contracts import (
    CompatibilityReport,
    RuleResult,
    ValidationReport,
    compare_contracts,
    infer_contract,
    load_contract,
)
from modelyard.datasets import DatasetDiff, DatasetVersion
from modelyard.errors import DataContractViolation, IncompatibleContractError, InvalidInputError

app = typer.Typer(
    help="Dataset versions and data contracts: add, list, diff, check out, validate.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
RefArgument = Annotated[
    str, typer.Argument(help="NAME (latest), NAME/VERSION or NAME@TAG.", show_default=False)
]


def _size(num_bytes: int | None) -> str:
    if num_bytes is None:
        return "—"
    size = float(num_bytes)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def _version_line(version: DatasetVersion) -> str:
    tags = f" [{', '.join(version.tags)}]" if version.tags else ""
    return (
        f"{version.ref}{tags}: {version.num_rows:,} rows, {version.num_columns} columns, "
        f"{_size(version.size_bytes)}, {version.digest}"
    )


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="Dataset name.", show_default=False)],
    source: Annotated[
        str,
        typer.Argument(
            help="A Parquet or CSV file, a directory of them, or a glob ('raw/*.parquet').",
            show_default=False,
        ),
    ],
    description: Annotated[str, typer.Option("--description", "-d", help="What it is.")] = "",
    tags: Annotated[
        list[str] | None, typer.Option("--tag", "-t", help="Tag the new version (repeatable).")
    ] = None,
    allow_empty: Annotated[
        bool, typer.Option("--allow-empty", help="Accept a source with no rows.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Add a version of a dataset (stored once as Parquet by digest; same content, same version)."""
    with (
        state_of(ctx).open() as ws,
        progress_bar("adding", "rows", enabled=not as_json) as progress,
    ):
        before = {version.digest for version in _versions_or_empty(ws, name)}
        version = ws.datasets.add(
            name,
            source,
            description=description,
            tags=tuple(tags or ()),
            allow_empty=allow_empty,
            progress=progress,
        )
    if as_json:
        print_json({"version": version, "is_new": version.digest not in before})
        return
    if version.digest in before:
        console.print(f"unchanged: same content as {_version_line(version)}")
    else:
        console.print(f"[green]✓[/] added {_version_line(version)}")


def _versions_or_empty(ws: Any, name: str) -> list[DatasetVersion]:
    if name not in {info.name for info in ws.datasets.list()}:
        return []
    versions: list[DatasetVersion] = ws.datasets.versions(name)
    return versions


@app.command("ls")
def list_datasets(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """List datasets with their latest version."""
    with state_of(ctx).open() as ws:
        found = ws.datasets.list()
    if as_json:
        print_json(found)
        return
    if not found:
        console.print("no datasets yet: modelyard data add NAME FILE")
        return
    rows = [
        [
            info.name,
            info.latest_version,
            info.num_versions,
            None if info.num_rows is None else f"{info.num_rows:,}",
            info.num_columns,
            _size(info.size_bytes),
            ", ".join(f"{tag}→{number}" for tag, number in info.tags.items()) or "—",
            info.updated_at,
            info.description,
        ]
        for info in found
    ]
    columns = ["name", "latest", "versions", "rows", "cols", "size", "tags", "updated", "desc"]
    console.print(table(None, columns, rows, no_wrap=["name", "updated"]))


@app.command("show")
def show(ctx: typer.Context, ref: RefArgument, as_json: JsonOption = False) -> None:
    """Show a dataset version: its schema with column summaries, and its validation reports."""
    with state_of(ctx).open() as ws:
        version = ws.datasets.get(ref)
        versions = ws.datasets.versions(version.name)
        reports = ws.contracts.reports(dataset_ref=version.ref)
    if as_json:
        print_json({"version": version, "versions": versions, "reports": reports})
        return
    console.print(Text(_version_line(version), style="bold"))
    details = [
        ("source", version.source),
        ("description", version.description or "—"),
        ("added", f"{cell(version.created_at)} by {version.created_by or '—'}"),
        ("run", version.created_by_run or "—"),
    ]
    for key, value in details:
        console.print(f"  {key:<12} {value}")
    rows: list[list[object]] = []
    for column in version.schema:
        stats = version.summary.get(column.name)
        if stats is None:
            rows.append([column.name, column.type, None, None, None, None, None])
            continue
        rows.append(
            [
                column.name,
                column.type,
                stats.null_count,
                stats.min,
                stats.max,
                stats.mean,
                stats.approx_distinct,
            ]
        )
    console.print(
        table(
            "Columns",
            ["column", "type", "nulls", "min", "max", "mean", "distinct (≈)"],
            rows,
            no_wrap=["column", "type"],
        )
    )
    if len(versions) > 1:
        console.print(
            table(
                "Versions",
                ["version", "tags", "rows", "added", "digest"],
                [
                    [v.version, ", ".join(v.tags) or "—", f"{v.num_rows:,}", v.created_at, v.digest]
                    for v in versions
                ],
            )
        )
    if reports:
        console.print(
            table(
                "Validation reports",
                ["when", "contract", "result", "errors", "warnings", "run"],
                [
                    [
                        report.created_at,
                        f"{report.contract}/{report.contract_version}",
                        "passed" if report.is_passed else "FAILED",
                        report.error_failures,
                        report.warn_failures,
                        report.run_id or "—",
                    ]
                    for report in reports
                ],
            )
        )


@app.command("diff")
def diff(
    ctx: typer.Context,
    old: Annotated[str, typer.Argument(help="NAME/VERSION (or NAME: the one before latest).")],
    new: Annotated[
        str | None, typer.Argument(help="NAME/VERSION (default: the latest of the same name).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Compare two versions: schema changes, row counts, column summary changes."""
    with state_of(ctx).open() as ws:
        if new is None:
            versions = ws.datasets.versions(ws.datasets.get(old).name)
            if "/" not in old and "@" not in old:
                if len(versions) < 2:
                    raise InvalidInputError(f'dataset "{old}" has one version; nothing to compare')
                old, new = versions[1].ref, versions[0].ref
            else:
                new = versions[0].ref
        result = ws.datasets.diff(old, new)
    if as_json:
        print_json(result.to_dict())
        return
    print_diff(result)


def print_diff(result: DatasetDiff) -> None:
    """Print a dataset diff for people."""
    console.print(
        Text(
            f"{result.old} → {result.new}: rows {result.old_rows:,} → {result.new_rows:,} "
            f"({result.new_rows - result.old_rows:+,})",
            style="bold",
        )
    )
    if not result.schema_changes and not result.column_changes:
        console.print("no schema or summary changes")
        return
    if result.schema_changes:
        console.print(
            table(
                "Schema changes",
                ["change", "column", "detail"],
                [[change.kind, change.column, change.detail] for change in result.schema_changes],
                no_wrap=["change", "column"],
            )
        )
    if result.column_changes:
        console.print(
            table(
                "Column summary changes",
                ["column", "statistic", "old", "new"],
                [
                    [change.column, change.statistic, change.old, change.new]
                    for change in result.column_changes
                ],
                no_wrap=["column", "statistic"],
            )
        )


@app.command("tag")
def tag(
    ctx: typer.Context,
    ref: Annotated[str, typer.Argument(help="NAME/VERSION to tag.", show_default=False)],
    name: Annotated[str, typer.Argument(help="The tag, e.g. prod.", show_default=False)],
    as_json: JsonOption = False,
) -> None:
    """Point a tag (NAME@TAG) at a version; moving an existing tag is allowed."""
    with state_of(ctx).open() as ws:
        version = ws.datasets.get(ref)
        ws.datasets.tag(version.name, version.version, name)
        tagged = ws.datasets.get(f"{version.name}@{name}")
    if as_json:
        print_json(tagged)
        return
    console.print(f"[green]✓[/] {version.name}@{name} → {tagged.ref}")


@app.command("checkout")
def checkout(
    ctx: typer.Context,
    ref: RefArgument,
    directory: Annotated[Path, typer.Argument(help="Where to write the Parquet file.")],
    as_json: JsonOption = False,
) -> None:
    """Write a version's Parquet file (verified against its digest) into DIR."""
    with state_of(ctx).open() as ws:
        version = ws.datasets.get(ref)
        path = ws.datasets.checkout(version.ref, directory)
    if as_json:
        print_json({"version": version.ref, "digest": version.digest, "path": path})
        return
    console.print(f"[green]✓[/] {version.ref} → {path}")


@app.command("validate")
def validate(
    ctx: typer.Context,
    ref: RefArgument,
    contract_file: Annotated[
        Path, typer.Option("--contract", "-c", help="The contract (YAML).", show_default=False)
    ],
    html: Annotated[
        Path | None, typer.Option("--html", help="Also write the report as an HTML page here.")
    ] = None,
    show_all: Annotated[
        bool, typer.Option("--all", "-a", help="List passing rules too, not only their count.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Check a dataset version against a data contract; exit 5 when an error rule fails.

    The report is stored with the dataset version (see `modelyard data show`).
    """
    contract = load_contract(contract_file)
    with state_of(ctx).open() as ws:
        version = ws.datasets.get(ref)
        report = ws.contracts.validate(contract, version)
    if html is not None:
        html.write_text(render_validation_html(report), encoding="utf-8")
    if as_json:
        print_json(report.to_dict())
    else:
        print_validation(report, show_all=show_all)
        if html is not None:
            console.print(f"HTML report: {html}")
    if not report.passed:
        raise _violation(report)


def _violation(report: ValidationReport) -> DataContractViolation:
    error = DataContractViolation(
        report.contract, report.data, [result.rule_id for result in report.errors]
    )
    error.report = report
    return error


def print_validation(report: ValidationReport, *, show_all: bool = False) -> None:
    """Print a validation report: failed and warning rules with samples of failing rows, then
    the passing rules (all of them with ``show_all``, else their count)."""
    verdict = "[green]passed[/]" if report.passed else "[bold red]FAILED[/]"
    console.print(
        f"{escape(report.data)} against contract {escape(report.contract)}: {verdict} "
        f"({report.num_rows:,} rows, {len(report.results)} rules, {len(report.errors)} "
        f"error(s), {len(report.warnings)} warning(s))"
    )
    failed = [result for result in report.results if not result.passed]
    shown = report.results if show_all else failed
    if shown:
        rendered = table(
            None,
            ["rule", "severity", "result", "observed", "expected", "failing rows"],
            [],
            no_wrap=["rule", "result"],
        )
        for result in sorted(shown, key=lambda result: result.passed):
            rendered.add_row(
                Text(result.rule_id),
                Text(result.severity),
                _mark(result),
                Text(_observed(result)),
                Text(result.expected),
                Text(
                    f"{result.failing_rows:,} ({result.failing_fraction or 0:.2%})"
                    if result.failing_rows
                    else "—"
                ),
            )
        console.print(rendered)
    if not show_all and len(failed) < len(report.results):
        console.print(f"[green]✓[/] the other {len(report.results) - len(failed)} rules pass")
    for result in failed:
        if result.sample:
            columns = list(result.sample[0])[:_SAMPLE_COLUMNS]
            console.print(
                table(
                    f"{result.rule_id}: first failing rows",
                    columns,
                    [[row.get(column) for column in columns] for row in result.sample],
                )
            )


_SAMPLE_COLUMNS = 8


def _mark(result: RuleResult) -> Text:
    if result.passed:
        return Text("pass", style="green")
    if result.severity == "warn":
        return Text("WARN", style="yellow")
    return Text("FAIL", style="bold red")


def _observed(result: RuleResult) -> str:
    """The observed value, readable: an age for freshness, the reason when it could not run."""
    if result.observed is None:
        return result.message or "—"
    if result.kind == "freshness" and isinstance(result.observed, int | float):
        return f"{duration(float(result.observed))} old"
    return cell(result.observed)


@app.command("infer-contract")
def infer(
    ctx: typer.Context,
    ref: RefArgument,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the YAML here (default: stdout).")
    ] = None,
    name: Annotated[
        str | None, typer.Option("--name", help="Contract name (default: the dataset's).")
    ] = None,
) -> None:
    """Draft a contract from a dataset version, for a person to edit."""
    with state_of(ctx).open() as ws:
        version = ws.datasets.get(ref)
        contract = infer_contract(version, name or version.name)
    text = contract.to_yaml()
    if output is None:
        sys.stdout.write(text)
        return
    output.write_text(text, encoding="utf-8")
    errors.print(f"wrote a draft contract for {version.ref} to {output}; review it before use")


@app.command("contract-diff")
def contract_diff(
    old: Annotated[Path, typer.Argument(help="The contract consumers rely on.")],
    new: Annotated[Path, typer.Argument(help="The proposed contract.")],
    as_json: JsonOption = False,
) -> None:
    """Say whether NEW is backward compatible with OLD; exit 5 when it is not.

    Adding a nullable column is compatible; removing, renaming or retyping one is not.
    """
    result = compare_contracts(load_contract(old), load_contract(new))
    if as_json:
        print_json(result.to_dict())
    else:
        print_compatibility(result)
    if not result.is_compatible:
        raise IncompatibleContractError(
            str(old), str(new), [change.detail for change in result.changes if change.is_breaking]
        )


def print_compatibility(result: CompatibilityReport) -> None:
    """Print the changes between two contracts, breaking ones first."""
    if not result.changes:
        console.print("[green]✓[/] no changes")
        return
    verdict = "[green]compatible[/]" if result.is_compatible else "[bold red]BREAKING[/]"
    rendered = table(f"Contract changes: {verdict}", ["change", "column", "detail", "breaking"], [])
    for change in sorted(result.changes, key=lambda change: not change.is_breaking):
        rendered.add_row(
            Text(change.kind),
            Text(change.column or "—"),
            Text(change.detail),
            Text("yes", style="bold red") if change.is_breaking else Text("no", style="green"),
        )
    console.print(rendered)
