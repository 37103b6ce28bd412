"""The feature registry on SQLite and PostgreSQL: plan, apply, versions, lookups, resolve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from feature_stores import CARD, FeatureStores, feature_stores
from modelyard.errors import (
    BreakingFeatureChangeError,
    FeatureNotFoundError,
    FeatureViewNotFoundError,
    InvalidFeatureDefinitionError,
)
from modelyard.features import (
    Aggregation,
    DatasetSource,
    Feature,
    FeatureView,
    OnDemandFeatureView,
)


@pytest.fixture
def stores(db_url: str, tmp_path: Path) -> Iterator[FeatureStores]:
    stores = feature_stores(db_url, tmp_path)
    frame = pd.DataFrame(
        {
            "card_id": [1, 2],
            "ts": pd.to_datetime(["2026-01-01", "2026-01-02"], utc=True),
            "amount": [1.0, 2.0],
            "balance": [10.0, 20.0],
        }
    )
    stores.datasets.add("tx", frame)
    yield stores
    stores.metastore.dispose()


def _view(*features: Feature, description: str = "") -> FeatureView:
    return FeatureView(
        "card_stats",
        ("card",),
        DatasetSource("tx"),
        "ts",
        features=features or (Feature("balance", "float64"),),
        aggregations=(Aggregation("amount", "sum", "24h"),),
        description=description,
    )


def test_apply_adds_then_leaves_unchanged_then_versions_a_change(stores: FeatureStores) -> None:
    first = stores.registry.apply([CARD, _view()])
    assert [(i.kind, i.name, i.action, i.version) for i in first.items] == [
        ("entity", "card", "added", 1),
        ("feature_view", "card_stats", "added", 1),
    ]
    again = stores.registry.apply([CARD, _view()])
    assert [i.action for i in again.items] == ["unchanged", "unchanged"]
    assert not again.has_changes
    changed = stores.registry.apply(
        [_view(Feature("balance", "float64"), Feature("amount", "float64"), description="more")]
    )
    (item,) = changed.items
    assert (item.action, item.version, item.previous_version) == ("changed", 2, 1)
    assert item.changes == ('feature "amount" added', "description changed")
    latest = stores.registry.view("card_stats")
    assert (latest.version, latest.definition.description) == (2, "more")
    assert stores.registry.view("card_stats", 1).definition == _view()
    assert [v.version for v in stores.registry.view_versions("card_stats")] == [2, 1]
    assert stores.registry.entity("card").definition == CARD
    assert [e.name for e in stores.registry.entities()] == ["card"]
    assert [(v.name, v.version) for v in stores.registry.views()] == [("card_stats", 2)]


def test_plan_stores_nothing(stores: FeatureStores) -> None:
    plan = stores.registry.plan([CARD, _view()])
    assert [i.action for i in plan.items] == ["added", "added"]
    assert stores.registry.views() == []


def test_retyping_or_removing_a_feature_is_breaking(stores: FeatureStores) -> None:
    stores.registry.apply(
        [CARD, _view(Feature("balance", "float64"), Feature("amount", "float64"))]
    )
    retyped = _view(Feature("balance", "int64"))
    (item,) = stores.registry.plan([retyped]).items
    assert item.action == "breaking"
    assert item.changes == (
        'feature "balance" retyped float64 -> int64',
        'feature "amount" removed',
    )
    with pytest.raises(
        BreakingFeatureChangeError, match=r'"card_stats" would break.*retyped'
    ) as info:
        stores.registry.apply([retyped])
    assert info.value.changes == list(item.changes)
    assert stores.registry.view("card_stats").version == 1
    applied = stores.registry.apply([retyped], allow_breaking=True)
    assert applied.items[0].version == 2
    assert stores.registry.view("card_stats").definition.dtype_of("balance") == "int64"


def test_apply_checks_entities_and_dataset_columns(stores: FeatureStores) -> None:
    with pytest.raises(InvalidFeatureDefinitionError, match=r"entities\[0\]: no entity 'card'"):
        stores.registry.apply([_view()])
    with pytest.raises(InvalidFeatureDefinitionError, match=r"no column 'balanse' .*balance"):
        stores.registry.apply([CARD, _view(Feature("balanse", "float64"))])
    missing = FeatureView(
        "v", ("card",), DatasetSource("nope"), "ts", features=(Feature("x", "int64"),)
    )
    with pytest.raises(InvalidFeatureDefinitionError, match=r"at source: no dataset \"nope\""):
        stores.registry.apply([CARD, missing])
    with pytest.raises(InvalidFeatureDefinitionError, match=r"defined twice"):
        stores.registry.apply([CARD, CARD])
    on_demand = OnDemandFeatureView("od", ("card_stats:nope",), (Feature("y", "int64"),), "m:f")
    with pytest.raises(InvalidFeatureDefinitionError, match=r"inputs\[0\]: 'card_stats:nope'"):
        stores.registry.apply([CARD, _view(), on_demand])
    assert stores.registry.views() == []


def test_lookups_and_resolve_name_close_matches(stores: FeatureStores) -> None:
    stores.registry.apply([CARD, _view()])
    (resolved,) = stores.registry.resolve(["card_stats:amount_sum_24h"])
    assert (resolved.view.name, resolved.feature, resolved.dtype) == (
        "card_stats",
        "amount_sum_24h",
        None,
    )
    with pytest.raises(FeatureNotFoundError, match=r'"card_stats:balanse".*"card_stats:balance"'):
        stores.registry.resolve(["card_stats:balanse"])
    with pytest.raises(FeatureNotFoundError, match=r'no feature "balance"') as info:
        stores.registry.resolve(["balance"])
    assert info.value.reference == "balance"
    with pytest.raises(
        FeatureViewNotFoundError, match=r'no feature view "card_stat" .*"card_stats"'
    ):
        stores.registry.view("card_stat")
    with pytest.raises(FeatureViewNotFoundError, match=r'no feature view "card_stats/9"'):
        stores.registry.view("card_stats", 9)
    with pytest.raises(FeatureViewNotFoundError, match=r'no entity "cards" .*"card"'):
        stores.registry.entity("cards")


def test_reverting_to_a_former_definition_applies_it_as_a_new_version(
    stores: FeatureStores,
) -> None:
    stores.registry.apply([CARD, _view()])
    stores.registry.apply([_view(description="v2")])

    plan = stores.registry.apply([_view()])

    [item] = [item for item in plan.items if item.kind == "feature_view"]
    assert (item.action, item.version, item.previous_version) == ("changed", 3, 2)
    assert stores.registry.view("card_stats").version == 3
    assert stores.registry.view("card_stats").digest == stores.registry.view("card_stats", 1).digest
    assert [v.version for v in stores.registry.view_versions("card_stats")] == [3, 2, 1]
