"""Column summaries computed by DuckDB over a written snapshot."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from modelyard.datasets.schema import (
    ColumnSummary,
    TopValue,
    summaries_from_dict,
    summaries_to_dict,
)
from modelyard.datasets.summary import summarize


def _summarize(tmp_path: Path, table: pa.Table) -> dict[str, ColumnSummary]:
    path = tmp_path / "t.parquet"
    pq.write_table(table, path)
    return summarize(path, table.schema)


def test_every_kind_of_column_gets_its_statistics(tmp_path: Path) -> None:
    table = pa.table(
        {
            "amount": pa.array([1.0, 3.0, None, float("nan")]),
            "count": pa.array([1, 2, 3, 4], pa.int32()),
            "is_fraud": pa.array([True, False, False, None]),
            "category": pa.array(["travel", "grocery", "travel", None]),
            "when": pa.array(
                [dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 3), None, None],
                pa.timestamp("ms", tz="UTC"),
            ),
            "day": pa.array([dt.date(2026, 1, 2), None, None, None]),
            "tags": pa.array([["a"], None, [], ["b", "c"]]),
            'odd "name"': pa.array([5, 5, 5, 5]),
        }
    )

    summary = _summarize(tmp_path, table)

    assert summary == {
        "amount": ColumnSummary(
            null_count=1, min=1.0, max=3.0, mean=2.0, std=2.0**0.5, approx_distinct=2
        ),
        "count": ColumnSummary(
            null_count=0, min=1, max=4, mean=2.5, std=summary["count"].std, approx_distinct=4
        ),
        "is_fraud": ColumnSummary(
            null_count=1,
            min=False,
            max=True,
            mean=1 / 3,
            std=summary["is_fraud"].std,
            approx_distinct=2,
        ),
        "category": ColumnSummary(
            null_count=1,
            min="grocery",
            max="travel",
            approx_distinct=2,
            top_values=(TopValue("travel", 2), TopValue("grocery", 1)),
        ),
        "when": ColumnSummary(
            null_count=2,
            min="2026-01-01 00:00:00+00",
            max="2026-01-03 00:00:00+00",
            approx_distinct=2,
        ),
        "day": ColumnSummary(null_count=3, min="2026-01-02", max="2026-01-02", approx_distinct=1),
        "tags": ColumnSummary(null_count=1),
        'odd "name"': ColumnSummary(
            null_count=0, min=5, max=5, mean=5.0, std=0.0, approx_distinct=1
        ),
    }
    assert round(summary["count"].std or 0, 6) == 1.290994
    assert round(summary["is_fraud"].std or 0, 6) == 0.57735


def test_high_cardinality_strings_get_no_top_values(tmp_path: Path) -> None:
    table = pa.table({"card_id": [f"c{i}" for i in range(100)]})

    summary = _summarize(tmp_path, table)["card_id"]

    assert summary.top_values == ()
    assert summary.approx_distinct is not None
    assert 90 <= summary.approx_distinct <= 110


def test_an_empty_file_summarises_to_null_counts_of_zero(tmp_path: Path) -> None:
    table = pa.table({"amount": pa.array([], pa.float64()), "name": pa.array([], pa.string())})

    assert _summarize(tmp_path, table) == {
        "amount": ColumnSummary(null_count=0, approx_distinct=0),
        "name": ColumnSummary(null_count=0, approx_distinct=0),
    }


def test_summaries_round_trip_through_json(tmp_path: Path) -> None:
    table = pa.table({"category": ["a", "b", "a"], "amount": [1.5, None, 2.5]})
    summary = _summarize(tmp_path, table)

    assert summaries_from_dict(summaries_to_dict(summary)) == summary
