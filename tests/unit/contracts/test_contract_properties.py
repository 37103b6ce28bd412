"""Property tests: the DuckDB rule engine agrees with a plain-Python reference on small frames."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.contracts import (
    CategoryShare,
    Check,
    ColumnSpec,
    Contract,
    Mean,
    Quantile,
    RowCount,
    TableRule,
)
from modelyard.contracts.engine import SAMPLE_ROWS

WORDS = ["a", "b", "ab", "ba", "c'x", 'q"', ""]
PATTERNS = ["^a", "b$", "^$", "'", "^[ab]+$"]
MOSTLY = st.sampled_from([None, 0.5, 0.8])


@dataclass(frozen=True)
class Frame:
    """A small table with nulls: an int, a float and a string column."""

    i: list[int | None]
    f: list[float | None]
    s: list[str | None]

    def table(self) -> pa.Table:
        return pa.table(
            {
                "i": pa.array(self.i, pa.int64()),
                "f": pa.array(self.f, pa.float64()),
                "s": pa.array(self.s, pa.string()),
            }
        )


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    rows = draw(st.integers(0, 12))
    ints = st.none() | st.integers(-5, 5)
    floats = st.none() | st.floats(-100, 100, allow_nan=False)
    words = st.none() | st.sampled_from(WORDS)
    return Frame(
        draw(st.lists(ints, min_size=rows, max_size=rows)),
        draw(st.lists(floats, min_size=rows, max_size=rows)),
        draw(st.lists(words, min_size=rows, max_size=rows)),
    )


def checked(value: object, mostly: float | None) -> object:
    return value if mostly is None else Check(value, mostly=mostly)


@st.composite
def contracts(draw: st.DrawFn) -> Contract:
    bound = st.none() | st.integers(-6, 6)
    i_spec = ColumnSpec(
        "int64",
        nullable=draw(st.booleans()),
        min=draw(bound),
        max=draw(bound.filter(lambda v: v is None or v >= 6) | st.none()),
        allowed=draw(st.none() | st.lists(st.integers(-5, 5), min_size=1, unique=True)),
        unique=draw(st.booleans()),
        mostly=draw(MOSTLY),
    )
    s_spec = ColumnSpec(
        "string",
        nullable=checked(draw(st.booleans()), draw(MOSTLY)),  # type: ignore[arg-type]
        allowed=draw(st.none() | st.lists(st.sampled_from(WORDS), min_size=1, unique=True)),
        regex=checked(draw(st.none() | st.sampled_from(PATTERNS)), draw(MOSTLY)),  # type: ignore[arg-type]
        unique=draw(st.booleans()),
    )
    f_spec = ColumnSpec("float64", min=draw(st.none() | st.floats(-50, 0)), max=50.5)
    share = draw(st.floats(0, 1))
    rules: list[TableRule] = [
        RowCount(min=draw(st.integers(0, 6))),
        Mean("f", min=-20, max=20),
        Quantile("i", q=draw(st.sampled_from([0.0, 0.25, 0.5, 0.9, 1.0])), max=2),
        CategoryShare("s", "a", min=min(share, 0.5), max=max(share, 0.5)),
    ]
    return Contract("p", {"i": i_spec, "s": s_spec, "f": f_spec}, rules)


# ------------------------------------------------------------------ the reference


def fails(kind: str, value: object, rule: object, seen: list[object]) -> bool:
    """Whether one value breaks a row rule (None only breaks not_null)."""
    if kind == "not_null":
        return value is None
    if value is None:
        return False
    if kind == "min":
        return bool(value < rule)  # type: ignore[operator]
    if kind == "max":
        return bool(value > rule)  # type: ignore[operator]
    if kind == "allowed":
        return bool(value not in rule)  # type: ignore[operator]
    if kind == "regex":
        return re.search(str(rule), str(value)) is None
    return seen.count(value) > 1  # unique: sampled rows hold a duplicated value


def quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def within(value: float | None, low: float | None, high: float | None) -> bool:
    if value is None:
        return False
    return (low is None or value >= low) and (high is None or value <= high)


@settings(max_examples=100, deadline=None)
@given(frames(), contracts())
def test_row_rules_match_the_reference(frame: Frame, contract: Contract) -> None:
    report = contract.validate(frame.table())
    columns: dict[str, Sequence[object]] = {"i": frame.i, "f": frame.f, "s": frame.s}
    assert report.num_rows == len(frame.i)
    for check in contract.checks():
        result = report.result(check.rule_id)
        if check.kind == "type":
            assert result.passed
            continue
        values = columns[check.column]
        non_null: list[object] = [v for v in values if v is not None]
        failing_rows = [v for v in values if fails(check.kind, v, check.value, non_null)]
        total = len(values) if check.kind == "not_null" else len(non_null)
        failing = len(failing_rows)
        if check.kind == "unique":  # the rows that repeat an earlier value
            failing = len(non_null) - len(set(non_null))
        if check.mostly is None:
            passed = failing == 0
        else:
            passed = total == 0 or (total - failing) / total >= check.mostly
        assert result.failing_rows == failing, check.rule_id
        assert result.failing_fraction == (failing / total if total else 0.0)
        assert result.passed is passed, check.rule_id
        if check.kind == "min" and non_null:
            assert result.observed == min(non_null)  # type: ignore[type-var]
        expected_sample = failing_rows[:SAMPLE_ROWS] if not passed else []
        assert [row[check.column] for row in result.sample] == expected_sample, check.rule_id


@settings(max_examples=100, deadline=None)
@given(frames(), contracts())
def test_table_rules_match_the_reference(frame: Frame, contract: Contract) -> None:
    report = contract.validate(frame.table())
    floats = [v for v in frame.f if v is not None]
    ints = [float(v) for v in frame.i if v is not None]
    words = [v for v in frame.s if v is not None]
    row_count, mean, quant, share = contract.rules
    assert isinstance(row_count, RowCount)
    assert isinstance(quant, Quantile)
    assert isinstance(mean, Mean)
    assert isinstance(share, CategoryShare)

    count = report.result("rules[0].row_count")
    assert (count.observed, count.passed) == (len(frame.i), len(frame.i) >= (row_count.min or 0))

    expected_mean = math.fsum(floats) / len(floats) if floats else None
    result = report.result("rules[1].mean")
    if expected_mean is None:
        assert (result.observed, result.passed) == (None, False)
    else:
        assert result.observed == pytest.approx(expected_mean, rel=1e-9, abs=1e-9)
        assert result.passed is within(expected_mean, mean.min, mean.max)

    expected_quantile = quantile(ints, quant.q)
    result = report.result("rules[2].quantile")
    assert result.observed == pytest.approx(expected_quantile)
    assert result.passed is within(expected_quantile, quant.min, quant.max)

    expected_share = words.count("a") / len(words) if words else None
    result = report.result("rules[3].category_share")
    assert result.observed == expected_share
    assert result.passed is within(expected_share, share.min, share.max)
