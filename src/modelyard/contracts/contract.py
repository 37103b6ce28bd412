"""A data contract: declared columns with their rules and table rules, built in Python or YAML."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, cast

import yaml

from modelyard.contracts import engine
from modelyard.contracts.dtypes import CONTRACT_TYPES, Family, family_of
from modelyard.contracts.rules import (
    SEVERITIES,
    TABLE_RULE_KEYS,
    TABLE_RULE_REQUIRED,
    TABLE_RULES,
    Check,
    Freshness,
    Severity,
    TableRule,
    fits_family,
    format_duration,
    is_number,
    plain_value,
    regex_problem,
    table_rule_problems,
)
from modelyard.contracts.yamlsource import read_yaml, with_line
from modelyard.errors import InvalidContractError, InvalidNameError, close_matches
from modelyard.ids import check_name

if TYPE_CHECKING:
    from modelyard.contracts.report import ValidationReport
    from modelyard.contracts.sources import ValidationData

PYTHON_SOURCE = "<python>"
COLUMN_CHECKS: tuple[str, ...] = ("nullable", "min", "max", "allowed", "regex", "unique")
"""The column keys that are rules (each takes the long form ``{value, mostly, severity}``)."""
COLUMN_KEYS: tuple[str, ...] = ("type", *COLUMN_CHECKS, "mostly", "severity", "description")
CONTRACT_KEYS: tuple[str, ...] = ("name", "description", "columns", "rules")
CHECK_KEYS: tuple[str, ...] = ("value", "mostly", "severity")


@dataclass(frozen=True, slots=True)
class ColumnSpec:
    """One declared column: its type and its row-level rules.

    ``mostly`` (the minimum passing fraction of non-null rows) and ``severity`` are defaults for
    the column's rules; wrap a rule's value in :class:`Check` to override them for that rule.
    """

    type: str
    nullable: bool | Check = True
    min: object = None
    max: object = None
    allowed: Sequence[object] | Check | None = None
    regex: str | Check | None = None
    unique: bool | Check = False
    mostly: float | None = None
    severity: Severity = "error"
    description: str = ""

    def __post_init__(self) -> None:
        # One form per value, so that YAML lists and Python tuples compare equal.
        allowed = self.allowed
        if isinstance(allowed, list):
            object.__setattr__(self, "allowed", tuple(allowed))
        elif isinstance(allowed, Check) and isinstance(allowed.value, list):
            checked = Check(tuple(allowed.value), allowed.mostly, allowed.severity)
            object.__setattr__(self, "allowed", checked)


@dataclass(frozen=True, slots=True)
class ColumnCheck:
    """A column rule resolved for the engine: its value with the effective mostly and severity."""

    rule_id: str
    kind: str
    column: str
    value: object
    mostly: float | None
    severity: Severity


def _unwrap(raw: object) -> tuple[object, float | None, Severity | None]:
    if isinstance(raw, Check):
        return raw.value, raw.mostly, raw.severity
    return raw, None, None


def column_checks(name: str, spec: ColumnSpec) -> list[ColumnCheck]:
    """Return the rules of a column in canonical order, its defaults applied (type first)."""
    checks = [ColumnCheck(f"columns.{name}.type", "type", name, spec.type, None, spec.severity)]
    for kind in COLUMN_CHECKS:
        value, mostly, severity = _unwrap(getattr(spec, kind))
        if value is None or (kind == "nullable" and value is True):
            continue
        if kind == "unique" and value is False:
            continue
        if kind == "allowed":
            value = tuple(cast(Sequence[object], value))  # a sequence: _column_problems
        checks.append(
            ColumnCheck(
                f"columns.{name}.{kind}",
                "not_null" if kind == "nullable" else kind,
                name,
                value,
                mostly if mostly is not None else spec.mostly,
                severity or spec.severity,
            )
        )
    return checks


@dataclass(frozen=True, slots=True)
class Contract:
    """A named set of column declarations and table rules that data must satisfy.

    Build one in Python or from YAML (:meth:`from_yaml`); the constructor checks it and raises
    :class:`~modelyard.errors.InvalidContractError` naming the key that is wrong.

    Example:
        >>> Contract("tx", {"amount": ColumnSpec("float64", nullable=False, min=0)},
        ...          [RowCount(min=1)])  # doctest: +SKIP
    """

    name: str
    columns: Mapping[str, ColumnSpec]
    rules: Sequence[TableRule] = ()
    description: str = ""
    source: str = field(default=PYTHON_SOURCE, compare=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", dict(self.columns))
        object.__setattr__(self, "rules", tuple(self.rules))
        for key, reason in _contract_problems(self):
            raise InvalidContractError(self.source, key, reason)

    # ------------------------------------------------------------------ views

    def checks(self) -> list[ColumnCheck]:
        """Return every column rule, in declaration order."""
        return [check for name, spec in self.columns.items() for check in column_checks(name, spec)]

    def to_dict(self) -> dict[str, object]:
        """Return the canonical, JSON- and YAML-safe form (defaults left out)."""
        body: dict[str, object] = {"name": self.name}
        if self.description:
            body["description"] = self.description
        body["columns"] = {name: _column_dict(spec) for name, spec in self.columns.items()}
        if self.rules:
            body["rules"] = [{rule.kind: _rule_dict(rule)} for rule in self.rules]
        return body

    @property
    def digest(self) -> str:
        """``sha256:`` of the canonical JSON: equal definitions have equal digests."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def to_yaml(self) -> str:
        """Return the contract as YAML that :meth:`from_yaml` reads back to an equal contract."""
        return yaml.safe_dump(
            self.to_dict(), sort_keys=False, default_flow_style=None, allow_unicode=True, width=100
        )

    # ------------------------------------------------------------------ readers

    @classmethod
    def from_dict(cls, data: object, *, source: str = PYTHON_SOURCE) -> Contract:
        """Build a contract from its dict form (the YAML shape).

        Raises:
            InvalidContractError: a key or value is wrong; the error names its key path.
        """
        return _from_dict(data, source)

    @classmethod
    def from_yaml(cls, text_or_path: str | Path) -> Contract:
        """Read a contract from YAML text, or from a file (a Path, or a str ending in .yaml/.yml).

        Raises:
            InvalidContractError: malformed YAML, an unknown key, rule or type, or a wrong value;
                the error names the line and the key path, with a did-you-mean for unknown names.
        """
        is_path = isinstance(text_or_path, Path) or (
            "\n" not in text_or_path and text_or_path.endswith((".yaml", ".yml"))
        )
        if is_path:
            path = Path(text_or_path)
            source = str(path)
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidContractError(source, "", f"cannot read the file: {exc}") from exc
        else:
            source, text = "<yaml>", str(text_or_path)
        data, lines = read_yaml(text, source)
        try:
            return _from_dict(data, source)
        except InvalidContractError as exc:
            raise with_line(exc, lines) from exc

    # ------------------------------------------------------------------ checking data

    def validate(self, data: ValidationData, *, now_ms: int | None = None) -> ValidationReport:
        """Check ``data`` against every rule in one vectorised DuckDB pass.

        Args:
            data: a DatasetVersion (its Parquet file is scanned), a pyarrow Table, a pandas or
                polars DataFrame, or the path of a Parquet file.
            now_ms: the time freshness is measured against (epoch ms); the system clock if None.

        Returns:
            The report: one result per rule, failing-row samples for failed row rules.

        Raises:
            InvalidInputError: the data is of an unsupported kind, or a file cannot be read.
            CorruptDatasetError: a dataset version's Parquet file cannot be read.
        """
        return engine.validate(self, data, now_ms=now_ms)

    def enforce(self, data: ValidationData, *, now_ms: int | None = None) -> ValidationReport:
        """Validate and raise when an error-severity rule fails; return the report otherwise.

        Raises:
            DataContractViolation: an error-severity rule failed (the report is attached).
        """
        report = self.validate(data, now_ms=now_ms)
        report.raise_for_errors()
        return report


def load_contract(path: str | Path) -> Contract:
    """Read a contract from a YAML file.

    Raises:
        InvalidContractError: the file is missing, or its content is not a valid contract.
    """
    return Contract.from_yaml(Path(path))


# ------------------------------------------------------------------ canonical dicts


def _column_dict(spec: ColumnSpec) -> dict[str, object]:
    body: dict[str, object] = {"type": spec.type}
    for kind in COLUMN_CHECKS:
        raw = getattr(spec, kind)
        value, mostly, severity = _unwrap(raw)
        if (
            value is None
            or (kind == "nullable" and value is True)
            or (kind == "unique" and not value)
        ):
            continue
        value = plain_value(value)
        if mostly == spec.mostly:
            mostly = None
        if severity == spec.severity:
            severity = None
        if mostly is None and severity is None:
            body[kind] = value
        else:
            long_form: dict[str, object] = {"value": value}
            if mostly is not None:
                long_form["mostly"] = mostly
            if severity is not None:
                long_form["severity"] = severity
            body[kind] = long_form
    if spec.mostly is not None:
        body["mostly"] = spec.mostly
    if spec.severity != "error":
        body["severity"] = spec.severity
    if spec.description:
        body["description"] = spec.description
    return body


def _rule_dict(rule: TableRule) -> dict[str, object]:
    body: dict[str, object] = {}
    for key in TABLE_RULE_KEYS[rule.kind]:
        value = getattr(rule, key)
        if value is None or (key == "severity" and value == "error"):
            continue
        if key == "max_age" and isinstance(rule, Freshness):
            value = format_duration(rule.max_age_s)
        body[key] = plain_value(value)
    return body


# ------------------------------------------------------------------ from the dict form


def _from_dict(data: object, source: str) -> Contract:
    top = _mapping(data, "", source, "a contract is a mapping with name, columns and rules")
    _known_keys(top, CONTRACT_KEYS, "", source, "contract key")
    for required in ("name", "columns"):
        if required not in top:
            raise InvalidContractError(
                source, required, f"the required key {required!r} is missing"
            )
    name, description = top["name"], top.get("description", "")
    if not isinstance(description, str):
        raise InvalidContractError(source, "description", "description must be a string")
    columns_raw = _mapping(top["columns"], "columns", source, "columns is a mapping name: spec")
    columns = {
        str(column): _column_from_dict(str(column), raw, source)
        for column, raw in columns_raw.items()
    }
    rules_raw = top.get("rules") or []
    if not isinstance(rules_raw, list):
        raise InvalidContractError(source, "rules", "rules is a list of {rule_name: {...}} items")
    rules = [_rule_from_dict(index, raw, source) for index, raw in enumerate(rules_raw)]
    return Contract(name, columns, rules, description, source)  # type: ignore[arg-type]


def _mapping(value: object, key: str, source: str, hint: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise InvalidContractError(source, key, f"expected a mapping, got {_kind(value)}: {hint}")
    return value


def _kind(value: object) -> str:
    return "nothing" if value is None else type(value).__name__


def _known_keys(
    mapping: Mapping[str, object], known: Sequence[str], prefix: str, source: str, what: str
) -> None:
    for key in mapping:
        if key not in known:
            path = f"{prefix}.{key}" if prefix else str(key)
            hint = close_matches(str(key), known, limit=1)
            guess = f' (did you mean "{hint[0]}"?)' if hint else ""
            raise InvalidContractError(
                source, path, f"unknown {what} {key!r}{guess}; known: {', '.join(known)}"
            )


def _column_from_dict(name: str, raw: object, source: str) -> ColumnSpec:
    prefix = f"columns.{name}"
    if isinstance(raw, str):  # the short form "amount: float64"
        raw = {"type": raw}
    spec = _mapping(raw, prefix, source, "a column is a mapping such as {type: float64}")
    _known_keys(spec, COLUMN_KEYS, prefix, source, "column key")
    if "type" not in spec:
        raise InvalidContractError(source, f"{prefix}.type", "the column's type is missing")
    values: dict[str, object] = {}
    for key, value in spec.items():
        if key in COLUMN_CHECKS and isinstance(value, dict):
            _known_keys(value, CHECK_KEYS, f"{prefix}.{key}", source, "rule option")
            if "value" not in value:
                raise InvalidContractError(
                    source, f"{prefix}.{key}", "the long form needs a value: {value: …, mostly: …}"
                )
            value = Check(value["value"], value.get("mostly"), value.get("severity"))
        values[key] = value
    return ColumnSpec(**values)  # type: ignore[arg-type]


def _rule_from_dict(index: int, raw: object, source: str) -> TableRule:
    prefix = f"rules[{index}]"
    if not isinstance(raw, dict) or len(raw) != 1:
        raise InvalidContractError(
            source,
            prefix,
            "each rule is a mapping with one rule name, such as {row_count: {min: 1}}",
        )
    ((kind, params),) = raw.items()
    if kind not in TABLE_RULES:
        _known_keys({kind: None}, tuple(TABLE_RULES), prefix, source, "rule")
    path = f"{prefix}.{kind}"
    options = _mapping(params, path, source, f"{kind} takes {', '.join(TABLE_RULE_KEYS[kind])}")
    _known_keys(options, TABLE_RULE_KEYS[kind], path, source, f"{kind} option")
    for required in TABLE_RULE_REQUIRED[kind]:
        if required not in options:
            raise InvalidContractError(source, f"{path}.{required}", f"{kind} needs {required}")
    # Values are checked by Contract.__post_init__, which names the key of a wrong one.
    return TABLE_RULES[kind](**options)  # type: ignore[arg-type]


# ------------------------------------------------------------------ checks


def _contract_problems(contract: Contract) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    try:
        check_name("contract name", contract.name)
    except InvalidNameError as exc:
        problems.append(("name", f"name {contract.name!r} is invalid: {exc.rule}"))
    if not isinstance(contract.description, str):
        problems.append(("description", "description must be a string"))
    for name, spec in contract.columns.items():
        if not isinstance(name, str) or not name:
            problems.append(("columns", f"column names are non-empty strings, not {name!r}"))
        elif not isinstance(spec, ColumnSpec):
            problems.append((f"columns.{name}", f"expected a ColumnSpec, got {_kind(spec)}"))
        else:
            problems.extend((f"columns.{name}.{key}", why) for key, why in _column_problems(spec))
    for index, rule in enumerate(contract.rules):
        if not isinstance(rule, tuple(TABLE_RULES.values())):
            problems.append((f"rules[{index}]", f"expected a table rule, got {_kind(rule)}"))
            continue
        prefix = f"rules[{index}].{rule.kind}"
        found = table_rule_problems(rule) or _rule_column_problems(rule, contract.columns)
        problems.extend((f"{prefix}.{key}", why) for key, why in found)
    return problems


def _column_problems(spec: ColumnSpec) -> list[tuple[str, str]]:
    if spec.type not in CONTRACT_TYPES:
        hint = close_matches(str(spec.type), CONTRACT_TYPES, limit=1)
        guess = f' (did you mean "{hint[0]}"?)' if hint else ""
        return [("type", f"unknown type {spec.type!r}{guess}; types: {', '.join(CONTRACT_TYPES)}")]
    problems = _option_problems(spec.mostly, spec.severity)
    if not isinstance(spec.description, str):
        problems.append(("description", "description must be a string"))
    family = family_of(spec.type)
    bounds: list[object] = []
    for kind in COLUMN_CHECKS:
        value, mostly, severity = _unwrap(getattr(spec, kind))
        problems.extend(
            (f"{kind}.{key}", why)
            for key, why in _option_problems(mostly, severity, allow_none=True)
        )
        if value is None:
            continue
        why = _value_problem(kind, value, family, spec.type)
        if why is not None:
            problems.append((kind, why))
        elif kind in ("min", "max"):
            bounds.append(value)
    if not problems and len(bounds) == 2 and family is Family.NUMERIC:
        low, high = bounds
        if low > high:  # type: ignore[operator]  # both numbers: checked by _value_problem
            problems.append(("min", f"min {low} is greater than max {high}"))
    return problems


def _option_problems(
    mostly: object, severity: object, *, allow_none: bool = False
) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if mostly is not None and not (is_number(mostly) and 0 < mostly <= 1):  # type: ignore[operator]
        problems.append(("mostly", f"mostly is a fraction in (0, 1], not {mostly!r}"))
    if not (severity in SEVERITIES or (allow_none and severity is None)):
        problems.append(("severity", f"severity must be error or warn, not {severity!r}"))
    return problems


def _value_problem(kind: str, value: object, family: Family, contract_type: str) -> str | None:
    if kind in ("nullable", "unique"):
        return None if isinstance(value, bool) else f"{kind} must be true or false, not {value!r}"
    if kind == "regex":
        if family is not Family.STRING:
            return f"regex applies to string columns, not {contract_type}"
        if not isinstance(value, str):
            return f"regex must be a string, not {value!r}"
        return regex_problem(value)
    if family in (Family.BOOL, Family.BINARY) and kind in ("min", "max"):
        return f"{kind} does not apply to a {contract_type} column"
    if kind == "allowed":
        if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not value:
            return f"allowed must be a non-empty list of values, not {value!r}"
        wrong = [item for item in value if not fits_family(item, family, contract_type)]
        if wrong or family is Family.BINARY:
            return f"allowed values {wrong!r} are not {contract_type} values"
        return None
    if not fits_family(value, family, contract_type):
        return f"{kind} {value!r} is not a {contract_type} value"
    return None


def _rule_column_problems(
    rule: TableRule, columns: Mapping[str, ColumnSpec]
) -> list[tuple[str, str]]:
    column = rule.column
    spec = columns.get(column) if column is not None else None
    if spec is None or spec.type not in CONTRACT_TYPES:
        return []
    family = family_of(spec.type)
    if rule.kind in ("mean", "quantile") and family is not Family.NUMERIC:
        return [("column", f"{rule.kind} needs a numeric column; {column} is {spec.type}")]
    if rule.kind == "freshness" and spec.type not in ("date", "timestamp", "timestamp_tz"):
        return [("column", f"freshness needs a date or timestamp column; {column} is {spec.type}")]
    value = getattr(rule, "value", None) if rule.kind == "category_share" else None
    if value is not None and not fits_family(value, family, spec.type):
        return [("value", f"value {value!r} is not a {spec.type} value")]
    positive = getattr(rule, "positive", None)
    if positive is not None and not fits_family(positive, family, spec.type):
        return [("positive", f"positive {positive!r} is not a {spec.type} value")]
    return []
