"""Feature definitions: validation naming the key, canonical plain form and digest."""

from __future__ import annotations

import ast
import importlib
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import InvalidFeatureDefinitionError
from modelyard.features.definitions import (
    Aggregation,
    DatasetSource,
    Definition,
    Entity,
    Feature,
    FeatureView,
    OnDemandFeatureView,
    ParquetSource,
    SqlSource,
)
from modelyard.features.loading import definition_from_dict
from modelyard.features.windows import duration_ms, format_duration


def double_amount(table: pa.Table) -> pa.Table:
    """An on-demand function at module level."""
    return pa.table({"double": pa.compute.multiply(table.column("amount"), 2)})


def _view(**changes: object) -> FeatureView:
    fields: dict[str, object] = {
        "name": "card_stats",
        "entities": ("card",),
        "source": DatasetSource("tx"),
        "timestamp_field": "ts",
        "features": (Feature("balance", "float64"),),
        "aggregations": (Aggregation("amount", "sum", "24h"),),
        "ttl": "7d",
    }
    fields.update(changes)
    return FeatureView(**fields)  # type: ignore[arg-type]


def test_durations_parse_and_format() -> None:
    assert duration_ms("24h") == 86_400_000
    assert duration_ms("7d") == 7 * 86_400_000
    assert duration_ms("0h") is None
    assert duration_ms("1.5h") is None
    assert format_duration(timedelta(hours=48)) == "2d"
    assert format_duration(timedelta(minutes=90)) == "90m"
    assert format_duration(timedelta(milliseconds=5)) is None


def test_a_view_normalises_lists_entities_and_a_timedelta_ttl() -> None:
    view = _view(entities=[Entity("card", ("card_id",))], ttl=timedelta(days=7))
    assert view.entities == ("card",)
    assert view.ttl == "1w"
    assert view.ttl_ms == 7 * 86_400_000
    assert view.output_names == ("balance", "amount_sum_24h")
    assert view.dtype_of("balance") == "float64"
    assert view.dtype_of("amount_sum_24h") is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": "bad name"}, r'feature view "bad name" at name: .* is not a valid name'),
        ({"entities": ()}, r"at entities: a feature view needs at least one entity"),
        ({"entities": ("card", "card")}, r"at entities\[1\]: 'card' is listed twice"),
        ({"features": (), "aggregations": ()}, r"at features: .* at least one feature"),
        ({"features": (Feature("ts", "int64"),)}, r"at features\[0\]\.name: 'ts' is the timestamp"),
        (
            {"aggregations": (Aggregation("amount", "sum", "1h", name="balance"),)},
            r"at aggregations\[0\]\.name: 'balance' is defined twice",
        ),
        ({"ttl": "a week"}, r"at ttl: 'a week' is not a duration"),
        ({"source": "tx"}, r"at source: use a DatasetSource"),
        ({"tags": {"team": 3}}, r"at tags: tags map text to text"),
    ],
)
def test_an_invalid_view_names_the_key(changes: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidFeatureDefinitionError, match=message):
        _view(**changes)


def test_invalid_parts_name_their_key() -> None:
    with pytest.raises(InvalidFeatureDefinitionError, match=r"at dtype: unknown type 'float'"):
        Feature("x", "float")
    with pytest.raises(InvalidFeatureDefinitionError, match=r"at function: unknown function 'p99'"):
        Aggregation("x", "p99", "1h")
    with pytest.raises(InvalidFeatureDefinitionError, match=r"at window: '1 hour' is not"):
        Aggregation("x", "sum", "1 hour")
    with pytest.raises(InvalidFeatureDefinitionError, match=r"at join_keys: .*at least one"):
        Entity("card", ())
    with pytest.raises(InvalidFeatureDefinitionError, match=r"at source.version: 0 is not"):
        DatasetSource("tx", 0)
    with pytest.raises(InvalidFeatureDefinitionError, match=r"at source.query: the query is empty"):
        SqlSource(" ")
    with pytest.raises(InvalidFeatureDefinitionError, match=r"at source.path"):
        ParquetSource("")


def test_on_demand_views_need_a_named_function_and_valid_inputs() -> None:
    view = OnDemandFeatureView(
        "doubled", ("card_stats:balance", "amount"), (Feature("double", "float64"),), double_amount
    )
    assert view.function_ref == f"{__name__}:double_amount"
    assert view.input_names == ("balance", "amount")
    assert view.to_dict()["function"] == f"{__name__}:double_amount"
    by_name = OnDemandFeatureView(
        "doubled", ("amount",), (Feature("double", "float64"),), f"{__name__}:double_amount"
    )
    assert by_name.resolve_function() is double_amount
    assert by_name.digest != view.digest  # the inputs differ
    with pytest.raises(InvalidFeatureDefinitionError, match=r"at function: use a module-level"):
        OnDemandFeatureView("d", ("amount",), (Feature("d", "float64"),), lambda t: t)
    with pytest.raises(InvalidFeatureDefinitionError, match=r"at inputs\[0\]: 'a b:c' is not"):
        OnDemandFeatureView("d", ("a b:c",), (Feature("d", "float64"),), double_amount)
    missing = OnDemandFeatureView("d", ("a",), (Feature("d", "float64"),), "no_such_mod:f")
    with pytest.raises(InvalidFeatureDefinitionError, match=r"cannot import no_such_mod"):
        missing.resolve_function()


def test_plain_forms_round_trip_to_equal_definitions() -> None:
    definitions: list[Definition] = [
        Entity("card", ("card_id", "region"), description="a card"),
        _view(tags={"team": "risk"}, owner="ana", description="stats"),
        _view(source=ParquetSource("/data/tx.parquet"), ttl=None),
        _view(source=SqlSource("SELECT * FROM tx", {"tx": "transactions@prod"})),
        OnDemandFeatureView("d", ("amount",), (Feature("d", "float64"),), "pkg.mod:fn"),
    ]
    for definition in definitions:
        again = definition_from_dict(definition.to_dict(), source="test")
        assert again.to_dict() == definition.to_dict()
        assert again.digest == definition.digest


@given(
    keys=st.lists(
        st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), min_size=1, max_size=4, unique=True
    ),
    description=st.text(max_size=20),
)
def test_the_digest_depends_on_content_only(keys: list[str], description: str) -> None:
    first = Entity("card", tuple(keys), description)
    second = Entity("card", list(keys), description)  # type: ignore[arg-type]
    assert first.digest == second.digest
    assert first.digest.startswith("sha256:")
    assert len(first.digest) == 71
    assert Entity("card", tuple(keys), description + "!").digest != first.digest


def test_the_package_lists_its_public_names_sorted_and_complete() -> None:
    module = importlib.import_module("modelyard.features")
    assert module.__all__ == sorted(module.__all__)
    assert module.__file__ is not None
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    imported = {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for alias in node.names
    }
    assert imported == set(module.__all__)


def test_a_dataset_source_reads_a_version_a_tag_or_the_latest() -> None:
    assert DatasetSource("tx").ref == "tx"
    assert DatasetSource("tx", 3).ref == "tx/3"
    assert DatasetSource("tx", tag="validated").ref == "tx@validated"
    assert DatasetSource("tx", tag="validated").to_dict() == {
        "type": "dataset",
        "name": "tx",
        "version": None,
        "tag": "validated",
    }
    with pytest.raises(InvalidFeatureDefinitionError, match="a version or a tag, not both"):
        DatasetSource("tx", 3, "validated")
