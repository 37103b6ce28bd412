"""Tests of contracts/contract.py and yamlsource.py: the YAML form, its errors, canonical dicts."""

from __future__ import annotations

import ast
import importlib
from datetime import date
from pathlib import Path

import pytest

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
    load_contract,
)
from modelyard.errors import InvalidContractError

EXAMPLE = """\
name: transactions
description: card transactions from the payments export
columns:
  amount: {type: float64, nullable: false, min: 0, max: 50000}
  merchant_category: {type: string, allowed: [grocery, travel, fuel], mostly: 0.99}
  card_id: {type: string, regex: "^c[0-9]+$", unique: false}
  amount_alt: {type: float64, min: {value: 0, mostly: 0.95, severity: warn}}
  event_time: {type: timestamp}
  is_fraud: {type: bool}
rules:
  - row_count: {min: 1000, max: 10000000}
  - freshness: {column: event_time, max_age: 48h}
  - mean: {column: amount, min: 10, max: 200, severity: warn}
  - quantile: {column: amount, q: 0.99, max: 5000}
  - category_share: {column: merchant_category, value: travel, min: 0.01, max: 0.3}
  - label_rate: {column: is_fraud, min: 0.001, max: 0.05}
"""

PYTHON = Contract(
    "transactions",
    {
        "amount": ColumnSpec("float64", nullable=False, min=0, max=50000),
        "merchant_category": ColumnSpec(
            "string", allowed=("grocery", "travel", "fuel"), mostly=0.99
        ),
        "card_id": ColumnSpec("string", regex="^c[0-9]+$"),
        "amount_alt": ColumnSpec("float64", min=Check(0, mostly=0.95, severity="warn")),
        "event_time": ColumnSpec("timestamp"),
        "is_fraud": ColumnSpec("bool"),
    },
    [
        RowCount(min=1000, max=10_000_000),
        Freshness("event_time", "2d"),
        Mean("amount", min=10, max=200, severity="warn"),
        Quantile("amount", q=0.99, max=5000),
        CategoryShare("merchant_category", "travel", min=0.01, max=0.3),
        LabelRate("is_fraud", min=0.001, max=0.05),
    ],
    description="card transactions from the payments export",
)


def test_yaml_and_python_build_the_same_contract_with_the_same_digest() -> None:
    contract = Contract.from_yaml(EXAMPLE)
    assert contract == PYTHON
    assert contract.digest == PYTHON.digest
    assert contract.digest.startswith("sha256:")
    assert len(contract.digest) == 71
    assert [check.rule_id for check in contract.checks()] == [
        "columns.amount.type",
        "columns.amount.nullable",
        "columns.amount.min",
        "columns.amount.max",
        "columns.merchant_category.type",
        "columns.merchant_category.allowed",
        "columns.card_id.type",
        "columns.card_id.regex",
        "columns.amount_alt.type",
        "columns.amount_alt.min",
        "columns.event_time.type",
        "columns.is_fraud.type",
    ]
    alt_min = contract.checks()[9]
    assert (alt_min.mostly, alt_min.severity) == (0.95, "warn")
    category = contract.checks()[5]
    assert (category.mostly, category.severity) == (0.99, "error")


def test_to_yaml_reads_back_equal_and_the_canonical_form_omits_defaults() -> None:
    contract = Contract.from_yaml(EXAMPLE)
    assert Contract.from_yaml(contract.to_yaml()) == contract
    body = contract.to_dict()
    assert body["columns"] == {
        "amount": {"type": "float64", "nullable": False, "min": 0, "max": 50000},
        "merchant_category": {
            "type": "string",
            "allowed": ["grocery", "travel", "fuel"],
            "mostly": 0.99,
        },
        "card_id": {"type": "string", "regex": "^c[0-9]+$"},
        "amount_alt": {"type": "float64", "min": {"value": 0, "mostly": 0.95, "severity": "warn"}},
        "event_time": {"type": "timestamp"},
        "is_fraud": {"type": "bool"},
    }
    # "48h" and "2d" are the same duration: the canonical form spells it one way.
    assert body["rules"][1] == {"freshness": {"column": "event_time", "max_age": "2d"}}  # type: ignore[index]


def test_column_order_does_not_change_the_digest_but_a_rule_value_does() -> None:
    a = Contract("t", {"x": ColumnSpec("int64"), "y": ColumnSpec("string")})
    b = Contract("t", {"y": ColumnSpec("string"), "x": ColumnSpec("int64")})
    c = Contract("t", {"x": ColumnSpec("int64", min=1), "y": ColumnSpec("string")})
    assert a.digest == b.digest
    assert a.digest != c.digest


def test_a_short_column_form_and_date_bounds_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(
        "name: d\ncolumns:\n  day: {type: date, min: 2024-01-01}\n  note: string\n",
        encoding="utf-8",
    )
    contract = load_contract(path)
    assert contract.columns["day"].min == date(2024, 1, 1)
    assert contract.columns["note"] == ColumnSpec("string")
    assert contract.to_dict()["columns"] == {
        "day": {"type": "date", "min": "2024-01-01"},
        "note": {"type": "string"},
    }
    assert Contract.from_yaml(str(path)) == contract


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        (
            "name: t\ncolumns:\n  amount: {tpye: float64}\n",
            3,
            "columns.amount.tpye",
            "unknown column key 'tpye' (did you mean \"type\"?)",
        ),
        (
            "name: t\ncolumns:\n  amount:\n    type: flaot64\n",
            4,
            "columns.amount.type",
            "unknown type 'flaot64' (did you mean \"float64\"?)",
        ),
        (
            "name: t\ncolumns:\n  a: {type: int64}\n"
            "rules:\n  - row_count: {min: 1}\n  - men: {column: a}\n",
            6,
            "rules[1].men",
            "unknown rule 'men' (did you mean \"mean\"?)",
        ),
        (
            "name: t\ncolumns:\n  a: {type: int64}\nrules:\n  - mean: {colum: a}\n",
            5,
            "rules[0].mean.colum",
            "unknown mean option 'colum' (did you mean \"column\"?)",
        ),
        (
            "name: t\ncolumns:\n  a:\n    type: int64\n    min: abc\n",
            5,
            "columns.a.min",
            "min 'abc' is not a int64 value",
        ),
        (
            "name: t\ncolumns:\n  a:\n    type: int64\n    min: {value: 1, mostly: 2}\n",
            5,
            "columns.a.min.mostly",
            "mostly is a fraction in (0, 1], not 2",
        ),
        (
            "name: t\ncolumns:\n  a: {type: int64, severity: fatal}\n",
            3,
            "columns.a.severity",
            "severity must be error or warn, not 'fatal'",
        ),
        (
            "name: t\ncolumns:\n  a: {type: string, regex: '(?=x)'}\n",
            3,
            "columns.a.regex",
            "is not supported by the RE2 engine",
        ),
        (
            "name: t\ncolumns:\n  a: {type: int64}\n"
            "rules:\n  - freshness: {column: a, max_age: soon}\n",
            5,
            "rules[0].freshness.max_age",
            "max_age 'soon' is not a duration",
        ),
        (
            "name: t\ncolumns:\n  a: {type: string}\nrules:\n  - mean: {column: a}\n",
            5,
            "rules[0].mean.column",
            "mean needs a numeric column; a is string",
        ),
        (
            "name: t\ncolumns:\n  a: {type: int64, min: 5, max: 1}\n",
            3,
            "columns.a.min",
            "min 5 is greater than max 1",
        ),
        (
            "name: t\ncolumns:\n  a: {type: int64}\n  a: {type: string}\n",
            4,
            "columns.a",
            "the key 'a' appears twice",
        ),
        ("name: t\ncolums: {}\n", 2, "colums", "unknown contract key 'colums' (did you mean"),
        ("name: bad name!\ncolumns: {}\n", 1, "name", "name 'bad name!' is invalid"),
        ("columns: {}\n", 1, "name", "the required key 'name' is missing"),
    ],
)
def test_bad_contracts_name_the_line_the_key_and_a_suggestion(
    text: str, line: int | None, key: str, reason: str
) -> None:
    with pytest.raises(InvalidContractError) as raised:
        Contract.from_yaml(text)
    error = raised.value
    assert (error.source, error.line, error.key) == ("<yaml>", line, key)
    assert reason in error.reason
    where = f"<yaml>, line {line}" if line is not None else "<yaml>"
    assert str(error).startswith(f"invalid contract {where} at {key}: ")


def test_malformed_yaml_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: t\ncolumns:\n  a: {type: int64\n", encoding="utf-8")
    with pytest.raises(
        InvalidContractError, match=r"broken.yaml, line 4: malformed YAML"
    ) as raised:
        load_contract(path)
    assert raised.value.key == ""
    with pytest.raises(InvalidContractError, match=r"line 1: .*expected a mapping, got list"):
        Contract.from_yaml("- a\n- b\n")
    with pytest.raises(InvalidContractError, match="cannot read the file"):
        load_contract(tmp_path / "missing.yaml")


def test_a_contract_built_in_python_is_checked_with_the_key_named() -> None:
    with pytest.raises(InvalidContractError, match=r"<python> at columns\.a\.allowed: allowed"):
        Contract("t", {"a": ColumnSpec("int64", allowed=["x"])})
    with pytest.raises(InvalidContractError, match=r"at rules\[0\]\.quantile\.q: q must be"):
        Contract("t", {}, [Quantile("a", q=1.5)])
    with pytest.raises(InvalidContractError, match=r"at rules\[0\]\.category_share\.max: max is"):
        Contract("t", {}, [CategoryShare("a", "x", max=3)])
    with pytest.raises(InvalidContractError, match=r"at columns\.a\.regex: regex applies to"):
        Contract("t", {"a": ColumnSpec("int64", regex="x")})


def test_the_package_lists_its_public_names_sorted_and_complete() -> None:
    module = importlib.import_module("modelyard.contracts")
    assert module.__all__ == sorted(module.__all__)
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert imported == set(module.__all__)
