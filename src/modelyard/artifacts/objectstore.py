"""Blobs in an object store or any fsspec filesystem (``s3://bucket/prefix`` and others)."""

from __future__ import annotations

import contextlib
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import fsspec

from modelyard.artifacts.store import (
    BlobInfo,
    blob_key,
    check_digest,
    copy_hashing,
    digest_of,
    ensure_matches,
    hash_stream,
)
from modelyard.errors import ArtifactStoreUnavailableError, BlobNotFoundError


class FsspecArtifactStore:
    """Content-addressed blobs under an fsspec URL.

    Content is hashed before upload (a stream is spooled to a local temporary file), then
    uploaded under its digest in one PUT, which object stores make visible atomically: readers
    never see a partial blob.
    """

    def __init__(self, url: str, *, storage_options: dict[str, Any] | None = None) -> None:
        self.url = url.rstrip("/")
        try:
            self._fs, self._prefix = fsspec.url_to_fs(self.url, **(storage_options or {}))
        except (ImportError, ValueError) as error:
            raise ArtifactStoreUnavailableError(url, str(error)) from error

    @property
    def root(self) -> str:
        """The store's URL."""
        return self.url

    def put_bytes(self, data: bytes) -> BlobInfo:
        """Store ``data``."""
        digest = digest_of(data)
        if not self.exists(digest):
            with self._translated(digest):
                self._fs.pipe_file(self._key(digest), data)
        return BlobInfo(digest, len(data))

    def put_file(self, path: Path, *, move: bool = False) -> BlobInfo:
        """Store the file at ``path`` (uploaded once; removed afterwards with ``move=True``)."""
        try:
            with path.open("rb") as source:
                digest, size = hash_stream(source)
        except OSError as error:
            raise ArtifactStoreUnavailableError(
                self.root, f"cannot read {path}: {error}"
            ) from error
        if not self.exists(digest):
            self._upload(path, digest)
        if move:
            path.unlink(missing_ok=True)
        return BlobInfo(digest, size)

    def put_stream(self, stream: BinaryIO) -> BlobInfo:
        """Spool ``stream`` to a local file while hashing it, then upload it."""
        with tempfile.TemporaryDirectory(prefix="modelyard-") as tmp:
            spool = Path(tmp) / "blob"
            with spool.open("wb") as target:
                digest, size = copy_hashing(stream, target)
            if not self.exists(digest):
                self._upload(spool, digest)
        return BlobInfo(digest, size)

    def exists(self, digest: str) -> bool:
        """Tell whether the blob is stored."""
        with self._translated(digest):
            return bool(self._fs.exists(self._key(digest)))

    def size(self, digest: str) -> int:
        """Return the blob's size in bytes."""
        with self._translated(digest):
            return int(self._fs.size(self._key(digest)))

    def read_bytes(self, digest: str) -> bytes:
        """Return the blob's verified content."""
        with self._translated(digest):
            data = bytes(self._fs.cat_file(self._key(digest)))
        ensure_matches(digest, digest_of(data), self._location(digest))
        return data

    def get_file(self, digest: str, dest: Path) -> Path:
        """Download the blob to ``dest``, verifying it on the way; nothing is left on mismatch."""
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        try:
            with (
                self._translated(digest),
                self._fs.open(self._key(digest), "rb") as source,
                tmp_path.open("wb") as target,
            ):
                actual, _ = copy_hashing(source, target)
            ensure_matches(digest, actual, self._location(digest))
            tmp_path.replace(dest)
        finally:
            tmp_path.unlink(missing_ok=True)
        return dest

    def verify(self, digest: str) -> BlobInfo:
        """Re-hash the stored blob."""
        with self._translated(digest), self._fs.open(self._key(digest), "rb") as source:
            actual, size = hash_stream(source)
        ensure_matches(digest, actual, self._location(digest))
        return BlobInfo(digest, size)

    def local_path(self, digest: str) -> None:
        """None: an object store keeps no blob on this machine's disk."""
        check_digest(digest)
        return None

    def _upload(self, path: Path, digest: str) -> None:
        with self._translated(digest):
            self._fs.put_file(str(path), self._key(digest))

    def _key(self, digest: str) -> str:
        return f"{self._prefix}/{blob_key(digest)}"

    def _location(self, digest: str) -> str:
        return f"{self.url}/{blob_key(digest)}"

    @contextlib.contextmanager
    def _translated(self, digest: str) -> Iterator[None]:
        try:
            yield
        except FileNotFoundError as error:
            raise BlobNotFoundError(digest, self.root) from error
        except OSError as error:
            raise ArtifactStoreUnavailableError(self.root, str(error)) from error
