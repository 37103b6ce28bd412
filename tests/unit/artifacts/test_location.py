"""Tests of modelyard/artifacts/location.py: choosing the backend from a URI."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.artifacts import FsspecArtifactStore, LocalArtifactStore, open_store
from modelyard.errors import ArtifactStoreUnavailableError


@pytest.mark.parametrize(
    ("uri", "directory"),
    [
        ("file:///srv/artifacts", Path("/srv/artifacts")),
        ("file:///srv/my%20artifacts", Path("/srv/my artifacts")),
        ("/srv/artifacts", Path("/srv/artifacts")),
        ("relative/artifacts", Path("relative/artifacts")),
    ],
)
def test_a_file_uri_or_a_bare_path_opens_a_local_store(uri: str, directory: Path) -> None:
    store = open_store(uri)

    assert isinstance(store, LocalArtifactStore)
    assert store.directory == directory


def test_a_bare_path_expands_the_user_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))

    store = open_store("~/artifacts")

    assert isinstance(store, LocalArtifactStore)
    assert store.directory == tmp_path / "artifacts"


def test_another_scheme_opens_an_fsspec_store_without_a_trailing_slash() -> None:
    store = open_store("memory://modelyard-test-location/prefix/")

    assert isinstance(store, FsspecArtifactStore)
    assert store.root == "memory://modelyard-test-location/prefix"


def test_an_unknown_scheme_is_an_unavailable_store() -> None:
    with pytest.raises(ArtifactStoreUnavailableError) as caught:
        open_store("nosuch://bucket/prefix")

    assert str(caught.value) == (
        "cannot use the artifact store nosuch://bucket/prefix: Protocol not known: nosuch"
    )
