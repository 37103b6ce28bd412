"""Tests of contracts/engine.py and sources.py: exact results of every rule on small data."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard.clock import to_ms
from modelyard.contracts import (
    CategoryShare,
    Check,
    ColumnSpec,
    Contract,
    Freshness,
    LabelRate,
    Mean,
    Quantile,
    RowCount,
    ValidationReport,
)
from modelyard.errors import DataContractViolation, InvalidInputError

NOW_MS = to_ms(datetime(2026, 1, 3, tzinfo=UTC))


def frame() -> pa.Table:
    return pa.table(
        {
            "amount": [1.0, -2.0, None, 60000.0, 5.0],
            "merchant category": ["grocery", "travel", "it's", None, "travel"],
            "card_id": ["c1", "c1", "d2", None, "c3"],
            "event_time": pa.array(
                [datetime(2026, 1, 1), None, datetime(2025, 12, 31), None, None],
                pa.timestamp("ns"),
            ),
            "is_fraud": [True, False, False, False, False],
        }
    )


def contract(**columns: ColumnSpec) -> Contract:
    return Contract("t", columns)


def test_row_rules_count_failing_non_null_rows_and_sample_the_first_ones() -> None:
    report = Contract(
        "t",
        {
            "amount": ColumnSpec("float64", nullable=False, min=0, max=50000),
            "card_id": ColumnSpec("string", regex="^c[0-9]+$", unique=True),
        },
    ).validate(frame())
    by_id = {result.rule_id: result for result in report.results}
    assert report.num_rows == 5
    assert [
        (r.rule_id, r.passed, r.observed, r.failing_rows, r.failing_fraction)
        for r in report.results
    ] == [
        ("columns.amount.type", True, "float64", None, None),
        ("columns.amount.nullable", False, 1, 1, 0.2),
        ("columns.amount.min", False, -2.0, 1, 0.25),
        ("columns.amount.max", False, 60000.0, 1, 0.25),
        ("columns.card_id.type", True, "string", None, None),
        ("columns.card_id.regex", False, 1, 1, 0.25),
        ("columns.card_id.unique", False, 1, 1, 0.25),
    ]
    assert by_id["columns.amount.min"].sample == (
        {
            "amount": -2.0,
            "merchant category": "travel",
            "card_id": "c1",
            "event_time": None,
            "is_fraud": False,
        },
    )
    assert by_id["columns.amount.min"].message == "1 of 4 non-null rows (25.00%) fail"
    assert by_id["columns.amount.min"].expected == ">= 0"
    assert [row["card_id"] for row in by_id["columns.card_id.unique"].sample] == ["c1", "c1"]
    assert [row["amount"] for row in by_id["columns.amount.nullable"].sample] == [None]
    assert not report.passed
    assert len(report.errors) == 5


def test_allowed_values_quote_safely_and_report_the_unexpected_ones() -> None:
    report = contract(
        **{"merchant category": ColumnSpec("string", allowed=["grocery", "travel"])}
    ).validate(frame())
    result = report.result("columns.merchant category.allowed")
    assert (result.passed, result.observed, result.failing_rows) == (False, ["it's"], 1)
    assert result.sample[0]["merchant category"] == "it's"
    assert result.expected == "one of [grocery, travel]"
    quoted = contract(
        **{"merchant category": ColumnSpec("string", allowed=["it's", "grocery", "travel"])}
    ).validate(frame())
    assert quoted.passed


def test_regexes_with_quotes_and_backslashes_are_parameters() -> None:
    table = pa.table({'we"ird': ["a'b", "a\\b", "ab"]})
    report = contract(**{'we"ird': ColumnSpec("string", regex=r"^a'b$|^a\\b$")}).validate(table)
    result = report.result('columns.we"ird.regex')
    assert (result.failing_rows, result.sample) == (1, ({'we"ird': "ab"},))


def test_mostly_and_severity_decide_the_verdict() -> None:
    spec = ColumnSpec(
        "float64",
        min=Check(0, mostly=0.75),
        max=Check(50000, mostly=0.8, severity="warn"),
    )
    report = contract(amount=spec).validate(frame())
    low, high = report.result("columns.amount.min"), report.result("columns.amount.max")
    assert (low.passed, low.failing_fraction, low.sample) == (True, 0.25, ())
    assert (high.passed, high.severity) == (False, "warn")
    assert report.passed
    assert report.warnings == [high]
    assert report.errors == []


def test_a_missing_column_fails_its_rules_without_a_crash() -> None:
    report = Contract(
        "t",
        {"gone": ColumnSpec("int64", nullable=False, min=Check(0, severity="warn"))},
        [Mean("gone", min=1), Freshness("gone_at", "1d")],
    ).validate(frame())
    assert [(r.rule_id, r.passed, r.severity, r.message) for r in report.results] == [
        ("columns.gone.type", False, "error", "column 'gone' is missing from the data"),
        ("columns.gone.nullable", False, "error", "not checked: column 'gone' is missing"),
        ("columns.gone.min", False, "warn", "not checked: column 'gone' is missing"),
        ("rules[0].mean", False, "error", "not checked: column 'gone' is missing"),
        ("rules[1].freshness", False, "error", "not checked: column 'gone_at' is missing"),
    ]


def test_a_mistyped_column_fails_the_type_rule_and_skips_rules_it_cannot_compare() -> None:
    table = pa.table({"amount": ["1", "x"], "n": pa.array([1, 2], pa.int32())})
    report = Contract(
        "t",
        {
            "amount": ColumnSpec("float64", min=0),
            "n": ColumnSpec("int64", max=1),
        },
        [Mean("amount", min=0)],
    ).validate(table)
    assert [(r.rule_id, r.passed, r.observed, r.message) for r in report.results] == [
        ("columns.amount.type", False, "string", "column 'amount' is string, not float64"),
        (
            "columns.amount.min",
            False,
            None,
            "not checked: column 'amount' is string; the rule compares other values",
        ),
        ("columns.n.type", False, "int32", "column 'n' is int32, not int64"),
        ("columns.n.max", False, 2, "1 of 2 non-null rows (50.00%) fail"),
        ("rules[0].mean", False, None, "not checked: column 'amount' is string"),
    ]


def test_table_rules_observe_counts_means_quantiles_shares_and_freshness() -> None:
    report = Contract(
        "t",
        {},
        [
            RowCount(min=1, max=4),
            Mean("amount", min=0, max=20000),
            Quantile("amount", q=0.5, min=3, max=3),
            CategoryShare("merchant category", "travel", min=0.5),
            LabelRate("is_fraud", max=0.25),
            Freshness("event_time", "2d"),
            Freshness("event_time", "1d", severity="warn"),
        ],
    ).validate(frame(), now_ms=NOW_MS)
    assert [(r.rule_id, r.passed, r.observed) for r in report.results] == [
        ("rules[0].row_count", False, 5),
        ("rules[1].mean", True, 15001.0),
        ("rules[2].quantile", True, 3.0),
        ("rules[3].category_share", True, 0.5),
        ("rules[4].label_rate", True, 0.2),
        ("rules[5].freshness", True, 172800.0),
        ("rules[6].freshness", False, 172800.0),
    ]
    assert report.results[0].message == "row count 5 is above 4"
    assert report.results[0].expected == "1 <= rows <= 4"
    assert report.results[6].expected == "newest event_time at most 1d old"


def test_freshness_reads_time_zones_and_dates_as_utc() -> None:
    table = pa.table(
        {
            "tz": pa.array([datetime(2026, 1, 2, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC")),
            "day": pa.array([date(2026, 1, 2)]),
        }
    )
    report = Contract("t", {}, [Freshness("tz", "1d"), Freshness("day", "1d")]).validate(
        table, now_ms=NOW_MS
    )
    assert [r.observed for r in report.results] == [82800.0, 86400.0]
    assert [r.passed for r in report.results] == [True, True]


def test_empty_data_fails_row_count_and_distributions_but_not_value_rules() -> None:
    empty = frame().slice(0, 0)
    report = Contract(
        "t",
        {"amount": ColumnSpec("float64", nullable=False, min=0, unique=True)},
        [RowCount(min=1), Mean("amount", max=10), Freshness("event_time", "1d")],
    ).validate(empty, now_ms=NOW_MS)
    assert [(r.rule_id, r.passed, r.observed) for r in report.results] == [
        ("columns.amount.type", True, "float64"),
        ("columns.amount.nullable", True, 0),
        ("columns.amount.min", True, None),
        ("columns.amount.unique", True, 0),
        ("rules[0].row_count", False, 0),
        ("rules[1].mean", False, None),
        ("rules[2].freshness", False, None),
    ]


def test_nan_is_outside_every_range() -> None:
    table = pa.table({"x": [1.0, float("nan")]})
    report = contract(x=ColumnSpec("float64", min=0, max=10)).validate(table)
    assert [r.failing_rows for r in report.results[1:]] == [1, 1]
    assert report.results[1].sample == ({"x": "nan"},)


def test_temporal_and_string_bounds_compare_in_the_column_type() -> None:
    table = pa.table(
        {
            "day": pa.array([date(2023, 12, 31), date(2024, 6, 1)]),
            "at": pa.array([datetime(2024, 1, 1, 12), datetime(2025, 1, 1)], pa.timestamp("ms")),
            "code": ["b", "z"],
        }
    )
    report = contract(
        day=ColumnSpec("date", min=date(2024, 1, 1)),
        at=ColumnSpec("timestamp", max="2024-06-01T00:00:00"),
        code=ColumnSpec("string", min="a", max="c"),
    ).validate(table)
    assert [(r.rule_id, r.failing_rows, r.observed) for r in report.results] == [
        ("columns.day.type", None, "date"),
        ("columns.day.min", 1, "2023-12-31"),
        ("columns.at.type", None, "timestamp"),
        ("columns.at.max", 1, "2025-01-01T00:00:00"),
        ("columns.code.type", None, "string"),
        ("columns.code.min", 0, "b"),
        ("columns.code.max", 1, "z"),
    ]


def test_pandas_polars_arrow_and_parquet_give_the_same_results(tmp_path: Path) -> None:
    table = frame()
    path = tmp_path / "data.parquet"
    pq.write_table(table, path)
    checks = Contract(
        "t",
        {
            "amount": ColumnSpec("float64", min=0),
            "merchant category": ColumnSpec("string", allowed=["grocery", "travel"]),
        },
        [RowCount(min=1)],
    )
    expected = checks.validate(table).results
    for data, description in [
        (table.to_pandas(), "pandas.DataFrame"),
        (pl.from_arrow(table), "polars.DataFrame"),
        (path, str(path)),
        (str(path), str(path)),
    ]:
        report = checks.validate(data)
        assert report.data == description
        assert report.results == expected


def test_unreadable_and_unsupported_data_raise_typed_errors(tmp_path: Path) -> None:
    checks = Contract("t", {"a": ColumnSpec("int64")})
    corrupt = tmp_path / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(InvalidInputError, match=r"corrupt.parquet: it is not a readable Parquet"):
        checks.validate(corrupt)
    with pytest.raises(InvalidInputError, match=r"missing.parquet: no such file"):
        checks.validate(tmp_path / "missing.parquet")
    with pytest.raises(InvalidInputError, match=r"cannot validate a builtins.list: give a"):
        checks.validate([1, 2])


def test_reports_are_json_safe_and_read_back_equal() -> None:
    report = Contract(
        "t",
        {"event_time": ColumnSpec("timestamp", max="2025-12-31T12:00:00")},
        [Mean("amount", max=1)],
    ).validate(frame(), now_ms=NOW_MS)
    text = json.dumps(report.to_dict(), allow_nan=False)
    assert ValidationReport.from_dict(json.loads(text)) == report
    assert report.checked_at_ms == NOW_MS


def test_enforce_raises_with_the_report_attached() -> None:
    checks = Contract("tx", {"amount": ColumnSpec("float64", min=0)})
    with pytest.raises(
        DataContractViolation, match=r'pyarrow.Table breaks contract "tx": 1 error'
    ) as raised:
        checks.enforce(frame())
    assert isinstance(raised.value.report, ValidationReport)
    assert raised.value.failed == ["columns.amount.min: 1 of 4 non-null rows (25.00%) fail"]
    passing = pd.DataFrame({"amount": [1.0, 2.0]})
    assert checks.enforce(passing).passed


def test_low_cardinality_text_rules_count_the_same_grouped_as_per_row(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from modelyard.contracts import engine

    data = pa.table(
        {
            "currency": ["USD", "EUR", None, "usd", "EUR", "XXXX", "it's", "USD"] * 50,
            "country": ["US", "GB", "FR", None, "US", "de", "US", "ZZ"] * 50,
        }
    )
    contract = Contract(
        "fx",
        {
            "currency": ColumnSpec(
                "string", allowed=["USD", "EUR", "it's"], regex=Check("^[A-Z]{3}$", mostly=0.5)
            ),
            "country": ColumnSpec("string", allowed=["US", "GB", "FR"], regex="^[A-Z]{2}$"),
        },
    )

    grouped = contract.validate(data, now_ms=NOW_MS)
    monkeypatch.setattr(engine, "_FEW_DISTINCT", -1)  # every column judged row by row
    per_row = contract.validate(data, now_ms=NOW_MS)

    assert grouped.results == per_row.results
    counts = {r.rule_id: r.failing_rows for r in grouped.results if r.kind in ("allowed", "regex")}
    assert counts == {
        "columns.currency.allowed": 100,
        "columns.currency.regex": 150,
        "columns.country.allowed": 100,
        "columns.country.regex": 50,
    }
