"""A run's artifacts: files and directories stored by digest, listed by path, downloadable."""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select

from modelyard.artifacts import ArtifactStore, get_tree, put_tree, read_tree
from modelyard.artifacts.tree import Progress, safe_relative
from modelyard.clock import Clock, from_ms
from modelyard.errors import (
    ArtifactExistsError,
    ArtifactPathNotFoundError,
    ArtifactStoreUnavailableError,
    InvalidNameError,
)
from modelyard.ids import RunId
from modelyard.metastore import Metastore
from modelyard.metastore.tables import run_artifacts

FILE = "file"
DIRECTORY = "dir"


@dataclass(frozen=True, slots=True)
class ArtifactRecord:
    """An artifact logged by a run: a file, a directory, or a file inside a logged directory."""

    path: str
    digest: str
    kind: str
    size_bytes: int
    file_count: int
    created_at: datetime


class RunArtifacts:
    """Log, list and download the artifacts of runs."""

    def __init__(self, metastore: Metastore, store: ArtifactStore, clock: Clock) -> None:
        self._db = metastore
        self.store = store
        self._clock = clock

    def log(
        self,
        run_id: RunId,
        source: Path,
        name: str | None = None,
        progress: Progress | None = None,
    ) -> ArtifactRecord:
        """Store a file or a directory as the run's artifact ``name`` (default: its basename).

        Logging the same content under the same name again is a no-op.

        Raises:
            ArtifactStoreUnavailableError: ``source`` does not exist or cannot be read.
            ArtifactExistsError: ``name`` already holds other content in this run.
            InvalidNameError: ``name`` is absolute or climbs out with ``..``.
        """
        path = safe_relative(name or source.name).as_posix()
        if source.is_dir():
            tree = put_tree(self.store, source, progress)
            digest, kind = tree.digest, DIRECTORY
            size, count = tree.size_bytes, len(tree.entries)
        elif source.is_file():
            info = self.store.put_file(source)
            digest, kind, size, count = info.digest, FILE, info.size_bytes, 1
        else:
            raise ArtifactStoreUnavailableError(
                self.store.root, f"no file or directory at {source}"
            )
        with self._db.write() as conn:
            existing = conn.execute(
                select(run_artifacts.c.digest).where(
                    run_artifacts.c.run_id == run_id, run_artifacts.c.path == path
                )
            ).scalar_one_or_none()
            if existing is not None and existing != digest:
                raise ArtifactExistsError(run_id, path, existing, digest)
            if existing is None:
                conn.execute(
                    run_artifacts.insert(),
                    {
                        "run_id": run_id,
                        "path": path,
                        "digest": digest,
                        "kind": kind,
                        "size_bytes": size,
                        "file_count": count,
                        "created_at_ms": self._clock.time_ms(),
                    },
                )
        return self.get(run_id, path)

    def list(self, run_id: RunId, *, expand: bool = False) -> builtins.list[ArtifactRecord]:
        """Return the run's artifacts by path; with ``expand``, the files inside directories too."""
        query = (
            select(run_artifacts)
            .where(run_artifacts.c.run_id == run_id)
            .order_by(run_artifacts.c.path)
        )
        with self._db.read() as conn:
            records = [_to_record(row) for row in conn.execute(query)]
        if not expand:
            return records
        listed: builtins.list[ArtifactRecord] = []
        for record in records:
            listed.append(record)
            if record.kind == DIRECTORY:
                for entry in read_tree(self.store, record.digest).entries:
                    listed.append(
                        ArtifactRecord(
                            f"{record.path}/{entry.path}",
                            entry.digest,
                            FILE,
                            entry.size_bytes,
                            1,
                            record.created_at,
                        )
                    )
        return listed

    def get(self, run_id: RunId, path: str) -> ArtifactRecord:
        """Return the artifact logged at ``path``.

        Raises:
            ArtifactPathNotFoundError: naming the paths the run does have.
        """
        with self._db.read() as conn:
            row = conn.execute(
                select(run_artifacts).where(
                    run_artifacts.c.run_id == run_id, run_artifacts.c.path == path
                )
            ).first()
        if row is None:
            raise ArtifactPathNotFoundError(
                run_id, path, [record.path for record in self.list(run_id)]
            )
        return _to_record(row)

    def download(self, run_id: RunId, dest: Path, path: str | None = None) -> Path:
        """Write the run's artifact ``path`` (or all of them) under ``dest``; return ``dest``.

        Every file is verified against its digest on the way.

        Raises:
            ArtifactPathNotFoundError, CorruptBlobError, BlobNotFoundError.
            InvalidNameError: ``dest`` exists and is not a directory.
        """
        records = [self.get(run_id, path)] if path is not None else self.list(run_id)
        if dest.exists() and not dest.is_dir():
            raise InvalidNameError(
                "download destination", str(dest), "must be a directory or not exist yet"
            )
        dest.mkdir(parents=True, exist_ok=True)
        for record in records:
            target = dest / safe_relative(record.path)
            if record.kind == DIRECTORY:
                get_tree(self.store, record.digest, target)
            else:
                self.store.get_file(record.digest, target)
        return dest

    def verify(self, run_id: RunId) -> builtins.list[ArtifactRecord]:
        """Re-hash every blob of the run's artifacts; return them when all match.

        Raises:
            CorruptBlobError: the first blob that no longer matches its digest.
        """
        records = self.list(run_id, expand=True)
        for record in records:
            self.store.verify(record.digest)
        return records


def _to_record(row: object) -> ArtifactRecord:
    m = row._mapping  # type: ignore[attr-defined]
    if m["kind"] not in (FILE, DIRECTORY):
        raise InvalidNameError("artifact kind", str(m["kind"]), "must be file or dir")
    return ArtifactRecord(
        path=m["path"],
        digest=m["digest"],
        kind=m["kind"],
        size_bytes=int(m["size_bytes"]),
        file_count=int(m["file_count"]),
        created_at=from_ms(int(m["created_at_ms"])),
    )
