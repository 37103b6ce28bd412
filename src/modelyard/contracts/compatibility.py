"""Whether a new contract version still accepts what the old one promised (backward compatible)."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

from modelyard.contracts.contract import ColumnSpec, Contract
from modelyard.contracts.dtypes import is_widening
from modelyard.contracts.rules import Check
from modelyard.errors import IncompatibleContractError


@dataclass(frozen=True, slots=True)
class ContractChange:
    """One difference between two contract versions.

    ``is_breaking``: data or consumers that relied on the old contract break. ``is_warning``:
    not breaking, but data the old contract accepted may now fail (a tightened bound).
    """

    kind: str
    column: str | None
    detail: str
    is_breaking: bool
    is_warning: bool = False


@dataclass(frozen=True, slots=True)
class CompatibilityReport:
    """The changes from an old contract to a new one."""

    old: str
    new: str
    changes: Sequence[ContractChange]

    @property
    def is_compatible(self) -> bool:
        """Whether no change is breaking."""
        return not self.breaking

    @property
    def breaking(self) -> list[ContractChange]:
        """The breaking changes."""
        return [change for change in self.changes if change.is_breaking]

    @property
    def warnings(self) -> list[ContractChange]:
        """Non-breaking changes that may reject data the old contract accepted."""
        return [change for change in self.changes if change.is_warning]

    def to_dict(self) -> dict[str, object]:
        """Return the report as a JSON-safe dict."""
        return {
            "old": self.old,
            "new": self.new,
            "is_compatible": self.is_compatible,
            "changes": [
                {
                    "kind": change.kind,
                    "column": change.column,
                    "detail": change.detail,
                    "is_breaking": change.is_breaking,
                    "is_warning": change.is_warning,
                }
                for change in self.changes
            ],
        }

    def raise_for_breaking(self) -> None:
        """Raise when a change is breaking.

        Raises:
            IncompatibleContractError: naming every breaking change.
        """
        if self.breaking:
            raise IncompatibleContractError(
                self.old, self.new, [change.detail for change in self.breaking]
            )


def compare_contracts(old: Contract, new: Contract) -> CompatibilityReport:
    """List what changed from ``old`` to ``new`` and which changes break backward compatibility.

    Breaking: a column removed, renamed (a removed and an added column of the same type are
    paired as a likely rename and both named), retyped (other than a lossless widening such as
    int32 → int64), an added non-nullable column, nullable → non-nullable. Not breaking: an
    added nullable column, loosened bounds; tightened bounds and allowed sets are warnings.
    """
    changes: list[ContractChange] = []
    removed = [name for name in old.columns if name not in new.columns]
    added = [name for name in new.columns if name not in old.columns]
    for old_name, new_name in _renames(old, new, removed, added):
        removed.remove(old_name)
        added.remove(new_name)
        changes.append(
            ContractChange(
                "column_renamed",
                old_name,
                f"column {old_name} removed and {new_name} added with the same type "
                f"({old.columns[old_name].type}): {old_name} renamed to {new_name}?",
                True,
            )
        )
    changes += [
        ContractChange("column_removed", name, f"column {name} removed", True) for name in removed
    ]
    for name in added:
        spec = new.columns[name]
        if _is_nullable(spec):
            changes.append(
                ContractChange("column_added", name, f"nullable column {name} added", False)
            )
        else:
            changes.append(
                ContractChange("column_added", name, f"non-nullable column {name} added", True)
            )
    for name, old_spec in old.columns.items():
        if name in new.columns:
            changes += _column_changes(name, old_spec, new.columns[name])
    changes += _rule_changes(old, new)
    return CompatibilityReport(_label(old), _label(new), tuple(changes))


def _label(contract: Contract) -> str:
    return contract.source if contract.source != "<python>" else f"contract {contract.name}"


def _renames(
    old: Contract, new: Contract, removed: list[str], added: list[str]
) -> list[tuple[str, str]]:
    candidates = sorted(
        (
            (-difflib.SequenceMatcher(None, gone, came).ratio(), gone, came)
            for gone in removed
            for came in added
            if old.columns[gone].type == new.columns[came].type
        ),
    )
    pairs: list[tuple[str, str]] = []
    for _score, gone, came in candidates:
        if all(gone != a and came != b for a, b in pairs):
            pairs.append((gone, came))
    return pairs


def _is_nullable(spec: ColumnSpec) -> bool:
    return _value(spec.nullable) is not False


def _value(raw: object) -> object:
    return raw.value if isinstance(raw, Check) else raw


def _column_changes(name: str, old: ColumnSpec, new: ColumnSpec) -> list[ContractChange]:
    changes: list[ContractChange] = []
    if old.type != new.type:
        if is_widening(old.type, new.type):
            changes.append(
                ContractChange("column_widened", name, f"{name}: {old.type} → {new.type}", False)
            )
        else:
            changes.append(
                ContractChange("column_retyped", name, f"{name}: {old.type} → {new.type}", True)
            )
    if _is_nullable(old) and not _is_nullable(new):
        changes.append(
            ContractChange(
                "nullability_tightened", name, f"{name} was nullable and no longer is", True
            )
        )
    elif not _is_nullable(old) and _is_nullable(new):
        changes.append(
            ContractChange("nullability_loosened", name, f"{name} may now be null", False)
        )
    for bound, tighter in (("min", 1), ("max", -1)):
        before, after = _value(getattr(old, bound)), _value(getattr(new, bound))
        if before == after:
            continue
        if after is None or (
            before is not None and _compare(after, before) == -tighter  # moved outward
        ):
            changes.append(
                ContractChange("bound_loosened", name, f"{name} {bound}: {before} → {after}", False)
            )
        else:
            changes.append(
                ContractChange(
                    "bound_tightened",
                    name,
                    f"{name} {bound}: {before} → {after} (data the old contract accepted may fail)",
                    False,
                    True,
                )
            )
    changes += _set_changes(name, old, new)
    return changes


def _compare(a: object, b: object) -> int:
    try:
        return int(a > b) - int(a < b)  # type: ignore[operator]
    except TypeError:
        return 0


def _set_changes(name: str, old: ColumnSpec, new: ColumnSpec) -> list[ContractChange]:
    before, after = _value(old.allowed), _value(new.allowed)
    changes: list[ContractChange] = []
    if before != after:
        old_set = None if before is None else set(before)  # type: ignore[call-overload]
        new_set = None if after is None else set(after)  # type: ignore[call-overload]
        if new_set is None or (old_set is not None and old_set <= new_set):
            changes.append(
                ContractChange("allowed_widened", name, f"{name} allows more values", False)
            )
        else:
            dropped = sorted(map(str, old_set - new_set)) if old_set is not None else []
            detail = f"{name} allows fewer values" + (
                f" (no longer {', '.join(dropped)})" if dropped else ""
            )
            changes.append(ContractChange("allowed_narrowed", name, detail, False, True))
    for key, what in (("regex", "pattern"), ("unique", "uniqueness")):
        before, after = _value(getattr(old, key)), _value(getattr(new, key))
        if before != after and after not in (None, False):
            changes.append(
                ContractChange(
                    f"{key}_changed", name, f"{name} {what}: {before} → {after}", False, True
                )
            )
        elif before != after:
            changes.append(ContractChange(f"{key}_changed", name, f"{name} {what} dropped", False))
    return changes


def _rule_changes(old: Contract, new: Contract) -> list[ContractChange]:
    changes = [
        ContractChange("rule_added", rule.column, f"table rule {rule.kind} added", False, True)
        for rule in new.rules
        if rule not in old.rules
    ]
    changes += [
        ContractChange("rule_removed", rule.column, f"table rule {rule.kind} removed", False)
        for rule in old.rules
        if rule not in new.rules
    ]
    return changes
