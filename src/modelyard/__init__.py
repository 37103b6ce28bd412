"""modelyard: one self-hosted system for the whole life of a machine-learning model.

Open a workspace and track a run::

    import modelyard

    ws = modelyard.open()            # ./.modelyard, or $MODELYARD_HOME
    with ws.start_run(experiment="fraud", params={"max_depth": 6}) as run:
        run.log_metric("auc", 0.91)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from modelyard.workspace import Workspace
    from modelyard.workspace import open_workspace as open

__all__ = ["Workspace", "__version__", "open"]

_LAZY = {
    "Workspace": ("modelyard.workspace", "Workspace"),
    "open": ("modelyard.workspace", "open_workspace"),
}


def __getattr__(name: str) -> Any:
    """Import public names on first use, so ``import modelyard`` stays fast."""
    if name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'modelyard' has no attribute {name!r}")
