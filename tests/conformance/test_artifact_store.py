"""The artifact store conformance suite: every backend must pass every test here.

Backends: the local directory store, and the fsspec store against a real S3-compatible server
(moto in server mode on 127.0.0.1, spoken to over HTTP by s3fs). Each test gets its own empty
store; ``Backend`` also gives the test a way around the store (listing and overwriting what is
stored) to check what is really there.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from modelyard.artifacts import ArtifactStore, BlobInfo, open_store
from modelyard.artifacts import store as store_module
from modelyard.artifacts.local import LocalArtifactStore
from modelyard.artifacts.store import blob_key, digest_of
from modelyard.artifacts.tree import TreeEntry, get_tree, put_tree, read_tree
from modelyard.errors import (
    ArtifactStoreUnavailableError,
    BlobNotFoundError,
    CorruptBlobError,
    InvalidDigestError,
)

BUCKET = "modelyard-conformance"
DATA = b"fraud model, version 1"
DIGEST = digest_of(DATA)
MISSING = "sha256:" + "0" * 64
MALFORMED = ["", "sha256:abc", "sha256:" + "A" * 64, "md5:d41d8cd98f00b204e9800998ecf8427e"]
_prefixes = itertools.count()


@dataclass
class Backend:
    """A store under test and a way around it to inspect and damage what it stored."""

    name: str
    store: ArtifactStore
    list_keys: Callable[[], list[str]]
    overwrite: Callable[[str, bytes], None]


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    client: Any


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server on a free local port, with a bucket and test credentials."""
    no_config = tmp_path_factory.mktemp("aws") / "absent"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_ACCESS_KEY_ID", "testing")
        env.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        env.setenv("AWS_DEFAULT_REGION", "us-east-1")
        env.setenv("AWS_CONFIG_FILE", str(no_config))
        env.setenv("AWS_SHARED_CREDENTIALS_FILE", str(no_config))
        for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
            env.delenv(variable, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint_url = f"http://{host}:{port}"
            client = boto3.client("s3", endpoint_url=endpoint_url, region_name="us-east-1")
            client.create_bucket(Bucket=BUCKET)
            yield S3Server(endpoint_url, client)
            client.close()
        finally:
            server.stop()


def _local_backend(directory: Path) -> Backend:
    def list_keys() -> list[str]:
        return sorted(
            path.relative_to(directory).as_posix()
            for path in directory.rglob("*")
            if path.is_file()
        )

    def overwrite(digest: str, data: bytes) -> None:
        path = directory / blob_key(digest)
        path.chmod(0o644)
        path.write_bytes(data)

    return Backend("local", LocalArtifactStore(directory), list_keys, overwrite)


def _s3_backend(server: S3Server, prefix: str) -> Backend:
    def list_keys() -> list[str]:
        listing = server.client.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/")
        return sorted(
            item["Key"].removeprefix(f"{prefix}/") for item in listing.get("Contents", [])
        )

    def overwrite(digest: str, data: bytes) -> None:
        server.client.put_object(Bucket=BUCKET, Key=f"{prefix}/{blob_key(digest)}", Body=data)

    store = open_store(f"s3://{BUCKET}/{prefix}", s3_endpoint_url=server.endpoint_url)
    return Backend("s3", store, list_keys, overwrite)


@pytest.fixture(params=["local", "s3"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """An empty store of each backend."""
    if request.param == "local":
        return _local_backend(tmp_path / "store")
    server: S3Server = request.getfixturevalue("s3_server")
    return _s3_backend(server, f"run-{next(_prefixes)}")


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An empty directory to fetch into."""
    path = tmp_path / "out"
    path.mkdir()
    return path


def _files(directory: Path) -> dict[str, bytes]:
    return {
        path.relative_to(directory).as_posix(): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


# ------------------------------------------------------------------------- root


def test_root_names_where_the_blobs_live(backend: Backend, tmp_path: Path) -> None:
    if backend.name == "local":
        assert backend.store.root == f"file://{tmp_path.resolve()}/store"
    else:
        assert re.fullmatch(rf"s3://{BUCKET}/run-\d+", backend.store.root)


# ------------------------------------------------------------------------- writing


def test_put_bytes_returns_the_digest_and_size(backend: Backend) -> None:
    info = backend.store.put_bytes(DATA)

    assert info == BlobInfo(DIGEST, len(DATA))
    assert backend.list_keys() == [blob_key(DIGEST)]


def test_put_file_returns_the_digest_and_size(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    source.write_bytes(DATA)

    info = backend.store.put_file(source)

    assert info == BlobInfo(DIGEST, len(DATA))
    assert backend.list_keys() == [blob_key(DIGEST)]
    assert source.read_bytes() == DATA


@pytest.mark.parametrize("is_stored_before", [False, True], ids=["new", "already-stored"])
def test_put_file_with_move_takes_the_file_over(
    backend: Backend, tmp_path: Path, is_stored_before: bool
) -> None:
    if is_stored_before:
        backend.store.put_bytes(DATA)
    source = tmp_path / "snapshot.parquet"
    source.write_bytes(DATA)

    info = backend.store.put_file(source, move=True)

    assert info == BlobInfo(DIGEST, len(DATA))
    assert backend.list_keys() == [blob_key(DIGEST)]
    assert backend.store.read_bytes(DIGEST) == DATA
    assert not source.exists()


def test_put_file_with_move_of_a_missing_file_is_an_unavailable_store(
    backend: Backend, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.bin"

    with pytest.raises(ArtifactStoreUnavailableError, match=r"cannot read .*missing\.bin"):
        backend.store.put_file(missing, move=True)

    assert backend.list_keys() == []


def test_local_path_of_a_missing_blob_is_not_found_on_a_local_store(backend: Backend) -> None:
    if backend.name != "local":
        assert backend.store.local_path(MISSING) is None
        return
    with pytest.raises(BlobNotFoundError, match=f"has no blob {MISSING}"):
        backend.store.local_path(MISSING)


def test_local_path_is_the_blob_on_this_disk_or_none(backend: Backend) -> None:
    backend.store.put_bytes(DATA)

    path = backend.store.local_path(DIGEST)

    if backend.name == "local":
        assert path is not None
        assert path.read_bytes() == DATA
        assert path.as_posix().endswith(blob_key(DIGEST))
    else:
        assert path is None


def test_put_stream_hashes_while_it_reads_in_chunks(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "CHUNK_BYTES", 5)

    info = backend.store.put_stream(io.BytesIO(DATA))

    assert info == BlobInfo(DIGEST, len(DATA))
    assert backend.list_keys() == [blob_key(DIGEST)]
    assert backend.store.read_bytes(DIGEST) == DATA


def test_identical_content_is_stored_once(backend: Backend, tmp_path: Path) -> None:
    source = tmp_path / "same.bin"
    source.write_bytes(DATA)

    infos = {
        backend.store.put_bytes(DATA),
        backend.store.put_file(source),
        backend.store.put_stream(io.BytesIO(DATA)),
        backend.store.put_bytes(DATA),
    }

    assert infos == {BlobInfo(DIGEST, len(DATA))}
    assert backend.list_keys() == [blob_key(DIGEST)]


def test_different_content_gets_different_blobs(backend: Backend) -> None:
    first = backend.store.put_bytes(b"one")
    second = backend.store.put_bytes(b"two")

    assert first.digest != second.digest
    assert backend.list_keys() == sorted([blob_key(first.digest), blob_key(second.digest)])
    assert backend.store.read_bytes(first.digest) == b"one"
    assert backend.store.read_bytes(second.digest) == b"two"


def test_empty_content_is_a_blob(backend: Backend, out: Path) -> None:
    info = backend.store.put_bytes(b"")

    assert info == BlobInfo(
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", 0
    )
    assert backend.store.exists(info.digest) is True
    assert backend.store.size(info.digest) == 0
    assert backend.store.read_bytes(info.digest) == b""
    assert backend.store.get_file(info.digest, out / "empty").read_bytes() == b""
    assert backend.store.verify(info.digest) == info


def test_put_file_of_a_missing_file_is_an_unavailable_store(
    backend: Backend, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.bin"

    with pytest.raises(ArtifactStoreUnavailableError) as caught:
        backend.store.put_file(missing)

    assert str(caught.value).startswith(
        f"cannot use the artifact store {backend.store.root}: cannot read {missing}: "
    )
    assert "No such file or directory" in str(caught.value)
    assert backend.list_keys() == []


# ------------------------------------------------------------------------- reading


def test_a_stored_blob_exists_has_its_size_and_reads_back(backend: Backend) -> None:
    backend.store.put_bytes(DATA)

    assert backend.store.exists(DIGEST) is True
    assert backend.store.size(DIGEST) == len(DATA)
    assert backend.store.read_bytes(DIGEST) == DATA
    assert backend.store.verify(DIGEST) == BlobInfo(DIGEST, len(DATA))


def test_get_file_writes_the_blob_creating_parent_directories(backend: Backend, out: Path) -> None:
    backend.store.put_bytes(DATA)
    dest = out / "a" / "b" / "model.bin"

    returned = backend.store.get_file(DIGEST, dest)

    assert returned == dest
    assert _files(out) == {"a/b/model.bin": DATA}
    assert digest_of(dest.read_bytes()) == DIGEST


def test_get_file_replaces_an_existing_file(backend: Backend, out: Path) -> None:
    backend.store.put_bytes(DATA)
    dest = out / "model.bin"
    dest.write_bytes(b"stale content that is longer than the blob itself")

    backend.store.get_file(DIGEST, dest)

    assert _files(out) == {"model.bin": DATA}


def test_a_large_blob_round_trips_in_many_chunks(
    backend: Backend, tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "CHUNK_BYTES", 4096)
    data = bytes(range(256)) * 400  # 102,400 bytes: 25 chunks
    source = tmp_path / "big.bin"
    source.write_bytes(data)

    info = backend.store.put_file(source)

    assert info == BlobInfo(digest_of(data), len(data))
    assert backend.store.get_file(info.digest, out / "big.bin").read_bytes() == data
    assert backend.store.verify(info.digest) == info
    assert backend.store.read_bytes(info.digest) == data


# ------------------------------------------------------------------------- missing and malformed


def test_a_missing_blob_does_not_exist(backend: Backend) -> None:
    assert backend.store.exists(MISSING) is False


@pytest.mark.parametrize("operation", ["size", "read_bytes", "verify", "get_file"])
def test_a_missing_blob_raises_blob_not_found(backend: Backend, out: Path, operation: str) -> None:
    backend.store.put_bytes(DATA)
    call = _operation(backend.store, operation, out / "dest.bin")

    with pytest.raises(BlobNotFoundError) as caught:
        call(MISSING)

    assert str(caught.value) == f"artifact store {backend.store.root} has no blob {MISSING}"
    assert caught.value.details() == {"digest": MISSING, "root": backend.store.root}
    assert _files(out) == {}


@pytest.mark.parametrize("digest", MALFORMED)
@pytest.mark.parametrize(
    "operation", ["exists", "size", "read_bytes", "verify", "get_file", "local_path"]
)
def test_a_malformed_digest_raises_invalid_digest(
    backend: Backend, out: Path, operation: str, digest: str
) -> None:
    call = _operation(backend.store, operation, out / "dest.bin")

    with pytest.raises(InvalidDigestError) as caught:
        call(digest)

    assert str(caught.value) == (
        f'invalid digest {digest!r}: expected "sha256:" followed by 64 lowercase hex digits'
    )
    assert _files(out) == {}


def _operation(store: ArtifactStore, name: str, dest: Path) -> Callable[[str], object]:
    if name == "get_file":
        return lambda digest: store.get_file(digest, dest)
    method: Callable[[str], object] = getattr(store, name)
    return method


# ------------------------------------------------------------------------- corruption


@pytest.mark.parametrize("damaged", [b"fraud model, version 2", b"", DATA[:-1]])
@pytest.mark.parametrize("operation", ["read_bytes", "verify", "get_file"])
def test_a_corrupted_blob_raises_corrupt_blob(
    backend: Backend, out: Path, operation: str, damaged: bytes
) -> None:
    backend.store.put_bytes(DATA)
    backend.overwrite(DIGEST, damaged)
    call = _operation(backend.store, operation, out / "model.bin")

    with pytest.raises(CorruptBlobError) as caught:
        call(DIGEST)

    error = caught.value
    assert (error.digest, error.actual) == (DIGEST, digest_of(damaged))
    assert error.location.endswith(blob_key(DIGEST))
    assert str(error).startswith(f"artifact blob {DIGEST} at {error.location} is corrupt: ")
    assert f"its content hashes to {digest_of(damaged)}" in str(error)
    assert _files(out) == {}


def test_get_file_of_a_corrupted_blob_keeps_the_existing_destination(
    backend: Backend, out: Path
) -> None:
    backend.store.put_bytes(DATA)
    backend.overwrite(DIGEST, b"tampered")
    dest = out / "model.bin"
    dest.write_bytes(b"previous download")

    with pytest.raises(CorruptBlobError, match=re.escape(f"artifact blob {DIGEST} at ")):
        backend.store.get_file(DIGEST, dest)

    assert _files(out) == {"model.bin": b"previous download"}


# ------------------------------------------------------------------------- directory trees


def _make_tree(root: Path, files: dict[str, bytes]) -> Path:
    for relative, data in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return root


TREE = {
    "MLmodel": b"flavor: sklearn\n",
    "model.pkl": b"\x80\x04pickle",
    "data/schema.json": b'{"amount": "float"}',
    "data/deep/er/stats.txt": b"rows=1000\n",
    "copy/of/model.pkl": b"\x80\x04pickle",
}


def test_put_tree_then_get_tree_reproduces_the_directory(
    backend: Backend, tmp_path: Path, out: Path
) -> None:
    source = _make_tree(tmp_path / "src", TREE)
    (source / "empty-dir").mkdir()

    tree = put_tree(backend.store, source)
    fetched = get_tree(backend.store, tree.digest, out / "model")

    assert fetched == out / "model"
    assert _files(fetched) == TREE
    assert {entry.path for entry in tree.entries} == set(TREE)
    assert tree.size_bytes == sum(len(data) for data in TREE.values())
    assert read_tree(backend.store, tree.digest) == tree


def test_a_tree_stores_each_distinct_file_once_plus_a_manifest(
    backend: Backend, tmp_path: Path
) -> None:
    tree = put_tree(backend.store, _make_tree(tmp_path / "src", TREE))

    expected = {blob_key(digest_of(data)) for data in TREE.values()} | {blob_key(tree.digest)}
    assert len(expected) == 5
    assert backend.list_keys() == sorted(expected)
    manifest = json.loads(backend.store.read_bytes(tree.digest))
    assert sorted(item["path"] for item in manifest["files"]) == sorted(TREE)


def test_the_same_tree_gets_the_same_digest(backend: Backend, tmp_path: Path) -> None:
    first = put_tree(backend.store, _make_tree(tmp_path / "one", TREE))
    second = put_tree(backend.store, _make_tree(tmp_path / "two", dict(reversed(TREE.items()))))

    assert first == second
    assert len(backend.list_keys()) == 5


@pytest.mark.parametrize(
    "change",
    [
        {"data/deep/er/stats.txt": b"rows=1001\n"},
        {"data/deep/er/extra.txt": b"new file"},
    ],
    ids=["changed-content", "added-file"],
)
def test_a_different_tree_gets_a_different_digest(
    backend: Backend, tmp_path: Path, change: dict[str, bytes]
) -> None:
    original = put_tree(backend.store, _make_tree(tmp_path / "one", TREE))

    changed = put_tree(backend.store, _make_tree(tmp_path / "two", {**TREE, **change}))

    assert changed.digest != original.digest


def test_a_renamed_file_gives_a_different_digest(backend: Backend, tmp_path: Path) -> None:
    renamed = {("model2.pkl" if key == "model.pkl" else key): data for key, data in TREE.items()}

    original = put_tree(backend.store, _make_tree(tmp_path / "one", TREE))
    moved = put_tree(backend.store, _make_tree(tmp_path / "two", renamed))

    assert moved.digest != original.digest
    assert TreeEntry("model2.pkl", digest_of(TREE["model.pkl"]), 8) in moved.entries


def test_get_tree_of_a_tree_with_a_corrupted_file_raises(
    backend: Backend, tmp_path: Path, out: Path
) -> None:
    tree = put_tree(backend.store, _make_tree(tmp_path / "src", TREE))
    schema = digest_of(TREE["data/schema.json"])
    backend.overwrite(schema, b"{}")

    with pytest.raises(CorruptBlobError, match=re.escape(f"artifact blob {schema} at ")):
        get_tree(backend.store, tree.digest, out / "model")

    assert "data/schema.json" not in _files(out / "model")


def test_get_tree_of_a_missing_manifest_raises(backend: Backend, out: Path) -> None:
    with pytest.raises(BlobNotFoundError, match=re.escape(f"has no blob {MISSING}")):
        get_tree(backend.store, MISSING, out / "model")


# ------------------------------------------------------------------------- environment


def test_the_s3_backend_talks_to_the_local_server(s3_server: S3Server) -> None:
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", s3_server.endpoint_url)
    assert os.environ["AWS_ACCESS_KEY_ID"] == "testing"
    buckets = [bucket["Name"] for bucket in s3_server.client.list_buckets()["Buckets"]]
    assert buckets == [BUCKET]
