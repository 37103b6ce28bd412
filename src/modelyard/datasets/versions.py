"""Dataset versions as callers see them, and the readers that open their Parquet file."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from modelyard.artifacts import ArtifactStore
from modelyard.clock import from_ms
from modelyard.datasets.schema import ColumnSchema, ColumnSummary
from modelyard.errors import CorruptDatasetError, InvalidNameError
from modelyard.ids import DatasetVersionId, RunId
from modelyard.lineage import LineageInput, report_input

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

DEFAULT_BATCH_ROWS = 65_536
_READ_ERRORS = (pa.ArrowException, OSError)


class DatasetFiles:
    """Where the Parquet file of a version is read: in place, or from a verified local copy.

    A local artifact store keeps the blob on this disk: it is read where it lies. Blobs of a
    remote store are fetched once into ``cache_dir/<hex digest>.parquet``, verified against the
    digest on the way, and read from there afterwards.
    """

    def __init__(self, artifacts: ArtifactStore, cache_dir: Path) -> None:
        self.artifacts = artifacts
        self.cache_dir = cache_dir

    def local_path(self, digest: str) -> Path:
        """Return a readable local file holding the blob ``digest``.

        Raises:
            BlobNotFoundError: the blob is not in the store.
            CorruptBlobError: a fetched copy does not match the digest.
        """
        in_place = self.artifacts.local_path(digest)
        if in_place is not None:
            return in_place
        cached = self.cache_dir / f"{digest.removeprefix('sha256:')}.parquet"
        if not cached.is_file():
            self.artifacts.get_file(digest, cached)
        return cached

    def checkout(self, digest: str, dest: Path) -> Path:
        """Write the blob to ``dest``, verified against its digest (atomic)."""
        return self.artifacts.get_file(digest, dest)


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """A dataset at a glance: its latest version's shape, its version count and its tags.

    ``num_rows``, ``num_columns`` and ``size_bytes`` are those of the latest version.
    """

    name: str
    description: str
    latest_version: int | None
    num_versions: int
    num_rows: int | None
    num_columns: int | None
    size_bytes: int | None
    created_at_ms: int
    updated_at_ms: int
    tags: Mapping[str, int] = field(default_factory=dict)

    @property
    def updated_at(self) -> datetime:
        """When the dataset last got a version (UTC)."""
        return from_ms(self.updated_at_ms)


@dataclass(frozen=True, slots=True)
class DatasetVersion:
    """One immutable version of a dataset: a Parquet snapshot addressed by its digest.

    The readers (:attr:`path`, :meth:`to_arrow`, :meth:`to_pandas`, :meth:`to_polars`,
    :meth:`iter_batches`, :meth:`relation`) report the version as an input of the run recording
    in this context (see :mod:`modelyard.lineage`).

    Example:
        >>> version = ws.datasets.get("transactions@prod")  # doctest: +SKIP
        >>> frame = version.to_pandas(columns=["amount", "is_fraud"])  # doctest: +SKIP
    """

    id: DatasetVersionId
    name: str
    version: int
    digest: str
    num_rows: int
    num_columns: int
    size_bytes: int
    schema: tuple[ColumnSchema, ...]
    summary: Mapping[str, ColumnSummary]
    source: str
    description: str
    tags: tuple[str, ...]
    created_by_run: RunId | None
    created_by: str | None
    created_at_ms: int
    _files: DatasetFiles = field(repr=False, compare=False)

    @property
    def ref(self) -> str:
        """``name/version``."""
        return f"{self.name}/{self.version}"

    @property
    def created_at(self) -> datetime:
        """When the version was added (UTC)."""
        return from_ms(self.created_at_ms)

    @property
    def columns(self) -> list[str]:
        """The column names, in order."""
        return [column.name for column in self.schema]

    @property
    def path(self) -> Path:
        """The local Parquet file of this version, to read only (never write to it).

        Raises:
            BlobNotFoundError: the blob is missing from the artifact store.
            CorruptBlobError: a copy fetched from a remote store does not match the digest.
        """
        self._report()
        return self._files.local_path(self.digest)

    def to_arrow(self, columns: Sequence[str] | None = None) -> pa.Table:
        """Read the version (or some of its columns) as a pyarrow Table.

        Raises:
            InvalidNameError: a requested column is not in the version.
            CorruptDatasetError: the stored Parquet file cannot be read.
        """
        wanted = self._check_columns(columns)
        path = self.path
        try:
            return pq.read_table(path, columns=wanted, memory_map=True)
        except _READ_ERRORS as error:
            raise CorruptDatasetError(self.name, self.version, _first_line(error)) from error

    def to_pandas(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Read the version (or some of its columns) as a pandas DataFrame.

        Raises:
            InvalidNameError: a requested column is not in the version.
            CorruptDatasetError: the stored Parquet file cannot be read.
        """
        frame: pd.DataFrame = self.to_arrow(columns).to_pandas()
        return frame

    def to_polars(self, columns: Sequence[str] | None = None) -> pl.DataFrame:
        """Read the version (or some of its columns) as a polars DataFrame.

        Raises:
            InvalidNameError: a requested column is not in the version.
            CorruptDatasetError: the stored Parquet file cannot be read.
        """
        import polars as pl

        frame = pl.from_arrow(self.to_arrow(columns))
        assert isinstance(frame, pl.DataFrame)  # from_arrow of a Table is a DataFrame
        return frame

    def iter_batches(
        self, batch_size: int = DEFAULT_BATCH_ROWS, columns: Sequence[str] | None = None
    ) -> Iterator[pa.RecordBatch]:
        """Yield the version's rows as record batches of at most ``batch_size`` rows.

        Only one batch (and the row group it comes from) is in memory at a time.

        Raises:
            InvalidNameError: a requested column is not in the version.
            CorruptDatasetError: the stored Parquet file cannot be read.
        """
        wanted = self._check_columns(columns)
        path = self.path
        try:
            # Without pre_buffer only the row group being read is in memory.
            parquet = pq.ParquetFile(path, memory_map=True, pre_buffer=False)
        except _READ_ERRORS as error:
            raise CorruptDatasetError(self.name, self.version, _first_line(error)) from error
        return self._guarded(parquet.iter_batches(batch_size=batch_size, columns=wanted))

    def _guarded(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        try:
            yield from batches
        except _READ_ERRORS as error:
            raise CorruptDatasetError(self.name, self.version, _first_line(error)) from error

    def relation(
        self, connection: duckdb.DuckDBPyConnection | None = None
    ) -> duckdb.DuckDBPyRelation:
        """Return a DuckDB relation over the version's Parquet file (lazy: nothing is read yet).

        Args:
            connection: the DuckDB connection to bind it to (default: DuckDB's default one).

        Raises:
            CorruptDatasetError: the stored file is not readable Parquet.
        """
        path = str(self.path)
        try:
            if connection is None:
                return duckdb.read_parquet(path)
            return connection.read_parquet(path)
        except duckdb.Error as error:
            raise CorruptDatasetError(self.name, self.version, _first_line(error)) from error

    def _report(self) -> None:
        report_input(
            LineageInput(
                kind="dataset", name=self.name, version=str(self.version), digest=self.digest
            )
        )

    def _check_columns(self, columns: Sequence[str] | None) -> list[str] | None:
        if columns is None:
            return None
        if isinstance(columns, str):
            columns = [columns]
        known = set(self.columns)
        for name in columns:
            if name not in known:
                raise InvalidNameError(
                    "column",
                    name,
                    f"{self.ref} has no such column (columns: {', '.join(self.columns)})",
                )
        return list(columns)


def new_version_id() -> DatasetVersionId:
    """Return a fresh dataset version id: 32 lowercase hex digits."""
    return DatasetVersionId(uuid.uuid4().hex)


def _first_line(error: BaseException) -> str:
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__
