"""Writing a stream of record batches as one canonical Parquet file, hashed while it is written.

The same content must give the same bytes, whatever the source and however it was chunked, so
that the digest identifies the content:

* types are normalised (``large_string`` and ``string_view`` to ``string``, dictionaries to
  their values, the same for binary), and every schema or field metadata (pandas') is dropped;
* row groups are cut by content, not by the incoming batches: a group closes at
  :data:`ROW_GROUP_ROWS` rows or when the estimated in-memory width of its rows passes
  :data:`ROW_GROUP_BYTES`, and each group is written from one contiguous chunk;
* the writer settings are fixed (zstd level 3, 1 MiB pages, Parquet format 2.6).

Memory stays bounded by about two row groups, whatever the size of the source.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from modelyard.datasets.sources import ArrowErrors, BatchSource
from modelyard.errors import InvalidDatasetSourceError

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

ROW_GROUP_ROWS = 1 << 20
ROW_GROUP_BYTES = 128 << 20
_NESTED_VALUE_BYTES = 8  # width assumed per element of a list or map when estimating row widths

Progress = Callable[[int, int | None], None]


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A written Parquet file: its digest, size, row count and (normalised) schema."""

    path: Path
    digest: str
    size_bytes: int
    num_rows: int
    schema: pa.Schema


def canonical_schema(schema: pa.Schema) -> pa.Schema:
    """Return ``schema`` with normalised types and without metadata."""
    return pa.schema(
        [pa.field(item.name, _canonical_type(item.type), item.nullable) for item in schema]
    )


def _canonical_type(arrow_type: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(arrow_type):
        return _canonical_type(arrow_type.value_type)
    if pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type):
        return pa.string()
    if pa.types.is_large_binary(arrow_type) or pa.types.is_binary_view(arrow_type):
        return pa.binary()
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        item = arrow_type.value_field
        return pa.list_(pa.field(item.name, _canonical_type(item.type), item.nullable))
    if pa.types.is_struct(arrow_type):
        return pa.struct(
            [
                pa.field(child.name, _canonical_type(child.type), child.nullable)
                for child in arrow_type
            ]
        )
    return arrow_type


def write_snapshot(source: BatchSource, target: Path, progress: Progress | None) -> Snapshot:
    """Write every batch of ``source`` to ``target`` as canonical Parquet, hashing the bytes.

    Raises:
        InvalidDatasetSourceError: the source has no columns, repeats a column name, or fails
            while it is read (the partial file is left for the caller to remove).
    """
    _check_columns(source)
    schema = canonical_schema(source.schema)
    with target.open("wb") as handle:
        sink = _HashingFile(handle)
        writer = pq.ParquetWriter(
            sink,
            schema,
            compression="zstd",
            compression_level=3,
            version="2.6",
            data_page_size=1 << 20,
            use_dictionary=True,
            write_statistics=True,
        )
        groups = _RowGroups(schema)
        rows_done = 0
        try:
            for batch in source.batches:
                for group in groups.add(_conform(source, batch, schema)):
                    writer.write_table(group, row_group_size=group.num_rows)
                rows_done += batch.num_rows
                if progress is not None:
                    progress(rows_done, source.rows_total)
            for group in groups.finish():
                writer.write_table(group, row_group_size=group.num_rows)
        finally:
            writer.close()
    return Snapshot(target, sink.digest, sink.size, rows_done, schema)


def _check_columns(source: BatchSource) -> None:
    names = source.schema.names
    if not names:
        raise InvalidDatasetSourceError(source.description, "it has no columns")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise InvalidDatasetSourceError(
            source.description, f"column names must be unique; repeated: {', '.join(repeated)}"
        )


def _conform(source: BatchSource, batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    try:
        columns = [
            column if column.type == item.type else column.cast(item.type)
            for column, item in zip(batch.columns, schema, strict=True)
        ]
        return pa.RecordBatch.from_arrays(columns, schema=schema)
    except ArrowErrors as error:
        raise InvalidDatasetSourceError(source.description, str(error)) from error


class _RowGroups:
    """Re-chunks batches into row groups whose boundaries depend only on the rows."""

    def __init__(self, schema: pa.Schema) -> None:
        self._schema = schema
        self._pending: list[pa.RecordBatch] = []
        self._rows = 0
        self._bytes = 0

    def add(self, batch: pa.RecordBatch) -> Iterator[pa.Table]:
        """Take ``batch``; yield every row group it completes."""
        while batch.num_rows:
            widths = np.cumsum(_row_widths(batch))
            room_rows = ROW_GROUP_ROWS - self._rows
            fits = int(np.searchsorted(widths, ROW_GROUP_BYTES - self._bytes, side="right"))
            take = min(room_rows, fits, batch.num_rows)
            if take == 0 and self._rows == 0:
                take = 1  # a single row wider than a row group still has to go somewhere
            if take:
                self._pending.append(batch.slice(0, take))
                self._rows += take
                self._bytes += int(widths[take - 1])
            if take < batch.num_rows or self._rows == ROW_GROUP_ROWS:
                yield self._flush()
            batch = batch.slice(take)

    def finish(self) -> Iterator[pa.Table]:
        """Yield the last, partial row group (if any)."""
        if self._rows:
            yield self._flush()

    def _flush(self) -> pa.Table:
        group = pa.Table.from_batches(self._pending, schema=self._schema).combine_chunks()
        self._pending, self._rows, self._bytes = [], 0, 0
        return group


def _row_widths(batch: pa.RecordBatch) -> np.ndarray:
    """Estimate each row's in-memory bytes from its values alone (not from how it is chunked)."""
    widths = np.zeros(batch.num_rows, dtype=np.int64)
    for column in batch.columns:
        widths += _column_widths(column)
    return widths


def _column_widths(column: pa.Array) -> np.ndarray | int:
    arrow_type = column.type
    if pa.types.is_string(arrow_type) or pa.types.is_binary(arrow_type):
        lengths = pc.fill_null(pc.binary_length(column), 0)
        return _as_int64(lengths) + 4
    if pa.types.is_list(arrow_type):
        lengths = pc.fill_null(pc.list_value_length(column), 0)
        return _as_int64(lengths) * _NESTED_VALUE_BYTES + 4
    if pa.types.is_struct(arrow_type):
        total: np.ndarray | int = 1
        for index in range(arrow_type.num_fields):
            total = total + _column_widths(pc.struct_field(column, [index]))
        return total
    try:
        return max(1, int(arrow_type.bit_width) // 8)
    except ValueError:  # types without a fixed width (maps, unions): a flat estimate
        return 4 * _NESTED_VALUE_BYTES


def _as_int64(lengths: pa.Array) -> np.ndarray:
    values: np.ndarray = lengths.to_numpy(zero_copy_only=False).astype(np.int64)
    return values


class _HashingFile(io.RawIOBase):
    """A write-only file that hashes what passes through it to the real file."""

    def __init__(self, target: io.BufferedWriter) -> None:
        super().__init__()
        self._target = target
        self._hasher = hashlib.sha256()
        self.size = 0

    @property
    def digest(self) -> str:
        """The digest of everything written so far."""
        return "sha256:" + self._hasher.hexdigest()

    def writable(self) -> bool:
        """Yes."""
        return True

    def write(self, data: ReadableBuffer, /) -> int:
        """Hash ``data`` and write it through."""
        view = memoryview(data)
        self._hasher.update(view)
        self._target.write(view)
        self.size += view.nbytes
        return view.nbytes

    def tell(self) -> int:
        """The number of bytes written."""
        return self.size
