"""Promotion gates: what a model version must show before it may serve.

A model's gate configuration holds metric rules (absolute, ``auc >= 0.85``, or relative to the
current champion, ``auc >= champion.auc - 0.002``) and a single-row p99 latency budget. Every
promotion also replays the model's stored smoke payloads, checks signature compatibility with
the version in production and re-verifies the artifact's digests. Each gate here is a pure
function of what it is given; promotion.py gathers the inputs and stores the results.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from modelyard.errors import InvalidInputError, ModelyardError
from modelyard.registry.flavors import Predictor, Signature

_RULE = re.compile(
    r"""^\s*(?P<metric>[A-Za-z0-9_.\-/:]+)\s*(?P<op>>=|<=|>|<|==)\s*
    (?:champion\.(?P<champion_metric>[A-Za-z0-9_.\-/:]+)\s*(?:(?P<sign>[-+])\s*(?P<offset>\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))?
      |(?P<threshold>[-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?))\s*$""",
    re.VERBOSE,
)
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    "<": lambda a, b: a < b,
    "==": lambda a, b: a == b,
}


@dataclass(frozen=True, slots=True)
class MetricRule:
    """``metric OP threshold`` or ``metric OP champion.metric ± offset``."""

    metric: str
    op: str
    threshold: float | None = None
    champion_metric: str | None = None
    champion_offset: float = 0.0

    @classmethod
    def parse(cls, text: str) -> MetricRule:
        """Parse a rule such as ``auc >= 0.85`` or ``auc >= champion.auc - 0.002``.

        Raises:
            InvalidInputError: naming the rule and the expected form.
        """
        match = _RULE.match(text)
        if match is None:
            raise InvalidInputError(
                f"gate rule {text!r} does not parse: write 'METRIC OP NUMBER' or "
                "'METRIC OP champion.METRIC - NUMBER' with OP one of >=, <=, >, <, =="
            )
        offset = float(match["offset"] or 0.0) * (-1.0 if match["sign"] == "-" else 1.0)
        return cls(
            metric=match["metric"],
            op=match["op"],
            threshold=None if match["threshold"] is None else float(match["threshold"]),
            champion_metric=match["champion_metric"],
            champion_offset=offset,
        )

    def __str__(self) -> str:
        # repr is the shortest text that reads back as the same float: the stored rule
        # enforces exactly the threshold that was given.
        if self.champion_metric is None:
            return f"{self.metric} {self.op} {self.threshold!r}"
        sign = "-" if self.champion_offset < 0 else "+"
        tail = f" {sign} {abs(self.champion_offset)!r}" if self.champion_offset else ""
        return f"{self.metric} {self.op} champion.{self.champion_metric}{tail}"


@dataclass(frozen=True, slots=True)
class GateConfig:
    """The gates configured for a registered model."""

    metric_rules: tuple[MetricRule, ...] = ()
    latency_p99_ms: float | None = None
    latency_samples: int = 200

    def to_dict(self) -> dict[str, Any]:
        """Serialise for storage."""
        return {
            "metric_rules": [str(rule) for rule in self.metric_rules],
            "latency_p99_ms": self.latency_p99_ms,
            "latency_samples": self.latency_samples,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GateConfig:
        """Read a stored configuration."""
        return cls(
            metric_rules=tuple(MetricRule.parse(rule) for rule in data.get("metric_rules", [])),
            latency_p99_ms=data.get("latency_p99_ms"),
            latency_samples=int(data.get("latency_samples", 200)),
        )


@dataclass(frozen=True, slots=True)
class GateResult:
    """The outcome of one gate."""

    gate: str
    is_passed: bool
    observed: str
    expected: str
    message: str


@dataclass(frozen=True, slots=True)
class GateReport:
    """Every gate evaluated for one promotion attempt."""

    evaluation_id: str
    model: str
    version: int
    target: str
    results: tuple[GateResult, ...] = field(default_factory=tuple)

    @property
    def is_passed(self) -> bool:
        """Whether every gate passed."""
        return all(result.is_passed for result in self.results)

    @property
    def failed(self) -> list[GateResult]:
        """The gates that failed."""
        return [result for result in self.results if not result.is_passed]


@dataclass(frozen=True, slots=True)
class SmokePayload:
    """A stored input with known-good outputs."""

    name: str
    frame: pd.DataFrame
    expected: np.ndarray
    method: str
    tolerance: float


def metric_gates(
    rules: Sequence[MetricRule],
    metrics: Mapping[str, float],
    champion: Mapping[str, float] | None,
) -> list[GateResult]:
    """Check metric rules against the candidate's run metrics (and the champion's)."""
    results = []
    for rule in rules:
        name = f"metric: {rule}"
        value = metrics.get(rule.metric)
        if rule.champion_metric is not None:
            reference = None if champion is None else champion.get(rule.champion_metric)
            if champion is None:
                results.append(
                    GateResult(name, True, _fmt(value), "no champion yet", "no champion to compare")
                )
                continue
            if reference is None or math.isnan(reference):
                results.append(
                    GateResult(
                        name,
                        False,
                        _fmt(value),
                        "champion value",
                        f"the champion has no {rule.champion_metric} metric to compare with",
                    )
                )
                continue
            bound = reference + rule.champion_offset
        else:
            assert rule.threshold is not None
            bound = rule.threshold
        expected = f"{rule.op} {bound:.6g}"
        if value is None or math.isnan(value):
            results.append(
                GateResult(name, False, _fmt(value), expected, f"the run logged no {rule.metric}")
            )
            continue
        passed = _OPS[rule.op](value, bound)
        message = "ok" if passed else f"{rule.metric} = {value:.6g}, needs {expected}"
        results.append(GateResult(name, passed, f"{value:.6g}", expected, message))
    return results


def signature_gate(
    production: Signature | None, candidate: Signature, *, allow_breaking: bool
) -> GateResult:
    """The candidate must accept what the production version accepts."""
    if production is None:
        return GateResult("signature", True, "—", "compatible", "no production version yet")
    breaking = production.breaking_changes(candidate)
    if not breaking:
        return GateResult("signature", True, "compatible", "compatible", "ok")
    summary = "; ".join(breaking)
    if allow_breaking:
        return GateResult("signature", True, summary, "compatible", "breaking changes allowed")
    return GateResult("signature", False, summary, "compatible", f"breaking changes: {summary}")


def smoke_gates(predictor: Predictor, payloads: Sequence[SmokePayload]) -> list[GateResult]:
    """Replay stored payloads; outputs must match the known-good ones within tolerance."""
    results = []
    for payload in payloads:
        name = f"smoke: {payload.name}"
        expected = f"max |diff| <= {payload.tolerance:g}"
        try:
            method = getattr(predictor, payload.method)
            actual = np.asarray(method(payload.frame), dtype=float)
        except ModelyardError as error:
            results.append(GateResult(name, False, "error", expected, str(error)))
            continue
        reference = np.asarray(payload.expected, dtype=float)
        if actual.shape != reference.shape:
            message = f"output shape {actual.shape} differs from the expected {reference.shape}"
            results.append(GateResult(name, False, str(actual.shape), expected, message))
            continue
        diff = float(np.max(np.abs(actual - reference))) if actual.size else 0.0
        passed = diff <= payload.tolerance
        message = "ok" if passed else f"outputs differ by up to {diff:.4g}"
        results.append(GateResult(name, passed, f"max |diff| = {diff:.4g}", expected, message))
    return results


def latency_gate(
    predictor: Predictor, example: pd.DataFrame, budget_ms: float, samples: int
) -> GateResult:
    """Single-row p99 latency, measured now on this machine, within the budget."""
    row = example.iloc[:1]
    method = (
        predictor.predict_proba if predictor.package.task == "classification" else predictor.predict
    )
    for _ in range(min(20, samples)):
        method(row)
    timings = np.empty(samples)
    for index in range(samples):
        started = time.perf_counter()
        method(row)
        timings[index] = time.perf_counter() - started
    p99_ms = float(np.percentile(timings, 99) * 1000)
    passed = p99_ms <= budget_ms
    message = "ok" if passed else f"single-row p99 {p99_ms:.3f} ms is over the budget"
    return GateResult("latency p99", passed, f"{p99_ms:.3f} ms", f"<= {budget_ms:g} ms", message)


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.6g}"
