"""Tests of contracts/compatibility.py: which contract changes break consumers."""

from __future__ import annotations

import pytest

from modelyard.contracts import ColumnSpec, Contract, Mean, RowCount, compare_contracts
from modelyard.errors import IncompatibleContractError

OLD = Contract(
    "tx",
    {
        "amount": ColumnSpec("float64", nullable=False, min=0, max=100),
        "count": ColumnSpec("int32"),
        "country": ColumnSpec("string", allowed=["FR", "DE"]),
        "note": ColumnSpec("string"),
    },
    [RowCount(min=1)],
)


def changes_of(new: Contract) -> list[tuple[str, str | None, bool, bool]]:
    report = compare_contracts(OLD, new)
    return [(c.kind, c.column, c.is_breaking, c.is_warning) for c in report.changes]


def test_an_identical_contract_has_no_changes() -> None:
    report = compare_contracts(OLD, OLD)
    assert (report.changes, report.is_compatible) == ((), True)
    report.raise_for_breaking()


def test_a_rename_is_named_and_breaking() -> None:
    new = Contract(
        "tx",
        {
            "amount_usd": ColumnSpec("float64", nullable=False, min=0, max=100),
            "count": ColumnSpec("int32"),
            "country": ColumnSpec("string", allowed=["FR", "DE"]),
            "note": ColumnSpec("string"),
        },
        [RowCount(min=1)],
    )
    report = compare_contracts(OLD, new)
    assert [(c.kind, c.column, c.is_breaking) for c in report.changes] == [
        ("column_renamed", "amount", True)
    ]
    assert "amount renamed to amount_usd?" in report.changes[0].detail
    with pytest.raises(IncompatibleContractError, match="amount renamed to amount_usd"):
        report.raise_for_breaking()
    assert report.to_dict()["is_compatible"] is False


def test_removed_retyped_and_new_required_columns_break_widening_does_not() -> None:
    new = Contract(
        "tx",
        {
            "amount": ColumnSpec("string", nullable=False),
            "count": ColumnSpec("int64"),
            "country": ColumnSpec("string", allowed=["FR", "DE"]),
            "user": ColumnSpec("int64", nullable=False),
            "tip": ColumnSpec("float64"),
        },
        [RowCount(min=1)],
    )
    assert changes_of(new) == [
        ("column_removed", "note", True, False),
        ("column_added", "user", True, False),
        ("column_added", "tip", False, False),
        ("column_retyped", "amount", True, False),
        ("bound_loosened", "amount", False, False),
        ("bound_loosened", "amount", False, False),
        ("column_widened", "count", False, False),
    ]


def test_tightening_is_a_warning_and_loosening_is_fine() -> None:
    new = Contract(
        "tx",
        {
            "amount": ColumnSpec("float64", nullable=True, min=10, max=1000),
            "count": ColumnSpec("int32", nullable=False),
            "country": ColumnSpec("string", allowed=["FR"]),
            "note": ColumnSpec("string", regex="^n"),
        },
        [RowCount(min=1), Mean("amount", max=50)],
    )
    assert changes_of(new) == [
        ("nullability_loosened", "amount", False, False),
        ("bound_tightened", "amount", False, True),
        ("bound_loosened", "amount", False, False),
        ("nullability_tightened", "count", True, False),
        ("allowed_narrowed", "country", False, True),
        ("regex_changed", "note", False, True),
        ("rule_added", "amount", False, True),
    ]
    report = compare_contracts(OLD, new)
    assert [c.detail for c in report.warnings][:2] == [
        "amount min: 0 → 10 (data the old contract accepted may fail)",
        "country allows fewer values (no longer DE)",
    ]
