"""Blobs in a local directory, written to a temporary name and renamed into place."""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from modelyard.artifacts.store import (
    BlobInfo,
    blob_key,
    copy_hashing,
    digest_of,
    ensure_matches,
    hash_stream,
)
from modelyard.errors import ArtifactStoreUnavailableError, BlobNotFoundError

_TMP_DIR = "tmp"


class LocalArtifactStore:
    """Content-addressed blobs under a directory: ``ROOT/sha256/ab/<hex>``.

    A blob is first written to ``ROOT/tmp/<random>``, flushed to disk, then renamed to its
    digest: a crash leaves at most a stray temporary file, never a partial blob. Stored blobs
    are made read-only.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    @property
    def root(self) -> str:
        """The directory as a file:// URI."""
        return self.directory.resolve().as_uri()

    def put_bytes(self, data: bytes) -> BlobInfo:
        """Store ``data``."""
        digest = digest_of(data)
        if not self._path(digest).exists():
            with self._staged() as (tmp_path, handle):
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
                self._publish(tmp_path, digest)
        return BlobInfo(digest, len(data))

    def put_file(self, path: Path, *, move: bool = False) -> BlobInfo:
        """Store the file at ``path``; with ``move=True`` take the file over (see the protocol).

        A moved file on the store's filesystem is renamed into the store and hashed there, so a
        large file is read once and never copied; across filesystems it is copied, then removed.
        """
        if move and (info := self._put_by_rename(path)) is not None:
            return info
        try:
            source = path.open("rb")
        except OSError as error:
            raise ArtifactStoreUnavailableError(
                self.root, f"cannot read {path}: {error}"
            ) from error
        with source:
            info = self.put_stream(source)
        if move:
            path.unlink(missing_ok=True)
        return info

    def put_stream(self, stream: BinaryIO) -> BlobInfo:
        """Store what is read from ``stream``, hashing while it is copied."""
        with self._staged() as (tmp_path, handle):
            digest, size = copy_hashing(stream, handle)
            handle.flush()
            os.fsync(handle.fileno())
            if not self._path(digest).exists():
                self._publish(tmp_path, digest)
        return BlobInfo(digest, size)

    def exists(self, digest: str) -> bool:
        """Tell whether the blob is stored."""
        return self._path(digest).is_file()

    def size(self, digest: str) -> int:
        """Return the blob's size in bytes."""
        try:
            return self._path(digest).stat().st_size
        except FileNotFoundError as error:
            raise BlobNotFoundError(digest, self.root) from error

    def read_bytes(self, digest: str) -> bytes:
        """Return the blob's verified content."""
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError as error:
            raise BlobNotFoundError(digest, self.root) from error
        ensure_matches(digest, digest_of(data), str(path))
        return data

    def get_file(self, digest: str, dest: Path) -> Path:
        """Copy the blob to ``dest`` and verify it on the way; nothing is left on mismatch."""
        path = self._path(digest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp_path = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.part")
        try:
            with self._open(digest) as source, tmp_path.open("wb") as target:
                actual, _ = copy_hashing(source, target)
            ensure_matches(digest, actual, str(path))
            tmp_path.replace(dest)
        finally:
            tmp_path.unlink(missing_ok=True)
        return dest

    def verify(self, digest: str) -> BlobInfo:
        """Re-hash the stored blob."""
        with self._open(digest) as source:
            actual, size = hash_stream(source)
        ensure_matches(digest, actual, str(self._path(digest)))
        return BlobInfo(digest, size)

    def local_path(self, digest: str) -> Path:
        """Return the stored blob's file, to be read in place.

        Raises:
            BlobNotFoundError: no blob has that digest.
        """
        path = self._path(digest)
        if not path.is_file():
            raise BlobNotFoundError(digest, self.root)
        return path

    def _put_by_rename(self, path: Path) -> BlobInfo | None:
        """Rename ``path`` into the staging area and publish it; None when that cannot rename."""
        if not path.is_file():
            return None  # the copying path reports the unreadable file
        tmp_dir = self.directory / _TMP_DIR
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ArtifactStoreUnavailableError(self.root, str(error)) from error
        tmp_path = tmp_dir / uuid.uuid4().hex
        try:
            os.replace(path, tmp_path)
        except OSError:
            return None  # another filesystem (EXDEV) or no permission: copy instead
        try:
            with tmp_path.open("rb") as handle:
                digest, size = hash_stream(handle)
                os.fsync(handle.fileno())
            if not self._path(digest).exists():
                self._publish(tmp_path, digest)
        except OSError as error:
            raise ArtifactStoreUnavailableError(self.root, str(error)) from error
        finally:
            tmp_path.unlink(missing_ok=True)
        return BlobInfo(digest, size)

    def _path(self, digest: str) -> Path:
        return self.directory / blob_key(digest)

    def _open(self, digest: str) -> BinaryIO:
        try:
            return self._path(digest).open("rb")
        except FileNotFoundError as error:
            raise BlobNotFoundError(digest, self.root) from error

    @contextlib.contextmanager
    def _staged(self) -> Iterator[tuple[Path, io.BufferedWriter]]:
        tmp_dir = self.directory / _TMP_DIR
        try:
            tmp_dir.mkdir(parents=True, exist_ok=True)
            tmp_path = tmp_dir / uuid.uuid4().hex
            handle = tmp_path.open("wb")
        except OSError as error:
            raise ArtifactStoreUnavailableError(self.root, str(error)) from error
        try:
            with handle:
                yield tmp_path, handle
        finally:
            tmp_path.unlink(missing_ok=True)

    def _publish(self, tmp_path: Path, digest: str) -> None:
        final = self._path(digest)
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp_path.chmod(0o444)
            # os.replace is atomic; a racing writer of the same digest wrote the same bytes.
            os.replace(tmp_path, final)
        except OSError as error:
            raise ArtifactStoreUnavailableError(self.root, str(error)) from error
