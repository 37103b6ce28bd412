"""Column schemas and per-column summaries of a dataset version, as stored in JSON."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

# A summary statistic as JSON holds it: temporal values are ISO strings, numbers are finite.
Scalar = int | float | bool | str | None


@dataclass(frozen=True, slots=True)
class ColumnSchema:
    """One column of a dataset version: its name, Arrow type (as a string) and nullability."""

    name: str
    type: str
    nullable: bool = True

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form ``{"name", "type", "nullable"}``."""
        return {"name": self.name, "type": self.type, "nullable": self.nullable}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSchema:
        """Read the JSON form written by :meth:`to_dict`."""
        return cls(str(data["name"]), str(data["type"]), bool(data.get("nullable", True)))


def schema_of(arrow_schema: pa.Schema) -> list[ColumnSchema]:
    """Return the column schemas of an Arrow schema."""
    return [ColumnSchema(item.name, str(item.type), bool(item.nullable)) for item in arrow_schema]


@dataclass(frozen=True, slots=True)
class TopValue:
    """A frequent value of a low-cardinality string column and how many rows hold it."""

    value: str
    count: int


@dataclass(frozen=True, slots=True)
class ColumnSummary:
    """Statistics of one column, computed once when the version was added.

    Attributes:
        null_count: rows where the column is null.
        min, max: smallest and largest value (numbers, booleans, strings, ISO date-times);
            None for types without an order or an all-null column.
        mean, std: of numeric columns (for booleans, the mean is the share of true values).
        approx_distinct: approximate number of distinct non-null values (HyperLogLog).
        top_values: the most frequent values of a low-cardinality string column, else empty.
    """

    null_count: int
    min: Scalar = None
    max: Scalar = None
    mean: float | None = None
    std: float | None = None
    approx_distinct: int | None = None
    top_values: tuple[TopValue, ...] = field(default=())

    def null_rate(self, num_rows: int) -> float | None:
        """Return the share of null rows (None for an empty version)."""
        return self.null_count / num_rows if num_rows else None

    def to_dict(self) -> dict[str, object]:
        """Return the JSON form."""
        return {
            "null_count": self.null_count,
            "min": self.min,
            "max": self.max,
            "mean": self.mean,
            "std": self.std,
            "approx_distinct": self.approx_distinct,
            "top_values": [[top.value, top.count] for top in self.top_values],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnSummary:
        """Read the JSON form written by :meth:`to_dict`."""
        return cls(
            null_count=int(data.get("null_count", 0)),
            min=data.get("min"),
            max=data.get("max"),
            mean=_float_or_none(data.get("mean")),
            std=_float_or_none(data.get("std")),
            approx_distinct=_int_or_none(data.get("approx_distinct")),
            top_values=tuple(TopValue(str(value), int(count)) for value, count in _pairs(data)),
        )


def summaries_to_dict(summary: Mapping[str, ColumnSummary]) -> dict[str, object]:
    """Return the JSON form of a version's summary: column name -> statistics."""
    return {name: column.to_dict() for name, column in summary.items()}


def summaries_from_dict(data: Mapping[str, Any]) -> dict[str, ColumnSummary]:
    """Read the JSON form written by :func:`summaries_to_dict`."""
    return {str(name): ColumnSummary.from_dict(column) for name, column in data.items()}


def finite_or_none(value: float | None) -> float | None:
    """Return ``value`` as a float, or None when it is missing, NaN or infinite (not JSON)."""
    if value is None:
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _float_or_none(value: object) -> float | None:
    return None if value is None else float(str(value))


def _int_or_none(value: object) -> int | None:
    return None if value is None else int(str(value))


def _pairs(data: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
    pairs: Sequence[Sequence[Any]] = data.get("top_values") or []
    return pairs
