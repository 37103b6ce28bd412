"""What ``datasets.add`` accepts, opened as one stream of Arrow record batches.

A source is read batch by batch: Parquet files through ``ParquetFile.iter_batches``, CSV files
through ``pyarrow.csv.open_csv``, in-memory tables in slices. Nothing here reads a whole file
into memory, and every reading failure becomes an :class:`InvalidDatasetSourceError` that
names the file.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from modelyard.errors import InvalidDatasetSourceError

BATCH_ROWS = 65_536
_CSV_BLOCK_BYTES = 16 << 20  # CSV types are inferred from the first block: make it large
_PARQUET_SUFFIXES = (".parquet", ".pq")
_CSV_SUFFIXES = (".csv", ".csv.gz", ".csv.bz2", ".csv.zst")
_GLOB_CHARS = frozenset("*?[")
_SUPPORTED = (
    "give a pandas or polars DataFrame, a pyarrow Table or RecordBatchReader, or the path of a "
    "Parquet or CSV file, a directory of them, or a glob"
)

ArrowErrors = (pa.ArrowException, OSError)


@dataclass(frozen=True, slots=True)
class BatchSource:
    """A source opened for reading.

    Attributes:
        description: what the source was, for people ("pandas.DataFrame", a path, a glob).
        schema: the Arrow schema of every batch.
        rows_total: the number of rows when known before reading (None for CSV and readers).
        batches: the record batches, in order; iterating reads the source.
    """

    description: str
    schema: pa.Schema
    rows_total: int | None
    batches: Iterator[pa.RecordBatch]


def open_source(source: object) -> BatchSource:
    """Open ``source`` for reading as record batches.

    Args:
        source: a pandas or polars DataFrame, a pyarrow Table or RecordBatchReader, or a path
            (``str`` or ``Path``) of a Parquet or CSV file, a directory holding such files
            (all of them, sorted by path), or a glob such as ``"data/*.parquet"``.

    Raises:
        InvalidDatasetSourceError: an unsupported source, a missing or unreadable file, no
            files matched, or files whose columns differ.
    """
    if isinstance(source, pa.Table):
        return _from_table(source, "pyarrow.Table")
    if isinstance(source, pa.RecordBatchReader):
        return BatchSource("pyarrow.RecordBatchReader", source.schema, None, iter(source))
    if isinstance(source, str | Path):
        return _from_paths(source)
    module = type(source).__module__.split(".", 1)[0]
    kind = f"{module}.{type(source).__name__}"
    if kind == "pandas.DataFrame":
        return _from_table(_pandas_table(source), kind)
    if kind == "polars.DataFrame":
        return _from_table(_polars_table(source), kind)
    raise InvalidDatasetSourceError(
        f"a {type(source).__name__}", f"unsupported source; {_SUPPORTED}"
    )


def _from_table(table: pa.Table, description: str) -> BatchSource:
    return BatchSource(
        description, table.schema, table.num_rows, iter(table.to_batches(BATCH_ROWS))
    )


def _pandas_table(frame: object) -> pa.Table:
    try:
        # The index is not data: a dataset is its columns (a meaningful index: reset_index()).
        return pa.Table.from_pandas(frame, preserve_index=False)
    except ArrowErrors as error:
        raise InvalidDatasetSourceError("pandas.DataFrame", _reason(error)) from error


def _polars_table(frame: object) -> pa.Table:
    to_arrow: Callable[[], pa.Table] = getattr(frame, "to_arrow")  # noqa: B009 -- untyped polars
    return to_arrow()


# ------------------------------------------------------------------------- files


def _from_paths(source: str | Path) -> BatchSource:
    path = Path(source).expanduser()
    text = os.path.abspath(path)
    if isinstance(source, str) and _GLOB_CHARS & set(source) and not path.exists():
        files = sorted(Path(match) for match in glob.glob(text, recursive=True))
        files = [item for item in files if item.is_file() and _kind(item) is not None]
        if not files:
            raise InvalidDatasetSourceError(text, "no Parquet or CSV file matches this glob")
    elif path.is_dir():
        files = sorted(
            item
            for item in path.rglob("*")
            if item.is_file() and _kind(item) is not None and not _is_hidden(item, path)
        )
        if not files:
            raise InvalidDatasetSourceError(text, "the directory holds no .parquet or .csv file")
    elif path.is_file():
        if _kind(path) is None:
            raise InvalidDatasetSourceError(
                text, "unsupported file type; use a .parquet or .csv file"
            )
        files = [path]
    else:
        raise InvalidDatasetSourceError(text, "no such file or directory")
    first = _open_file(files[0])
    totals = [_parquet_rows(item) if _kind(item) == "parquet" else None for item in files]
    rows_total = None if None in totals else sum(total or 0 for total in totals)
    return BatchSource(text, first.schema, rows_total, _file_batches(files, first))


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if name.endswith(_CSV_SUFFIXES):
        return "csv"
    return None


def _is_hidden(path: Path, root: Path) -> bool:
    # Spark and Hive leave "_SUCCESS", "_metadata" and ".crc" files beside the data.
    return any(part.startswith((".", "_")) for part in path.relative_to(root).parts)


@dataclass(frozen=True, slots=True)
class _OpenFile:
    path: Path
    schema: pa.Schema
    batches: Iterator[pa.RecordBatch]


def _open_file(path: Path) -> _OpenFile:
    try:
        if _kind(path) == "parquet":
            # pre_buffer would read every row group ahead: the whole file in memory.
            parquet = pq.ParquetFile(path, pre_buffer=False)
            return _OpenFile(
                path, parquet.schema_arrow, _guarded(path, parquet.iter_batches(BATCH_ROWS))
            )
        reader = pa_csv.open_csv(
            path,
            read_options=pa_csv.ReadOptions(block_size=_CSV_BLOCK_BYTES),
            # An empty field is a missing value, as pandas and polars read it.
            convert_options=pa_csv.ConvertOptions(strings_can_be_null=True),
        )
        return _OpenFile(path, reader.schema, _guarded(path, iter(reader)))
    except ArrowErrors as error:
        raise InvalidDatasetSourceError(str(path), _reason(error)) from error


def _parquet_rows(path: Path) -> int:
    try:
        return int(pq.read_metadata(path).num_rows)
    except ArrowErrors as error:
        raise InvalidDatasetSourceError(str(path), _reason(error)) from error


def _guarded(path: Path, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """Yield ``batches``, turning a failure while reading into an error naming the file."""
    try:
        yield from batches
    except ArrowErrors as error:
        raise InvalidDatasetSourceError(str(path), _reason(error)) from error


def _file_batches(files: list[Path], first: _OpenFile) -> Iterator[pa.RecordBatch]:
    schema = first.schema
    yield from first.batches
    for path in files[1:]:
        opened = _open_file(path)
        if opened.schema.names != schema.names:
            raise InvalidDatasetSourceError(
                str(path),
                f"its columns {opened.schema.names} differ from those of {first.path} "
                f"{schema.names}",
            )
        is_same = opened.schema.equals(schema, check_metadata=False)
        for batch in opened.batches:
            yield batch if is_same else _cast(path, batch, schema)


def _cast(path: Path, batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    try:
        return batch.cast(schema)
    except ArrowErrors as error:
        raise InvalidDatasetSourceError(
            str(path), f"its column types do not match the first file's: {_reason(error)}"
        ) from error


def _reason(error: BaseException) -> str:
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__
