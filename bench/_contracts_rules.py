"""The 40 rules of bench/contracts.py, written once as a modelyard contract, and their translations.

The YAML below is the single definition. ``parse_rules`` reads it into plain ``Rule`` records
(one per check, ids as modelyard's reports name them), and from those come the hand-written
DuckDB query (the limit) and the Great Expectations suite (the peer), so every contender checks
exactly the same thing.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

import yaml

from _contracts_data import CATEGORIES, COUNTRIES, CURRENCIES, REFERENCE

CONTRACT_YAML = f"""\
name: bench_transactions
description: 40 rules over 20 columns; 8 of them fail on the generated data.
columns:
  txn_id: {{type: string, nullable: false, unique: true, regex: "^t[0-9]{{9}}$"}}
  event_time: {{type: timestamp, nullable: false}}
  updated_at: {{type: timestamp}}
  customer_id: {{type: int64, nullable: false, min: 1}}
  card_id: {{type: string, regex: {{value: "^c[0-9]+$", mostly: 0.999}}}}
  merchant_category:
    type: string
    nullable: false
    allowed: {{value: {CATEGORIES}, mostly: 0.99}}
  country: {{type: string, allowed: {COUNTRIES}}}
  currency: {{type: string, nullable: false, allowed: {CURRENCIES}, regex: "^[A-Z]{{3}}$"}}
  zip_code: {{type: string, nullable: false, regex: {{value: "^[0-9]{{5}}$", mostly: 0.99}}}}
  amount: {{type: float64, nullable: false, min: 0, max: 50000}}
  fee: {{type: float64, min: 0, max: {{value: 100, mostly: 0.999}}}}
  discount: {{type: float32, max: 1}}
  hour: {{type: int16, nullable: false, max: 23}}
  customer_age: {{type: int16, min: 18, max: {{value: 100, severity: warn}}}}
  items: {{type: int32, max: 50}}
  device_score: {{type: float64, max: 1}}
  card_present: {{type: bool, nullable: false}}
  is_new_device: {{type: bool, nullable: {{value: false, mostly: 0.99}}}}
  is_fraud: {{type: bool, nullable: false}}
  ref_code: {{type: string, unique: true}}
rules:
  - row_count: {{min: 1000, max: 10000000}}
  - freshness: {{column: event_time, max_age: 2d}}
  - freshness: {{column: updated_at, max_age: 1d}}
  - mean: {{column: amount, min: 10, max: 200, severity: warn}}
  - quantile: {{column: amount, q: 0.99, max: 5000}}
  - quantile: {{column: device_score, q: 0.5, min: 0.4, max: 0.6}}
  - category_share: {{column: merchant_category, value: travel, min: 0.01, max: 0.3}}
  - category_share: {{column: merchant_category, value: grocery, max: 0.2}}
  - label_rate: {{column: is_fraud, min: 0.001, max: 0.05}}
"""

# Rules expected to fail on the generated data (the rest pass).
EXPECTED_FAILURES = frozenset(
    {
        "columns.country.allowed",
        "columns.zip_code.regex",
        "columns.amount.min",
        "columns.customer_age.min",
        "columns.is_new_device.nullable",
        "columns.ref_code.unique",
        "rules[2].freshness",
        "rules[7].category_share",
    }
)

_COLUMN_KEYS = ("nullable", "unique", "min", "max", "allowed", "regex")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rule:
    """One check: its report id, kind, column and parameters (``mostly`` a passing fraction)."""

    rule_id: str
    kind: str
    column: str | None
    params: dict[str, Any] = field(default_factory=dict)
    mostly: float = 1.0
    severity: str = "error"


def parse_rules(text: str = CONTRACT_YAML) -> list[Rule]:
    """Read the contract's YAML into one ``Rule`` per check (type declarations are not rules)."""
    doc = yaml.safe_load(text)
    rules: list[Rule] = []
    for column, spec in doc["columns"].items():
        default_mostly = float(spec.get("mostly", 1.0))
        default_severity = str(spec.get("severity", "error"))
        for key in _COLUMN_KEYS:
            if key not in spec:
                continue
            raw = spec[key]
            mostly, severity = default_mostly, default_severity
            if isinstance(raw, dict):
                mostly = float(raw.get("mostly", mostly))
                severity = str(raw.get("severity", severity))
                raw = raw["value"]
            if key == "nullable" and raw is not False:
                continue
            if key == "unique" and raw is not True:
                continue
            kind = "not_null" if key == "nullable" else key
            rules.append(
                Rule(f"columns.{column}.{key}", kind, column, {"value": raw}, mostly, severity)
            )
    for index, entry in enumerate(doc["rules"]):
        ((kind, params),) = entry.items()
        params = dict(params)
        severity = str(params.pop("severity", "error"))
        mostly = float(params.pop("mostly", 1.0))
        column = params.pop("column", None)
        rules.append(Rule(f"rules[{index}].{kind}", kind, column, params, mostly, severity))
    return rules


def _max_age_seconds(text: str) -> int:
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"bad duration {text!r}")
    return int(match.group(1)) * _UNIT_S[match.group(2)]


def freshness_cutoff(rule: Rule) -> dt.datetime:
    """The oldest acceptable newest timestamp of a freshness rule (now = the data's reference)."""
    return REFERENCE - dt.timedelta(seconds=_max_age_seconds(str(rule.params["max_age"])))


# ---------------------------------------------------------------------------- DuckDB (the limit)


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _fail_predicate(rule: Rule) -> str | None:
    """SQL predicate true on a failing row of a row-level rule (None for table-level rules)."""
    col = f'"{rule.column}"'
    value = rule.params.get("value")
    if rule.kind == "not_null":
        return f"{col} IS NULL"
    if rule.kind == "min":
        return f"{col} < {_sql_literal(value)}"
    if rule.kind == "max":
        return f"{col} > {_sql_literal(value)}"
    if rule.kind == "allowed":
        return f"{col} NOT IN ({', '.join(_sql_literal(v) for v in value)})"
    if rule.kind == "regex":
        return f"NOT regexp_full_match({col}, {_sql_literal(value)})"
    return None


def duckdb_query(rules: list[Rule], source: str, *, flat: bool = False) -> tuple[str, list[str]]:
    """One SQL statement over ``source`` computing every rule's inputs; and its column names.

    By default each ``count(DISTINCT ...)`` of a uniqueness rule is its own scalar subquery
    (a CTE) beside one plain aggregate for everything else: DuckDB then keeps one distinct
    hash table at a time instead of running the whole aggregate through its DISTINCT path,
    which holds ~2.7x the data's Arrow size at 5M rows (``flat=True`` writes that naive form).
    """
    exprs: list[str] = ["count(*)"]
    names: list[str] = ["rows"]
    distinct: list[tuple[str, str]] = []
    counted: set[str] = set()
    for i, rule in enumerate(rules):
        col = f'"{rule.column}"'
        if rule.column is not None and rule.column not in counted:
            exprs.append(f"count({col})")
            names.append(f"nonnull:{rule.column}")
            counted.add(rule.column)
        predicate = _fail_predicate(rule)
        if predicate is not None and rule.kind != "not_null":
            exprs.append(f"count(*) FILTER (WHERE {predicate})")
        elif rule.kind == "unique":
            expression = f"count({col}) - count(DISTINCT {col})"
            if not flat:
                distinct.append((f"r{i}", expression))
                continue
            exprs.append(expression)
        elif rule.kind == "freshness":
            exprs.append(f"max({col})")
        elif rule.kind in ("mean", "label_rate"):
            cast = "::DOUBLE" if rule.kind == "label_rate" else ""
            exprs.append(f"avg({col}{cast})")
        elif rule.kind == "quantile":
            exprs.append(f"quantile_cont({col}, {float(rule.params['q'])})")
        elif rule.kind == "category_share":
            value = _sql_literal(rule.params["value"])
            exprs.append(f"count(*) FILTER (WHERE {col} = {value}) / count({col})")
        elif rule.kind in ("not_null", "row_count"):
            continue
        else:
            raise ValueError(f"no SQL for {rule.kind}")
        names.append(f"r{i}")
    main = f"SELECT {', '.join(exprs)} FROM {source}"
    if not distinct:
        return main, names
    ctes = [f"main AS ({main})"]
    ctes += [f"d{j} AS (SELECT {expr} FROM {source})" for j, (_, expr) in enumerate(distinct)]
    tables = ", ".join(["main", *(f"d{j}" for j in range(len(distinct)))])
    names += [name for name, _ in distinct]
    return f"WITH {', '.join(ctes)} SELECT * FROM {tables}", names


def _between(observed: Any, params: dict[str, Any]) -> bool:
    if observed is None:
        return False
    low, high = params.get("min"), params.get("max")
    return (low is None or observed >= low) and (high is None or observed <= high)


def duckdb_verdicts(rules: list[Rule], row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Pass/fail, observed value and failing count of every rule from the aggregate row."""
    out: dict[str, dict[str, Any]] = {}
    total = row["rows"]
    for i, rule in enumerate(rules):
        nonnull = row.get(f"nonnull:{rule.column}", total)
        value = row.get(f"r{i}")
        failing: int | None = None
        if rule.kind == "not_null":
            failing = total - nonnull
            passed = total == 0 or (total - failing) / total >= rule.mostly
            observed: Any = failing
        elif rule.kind in ("min", "max", "allowed", "regex", "unique"):
            failing = int(value)
            passed = nonnull == 0 or (nonnull - failing) / nonnull >= rule.mostly
            observed = failing
        elif rule.kind == "row_count":
            observed = total
            passed = _between(total, rule.params)
        elif rule.kind == "freshness":
            observed = value
            passed = value is not None and value >= freshness_cutoff(rule)
        else:  # mean, quantile, category_share, label_rate
            observed = value
            passed = _between(value, rule.params)
        out[rule.rule_id] = {"passed": bool(passed), "observed": observed, "failing": failing}
    return out


def sample_query(rule: Rule, source: str, limit: int = 5) -> str | None:
    """SELECT of up to ``limit`` failing rows of a row-level rule (None for table-level rules)."""
    predicate = _fail_predicate(rule)
    if rule.kind == "unique":
        col = f'"{rule.column}"'
        predicate = (
            f"{col} IN (SELECT {col} FROM {source} WHERE {col} IS NOT NULL"
            f" GROUP BY {col} HAVING count(*) > 1)"
        )
    if predicate is None:
        return None
    return f"SELECT * FROM {source} WHERE {predicate} LIMIT {limit}"


# ---------------------------------------------------------------------------- Great Expectations


def ge_expectations(rules: list[Rule]) -> list[dict[str, Any]]:
    """Each rule as Great Expectations 1.x expectations: ``{"rule_id", "type", "kwargs"}``.

    A category-share rule with both bounds becomes two expectations (share >= min as
    ``ValuesToBeInSet`` with mostly=min, share <= max as ``ValuesToNotBeInSet`` with
    mostly=1-max); the rule passes when both do. GX has no category-share expectation.
    """
    out: list[dict[str, Any]] = []

    def add(rule: Rule, type_: str, **kwargs: Any) -> None:
        out.append({"rule_id": rule.rule_id, "type": type_, "kwargs": kwargs})

    for rule in rules:
        column = rule.column
        mostly = {"mostly": rule.mostly} if rule.mostly < 1.0 else {}
        value = rule.params.get("value")
        if rule.kind == "not_null":
            add(rule, "ExpectColumnValuesToNotBeNull", column=column, **mostly)
        elif rule.kind == "min":
            add(rule, "ExpectColumnValuesToBeBetween", column=column, min_value=value, **mostly)
        elif rule.kind == "max":
            add(rule, "ExpectColumnValuesToBeBetween", column=column, max_value=value, **mostly)
        elif rule.kind == "allowed":
            add(rule, "ExpectColumnValuesToBeInSet", column=column, value_set=value, **mostly)
        elif rule.kind == "regex":
            add(rule, "ExpectColumnValuesToMatchRegex", column=column, regex=value, **mostly)
        elif rule.kind == "unique":
            add(rule, "ExpectColumnValuesToBeUnique", column=column, **mostly)
        elif rule.kind == "row_count":
            add(
                rule,
                "ExpectTableRowCountToBeBetween",
                min_value=rule.params.get("min"),
                max_value=rule.params.get("max"),
            )
        elif rule.kind == "freshness":
            cutoff = freshness_cutoff(rule).isoformat()
            add(rule, "ExpectColumnMaxToBeBetween", column=column, min_value=cutoff)
        elif rule.kind in ("mean", "label_rate"):
            add(
                rule,
                "ExpectColumnMeanToBeBetween",
                column=column,
                min_value=rule.params.get("min"),
                max_value=rule.params.get("max"),
            )
        elif rule.kind == "quantile":
            add(
                rule,
                "ExpectColumnQuantileValuesToBeBetween",
                column=column,
                quantile_ranges={
                    "quantiles": [float(rule.params["q"])],
                    "value_ranges": [[rule.params.get("min"), rule.params.get("max")]],
                },
            )
        elif rule.kind == "category_share":
            share = [rule.params["value"]]
            if rule.params.get("min") is not None:
                add(
                    rule,
                    "ExpectColumnValuesToBeInSet",
                    column=column,
                    value_set=share,
                    mostly=float(rule.params["min"]),
                )
            if rule.params.get("max") is not None:
                add(
                    rule,
                    "ExpectColumnValuesToNotBeInSet",
                    column=column,
                    value_set=share,
                    mostly=1.0 - float(rule.params["max"]),
                )
        else:
            raise ValueError(f"no expectation for {rule.kind}")
    return out


def kinds(rules: list[Rule]) -> list[str]:
    """The rule kinds present, in first-seen order."""
    return list(dict.fromkeys(rule.kind for rule in rules))


def subset_yaml(kind: str, text: str = CONTRACT_YAML) -> str:
    """The contract restricted to the rules of one kind (column types kept, they cost nothing)."""
    doc = yaml.safe_load(text)
    key = "nullable" if kind == "not_null" else kind
    for spec in doc["columns"].values():
        for other in _COLUMN_KEYS:
            if other != key:
                spec.pop(other, None)
    doc["rules"] = [entry for entry in doc["rules"] if kind in entry]
    return str(yaml.safe_dump(doc, sort_keys=False))
