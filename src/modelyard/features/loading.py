"""Reading feature definitions from a Python module or a YAML file, and from their plain form.

A YAML file lists its objects under three keys::

    entities:
      - name: card
        join_keys: [card_id]
    feature_views:
      - name: card_stats
        entities: [card]
        source: {dataset: transactions}   # or {parquet: tx.parquet}, or {sql: "...", datasets: {}}
        timestamp_field: ts
        ttl: 7d
        features: [{name: balance, dtype: float64}]
        aggregations: [{column: amount, function: sum, window: 24h}]
    on_demand_feature_views:
      - name: ratios
        inputs: ["card_stats:balance", "amount"]
        outputs: [{name: amount_ratio, dtype: float64}]
        function: my_project.features:amount_ratio

A relative Parquet path is read relative to the YAML file.
"""

from __future__ import annotations

import importlib.util
import sys
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from modelyard.contracts.yamlsource import line_of, read_yaml
from modelyard.errors import InvalidContractError, InvalidFeatureDefinitionError, close_matches
from modelyard.features.definitions import (
    Aggregation,
    DatasetSource,
    Definition,
    Entity,
    Feature,
    FeatureView,
    OnDemandFeatureView,
    ParquetSource,
    Source,
    SqlSource,
)

_T = TypeVar("_T")

_SECTIONS = {
    "entities": "entity",
    "feature_views": "feature_view",
    "on_demand_feature_views": "on_demand_feature_view",
}
_KEYS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # kind: (required keys, optional keys)
    "entity": (("name", "join_keys"), ("description", "kind")),
    "feature_view": (
        ("name", "entities", "source", "timestamp_field"),
        ("features", "aggregations", "ttl", "owner", "tags", "description", "kind"),
    ),
    "on_demand_feature_view": (
        ("name", "inputs", "outputs", "function"),
        ("description", "kind"),
    ),
    "feature": (("name", "dtype"), ()),
    "aggregation": (("column", "function", "window"), ("name",)),
}


class _Reader:
    """Turns plain data into definitions, naming the key path (and line) of every problem."""

    def __init__(self, source: str, lines: Mapping[str, int] | None, base_dir: Path | None) -> None:
        self.source = source
        self.lines = dict(lines or {})
        self.base_dir = base_dir

    def fail(self, key: str, reason: str) -> InvalidFeatureDefinitionError:
        return InvalidFeatureDefinitionError(
            self.source, key, reason, line_of(key, self.lines) if self.lines else None
        )

    def mapping(self, data: object, path: str, kind: str) -> Mapping[str, object]:
        if not isinstance(data, Mapping):
            raise self.fail(path, f"expected a mapping, got {type(data).__name__}")
        required, optional = _KEYS[kind]
        allowed = required + optional
        for key in data:
            if key not in allowed:
                hint = close_matches(str(key), allowed)
                did_you_mean = f" (did you mean {', '.join(hint)}?)" if hint else ""
                raise self.fail(
                    _join(path, str(key)), f"unknown key {key!r}{did_you_mean}; use {allowed}"
                )
        for key in required:
            if key not in data:
                raise self.fail(path, f"the key {key!r} is missing")
        return data

    def definition(self, data: object, path: str, kind: str | None = None) -> Definition:
        if kind is None:
            if not isinstance(data, Mapping) or data.get("kind") not in _KEYS:
                raise self.fail(
                    _join(path, "kind"), "expected entity, feature_view or on_demand_feature_view"
                )
            kind = str(data["kind"])
        body = self.mapping(data, path, kind)
        if "kind" in body and body["kind"] != kind:
            raise self.fail(_join(path, "kind"), f"expected {kind!r} in this section")
        if kind == "entity":
            return self._keyed(
                path,
                lambda: Entity(
                    body["name"],  # type: ignore[arg-type]  # checked by the constructor
                    join_keys=body["join_keys"],  # type: ignore[arg-type]
                    description=body.get("description", ""),  # type: ignore[arg-type]
                ),
            )
        if kind == "feature_view":
            return self.view(body, path)
        return self.on_demand(body, path)

    def view(self, body: Mapping[str, object], path: str) -> FeatureView:
        features = [
            self.feature(item, _join(path, f"features[{i}]"))
            for i, item in enumerate(
                self.sequence(body.get("features", []), _join(path, "features"))
            )
        ]
        aggregations = [
            self.aggregation(item, _join(path, f"aggregations[{i}]"))
            for i, item in enumerate(
                self.sequence(body.get("aggregations", []), _join(path, "aggregations"))
            )
        ]
        source = self.source_of(body["source"], _join(path, "source"))
        return self._keyed(
            path,
            lambda: FeatureView(
                body["name"],  # type: ignore[arg-type]  # checked by the constructor
                entities=body["entities"],  # type: ignore[arg-type]
                source=source,
                timestamp_field=body["timestamp_field"],  # type: ignore[arg-type]
                features=tuple(features),
                aggregations=tuple(aggregations),
                ttl=body.get("ttl"),  # type: ignore[arg-type]
                owner=body.get("owner", ""),  # type: ignore[arg-type]
                tags=body.get("tags", {}),  # type: ignore[arg-type]
                description=body.get("description", ""),  # type: ignore[arg-type]
            ),
        )

    def on_demand(self, body: Mapping[str, object], path: str) -> OnDemandFeatureView:
        outputs = [
            self.feature(item, _join(path, f"outputs[{i}]"))
            for i, item in enumerate(self.sequence(body["outputs"], _join(path, "outputs")))
        ]
        return self._keyed(
            path,
            lambda: OnDemandFeatureView(
                body["name"],  # type: ignore[arg-type]  # checked by the constructor
                inputs=body["inputs"],  # type: ignore[arg-type]
                outputs=tuple(outputs),
                function=body["function"],  # type: ignore[arg-type]
                description=body.get("description", ""),  # type: ignore[arg-type]
            ),
        )

    def feature(self, data: object, path: str) -> Feature:
        body = self.mapping(data, path, "feature")
        return self._keyed(
            path,
            lambda: Feature(body["name"], body["dtype"]),  # type: ignore[arg-type]
        )

    def aggregation(self, data: object, path: str) -> Aggregation:
        body = self.mapping(data, path, "aggregation")
        return self._keyed(
            path,
            lambda: Aggregation(
                body["column"],  # type: ignore[arg-type]  # checked by the constructor
                body["function"],  # type: ignore[arg-type]
                body["window"],  # type: ignore[arg-type]
                body.get("name", ""),  # type: ignore[arg-type]
            ),
        )

    def _keyed(self, path: str, build: Callable[[], _T]) -> _T:
        try:
            return build()
        except InvalidFeatureDefinitionError as error:
            raise self.fail(_join(path, error.key), error.reason) from error

    def source_of(self, data: object, path: str) -> Source:
        if not isinstance(data, Mapping):
            raise self.fail(
                path, "expected a mapping: {dataset: ...}, {parquet: ...} or {sql: ...}"
            )
        plain = dict(data)
        parent = path.removesuffix("source").removesuffix(".")
        kind = plain.pop("type", None)
        if kind is None:
            kind = next((key for key in ("dataset", "parquet", "sql") if key in plain), None)
        allowed = {
            "dataset": ("dataset", "name", "version", "tag"),
            "parquet": ("parquet", "path"),
            "sql": ("sql", "query", "datasets"),
        }
        if kind not in allowed:
            raise self.fail(path, "give one of dataset, parquet or sql")
        for key in plain:
            if key not in allowed[kind]:
                hint = close_matches(str(key), allowed[kind])
                did_you_mean = f" (did you mean {', '.join(hint)}?)" if hint else ""
                raise self.fail(_join(path, str(key)), f"unknown key {key!r}{did_you_mean}")
        if kind == "dataset":
            name = plain.get("dataset", plain.get("name"))
            return self._keyed(
                parent,
                lambda: DatasetSource(name, plain.get("version"), plain.get("tag")),  # type: ignore[arg-type]
            )
        if kind == "parquet":
            location = plain.get("parquet", plain.get("path"))
            if isinstance(location, str) and self.base_dir is not None and location:
                candidate = Path(location)
                if not candidate.is_absolute():
                    location = str(self.base_dir / candidate)
            return self._keyed(parent, lambda: ParquetSource(location))  # type: ignore[arg-type]
        return self._keyed(
            parent,
            lambda: SqlSource(
                plain.get("sql", plain.get("query")),  # type: ignore[arg-type]
                plain.get("datasets", {}),
            ),
        )

    def sequence(self, data: object, path: str) -> list[object]:
        if not isinstance(data, list):
            raise self.fail(path, f"expected a list, got {type(data).__name__}")
        return data


def _join(path: str, key: str) -> str:
    if not path:
        return key
    if not key:
        return path
    return f"{path}{key}" if key.startswith("[") else f"{path}.{key}"


def definition_from_dict(data: Mapping[str, object], *, source: str) -> Definition:
    """Rebuild a definition from its plain form (``to_dict`` output, with its ``kind``).

    Raises:
        InvalidFeatureDefinitionError: the data is not a valid definition.
    """
    return _Reader(source, None, None).definition(data, "")


def load_definitions(path: str | Path) -> list[Definition]:
    """Load the entities and views a Python module or a YAML file defines, in definition order.

    A Python module is executed and every Entity, FeatureView and OnDemandFeatureView bound to a
    module-level name is collected (each object once).

    Args:
        path: a ``.py`` file, or a ``.yaml``/``.yml`` file in the format of this module's doc.

    Raises:
        InvalidFeatureDefinitionError: the file is missing, does not parse, or holds an invalid
            definition (YAML errors name the key path and line, with close matches for unknown
            keys).
    """
    file = Path(path)
    if not file.is_file():
        raise InvalidFeatureDefinitionError(str(file), "", "no such file")
    if file.suffix == ".py":
        return _load_module(file)
    if file.suffix in (".yaml", ".yml"):
        return _load_yaml(file)
    raise InvalidFeatureDefinitionError(str(file), "", "expected a .py, .yaml or .yml file")


def _load_yaml(file: Path) -> list[Definition]:
    source = str(file)
    try:
        text = file.read_text(encoding="utf-8")
        data, lines = read_yaml(text, source)
    except (OSError, UnicodeDecodeError) as error:
        raise InvalidFeatureDefinitionError(source, "", f"cannot read it: {error}") from error
    except InvalidContractError as error:
        raise InvalidFeatureDefinitionError(source, error.key, error.reason, error.line) from error
    reader = _Reader(source, lines, file.parent)
    if data is None:
        return []
    if not isinstance(data, Mapping):
        raise reader.fail(
            "", "expected a mapping with entities, feature_views, on_demand_feature_views"
        )
    definitions: list[Definition] = []
    for section in data:
        if section not in _SECTIONS:
            hint = close_matches(str(section), _SECTIONS)
            did_you_mean = f" (did you mean {', '.join(hint)}?)" if hint else ""
            raise reader.fail(
                str(section), f"unknown section {section!r}{did_you_mean}; use {tuple(_SECTIONS)}"
            )
    for section, kind in _SECTIONS.items():
        items = reader.sequence(data.get(section) or [], section)
        for i, item in enumerate(items):
            definitions.append(reader.definition(item, f"{section}[{i}]", kind))
    return definitions


def _load_module(file: Path) -> list[Definition]:
    source = str(file)
    module_name = f"modelyard_features_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise InvalidFeatureDefinitionError(source, "", "cannot be imported as a Python module")
    module = importlib.util.module_from_spec(spec)
    # Registered while it runs so that dataclasses and pickling inside the module can find it.
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except (ImportError, SyntaxError, NameError, AttributeError, TypeError) as error:
        raise InvalidFeatureDefinitionError(source, "", f"cannot be imported: {error}") from error
    finally:
        sys.modules.pop(module_name, None)
    found: dict[int, Definition] = {}
    for value in vars(module).values():
        if isinstance(value, (Entity, FeatureView, OnDemandFeatureView)):
            found.setdefault(id(value), value)
    return list(found.values())
