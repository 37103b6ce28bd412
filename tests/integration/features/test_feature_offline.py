"""Point-in-time training data: ASOF values, TTL, windows, input order, bad frames, no leakage."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dataset_stores import ListRecorder
from feature_stores import CARD, FeatureStores, at, feature_stores
from modelyard.errors import (
    FeatureNotFoundError,
    InvalidEntityFrameError,
    InvalidFeatureDefinitionError,
)
from modelyard.features import (
    Aggregation,
    DatasetSource,
    Entity,
    Feature,
    FeatureView,
    OnDemandFeatureView,
    ParquetSource,
    SqlSource,
    historical,
)
from modelyard.lineage import LineageInput, recording

MERCHANT = Entity("merchant", ("merchant_id",))


def balance_ratio(table: pa.Table) -> pa.Table:
    """An on-demand function: the request amount over the card's balance."""
    ratio = pa.compute.divide(table.column("amount"), table.column("balance"))
    return pa.table({"ratio": ratio})


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[FeatureStores]:
    stores = feature_stores(f"sqlite:///{tmp_path / 'meta.db'}", tmp_path)
    stores.datasets.add(
        "tx",
        pd.DataFrame(
            {
                "card_id": [1, 1, 2, 1],
                "ts": [at(0), at(60), at(0), at(30 * 60)],
                "amount": [10.0, 20.0, 5.0, 7.0],
                "balance": [100.0, 90.0, 50.0, 80.0],
            }
        ),
    )
    stores.datasets.add(
        "merchants",
        pd.DataFrame({"merchant_id": ["m1"], "ts": [at(0)], "risk": [3]}),
    )
    stats = FeatureView(
        "card_stats",
        ("card",),
        DatasetSource("tx"),
        "ts",
        features=(Feature("balance", "float64"),),
        aggregations=(
            Aggregation("amount", "sum", "24h"),
            Aggregation("amount", "count", "24h"),
        ),
        ttl="1d",
    )
    risk = FeatureView(
        "merchant_risk",
        ("merchant",),
        SqlSource("SELECT merchant_id, ts, risk * 2 AS risk FROM m", {"m": "merchants"}),
        "ts",
        features=(Feature("risk", "int64"),),
    )
    ratio = OnDemandFeatureView(
        "ratios", ("card_stats:balance", "amount"), (Feature("ratio", "float64"),), balance_ratio
    )
    stores.registry.apply([CARD, MERCHANT, stats, risk, ratio])
    yield stores
    stores.metastore.dispose()


def _entities() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "card_id": [1, 2, 1, 3, 1],
            "merchant_id": ["m1", "m1", "m2", "m1", "m1"],
            "amount": [50.0, 5.0, 1.0, 1.0, 8.0],
            "event_timestamp": [at(30), at(0), at(-60), at(0), at(26 * 60)],
        }
    )


def test_values_are_the_latest_at_or_before_each_row_within_the_ttl(stores: FeatureStores) -> None:
    recorder = ListRecorder("run")
    with recording(recorder):
        table = historical(
            _entities(),
            ["card_stats:balance", "card_stats:amount_sum_24h", "card_stats:amount_count_24h"],
            registry=stores.registry,
            datasets=stores.datasets,
        )
    assert table.column_names == [
        "card_id",
        "merchant_id",
        "amount",
        "event_timestamp",
        "balance",
        "amount_sum_24h",
        "amount_count_24h",
    ]
    assert table.column("card_id").to_pylist() == [1, 2, 1, 3, 1]
    # Row 5: the latest value (minute 60) is 25 h old, past the 1 d TTL; minute 1800 is later.
    assert table.column("balance").to_pylist() == [100.0, 50.0, None, None, None]
    assert table.column("amount_sum_24h").to_pylist() == [10.0, 5.0, None, None, None]
    assert table.column("amount_count_24h").to_pylist() == [1, 1, 0, 0, 0]
    view = stores.registry.view("card_stats")
    assert LineageInput("feature_view", "card_stats", "1", view.digest) in recorder.items
    assert [item.kind for item in recorder.items].count("dataset") == 1


def test_several_views_entities_and_on_demand_features_in_one_call(
    stores: FeatureStores,
) -> None:
    frame = pl.from_pandas(_entities())
    table = historical(
        frame,
        ["merchant_risk:risk", "ratios:ratio", "card_stats:balance"],
        registry=stores.registry,
        datasets=stores.datasets,
        full_feature_names=True,
    )
    assert table.column_names[-3:] == [
        "merchant_risk__risk",
        "ratios__ratio",
        "card_stats__balance",
    ]
    assert table.column("merchant_risk__risk").to_pylist() == [6, 6, None, 6, 6]
    assert table.column("ratios__ratio").to_pylist() == [0.5, 0.1, None, None, None]


def test_arrow_frames_with_naive_or_other_zone_timestamps_mean_the_same_instants(
    stores: FeatureStores,
) -> None:
    naive = _entities().assign(event_timestamp=lambda f: f.event_timestamp.dt.tz_convert(None))
    zoned = _entities().assign(
        event_timestamp=lambda f: f.event_timestamp.dt.tz_convert("Europe/Paris")
    )
    results = [
        historical(
            pa.Table.from_pandas(frame, preserve_index=False),
            ["card_stats:balance"],
            registry=stores.registry,
            datasets=stores.datasets,
        ).column("balance")
        for frame in (naive, zoned, _entities())
    ]
    assert results[0] == results[1] == results[2]


def test_bad_entity_frames_and_references_are_refused(stores: FeatureStores) -> None:
    def run(frame: object, features: list[str] | None = None) -> pa.Table:
        return historical(
            frame,
            features or ["card_stats:balance"],
            registry=stores.registry,
            datasets=stores.datasets,
        )

    with pytest.raises(InvalidEntityFrameError, match=r'"card_id": missing: .*entity "card"'):
        run(_entities().drop(columns="card_id"))
    with pytest.raises(InvalidEntityFrameError, match=r'"event_timestamp": missing \(did you mean'):
        run(_entities().rename(columns={"event_timestamp": "event_timestamps"}))
    mixed = _entities().astype({"event_timestamp": object})
    mixed.loc[0, "event_timestamp"] = at(30).astimezone(ZoneInfo("Asia/Tokyo"))
    with pytest.raises(InvalidEntityFrameError, match=r"mixes time zones \(Asia/Tokyo, UTC\)"):
        run(mixed)
    with pytest.raises(InvalidEntityFrameError, match=r"holds (large_)?string, not timestamps"):
        run(_entities().assign(event_timestamp="2026-01-01"))
    with pytest.raises(FeatureNotFoundError, match=r'"card_stats:balanse".*"card_stats:balance"'):
        run(_entities(), ["card_stats:balanse"])
    with pytest.raises(
        InvalidFeatureDefinitionError, match=r'entity frame already has .*"balance"'
    ):
        run(_entities().assign(balance=1.0))
    with pytest.raises(InvalidFeatureDefinitionError, match=r"requested twice"):
        run(_entities(), ["card_stats:balance", "card_stats:balance"])
    with pytest.raises(InvalidEntityFrameError, match=r"expected a pandas or polars"):
        run([1, 2])


# ---------------------------------------------------------------------- no future leakage

_counter = itertools.count()

timelines = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 300)), max_size=40, unique=True)
entity_rows = st.lists(st.tuples(st.integers(0, 3), st.integers(-10, 320)), min_size=1, max_size=30)


def _reference(
    rows: list[tuple[int, int]], entity: list[tuple[int, int]], ttl: int | None
) -> tuple[list[int | None], list[int | None], list[int]]:
    """Brute force: latest value at or before, TTL; sum and count over (t - 60, t]."""
    latest: list[int | None] = []
    sums: list[int | None] = []
    counts: list[int] = []
    for key, t in entity:
        mine = [(ts, value) for value, (k, ts) in enumerate(rows) if k == key]
        past = [(ts, value) for ts, value in mine if ts <= t]
        if past:
            ts, value = max(past)
            latest.append(value if ttl is None or t - ts <= ttl else None)
        else:
            latest.append(None)
        window = [value for ts, value in mine if t - 60 < ts <= t]
        sums.append(sum(window) if window else None)
        counts.append(len(window))
    return latest, sums, counts


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=timelines, entity=entity_rows, ttl=st.none() | st.integers(1, 120))
def test_no_value_comes_from_the_future(
    stores: FeatureStores,
    tmp_path: Path,
    rows: list[tuple[int, int]],
    entity: list[tuple[int, int]],
    ttl: int | None,
) -> None:
    name = f"timeline{next(_counter)}"
    path = tmp_path / f"{name}.parquet"
    pq.write_table(
        pa.table(
            {
                "card_id": pa.array([k for k, _ in rows], pa.int64()),
                "ts": pa.array([at(ts) for _, ts in rows], pa.timestamp("us", "UTC")),
                "value": pa.array(range(len(rows)), pa.int64()),
            }
        ),
        path,
    )
    view = FeatureView(
        name,
        ("card",),
        ParquetSource(str(path)),
        "ts",
        features=(Feature("value", "int64"),),
        aggregations=(Aggregation("value", "sum", "1h"), Aggregation("value", "count", "1h")),
        ttl=None if ttl is None else f"{ttl}m",
    )
    stores.registry.apply([view])
    frame = pa.table(
        {
            "card_id": pa.array([k for k, _ in entity], pa.int64()),
            "event_timestamp": pa.array([at(t) for _, t in entity], pa.timestamp("ms")),
        }
    )
    table = historical(
        frame,
        [f"{name}:value", f"{name}:value_sum_1h", f"{name}:value_count_1h"],
        registry=stores.registry,
        datasets=stores.datasets,
    )
    latest, sums, counts = _reference(rows, entity, ttl)
    assert table.column("card_id").to_pylist() == [k for k, _ in entity]
    assert table.column("value").to_pylist() == latest
    assert table.column("value_sum_1h").to_pylist() == sums
    assert table.column("value_count_1h").to_pylist() == counts
