"""The ``modelyard`` command: global options, command groups, and the error-to-exit-code shell."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from modelyard import __version__
from modelyard.cli import data, db, demo, experiments, features, models, runs, score, serve
from modelyard.cli.exitcodes import BUG, exit_code_for
from modelyard.cli.render import console, errors, print_json
from modelyard.cli.state import state_of
from modelyard.errors import ModelyardError
from modelyard.settings import ARTIFACT_DIR, DB_FILE, update_config
from modelyard.workspace import open_workspace

app = typer.Typer(
    name="modelyard",
    help="modelyard: datasets, features, tracked runs, a model registry, serving and "
    "monitoring in one self-hosted system.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data.app, name="data")
app.add_typer(experiments.app, name="experiments")
app.add_typer(features.app, name="features")
app.add_typer(runs.app, name="runs")
app.add_typer(models.app, name="models")
app.add_typer(db.app, name="db")
app.command("demo")(demo.demo)
app.command("score")(score.score)
app.command("serve")(serve.serve)


@app.callback()
def root(
    ctx: typer.Context,
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            envvar="MODELYARD_HOME",
            help="Workspace directory (default: $MODELYARD_HOME, else ./.modelyard).",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks of errors.")] = False,
) -> None:
    """Global options."""
    state = state_of(ctx)
    state.workspace = workspace
    state.debug = debug


@app.command("init")
def init(
    ctx: typer.Context,
    directory: Annotated[
        Path | None,
        typer.Argument(help="Workspace directory (default: the --workspace one)."),
    ] = None,
    db_url: Annotated[
        str | None,
        typer.Option("--db", help="Metadata database URL (sqlite:///… or postgresql+psycopg://…)."),
    ] = None,
    artifacts: Annotated[
        str | None,
        typer.Option("--artifacts", help="Artifact store URI (file:///… or s3://bucket/prefix)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Create a workspace (database schema and artifact store) and write its modelyard.toml."""
    home = directory or state_of(ctx).workspace or Path(".modelyard")
    home.mkdir(parents=True, exist_ok=True)
    ws = open_workspace(home, db_url=db_url, artifact_root=artifacts)
    try:
        chosen = {"db_url": db_url, "artifact_root": artifacts}
        # Running init again merges: settings not given on this command line (a PostgreSQL
        # db_url, say) stay as they were.
        written = update_config(home, {k: v for k, v in chosen.items() if v is not None})
        summary = {
            "workspace": str(home.resolve()),
            "db_url": ws.metastore.redacted_url,
            "artifact_root": ws.artifacts.root,
            "config": str(written),
        }
        # Name the default file and directory only when they are the ones in use (not when
        # the settings came from modelyard.toml or MODELYARD_* variables).
        resolved = home.resolve()
        default_db = ws.settings.db_url == f"sqlite:///{resolved / DB_FILE}"
        default_artifacts = ws.settings.artifact_root == (resolved / ARTIFACT_DIR).as_uri()
    finally:
        ws.close()
    if as_json:
        print_json(summary)
        return
    console.print(f"[green]✓[/] workspace ready at [bold]{summary['workspace']}[/]")
    console.print(f"  metadata   {summary['db_url']}" + (f"  ({DB_FILE})" if default_db else ""))
    console.print(
        f"  artifacts  {summary['artifact_root']}"
        + (f"  ({ARTIFACT_DIR}/)" if default_artifacts else "")
    )
    console.print(f"  settings   {summary['config']}")


@app.command("version")
def version() -> None:
    """Print the modelyard version."""
    console.print(__version__)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI: expected errors become one line on stderr and a documented exit code."""
    args = sys.argv[1:] if argv is None else argv
    debug = "--debug" in args or os.environ.get("MODELYARD_DEBUG", "") not in ("", "0")
    try:
        # Standalone mode: Typer reports its own usage errors (exit 2) and aborts (exit 1) and
        # exits; only errors raised by the commands come back here. Typer >= 0.26 vendors
        # click, so catching click's exception classes here would miss them (and click is no
        # longer installed with Typer).
        app(args=args, prog_name="modelyard", standalone_mode=True)
    except ModelyardError as error:
        if debug:
            traceback.print_exc()
        errors.print(f"error: {error}", markup=False)
        sys.exit(exit_code_for(error))
    except Exception as error:  # the interface's last line of defence (STYLE.md section 4)
        if debug:
            traceback.print_exc()
        errors.print(
            f"error: unexpected {type(error).__name__}: {error} "
            "(a bug in modelyard; rerun with --debug and report the traceback)",
            markup=False,
        )
        sys.exit(BUG)
    sys.exit(0)
