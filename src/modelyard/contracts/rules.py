"""The rules of a contract: per-rule options, table rules, durations and value checks."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import ClassVar, Literal

import duckdb

from modelyard.contracts.dtypes import Family

Severity = Literal["error", "warn"]
SEVERITIES: tuple[str, ...] = ("error", "warn")

Scalar = int | float | str | bool | date | datetime | time
"""A value a rule compares with: a number, a string, a boolean, or a date/time (ISO text too)."""


@dataclass(frozen=True, slots=True)
class Check:
    """The long form of one column rule, overriding the column's ``mostly`` and ``severity``.

    Example:
        >>> ColumnSpec("float64", min=Check(0, mostly=0.95, severity="warn"))  # doctest: +SKIP
    """

    value: object
    mostly: float | None = None
    severity: Severity | None = None


# ------------------------------------------------------------------------- durations

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhd])")
_UNIT_S = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}


def parse_duration(text: str | int | float) -> float | None:
    """Return the seconds of "2d", "36h", "1d12h", "90m", "30s" (a number is seconds), or None."""
    if isinstance(text, bool):
        return None
    if isinstance(text, int | float):
        return float(text) if math.isfinite(text) and text > 0 else None
    if not isinstance(text, str):
        return None
    compact = text.replace(" ", "")
    parts = _DURATION_PART.findall(compact)
    if not parts or "".join(number + unit for number, unit in parts) != compact:
        return None
    seconds = sum(float(number) * _UNIT_S[unit] for number, unit in parts)
    return seconds if seconds > 0 else None


def format_duration(seconds: float) -> str:
    """Return the shortest exact spelling of a duration: 172800 -> "2d", 5400 -> "90m"."""
    for unit in ("d", "h", "m"):
        count = seconds / _UNIT_S[unit]
        if count == int(count):
            return f"{int(count)}{unit}"
    return f"{int(seconds)}s" if seconds == int(seconds) else f"{seconds}s"


# ------------------------------------------------------------------------- table rules


@dataclass(frozen=True, slots=True)
class RowCount:
    """The number of rows lies within [min, max]."""

    kind: ClassVar[str] = "row_count"
    min: int | None = None
    max: int | None = None
    severity: Severity = "error"

    @property
    def column(self) -> str | None:
        """Row counts concern no column."""
        return None


@dataclass(frozen=True, slots=True)
class Freshness:
    """The newest value of a date or timestamp column is at most ``max_age`` old ("2d", "6h")."""

    kind: ClassVar[str] = "freshness"
    column: str
    max_age: str | float
    severity: Severity = "error"

    def __post_init__(self) -> None:
        seconds = parse_duration(self.max_age)
        if seconds is not None:  # one spelling per duration: "48h" is "2d"
            object.__setattr__(self, "max_age", format_duration(seconds))

    @property
    def max_age_s(self) -> float:
        """The maximum age in seconds."""
        seconds = parse_duration(self.max_age)
        if seconds is None:
            raise AssertionError(f"unchecked duration {self.max_age!r}")
        return seconds


@dataclass(frozen=True, slots=True)
class Mean:
    """The mean of a numeric column (nulls left out) lies within [min, max]."""

    kind: ClassVar[str] = "mean"
    column: str
    min: float | None = None
    max: float | None = None
    severity: Severity = "error"


@dataclass(frozen=True, slots=True)
class Quantile:
    """The ``q`` quantile (linear interpolation, nulls left out) lies within [min, max]."""

    kind: ClassVar[str] = "quantile"
    column: str
    q: float
    min: float | None = None
    max: float | None = None
    severity: Severity = "error"


@dataclass(frozen=True, slots=True)
class CategoryShare:
    """The share of non-null rows equal to ``value`` lies within [min, max]."""

    kind: ClassVar[str] = "category_share"
    column: str
    value: Scalar
    min: float | None = None
    max: float | None = None
    severity: Severity = "error"


@dataclass(frozen=True, slots=True)
class LabelRate:
    """The share of non-null labels equal to ``positive`` (true or 1 by default) is in range."""

    kind: ClassVar[str] = "label_rate"
    column: str
    min: float | None = None
    max: float | None = None
    positive: Scalar | None = None
    severity: Severity = "error"


TableRule = RowCount | Freshness | Mean | Quantile | CategoryShare | LabelRate
"""Any rule over the whole table."""

TABLE_RULES: dict[str, type[TableRule]] = {
    cls.kind: cls for cls in (RowCount, Freshness, Mean, Quantile, CategoryShare, LabelRate)
}
"""Table rules by their YAML name."""

TABLE_RULE_KEYS: dict[str, tuple[str, ...]] = {
    "row_count": ("min", "max", "severity"),
    "freshness": ("column", "max_age", "severity"),
    "mean": ("column", "min", "max", "severity"),
    "quantile": ("column", "q", "min", "max", "severity"),
    "category_share": ("column", "value", "min", "max", "severity"),
    "label_rate": ("column", "min", "max", "positive", "severity"),
}
"""The keys each table rule takes, in canonical order."""

TABLE_RULE_REQUIRED: dict[str, tuple[str, ...]] = {
    "row_count": (),
    "freshness": ("column", "max_age"),
    "mean": ("column",),
    "quantile": ("column", "q"),
    "category_share": ("column", "value"),
    "label_rate": ("column",),
}


def table_rule_problems(rule: TableRule) -> list[tuple[str, str]]:
    """Return (key, reason) for each thing wrong with a table rule (key relative to the rule)."""
    problems: list[tuple[str, str]] = []
    if rule.severity not in SEVERITIES:
        problems.append(("severity", f"severity must be error or warn, not {rule.severity!r}"))
    if not isinstance(rule, RowCount) and not (isinstance(rule.column, str) and rule.column):
        problems.append(("column", "column must be a non-empty string"))
    if isinstance(rule, Freshness):
        if parse_duration(rule.max_age) is None:
            problems.append(
                ("max_age", f'max_age {rule.max_age!r} is not a duration such as "2d", "6h", "30m"')
            )
        return problems
    if isinstance(rule, RowCount):
        for key in ("min", "max"):
            value = getattr(rule, key)
            if value is not None and (not _is_int(value) or value < 0):
                problems.append((key, f"{key} must be a whole number of rows, not {value!r}"))
    else:
        is_share = isinstance(rule, CategoryShare | LabelRate)
        for key in ("min", "max"):
            value = getattr(rule, key)
            if value is None:
                continue
            if not is_number(value):
                problems.append((key, f"{key} must be a number, not {value!r}"))
            elif is_share and not 0 <= value <= 1:
                problems.append((key, f"{key} is a share: use a number from 0 to 1, not {value}"))
    if isinstance(rule, Quantile) and not (is_number(rule.q) and 0 <= rule.q <= 1):
        problems.append(("q", f"q must be a number from 0 to 1, not {rule.q!r}"))
    if isinstance(rule, CategoryShare) and not is_scalar(rule.value):
        problems.append(("value", f"value must be a string, number or boolean, not {rule.value!r}"))
    if isinstance(rule, LabelRate) and rule.positive is not None and not is_scalar(rule.positive):
        problems.append(("positive", f"positive must be a scalar, not {rule.positive!r}"))
    if not problems:
        low, high = getattr(rule, "min", None), getattr(rule, "max", None)
        if low is not None and high is not None and low > high:
            problems.append(("min", f"min {low} is greater than max {high}"))
    return problems


# ------------------------------------------------------------------------- values


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """Tell whether a value is a finite int or float (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


def is_scalar(value: object) -> bool:
    """Tell whether a value may be compared with column values."""
    return isinstance(value, str | bool | date | time) or is_number(value)


def fits_family(value: object, family: Family, contract_type: str) -> bool:
    """Tell whether ``value`` can be compared with values of a column of that type."""
    if family is Family.NUMERIC:
        return is_number(value)
    if family is Family.BOOL:
        return isinstance(value, bool)
    if family is Family.STRING:
        return isinstance(value, str)
    if family is Family.TEMPORAL:
        return temporal_text(value, contract_type) is not None
    return False


def temporal_text(value: object, contract_type: str) -> str | None:
    """Return the ISO text of a date/time value for a column of that type, or None if it is not."""
    if contract_type == "time":
        if isinstance(value, time):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return time.fromisoformat(value).isoformat()
            except ValueError:
                return None
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return (
                datetime.fromisoformat(value).isoformat()
                if "T" in value or " " in value
                else (date.fromisoformat(value).isoformat())
            )
        except ValueError:
            return None
    return None


def plain_value(value: object) -> object:
    """Return a value as YAML and JSON write it: a date/time becomes ISO text, a tuple a list."""
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [plain_value(item) for item in value]
    if isinstance(value, Mapping):
        return {str(key): plain_value(item) for key, item in value.items()}
    return value


def regex_problem(pattern: str) -> str | None:
    """Return why DuckDB (RE2) cannot use ``pattern``, or None when it can."""
    try:
        re.compile(pattern)
    except re.error as exc:
        return f"regex {pattern!r} does not compile: {exc}"
    try:
        with duckdb.connect() as conn:
            conn.execute("SELECT regexp_matches('', $1)", [pattern]).fetchall()
    except duckdb.Error as exc:
        return f"regex {pattern!r} is not supported by the RE2 engine: {exc}"
    return None
