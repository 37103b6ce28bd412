"""ws.features end to end: apply, materialize, online lookups with statuses, pushes, freshness
and parity, on SQLite and PostgreSQL metadata with the SQLite and the Redis online store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

import modelyard
from feature_stores import CARD, at
from modelyard.clock import FixedClock, to_ms
from modelyard.errors import (
    FeatureNotFoundError,
    FeaturePushRejectedError,
    InvalidEntityFrameError,
    OnlineStoreUnavailableError,
)
from modelyard.features import (
    Aggregation,
    DatasetSource,
    Feature,
    FeatureView,
    OnDemandFeatureView,
)
from modelyard.features.store import FeatureStatus
from modelyard.workspace import Workspace


def amount_ratio(table: pa.Table) -> pa.Table:
    return pa.table({"ratio": pa.compute.divide(table.column("amount"), table.column("balance"))})


VIEW = FeatureView(
    "card_stats",
    entities=("card",),
    source=DatasetSource("tx"),
    timestamp_field="event_time",
    features=(Feature("balance", "float64"),),
    aggregations=(Aggregation("amount", "sum", "1h"),),
    ttl="2h",
)
RATIO = OnDemandFeatureView(
    "ratios",
    inputs=("card_stats:balance", "amount"),
    outputs=(Feature("ratio", "float64"),),
    function=amount_ratio,
)


@pytest.fixture(params=["sqlite", "redis"])
def online_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return str(tmp_path / "online.db")
    url: str = request.getfixturevalue("redis_url")
    return url


@pytest.fixture
def ws(db_url: str, tmp_path: Path, online_store: str) -> Iterator[Workspace]:
    clock = FixedClock(at(100))
    # Tests share one Redis database: each workspace gets its own key prefix.
    workspace = modelyard.open(
        tmp_path / "ws",
        db_url=db_url,
        clock=clock,
        online_store=online_store,
        online_store_prefix=f"t{uuid.uuid4().hex[:12]}",
    )
    workspace.datasets.add(
        "tx",
        pd.DataFrame(
            {
                "card_id": [1, 1, 2, 3, 1],
                "event_time": [at(0), at(10), at(20), at(-200), at(70)],
                "balance": [10.0, 11.0, 20.0, 30.0, 12.0],
                "amount": [1.0, 2.0, 3.0, 4.0, 5.0],
            }
        ),
    )
    workspace.features.apply([CARD, VIEW, RATIO])
    try:
        yield workspace
    finally:
        workspace.features.online_store.delete_view("card_stats")
        workspace.close()


def test_materialize_then_online_values_statuses_and_ages(ws: Workspace) -> None:
    result = ws.features.materialize("card_stats")

    assert (result.rows, result.end_ms, result.newest_event_ms) == (
        3,
        to_ms(at(100)),
        to_ms(at(70)),
    )
    found = ws.features.online(
        ["card_stats:balance", "card_stats:amount_sum_1h", "ratios:ratio"],
        [
            {"card_id": 1, "amount": 6.0},
            {"card_id": 3, "amount": 1.0},
            {"card_id": 9, "amount": 1.0},
        ],
    )
    assert found.values == (
        {"balance": 12.0, "amount_sum_1h": 5.0, "ratio": 0.5},
        {"balance": None, "amount_sum_1h": None, "ratio": None},
        {"balance": None, "amount_sum_1h": None, "ratio": None},
    )
    assert [row["balance"] for row in found.statuses] == [
        FeatureStatus.PRESENT,
        FeatureStatus.EXPIRED,  # card 3's newest event is 300 minutes old, the TTL is 2h
        FeatureStatus.NOT_FOUND,
    ]
    assert [row["ratio"] for row in found.statuses] == [
        FeatureStatus.PRESENT,
        FeatureStatus.EXPIRED,
        FeatureStatus.NOT_FOUND,
    ]
    assert [row["balance"] for row in found.ages_ms] == [30 * 60_000, 300 * 60_000, None]
    [freshness] = ws.features.freshness("card_stats")
    assert (freshness.newest_event_ms, freshness.lag_ms) == (to_ms(at(70)), 30 * 60_000)


def test_parity_holds_after_materializing_and_catches_a_tampered_value(ws: Workspace) -> None:
    ws.features.materialize("card_stats")

    report = ws.features.parity("card_stats", sample=10)

    assert (report.entities, report.values, report.is_consistent) == (3, 6, True)
    ws.features.online_store.write(
        "card_stats",
        [(2,)],
        [to_ms(at(20))],
        pa.table({"balance": [99.0], "amount_sum_1h": [None]}, schema=_schema()),
    )
    skewed = ws.features.parity("card_stats", sample=10)
    assert [(m.feature, m.entity, m.online, m.offline) for m in skewed.mismatches] == [
        ("balance", {"card_id": 2}, 99.0, 20.0)
    ]


def _schema() -> pa.Schema:
    return pa.schema([("balance", pa.float64()), ("amount_sum_1h", pa.float64())])


def test_push_updates_online_and_offline(ws: Workspace) -> None:
    ws.features.materialize("card_stats")

    written = ws.features.push(
        "card_stats",
        [{"card_id": 2, "event_time": at(95), "balance": 25.0, "amount": 7.0}],
    )

    assert written == 1
    found = ws.features.online(["card_stats:balance", "card_stats:amount_sum_1h"], [{"card_id": 2}])
    assert found.values == ({"balance": 25.0, "amount_sum_1h": 7.0},)
    training = ws.features.historical(
        pd.DataFrame({"card_id": [2, 2], "event_timestamp": [at(90), at(96)]}),
        ["card_stats:balance"],
    )
    assert training.column("balance").to_pylist() == [20.0, 25.0]
    assert ws.features.parity("card_stats").is_consistent


def test_a_bad_push_is_rejected_whole(ws: Workspace) -> None:
    ws.features.materialize("card_stats")

    with pytest.raises(FeaturePushRejectedError) as caught:
        ws.features.push(
            "card_stats",
            [
                {"card_id": 1, "event_time": at(99), "balance": "lots", "amount": 1.0},
                {"card_id": None, "event_time": at(99), "balance": "x", "amount": 1.0},
            ],
        )

    assert caught.value.problems == [
        "card_id: 1 null key(s)",
        "balance: expected float64, got string",
    ]
    found = ws.features.online(["card_stats:balance"], [{"card_id": 1}])
    assert found.values == ({"balance": 12.0},)
    assert ws.features.parity("card_stats").is_consistent


def test_incremental_materializes_entities_with_new_events(ws: Workspace) -> None:
    ws.features.materialize("card_stats", end=at(15))
    ws.features.push(
        "card_stats", [{"card_id": 3, "event_time": at(16), "balance": 31.0, "amount": 0.5}]
    )

    result = ws.features.materialize_incremental("card_stats", end=at(100))

    # The push did not move the watermark; cards 1 and 2 have source events after 15 and
    # card 3 its pushed one.
    assert (result.start_ms, result.rows) == (to_ms(at(15)), 3)
    found = ws.features.online(["card_stats:balance"], [{"card_id": 1}, {"card_id": 2}])
    assert found.values == ({"balance": 12.0}, {"balance": 20.0})


def test_bad_lookups(ws: Workspace) -> None:
    with pytest.raises(FeatureNotFoundError, match=r'"card_stats:balanse".*"card_stats:balance"'):
        ws.features.online(["card_stats:balanse"], [{"card_id": 1}])
    with pytest.raises(InvalidEntityFrameError, match=r'"card_id": missing'):
        ws.features.online(["card_stats:balance"], [{"card": 1}])
    with pytest.raises(InvalidEntityFrameError, match=r'"amount": missing: it is a request field'):
        ws.features.online(["ratios:ratio"], [{"card_id": 1}])


def test_unreachable_redis_names_the_url_and_writes_nothing(db_url: str, tmp_path: Path) -> None:
    ws = modelyard.open(
        tmp_path / "ws",
        db_url=db_url,
        clock=FixedClock(at(100)),
        online_store="redis://:secret@127.0.0.1:1/0",
    )
    try:
        ws.datasets.add(
            "tx",
            pd.DataFrame(
                {"card_id": [1], "event_time": [at(0)], "balance": [1.0], "amount": [1.0]}
            ),
        )
        ws.features.apply([CARD, VIEW])
        with pytest.raises(OnlineStoreUnavailableError, match=r"redis://:\*\*\*@127\.0\.0\.1:1/0"):
            ws.features.materialize("card_stats")
        assert ws.features.freshness("card_stats")[0].newest_event_ms is None
        with pytest.raises(OnlineStoreUnavailableError):
            ws.features.push(
                "card_stats",
                [{"card_id": 1, "event_time": at(1), "balance": 2.0, "amount": 1.0}],
            )
        pushed = tmp_path / "ws" / "features" / "pushed" / "card_stats"
        assert list(pushed.glob("*.parquet")) == []
    finally:
        ws.close()


def test_historical_returns_pandas_or_polars_on_request(ws: Workspace) -> None:
    entities = pd.DataFrame({"card_id": [1, 2], "event_timestamp": [at(15), at(25)]})

    as_pandas = ws.features.historical(entities, ["card_stats:balance"], output="pandas")
    as_polars = ws.features.historical(entities, ["card_stats:balance"], output="polars")

    assert as_pandas["balance"].tolist() == [11.0, 20.0]
    assert as_polars["balance"].to_list() == [11.0, 20.0]
