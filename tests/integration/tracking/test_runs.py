"""Runs: lifecycle, statuses, params, tags, notes, parent/child runs (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from modelyard.errors import (
    ExperimentArchivedError,
    InvalidNameError,
    ParamConflictError,
    RunNotActiveError,
    RunNotFoundError,
)
from modelyard.tracking import RunStatus
from modelyard.workspace import Workspace


def test_with_block_ends_finished_with_params_and_tags(workspace: Workspace) -> None:
    with workspace.start_run(
        "fraud", name="baseline", params={"max_depth": 6, "lr": 0.1}, tags={"team": "risk"}
    ) as run:
        assert run.status is RunStatus.RUNNING
    stored = workspace.runs.get(run.run_id)
    assert stored.status is RunStatus.FINISHED
    assert stored.name == "baseline"
    assert stored.experiment == "fraud"
    assert stored.params == {"lr": "0.1", "max_depth": "6"}
    assert stored.tags == {"team": "risk"}
    assert stored.end_time is not None
    assert stored.end_time >= stored.start_time
    assert stored.error_type is None


def test_exception_in_block_ends_failed_and_propagates(workspace: Workspace) -> None:
    with pytest.raises(ZeroDivisionError), workspace.start_run("fraud") as run:
        _ = 1 / 0
    stored = workspace.runs.get(run.run_id)
    assert stored.status is RunStatus.FAILED
    assert stored.error_type == "ZeroDivisionError"
    assert stored.error_message == "ZeroDivisionError: division by zero"


def test_keyboard_interrupt_ends_killed(workspace: Workspace) -> None:
    with pytest.raises(KeyboardInterrupt), workspace.start_run("fraud") as run:
        raise KeyboardInterrupt
    assert workspace.runs.get(run.run_id).status is RunStatus.KILLED


def test_explicit_end_with_status_and_second_end_is_a_no_op(workspace: Workspace) -> None:
    run = workspace.start_run("fraud")
    run.end("KILLED")
    run.end("FINISHED")
    assert workspace.runs.get(run.run_id).status is RunStatus.KILLED


def test_param_same_value_is_a_no_op_and_other_value_conflicts(workspace: Workspace) -> None:
    with workspace.start_run("fraud", params={"max_depth": 6}) as run:
        run.log_param("max_depth", 6)
        run.log_param("max_depth", "6")
        with pytest.raises(ParamConflictError, match=r'param "max_depth" .* is already "6"'):
            run.log_param("max_depth", 7)
        # A batch with one conflicting key writes nothing.
        with pytest.raises(ParamConflictError):
            run.log_params({"n_estimators": 100, "max_depth": 8})
    assert workspace.runs.get(run.run_id).params == {"max_depth": "6"}


def test_tags_can_change_and_note_is_stored(workspace: Workspace) -> None:
    with workspace.start_run("fraud", tags={"stage": "dev"}) as run:
        run.set_tag("stage", "review")
        run.set_tags({"owner": "ana"})
        run.set_note("tried **deeper** trees")
    stored = workspace.runs.get(run.run_id)
    assert stored.tags == {"owner": "ana", "stage": "review"}
    assert stored.note == "tried **deeper** trees"


def test_writes_after_end_are_refused(workspace: Workspace) -> None:
    with workspace.start_run("fraud") as run:
        pass
    with pytest.raises(RunNotActiveError, match=r"run .* has ended with status FINISHED"):
        run.log_metric("auc", 0.5)
    with pytest.raises(RunNotActiveError):
        run.log_param("a", 1)


def test_parent_and_child_runs(workspace: Workspace) -> None:
    with workspace.start_run("sweep", name="parent") as parent:
        with workspace.start_run("sweep", name="a", parent=parent) as first:
            pass
        with workspace.start_run("sweep", name="b", parent=parent.run_id) as second:
            pass
    children = workspace.runs.children(parent.run_id)
    assert [child.run_id for child in children] == [first.run_id, second.run_id]
    assert workspace.runs.get(first.run_id).parent_run_id == parent.run_id


def test_unknown_parent_and_unknown_run_are_not_found(workspace: Workspace) -> None:
    with pytest.raises(RunNotFoundError, match=r'no run with id "f{32}"'):
        workspace.start_run("x", parent="f" * 32)
    with pytest.raises(RunNotFoundError, match='no run with id "nope"'):
        workspace.runs.get("nope")


def test_archived_experiment_refuses_new_runs(workspace: Workspace) -> None:
    workspace.experiments.create("old")
    workspace.experiments.archive("old")
    with pytest.raises(ExperimentArchivedError, match='experiment "old" is archived'):
        workspace.start_run("old")


@pytest.mark.parametrize("key", ["", " padded", "semi;colon", "x" * 251])
def test_bad_keys_are_refused(workspace: Workspace, key: str) -> None:
    with workspace.start_run("fraud") as run:
        with pytest.raises(InvalidNameError, match="param name"):
            run.log_param(key, 1)
        with pytest.raises(InvalidNameError, match="metric name"):
            run.log_metric(key, 1.0)


def test_seed_everything_seeds_and_records(workspace: Workspace) -> None:
    import importlib.util
    import random

    import numpy as np

    has_torch = importlib.util.find_spec("torch") is not None
    with workspace.start_run("fraud", seed=123) as run:
        first = (random.random(), float(np.random.rand()))
        assert run.seed_everything(123) == ["random", "numpy", *(["torch"] if has_torch else [])]
        second = (random.random(), float(np.random.rand()))
    assert first == second
    if has_torch:
        import torch

        run_seeded = torch.rand(3)
        torch.manual_seed(123)
        assert torch.equal(run_seeded, torch.rand(3))
    assert workspace.runs.get(run.run_id).seed == 123
