"""Metric ingest: batching, flushing, faithful NaN/inf, validation, history (both backends)."""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

import modelyard
from modelyard.errors import InvalidMetricValueError, InvalidNameError
from modelyard.workspace import Workspace


def test_points_are_stored_with_auto_steps_and_latest_value(workspace: Workspace) -> None:
    with workspace.start_run("m") as run:
        for value in (0.9, 0.7, 0.5):
            run.log_metric("loss", value)
        run.log_metric("auc", 0.8, step=10)
        run.log_metric("auc", 0.85)  # previous step + 1
    history = workspace.runs.metric_history(run.run_id, "loss")
    assert [(p.step, p.value) for p in history] == [(0, 0.9), (1, 0.7), (2, 0.5)]
    assert [(p.step, p.value) for p in workspace.runs.metric_history(run.run_id, "auc")] == [
        (10, 0.8),
        (11, 0.85),
    ]
    assert workspace.runs.get(run.run_id).metrics == {"auc": 0.85, "loss": 0.5}


def test_latest_value_is_the_highest_step_not_the_last_logged(workspace: Workspace) -> None:
    with workspace.start_run("m") as run:
        run.log_metric("auc", 0.9, step=5)
        run.flush()
        run.log_metric("auc", 0.1, step=2)
    assert workspace.runs.get(run.run_id).metrics == {"auc": 0.9}


def test_nan_and_infinities_are_stored_faithfully(workspace: Workspace) -> None:
    with workspace.start_run("m") as run:
        run.log_metrics({"a": float("nan"), "b": float("inf"), "c": float("-inf")})
        run.log_metric("d", np.float32(0.25))
        run.log_metric("e", 3)
    metrics = workspace.runs.get(run.run_id).metrics
    assert math.isnan(metrics["a"])
    assert metrics["b"] == math.inf
    assert metrics["c"] == -math.inf
    assert metrics["d"] == 0.25
    assert metrics["e"] == 3.0
    (point,) = workspace.runs.metric_history(run.run_id, "a")
    assert math.isnan(point.value)


@pytest.mark.parametrize("bad", ["0.5", None, True, [1.0], complex(1, 1), 10**400])
def test_non_numeric_values_are_refused_naming_the_metric(
    workspace: Workspace, bad: object
) -> None:
    with workspace.start_run("m") as run:
        with pytest.raises(
            InvalidMetricValueError, match=r'metric "auc": value .* is not a number'
        ):
            run.log_metric("auc", bad)  # type: ignore[arg-type]
        with pytest.raises(InvalidMetricValueError, match='metric "auc"'):
            run.log_metrics({"ok": 1.0, "auc": bad})  # type: ignore[dict-item]
    # Nothing of the refused batch was queued.
    assert workspace.runs.get(run.run_id).metrics == {}


def test_bad_step_and_timestamp_are_refused(workspace: Workspace) -> None:
    with workspace.start_run("m") as run:
        with pytest.raises(InvalidNameError, match="step of metric 'auc'"):
            run.log_metric("auc", 0.5, step="3")  # type: ignore[arg-type]
        with pytest.raises(InvalidNameError, match="must fit in a signed 64-bit integer"):
            run.log_metric("auc", 0.5, step=2**63)
        with pytest.raises(InvalidNameError, match="must fit in a signed 64-bit integer"):
            run.log_metrics({"auc": 0.5}, step=-(2**63) - 1)
        with pytest.raises(InvalidNameError, match="must be timezone-aware"):
            run.log_metric("auc", 0.5, timestamp=datetime(2026, 1, 1))


def test_explicit_timestamps(workspace: Workspace) -> None:
    moment = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    with workspace.start_run("m") as run:
        run.log_metric("auc", 0.5, timestamp=moment)
        run.log_metric("auc", 0.6, timestamp=1_772_366_400_500)
    points = workspace.runs.metric_history(run.run_id, "auc")
    assert [p.timestamp for p in points] == [
        moment,
        datetime(2026, 3, 1, 12, 0, 0, 500_000, tzinfo=UTC),
    ]


def test_many_points_all_arrive(workspace: Workspace) -> None:
    with workspace.start_run("m") as run:
        for step in range(25_000):
            run.log_metric("loss", step / 10, step=step)
    points = workspace.runs.metric_history(run.run_id, "loss")
    assert len(points) == 25_000
    assert points[-1].value == 2499.9


def test_bounded_buffer_flushes_in_the_caller(tmp_path: Path, db_url: str) -> None:
    ws = modelyard.open(
        tmp_path / "ws", db_url=db_url, metrics_batch_size=100, metrics_max_buffer=250
    )
    try:
        with ws.start_run("m") as run:
            for step in range(1_000):
                run.log_metric("x", 1.0, step=step)
                assert ws._tracker.writer.pending <= 251
        assert len(ws.runs.metric_history(run.run_id, "x")) == 1_000
    finally:
        ws.close()


def test_points_of_a_run_never_ended_are_flushed_at_exit(tmp_path: Path, db_url: str) -> None:
    script = textwrap.dedent(
        f"""
        import modelyard
        ws = modelyard.open({str(tmp_path / "ws")!r}, db_url={db_url!r},
                            metrics_flush_interval_s=60.0)
        run = ws.start_run("exit")
        for step in range(5000):
            run.log_metric("loss", 1.0 / (step + 1), step=step)
        print(run.run_id)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    run_id = done.stdout.strip()
    with modelyard.open(tmp_path / "ws", db_url=db_url) as ws:
        assert len(ws.runs.metric_history(run_id, "loss")) == 5000
        assert ws.runs.get(run_id).status.value == "FINISHED"


def test_uncaught_exception_marks_an_open_run_failed_at_exit(tmp_path: Path, db_url: str) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        import modelyard
        ws = modelyard.open({str(tmp_path / "ws")!r}, db_url={db_url!r})
        run = ws.start_run("exit")
        run.log_metric("loss", 0.5)
        sys.stdout.write(run.run_id + "\\n")
        sys.stdout.flush()
        raise RuntimeError("training diverged")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=60
    )
    assert done.returncode == 1
    run_id = done.stdout.strip()
    with modelyard.open(tmp_path / "ws", db_url=db_url) as ws:
        run = ws.runs.get(run_id)
        assert run.status.value == "FAILED"
        assert run.error_type == "RuntimeError"
        assert run.metrics == {"loss": 0.5}
