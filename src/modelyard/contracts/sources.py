"""The data a contract checks, opened as one DuckDB view without copying it."""

from __future__ import annotations

import inspect
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias, TypeGuard

import duckdb
import pandas as pd
import pyarrow as pa

from modelyard.errors import CorruptDatasetError, InvalidInputError

if TYPE_CHECKING:
    import polars as pl

VIEW = "data"
"""The name under which the data is visible to the engine's SQL."""


class DatasetVersionLike(Protocol):
    """What the engine needs of a dataset version (``modelyard.datasets.DatasetVersion``)."""

    @property
    def id(self) -> str:
        """The version's row id, to link stored reports to it."""
        ...

    @property
    def name(self) -> str:
        """The dataset's name."""
        ...

    @property
    def version(self) -> int:
        """The version number."""
        ...

    @property
    def ref(self) -> str:
        """``name/version``."""
        ...

    @property
    def path(self) -> Path:
        """The local Parquet file of the version (reading it reports lineage)."""
        ...


ValidationData: TypeAlias = (
    "DatasetVersionLike | pa.Table | pd.DataFrame | pl.DataFrame | str | os.PathLike[str]"
)
"""What :meth:`Contract.validate` accepts."""

_MISSING = object()


def is_dataset_version(data: object) -> TypeGuard[DatasetVersionLike]:
    """Tell whether ``data`` looks like a dataset version, without reading its properties."""
    # getattr_static: evaluating .path would fetch the file and report a lineage input.
    return not isinstance(data, type) and all(
        inspect.getattr_static(data, name, _MISSING) is not _MISSING
        for name in ("id", "name", "version", "ref", "path")
    )


@dataclass(frozen=True, slots=True)
class OpenedData:
    """Data visible as the view :data:`VIEW` of a connection."""

    description: str
    columns: dict[str, str]  # name -> DuckDB type, in the data's order
    dataset_version_id: str | None = None


def quote_identifier(name: str) -> str:
    """Return ``name`` as a DuckDB identifier: in double quotes, inner quotes doubled."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Return ``text`` as a DuckDB string literal (for table functions that take no parameters)."""
    return "'" + text.replace("'", "''") + "'"


def describe(data: object) -> str:
    """Return how reports name the data: a dataset ref, a path, or the frame's kind."""
    if is_dataset_version(data):
        return data.ref
    if isinstance(data, str | os.PathLike):
        return str(data)
    kind = type(data)
    return f"{kind.__module__.split('.')[0]}.{kind.__name__}"


def open_data(data: object, conn: duckdb.DuckDBPyConnection) -> OpenedData:
    """Make ``data`` visible as the view ``data`` of ``conn``: a file is scanned where it lies,
    an Arrow table or DataFrame is registered without a copy.

    Raises:
        InvalidInputError: the data is of an unsupported kind, or its file cannot be read.
        CorruptDatasetError: a dataset version's Parquet file cannot be read.
    """
    description = describe(data)
    if is_dataset_version(data):
        path = data.path
        try:
            _view_over_parquet(conn, path)
            return OpenedData(description, _columns(conn), str(data.id))
        except duckdb.Error as exc:
            raise CorruptDatasetError(data.name, data.version, _reason(exc)) from exc
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if not path.is_file():
            raise InvalidInputError(f"cannot validate {path}: no such file (give a Parquet file)")
        try:
            _view_over_parquet(conn, path)
            return OpenedData(description, _columns(conn))
        except duckdb.Error as exc:
            raise InvalidInputError(
                f"cannot validate {path}: it is not a readable Parquet file ({_reason(exc)})"
            ) from exc
    table = _as_registrable(data)
    if table is None:
        raise InvalidInputError(
            f"cannot validate a {description}: give a DatasetVersion, a pyarrow Table, a pandas "
            "or polars DataFrame, or the path of a Parquet file"
        )
    conn.register(VIEW, table)
    return OpenedData(description, _columns(conn))


def _as_registrable(data: object) -> object | None:
    table: object = None
    if isinstance(data, pa.Table | pd.DataFrame):
        table = data
    elif isinstance(data, pa.RecordBatch):
        table = pa.Table.from_batches([data])
    else:
        polars = sys.modules.get("polars")  # only a caller that imported polars has its frames
        if polars is not None and isinstance(data, polars.DataFrame):
            table = data.to_arrow()
    return table


def _view_over_parquet(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    # read_parquet takes no prepared parameters: the path goes in as an escaped literal.
    conn.execute(
        f"CREATE VIEW {quote_identifier(VIEW)} AS "
        f"SELECT * FROM read_parquet({quote_literal(str(path))})"
    )


def _columns(conn: duckdb.DuckDBPyConnection) -> dict[str, str]:
    rows = conn.execute(f"DESCRIBE SELECT * FROM {quote_identifier(VIEW)}").fetchall()
    return {str(row[0]): str(row[1]) for row in rows}


def _reason(exc: duckdb.Error) -> str:
    return str(exc).strip().splitlines()[0]
