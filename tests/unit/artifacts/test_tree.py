"""Tests of modelyard/artifacts/tree.py: the manifest format, progress and path safety.

Storing and fetching trees on every backend is in tests/conformance/test_artifact_store.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelyard.artifacts.local import LocalArtifactStore
from modelyard.artifacts.store import digest_of
from modelyard.artifacts.tree import (
    MANIFEST_FORMAT,
    TreeEntry,
    TreeInfo,
    get_tree,
    put_tree,
    read_tree,
    safe_relative,
)
from modelyard.errors import InvalidNameError

RULE = "must be relative and stay inside its root"


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "store")


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "model"
    (directory / "sub").mkdir(parents=True)
    (directory / "MLmodel").write_bytes(b"flavor: sklearn\n")
    (directory / "sub" / "weights.bin").write_bytes(b"\x00\x01\x02")
    return directory


def test_the_manifest_is_canonical_json_of_the_files(
    store: LocalArtifactStore, model_dir: Path
) -> None:
    tree = put_tree(store, model_dir)

    manifest = store.read_bytes(tree.digest)
    expected = {
        "files": [
            {"digest": digest_of(b"flavor: sklearn\n"), "path": "MLmodel", "size": 16},
            {"digest": digest_of(b"\x00\x01\x02"), "path": "sub/weights.bin", "size": 3},
        ],
        "format": MANIFEST_FORMAT,
    }
    assert MANIFEST_FORMAT == "modelyard.tree/1"
    assert manifest == json.dumps(expected, sort_keys=True, separators=(",", ":")).encode()
    assert tree == TreeInfo(
        digest_of(manifest),
        (
            TreeEntry("MLmodel", digest_of(b"flavor: sklearn\n"), 16),
            TreeEntry("sub/weights.bin", digest_of(b"\x00\x01\x02"), 3),
        ),
    )
    assert tree.size_bytes == 19


def test_an_empty_directory_is_a_manifest_without_files(
    store: LocalArtifactStore, tmp_path: Path
) -> None:
    (tmp_path / "empty" / "nested").mkdir(parents=True)

    tree = put_tree(store, tmp_path / "empty")

    assert tree.entries == ()
    assert tree.size_bytes == 0
    assert json.loads(store.read_bytes(tree.digest)) == {"files": [], "format": MANIFEST_FORMAT}
    assert get_tree(store, tree.digest, tmp_path / "out") == tmp_path / "out"
    assert list((tmp_path / "out").iterdir()) == []


def test_progress_is_reported_per_file(
    store: LocalArtifactStore, model_dir: Path, tmp_path: Path
) -> None:
    put_calls: list[tuple[int, int]] = []
    get_calls: list[tuple[int, int]] = []

    tree = put_tree(store, model_dir, progress=lambda done, total: put_calls.append((done, total)))
    get_tree(
        store,
        tree.digest,
        tmp_path / "out",
        progress=lambda done, total: get_calls.append((done, total)),
    )

    assert put_calls == [(1, 2), (2, 2)]
    assert get_calls == [(1, 2), (2, 2)]


def test_read_tree_returns_what_put_tree_returned(
    store: LocalArtifactStore, model_dir: Path
) -> None:
    tree = put_tree(store, model_dir)

    assert read_tree(store, tree.digest) == tree


@pytest.mark.parametrize("path", ["../evil.txt", "sub/../../evil.txt", "/etc/evil.txt"])
def test_get_tree_refuses_a_manifest_path_that_escapes(
    store: LocalArtifactStore, tmp_path: Path, path: str
) -> None:
    blob = store.put_bytes(b"evil")
    manifest = {
        "format": MANIFEST_FORMAT,
        "files": [{"path": path, "digest": blob.digest, "size": blob.size_bytes}],
    }
    digest = store.put_bytes(json.dumps(manifest).encode()).digest
    dest = tmp_path / "deep" / "out"

    with pytest.raises(InvalidNameError) as caught:
        get_tree(store, digest, dest)

    assert str(caught.value) == f"artifact path {path!r} is invalid: {RULE}"
    assert not (tmp_path / "deep" / "evil.txt").exists()
    assert not (tmp_path / "evil.txt").exists()
    assert list(dest.iterdir()) == []


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("model.pkl", Path("model.pkl")),
        ("sub/dir/model.pkl", Path("sub/dir/model.pkl")),
        ("./sub//model.pkl", Path("sub/model.pkl")),
        ("sub/", Path("sub")),
        ("a..b/c..", Path("a..b/c..")),
    ],
)
def test_safe_relative_accepts_a_relative_path(path: str, expected: Path) -> None:
    assert safe_relative(path) == expected


@pytest.mark.parametrize("path", ["../x", "/abs", "a/../../x", "a/..", "..", "", ".", "//x"])
def test_safe_relative_rejects_a_path_that_could_escape(path: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        safe_relative(path)

    assert str(caught.value) == f"artifact path {path!r} is invalid: {RULE}"
    assert caught.value.details() == {"field": "artifact path", "value": path, "rule": RULE}
