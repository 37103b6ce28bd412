"""Captured run context: git commit and dirty flag, Python, packages, host, user, command."""

from __future__ import annotations

import platform
import subprocess
from pathlib import Path

import pytest

from modelyard.tracking.environment import (
    capture,
    current_environment,
    git_state,
    redact_command,
)
from modelyard.workspace import Workspace


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    _git(root, "config", "user.email", "dev@example.com")
    _git(root, "config", "user.name", "Dev")
    (root / "train.py").write_text("print('hi')\n")
    _git(root, "add", "train.py")
    _git(root, "commit", "-q", "-m", "first")
    return root


def test_git_commit_branch_and_dirty_flag(repo: Path) -> None:
    clean = git_state(repo)
    assert clean is not None
    assert clean.commit == _git(repo, "rev-parse", "HEAD")
    assert clean.branch == "main"
    assert clean.is_dirty is False
    (repo / "train.py").write_text("print('changed')\n")
    from modelyard.tracking import environment

    environment._git_state_cached.cache_clear()
    dirty = git_state(repo)
    assert dirty is not None
    assert dirty.is_dirty is True


def test_outside_a_repository_there_is_no_git_state(tmp_path: Path) -> None:
    assert git_state(tmp_path) is None


def test_environment_lists_packages_and_is_addressed_by_digest() -> None:
    environment = current_environment()
    assert environment.python_version == platform.python_version()
    assert any(package.lower().startswith("sqlalchemy==") for package in environment.packages)
    assert environment.digest.startswith("sha256:")
    assert len(environment.digest) == 71


def test_run_records_context_and_environment(workspace: Workspace, repo: Path) -> None:
    run = workspace._tracker.start_run("ctx", cwd=repo)
    run.end()
    stored = workspace.runs.get(run.run_id)
    assert stored.git_commit == _git(repo, "rev-parse", "HEAD")
    assert stored.git_branch == "main"
    assert stored.git_is_dirty is False
    context = capture(repo)
    assert stored.host == context.host
    assert stored.user == context.user
    assert stored.command == context.command
    environment = workspace.runs.environment(run.run_id)
    assert environment == current_environment()


def test_capture_can_be_turned_off(tmp_path: Path, db_url: str) -> None:
    import modelyard

    with modelyard.open(tmp_path / "ws", db_url=db_url, capture_environment=False) as ws:
        with ws.start_run("x") as run:
            pass
        stored = ws.runs.get(run.run_id)
        assert (stored.git_commit, stored.host, stored.environment_digest) == (None, None, None)
        assert ws.runs.environment(run.run_id) is None


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train.py", "--password=hunter2"], "train.py --password=***"),
        (["train.py", "--api-key", "abc123"], "train.py --api-key ***"),
        (["train.py", "--db", "postgresql://u:pw@h/db"], "train.py --db postgresql://u:***@h/db"),
        (["train.py", "--depth", "6"], "train.py --depth 6"),
    ],
)
def test_secrets_in_the_command_line_are_redacted(argv: list[str], expected: str) -> None:
    assert redact_command(argv) == expected
