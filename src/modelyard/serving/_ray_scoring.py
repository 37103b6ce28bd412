"""Batch scoring on Ray Data: pending partitions spread over actors that load the model once.

The partitions' numbers go through ``ray.data`` as a dataset of one row per partition;
``map_batches`` hands them, one at a time, to a pool of actors (a callable class) that each
load the model package and open the feature store once, then score and write whole partitions
exactly as the local engine does (same file names, same temporary-then-rename writes). Each
actor answers with the partition's outcome, which the driver records in the manifest as it
arrives, so a job resumes across engines and after an interrupted run.

Workers read the input and write the output by path and load the model from the workspace's
verified package cache: on a cluster of several machines those paths must be on a filesystem
every node mounts. Ray is an optional extra (``modelyard[ray]``), imported only here and only
when the ray engine runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pyarrow as pa

from modelyard.errors import InvalidScoringInputError
from modelyard.registry.flavors import load_predictor
from modelyard.serving._scoring_input import Partition, PartitionOutcome
from modelyard.serving.batch import (
    BatchScorer,
    FeatureStoreOpener,
    Progress,
    ScoringJob,
    score_partition,
)

_OUTCOME_SCHEMA = pa.schema([("name", pa.string()), ("rows", pa.int64()), ("error", pa.string())])


def require_ray() -> None:
    """Check that Ray (with Ray Data) can be imported, without importing it.

    Raises:
        InvalidScoringInputError: Ray is not installed here.
    """
    if importlib.util.find_spec("ray") is None:
        raise InvalidScoringInputError(
            "engine", "ray is not installed here: pip install 'modelyard[ray]'"
        )


def score_on_ray(
    partitions: Sequence[Partition],
    job: ScoringJob,
    package_dir: Path,
    open_feature_store: FeatureStoreOpener | None,
    workers: int | None,
    record: Callable[[PartitionOutcome], None],
    *,
    progress: Progress | None = None,
) -> None:
    """Score ``partitions`` on Ray Data, calling ``record`` with each outcome as it arrives.

    Uses the Ray instance this process is connected to, else starts a local one (no dashboard)
    and shuts it down afterwards.

    Args:
        partitions: the partitions to score.
        job: the job's settings.
        package_dir: the model package directory the actors load.
        open_feature_store: opens the feature store in an actor (when the job looks features up).
        workers: actors in the pool (default: Ray's CPUs, at most one per partition).
        record: called in the driver with each partition's outcome.
        progress: called with (rows scored, rows to score or None) after each partition.

    Raises:
        InvalidScoringInputError: Ray is not installed here.
    """
    require_ray()
    # Imported by name: Ray is an optional extra, and its modules are typed loosely.
    ray: Any = importlib.import_module("ray")
    ray_data: Any = importlib.import_module("ray.data")
    is_started_here = not ray.is_initialized()
    if is_started_here:
        ray.init(include_dashboard=False, logging_level=logging.WARNING, log_to_driver=False)
    try:
        context = ray_data.DataContext.get_current()
        # The caller draws its own progress (a Rich bar in the CLI) from ``progress``.
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        cpus = int(ray.available_resources().get("CPU", 1))
        actors = max(1, min(len(partitions), workers or cpus))
        # Each row carries its partition, so the actors' constructor arguments stay small.
        items = ray_data.from_items(
            [{"partition": json.dumps(asdict(part))} for part in partitions],
            override_num_blocks=len(partitions),
        )
        outcomes = items.map_batches(
            PartitionWorker,
            fn_constructor_kwargs={
                "job": job,
                "package_dir": str(package_dir),
                "open_feature_store": open_feature_store,
            },
            batch_size=1,
            batch_format="pyarrow",
            compute=ray_data.ActorPoolStrategy(size=actors),
            num_cpus=1,
        )
        sizes = [part.rows for part in partitions]
        total = None if None in sizes else sum(size or 0 for size in sizes)
        done = 0
        for row in outcomes.iter_rows():
            outcome = PartitionOutcome(str(row["name"]), int(row["rows"]), row["error"])
            record(outcome)
            done += outcome.rows
            if progress is not None:
                progress(done, total)
    finally:
        if is_started_here:
            ray.shutdown()


class PartitionWorker:
    """A Ray Data actor: loads the model (and the feature store) once, then scores partitions.

    Args:
        job: the job's settings.
        package_dir: the model package directory.
        open_feature_store: opens the feature store, when the job looks features up.
    """

    def __init__(
        self, job: ScoringJob, package_dir: str, open_feature_store: FeatureStoreOpener | None
    ) -> None:
        self._job = job
        # One intra-op thread: the pool runs one actor per CPU.
        predictor = load_predictor(Path(package_dir), threads=1)
        features = open_feature_store() if job.features and open_feature_store else None
        self._scorer = BatchScorer(predictor, job, features)

    def __call__(self, batch: pa.Table) -> pa.Table:
        """Score the partitions ``batch`` holds (as JSON); return their outcomes."""
        outcomes = [
            score_partition(_partition(json.loads(text)), self._job, self._scorer)
            for text in batch.column("partition").to_pylist()
        ]
        return pa.Table.from_pylist(
            [{"name": item.name, "rows": item.rows, "error": item.error} for item in outcomes],
            schema=_OUTCOME_SCHEMA,
        )


def _partition(fields: dict[str, Any]) -> Partition:
    groups = fields["row_groups"]
    return Partition(**{**fields, "row_groups": None if groups is None else tuple(groups)})
