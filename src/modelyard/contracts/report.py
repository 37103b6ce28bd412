"""Validation reports: one result per rule, JSON-safe, and the error they raise when broken."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import cast

from modelyard.contracts.rules import Severity
from modelyard.errors import DataContractViolation, InvalidInputError

JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]
"""A value json.dumps writes as it is (non-finite floats are spelled as strings)."""


def json_value(value: object) -> JsonValue:
    """Return ``value`` in a JSON-safe form: dates as ISO text, bytes as base64, NaN as "nan"."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, Mapping):
        return {str(key): json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_value(item) for item in value]
    return str(value)


@dataclass(frozen=True, slots=True)
class RuleResult:
    """The outcome of one rule.

    ``failing_rows`` counts rows that break a row-level rule (None for table rules and rules that
    could not run); ``failing_fraction`` divides it by the non-null rows (all rows for
    ``not_null``); ``sample`` holds up to five failing rows as dicts (the first ones, in the
    data's order; at most 16 columns, the rule's column first). For ``unique`` the failing rows
    are those that repeat an earlier value, and the sample shows rows holding a repeated value.
    """

    rule_id: str
    kind: str
    column: str | None
    severity: Severity
    passed: bool
    observed: JsonValue
    expected: str
    message: str = ""
    failing_rows: int | None = None
    failing_fraction: float | None = None
    sample: Sequence[Mapping[str, JsonValue]] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, JsonValue]:
        """Return the result as a JSON-safe dict."""
        return {
            "rule_id": self.rule_id,
            "kind": self.kind,
            "column": self.column,
            "severity": self.severity,
            "passed": self.passed,
            "observed": self.observed,
            "expected": self.expected,
            "message": self.message,
            "failing_rows": self.failing_rows,
            "failing_fraction": self.failing_fraction,
            "sample": [dict(row) for row in self.sample],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> RuleResult:
        """Read a result written by :meth:`to_dict`.

        Raises:
            InvalidInputError: a key is missing or has the wrong type.
        """
        try:
            failing = data.get("failing_rows")
            fraction = data.get("failing_fraction")
            sample = cast(list[dict[str, JsonValue]], data.get("sample") or [])
            return cls(
                rule_id=str(data["rule_id"]),
                kind=str(data["kind"]),
                column=None if data.get("column") is None else str(data["column"]),
                severity="warn" if data["severity"] == "warn" else "error",
                passed=bool(data["passed"]),
                observed=json_value(data.get("observed")),
                expected=str(data["expected"]),
                message=str(data.get("message", "")),
                failing_rows=None if failing is None else int(cast(int, failing)),
                failing_fraction=None if fraction is None else float(cast(float, fraction)),
                sample=tuple(dict(row) for row in sample),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"not a stored rule result: {exc}") from exc

    def describe(self) -> str:
        """One line: the rule, what was expected and what was seen."""
        return f"{self.rule_id}: {self.message or f'expected {self.expected}'}"


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The results of checking one piece of data against one contract."""

    contract: str
    contract_digest: str
    data: str
    num_rows: int
    results: Sequence[RuleResult]
    checked_at_ms: int

    @property
    def passed(self) -> bool:
        """Whether every error-severity rule passed (warnings do not count)."""
        return not self.errors

    @property
    def errors(self) -> list[RuleResult]:
        """The failed error-severity rules."""
        return [r for r in self.results if not r.passed and r.severity == "error"]

    @property
    def warnings(self) -> list[RuleResult]:
        """The failed warn-severity rules."""
        return [r for r in self.results if not r.passed and r.severity == "warn"]

    def result(self, rule_id: str) -> RuleResult:
        """Return the result of one rule by its id ("columns.amount.min", "rules[0].row_count").

        Raises:
            InvalidInputError: no rule has that id.
        """
        for item in self.results:
            if item.rule_id == rule_id:
                return item
        raise InvalidInputError(f"the report of contract {self.contract!r} has no rule {rule_id!r}")

    def raise_for_errors(self) -> None:
        """Raise when an error-severity rule failed.

        Raises:
            DataContractViolation: naming every failed error rule, with this report attached.
        """
        if self.passed:
            return
        error = DataContractViolation(
            self.contract, self.data, [result.describe() for result in self.errors]
        )
        error.report = self
        raise error

    def to_dict(self) -> dict[str, JsonValue]:
        """Return the report as a JSON-safe dict."""
        return {
            "contract": self.contract,
            "contract_digest": self.contract_digest,
            "data": self.data,
            "num_rows": self.num_rows,
            "checked_at_ms": self.checked_at_ms,
            "passed": self.passed,
            "results": [result.to_dict() for result in self.results],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ValidationReport:
        """Read a report written by :meth:`to_dict`.

        Raises:
            InvalidInputError: a key is missing or has the wrong type.
        """
        try:
            results = cast(list[Mapping[str, object]], data["results"])
            return cls(
                contract=str(data["contract"]),
                contract_digest=str(data["contract_digest"]),
                data=str(data["data"]),
                num_rows=int(cast(int, data["num_rows"])),
                results=tuple(RuleResult.from_dict(item) for item in results),
                checked_at_ms=int(cast(int, data["checked_at_ms"])),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInputError(f"not a stored validation report: {exc}") from exc
