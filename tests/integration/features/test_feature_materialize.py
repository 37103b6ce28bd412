"""Materialization rows: each entity's values as of the end time, equal to point-in-time ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from feature_stores import CARD, FeatureStores, at, feature_stores
from modelyard.clock import to_ms
from modelyard.errors import InvalidFeatureDefinitionError
from modelyard.features import (
    Aggregation,
    DatasetSource,
    Feature,
    FeatureView,
    OnDemandFeatureView,
    historical,
)
from modelyard.features.materialize import latest_chunks


def double(table: pa.Table) -> pa.Table:
    return pa.table({"double_balance": pa.compute.multiply(table.column("balance"), 2.0)})


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[FeatureStores]:
    stores = feature_stores(f"sqlite:///{tmp_path / 'meta.db'}", tmp_path)
    stores.datasets.add(
        "tx",
        pd.DataFrame(
            {
                "card_id": [1, 1, 2, 3, 1, 2],
                "event_time": [at(0), at(10), at(20), at(30), at(70), at(200)],
                "balance": [10.0, 11.0, 20.0, 30.0, 12.0, 21.0],
                "amount": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
            }
        ),
    )
    view = FeatureView(
        "card_stats",
        entities=("card",),
        source=DatasetSource("tx"),
        timestamp_field="event_time",
        features=(Feature("balance", "float64"),),
        aggregations=(Aggregation("amount", "sum", "1h"),),
        ttl="2h",
    )
    on_demand = OnDemandFeatureView(
        "doubled",
        inputs=("card_stats:balance",),
        outputs=(Feature("double_balance", "float64"),),
        function=double,
    )
    stores.registry.apply([CARD, view, on_demand])
    try:
        yield stores
    finally:
        stores.metastore.dispose()


def test_rows_are_the_point_in_time_values_at_the_end(stores: FeatureStores) -> None:
    end = at(100)
    applied = stores.registry.view("card_stats")

    [chunk] = latest_chunks(
        applied, registry=stores.registry, datasets=stores.datasets, end_ms=to_ms(end)
    )

    assert chunk.keys == [(1,), (2,), (3,)]
    assert chunk.event_ms == [to_ms(at(70)), to_ms(at(20)), to_ms(at(30))]
    expected = historical(
        pd.DataFrame({"card_id": [1, 2, 3], "event_timestamp": [end] * 3}),
        ["card_stats:balance", "card_stats:amount_sum_1h"],
        registry=stores.registry,
        datasets=stores.datasets,
    )
    assert chunk.values.column_names == ["balance", "amount_sum_1h"]
    assert chunk.values.to_pylist() == expected.select(["balance", "amount_sum_1h"]).to_pylist()
    assert chunk.values.to_pylist() == [
        {"balance": 12.0, "amount_sum_1h": 5.0},
        {"balance": 20.0, "amount_sum_1h": None},
        {"balance": 30.0, "amount_sum_1h": None},
    ]


def test_incremental_takes_only_entities_with_newer_events(stores: FeatureStores) -> None:
    applied = stores.registry.view("card_stats")

    chunks = latest_chunks(
        applied,
        registry=stores.registry,
        datasets=stores.datasets,
        start_ms=to_ms(at(100)),
        end_ms=to_ms(at(230)),
    )

    assert [chunk.keys for chunk in chunks] == [[(2,)]]
    assert chunks[0].event_ms == [to_ms(at(200))]
    assert chunks[0].values.to_pylist() == [{"balance": 21.0, "amount_sum_1h": 6.0}]


def test_nothing_new_gives_no_chunks(stores: FeatureStores) -> None:
    applied = stores.registry.view("card_stats")

    chunks = latest_chunks(
        applied,
        registry=stores.registry,
        datasets=stores.datasets,
        start_ms=to_ms(at(300)),
        end_ms=to_ms(at(400)),
    )

    assert chunks == []


def test_an_on_demand_view_is_not_materialized(stores: FeatureStores) -> None:
    with pytest.raises(InvalidFeatureDefinitionError, match="computed at request time"):
        latest_chunks(
            stores.registry.view("doubled"),
            registry=stores.registry,
            datasets=stores.datasets,
            end_ms=to_ms(at(100)),
        )
