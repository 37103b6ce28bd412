"""Data for bench/features.py: feature rows, the entity frame and the expected values.

Shared by the orchestrator and the workers (project venv) and the Feast peer (its own venv):
only numpy, pyarrow and the standard library.

Feature rows: ``entities`` entities x ``per_entity`` timestamps, 10 float64 features
(``f0`` … ``f9``). Entity ``k``'s ``i``-th row lies in day ``i`` after ``T0`` at a random
moment, so each entity's timestamps are distinct and increasing and its first row falls in
``[T0, T0 + 1 day)``. The file is sorted by timestamp (as an event log would be), not by entity.

Entity frame: ``rows`` rows of a random entity and a random timestamp, uniform in
``[T0 - 0.75 day, T0 + per_entity days)``, so about ``(0.75 + 0.5) / (per_entity + 0.75)``
of them (11.6 % with 10 timestamps) come before the entity's first feature row and have no
value. ``row_id`` numbers the rows (Feast passes extra columns through; the results are
matched on it).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
FEATURES = [f"f{i}" for i in range(10)]
VIEW = "stats"
ENTITY = "entity"
JOIN_KEY = "entity_id"
TIMESTAMP = "event_timestamp"
_DAY_US = 86_400 * 1_000_000
_T0_US = int(T0.timestamp() * 1_000_000)


def end_time(per_entity: int) -> dt.datetime:
    """The materialization end: after every feature row."""
    return T0 + dt.timedelta(days=per_entity + 1)


def write_features(path: Path, entities: int, per_entity: int, seed: int = 5) -> dict[str, int]:
    """Write the feature rows to ``path`` (Parquet, zstd, row groups of 128k rows)."""
    rng = np.random.default_rng(seed)
    ids = np.repeat(np.arange(entities, dtype=np.int64), per_entity)
    day = np.tile(np.arange(per_entity, dtype=np.int64), entities)
    ts = _T0_US + day * _DAY_US + rng.integers(0, _DAY_US, size=ids.size)
    order = np.argsort(ts, kind="stable")
    columns: dict[str, pa.Array] = {
        JOIN_KEY: pa.array(ids[order]),
        TIMESTAMP: pa.array(ts[order], pa.timestamp("us", tz="UTC")),
    }
    for name in FEATURES:
        columns[name] = pa.array(rng.standard_normal(ids.size)[order])
    table = pa.table(columns)
    pq.write_table(table, path, compression="zstd", row_group_size=131_072)
    return {"rows": table.num_rows, "file_bytes": path.stat().st_size}


def write_entity_frame(
    path: Path, rows: int, entities: int, per_entity: int, seed: int = 6
) -> dict[str, int]:
    """Write the entity frame (``row_id``, ``entity_id``, ``event_timestamp``) to ``path``."""
    rng = np.random.default_rng(seed)
    start = _T0_US - int(0.75 * _DAY_US)
    ts = rng.integers(start, _T0_US + per_entity * _DAY_US, size=rows)
    table = pa.table(
        {
            "row_id": pa.array(np.arange(rows, dtype=np.int64)),
            JOIN_KEY: pa.array(rng.integers(0, entities, size=rows, dtype=np.int64)),
            TIMESTAMP: pa.array(ts, pa.timestamp("us", tz="UTC")),
        }
    )
    pq.write_table(table, path)
    return {"rows": rows}


def sample_ids(entities: int, count: int, seed: int) -> list[int]:
    """``count`` random entity ids (with repeats), the same in every process."""
    rng = np.random.default_rng(seed)
    return [int(v) for v in rng.integers(0, entities, size=count)]


# Lookups: the first CHECK_IDS ids of the 1-entity sample are also the ones whose online values
# every contender reports for the agreement check.
CHECK_IDS = 200
SINGLE_SEED = 11
BATCH_SEED = 12
