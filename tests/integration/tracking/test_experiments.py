"""Experiments: create, get, list, rename, archive, restore (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from modelyard.errors import ExperimentExistsError, ExperimentNotFoundError, InvalidNameError
from modelyard.workspace import Workspace


def test_create_get_and_list_with_run_counts(workspace: Workspace) -> None:
    created = workspace.experiments.create("fraud", description="card fraud models")
    assert created.name == "fraud"
    assert created.description == "card fraud models"
    assert created.is_archived is False
    with workspace.start_run("fraud"):
        pass
    with workspace.start_run("churn"):
        pass
    listed = workspace.experiments.list()
    assert [(e.name, e.run_count) for e in listed] == [("churn", 1), ("fraud", 1)]
    assert workspace.experiments.get(created.experiment_id).name == "fraud"


def test_duplicate_name_conflicts(workspace: Workspace) -> None:
    workspace.experiments.create("fraud")
    with pytest.raises(ExperimentExistsError, match='experiment "fraud" already exists'):
        workspace.experiments.create("fraud")


def test_unknown_experiment_suggests(workspace: Workspace) -> None:
    workspace.experiments.create("fraud-detection")
    with pytest.raises(ExperimentNotFoundError) as caught:
        workspace.experiments.get("fraud-detect")
    assert caught.value.suggestions == ["fraud-detection"]
    assert 'did you mean "fraud-detection"?' in str(caught.value)


def test_rename_keeps_runs(workspace: Workspace) -> None:
    with workspace.start_run("draft") as run:
        pass
    renamed = workspace.experiments.rename("draft", "fraud")
    assert renamed.name == "fraud"
    assert workspace.runs.get(run.run_id).experiment == "fraud"
    with pytest.raises(ExperimentNotFoundError):
        workspace.experiments.get("draft")


def test_rename_onto_an_existing_name_conflicts_and_changes_nothing(
    workspace: Workspace,
) -> None:
    workspace.experiments.create("a")
    workspace.experiments.create("b")
    with pytest.raises(ExperimentExistsError):
        workspace.experiments.rename("a", "b")
    assert [e.name for e in workspace.experiments.list()] == ["a", "b"]


def test_archive_hides_and_restore_returns(workspace: Workspace) -> None:
    workspace.experiments.create("old")
    archived = workspace.experiments.archive("old")
    assert archived.is_archived is True
    assert workspace.experiments.list() == []
    assert [e.name for e in workspace.experiments.list(include_archived=True)] == ["old"]
    assert workspace.experiments.restore("old").is_archived is False


@pytest.mark.parametrize("name", ["", "has space", "-lead", "x" * 129, "semi;colon"])
def test_invalid_names(workspace: Workspace, name: str) -> None:
    with pytest.raises(InvalidNameError, match="experiment name"):
        workspace.experiments.create(name)


def test_description_can_change(workspace: Workspace) -> None:
    workspace.experiments.create("fraud")
    assert workspace.experiments.set_description("fraud", "v2").description == "v2"
