"""Tests of modelyard/artifacts/local.py: what only the local directory store promises.

The behaviour every backend shares is in tests/conformance/test_artifact_store.py.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.artifacts.local import LocalArtifactStore
from modelyard.artifacts.store import BlobInfo, digest_of
from modelyard.errors import ArtifactStoreUnavailableError, BlobNotFoundError

DATA = b"model weights v1"
DIGEST = digest_of(DATA)
HEX = DIGEST.removeprefix("sha256:")

Put = Callable[[LocalArtifactStore, Path, bytes], BlobInfo]


def _put_bytes(store: LocalArtifactStore, scratch: Path, data: bytes) -> BlobInfo:
    return store.put_bytes(data)


def _put_file(store: LocalArtifactStore, scratch: Path, data: bytes) -> BlobInfo:
    source = scratch / "source.bin"
    source.write_bytes(data)
    return store.put_file(source)


def _put_stream(store: LocalArtifactStore, scratch: Path, data: bytes) -> BlobInfo:
    return store.put_stream(io.BytesIO(data))


PUTS = pytest.mark.parametrize(
    "put", [_put_bytes, _put_file, _put_stream], ids=["put_bytes", "put_file", "put_stream"]
)


class Crash(Exception):
    """Stands for the process dying at the worst moment."""


def _files(root: Path) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    path = tmp_path / "scratch"
    path.mkdir()
    return path


@pytest.fixture
def store(tmp_path: Path) -> LocalArtifactStore:
    return LocalArtifactStore(tmp_path / "store")


def test_root_is_the_directory_as_a_file_uri(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "store")

    assert store.root == f"file://{tmp_path.resolve()}/store"


@PUTS
def test_a_blob_lives_under_its_digest_and_is_read_only(
    store: LocalArtifactStore, scratch: Path, put: Put
) -> None:
    info = put(store, scratch, DATA)

    blob = store.directory / "sha256" / HEX[:2] / HEX
    assert info == BlobInfo(DIGEST, len(DATA))
    assert blob.read_bytes() == DATA
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444
    assert _files(store.directory) == [f"sha256/{HEX[:2]}/{HEX}"]


@PUTS
def test_putting_stored_content_again_does_not_rewrite_the_blob(
    store: LocalArtifactStore, scratch: Path, put: Put, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put_bytes(DATA)

    def refuse(src: object, dst: object) -> None:
        raise AssertionError(f"the stored blob was replaced by {src}")

    monkeypatch.setattr(os, "replace", refuse)

    assert put(store, scratch, DATA) == BlobInfo(DIGEST, len(DATA))
    assert _files(store.directory) == [f"sha256/{HEX[:2]}/{HEX}"]


@PUTS
def test_a_crash_before_the_rename_leaves_no_blob_and_a_retry_succeeds(
    store: LocalArtifactStore, scratch: Path, put: Put, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(src: object, dst: object) -> None:
        raise Crash("power cut")

    with monkeypatch.context() as patched:
        patched.setattr(os, "replace", crash)
        with pytest.raises(Crash, match="power cut"):
            put(store, scratch, DATA)

    assert store.exists(DIGEST) is False
    with pytest.raises(BlobNotFoundError, match=f"has no blob {DIGEST}"):
        store.read_bytes(DIGEST)
    assert _files(store.directory) == []

    assert put(store, scratch, DATA) == BlobInfo(DIGEST, len(DATA))
    assert store.read_bytes(DIGEST) == DATA


@PUTS
def test_a_failed_rename_is_reported_as_an_unavailable_store(
    store: LocalArtifactStore, scratch: Path, put: Put, monkeypatch: pytest.MonkeyPatch
) -> None:
    def disk_full(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", disk_full)

    with pytest.raises(ArtifactStoreUnavailableError) as caught:
        put(store, scratch, DATA)

    assert str(caught.value) == (
        f"cannot use the artifact store {store.root}: [Errno 28] No space left on device"
    )
    assert store.exists(DIGEST) is False
    assert _files(store.directory) == []


def test_a_stream_that_fails_midway_leaves_nothing(store: LocalArtifactStore) -> None:
    class Broken(io.RawIOBase):
        def __init__(self) -> None:
            self.calls = 0

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            self.calls += 1
            if self.calls > 1:
                raise Crash("connection reset")
            return b"first part"

    with pytest.raises(Crash, match="connection reset"):
        store.put_stream(Broken())  # type: ignore[arg-type]

    assert store.exists(digest_of(b"first part")) is False
    assert _files(store.directory) == []


def test_a_stray_temporary_file_is_not_a_blob(store: LocalArtifactStore) -> None:
    # What a killed writer leaves behind: the full content under a temporary name.
    tmp_dir = store.directory / "tmp"
    tmp_dir.mkdir(parents=True)
    (tmp_dir / "0f1e2d3c4b5a69788796a5b4c3d2e1f0").write_bytes(DATA)

    assert store.exists(DIGEST) is False
    with pytest.raises(BlobNotFoundError, match=f"has no blob {DIGEST}"):
        store.size(DIGEST)

    assert store.put_bytes(DATA) == BlobInfo(DIGEST, len(DATA))
    assert store.exists(DIGEST) is True
    assert _files(store.directory) == [
        f"sha256/{HEX[:2]}/{HEX}",
        "tmp/0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    ]


def test_a_directory_at_the_blob_path_is_not_a_blob(store: LocalArtifactStore) -> None:
    (store.directory / "sha256" / HEX[:2] / HEX).mkdir(parents=True)

    assert store.exists(DIGEST) is False


def test_a_store_whose_directory_is_a_file_is_unavailable(tmp_path: Path) -> None:
    (tmp_path / "store").write_bytes(b"not a directory")
    store = LocalArtifactStore(tmp_path / "store")

    with pytest.raises(ArtifactStoreUnavailableError) as caught:
        store.put_bytes(DATA)

    assert str(caught.value).startswith(f"cannot use the artifact store {store.root}: ")
    assert "Not a directory" in str(caught.value)


def test_put_file_of_a_directory_is_unavailable(store: LocalArtifactStore, scratch: Path) -> None:
    with pytest.raises(ArtifactStoreUnavailableError) as caught:
        store.put_file(scratch)

    assert str(caught.value).startswith(
        f"cannot use the artifact store {store.root}: cannot read {scratch}: "
    )


def test_the_directory_is_created_on_first_write(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "a" / "b")

    assert store.exists(DIGEST) is False
    assert not (tmp_path / "a").exists()

    store.put_bytes(DATA)

    assert store.read_bytes(DIGEST) == DATA


@given(data=st.binary(max_size=2048))
@settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
def test_any_bytes_are_stored_under_their_sha256_and_read_back(
    store: LocalArtifactStore, data: bytes
) -> None:
    # The store is shared by the examples: content addressing makes that harmless.
    expected = "sha256:" + hashlib.sha256(data).hexdigest()

    info = store.put_bytes(data)

    assert info == BlobInfo(expected, len(data))
    assert store.put_stream(io.BytesIO(data)) == info
    assert store.read_bytes(expected) == data
    assert store.size(expected) == len(data)
    assert os.path.isfile(store.directory / "sha256" / expected[7:9] / expected[7:])
