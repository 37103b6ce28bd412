"""Gate rules: parsing, exact round trips and evaluation against run and champion metrics."""

from __future__ import annotations

import pytest

from modelyard.errors import InvalidInputError
from modelyard.registry.gates import GateConfig, MetricRule, metric_gates


@pytest.mark.parametrize(
    "text",
    [
        "auc >= 0.8512345",
        "latency_ms < 1234567.0",
        "auc >= champion.auc - 0.002",
        "loss <= champion.loss + 1e-07",
        "f1 == 0.5",
    ],
)
def test_rules_read_back_exactly(text: str) -> None:
    rule = MetricRule.parse(text)
    assert MetricRule.parse(str(rule)) == rule
    config = GateConfig(metric_rules=(rule,), latency_p99_ms=5.0)
    assert GateConfig.from_dict(config.to_dict()) == config


def test_a_threshold_keeps_its_precision() -> None:
    assert MetricRule.parse("auc >= 0.8512345").threshold == 0.8512345
    assert str(MetricRule.parse("auc >= 0.8512345")) == "auc >= 0.8512345"


@pytest.mark.parametrize("text", ["auc >> 1", "auc >= high", ">= 0.8", "auc >= champion."])
def test_malformed_rules(text: str) -> None:
    with pytest.raises(InvalidInputError, match=r"does not parse: write 'METRIC OP NUMBER'"):
        MetricRule.parse(text)


def test_metric_gates_against_runs_and_champion() -> None:
    rules = [MetricRule.parse("auc >= 0.8"), MetricRule.parse("auc >= champion.auc - 0.01")]
    results = metric_gates(rules, {"auc": 0.85}, {"auc": 0.9})
    assert [(r.is_passed, r.observed, r.expected) for r in results] == [
        (True, "0.85", ">= 0.8"),
        (False, "0.85", ">= 0.89"),
    ]
    assert results[1].message == "auc = 0.85, needs >= 0.89"
    first = metric_gates(rules, {"auc": 0.85}, None)
    assert [(r.is_passed, r.message) for r in first] == [
        (True, "ok"),
        (True, "no champion to compare"),
    ]
    missing = metric_gates(rules[:1], {}, None)
    assert [(r.is_passed, r.message) for r in missing] == [(False, "the run logged no auc")]
