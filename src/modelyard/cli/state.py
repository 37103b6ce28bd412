"""The global options of a CLI invocation and opening the workspace they name."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import typer

from modelyard.workspace import Workspace, open_workspace


@dataclass
class CliState:
    """Options given before the command (``modelyard -w DIR runs ls``)."""

    workspace: Path | None = None
    debug: bool = False

    def open(self) -> Workspace:
        """Open the workspace named by ``--workspace`` / MODELYARD_HOME / ./.modelyard."""
        return open_workspace(self.workspace)


def state_of(ctx: typer.Context) -> CliState:
    """Return the state the root callback stored on the context."""
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj
