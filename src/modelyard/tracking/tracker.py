"""Experiment tracking wired together: stores, the metric writer, and starting runs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from modelyard.artifacts import ArtifactStore
from modelyard.clock import Clock
from modelyard.ids import RunId, new_run_id
from modelyard.metastore import Metastore
from modelyard.settings import Settings
from modelyard.tracking.active import ActiveRun
from modelyard.tracking.artifacts import RunArtifacts
from modelyard.tracking.catalog import RunCatalog
from modelyard.tracking.environment import capture
from modelyard.tracking.experiments import DEFAULT_EXPERIMENT, ExperimentStore
from modelyard.tracking.metrics import MetricWriter
from modelyard.tracking.model_logging import ModelLogger
from modelyard.tracking.runs import RunStore, check_key, stringify


class Tracker:
    """Everything experiment tracking needs for one workspace in one process."""

    def __init__(
        self, metastore: Metastore, store: ArtifactStore, settings: Settings, clock: Clock
    ) -> None:
        self._settings = settings
        self._clock = clock
        self.writer = MetricWriter(
            metastore,
            flush_interval_s=settings.metrics_flush_interval_s,
            batch_size=settings.metrics_batch_size,
            max_buffer=settings.metrics_max_buffer,
        )
        self.experiments = ExperimentStore(metastore, clock)
        self.run_store = RunStore(metastore, clock)
        self.artifacts = RunArtifacts(metastore, store, clock)
        self.runs = RunCatalog(
            metastore, self.run_store, self.experiments, self.artifacts, self.writer
        )
        # Set by the workspace once the registry exists (see tracking/model_logging.py).
        self.model_logger: ModelLogger | None = None

    def start_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        *,
        name: str | None = None,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        note: str = "",
        parent: ActiveRun | str | None = None,
        seed: int | None = None,
        cwd: Path | None = None,
    ) -> ActiveRun:
        """Start a run (the experiment is created on first use).

        Args:
            experiment: the experiment's name.
            name: the run's display name (default ``run-<8 hex>``).
            params: params recorded at start (immutable within the run).
            tags: tags recorded at start.
            note: a free-text note.
            parent: the parent run (an ActiveRun or a run id) for nested runs.
            seed: when given, ``seed_everything(seed)`` is called and the seed recorded.
            cwd: the directory whose git state is recorded (default: the working directory).

        Raises:
            ExperimentArchivedError: the experiment is archived.
            RunNotFoundError: the parent does not exist.
            InvalidNameError: a key or the experiment name breaks its rule.
        """
        experiment_id, experiment_name = self.experiments.open_for_runs(experiment)
        parent_id: RunId | None = None
        if parent is not None:
            parent_id = parent.run_id if isinstance(parent, ActiveRun) else RunId(parent)
            self.run_store.get(parent_id)
        run_id = new_run_id()
        display_name = name or f"run-{run_id[:8]}"
        stored_params = {
            check_key("param name", k): stringify("param", k, v) for k, v in (params or {}).items()
        }
        stored_tags = {
            check_key("tag name", k): stringify("tag", k, v) for k, v in (tags or {}).items()
        }
        context = capture(cwd) if self._settings.capture_environment else None
        self.run_store.create(
            run_id=run_id,
            experiment_id=experiment_id,
            name=display_name,
            parent_run_id=parent_id,
            context=context,
            param_values=stored_params,
            tag_values=stored_tags,
            note=note,
        )
        run = ActiveRun(
            run_id=run_id,
            name=display_name,
            experiment=experiment_name,
            store=self.run_store,
            artifacts=self.artifacts,
            writer=self.writer,
            clock=self._clock,
            model_logger=self.model_logger,
        )
        if seed is not None:
            run.seed_everything(seed)
        return run

    def close(self) -> None:
        """Write queued metrics and stop the writer thread."""
        self.writer.close()
