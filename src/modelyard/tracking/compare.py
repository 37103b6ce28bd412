"""Side-by-side comparison of runs: their params, latest metrics and tags in one table."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from modelyard.tracking.runs import Run


@dataclass(frozen=True, slots=True)
class ComparisonRow:
    """One param, metric or tag across the compared runs."""

    section: str  # "param" | "metric" | "tag"
    key: str
    values: tuple[str | float | None, ...]
    is_different: bool
    best_index: int | None = None  # the run with the best metric value


@dataclass(frozen=True, slots=True)
class Comparison:
    """Runs side by side."""

    runs: tuple[Run, ...]
    rows: tuple[ComparisonRow, ...]

    def section(self, name: str) -> list[ComparisonRow]:
        """Rows of one section: "param", "metric" or "tag"."""
        return [row for row in self.rows if row.section == name]


def compare_runs(runs: Sequence[Run]) -> Comparison:
    """Line the runs' params, metrics and tags up by key (missing values are None)."""
    rows: list[ComparisonRow] = []
    sections: list[tuple[str, list[Mapping[str, str | float]]]] = [
        ("param", [run.params for run in runs]),
        ("metric", [run.metrics for run in runs]),
        ("tag", [run.tags for run in runs]),
    ]
    for section, mappings in sections:
        keys = sorted({key for mapping in mappings for key in mapping})
        for key in keys:
            values = tuple(mapping.get(key) for mapping in mappings)
            best = _best(values, lower_is_better(key)) if section == "metric" else None
            rows.append(ComparisonRow(section, key, values, _differ(values), best))
    return Comparison(tuple(runs), tuple(rows))


def _differ(values: tuple[str | float | None, ...]) -> bool:
    seen = {"nan" if isinstance(v, float) and math.isnan(v) else v for v in values}
    return len(seen) > 1


def lower_is_better(metric: str) -> bool:
    """Guess a metric's direction from its name: losses, errors and durations go down."""
    name = metric.lower()
    return any(word in name for word in _LOWER_IS_BETTER)


_LOWER_IS_BETTER = ("loss", "error", "brier", "mse", "mae", "rmse", "seconds", "_ms", "latency")


def _best(values: tuple[str | float | None, ...], lowest: bool) -> int | None:
    numbers = [
        (-value if lowest else value, index)
        for index, value in enumerate(values)
        if isinstance(value, float) and not math.isnan(value)
    ]
    if len(numbers) < 2:
        return None
    return max(numbers)[1]
