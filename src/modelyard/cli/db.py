"""``modelyard db``: the metadata database's schema revision and migrations."""

from __future__ import annotations

from typing import Annotated

import typer

from modelyard.cli.render import console, print_json
from modelyard.cli.state import state_of
from modelyard.metastore import connect, current_revision, head_revision, upgrade
from modelyard.settings import default_home, load_settings

app = typer.Typer(
    help="The metadata database: schema revision and migrations.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("upgrade")
def upgrade_command(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Migrate the metadata database to the newest schema (safe to run any time)."""
    settings = load_settings(state_of(ctx).workspace or default_home())
    store = connect(settings)
    try:
        before, after = upgrade(store)
    finally:
        store.dispose()
    if as_json:
        print_json({"db_url": settings.redacted_db_url, "from": before, "to": after})
    elif before == after:
        console.print(f"database {settings.redacted_db_url} is up to date (revision {after})")
    else:
        console.print(
            f"[green]✓[/] migrated {settings.redacted_db_url} from {before or 'empty'} to {after}"
        )


@app.command("current")
def current(ctx: typer.Context, as_json: JsonOption = False) -> None:
    """Show the database's schema revision and the newest this modelyard knows."""
    settings = load_settings(state_of(ctx).workspace or default_home())
    store = connect(settings)
    try:
        with store.read() as conn:
            revision = current_revision(conn)
    finally:
        store.dispose()
    head = head_revision()
    if as_json:
        print_json({"db_url": settings.redacted_db_url, "revision": revision, "head": head})
        return
    state = "up to date" if revision == head else "run `modelyard db upgrade`"
    console.print(
        f"{settings.redacted_db_url}: revision {revision or 'none'}, head {head} ({state})"
    )
