"""Opening workspaces: directories, database URLs, settings files and environment variables."""

from __future__ import annotations

from pathlib import Path

import pytest

import modelyard
from modelyard.errors import InvalidSettingError


def test_directory_workspace_is_created_with_sqlite_and_local_artifacts(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    with modelyard.open(home) as ws:
        assert ws.home == home.resolve()
        assert ws.settings.db_url == f"sqlite:///{home.resolve() / 'modelyard.db'}"
        assert ws.artifacts.root == (home.resolve() / "artifacts").as_uri()
        with ws.start_run("x"):
            pass
    assert (home / "modelyard.db").is_file()


def test_default_home_comes_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELYARD_HOME", str(tmp_path / "from-env"))
    with modelyard.open() as ws:
        assert ws.home == (tmp_path / "from-env").resolve()


def test_default_home_is_dot_modelyard(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MODELYARD_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    with modelyard.open() as ws:
        assert ws.home == (tmp_path / ".modelyard").resolve()


def test_database_url_workspace_needs_an_artifact_root(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MODELYARD_ARTIFACT_ROOT", raising=False)
    with pytest.raises(InvalidSettingError, match=r"artifact_root.*required"):
        modelyard.open(postgres_url)
    with modelyard.open(postgres_url, artifact_root=(tmp_path / "blobs").as_uri()) as ws:
        assert ws.home is None
        assert ws.metastore.dialect == "postgresql"
        with ws.start_run("x"):
            pass


def test_settings_file_and_environment_precedence(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "ws"
    home.mkdir()
    (home / "modelyard.toml").write_text(
        f'db_url = "{postgres_url}"\nmetrics_flush_interval_s = 0.5\n'
    )
    with modelyard.open(home) as ws:
        assert ws.metastore.dialect == "postgresql"
        assert ws.settings.metrics_flush_interval_s == 0.5
    monkeypatch.setenv("MODELYARD_DB_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("MODELYARD_METRICS_FLUSH_INTERVAL_S", "2")
    with modelyard.open(home) as ws:
        assert ws.metastore.dialect == "sqlite"
        assert ws.settings.metrics_flush_interval_s == 2.0


def test_public_names_are_sorted_complete_and_importable() -> None:
    import ast
    import importlib

    for package in (
        "modelyard",
        "modelyard.artifacts",
        "modelyard.metastore",
        "modelyard.tracking",
        "modelyard.cli",
        "modelyard.workflows",
    ):
        module = importlib.import_module(package)
        names = list(module.__all__)
        assert names == sorted(names), package
        for name in names:
            assert getattr(module, name) is not None, f"{package}.{name}"
        # Complete: every name the package's __init__ imports for users is listed.
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        imported = {
            alias.asname or alias.name
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and node.module != "__future__"
            for alias in node.names
        }
        if package == "modelyard":
            # The root re-exports lazily (see _LAZY) and imports typing helpers.
            imported = set(module._LAZY) | {"__version__"}
        assert imported == set(names), package
