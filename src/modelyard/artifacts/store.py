"""The artifact store protocol and the digest rules every backend shares."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from modelyard.errors import CorruptBlobError, InvalidDigestError

CHUNK_BYTES = 1 << 20
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class BlobInfo:
    """A stored blob: its digest and size."""

    digest: str
    size_bytes: int


class ArtifactStore(Protocol):
    """Immutable, content-addressed blobs: a blob's name is the sha256 of its bytes.

    Writes are atomic: a blob appears under its digest complete or not at all. Identical content
    is stored once. Reads that return content verify it against the digest.
    """

    @property
    def root(self) -> str:
        """Where the blobs live, as a URI."""
        ...

    def put_bytes(self, data: bytes) -> BlobInfo:
        """Store ``data`` and return its digest and size."""
        ...

    def put_file(self, path: Path, *, move: bool = False) -> BlobInfo:
        """Store the content of the file at ``path``.

        With ``move=True`` the file is consumed: the store takes it over (a rename when it lies
        on the store's own filesystem, so a large file is not copied) and ``path`` is gone
        afterwards, also when the content was already stored.
        """
        ...

    def put_stream(self, stream: BinaryIO) -> BlobInfo:
        """Store everything read from ``stream`` (read in chunks, bounded memory)."""
        ...

    def exists(self, digest: str) -> bool:
        """Tell whether a blob with ``digest`` is stored."""
        ...

    def size(self, digest: str) -> int:
        """Return the stored size of the blob in bytes."""
        ...

    def read_bytes(self, digest: str) -> bytes:
        """Return the blob's content, verified against its digest."""
        ...

    def get_file(self, digest: str, dest: Path) -> Path:
        """Write the blob to ``dest`` (verified; atomic) and return ``dest``."""
        ...

    def verify(self, digest: str) -> BlobInfo:
        """Re-hash the stored blob; raise CorruptBlobError when it no longer matches."""
        ...

    def local_path(self, digest: str) -> Path | None:
        """Return the blob's file when the store keeps it on this machine's disk, else None.

        The file is the stored blob itself, to be read in place (never written): callers that
        need speed read it without a copy. It is not re-verified.
        """
        ...


def check_digest(digest: str) -> str:
    """Return ``digest`` when it reads "sha256:<64 hex>".

    Raises:
        InvalidDigestError: otherwise.
    """
    if not isinstance(digest, str) or _DIGEST.fullmatch(digest) is None:
        raise InvalidDigestError(str(digest))
    return digest


def digest_of(data: bytes) -> str:
    """Return the digest of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob_key(digest: str) -> str:
    """Return the relative key of a blob: ``sha256/ab/<hex>``."""
    hex_digest = check_digest(digest).removeprefix("sha256:")
    return f"sha256/{hex_digest[:2]}/{hex_digest}"


def hash_stream(stream: BinaryIO) -> tuple[str, int]:
    """Return (digest, size) of everything left in ``stream``."""
    hasher = hashlib.sha256()
    size = 0
    for chunk in iter_chunks(stream):
        hasher.update(chunk)
        size += len(chunk)
    return "sha256:" + hasher.hexdigest(), size


def copy_hashing(source: BinaryIO, target: BinaryIO) -> tuple[str, int]:
    """Copy ``source`` into ``target`` in chunks; return (digest, size) of what was copied."""
    hasher = hashlib.sha256()
    size = 0
    for chunk in iter_chunks(source):
        hasher.update(chunk)
        target.write(chunk)
        size += len(chunk)
    return "sha256:" + hasher.hexdigest(), size


def iter_chunks(stream: BinaryIO) -> Iterator[bytes]:
    """Yield ``stream`` in chunks of CHUNK_BYTES."""
    while chunk := stream.read(CHUNK_BYTES):
        yield chunk


def ensure_matches(digest: str, actual: str, location: str) -> None:
    """Raise CorruptBlobError when the content read (``actual``) is not ``digest``."""
    if actual != digest:
        raise CorruptBlobError(digest, actual, location)
