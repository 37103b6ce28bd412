"""Batch scoring: a registered model over Parquet, CSV or a dataset version, resumable by partition.

A job splits its input into partitions, deterministically: one per CSV file, and per Parquet
file one per run of whole row groups holding up to ``partition_rows`` rows (a larger row group
is a partition by itself). Each partition is streamed in Arrow batches of about ``batch_rows``
rows, so memory stays bounded whatever the input's size. Per batch: the configured features are
looked up offline, point in time (``FeatureStore.historical``, by the entity keys and the
timestamp column of the rows), the model is called once, and the batch is written with pyarrow
to ``<output>/part-NNNNN.parquet`` under a temporary name that is renamed when the partition is
complete.

``<output>/_scoring.json`` (the manifest) records the model version and digest, the input's
fingerprint, the settings that shape the output and each partition's status. Running the same
job again skips the partitions recorded done whose file is there, and scores the failed and
missing ones; an output directory holding scores of another model digest, input or settings is
refused rather than mixed. A partition that fails (a corrupt file, rows that break the model's
signature) is recorded with its reason while the others go on; :class:`ScoringFailedError` then
names every failed partition.

Output columns: the input's columns as they are, the looked-up feature columns, ``prediction``,
for classifiers ``probability`` (a binary classifier's probability of its second class, the
positive one) or ``probability_0`` … ``probability_<k-1>`` (one per class, in the order of the
model's ``predict_proba`` columns), then ``model_version`` (``fraud/3``) and ``model_digest``,
dictionary-encoded, on every row.

A classifier is called once per batch, with ``predict_proba`` (scoring runs near the speed of
the bare model): its ``prediction`` is the label of the most probable class, learned from the
model's own ``predict`` on the first rows scored and on the rows of each class first seen later,
and checked there; a model whose labels are not its most probable classes is called with both
methods on every batch.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from modelyard.datasets import DatasetStore
from modelyard.errors import (
    InvalidScoringInputError,
    ModelyardError,
    ScoringFailedError,
    SignatureMismatchError,
)
from modelyard.features.definitions import FeatureView
from modelyard.features.materialize import join_keys
from modelyard.features.offline import DEFAULT_TIMESTAMP_COLUMN
from modelyard.features.store import FeatureStore
from modelyard.registry.flavors import Predictor
from modelyard.registry.flavors.runtime import ORT_ERRORS
from modelyard.registry.flavors.signature import Array, Signature
from modelyard.registry.models import ModelRegistry
from modelyard.serving._scoring_input import (
    Partition,
    PartitionOutcome,
    _first_line,
    _Manifest,
    _plan,
    _resolve_input,
)
from modelyard.serving.config import ModelServingConfig

DEFAULT_BATCH_ROWS = 65_536
DEFAULT_PARTITION_ROWS = 1_048_576
ENGINES = ("local", "ray")
PREDICTION_COLUMN = "prediction"
PROBABILITY_COLUMN = "probability"
MODEL_VERSION_COLUMN = "model_version"
MODEL_DIGEST_COLUMN = "model_digest"

Progress = Callable[[int, int | None], None]
FeatureStoreOpener = Callable[[], FeatureStore]

# What scoring one partition may raise and still leave the others to score: our own errors
# (a signature mismatch, a feature lookup), unreadable or corrupt files, and the model runtime.
_PARTITION_ERRORS: tuple[type[Exception], ...] = (
    ModelyardError,
    pa.ArrowException,
    OSError,
    duckdb.Error,
    *ORT_ERRORS,
)
_CHECKED_ROWS = 1024  # rows of the first batch on which a classifier's labels are checked


@dataclass(frozen=True, slots=True)
class ScoringJob:
    """What every partition of a job is scored with; plain values, so Ray workers get a copy.

    Attributes:
        model: the version scored (``fraud/3``).
        model_digest: its artifact digest.
        output: the output directory (absolute).
        batch_rows: rows per model call.
        features: feature references looked up offline for each batch.
        defaults: per feature column, the value that replaces a null (no value offline).
        timestamp_column: the input's event-time column, for point-in-time lookups.
    """

    model: str
    model_digest: str
    output: str
    batch_rows: int
    features: tuple[str, ...] = ()
    defaults: Mapping[str, object] = field(default_factory=dict)
    timestamp_column: str = DEFAULT_TIMESTAMP_COLUMN


@dataclass(frozen=True, slots=True)
class ScoringResult:
    """What a batch-scoring run did.

    Attributes:
        model: the version scored (``fraud/3``), resolved once from the reference given.
        model_digest: its artifact digest, written on every output row.
        input: the input as described to people.
        output: the output directory.
        engine: ``local`` or ``ray``.
        partitions: the partitions of the input.
        scored: partitions scored by this run.
        skipped: partitions already done by an earlier run.
        rows: rows scored by this run.
        seconds: how long the run took.
    """

    model: str
    model_digest: str
    input: str
    output: str
    engine: str
    partitions: int
    scored: int
    skipped: int
    rows: int
    seconds: float

    @property
    def rows_per_s(self) -> float:
        """Rows scored per second by this run."""
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, object]:
        """Return the result as JSON-ready values (with ``rows_per_s``)."""
        return {**asdict(self), "rows_per_s": self.rows_per_s}


def score(
    reference: str,
    source: str | Path,
    output: str | Path,
    *,
    registry: ModelRegistry,
    datasets: DatasetStore | None = None,
    feature_store: FeatureStore | None = None,
    serving: ModelServingConfig | None = None,
    features: Sequence[str] | None = None,
    timestamp_column: str = DEFAULT_TIMESTAMP_COLUMN,
    engine: str = "local",
    batch_rows: int = DEFAULT_BATCH_ROWS,
    partition_rows: int = DEFAULT_PARTITION_ROWS,
    workers: int | None = None,
    open_feature_store: FeatureStoreOpener | None = None,
    progress: Progress | None = None,
) -> ScoringResult:
    """Score ``source`` with a registered model into Parquet files under ``output``.

    See the module docstring for partitions, output columns and resumption.

    Args:
        reference: the model (``fraud@champion``, ``fraud/3``); resolved once to a version.
        source: a Parquet or CSV file, a directory of them (read recursively, in path order;
            names starting with ``.`` or ``_`` are skipped), or a dataset reference
            (``transactions/3``, ``transactions@validated``) when no such path exists.
        output: the output directory (created when missing).
        registry: the model registry.
        datasets: resolves dataset references.
        feature_store: looks features up offline (local engine).
        serving: the model's serving config: its ``features`` are looked up and its
            ``defaults`` replace values missing offline.
        features: feature references to look up, instead of a serving config.
        timestamp_column: the input's event-time column for the point-in-time lookups.
        engine: ``local`` (this process) or ``ray`` (Ray Data; a running Ray, else a local one).
        batch_rows: rows per model call.
        partition_rows: the most rows of a partition made of several Parquet row groups.
        workers: Ray actors (default: Ray's CPUs, at most one per partition).
        open_feature_store: with the ray engine and features: a picklable function that opens
            the feature store in a worker.
        progress: called with (rows scored, rows to score or None) as batches are written.

    Returns:
        What the run did; when no partition failed.

    Raises:
        InvalidScoringInputError: a missing or unsupported input, an unknown dataset, an output
            directory holding other files or the scores of another model digest, input or
            settings, a bad option, columns needed for the lookups missing; nothing is written.
        SignatureMismatchError: the input lacks a column the model needs.
        ScoringFailedError: some partitions failed; the others are written and recorded, and
            running the same job again scores only the failed ones.
        ModelVersionNotFoundError, AliasNotFoundError, FeatureNotFoundError: unknown names.
    """
    started = time.perf_counter()
    _check_options(engine, batch_rows, partition_rows, workers)
    refs, defaults = _feature_settings(serving, features)
    if engine == "ray":
        from modelyard.serving._ray_scoring import require_ray

        require_ray()
    version = registry.version(reference)
    signature = Signature.from_dict(version.signature)
    if signature.input_kind != "dataframe":
        raise InvalidScoringInputError(
            "model", f"{version.reference} takes a tensor; batch scoring reads tables of columns"
        )
    out = Path(output).resolve()
    description, fingerprint, files = _resolve_input(source, datasets, out)
    partitions, schema = _plan(files, partition_rows)
    lookups = _lookups(refs, schema, signature, feature_store, timestamp_column)
    if lookups and engine == "ray" and open_feature_store is None:
        raise InvalidScoringInputError(
            "engine", "ray workers look features up themselves: pass open_feature_store"
        )
    job = ScoringJob(
        version.reference,
        version.artifact_digest,
        str(out),
        batch_rows,
        lookups,
        {name: value for name, value in defaults.items() if name in _columns(lookups)},
        timestamp_column,
    )
    settings = {
        "model": version.reference,
        "model_digest": version.artifact_digest,
        "input": description,
        "input_fingerprint": fingerprint,
        "partition_rows": partition_rows,
        "features": {"lookups": list(lookups), "defaults": dict(job.defaults)},
        "timestamp_column": timestamp_column,
    }
    manifest = _Manifest.open(out, settings, partitions)
    pending = [part for part in partitions if not manifest.is_done(part)]
    outcomes: list[PartitionOutcome] = []

    def record(outcome: PartitionOutcome) -> None:
        outcomes.append(outcome)
        manifest.record(outcome)

    if pending and engine == "ray":
        from modelyard.serving._ray_scoring import score_on_ray

        package_dir = registry.package_dir(version)
        score_on_ray(
            pending, job, package_dir, open_feature_store, workers, record, progress=progress
        )
    elif pending:
        scorer = BatchScorer(registry.load_version(version), job, feature_store)
        _score_locally(pending, job, scorer, record, progress)
    failed = [outcome for outcome in outcomes if outcome.error is not None]
    if failed:
        raise ScoringFailedError(
            [outcome.name for outcome in failed],
            [outcome.error or "" for outcome in failed],
            str(out),
        )
    return ScoringResult(
        model=version.reference,
        model_digest=version.artifact_digest,
        input=description,
        output=str(out),
        engine=engine,
        partitions=len(partitions),
        scored=len(outcomes),
        skipped=len(partitions) - len(pending),
        rows=sum(outcome.rows for outcome in outcomes),
        seconds=time.perf_counter() - started,
    )


def _check_options(engine: str, batch_rows: int, partition_rows: int, workers: int | None) -> None:
    if engine not in ENGINES:
        raise InvalidScoringInputError("engine", f"{engine!r} is not one of {', '.join(ENGINES)}")
    for name, value in (("batch_rows", batch_rows), ("partition_rows", partition_rows)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidScoringInputError(name, f"must be a whole number of at least 1: {value!r}")
    if workers is not None and (isinstance(workers, bool) or workers < 1):
        raise InvalidScoringInputError("workers", f"must be at least 1: {workers!r}")


def _feature_settings(
    serving: ModelServingConfig | None, features: Sequence[str] | None
) -> tuple[tuple[str, ...], Mapping[str, object]]:
    if serving is not None and features is not None:
        raise InvalidScoringInputError("features", "give a serving config or features, not both")
    if serving is not None:
        return serving.features, serving.defaults
    refs = tuple(features or ())
    for ref in refs:
        if not isinstance(ref, str) or ref.count(":") != 1 or ref.startswith(":"):
            raise InvalidScoringInputError("features", f"{ref!r} is not a view:feature reference")
    return refs, {}


def _columns(refs: Sequence[str]) -> tuple[str, ...]:
    return tuple(ref.split(":", 1)[1] for ref in refs)


def _lookups(
    refs: tuple[str, ...],
    schema: pa.Schema | None,
    signature: Signature,
    feature_store: FeatureStore | None,
    timestamp_column: str,
) -> tuple[str, ...]:
    """Check the input's columns; return the feature references to look up per batch.

    A feature whose column the input already has is not looked up (the input's values are
    used). Without the entity keys or the timestamp column no feature is looked up, which is
    an error only when the model needs one of them.
    """
    if schema is None:
        return refs  # no file could be read: every partition fails with its reader's reason
    present = set(schema.names)
    taken = sorted(present & {PREDICTION_COLUMN, MODEL_VERSION_COLUMN, MODEL_DIGEST_COLUMN})
    taken += sorted(name for name in present if name.startswith(PROBABILITY_COLUMN))
    if taken:
        raise InvalidScoringInputError(
            "input", f'column "{taken[0]}" would be overwritten by the scores; rename it'
        )
    wanted = tuple(ref for ref in refs if ref.split(":", 1)[1] not in present)
    needed = {spec.name for spec in signature.inputs if not spec.nullable}
    if wanted:
        if feature_store is None:
            raise InvalidScoringInputError(
                "features", f"looking up {', '.join(wanted)} needs the workspace's feature store"
            )
        keys = [
            key
            for item in feature_store.registry.resolve(list(wanted))
            if isinstance(item.view.definition, FeatureView)
            for key in join_keys(feature_store.registry, item.view.definition)
        ]
        missing = [name for name in [*keys, timestamp_column] if name not in present]
        if missing:
            required = [name for name in _columns(wanted) if name in needed]
            if required:
                raise InvalidScoringInputError(
                    "input",
                    f'column "{missing[0]}" is missing: the model needs {", ".join(required)}, '
                    f'looked up by entity key and point in time ("{timestamp_column}")',
                )
            wanted = ()
        elif not pa.types.is_timestamp(schema.field(timestamp_column).type):
            raise InvalidScoringInputError(
                "timestamp_column",
                f'"{timestamp_column}" holds {schema.field(timestamp_column).type}, not timestamps',
            )
    available = present | set(_columns(wanted))
    problems = [
        (spec.name, f"missing column of type {spec.dtype}")
        for spec in signature.inputs
        if spec.name in needed and spec.name not in available
    ]
    if problems:
        column, rule = problems[0]
        raise SignatureMismatchError(column, rule, [f"{col}: {why}" for col, why in problems])
    return wanted


# ---------------------------------------------------------------------- scoring


def _score_locally(
    pending: list[Partition],
    job: ScoringJob,
    scorer: BatchScorer,
    record: Callable[[PartitionOutcome], None],
    progress: Progress | None,
) -> None:
    sizes = [part.rows for part in pending]
    total = None if None in sizes else sum(size or 0 for size in sizes)
    done = 0

    def advance(rows: int) -> None:
        nonlocal done
        done += rows
        if progress is not None:
            progress(done, total)

    for partition in pending:
        record(score_partition(partition, job, scorer, advance))


def score_partition(
    partition: Partition,
    job: ScoringJob,
    scorer: BatchScorer,
    advance: Callable[[int], None] | None = None,
) -> PartitionOutcome:
    """Score one partition into ``<output>/<name>.parquet`` (renamed into place when complete).

    Args:
        partition: what to read.
        job: the job's settings.
        scorer: the model and feature lookups.
        advance: called with the rows of each batch written.

    Returns:
        The rows written, or the reason it failed (nothing of it is left in the output).
    """
    output = Path(job.output)
    temp = output / f".{partition.name}.{uuid.uuid4().hex}.tmp"
    writer: pq.ParquetWriter | None = None
    written: Future[None] | None = None
    rows = 0
    # The scores of one batch are written while the next is read and scored: pyarrow and
    # onnxruntime release the GIL, and memory holds at most two batches of scores.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelyard-score-writer")
    try:
        for table in _batches(partition, job.batch_rows):
            scored = scorer(table)
            if writer is None:
                writer = pq.ParquetWriter(temp, scored.schema, use_dictionary=_textual(scored))
            elif not scored.schema.equals(writer.schema):
                scored = scored.cast(writer.schema)
            if written is not None:
                written.result()
            written = pool.submit(writer.write_table, scored)
            rows += scored.num_rows
            if advance is not None:
                advance(scored.num_rows)
        if written is not None:
            written.result()
        if writer is not None:
            writer.close()
            writer = None
            os.replace(temp, output / partition.output_file)
        return PartitionOutcome(partition.name, rows)
    except _PARTITION_ERRORS as exc:
        return PartitionOutcome(partition.name, rows, f"{partition.source}: {_first_line(exc)}")
    finally:
        pool.shutdown(wait=True)
        if writer is not None:
            with contextlib.suppress(*_PARTITION_ERRORS):
                writer.close()
        temp.unlink(missing_ok=True)


def _batches(partition: Partition, batch_rows: int) -> Iterator[pa.Table]:
    """Stream the partition as tables of about ``batch_rows`` rows (small reads are joined)."""
    batches: Iterator[pa.RecordBatch]
    if partition.file_format == "csv":
        batches = iter(pacsv.open_csv(partition.path))
    else:
        parquet = pq.ParquetFile(partition.path, pre_buffer=False)
        start, stop = partition.row_groups or (0, parquet.num_row_groups)
        batches = parquet.iter_batches(batch_size=batch_rows, row_groups=list(range(start, stop)))
    pending: list[pa.RecordBatch] = []
    rows = 0
    for batch in batches:
        if batch.num_rows == 0:
            continue
        pending.append(batch)
        rows += batch.num_rows
        if rows >= batch_rows:
            yield pa.Table.from_batches(pending)
            pending, rows = [], 0
    if pending:
        yield pa.Table.from_batches(pending)


class BatchScorer:
    """Scores Arrow tables with one model: feature lookups, one model call, the output columns.

    Args:
        predictor: the loaded model.
        job: the model's reference and digest and the feature settings.
        feature_store: where features are looked up (None when the job looks none up).
    """

    def __init__(
        self, predictor: Predictor, job: ScoringJob, feature_store: FeatureStore | None
    ) -> None:
        self._predictor = predictor
        self._job = job
        self._features = feature_store
        self._inputs = predictor.signature.input_names
        self._labels = _LabelMap() if predictor.package.task == "classification" else None
        self._version = pa.array([job.model], pa.string())
        self._digest = pa.array([job.model_digest], pa.string())

    def __call__(self, table: pa.Table) -> pa.Table:
        """Return ``table`` with the looked-up features and the scores appended.

        Raises:
            SignatureMismatchError: the rows do not fit the model's signature.
            InvalidEntityFrameError: bad entity keys or timestamps for the lookups.
        """
        if self._job.features:
            assert self._features is not None  # score() checks a store is given
            table = self._features.historical(
                table, self._job.features, timestamp_column=self._job.timestamp_column
            )
            table = _fill_defaults(table, self._job.defaults)
        names = [name for name in self._inputs if name in table.column_names]
        frame = table.select(names).to_pandas()
        for name, values in self._predict(frame):
            table = table.append_column(name, values)
        indices = pa.array(np.zeros(table.num_rows, dtype=np.int32))
        table = table.append_column(
            MODEL_VERSION_COLUMN, pa.DictionaryArray.from_arrays(indices, self._version)
        )
        return table.append_column(
            MODEL_DIGEST_COLUMN, pa.DictionaryArray.from_arrays(indices, self._digest)
        )

    def _predict(self, frame: pd.DataFrame) -> list[tuple[str, pa.Array]]:
        if self._labels is None:
            return [(PREDICTION_COLUMN, _to_arrow(self._predictor.predict(frame)))]
        proba = np.asarray(self._predictor.predict_proba(frame))
        labels = self._labels.labels(self._predictor, frame, proba)
        columns = [(PREDICTION_COLUMN, _to_arrow(labels))]
        if proba.ndim == 1 or proba.shape[1] == 1:
            columns.append((PROBABILITY_COLUMN, pa.array(proba.reshape(-1))))
        elif proba.shape[1] == 2:
            columns.append((PROBABILITY_COLUMN, pa.array(proba[:, 1])))
        else:
            columns += [
                (f"{PROBABILITY_COLUMN}_{k}", pa.array(proba[:, k])) for k in range(proba.shape[1])
            ]
        return columns


class _LabelMap:
    """A classifier's label per probability column, learned from its ``predict`` (see the
    module docstring): a batch then needs ``predict`` only on the rows of a class not seen yet
    (and, on the first batch, on a sample that checks the labels are the most probable class).
    """

    def __init__(self) -> None:
        self._labels: Array | None = None
        self._known: np.ndarray[Any, np.dtype[np.bool_]] = np.zeros(0, dtype=np.bool_)
        self._is_derivable = True

    def labels(self, predictor: Predictor, frame: pd.DataFrame, proba: Array) -> Array:
        """Return the labels of the rows of ``frame``, whose probabilities are ``proba``."""
        if not self._is_derivable or proba.ndim != 2:
            return predictor.predict(frame)
        best = proba.argmax(axis=1)
        if self._labels is None:
            self._known = np.zeros(proba.shape[1], dtype=np.bool_)
            sample = slice(0, _CHECKED_ROWS)
            self._is_derivable = self._learn(predictor, frame.iloc[sample], best[sample])
        unknown = ~self._known[best]
        if self._is_derivable and unknown.any():
            self._is_derivable = self._learn(predictor, frame[unknown], best[unknown])
        if not self._is_derivable or self._labels is None:
            return predictor.predict(frame)
        derived: Array = self._labels[best]
        return derived

    def _learn(self, predictor: Predictor, frame: pd.DataFrame, best: Array) -> bool:
        """Learn the labels of the classes in ``best`` from ``predict`` on the rows of
        ``frame``; return whether each is the label of its most probable class."""
        predicted = np.asarray(predictor.predict(frame))
        if predicted.shape != best.shape:
            return False
        if self._labels is None:
            self._labels = np.empty(len(self._known), dtype=predicted.dtype)
        for index in np.unique(best):
            values = np.unique(predicted[best == index])
            if len(values) != 1 or (self._known[index] and self._labels[index] != values[0]):
                return False
            self._labels[index] = values[0]
            self._known[index] = True
        return True


def _textual(table: pa.Table) -> list[str]:
    # Dictionary-encode text columns only: trying it on every float column (where it gives
    # up after a page) made writing the scores 4x slower.
    return [
        item.name
        for item in table.schema
        if pa.types.is_string(item.type)
        or pa.types.is_large_string(item.type)
        or pa.types.is_dictionary(item.type)
        or pa.types.is_boolean(item.type)
    ]


def _to_arrow(values: Array) -> pa.Array:
    array = np.asarray(values)
    if array.ndim == 2:
        return pa.FixedSizeListArray.from_arrays(pa.array(array.reshape(-1)), array.shape[1])
    return pa.array(array)


def _fill_defaults(table: pa.Table, defaults: Mapping[str, object]) -> pa.Table:
    for name, value in defaults.items():
        column = table.column(name)
        if column.null_count:
            filled = pc.fill_null(column, pa.scalar(value, type=column.type))
            table = table.set_column(table.schema.get_field_index(name), name, filled)
    return table
