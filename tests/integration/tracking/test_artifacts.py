"""Run artifacts: files and directories by digest, listing, download, immutability, corruption."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from modelyard.errors import (
    ArtifactExistsError,
    ArtifactPathNotFoundError,
    ArtifactStoreUnavailableError,
    CorruptBlobError,
    InvalidNameError,
)
from modelyard.workspace import Workspace


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "weights").mkdir(parents=True)
    (root / "config.json").write_text('{"depth": 6}')
    (root / "weights" / "layer0.bin").write_bytes(bytes(range(256)) * 4)
    return root


def test_file_and_directory_artifacts_round_trip(
    workspace: Workspace, tmp_path: Path, model_dir: Path
) -> None:
    report = tmp_path / "report.txt"
    report.write_text("auc 0.91\n")
    with workspace.start_run("a") as run:
        file_record = run.log_artifact(report)
        dir_record = run.log_artifact(model_dir, name="models/fraud")
    assert file_record.path == "report.txt"
    assert file_record.kind == "file"
    assert file_record.size_bytes == 9
    assert file_record.digest.startswith("sha256:")
    assert dir_record.kind == "dir"
    assert dir_record.file_count == 2
    assert dir_record.size_bytes == len(b'{"depth": 6}') + 1024
    listed = workspace.runs.artifacts(run.run_id, expand=True)
    assert [(a.path, a.kind) for a in listed] == [
        ("models/fraud", "dir"),
        ("models/fraud/config.json", "file"),
        ("models/fraud/weights/layer0.bin", "file"),
        ("report.txt", "file"),
    ]
    out = workspace.runs.download_artifacts(run.run_id, tmp_path / "out")
    assert (out / "report.txt").read_text() == "auc 0.91\n"
    assert (out / "models/fraud/weights/layer0.bin").read_bytes() == bytes(range(256)) * 4
    only = workspace.runs.download_artifacts(run.run_id, tmp_path / "one", path="report.txt")
    assert sorted(p.name for p in only.iterdir()) == ["report.txt"]


def test_identical_content_is_stored_once(workspace: Workspace, tmp_path: Path) -> None:
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    first.write_bytes(b"same bytes")
    second.write_bytes(b"same bytes")
    with workspace.start_run("a") as run:
        one = run.log_artifact(first)
        two = run.log_artifact(second)
    assert one.digest == two.digest
    assert workspace.home is not None
    blobs = [p for p in (workspace.home / "artifacts" / "sha256").rglob("*") if p.is_file()]
    assert len(blobs) == 1


def test_same_name_same_content_is_a_no_op_other_content_conflicts(
    workspace: Workspace, tmp_path: Path
) -> None:
    path = tmp_path / "metrics.json"
    path.write_text("{}")
    with workspace.start_run("a") as run:
        run.log_artifact(path)
        run.log_artifact(path)
        path.write_text('{"auc": 1}')
        with pytest.raises(ArtifactExistsError, match=r'already has artifact "metrics.json"'):
            run.log_artifact(path)
    (stored,) = workspace.runs.artifacts(run.run_id)
    assert stored.size_bytes == 2


def test_missing_source_and_unsafe_names(workspace: Workspace, tmp_path: Path) -> None:
    with workspace.start_run("a") as run:
        with pytest.raises(ArtifactStoreUnavailableError, match="no file or directory"):
            run.log_artifact(tmp_path / "absent.txt")
        source = tmp_path / "x.txt"
        source.write_text("x")
        with pytest.raises(InvalidNameError, match="must be relative"):
            run.log_artifact(source, name="../escape.txt")


def test_unknown_artifact_path_names_what_exists(workspace: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "x.txt"
    source.write_text("x")
    with workspace.start_run("a") as run:
        run.log_artifact(source)
    with pytest.raises(ArtifactPathNotFoundError, match=r'no artifact "y.txt" \(it has x.txt\)'):
        workspace.runs.download_artifacts(run.run_id, tmp_path / "out", path="y.txt")


def test_corrupted_blob_is_reported_and_not_downloaded(
    workspace: Workspace, tmp_path: Path
) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(b"\x00" * 100)
    with workspace.start_run("a") as run:
        record = run.log_artifact(source)
    assert workspace.home is not None
    hex_digest = record.digest.removeprefix("sha256:")
    blob = workspace.home / "artifacts" / "sha256" / hex_digest[:2] / hex_digest
    os.chmod(blob, 0o644)
    blob.write_bytes(b"\x01" * 100)
    with pytest.raises(CorruptBlobError, match=f"artifact blob {record.digest} .* is corrupt"):
        workspace.runs.verify_artifacts(run.run_id)
    with pytest.raises(CorruptBlobError):
        workspace.runs.download_artifacts(run.run_id, tmp_path / "out")
    assert not (tmp_path / "out" / "weights.bin").exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_download_into_a_file_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "x.txt"
    source.write_text("x")
    with workspace.start_run("a") as run:
        run.log_artifact(source)
    with pytest.raises(InvalidNameError, match="must be a directory or not exist yet"):
        workspace.runs.download_artifacts(run.run_id, source)
    assert source.read_text() == "x"
