"""The rule engine: every rule of a contract compiled into ONE DuckDB aggregate over the data.

One pass computes each rule's failing count or observed value; samples of failing rows are
fetched afterwards, only for the row rules that failed. Values reach SQL as prepared
parameters and column names as quoted identifiers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

import duckdb

from modelyard.clock import SYSTEM_CLOCK
from modelyard.contracts.dtypes import Family, contract_type_of, family_of
from modelyard.contracts.report import JsonValue, RuleResult, ValidationReport, json_value
from modelyard.contracts.rules import (
    CategoryShare,
    Freshness,
    LabelRate,
    Mean,
    Quantile,
    RowCount,
    Severity,
    TableRule,
    fits_family,
    format_duration,
    temporal_text,
)
from modelyard.contracts.sources import VIEW, OpenedData, open_data, quote_identifier
from modelyard.errors import InvalidInputError

if TYPE_CHECKING:
    from modelyard.contracts.contract import ColumnCheck, Contract

SAMPLE_ROWS = 5
SAMPLE_COLUMNS = 16
UNEXPECTED_VALUES = 10
_TABLE = quote_identifier(VIEW)
_FRESHNESS_TYPES = ("date", "timestamp", "timestamp_tz")


class _Params:
    """Prepared-statement parameters, numbered in the order they are added."""

    def __init__(self) -> None:
        self.values: list[object] = []

    def add(self, value: object) -> str:
        self.values.append(value)
        return f"${len(self.values)}"


class _Aggregate:
    """The select list of the one pass; expressions without parameters are shared."""

    def __init__(self) -> None:
        self.params = _Params()
        self.expressions: list[str] = []
        self._shared: dict[str, int] = {}

    def add(self, expression: str) -> int:
        if "$" not in expression and expression in self._shared:
            return self._shared[expression]
        self.expressions.append(expression)
        self._shared.setdefault(expression, len(self.expressions) - 1)
        return len(self.expressions) - 1

    def sql(self) -> str:
        return f"SELECT {', '.join(self.expressions)} FROM {_TABLE}"


Predicate = Callable[[_Params], str]
"""Builds the SQL condition of a failing row, adding its values to the given parameters."""


@dataclass
class _Pending:
    """A rule while the aggregate runs: where its numbers are, and how to judge them."""

    rule_id: str
    kind: str
    column: str | None
    severity: Severity
    expected: str
    mostly: float | None = None
    failing_at: int | None = None
    total_at: int | None = None
    observed_at: int | None = None
    predicate: Predicate | None = None
    unique_column: str | None = None
    failing_rows: int | None = None  # counted outside the aggregate (_GroupedChecks)
    judge: Callable[[list[object]], tuple[bool, JsonValue, str]] | None = None
    result: RuleResult | None = field(default=None)


def validate(contract: Contract, data: object, *, now_ms: int | None = None) -> ValidationReport:
    """Check ``data`` against ``contract`` (see :meth:`Contract.validate`).

    Raises:
        InvalidInputError: unsupported data, an unreadable file, or a query DuckDB rejects.
        CorruptDatasetError: a dataset version's Parquet file cannot be read.
    """
    now = SYSTEM_CLOCK.time_ms() if now_ms is None else now_ms
    with duckdb.connect() as conn:
        # Naive timestamps are read as UTC; the aggregate's threads share one connection.
        conn.execute("SET TimeZone = 'UTC'")
        opened = open_data(data, conn)
        aggregate = _Aggregate()
        rows_at = aggregate.add("count(*)")
        checks = contract.checks()
        grouped = _GroupedChecks(_few_distinct(conn, opened, checks))
        pending = [_compile_check(check, opened, aggregate, grouped) for check in checks]
        pending += [
            _compile_rule(index, rule, opened, aggregate, rows_at, now)
            for index, rule in enumerate(contract.rules)
        ]
        values = _run(conn, aggregate.sql(), aggregate.params.values, opened)
        grouped.run(conn, opened)
        num_rows = _count(values, rows_at)
        results = [_finish(item, values, conn, opened) for item in pending]
    return ValidationReport(
        contract=contract.name,
        contract_digest=contract.digest,
        data=opened.description,
        num_rows=num_rows,
        results=tuple(results),
        checked_at_ms=now,
    )


def _run(
    conn: duckdb.DuckDBPyConnection, sql: str, params: list[object], opened: OpenedData
) -> list[object]:
    try:
        row = conn.execute(sql, params).fetchone()
    except duckdb.Error as exc:
        raise InvalidInputError(
            f"cannot check {opened.description}: DuckDB rejected the checks ({exc})"
        ) from exc
    if row is None:
        raise AssertionError("an aggregate without GROUP BY returns one row")
    return list(row)


# ------------------------------------------------------------------ column rules


def _unchecked(item: _Pending, message: str) -> _Pending:
    item.result = RuleResult(
        item.rule_id, item.kind, item.column, item.severity, False, None, item.expected, message
    )
    return item


def _compile_check(
    check: ColumnCheck, opened: OpenedData, aggregate: _Aggregate, grouped: _GroupedChecks
) -> _Pending:
    item = _Pending(
        check.rule_id,
        check.kind,
        check.column,
        check.severity,
        _expected_check(check),
        check.mostly,
    )
    duckdb_type = opened.columns.get(check.column)
    if duckdb_type is None:
        if check.kind == "type":
            return _unchecked(item, f"column {check.column!r} is missing from the data")
        return _unchecked(item, f"not checked: column {check.column!r} is missing")
    actual = contract_type_of(duckdb_type)
    family = family_of(actual)
    if check.kind == "type":
        passed = actual == check.value
        message = "" if passed else f"column {check.column!r} is {actual}, not {check.value}"
        item.result = RuleResult(
            item.rule_id,
            "type",
            check.column,
            check.severity,
            passed,
            actual,
            item.expected,
            message,
        )
        return item
    column = quote_identifier(check.column)
    non_null_at = aggregate.add(f"count({column})")
    if check.kind == "not_null":
        item.failing_at = aggregate.add(f"count(*) - count({column})")
        item.total_at = aggregate.add("count(*)")
        item.predicate = lambda _params: f"{column} IS NULL"
        return item
    item.total_at = non_null_at
    if check.kind == "unique":
        # Counted after the aggregate by _duplicates: a count(DISTINCT) inside the one pass
        # holds every value of the column in memory next to the other rules' state.
        item.unique_column = check.column
        return item
    values = check.value if check.kind == "allowed" else (check.value,)
    if check.kind == "regex" and family is not Family.STRING:
        return _unchecked(item, f"not checked: column {check.column!r} is {actual}, not string")
    if not all(fits_family(value, family, actual) for value in values):  # type: ignore[attr-defined]
        return _unchecked(
            item,
            f"not checked: column {check.column!r} is {actual}; the rule compares other values",
        )
    literal = _literal_maker(family, actual, duckdb_type)
    is_float = actual in ("float32", "float64")
    if check.kind == "min":
        nan = f" OR isnan({column})" if is_float else ""
        item.predicate = lambda params: f"({column} < {literal(params, check.value)}{nan})"
        item.observed_at = aggregate.add(f"min({column})")
    elif check.kind == "max":
        item.predicate = lambda params: f"{column} > {literal(params, check.value)}"
        item.observed_at = aggregate.add(f"max({column})")
    elif check.kind == "allowed":
        item.predicate = lambda params: (
            f"{column} NOT IN ({', '.join(literal(params, v) for v in values)})"  # type: ignore[attr-defined]
        )
    else:  # regex
        item.predicate = lambda params: f"NOT regexp_matches({column}, {params.add(check.value)})"
    if check.kind in ("allowed", "regex") and check.column in grouped.columns:
        grouped.add(check.column, item)
        return item
    item.failing_at = aggregate.add(f"count(*) FILTER (WHERE {item.predicate(aggregate.params)})")
    return item


# A text column whose first rows hold at most this many distinct values has its allowed-value
# and regex rules judged once per distinct value (weighted by its count) instead of per row.
_FEW_DISTINCT = 1024
_PROBE_ROWS = 65_536
_ROWS_ALIAS = quote_identifier("__modelyard_rows__")


def _few_distinct(
    conn: duckdb.DuckDBPyConnection, opened: OpenedData, checks: list[ColumnCheck]
) -> set[str]:
    """Return the text columns with allowed/regex rules that look low-cardinality.

    The probe reads only the first rows; a wrong guess costs time, never correctness (a grouped
    count is exact whatever the cardinality).
    """
    candidates = sorted(
        {
            check.column
            for check in checks
            if check.kind in ("allowed", "regex")
            and check.column in opened.columns
            and family_of(contract_type_of(opened.columns[check.column])) is Family.STRING
        }
    )
    if not candidates:
        return set()
    quoted = [quote_identifier(column) for column in candidates]
    probe = (
        f"SELECT {', '.join(f'approx_count_distinct({name})' for name in quoted)} "
        f"FROM (SELECT {', '.join(quoted)} FROM {_TABLE} LIMIT {_PROBE_ROWS})"
    )
    row = conn.execute(probe).fetchone()
    if row is None:
        return set()
    return {column for column, seen in zip(candidates, row, strict=True) if seen <= _FEW_DISTINCT}


class _GroupedChecks:
    """Allowed-value and regex rules of low-cardinality text columns, counted per column over
    its (value, row count) groups: one small aggregate instead of a predicate per row."""

    def __init__(self, columns: set[str]) -> None:
        self.columns = columns
        self._items: dict[str, list[_Pending]] = {}

    def add(self, column: str, item: _Pending) -> None:
        self._items.setdefault(column, []).append(item)

    def run(self, conn: duckdb.DuckDBPyConnection, opened: OpenedData) -> None:
        for column, items in self._items.items():
            params = _Params()
            sums = ", ".join(
                f"coalesce(sum({_ROWS_ALIAS}) FILTER (WHERE {item.predicate(params)}), 0)"
                for item in items
                if item.predicate is not None  # set for every allowed and regex rule
            )
            quoted = quote_identifier(column)
            # The group key keeps the column's name, so the rules' predicates apply unchanged.
            query = (
                f"SELECT {sums} FROM (SELECT {quoted}, count(*) AS {_ROWS_ALIAS} "
                f"FROM {_TABLE} WHERE {quoted} IS NOT NULL GROUP BY 1)"
            )
            row = _run(conn, query, params.values, opened)
            for item, failing in zip(items, row, strict=True):
                item.failing_rows = int(cast(int, failing))


def _literal_maker(
    family: Family, actual: str, duckdb_type: str
) -> Callable[[_Params, object], str]:
    if family is Family.TEMPORAL:
        return lambda params, value: (
            f"CAST({params.add(temporal_text(value, actual))} AS {duckdb_type})"
        )
    return lambda params, value: params.add(value)


def _expected_check(check: ColumnCheck) -> str:
    value = check.value
    if check.kind == "allowed":
        text = "one of " + _short_list(value)
    else:
        text = {
            "type": f"type {value}",
            "not_null": "no nulls",
            "min": f">= {value}",
            "max": f"<= {value}",
            "regex": f"matches {value}",
            "unique": "no duplicates",
        }[check.kind]
    if check.mostly is not None:
        rows = "rows" if check.kind == "not_null" else "non-null rows"
        text += f" for at least {check.mostly:.2%} of {rows}"
    return text


def _short_list(values: object) -> str:
    items = [str(json_value(item)) for item in values]  # type: ignore[attr-defined]
    shown = ", ".join(items[:UNEXPECTED_VALUES])
    return f"[{shown}{', …' if len(items) > UNEXPECTED_VALUES else ''}]"


# ------------------------------------------------------------------ table rules


def _compile_rule(
    index: int,
    rule: TableRule,
    opened: OpenedData,
    aggregate: _Aggregate,
    rows_at: int,
    now_ms: int,
) -> _Pending:
    item = _Pending(
        f"rules[{index}].{rule.kind}", rule.kind, rule.column, rule.severity, _expected_rule(rule)
    )
    if isinstance(rule, RowCount):
        item.observed_at = rows_at
        item.judge = lambda values: _within(values[rows_at], rule.min, rule.max, "row count")
        return item
    duckdb_type = opened.columns.get(rule.column)
    if duckdb_type is None:
        return _unchecked(item, f"not checked: column {rule.column!r} is missing")
    actual = contract_type_of(duckdb_type)
    family = family_of(actual)
    column = quote_identifier(rule.column)
    params = aggregate.params
    if isinstance(rule, Freshness):
        if actual not in _FRESHNESS_TYPES:
            return _unchecked(item, f"not checked: column {rule.column!r} is {actual}")
        at = aggregate.add(f"epoch_ms(max({column})::TIMESTAMP)")
        item.judge = lambda values: _fresh(values[at], now_ms, rule.max_age_s)
        return item
    if isinstance(rule, Mean | Quantile):
        if family is not Family.NUMERIC:
            return _unchecked(item, f"not checked: column {rule.column!r} is {actual}")
        if isinstance(rule, Mean):
            at = aggregate.add(f"avg({column})::DOUBLE")
        else:  # q is a checked float; quantile_cont needs it constant, so it is inlined
            at = aggregate.add(f"quantile_cont({column}, {float(rule.q)!r})::DOUBLE")
        item.judge = lambda values: _within(values[at], rule.min, rule.max, rule.kind)
        return item
    positive = rule.value if isinstance(rule, CategoryShare) else rule.positive
    if positive is None:
        if family is Family.BOOL:
            positive = True
        elif family is Family.NUMERIC:
            positive = 1
        else:
            return _unchecked(
                item, f"not checked: column {rule.column!r} is {actual}; set positive"
            )
    if not fits_family(positive, family, actual):
        return _unchecked(item, f"not checked: column {rule.column!r} is {actual}")
    literal = _literal_maker(family, actual, duckdb_type)(params, positive)
    hits_at = aggregate.add(f"count(*) FILTER (WHERE {column} = {literal})")
    total_at = aggregate.add(f"count({column})")
    item.judge = lambda values: _share(values[hits_at], values[total_at], rule)
    return item


def _expected_rule(rule: TableRule) -> str:
    if isinstance(rule, Freshness):
        return f"newest {rule.column} at most {format_duration(rule.max_age_s)} old"
    what = {
        "row_count": "rows",
        "mean": f"mean of {rule.column}",
        "quantile": f"quantile {getattr(rule, 'q', '')} of {rule.column}",
        "category_share": f"share of {rule.column} = {getattr(rule, 'value', '')}",
        "label_rate": f"rate of positive {rule.column}",
    }[rule.kind]
    low, high = getattr(rule, "min", None), getattr(rule, "max", None)
    if low is not None and high is not None:
        return f"{low} <= {what} <= {high}"
    if low is not None:
        return f"{what} >= {low}"
    return f"{what} <= {high}" if high is not None else f"{what}: any"


def _within(
    observed: object, low: float | None, high: float | None, what: str
) -> tuple[bool, JsonValue, str]:
    if observed is None:
        return False, None, f"{what} cannot be computed: no non-null values"
    value = float(observed)  # type: ignore[arg-type]  # counts, averages and quantiles
    shown: JsonValue = json_value(observed if isinstance(observed, int) else value)
    if value != value:
        return False, shown, f"{what} is not a number"
    if low is not None and value < low:
        return False, shown, f"{what} {shown} is below {low}"
    if high is not None and value > high:
        return False, shown, f"{what} {shown} is above {high}"
    return True, shown, ""


def _fresh(newest_ms: object, now_ms: int, max_age_s: float) -> tuple[bool, JsonValue, str]:
    if newest_ms is None:
        return False, None, "no non-null values: freshness cannot be measured"
    age_s = (now_ms - int(newest_ms)) / 1000  # type: ignore[call-overload]  # epoch_ms is an int
    if age_s > max_age_s:
        return False, age_s, f"the newest value is {age_s:g}s old, over {max_age_s:g}s"
    return True, age_s, ""


def _share(
    hits: object, total: object, rule: CategoryShare | LabelRate
) -> tuple[bool, JsonValue, str]:
    if not total:
        return False, None, f"{rule.kind} cannot be computed: no non-null values"
    share = int(hits) / int(total)  # type: ignore[call-overload]  # counts
    return _within(share, rule.min, rule.max, rule.kind)


# ------------------------------------------------------------------ results


def _finish(
    item: _Pending, values: list[object], conn: duckdb.DuckDBPyConnection, opened: OpenedData
) -> RuleResult:
    if item.result is not None:
        return item.result
    if item.judge is not None:
        is_passed, seen, why = item.judge(values)
        return RuleResult(
            item.rule_id, item.kind, item.column, item.severity, is_passed, seen, item.expected, why
        )
    if item.unique_column is not None:
        failing, repeated = _duplicates(conn, item.unique_column)
        item.predicate = _one_of(item.unique_column, repeated)
    elif item.failing_rows is not None:
        failing = item.failing_rows
    else:
        failing = _count(values, item.failing_at)
    total = _count(values, item.total_at)
    fraction = failing / total if total else 0.0
    if item.mostly is None:
        passed = failing == 0
    else:
        passed = total == 0 or (total - failing) / total >= item.mostly
    observed: JsonValue = failing
    if item.observed_at is not None:
        observed = json_value(values[item.observed_at])
    message = ""
    sample: list[dict[str, JsonValue]] = []
    if failing:
        rows = "rows" if item.kind == "not_null" else "non-null rows"
        message = f"{failing} of {total} {rows} ({fraction:.2%}) fail"
        if not passed and item.predicate is not None and item.column is not None:
            sample = _sample(conn, opened, item.column, item.predicate)
            if item.kind == "allowed":
                observed = _unexpected(conn, item.column, item.predicate)
    return RuleResult(
        item.rule_id,
        item.kind,
        item.column,
        item.severity,
        passed,
        observed,
        item.expected,
        message,
        failing,
        fraction,
        tuple(sample),
    )


def _count(values: list[object], at: int | None) -> int:
    value = values[at] if at is not None else None
    if not isinstance(value, int):
        raise AssertionError(f"a count is an int, not {value!r}")
    return value


def _duplicates(conn: duckdb.DuckDBPyConnection, column: str) -> tuple[int, list[object]]:
    """Count the non-null rows that repeat an earlier value of ``column``; return the count and
    up to SAMPLE_ROWS repeated values.

    Two stages in one statement: group the values' 64-bit hashes (8 bytes per value, not the
    value) to find colliding hashes, then group only the rows whose hash collides by the value
    itself, so a hash collision between different values is never counted as a duplicate.
    """
    quoted = quote_identifier(column)
    query = (
        f"WITH colliding AS (SELECT hash({quoted}) AS h FROM {_TABLE} "
        f"WHERE {quoted} IS NOT NULL GROUP BY 1 HAVING count(*) > 1), "
        f"repeated AS (SELECT {quoted} AS v, count(*) AS c FROM {_TABLE} "
        f"WHERE {quoted} IS NOT NULL AND hash({quoted}) IN (SELECT h FROM colliding) "
        "GROUP BY 1 HAVING count(*) > 1) "
        f"SELECT coalesce(sum(c) - count(*), 0), list(v ORDER BY v)[1:{SAMPLE_ROWS}] "
        "FROM repeated"
    )
    row = conn.execute(query).fetchone()
    if row is None:
        raise AssertionError("an aggregate without GROUP BY returns one row")
    return int(row[0]), list(row[1] or [])


def _one_of(column: str, values: list[object]) -> Predicate:
    """The condition of rows whose ``column`` holds one of ``values``."""
    quoted = quote_identifier(column)

    def predicate(params: _Params) -> str:
        if not values:
            return "false"
        return f"{quoted} IN ({', '.join(params.add(value) for value in values)})"

    return predicate


def _sample(
    conn: duckdb.DuckDBPyConnection, opened: OpenedData, column: str, predicate: Predicate
) -> list[dict[str, JsonValue]]:
    names = [column, *(name for name in opened.columns if name != column)][:SAMPLE_COLUMNS]
    params = _Params()
    where = predicate(params)
    selected = ", ".join(quote_identifier(name) for name in names)
    # Insertion order is preserved (DuckDB's default), so the sample is the first failing rows.
    query = f"SELECT {selected} FROM {_TABLE} WHERE {where} LIMIT {SAMPLE_ROWS}"
    rows = conn.execute(query, params.values).fetchall()
    return [
        {name: json_value(value) for name, value in zip(names, row, strict=True)} for row in rows
    ]


def _unexpected(
    conn: duckdb.DuckDBPyConnection, column: str, predicate: Predicate
) -> list[JsonValue]:
    params = _Params()
    quoted = quote_identifier(column)
    query = (
        f"SELECT DISTINCT {quoted} AS v FROM {_TABLE} WHERE {predicate(params)} "
        f"ORDER BY v LIMIT {UNEXPECTED_VALUES}"
    )
    return [json_value(row[0]) for row in conn.execute(query, params.values).fetchall()]
