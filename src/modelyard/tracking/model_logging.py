"""The seam through which ``run.log_model`` reaches model packaging, which lives later in the flow.

Tracking cannot import the registry (registry builds on tracking), so a run is handed an object
that satisfies :class:`ModelLogger`; the workspace wires the registry's implementation in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from modelyard.ids import RunId


@dataclass(frozen=True, slots=True)
class LoggedModel:
    """A model logged by a run: its artifact, and its registered version when one was made."""

    run_id: RunId
    artifact_path: str
    artifact_digest: str
    flavor: str
    is_onnx: bool
    registered_version: str | None = None  # "name/version"


class ModelLogger(Protocol):
    """Packages a model object into a run's artifacts (and optionally registers it)."""

    def log_model(
        self,
        run_id: RunId,
        model: object,
        *,
        name: str,
        input_example: object,
        signature: object | None,
        trust: bool,
        registered_model_name: str | None,
    ) -> LoggedModel:
        """Store ``model`` as the run's artifact ``name`` and return what was stored."""
        ...
