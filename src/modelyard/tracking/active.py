"""The live handle of a run: log params, metrics, tags, artifacts; end with a status."""

from __future__ import annotations

import atexit
import numbers
import sys
import threading
import traceback
import weakref
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, SupportsFloat

from modelyard.clock import Clock, to_ms
from modelyard.errors import (
    InvalidInputError,
    InvalidMetricValueError,
    InvalidNameError,
    RunNotActiveError,
)
from modelyard.ids import RunId
from modelyard.lineage import LineageInput, recording
from modelyard.tracking.artifacts import ArtifactRecord, RunArtifacts
from modelyard.tracking.environment import seed_everything
from modelyard.tracking.metrics import MetricWriter
from modelyard.tracking.model_logging import LoggedModel, ModelLogger
from modelyard.tracking.runs import Run, RunStatus, RunStore, check_key, stringify

_MAX_ERROR_CHARS = 4000
_MIN_INT64, _MAX_INT64 = -(2**63), 2**63 - 1


class ActiveRun:
    """A run in progress. Use it as a context manager::

        with ws.start_run(experiment="fraud", params={"max_depth": 6}) as run:
            run.log_metric("auc", 0.91)

    The block ends the run FINISHED, or FAILED with the exception's type and message when it
    raises (the exception still propagates). Inside the block, datasets and features read by
    the code are recorded as the run's inputs.
    """

    def __init__(
        self,
        *,
        run_id: RunId,
        name: str,
        experiment: str,
        store: RunStore,
        artifacts: RunArtifacts,
        writer: MetricWriter,
        clock: Clock,
        model_logger: ModelLogger | None = None,
    ) -> None:
        self.run_id = run_id
        self.name = name
        self.experiment = experiment
        self._store = store
        self._artifacts = artifacts
        self._writer = writer
        self._model_logger = model_logger
        self._append = writer.append
        self._now_ms = clock.time_ms
        self._steps: dict[str, int] = {}
        self._status: RunStatus = RunStatus.RUNNING
        self._end_lock = threading.Lock()
        self._lineage_scope: Any = None
        _OPEN_RUNS.add(self)

    # ------------------------------------------------------------------ state

    @property
    def status(self) -> RunStatus:
        """RUNNING until the run ends."""
        return self._status

    @property
    def info(self) -> Run:
        """The run as stored now (metrics flushed first)."""
        self.flush()
        return self._store.get(self.run_id)

    def __repr__(self) -> str:
        return f"ActiveRun(run_id={self.run_id!r}, name={self.name!r}, status={self._status})"

    # ------------------------------------------------------------------ params, tags, note

    def log_param(self, key: str, value: object) -> None:
        """Record a param. Params are immutable: the same value again is a no-op.

        Raises:
            ParamConflictError: the key already holds another value.
            InvalidNameError: the key breaks the key rule.
        """
        self.log_params({key: value})

    def log_params(self, values: Mapping[str, object]) -> None:
        """Record several params at once (all or none are stored)."""
        self._check_active("log params")
        stored = {
            check_key("param name", key): stringify("param", key, value)
            for key, value in values.items()
        }
        if stored:
            self._store.log_params(self.run_id, stored)

    def set_tag(self, key: str, value: object) -> None:
        """Set a tag (tags, unlike params, may be changed)."""
        self.set_tags({key: value})

    def set_tags(self, values: Mapping[str, object]) -> None:
        """Set several tags."""
        stored = {
            check_key("tag name", key): stringify("tag", key, value)
            for key, value in values.items()
        }
        if stored:
            self._store.set_tags(self.run_id, stored)

    def set_note(self, note: str) -> None:
        """Replace the run's free-text note (markdown)."""
        self._store.set_note(self.run_id, str(note))

    # ------------------------------------------------------------------ metrics

    def log_metric(
        self,
        key: str,
        value: SupportsFloat,
        step: int | None = None,
        timestamp: datetime | int | None = None,
    ) -> None:
        """Queue one metric point; returns at once (a background writer stores it).

        Args:
            key: the metric's name.
            value: a real number; NaN and ±inf are stored as they are.
            step: the point's step; by default the metric's previous step + 1 (0 first).
            timestamp: a datetime or epoch milliseconds; by default now.

        Raises:
            InvalidMetricValueError: the value is not a real number (a string, None, a bool).
            InvalidNameError: the key breaks the key rule.
            RunNotActiveError: the run has ended.
        """
        if self._status is not RunStatus.RUNNING:
            raise RunNotActiveError(self.run_id, self._status.value, f"log metric {key!r}")
        steps = self._steps
        if key not in steps:
            check_key("metric name", key)
        if value.__class__ is not float:
            value = _as_float(key, value)
        if step is None:
            step = steps.get(key, -1) + 1
        elif step.__class__ is not int or not _MIN_INT64 <= step <= _MAX_INT64:
            step = _as_step(key, step)
        steps[key] = step
        if timestamp is None:
            time_ms = self._now_ms()
        elif timestamp.__class__ is int:
            time_ms = timestamp
        else:
            time_ms = _as_time_ms(key, timestamp)
        self._append((self.run_id, key, step, time_ms, value))

    def log_metrics(
        self,
        values: Mapping[str, SupportsFloat],
        step: int | None = None,
        timestamp: datetime | int | None = None,
    ) -> None:
        """Queue several metrics at the same step and time (all validated before any is queued)."""
        if self._status is not RunStatus.RUNNING:
            raise RunNotActiveError(self.run_id, self._status.value, "log metrics")
        time_ms = (
            self._now_ms()
            if timestamp is None
            else timestamp
            if timestamp.__class__ is int
            else _as_time_ms("timestamp", timestamp)
        )
        if step is not None and (step.__class__ is not int or not _MIN_INT64 <= step <= _MAX_INT64):
            step = _as_step("step", step)
        points = []
        for key, value in values.items():
            if key not in self._steps:
                check_key("metric name", key)
            number = value if value.__class__ is float else _as_float(key, value)
            points.append((key, number))
        for key, number in points:
            point_step = self._steps.get(key, -1) + 1 if step is None else step
            self._steps[key] = point_step
            self._append((self.run_id, key, point_step, time_ms, number))

    def flush(self) -> None:
        """Block until every metric point logged so far is committed."""
        self._writer.flush()

    # ------------------------------------------------------------------ artifacts, seeds, inputs

    def log_artifact(self, path: str | Path, name: str | None = None) -> ArtifactRecord:
        """Store a file or directory, by digest, as this run's artifact ``name``."""
        self._check_active("log artifact")
        return self._artifacts.log(self.run_id, Path(path), name)

    def log_model(
        self,
        model: object,
        name: str = "model",
        *,
        input_example: object,
        signature: object | None = None,
        trust: bool = False,
        registered_model_name: str | None = None,
    ) -> LoggedModel:
        """Package a model (safe native format + verified ONNX where possible) as an artifact.

        Args:
            model: a scikit-learn estimator or pipeline, XGBoost, LightGBM, PyTorch or ONNX
                model (anything else only with ``trust=True``, as a pickle).
            name: the artifact path of the package in this run.
            input_example: a few rows of input (a DataFrame); the signature is inferred from it
                unless given, and the ONNX conversion is verified on it.
            signature: the input/output signature, when it should not be inferred.
            trust: allow a raw pickle when no safe format exists (recorded on the version).
            registered_model_name: also register the package as a new version of this model.

        Raises:
            UnsupportedModelError, UntrustedPickleError, RunNotActiveError.
        """
        self._check_active("log model")
        if self._model_logger is None:
            raise InvalidInputError(
                "this run cannot log models: open the workspace with modelyard.open()"
            )
        return self._model_logger.log_model(
            self.run_id,
            model,
            name=name,
            input_example=input_example,
            signature=signature,
            trust=trust,
            registered_model_name=registered_model_name,
        )

    def seed_everything(self, seed: int) -> list[str]:
        """Seed ``random``, numpy and torch (when installed) and record the seed on the run."""
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise InvalidNameError("seed", str(seed), "must be a non-negative integer")
        seeded = seed_everything(seed)
        self._store.set_seed(self.run_id, seed)
        return seeded

    def record_input(self, item: LineageInput) -> None:
        """Record that this run read ``item`` (called through modelyard.lineage)."""
        self._store.record_input(self.run_id, item)

    # ------------------------------------------------------------------ ending

    def end(
        self, status: RunStatus | str = RunStatus.FINISHED, *, error: BaseException | None = None
    ) -> None:
        """Flush metrics and record the terminal status; a second call is a no-op."""
        final = RunStatus(status)
        if final is RunStatus.RUNNING:
            raise InvalidInputError("end status must be FINISHED, FAILED or KILLED, not RUNNING")
        with self._end_lock:
            if self._status is not RunStatus.RUNNING:
                return
            self._status = final
        self._writer.flush()
        error_type = error_message = None
        if error is not None:
            error_type = type(error).__qualname__
            error_message = "".join(traceback.format_exception_only(error)).strip()
            error_message = error_message[:_MAX_ERROR_CHARS]
        self._store.end(self.run_id, final, error_type=error_type, error_message=error_message)
        _OPEN_RUNS.discard(self)

    def __enter__(self) -> ActiveRun:
        self._lineage_scope = recording(self)
        self._lineage_scope.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        scope, self._lineage_scope = self._lineage_scope, None
        if scope is not None:
            scope.__exit__(None, None, None)
        if exc is None:
            self.end(RunStatus.FINISHED)
        elif isinstance(exc, KeyboardInterrupt):
            self.end(RunStatus.KILLED, error=exc)
        else:
            self.end(RunStatus.FAILED, error=exc)

    def _check_active(self, action: str) -> None:
        if self._status is not RunStatus.RUNNING:
            raise RunNotActiveError(self.run_id, self._status.value, action)


def _as_float(key: str, value: object) -> float:
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            return float(value)
        except (OverflowError, ValueError) as error:
            raise InvalidMetricValueError(key, value) from error
    raise InvalidMetricValueError(key, value)


def _as_step(key: str, step: object) -> int:
    if isinstance(step, numbers.Integral) and not isinstance(step, bool):
        if _MIN_INT64 <= int(step) <= _MAX_INT64:
            return int(step)
        raise InvalidNameError(
            f"step of metric {key!r}", repr(step), "must fit in a signed 64-bit integer"
        )
    raise InvalidNameError(f"step of metric {key!r}", repr(step), "must be an integer")


def _as_time_ms(key: str, timestamp: object) -> int:
    if isinstance(timestamp, datetime):
        if timestamp.tzinfo is None:
            raise InvalidNameError(
                f"timestamp of metric {key!r}", timestamp.isoformat(), "must be timezone-aware"
            )
        return to_ms(timestamp)
    if isinstance(timestamp, numbers.Integral) and not isinstance(timestamp, bool):
        return int(timestamp)
    raise InvalidNameError(
        f"timestamp of metric {key!r}", repr(timestamp), "must be a datetime or epoch milliseconds"
    )


# Runs started without `with` and never ended are closed when the interpreter exits: FAILED
# when an uncaught exception is ending the program, FINISHED otherwise (as MLflow does).
_OPEN_RUNS: weakref.WeakSet[ActiveRun] = weakref.WeakSet()
_uncaught: list[BaseException] = []
_previous_hook = sys.excepthook


def _remember_uncaught(
    exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None
) -> None:
    _uncaught.append(exc)
    _previous_hook(exc_type, exc, tb)


sys.excepthook = _remember_uncaught


@atexit.register
def _end_open_runs() -> None:
    error = _uncaught[-1] if _uncaught else None
    for run in list(_OPEN_RUNS):
        try:
            run.end(RunStatus.FAILED if error else RunStatus.FINISHED, error=error)
        except Exception as failure:
            print(f"modelyard: could not end run {run.run_id} at exit: {failure}", file=sys.stderr)
