"""What changed between two dataset versions, read from their stored schemas and summaries."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field

from modelyard.datasets.schema import ColumnSchema, ColumnSummary, Scalar
from modelyard.datasets.versions import DatasetVersion

# A removed and an added column of the same type "look renamed" when their names are this close
# (difflib ratio), or when their summaries agree on every statistic both have.
_RENAME_NAME_RATIO = 0.6
_COMPARED_STATS = ("null_rate", "mean", "std", "min", "max", "approx_distinct")


@dataclass(frozen=True, slots=True)
class SchemaChange:
    """One change to the columns.

    Attributes:
        kind: "added", "removed", "renamed" (a removed and an added column of one type that
            look alike: a guess, worded as a question) or "retyped".
        column: the column's name (the old name for "renamed").
        detail: the change in words, e.g. "amount renamed to amount_usd? (float64)".
        new_column: the new name, for "renamed".
        old_type, new_type: the types before and after (one of them None for added/removed).
    """

    kind: str
    column: str
    detail: str
    new_column: str | None = None
    old_type: str | None = None
    new_type: str | None = None

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form."""
        return {
            "kind": self.kind,
            "column": self.column,
            "detail": self.detail,
            "new_column": self.new_column,
            "old_type": self.old_type,
            "new_type": self.new_type,
        }


@dataclass(frozen=True, slots=True)
class ColumnChange:
    """One summary statistic of a column (in both versions) that differs between them.

    Statistics: "null_rate", "mean", "std", "min", "max", "approx_distinct".
    """

    column: str
    statistic: str
    old: Scalar
    new: Scalar

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form."""
        return {
            "column": self.column,
            "statistic": self.statistic,
            "old": self.old,
            "new": self.new,
        }


@dataclass(frozen=True, slots=True)
class DatasetDiff:
    """The differences from version ``old`` to version ``new``.

    Attributes:
        old, new: the references compared (``name/version``).
        old_rows, new_rows: their row counts.
        schema_changes: added, removed, renamed-looking and retyped columns, in column order.
        column_changes: changed summary statistics of the columns both versions have.
    """

    old: str
    new: str
    old_rows: int
    new_rows: int
    schema_changes: tuple[SchemaChange, ...] = ()
    column_changes: tuple[ColumnChange, ...] = field(default=())

    @property
    def has_schema_changes(self) -> bool:
        """Whether any column was added, removed, renamed or retyped."""
        return bool(self.schema_changes)

    @property
    def rows_delta(self) -> int:
        """``new_rows - old_rows``."""
        return self.new_rows - self.old_rows

    def to_dict(self) -> dict[str, object]:
        """Return a JSON-safe form (for ``--json``)."""
        return {
            "old": self.old,
            "new": self.new,
            "rows": {"old": self.old_rows, "new": self.new_rows, "delta": self.rows_delta},
            "has_schema_changes": self.has_schema_changes,
            "schema_changes": [change.to_dict() for change in self.schema_changes],
            "column_changes": [change.to_dict() for change in self.column_changes],
        }


def diff_versions(old: DatasetVersion, new: DatasetVersion) -> DatasetDiff:
    """Compare two versions from their stored schemas and summaries (no data is read)."""
    before = {column.name: column for column in old.schema}
    after = {column.name: column for column in new.schema}
    removed = [column for column in old.schema if column.name not in after]
    added = [column for column in new.schema if column.name not in before]
    renamed = _renames(old, new, removed, added)
    renamed_old = {change.column for change in renamed}
    renamed_new = {change.new_column for change in renamed}
    kept = [name for name in before if name in after]
    changes = [
        *(
            SchemaChange("removed", column.name, f"{column.name} removed", old_type=column.type)
            for column in removed
            if column.name not in renamed_old
        ),
        *renamed,
        *(
            SchemaChange(
                "retyped",
                name,
                f"{name} retyped from {before[name].type} to {after[name].type}",
                old_type=before[name].type,
                new_type=after[name].type,
            )
            for name in kept
            if before[name].type != after[name].type
        ),
        *(
            SchemaChange("added", column.name, f"{column.name} added", new_type=column.type)
            for column in added
            if column.name not in renamed_new
        ),
    ]
    return DatasetDiff(
        old=old.ref,
        new=new.ref,
        old_rows=old.num_rows,
        new_rows=new.num_rows,
        schema_changes=tuple(changes),
        column_changes=tuple(change for name in kept for change in _column_changes(name, old, new)),
    )


def _renames(
    a: DatasetVersion, b: DatasetVersion, removed: list[ColumnSchema], added: list[ColumnSchema]
) -> list[SchemaChange]:
    """Pair removed and added columns of one type, best-looking pairs first, each used once."""
    scored: list[tuple[float, int, int]] = []
    for i, gone in enumerate(removed):
        for j, came in enumerate(added):
            if gone.type != came.type:
                continue
            ratio = difflib.SequenceMatcher(None, gone.name, came.name).ratio()
            same_stats = _same_stats(a, gone.name, b, came.name)
            if ratio >= _RENAME_NAME_RATIO or same_stats:
                scored.append((ratio + (1.0 if same_stats else 0.0), i, j))
    pairs: list[tuple[int, SchemaChange]] = []
    used_old: set[int] = set()
    used_new: set[int] = set()
    for _, i, j in sorted(scored, key=lambda item: (-item[0], item[1], item[2])):
        if i in used_old or j in used_new:
            continue
        used_old.add(i)
        used_new.add(j)
        gone, came = removed[i], added[j]
        detail = f"{gone.name} renamed to {came.name}? ({gone.type})"
        change = SchemaChange("renamed", gone.name, detail, came.name, gone.type, came.type)
        pairs.append((i, change))
    return [change for _, change in sorted(pairs, key=lambda pair: pair[0])]


def _same_stats(a: DatasetVersion, old: str, b: DatasetVersion, new: str) -> bool:
    before, after = _stats(a, old), _stats(b, new)
    shared = [stat for stat in _COMPARED_STATS if before[stat] is not None]
    return bool(shared) and all(before[stat] == after[stat] for stat in shared)


def _stats(version: DatasetVersion, name: str) -> dict[str, Scalar]:
    summary = version.summary.get(name) or ColumnSummary(null_count=0)
    return {
        "null_rate": summary.null_rate(version.num_rows),
        "mean": summary.mean,
        "std": summary.std,
        "min": summary.min,
        "max": summary.max,
        "approx_distinct": summary.approx_distinct,
    }


def _column_changes(name: str, a: DatasetVersion, b: DatasetVersion) -> list[ColumnChange]:
    before, after = _stats(a, name), _stats(b, name)
    return [
        ColumnChange(name, stat, before[stat], after[stat])
        for stat in _COMPARED_STATS
        if before[stat] != after[stat]
    ]
