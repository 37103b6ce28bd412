"""The dataset store: add versions, resolve references, tag, list, diff and check out."""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
from sqlalchemy import Connection, Row, and_, func, select, update

from modelyard.artifacts import ArtifactStore
from modelyard.clock import Clock
from modelyard.datasets.diff import DatasetDiff, diff_versions
from modelyard.datasets.schema import (
    ColumnSchema,
    schema_of,
    summaries_from_dict,
    summaries_to_dict,
)
from modelyard.datasets.snapshot import Snapshot, write_snapshot
from modelyard.datasets.sources import open_source
from modelyard.datasets.summary import summarize
from modelyard.datasets.versions import DatasetFiles, DatasetInfo, DatasetVersion, new_version_id
from modelyard.errors import (
    ArtifactStoreUnavailableError,
    CorruptBlobError,
    DatasetNotFoundError,
    DatasetVersionNotFoundError,
    InvalidDatasetSourceError,
    InvalidInputError,
    InvalidReferenceError,
)
from modelyard.ids import DatasetVersionId, Reference, RunId, check_name, parse_reference
from modelyard.lineage import LineageInput, current_run_id, report_input
from modelyard.metastore import Metastore
from modelyard.metastore.tables import dataset_tags, dataset_versions, datasets
from modelyard.metastore.upsert import insert_ignore, upsert
from modelyard.settings import current_user

Progress = Callable[[int, int | None], None]
_STAGING_DIR = ".staging"


class DatasetStore:
    """Versioned datasets: each version an immutable Parquet snapshot addressed by its digest.

    Args:
        metastore: where datasets, versions and tags are recorded.
        artifacts: where the Parquet snapshots are stored (by digest).
        clock: the time of records.
        cache_dir: where snapshots are staged while added, and where verified copies of blobs
            from a remote artifact store are kept for reading.
    """

    def __init__(
        self, metastore: Metastore, artifacts: ArtifactStore, clock: Clock, cache_dir: Path
    ) -> None:
        self._db = metastore
        self._artifacts = artifacts
        self._clock = clock
        self._cache_dir = cache_dir
        self._files = DatasetFiles(artifacts, cache_dir)

    # ------------------------------------------------------------------ adding

    def add(
        self,
        name: str,
        source: object,
        *,
        description: str = "",
        tags: Iterable[str] = (),
        allow_empty: bool = False,
        progress: Progress | None = None,
    ) -> DatasetVersion:
        """Snapshot ``source`` as the next version of dataset ``name`` (created on first use).

        The source is streamed batch by batch into one Parquet file with fixed settings, so the
        same content always gives the same digest; memory stays bounded by about two row groups
        whatever the size of the source. Content identical to an existing version of ``name``
        returns that version (``tags`` are still applied).

        Args:
            name: the dataset's name.
            source: a pandas or polars DataFrame, a pyarrow Table or RecordBatchReader, or the
                path of a Parquet or CSV file, of a directory of them, or a glob.
            description: the version's description (also becomes the dataset's description
                when not empty).
            tags: tags to point at the version (``name@tag`` then resolves to it).
            allow_empty: accept a source without rows.
            progress: called with (rows written, total rows or None) after each batch.

        Returns:
            The new version, or the existing one with the same content.

        Raises:
            InvalidNameError: a bad dataset or tag name.
            InvalidDatasetSourceError: an unsupported, missing, unreadable or corrupt source,
                no columns, or no rows without ``allow_empty``; nothing is stored.
            ArtifactStoreUnavailableError: the snapshot cannot be staged or stored.
        """
        check_name("dataset name", name)
        tag_names = [check_name("tag", tag) for tag in tags]
        opened = open_source(source)
        staged = self._staging_path()
        try:
            snapshot = write_snapshot(opened, staged, progress)
            if snapshot.num_rows == 0 and not allow_empty:
                raise InvalidDatasetSourceError(
                    opened.description, "it has no rows (pass allow_empty=True to add it anyway)"
                )
            existing = self._version_id_of(name, snapshot.digest)
            if existing is None:
                return self._store_new(name, opened.description, snapshot, description, tag_names)
        finally:
            staged.unlink(missing_ok=True)
        if tag_names:
            with self._db.write() as conn:
                dataset_id = self._dataset_row(conn, name, for_update=True).id
                for tag in tag_names:
                    self._set_tag(conn, dataset_id, tag, existing)
        return self._by_id(existing)

    def _store_new(
        self,
        name: str,
        source: str,
        snapshot: Snapshot,
        description: str,
        tags: Sequence[str],
    ) -> DatasetVersion:
        try:
            summary = summarize(snapshot.path, snapshot.schema)
        except duckdb.Error as error:
            raise InvalidDatasetSourceError(
                source, f"its columns cannot be summarised: {error}"
            ) from error
        stored = self._artifacts.put_file(snapshot.path, move=True)
        if stored.digest != snapshot.digest:
            raise CorruptBlobError(snapshot.digest, stored.digest, str(snapshot.path))
        now = self._clock.time_ms()
        with self._db.write() as conn:
            conn.execute(
                insert_ignore(self._db.dialect, datasets),
                {
                    "id": uuid.uuid4().hex,
                    "name": name,
                    "description": description,
                    "created_at_ms": now,
                    "updated_at_ms": now,
                },
            )
            dataset = self._dataset_row(conn, name, for_update=True)
            # A concurrent add of the same content may have won the race while we wrote.
            raced = conn.execute(
                select(dataset_versions.c.id).where(
                    dataset_versions.c.dataset_id == dataset.id,
                    dataset_versions.c.digest == snapshot.digest,
                )
            ).scalar_one_or_none()
            version_id = DatasetVersionId(raced) if raced is not None else new_version_id()
            if raced is None:
                conn.execute(
                    dataset_versions.insert(),
                    {
                        "id": version_id,
                        "dataset_id": dataset.id,
                        "version": (self._latest(conn, dataset.id) or 0) + 1,
                        "digest": snapshot.digest,
                        "num_rows": snapshot.num_rows,
                        "num_columns": len(snapshot.schema),
                        "size_bytes": snapshot.size_bytes,
                        "schema": json.dumps(
                            [column.to_dict() for column in schema_of(snapshot.schema)]
                        ),
                        "summary": json.dumps(summaries_to_dict(summary), allow_nan=False),
                        "source": source,
                        "description": description,
                        "created_by_run": current_run_id(),
                        "created_by": current_user(),
                        "created_at_ms": now,
                    },
                )
                values: dict[str, object] = {"updated_at_ms": now}
                if description:
                    values["description"] = description
                conn.execute(update(datasets).where(datasets.c.id == dataset.id).values(values))
            for tag in tags:
                self._set_tag(conn, dataset.id, tag, version_id)
        return self._by_id(version_id)

    def _staging_path(self) -> Path:
        staging = self._cache_dir / _STAGING_DIR
        try:
            staging.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ArtifactStoreUnavailableError(str(staging), str(error)) from error
        return staging / f"{uuid.uuid4().hex}.parquet"

    # ------------------------------------------------------------------ reading

    def get(self, ref: str, version: int | None = None) -> DatasetVersion:
        """Return the version a reference names: ``tx`` (latest), ``tx/3``, ``tx@prod``.

        Args:
            ref: the reference.
            version: a version number, as an alternative to writing ``tx/3``.

        Raises:
            InvalidReferenceError: the reference does not parse, or names a version or tag
                while ``version`` is given too.
            DatasetNotFoundError: no dataset has that name (with close matches).
            DatasetVersionNotFoundError: no such version or tag.
        """
        reference = parse_reference(ref)
        if version is not None:
            if reference.version is not None or reference.alias is not None:
                raise InvalidReferenceError(
                    ref, "give the version in the reference or as an argument, not both"
                )
            reference = Reference(reference.name, version=version)
        with self._db.read() as conn:
            row = self._resolve(conn, reference)
            return self._to_versions(conn, [row])[0]

    def list(self) -> builtins.list[DatasetInfo]:
        """Return every dataset, by name, with its latest version, version count and tags."""
        counts = (
            select(
                dataset_versions.c.dataset_id,
                func.max(dataset_versions.c.version).label("latest"),
                func.count().label("num_versions"),
            )
            .group_by(dataset_versions.c.dataset_id)
            .subquery()
        )
        query = (
            select(
                datasets,
                counts.c.latest,
                counts.c.num_versions,
                dataset_versions.c.num_rows,
                dataset_versions.c.num_columns,
                dataset_versions.c.size_bytes,
            )
            .outerjoin(counts, counts.c.dataset_id == datasets.c.id)
            .outerjoin(
                dataset_versions,
                and_(
                    dataset_versions.c.dataset_id == datasets.c.id,
                    dataset_versions.c.version == counts.c.latest,
                ),
            )
            .order_by(datasets.c.name)
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
            tags: dict[str, dict[str, int]] = {}
            for dataset_id, tag, number in conn.execute(
                select(dataset_tags.c.dataset_id, dataset_tags.c.tag, dataset_versions.c.version)
                .join(dataset_versions, dataset_versions.c.id == dataset_tags.c.version_id)
                .order_by(dataset_tags.c.tag)
            ).all():
                tags.setdefault(dataset_id, {})[tag] = int(number)
        return [
            DatasetInfo(
                name=row.name,
                description=row.description,
                latest_version=_int_or_none(row.latest),
                num_versions=int(row.num_versions or 0),
                num_rows=_int_or_none(row.num_rows),
                num_columns=_int_or_none(row.num_columns),
                size_bytes=_int_or_none(row.size_bytes),
                created_at_ms=int(row.created_at_ms),
                updated_at_ms=int(row.updated_at_ms),
                tags=tags.get(row.id, {}),
            )
            for row in rows
        ]

    def versions(self, name: str) -> builtins.list[DatasetVersion]:
        """Return every version of dataset ``name``, newest first.

        Raises:
            DatasetNotFoundError: no dataset has that name.
        """
        with self._db.read() as conn:
            dataset = self._dataset_row(conn, name)
            rows = conn.execute(
                self._version_query()
                .where(dataset_versions.c.dataset_id == dataset.id)
                .order_by(dataset_versions.c.version.desc())
            ).all()
            return self._to_versions(conn, rows)

    def diff(self, a: str | DatasetVersion, b: str | DatasetVersion) -> DatasetDiff:
        """Compare two versions (references or versions) from their stored summaries.

        Raises:
            InvalidReferenceError, DatasetNotFoundError, DatasetVersionNotFoundError: for a
                reference that names no version.
        """
        old = a if isinstance(a, DatasetVersion) else self.get(a)
        new = b if isinstance(b, DatasetVersion) else self.get(b)
        return diff_versions(old, new)

    def checkout(self, ref: str, directory: str | Path) -> Path:
        """Write a version's Parquet file into ``directory`` as ``<name>-v<version>.parquet``.

        The file is verified against the version's digest while it is copied and appears
        complete or not at all.

        Raises:
            DatasetNotFoundError, DatasetVersionNotFoundError: no such version.
            BlobNotFoundError: the snapshot is missing from the artifact store.
            CorruptBlobError: the stored snapshot no longer matches its digest.
            InvalidInputError: ``directory`` cannot be written.
        """
        version = self.get(ref)
        dest = Path(directory) / f"{version.name}-v{version.version}.parquet"
        report_input(
            LineageInput(
                kind="dataset",
                name=version.name,
                version=str(version.version),
                digest=version.digest,
            )
        )
        try:
            return self._files.checkout(version.digest, dest)
        except OSError as error:
            raise InvalidInputError(f"cannot write {dest}: {error}") from error

    # ------------------------------------------------------------------ tags

    def tag(self, name: str, version: int, tag: str) -> DatasetVersion:
        """Point ``tag`` at ``name/version`` (moving it from another version if needed).

        Raises:
            InvalidNameError: a bad tag name.
            DatasetNotFoundError, DatasetVersionNotFoundError: no such version.
        """
        check_name("tag", tag)
        with self._db.write() as conn:
            row = self._resolve(conn, Reference(name, version=version))
            self._set_tag(conn, row.dataset_id, tag, row.id)
        return self._by_id(row.id)

    def untag(self, name: str, tag: str) -> None:
        """Remove ``tag`` from dataset ``name``.

        Raises:
            DatasetNotFoundError: no dataset has that name.
            DatasetVersionNotFoundError: the dataset has no such tag.
        """
        with self._db.write() as conn:
            dataset = self._dataset_row(conn, name, for_update=True)
            deleted = conn.execute(
                dataset_tags.delete().where(
                    dataset_tags.c.dataset_id == dataset.id, dataset_tags.c.tag == tag
                )
            ).rowcount
            if not deleted:
                raise DatasetVersionNotFoundError(name, f"@{tag}", self._latest(conn, dataset.id))

    def _set_tag(self, conn: Connection, dataset_id: str, tag: str, version_id: str) -> None:
        conn.execute(
            upsert(
                self._db.dialect,
                dataset_tags,
                ["dataset_id", "tag"],
                ["version_id", "updated_at_ms"],
            ),
            {
                "dataset_id": dataset_id,
                "tag": tag,
                "version_id": version_id,
                "updated_at_ms": self._clock.time_ms(),
            },
        )

    # ------------------------------------------------------------------ rows

    def _dataset_row(self, conn: Connection, name: str, *, for_update: bool = False) -> Row[Any]:
        query = select(datasets).where(datasets.c.name == name)
        if for_update and self._db.dialect == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            names = conn.execute(select(datasets.c.name)).scalars().all()
            raise DatasetNotFoundError(name, builtins.list(names))
        return row

    def _resolve(self, conn: Connection, reference: Reference) -> Row[Any]:
        dataset = self._dataset_row(conn, reference.name)
        query = self._version_query().where(dataset_versions.c.dataset_id == dataset.id)
        if reference.version is not None:
            row = conn.execute(query.where(dataset_versions.c.version == reference.version)).first()
            wanted = str(reference.version)
        elif reference.alias is not None:
            row = conn.execute(
                query.join(dataset_tags, dataset_tags.c.version_id == dataset_versions.c.id).where(
                    dataset_tags.c.dataset_id == dataset.id, dataset_tags.c.tag == reference.alias
                )
            ).first()
            wanted = f"@{reference.alias}"
        else:
            row = conn.execute(query.order_by(dataset_versions.c.version.desc()).limit(1)).first()
            wanted = "latest"
        if row is None:
            raise DatasetVersionNotFoundError(
                reference.name, wanted, self._latest(conn, dataset.id)
            )
        return row

    def _latest(self, conn: Connection, dataset_id: str) -> int | None:
        latest = conn.execute(
            select(func.max(dataset_versions.c.version)).where(
                dataset_versions.c.dataset_id == dataset_id
            )
        ).scalar_one()
        return None if latest is None else int(latest)

    def _version_id_of(self, name: str, digest: str) -> DatasetVersionId | None:
        with self._db.read() as conn:
            found = conn.execute(
                select(dataset_versions.c.id)
                .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
                .where(datasets.c.name == name, dataset_versions.c.digest == digest)
            ).scalar_one_or_none()
        return None if found is None else DatasetVersionId(found)

    def _by_id(self, version_id: str) -> DatasetVersion:
        with self._db.read() as conn:
            row = conn.execute(
                self._version_query().where(dataset_versions.c.id == version_id)
            ).one()
            return self._to_versions(conn, [row])[0]

    @staticmethod
    def _version_query() -> Any:
        return select(dataset_versions, datasets.c.name.label("dataset_name")).join(
            datasets, datasets.c.id == dataset_versions.c.dataset_id
        )

    def _to_versions(
        self, conn: Connection, rows: Sequence[Row[Any]]
    ) -> builtins.list[DatasetVersion]:
        tags: dict[str, builtins.list[str]] = {}
        if rows:
            for version_id, tag in conn.execute(
                select(dataset_tags.c.version_id, dataset_tags.c.tag)
                .where(dataset_tags.c.version_id.in_([row.id for row in rows]))
                .order_by(dataset_tags.c.tag)
            ).all():
                tags.setdefault(version_id, []).append(tag)
        return [
            DatasetVersion(
                id=DatasetVersionId(row.id),
                name=row.dataset_name,
                version=int(row.version),
                digest=row.digest,
                num_rows=int(row.num_rows),
                num_columns=int(row.num_columns),
                size_bytes=int(row.size_bytes),
                schema=tuple(ColumnSchema.from_dict(item) for item in json.loads(row.schema)),
                summary=summaries_from_dict(json.loads(row.summary)),
                source=row.source,
                description=row.description,
                tags=tuple(tags.get(row.id, ())),
                created_by_run=None if row.created_by_run is None else RunId(row.created_by_run),
                created_by=row.created_by,
                created_at_ms=int(row.created_at_ms),
                _files=self._files,
            )
            for row in rows
        ]


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))
