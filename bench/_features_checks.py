"""Agreement checks of bench/features.py, done with DuckDB over the contenders' result files."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import duckdb

from _features_data import (
    CHECK_IDS,
    FEATURES,
    JOIN_KEY,
    SINGLE_SEED,
    TIMESTAMP,
    end_time,
    sample_ids,
)

_SAME = " AND ".join(f"a.{name} IS NOT DISTINCT FROM b.{name}" for name in FEATURES)


def historical_agreement(limit: Path, other: Path) -> dict[str, Any]:
    """Rows of ``other`` against the limit's, matched on ``row_id``.

    ``rows``: rows ``other`` returned; ``missing``: limit rows it lacks (and how many of those
    have no value in the limit, i.e. come before the entity's first feature row);
    ``mismatches``: matched rows where any feature differs (a null against a value counts).
    """
    conn = duckdb.connect()
    a = f"read_parquet('{limit}')"
    b = f"read_parquet('{other}')"
    rows, distinct = conn.execute(f"SELECT count(*), count(DISTINCT row_id) FROM {b}").fetchone()
    matched, mismatches = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE NOT ({_SAME})) "
        f"FROM {a} a JOIN {b} b USING (row_id)"
    ).fetchone()
    missing, missing_without_value = conn.execute(
        f"SELECT count(*), count(*) FILTER (WHERE a.f0 IS NULL) FROM {a} a "
        f"ANTI JOIN {b} b USING (row_id)"
    ).fetchone()
    with_value_in_limit = conn.execute(f"SELECT count(f0) FROM {a}").fetchone()[0]
    return {
        "rows": rows,
        "duplicate_rows": rows - distinct,
        "matched": matched,
        "mismatches": mismatches,
        "missing": missing,
        "missing_without_value": missing_without_value,
        "limit_rows_with_value": with_value_in_limit,
    }


def expected_online(features: Path, entities: int, per_entity: int) -> list[list[float] | None]:
    """The latest values (as of the materialization end) of the checked entities."""
    ids = sample_ids(entities, CHECK_IDS, SINGLE_SEED)
    end_us = int(end_time(per_entity).timestamp() * 1_000_000)
    rows = duckdb.sql(
        f"SELECT {JOIN_KEY}, "
        + ", ".join(f"arg_max({name}, {TIMESTAMP})" for name in FEATURES)
        + f" FROM read_parquet('{features}') WHERE epoch_us({TIMESTAMP}) <= {end_us}"
        f" AND {JOIN_KEY} IN ({', '.join(map(str, set(ids)))}) GROUP BY ALL"
    ).fetchall()
    latest = {row[0]: list(row[1:]) for row in rows}
    return [latest.get(i) for i in ids]


def online_agreement(expected: list[list[float] | None], got: list[Any]) -> dict[str, Any]:
    """How many of the checked entities' 10 values differ from the expected ones."""
    mismatches = 0
    for want, have in zip(expected, got, strict=False):
        want = want or [None] * len(FEATURES)
        have = have or [None] * len(FEATURES)
        if any(not _same(w, h) for w, h in zip(want, have, strict=True)):
            mismatches += 1
    return {
        "entities": len(expected),
        "returned": len(got),
        "mismatches": mismatches + abs(len(expected) - len(got)),
    }


def _same(want: float | None, have: float | None) -> bool:
    if want is None or have is None:
        return want is None and have is None
    return want == have or (math.isnan(want) and math.isnan(have))
