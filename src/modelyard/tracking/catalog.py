"""Finding and reading runs: get, search in the database, history, compare, artifacts."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select

from modelyard.errors import InvalidInputError
from modelyard.ids import RunId
from modelyard.metastore import Metastore
from modelyard.metastore.tables import experiments, runs
from modelyard.tracking.artifacts import ArtifactRecord, RunArtifacts
from modelyard.tracking.compare import Comparison, compare_runs
from modelyard.tracking.environment import Environment
from modelyard.tracking.experiments import ACTIVE, ExperimentStore
from modelyard.tracking.metrics import MetricPoint, MetricWriter, metric_history
from modelyard.tracking.runs import Run, RunInput, RunStatus, RunStore, hydrate
from modelyard.tracking.search import apply_filter, apply_order

MAX_LIMIT = 50_000
_SEARCHED_TABLES = ("runs", "experiments", "params", "tags", "latest_metrics")


class RunCatalog:
    """Read-side access to runs (``ws.runs``)."""

    def __init__(
        self,
        metastore: Metastore,
        store: RunStore,
        experiments: ExperimentStore,
        artifacts: RunArtifacts,
        writer: MetricWriter,
    ) -> None:
        self._db = metastore
        self._store = store
        self._experiments = experiments
        self._artifacts = artifacts
        self._writer = writer

    def get(self, run_id: str) -> Run:
        """Return one run with its params, tags and latest metrics.

        Raises:
            RunNotFoundError: no run has that id.
        """
        return self._store.get(run_id)

    def get_many(self, run_ids: Sequence[str]) -> builtins.list[Run]:
        """Return the runs with these ids in the order given (unknown ids are left out)."""
        return self._store.get_many(run_ids)

    def readers(self, kind: str, name: str, version: str | None = None) -> builtins.list[RunId]:
        """Return the ids of runs that recorded reading an input (any version when None)."""
        return self._store.readers(kind, name, version)

    def search(
        self,
        experiment: str | Sequence[str] | None = None,
        filter: str | None = None,
        order_by: Sequence[str] | None = None,
        limit: int = 100,
        offset: int = 0,
        *,
        status: RunStatus | str | None = None,
        include_archived: bool = False,
    ) -> builtins.list[Run]:
        """Find runs; the filter and the ordering run in the database.

        Args:
            experiment: an experiment name (or several); None searches every experiment.
            filter: e.g. ``"metrics.auc > 0.8 and params.max_depth = '6'"`` (see
                modelyard.tracking.search for the language).
            order_by: e.g. ``["metrics.auc DESC", "start_time"]``; newest first by default.
            limit: at most this many runs (1 to 50,000).
            offset: skip this many matching runs (for paging).
            status: only runs with this status.
            include_archived: also search archived experiments when ``experiment`` is None.

        Returns:
            Runs with params, tags and latest metrics.

        Raises:
            InvalidFilterError: the filter or an order_by clause does not parse.
            ExperimentNotFoundError: an experiment name is unknown.
            InvalidInputError: limit or offset out of range.
        """
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInputError(f"limit {limit} is out of range: use 1 to {MAX_LIMIT}")
        if offset < 0:
            raise InvalidInputError(f"offset {offset} is out of range: use 0 or more")
        query = select(runs, experiments.c.name.label("experiment_name")).join(
            experiments, experiments.c.id == runs.c.experiment_id
        )
        if filter is not None and filter.strip():
            query = apply_filter(query, filter)
        if experiment is not None:
            names = [experiment] if isinstance(experiment, str) else list(experiment)
            ids = [self._experiments.resolve_id(name) for name in names]
            query = query.where(runs.c.experiment_id.in_(ids))
        elif not include_archived:
            query = query.where(experiments.c.lifecycle == ACTIVE)
        if status is not None:
            query = query.where(runs.c.status == RunStatus(status).value)
        query = apply_order(query, order_by).limit(limit).offset(offset)
        self._db.refresh_statistics("runs", _SEARCHED_TABLES)
        with self._db.read() as conn:
            return hydrate(conn, conn.execute(query).all())

    def list(self, experiment: str | None = None, limit: int = 100) -> builtins.list[Run]:
        """Return the newest runs (of one experiment, or of all active ones)."""
        return self.search(experiment, limit=limit)

    def metric_history(self, run_id: str, key: str) -> builtins.list[MetricPoint]:
        """Return every point of a run's metric by step (pending points are flushed first)."""
        self._writer.flush()
        self._store.get(run_id)
        return metric_history(self._db, run_id, key)

    def compare(self, run_ids: Sequence[str]) -> Comparison:
        """Put runs side by side (params, latest metrics, tags).

        Raises:
            RunNotFoundError: one of the ids is unknown.
            InvalidInputError: fewer than two runs.
        """
        if len(run_ids) < 2:
            raise InvalidInputError("compare needs at least two run ids")
        self._writer.flush()
        return compare_runs([self._store.get(run_id) for run_id in run_ids])

    def children(self, run_id: str) -> builtins.list[Run]:
        """Return the run's child runs, oldest first."""
        self._store.get(run_id)
        return self._store.get_many(self._store.children(RunId(run_id)))

    def inputs(self, run_id: str) -> builtins.list[RunInput]:
        """Return what the run read (datasets, feature views, …)."""
        self._store.get(run_id)
        return self._store.inputs(RunId(run_id))

    def environment(self, run_id: str) -> Environment | None:
        """Return the Python environment the run ran in (None when not captured)."""
        run = self._store.get(run_id)
        if run.environment_digest is None:
            return None
        return self._store.environment(run.environment_digest)

    def artifacts(self, run_id: str, *, expand: bool = False) -> builtins.list[ArtifactRecord]:
        """Return the run's artifacts by path (with ``expand``, files inside directories)."""
        self._store.get(run_id)
        return self._artifacts.list(RunId(run_id), expand=expand)

    def download_artifacts(self, run_id: str, dest: str | Path, path: str | None = None) -> Path:
        """Write the run's artifacts (or the one at ``path``) under ``dest``, verified."""
        self._store.get(run_id)
        return self._artifacts.download(RunId(run_id), Path(dest), path)

    def verify_artifacts(self, run_id: str) -> builtins.list[ArtifactRecord]:
        """Re-hash every artifact blob of the run; raise CorruptBlobError on a mismatch."""
        self._store.get(run_id)
        return self._artifacts.verify(RunId(run_id))

    def flush(self) -> None:
        """Write every queued metric point of this process now."""
        self._writer.flush()
