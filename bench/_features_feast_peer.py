"""Feast, the peer of bench/features.py; runs in bench/.venv-peers/feast (pandas < 3).

One repo config, built in code: local provider, file offline store over the same Parquet file,
Redis online store (``--redis-db``), a file registry under ``--repo``. The entity ``entity``
(join key ``entity_id``, INT64) and the view ``stats`` (10 Float64 features, ttl 0 = values
never expire, like modelyard's view without a TTL) are applied (untimed) in every mode.

Modes:

- ``historical``: ``get_historical_features(entity_df, features).to_df()``, ``--repeat`` timed
  calls; the entity frame is a pandas DataFrame read beforehand. The first result is written
  to ``--result`` (``row_id`` and the features) for the agreement check.
- ``materialize``: ``store.materialize(start, end)`` into Redis (every row of the file).
- ``online``: ``get_online_features(features, entity_rows).to_dict()`` for 1 and 100 entities.

Feast prints progress to stdout: fd 1 goes to stderr, the JSON line to the real stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("FEAST_USAGE", "False")
os.environ.setdefault("DO_NOT_TRACK", "1")

from _contracts_memory import claim_stdout, emit
from _features_data import (
    BATCH_SEED,
    CHECK_IDS,
    ENTITY,
    FEATURES,
    JOIN_KEY,
    SINGLE_SEED,
    T0,
    TIMESTAMP,
    VIEW,
    end_time,
    sample_ids,
)
from _features_worker import _latency, _repeat_summary, _timed

FEATURE_REFS = [f"{VIEW}:{name}" for name in FEATURES]


def open_store(repo: Path, features: Path, redis_db: int) -> Any:
    """The Feast store over ``features``, with the entity and the view applied."""
    from feast import Entity, FeatureStore, FeatureView, Field, FileSource, RepoConfig, ValueType
    from feast.types import Float64

    repo.mkdir(parents=True, exist_ok=True)
    config = RepoConfig(
        project="bench",
        provider="local",
        registry=str(repo / "registry.db"),
        offline_store={"type": "file"},
        online_store={"type": "redis", "connection_string": f"127.0.0.1:6379,db={redis_db}"},
        entity_key_serialization_version=3,
        repo_path=str(repo),
    )
    store = FeatureStore(config=config)
    entity = Entity(name=ENTITY, join_keys=[JOIN_KEY], value_type=ValueType.INT64)
    view = FeatureView(
        name=VIEW,
        entities=[entity],
        ttl=dt.timedelta(0),
        schema=[Field(name=name, dtype=Float64) for name in FEATURES],
        source=FileSource(path=str(features), timestamp_field=TIMESTAMP),
        online=True,
    )
    store.apply([entity, view])
    return store


def historical(args: argparse.Namespace, store: Any) -> dict[str, Any]:
    import pandas as pd

    entity_df = pd.read_parquet(args.entity_frame)
    frames: list[Any] = []

    def call(_: int) -> None:
        frames.append(
            store.get_historical_features(entity_df=entity_df, features=FEATURE_REFS).to_df()
        )

    seconds = _timed(args.repeat, call)
    frame = frames[0]
    frame[["row_id", *FEATURES]].to_parquet(args.result, index=False)
    return {
        "rows_in": len(entity_df),
        "rows_out": len(frame),
        "rows_with_values": int(frame["f0"].notna().sum()),
        **_repeat_summary(seconds),
    }


def materialize(args: argparse.Namespace, store: Any) -> dict[str, Any]:
    import redis

    start = time.perf_counter()
    store.materialize(T0 - dt.timedelta(days=2), end_time(args.per_entity))
    seconds = time.perf_counter() - start
    keys = redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db).dbsize()
    return {"seconds": seconds, "redis_keys": keys}


def online(args: argparse.Namespace, store: Any) -> dict[str, Any]:
    single = [[{JOIN_KEY: k}] for k in sample_ids(args.entities, args.single, SINGLE_SEED)]
    ids = sample_ids(args.entities, args.batch * 100, BATCH_SEED)
    batch = [[{JOIN_KEY: k} for k in ids[i * 100 : (i + 1) * 100]] for i in range(args.batch)]

    def get(rows: list[dict[str, int]]) -> dict[str, list[Any]]:
        return store.get_online_features(features=FEATURE_REFS, entity_rows=rows).to_dict()

    checked = get([{JOIN_KEY: k} for k in sample_ids(args.entities, CHECK_IDS, SINGLE_SEED)])
    checks = [[checked[name][i] for name in FEATURES] for i in range(len(checked[FEATURES[0]]))]
    for i in range(args.warmup):
        get(single[i % len(single)])
        get(batch[i % len(batch)])
    one = _timed(args.single, lambda i: get(single[i]))
    hundred = _timed(args.batch, lambda i: get(batch[i]))
    return {"single": _latency(one), "batch": _latency(hundred), "check_values": checks}


MODES = {"historical": historical, "materialize": materialize, "online": online}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("mode", choices=sorted(MODES))
    parser.add_argument("--features", type=Path, required=True)
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--redis-db", type=int, required=True)
    parser.add_argument("--entity-frame", type=Path)
    parser.add_argument("--result", type=Path)
    parser.add_argument("--entities", type=int, default=100_000)
    parser.add_argument("--per-entity", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--single", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--warmup", type=int, default=50)
    args = parser.parse_args()
    out = claim_stdout()
    import feast

    store = open_store(args.repo, args.features, args.redis_db)
    result = MODES[args.mode](args, store)
    result["engine"] = f"feast {feast.__version__}"
    emit(out, result)


if __name__ == "__main__":
    main()
