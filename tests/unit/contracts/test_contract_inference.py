"""Tests of contracts/inference.py: a drafted contract that its own data satisfies."""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from modelyard.clock import to_ms
from modelyard.contracts import ColumnSpec, Contract, Freshness, RowCount, infer_contract


def test_the_draft_declares_types_ranges_categories_ids_and_freshness() -> None:
    table = pa.table(
        {
            "card_id": ["c1", "c2", "c3", "c4"],
            "amount": [1.5, 2.0, None, 9.0],
            "count": pa.array([1, 2, 2, 3], pa.int32()),
            "country": ["FR", "DE", "FR", "FR"],
            "at": pa.array([datetime(2025, 12, 30, 12)] * 4, pa.timestamp("us")),
            "tags": pa.array([[1], [2], [3], [4]]),
        }
    )
    now_ms = to_ms(datetime(2026, 1, 1, tzinfo=UTC))
    draft = infer_contract(table, "tx", now_ms=now_ms)
    assert draft == Contract(
        "tx",
        {
            "card_id": ColumnSpec("string", nullable=False, unique=True),
            "amount": ColumnSpec("float64", nullable=True, min=1.5, max=9.0),
            "count": ColumnSpec("int32", nullable=False, min=1, max=3),
            "country": ColumnSpec("string", nullable=False, allowed=("DE", "FR")),
            "at": ColumnSpec("timestamp", nullable=False),
        },
        [RowCount(min=2, max=8), Freshness("at", "2d")],
        description="drafted from pyarrow.Table",
    )
    assert draft.validate(table, now_ms=now_ms).passed
    assert Contract.from_yaml(draft.to_yaml()) == draft


def test_an_empty_table_drafts_nullable_columns_and_no_freshness() -> None:
    table = pa.table({"at": pa.array([], pa.timestamp("us")), "x": pa.array([], pa.int64())})
    draft = infer_contract(table, "empty", now_ms=0)
    assert draft.columns == {"at": ColumnSpec("timestamp"), "x": ColumnSpec("int64")}
    assert draft.rules == (RowCount(min=0, max=1),)
