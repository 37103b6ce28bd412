"""Per-column statistics of a written Parquet file, computed by DuckDB in one aggregate pass.

The pass computes, for every column, the null count and whatever suits its type: min/max,
mean/std of numbers (booleans as 0/1), and an approximate distinct count (HyperLogLog). String
columns found to have few distinct values then get their most frequent values, counted in a
second query over those columns alone.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from modelyard.datasets.schema import ColumnSummary, Scalar, TopValue, finite_or_none

LOW_CARDINALITY = 20
TOP_VALUES = 10


def summarize(path: Path, schema: pa.Schema) -> dict[str, ColumnSummary]:
    """Return the summary of every column of the Parquet file at ``path``.

    Raises:
        duckdb.Error: the file cannot be scanned (the caller translates it).
    """
    plans = [_plan(item) for item in schema]
    selects = ["count(*)"] + [expression for plan in plans for expression in plan.expressions]
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        row = conn.execute(
            f"SELECT {', '.join(selects)} FROM read_parquet($path)", {"path": str(path)}
        ).fetchone()
        assert row is not None  # an aggregate without GROUP BY returns one row
        num_rows = int(row[0])
        values = list(row[1:])
        summaries: dict[str, ColumnSummary] = {}
        for plan in plans:
            taken, values = values[: len(plan.expressions)], values[len(plan.expressions) :]
            summaries[plan.name] = plan.read(num_rows, taken)
        for plan in plans:
            summary = summaries[plan.name]
            if plan.kind == "string" and _is_low_cardinality(summary):
                top = _top_values(conn, path, plan.name)
                summaries[plan.name] = dataclasses.replace(summary, top_values=tuple(top))
    return summaries


def quote(name: str) -> str:
    """Return ``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


class _Plan:
    """The aggregates for one column and how to read their results back."""

    def __init__(self, name: str, kind: str) -> None:
        self.name = name
        self.kind = kind
        column = quote(name)
        self.expressions = [f"count({column})"]
        if kind == "float":
            # NaN is not a value to summarise: it would be every float column's max and mean.
            kind = self.kind = "number"
            column = f"CASE WHEN isnan({column}) THEN NULL ELSE {column} END"
        if kind in ("number", "bool", "string", "temporal"):
            low, high = f"min({column})", f"max({column})"
            if kind == "temporal":
                low, high = f"CAST({low} AS VARCHAR)", f"CAST({high} AS VARCHAR)"
            self.expressions += [low, high, f"approx_count_distinct({column})"]
        if kind in ("number", "bool"):
            numeric = f"CAST({column} AS DOUBLE)"
            self.expressions += [f"avg({numeric})", f"stddev_samp({numeric})"]

    def read(self, num_rows: int, values: list[object]) -> ColumnSummary:
        null_count = num_rows - int(str(values[0]))
        if len(values) == 1:
            return ColumnSummary(null_count=null_count)
        low, high, distinct = _scalar(values[1]), _scalar(values[2]), values[3]
        mean = std = None
        if len(values) == 6:
            mean, std = finite_or_none(_number(values[4])), finite_or_none(_number(values[5]))
        return ColumnSummary(
            null_count=null_count,
            min=low,
            max=high,
            mean=mean,
            std=std,
            approx_distinct=int(str(distinct)),
        )


def _plan(item: pa.Field) -> _Plan:
    arrow_type = item.type
    if pa.types.is_boolean(arrow_type):
        kind = "bool"
    elif pa.types.is_integer(arrow_type) or pa.types.is_decimal(arrow_type):
        kind = "number"
    elif pa.types.is_floating(arrow_type):
        kind = "float"
    elif pa.types.is_string(arrow_type):
        kind = "string"
    elif pa.types.is_temporal(arrow_type) and not pa.types.is_duration(arrow_type):
        kind = "temporal"
    else:
        kind = "other"
    return _Plan(item.name, kind)


def _is_low_cardinality(summary: ColumnSummary) -> bool:
    distinct = summary.approx_distinct
    return distinct is not None and 0 < distinct <= LOW_CARDINALITY


def _top_values(conn: duckdb.DuckDBPyConnection, path: Path, name: str) -> list[TopValue]:
    column = quote(name)
    rows = conn.execute(
        f"SELECT {column}, count(*) AS n FROM read_parquet($path) WHERE {column} IS NOT NULL "
        f"GROUP BY {column} ORDER BY n DESC, {column} LIMIT {TOP_VALUES}",
        {"path": str(path)},
    ).fetchall()
    return [TopValue(str(value), int(count)) for value, count in rows]


def _number(value: object) -> float | None:
    if value is None:
        return None
    return float(str(value))


def _scalar(value: object) -> Scalar:
    """Return a min/max as JSON can hold it."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float | decimal.Decimal):
        return finite_or_none(float(value))
    if isinstance(value, dt.date | dt.time | dt.datetime):
        return value.isoformat()
    return str(value)
