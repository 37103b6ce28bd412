"""Child processes of bench/features.py in the project venv (one measurement each).

Modes:

- ``modelyard-historical`` / ``duckdb-historical``: point-in-time retrieval of the 10 features
  for the entity frame, ``--repeat`` timed calls (the first result is written to ``--result``).
- ``modelyard-materialize``: ``ws.features.materialize`` of the view into Redis.
- ``modelyard-online``: ``ws.features.online`` lookups of 1 and of 100 entities.
- ``redis-limit``: the raw redis-py limit: one packed value per entity (``<q10d``: event ms and
  the 10 features), written with one pipeline, read with GET (1 entity) and MGET (100).

Each prints one JSON line on stdout (timings, checks, VmHWM); anything else goes to stderr.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from _contracts_memory import claim_stdout, emit
from _features_data import (
    BATCH_SEED,
    CHECK_IDS,
    ENTITY,
    FEATURES,
    JOIN_KEY,
    SINGLE_SEED,
    TIMESTAMP,
    VIEW,
    end_time,
    sample_ids,
)

FEATURE_REFS = [f"{VIEW}:{name}" for name in FEATURES]
LIMIT_PREFIX = b"limit:"
PACKED = struct.Struct("<q10d")


def _timed(calls: int, call: Any) -> list[float]:
    """Seconds of each of ``calls`` calls of ``call(i)``."""
    out = []
    for i in range(calls):
        start = time.perf_counter()
        call(i)
        out.append(time.perf_counter() - start)
    return out


def _latency(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "calls": len(seconds),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "mean_ms": float(ms.mean()),
        "max_ms": float(ms.max()),
    }


def _repeat_summary(seconds: list[float]) -> dict[str, Any]:
    return {
        "runs_seconds": seconds,
        "seconds_min": min(seconds),
        "seconds_median": statistics.median(seconds),
    }


# ------------------------------------------------------------------------------ modelyard


def open_workspace(ws_dir: Path, features: Path, redis_url: str | None) -> Any:
    """Open (or create) the bench workspace and apply the entity and the view (idempotent)."""
    import modelyard
    from modelyard.features import Entity, Feature, FeatureView, ParquetSource

    ws = modelyard.open(ws_dir, online_store=redis_url) if redis_url else modelyard.open(ws_dir)
    ws.features.apply(
        [
            Entity(ENTITY, (JOIN_KEY,)),
            FeatureView(
                VIEW,
                entities=(ENTITY,),
                source=ParquetSource(str(features)),
                timestamp_field=TIMESTAMP,
                features=tuple(Feature(name, "float64") for name in FEATURES),
            ),
        ]
    )
    return ws


def modelyard_historical(args: argparse.Namespace) -> dict[str, Any]:
    import modelyard

    entity_df = pq.read_table(args.entity_frame)
    ws = open_workspace(args.ws, args.features, None)
    results: list[pa.Table] = []
    seconds = _timed(
        args.repeat, lambda _: results.append(ws.features.historical(entity_df, FEATURE_REFS))
    )
    table = results[0]
    pq.write_table(table.select(["row_id", *FEATURES]), args.result)
    return {
        "engine": f"modelyard {modelyard.__version__}",
        "rows_in": entity_df.num_rows,
        "rows_out": table.num_rows,
        "rows_with_values": table.num_rows - table.column("f0").null_count,
        "in_input_order": table.column("row_id").equals(entity_df.column("row_id")),
        **_repeat_summary(seconds),
    }


def duckdb_query(features: Path, ordered: bool) -> str:
    """The hand-written limit: one ASOF LEFT JOIN of the frame to the Parquet file."""
    values = ", ".join(f"f.{name}" for name in FEATURES)
    return (
        f"SELECT e.row_id, {values} FROM entity_df e ASOF LEFT JOIN read_parquet('{features}') f "
        f"ON e.{JOIN_KEY} = f.{JOIN_KEY} AND e.{TIMESTAMP} >= f.{TIMESTAMP}"
        + (" ORDER BY e.row_id" if ordered else "")
    )


def duckdb_historical(args: argparse.Namespace) -> dict[str, Any]:
    import duckdb

    entity_df = pq.read_table(args.entity_frame)
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.register("entity_df", entity_df)
    out: dict[str, Any] = {"engine": f"duckdb {duckdb.__version__}"}
    # Input order, as modelyard promises (its rows come back in the frame's order).
    query = duckdb_query(args.features, ordered=True)
    results: list[pa.Table] = []
    seconds = _timed(args.repeat, lambda _: results.append(conn.sql(query).to_arrow_table()))
    table = results[0]
    pq.write_table(table, args.result)
    out.update(_repeat_summary(seconds))
    unordered = duckdb_query(args.features, ordered=False)
    out["unordered"] = _repeat_summary(
        _timed(args.repeat, lambda _: conn.sql(unordered).to_arrow_table())
    )
    out.update(
        {
            "query": query,
            "rows_out": table.num_rows,
            "rows_with_values": table.num_rows - table.column("f0").null_count,
        }
    )
    return out


def modelyard_materialize(args: argparse.Namespace) -> dict[str, Any]:
    import redis

    ws = open_workspace(args.ws, args.features, args.redis)
    start = time.perf_counter()
    result = ws.features.materialize(VIEW, end=end_time(args.per_entity))
    seconds = time.perf_counter() - start
    keys = redis.Redis.from_url(args.redis).dbsize()
    ws.features.close()
    return {"seconds": seconds, "rows": result.rows, "redis_keys": keys}


def _online_checks(values: list[dict[str, Any]]) -> list[list[float | None]]:
    return [[row[name] for name in FEATURES] for row in values]


def modelyard_online(args: argparse.Namespace) -> dict[str, Any]:
    ws = open_workspace(args.ws, args.features, args.redis)
    single = [[{JOIN_KEY: k}] for k in sample_ids(args.entities, args.single, SINGLE_SEED)]
    ids = sample_ids(args.entities, args.batch * 100, BATCH_SEED)
    batch = [[{JOIN_KEY: k} for k in ids[i * 100 : (i + 1) * 100]] for i in range(args.batch)]
    online = ws.features.online
    check_ids = sample_ids(args.entities, CHECK_IDS, SINGLE_SEED)
    checks = online(FEATURE_REFS, [{JOIN_KEY: k} for k in check_ids])
    statuses = {s.value for row in checks.statuses for s in row.values()}
    for i in range(args.warmup):
        online(FEATURE_REFS, single[i % len(single)])
        online(FEATURE_REFS, batch[i % len(batch)])
    one = _timed(args.single, lambda i: online(FEATURE_REFS, single[i]))
    hundred = _timed(args.batch, lambda i: online(FEATURE_REFS, batch[i]))
    ws.features.close()
    return {
        "single": _latency(one),
        "batch": _latency(hundred),
        "check_values": _online_checks(list(checks.values)),
        "check_statuses": sorted(statuses),
    }


# ------------------------------------------------------------------------------ the limit


def redis_limit(args: argparse.Namespace) -> dict[str, Any]:
    import duckdb
    import redis

    client = redis.Redis.from_url(args.redis)
    end_us = int(end_time(args.per_entity).timestamp() * 1_000_000)
    latest = duckdb.sql(
        f"SELECT {JOIN_KEY}, epoch_ms(max({TIMESTAMP})) AS ms, "
        + ", ".join(f"arg_max({name}, {TIMESTAMP})" for name in FEATURES)
        + f" FROM read_parquet('{args.features}') WHERE epoch_us({TIMESTAMP}) <= {end_us}"
        " GROUP BY ALL"
    ).fetchall()
    start = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for row in latest:
        pipe.set(LIMIT_PREFIX + str(row[0]).encode(), PACKED.pack(*row[1:]))
    pipe.execute()
    write_seconds = time.perf_counter() - start
    single = [
        LIMIT_PREFIX + str(k).encode() for k in sample_ids(args.entities, args.single, SINGLE_SEED)
    ]
    ids = sample_ids(args.entities, args.batch * 100, BATCH_SEED)
    batch = [
        [LIMIT_PREFIX + str(k).encode() for k in ids[i * 100 : (i + 1) * 100]]
        for i in range(args.batch)
    ]
    unpack = PACKED.unpack

    def get(key: bytes) -> list[tuple[Any, ...] | None]:
        blob = client.get(key)
        return [None if blob is None else unpack(blob)]

    def mget(keys: list[bytes]) -> list[tuple[Any, ...] | None]:
        return [None if blob is None else unpack(blob) for blob in client.mget(keys)]

    check_keys = [
        LIMIT_PREFIX + str(k).encode() for k in sample_ids(args.entities, CHECK_IDS, SINGLE_SEED)
    ]
    checks = [row and list(row[1:]) for key in check_keys for row in get(key)]
    for i in range(args.warmup):
        get(single[i % len(single)])
        mget(batch[i % len(batch)])
    one = _timed(args.single, lambda i: get(single[i]))
    hundred = _timed(args.batch, lambda i: mget(batch[i]))
    return {
        "engine": f"redis-py {redis.__version__}",
        "write_seconds": write_seconds,
        "written": len(latest),
        "single": _latency(one),
        "batch": _latency(hundred),
        "check_values": checks,
    }


MODES = {
    "modelyard-historical": modelyard_historical,
    "duckdb-historical": duckdb_historical,
    "modelyard-materialize": modelyard_materialize,
    "modelyard-online": modelyard_online,
    "redis-limit": redis_limit,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--entity-frame", type=Path)
    parser.add_argument("--result", type=Path)
    parser.add_argument("--ws", type=Path)
    parser.add_argument("--redis")
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--per-entity", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    out = claim_stdout()
    emit(out, MODES[args.mode](args))


if __name__ == "__main__":
    main()
