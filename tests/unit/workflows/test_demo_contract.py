"""The contract the demo ships, as examples/contracts/ links to it."""

from __future__ import annotations

from pathlib import Path

from modelyard.contracts import load_contract
from modelyard.workflows.demo import CONTRACT_PATH, upstream_change
from modelyard.workflows.fraud_data import generate_transactions

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "contracts" / "transactions.yaml"


def test_the_example_is_the_contract_the_demo_uses() -> None:
    assert EXAMPLE.read_text() == CONTRACT_PATH.read_text()
    assert load_contract(EXAMPLE) == load_contract(CONTRACT_PATH)


def test_generated_data_passes_and_the_upstream_change_fails() -> None:
    contract = load_contract(CONTRACT_PATH)
    frame = generate_transactions(rows=5_000)

    good = contract.validate(frame)
    bad = contract.validate(upstream_change(frame))

    assert good.passed is True
    assert [r.rule_id for r in good.warnings] == ["rules[1].freshness"]
    assert bad.passed is False
    assert {r.rule_id for r in bad.errors} == {
        "columns.amount.type",
        "columns.amount.nullable",
        "columns.amount.min",
        "columns.amount.max",
        "columns.country.nullable",
        "rules[2].mean",
        "rules[3].quantile",
    }
    nulls = bad.result("columns.country.nullable")
    assert nulls.failing_rows == upstream_change(frame)["country"].isna().sum()
