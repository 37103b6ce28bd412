"""Loading definitions from Python modules and YAML files, with keys and lines in errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from modelyard.errors import InvalidFeatureDefinitionError
from modelyard.features import (
    Aggregation,
    DatasetSource,
    Entity,
    Feature,
    FeatureView,
    OnDemandFeatureView,
    ParquetSource,
    SqlSource,
    load_definitions,
)

YAML = """\
entities:
  - name: card
    join_keys: [card_id]
feature_views:
  - name: card_stats
    entities: [card]
    source: {dataset: transactions, version: 2}
    timestamp_field: ts
    ttl: 7d
    features:
      - {name: balance, dtype: float64}
    aggregations:
      - {column: amount, function: sum, window: 24h}
  - name: raw
    entities: [card]
    source: {parquet: data/raw.parquet}
    timestamp_field: ts
    features: [{name: score, dtype: int64}]
  - name: joined
    entities: [card]
    source: {sql: "SELECT * FROM tx", datasets: {tx: transactions}}
    timestamp_field: ts
    features: [{name: score, dtype: int64}]
on_demand_feature_views:
  - name: ratios
    inputs: ["card_stats:balance", amount]
    outputs: [{name: ratio, dtype: float64}]
    function: some.module:ratio
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def test_a_yaml_file_gives_its_definitions_in_order(tmp_path: Path) -> None:
    definitions = load_definitions(_write(tmp_path, "features.yaml", YAML))
    assert definitions == [
        Entity("card", ("card_id",)),
        FeatureView(
            "card_stats",
            ("card",),
            DatasetSource("transactions", 2),
            "ts",
            features=(Feature("balance", "float64"),),
            aggregations=(Aggregation("amount", "sum", "24h"),),
            ttl="7d",
        ),
        FeatureView(
            "raw",
            ("card",),
            ParquetSource(str(tmp_path / "data" / "raw.parquet")),
            "ts",
            features=(Feature("score", "int64"),),
        ),
        FeatureView(
            "joined",
            ("card",),
            SqlSource("SELECT * FROM tx", {"tx": "transactions"}),
            "ts",
            features=(Feature("score", "int64"),),
        ),
        OnDemandFeatureView(
            "ratios",
            ("card_stats:balance", "amount"),
            (Feature("ratio", "float64"),),
            "some.module:ratio",
        ),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "entities:\n  - name: card\n    join_key: [id]\n",
            r"features.yaml, line 3 at entities\[0\]\.join_key: unknown key 'join_key' "
            r"\(did you mean join_keys\?\)",
        ),
        (
            YAML.replace("dtype: float64}", "dtype: double}"),
            r"line 11 at feature_views\[0\]\.features\[0\]\.dtype: unknown type 'double'",
        ),
        (
            YAML.replace("window: 24h", "window: 1day"),
            r"line 13 at feature_views\[0\]\.aggregations\[0\]\.window: '1day' is not",
        ),
        (
            YAML.replace("    ttl: 7d\n", "    ttl: soon\n"),
            r"line 9 at feature_views\[0\]\.ttl: 'soon' is not a duration",
        ),
        (
            "featur_views: []\n",
            r"line 1 at featur_views: unknown section .*did you mean feature_views",
        ),
        ("entities:\n  - name: card\n", r"line 2 at entities\[0\]: the key 'join_keys' is missing"),
        ("entities: [\n", r"features.yaml, line \d+: malformed YAML"),
        (
            YAML.replace("{dataset: transactions, version: 2}", "{dataset: tx, versoin: 2}"),
            r"line 7 at feature_views\[0\]\.source\.versoin: unknown key .*did you mean version",
        ),
    ],
)
def test_yaml_errors_name_the_key_and_line(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, "features.yaml", text)
    with pytest.raises(InvalidFeatureDefinitionError, match=message):
        load_definitions(path)


def test_a_python_module_gives_its_module_level_definitions_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "features.py",
        """
        from modelyard.features import DatasetSource, Entity, Feature, FeatureView

        card = Entity("card", ("card_id",))
        alias = card
        stats = FeatureView(
            "card_stats", (card,), DatasetSource("tx"), "ts", features=(Feature("x", "int64"),)
        )
        not_a_definition = 3
        """,
    )
    definitions = load_definitions(path)
    assert [definition.name for definition in definitions] == ["card", "card_stats"]


def test_unloadable_files_are_invalid_definitions(tmp_path: Path) -> None:
    with pytest.raises(InvalidFeatureDefinitionError, match=r"missing.py: no such file"):
        load_definitions(tmp_path / "missing.py")
    with pytest.raises(InvalidFeatureDefinitionError, match=r"expected a .py, .yaml or .yml"):
        load_definitions(_write(tmp_path, "features.toml", ""))
    with pytest.raises(InvalidFeatureDefinitionError, match=r"cannot be imported: No module"):
        load_definitions(_write(tmp_path, "broken.py", "import no_such_module_here\n"))
    assert load_definitions(_write(tmp_path, "empty.yaml", "")) == []
