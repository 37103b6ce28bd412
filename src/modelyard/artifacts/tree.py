"""Directories as blobs: each file is a blob, and a manifest blob names them all."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from modelyard.artifacts.store import ArtifactStore, BlobInfo
from modelyard.errors import InvalidNameError

MANIFEST_FORMAT = "modelyard.tree/1"

Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class TreeEntry:
    """One file of a stored directory."""

    path: str
    digest: str
    size_bytes: int


@dataclass(frozen=True, slots=True)
class TreeInfo:
    """A stored directory: the manifest's digest and what it lists."""

    digest: str
    entries: tuple[TreeEntry, ...]

    @property
    def size_bytes(self) -> int:
        """Total size of the files."""
        return sum(entry.size_bytes for entry in self.entries)


def put_tree(store: ArtifactStore, directory: Path, progress: Progress | None = None) -> TreeInfo:
    """Store every file below ``directory`` and a manifest of them; return the manifest.

    The manifest is canonical JSON (sorted paths, sorted keys), so the same files under the same
    relative paths always give the same digest.
    """
    files = sorted(path for path in directory.rglob("*") if path.is_file())
    entries: list[TreeEntry] = []
    for done, path in enumerate(files, start=1):
        info: BlobInfo = store.put_file(path)
        relative = path.relative_to(directory).as_posix()
        entries.append(TreeEntry(relative, info.digest, info.size_bytes))
        if progress is not None:
            progress(done, len(files))
    manifest = {
        "format": MANIFEST_FORMAT,
        "files": [
            {"path": entry.path, "digest": entry.digest, "size": entry.size_bytes}
            for entry in entries
        ],
    }
    data = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    return TreeInfo(store.put_bytes(data).digest, tuple(entries))


def read_tree(store: ArtifactStore, digest: str) -> TreeInfo:
    """Return the manifest stored under ``digest`` (verified)."""
    manifest = json.loads(store.read_bytes(digest))
    entries = tuple(
        TreeEntry(item["path"], item["digest"], int(item["size"])) for item in manifest["files"]
    )
    return TreeInfo(digest, entries)


def get_tree(
    store: ArtifactStore, digest: str, dest: Path, progress: Progress | None = None
) -> Path:
    """Write the stored directory into ``dest`` (each file verified) and return ``dest``."""
    tree = read_tree(store, digest)
    dest.mkdir(parents=True, exist_ok=True)
    for done, entry in enumerate(tree.entries, start=1):
        store.get_file(entry.digest, dest / safe_relative(entry.path))
        if progress is not None:
            progress(done, len(tree.entries))
    return dest


def safe_relative(path: str) -> Path:
    """Return ``path`` as a relative path that cannot escape its destination.

    Raises:
        InvalidNameError: for an absolute path or one with ``..``.
    """
    pure = PurePosixPath(path)
    if pure.is_absolute() or ".." in pure.parts or not pure.parts:
        raise InvalidNameError("artifact path", path, "must be relative and stay inside its root")
    return Path(*pure.parts)
