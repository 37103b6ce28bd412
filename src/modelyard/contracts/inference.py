"""Drafting a contract from data, for a person to review and edit."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import duckdb

from modelyard.clock import SYSTEM_CLOCK
from modelyard.contracts.contract import ColumnSpec, Contract
from modelyard.contracts.dtypes import CONTRACT_TYPES, Family, contract_type_of, family_of
from modelyard.contracts.rules import Freshness, RowCount, TableRule, format_duration
from modelyard.contracts.sources import VIEW, OpenedData, open_data, quote_identifier
from modelyard.errors import InvalidInputError

MAX_ALLOWED_VALUES = 20
"""A string column with at most this many distinct values gets an ``allowed`` list."""
_ID_LIKE = re.compile(r"(^|[_\-\s])(id|key|uuid)$|[a-z]Id$", re.IGNORECASE)
_DAY_S = 86_400


def infer_contract(data: object, name: str, *, now_ms: int | None = None) -> Contract:
    """Draft a contract that ``data`` satisfies: types, nullability, observed ranges and more.

    The draft declares each column of a known type with its type and nullability (non-nullable
    when it has no nulls), the observed min/max of numeric columns, an ``allowed`` list for
    string columns of at most 20 distinct values, ``unique`` for id-like integer or string
    columns whose values are all distinct, row-count bounds of half and twice the observed
    count, and a freshness rule on the first timestamp column (the observed age rounded up to
    whole days, at least one).

    Args:
        data: what :meth:`Contract.validate` accepts.
        name: the contract's name.
        now_ms: the time the freshness rule's age is measured against; the system clock if None.

    Raises:
        InvalidInputError: unsupported data or an unreadable file.
        CorruptDatasetError: a dataset version's Parquet file cannot be read.
        InvalidNameError: the name is not a valid contract name.
    """
    now = SYSTEM_CLOCK.time_ms() if now_ms is None else now_ms
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        opened = open_data(data, conn)
        typed = {
            column: contract_type_of(duckdb_type)
            for column, duckdb_type in opened.columns.items()
            if contract_type_of(duckdb_type) in CONTRACT_TYPES
        }
        stats = _statistics(conn, opened, typed)
        num_rows = int(str(stats.pop("__rows__")[0]))
        columns: dict[str, ColumnSpec] = {}
        for column, contract_type in typed.items():
            non_null, distinct, low, high = stats[column]
            columns[column] = _draft_column(
                conn, column, contract_type, num_rows, non_null, distinct, low, high
            )
    rules: list[TableRule] = [RowCount(min=num_rows // 2, max=max(num_rows * 2, 1))]
    for column, contract_type in typed.items():
        newest_ms = stats[column][3]
        if contract_type in ("timestamp", "timestamp_tz") and newest_ms is not None:
            age_days = max(1, math.ceil((now - int(str(newest_ms))) / 1000 / _DAY_S))
            rules.append(Freshness(column, format_duration(age_days * _DAY_S)))
            break
    return Contract(name, columns, rules, description=f"drafted from {opened.description}")


def _statistics(
    conn: duckdb.DuckDBPyConnection, opened: OpenedData, typed: dict[str, str]
) -> dict[str, tuple[object, ...]]:
    expressions = ["count(*)"]
    for column, contract_type in typed.items():
        quoted = quote_identifier(column)
        family = family_of(contract_type)
        expressions += [f"count({quoted})", f"count(DISTINCT {quoted})"]
        if family is Family.NUMERIC:
            expressions += [f"min({quoted})", f"max({quoted})"]
        elif contract_type in ("timestamp", "timestamp_tz"):
            expressions += ["NULL", f"epoch_ms(max({quoted})::TIMESTAMP)"]
        else:
            expressions += ["NULL", "NULL"]
    try:
        row = conn.execute(
            f"SELECT {', '.join(expressions)} FROM {quote_identifier(VIEW)}"
        ).fetchone()
    except duckdb.Error as exc:
        raise InvalidInputError(f"cannot read {opened.description}: {exc}") from exc
    if row is None:
        raise AssertionError("an aggregate without GROUP BY returns one row")
    stats: dict[str, tuple[object, ...]] = {"__rows__": (row[0],)}
    for position, column in enumerate(typed):
        stats[column] = tuple(row[1 + 4 * position : 5 + 4 * position])
    return stats


def _draft_column(
    conn: duckdb.DuckDBPyConnection,
    column: str,
    contract_type: str,
    num_rows: int,
    non_null: object,
    distinct: object,
    low: object,
    high: object,
) -> ColumnSpec:
    family = family_of(contract_type)
    has_nulls = non_null != num_rows
    spec = ColumnSpec(contract_type, nullable=has_nulls or num_rows == 0)
    if family is Family.NUMERIC and low is not None and high is not None:
        bounds = [_plain_number(low), _plain_number(high)]
        if all(math.isfinite(bound) for bound in bounds):
            spec = replace(spec, min=bounds[0], max=bounds[1])
    is_all_distinct = distinct == non_null == num_rows and num_rows > 1
    if (
        is_all_distinct
        and (family is Family.STRING or contract_type.startswith(("int", "uint")))
        and _ID_LIKE.search(column)
    ):
        spec = replace(spec, unique=True)
    elif (
        family is Family.STRING
        and isinstance(distinct, int)
        and 0 < distinct <= MAX_ALLOWED_VALUES
        and distinct < num_rows
    ):
        quoted = quote_identifier(column)
        values = conn.execute(
            f"SELECT DISTINCT {quoted} AS v FROM {quote_identifier(VIEW)} "
            f"WHERE {quoted} IS NOT NULL ORDER BY v"
        ).fetchall()
        spec = replace(spec, allowed=tuple(str(value[0]) for value in values))
    return spec


def _plain_number(value: object) -> float:
    if isinstance(value, int):
        return value
    return float(value)  # type: ignore[arg-type]  # DuckDB numbers: int, float or Decimal
