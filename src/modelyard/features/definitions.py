"""Entities, features, sources and feature views: frozen definitions with a canonical digest.

Every definition checks itself when it is built and raises
:class:`~modelyard.errors.InvalidFeatureDefinitionError` naming the offending key. ``to_dict``
gives the canonical plain form (what the registry stores and YAML spells) and ``digest`` the
``sha256:`` of its canonical JSON, so equal definitions have equal digests.

Example:
    >>> customer = Entity("customer", join_keys=("customer_id",))
    >>> stats = FeatureView(
    ...     "customer_stats",
    ...     entities=("customer",),
    ...     source=DatasetSource("transactions"),
    ...     timestamp_field="ts",
    ...     features=(Feature("balance", "float64"),),
    ...     aggregations=(Aggregation("amount", "sum", "24h"),),
    ...     ttl="7d",
    ... )
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, TypeVar

from modelyard.contracts.dtypes import CONTRACT_TYPES
from modelyard.errors import InvalidFeatureDefinitionError
from modelyard.features.windows import DURATION_RULE, duration_ms, format_duration
from modelyard.ids import NAME_RULE

if TYPE_CHECKING:
    import pyarrow as pa

AGGREGATION_FUNCTIONS: tuple[str, ...] = ("count", "sum", "mean", "min", "max")
"""The functions a windowed aggregation may apply."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_FUNCTION_REF = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")
_IDENTIFIER_RULE = "use letters, digits and '_', starting with a letter or '_'"

_T = TypeVar("_T")

OnDemandFunction = Callable[["pa.Table"], "pa.Table"]


def _fail(owner: str, key: str, reason: str) -> InvalidFeatureDefinitionError:
    return InvalidFeatureDefinitionError(owner, key, reason)


def _check_name(owner: str, key: str, value: object) -> str:
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise _fail(owner, key, f"{value!r} is not a valid name: {NAME_RULE}")
    return value


def _check_column(owner: str, key: str, value: object) -> str:
    if not isinstance(value, str) or _IDENTIFIER.fullmatch(value) is None:
        raise _fail(owner, key, f"{value!r} is not a valid column name: {_IDENTIFIER_RULE}")
    return value


def _check_text(owner: str, key: str, value: object) -> str:
    if not isinstance(value, str):
        raise _fail(owner, key, f"expected text, got {type(value).__name__}")
    return value


def _names_tuple(
    owner: str, key: str, values: object, check: Callable[..., str]
) -> tuple[str, ...]:
    if isinstance(values, str) or not isinstance(values, (tuple, list)):
        raise _fail(owner, key, f"expected a list, got {type(values).__name__}")
    checked = tuple(check(owner, f"{key}[{i}]", value) for i, value in enumerate(values))
    for i, value in enumerate(checked):
        if value in checked[:i]:
            raise _fail(owner, f"{key}[{i}]", f"{value!r} is listed twice")
    return checked


def _set(obj: object, name: str, value: object) -> None:
    # Frozen dataclasses normalise their inputs (lists to tuples) in __post_init__.
    object.__setattr__(obj, name, value)


def canonical_json(data: Mapping[str, object]) -> str:
    """Return the canonical JSON of a definition's plain form (sorted keys, no spaces)."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _digest(data: Mapping[str, object]) -> str:
    return "sha256:" + hashlib.sha256(canonical_json(data).encode()).hexdigest()


# ---------------------------------------------------------------------- entities and features


@dataclass(frozen=True, slots=True)
class Entity:
    """What features describe (a customer, a card), identified by its join key columns."""

    name: str
    join_keys: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        owner = f'entity "{self.name}"'
        _check_name(owner, "name", self.name)
        keys = _names_tuple(owner, "join_keys", self.join_keys, _check_column)
        if not keys:
            raise _fail(owner, "join_keys", "an entity needs at least one join key")
        _set(self, "join_keys", keys)
        _check_text(owner, "description", self.description)

    def to_dict(self) -> dict[str, object]:
        """Return the canonical plain form."""
        return {
            "kind": "entity",
            "name": self.name,
            "join_keys": list(self.join_keys),
            "description": self.description,
        }

    @property
    def digest(self) -> str:
        """``sha256:`` of the canonical JSON."""
        return _digest(self.to_dict())


@dataclass(frozen=True, slots=True)
class Feature:
    """A feature column of a view's source, with its type from the contract vocabulary."""

    name: str
    dtype: str

    def __post_init__(self) -> None:
        owner = f'feature "{self.name}"'
        _check_column(owner, "name", self.name)
        if self.dtype not in CONTRACT_TYPES:
            raise _fail(
                owner,
                "dtype",
                f"unknown type {self.dtype!r}; use one of {', '.join(CONTRACT_TYPES)}",
            )

    def to_dict(self) -> dict[str, object]:
        """Return the canonical plain form."""
        return {"name": self.name, "dtype": self.dtype}


@dataclass(frozen=True, slots=True)
class Aggregation:
    """A windowed feature: at time t, ``function`` over the events with t - window < ts <= t.

    ``name`` defaults to ``<column>_<function>_<window>`` (e.g. ``amount_sum_24h``). ``count``
    counts the non-null values of ``column`` (0 when there are none); the other functions give
    null over an empty window.
    """

    column: str
    function: str
    window: str
    name: str = ""

    def __post_init__(self) -> None:
        owner = f'aggregation "{self.name or self.column}"'
        _check_column(owner, "column", self.column)
        if self.function not in AGGREGATION_FUNCTIONS:
            raise _fail(
                owner,
                "function",
                f"unknown function {self.function!r}; "
                f"use one of {', '.join(AGGREGATION_FUNCTIONS)}",
            )
        if duration_ms(self.window) is None:
            raise _fail(owner, "window", f"{self.window!r} is not a duration: {DURATION_RULE}")
        if not self.name:
            _set(self, "name", f"{self.column}_{self.function}_{self.window}")
        _check_column(owner, "name", self.name)

    @property
    def window_ms(self) -> int:
        """The window's length in milliseconds."""
        window = duration_ms(self.window)
        assert window is not None  # checked on construction
        return window

    @property
    def dtype(self) -> str | None:
        """The output type when the function fixes it (count, mean), else None (the column's)."""
        return {"count": "int64", "mean": "float64"}.get(self.function)

    def to_dict(self) -> dict[str, object]:
        """Return the canonical plain form."""
        return {
            "column": self.column,
            "function": self.function,
            "window": self.window,
            "name": self.name,
        }


# ---------------------------------------------------------------------- sources


@dataclass(frozen=True, slots=True)
class DatasetSource:
    """A modelyard dataset: its latest version at retrieval time, unless ``version`` pins one
    or ``tag`` follows one (``tag="validated"`` reads ``name@validated``, the version a data
    contract let through)."""

    name: str
    version: int | None = None
    tag: str | None = None

    def __post_init__(self) -> None:
        owner = f'dataset source "{self.name}"'
        _check_name(owner, "source.dataset", self.name)
        if self.version is not None and (
            isinstance(self.version, bool) or not isinstance(self.version, int) or self.version < 1
        ):
            raise _fail(owner, "source.version", f"{self.version!r} is not a version number >= 1")
        if self.tag is not None:
            _check_name(owner, "source.tag", self.tag)
            if self.version is not None:
                raise _fail(owner, "source.tag", "give a version or a tag, not both")

    @property
    def ref(self) -> str:
        """The dataset reference it reads: ``name``, ``name/version`` or ``name@tag``."""
        if self.tag is not None:
            return f"{self.name}@{self.tag}"
        return self.name if self.version is None else f"{self.name}/{self.version}"

    def to_dict(self) -> dict[str, object]:
        """Return the canonical plain form."""
        plain: dict[str, object] = {"type": "dataset", "name": self.name, "version": self.version}
        if self.tag is not None:
            plain["tag"] = self.tag
        return plain


@dataclass(frozen=True, slots=True)
class ParquetSource:
    """Parquet files read in place: a file, a directory's ``*.parquet`` or a glob."""

    path: str

    def __post_init__(self) -> None:
        owner = f"parquet source {self.path!r}"
        if not isinstance(self.path, str) or not self.path:
            raise _fail(owner, "source.path", "give the path of a Parquet file, directory or glob")

    def to_dict(self) -> dict[str, object]:
        """Return the canonical plain form."""
        return {"type": "parquet", "path": self.path}


@dataclass(frozen=True, slots=True)
class SqlSource:
    """A DuckDB query over datasets, each bound to an alias the query reads as a table.

    Example:
        >>> SqlSource("SELECT card_id, ts, amount FROM tx WHERE amount > 0", {"tx": "transactions"})
    """

    query: str
    datasets: Mapping[str, str] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        owner = "sql source"
        if not isinstance(self.query, str) or not self.query.strip():
            raise _fail(owner, "source.query", "the query is empty")
        if not isinstance(self.datasets, Mapping):
            raise _fail(owner, "source.datasets", "expected a mapping of alias to dataset")
        for alias, ref in self.datasets.items():
            _check_column(owner, f"source.datasets.{alias}", alias)
            if not isinstance(ref, str) or not ref:
                raise _fail(
                    owner, f"source.datasets.{alias}", f"{ref!r} is not a dataset reference"
                )
        _set(self, "datasets", dict(sorted(self.datasets.items())))

    def to_dict(self) -> dict[str, object]:
        """Return the canonical plain form."""
        return {"type": "sql", "query": self.query, "datasets": dict(self.datasets)}


Source = DatasetSource | ParquetSource | SqlSource


# ---------------------------------------------------------------------- views


@dataclass(frozen=True, slots=True)
class FeatureView:
    """Features of one or more entities read from a source with an event timestamp.

    Args:
        name: the view's name; features are referenced as ``"<view>:<feature>"``.
        entities: the names (or Entity objects) whose join keys identify a row.
        source: where the rows come from.
        timestamp_field: the source column of each row's event time.
        features: source columns served as they are.
        aggregations: windowed features computed point in time from the source's events.
        ttl: how old a value may be and still be served ("7d"); None keeps values forever.
        owner: who answers for the view.
        tags: free-form labels.
        description: what the view holds.
    """

    name: str
    entities: tuple[str, ...]
    source: Source
    timestamp_field: str
    features: tuple[Feature, ...] = ()
    aggregations: tuple[Aggregation, ...] = ()
    ttl: str | None = None
    owner: str = ""
    tags: Mapping[str, str] = field(default_factory=dict, hash=False)
    description: str = ""

    def __post_init__(self) -> None:
        owner = f'feature view "{self.name}"'
        _check_name(owner, "name", self.name)
        raw_entities: object = self.entities
        if isinstance(raw_entities, (tuple, list)):
            raw_entities = [
                item.name if isinstance(item, Entity) else item for item in raw_entities
            ]
        entities = _names_tuple(owner, "entities", raw_entities, _check_name)
        if not entities:
            raise _fail(owner, "entities", "a feature view needs at least one entity")
        _set(self, "entities", entities)
        if not isinstance(self.source, (DatasetSource, ParquetSource, SqlSource)):
            raise _fail(owner, "source", "use a DatasetSource, ParquetSource or SqlSource")
        _check_column(owner, "timestamp_field", self.timestamp_field)
        _set(self, "features", self._typed_tuple(owner, "features", self.features, Feature))
        _set(
            self,
            "aggregations",
            self._typed_tuple(owner, "aggregations", self.aggregations, Aggregation),
        )
        if not self.features and not self.aggregations:
            raise _fail(
                owner, "features", "a feature view needs at least one feature or aggregation"
            )
        seen: set[str] = {self.timestamp_field}
        outputs = [(f"features[{i}].name", item.name) for i, item in enumerate(self.features)]
        outputs += [
            (f"aggregations[{i}].name", item.name) for i, item in enumerate(self.aggregations)
        ]
        for key, name in outputs:
            if name in seen:
                reason = (
                    "is the timestamp field" if name == self.timestamp_field else "is defined twice"
                )
                raise _fail(owner, key, f"{name!r} {reason}")
            seen.add(name)
        if isinstance(self.ttl, timedelta):
            _set(self, "ttl", format_duration(self.ttl) or str(self.ttl))
        if self.ttl is not None and duration_ms(self.ttl) is None:
            raise _fail(owner, "ttl", f"{self.ttl!r} is not a duration: {DURATION_RULE}")
        _check_text(owner, "owner", self.owner)
        _check_text(owner, "description", self.description)
        if not isinstance(self.tags, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in self.tags.items()
        ):
            raise _fail(owner, "tags", "tags map text to text")
        _set(self, "tags", dict(sorted(self.tags.items())))

    @staticmethod
    def _typed_tuple(owner: str, key: str, values: object, kind: type[_T]) -> tuple[_T, ...]:
        if not isinstance(values, (tuple, list)):
            raise _fail(owner, key, f"expected a list of {kind.__name__}")
        for i, value in enumerate(values):
            if not isinstance(value, kind):
                raise _fail(owner, f"{key}[{i}]", f"expected a {kind.__name__}")
        return tuple(values)

    @property
    def ttl_ms(self) -> int | None:
        """The TTL in milliseconds, or None for no TTL."""
        return None if self.ttl is None else duration_ms(self.ttl)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The names of the features it serves: plain features first, then aggregations."""
        return tuple(item.name for item in self.features) + tuple(
            item.name for item in self.aggregations
        )

    def dtype_of(self, feature: str) -> str | None:
        """Return the declared type of an output (None when it follows the source column's)."""
        for item in self.features:
            if item.name == feature:
                return item.dtype
        for aggregation in self.aggregations:
            if aggregation.name == feature:
                return aggregation.dtype
        return None

    def to_dict(self) -> dict[str, object]:
        """Return the canonical plain form."""
        return {
            "kind": "feature_view",
            "name": self.name,
            "entities": list(self.entities),
            "source": self.source.to_dict(),
            "timestamp_field": self.timestamp_field,
            "features": [item.to_dict() for item in self.features],
            "aggregations": [item.to_dict() for item in self.aggregations],
            "ttl": self.ttl,
            "owner": self.owner,
            "tags": dict(self.tags),
            "description": self.description,
        }

    @property
    def digest(self) -> str:
        """``sha256:`` of the canonical JSON."""
        return _digest(self.to_dict())


@dataclass(frozen=True, slots=True)
class OnDemandFeatureView:
    """Features computed at retrieval time by a function over other features and request fields.

    ``inputs`` are ``"view:feature"`` references and plain request-field names (columns of the
    entity frame). The function receives an Arrow table with one column per input, named by the
    feature (or field) name, and returns a table with one column per output, row for row. It is
    referenced as ``"module:function"`` (the digest and YAML use that text), so it must be a
    module-level function; a string reference is imported when first called.
    """

    name: str
    inputs: tuple[str, ...]
    outputs: tuple[Feature, ...]
    function: OnDemandFunction | str = field(compare=False)
    description: str = ""

    def __post_init__(self) -> None:
        owner = f'on-demand feature view "{self.name}"'
        _check_name(owner, "name", self.name)
        inputs = self.inputs
        if isinstance(inputs, str) or not isinstance(inputs, (tuple, list)) or not inputs:
            raise _fail(owner, "inputs", "give a non-empty list of inputs")
        for i, ref in enumerate(inputs):
            view, _, feature = ref.partition(":") if isinstance(ref, str) else ("", "", "")
            if not isinstance(ref, str) or (
                feature
                and (_NAME.fullmatch(view) is None or _IDENTIFIER.fullmatch(feature) is None)
            ):
                raise _fail(owner, f"inputs[{i}]", f"{ref!r} is not a view:feature reference")
            if not feature:
                _check_column(owner, f"inputs[{i}]", ref)
        _set(self, "inputs", _names_tuple(owner, "inputs", inputs, _check_text))
        outputs = FeatureView._typed_tuple(owner, "outputs", self.outputs, Feature)
        if not outputs:
            raise _fail(owner, "outputs", "give at least one output feature")
        _set(self, "outputs", outputs)
        _check_text(owner, "description", self.description)
        self.function_ref  # noqa: B018 -- checks that the function can be referenced

    @property
    def function_ref(self) -> str:
        """The function as ``"module:qualified.name"``.

        Raises:
            InvalidFeatureDefinitionError: a lambda or nested function, which cannot be imported.
        """
        owner = f'on-demand feature view "{self.name}"'
        if isinstance(self.function, str):
            if _FUNCTION_REF.fullmatch(self.function) is None:
                raise _fail(owner, "function", f"{self.function!r} is not 'module:function'")
            return self.function
        module = getattr(self.function, "__module__", None)
        qualname = getattr(self.function, "__qualname__", None)
        if not callable(self.function) or not module or not qualname or "<" in qualname:
            raise _fail(
                owner, "function", "use a module-level function (lambdas and closures have no name)"
            )
        return f"{module}:{qualname}"

    @property
    def input_names(self) -> tuple[str, ...]:
        """The column name each input has in the table given to the function."""
        return tuple(ref.partition(":")[2] or ref for ref in self.inputs)

    @property
    def output_names(self) -> tuple[str, ...]:
        """The names of the features it serves."""
        return tuple(item.name for item in self.outputs)

    def dtype_of(self, feature: str) -> str | None:
        """Return the declared type of an output."""
        return next((item.dtype for item in self.outputs if item.name == feature), None)

    def resolve_function(self) -> OnDemandFunction:
        """Return the function, importing a ``"module:function"`` reference.

        Raises:
            InvalidFeatureDefinitionError: the module or the function cannot be found.
        """
        if not isinstance(self.function, str):
            return self.function
        module_name, _, qualname = self.function.partition(":")
        owner = f'on-demand feature view "{self.name}"'
        try:
            target: object = importlib.import_module(module_name)
        except ImportError as error:
            raise _fail(owner, "function", f"cannot import {module_name}: {error}") from error
        for part in qualname.split("."):
            target = getattr(target, part, None)
        if not callable(target):
            raise _fail(owner, "function", f"{self.function} is not a function")
        function: OnDemandFunction = target
        return function

    def to_dict(self) -> dict[str, object]:
        """Return the canonical plain form."""
        return {
            "kind": "on_demand_feature_view",
            "name": self.name,
            "inputs": list(self.inputs),
            "outputs": [item.to_dict() for item in self.outputs],
            "function": self.function_ref,
            "description": self.description,
        }

    @property
    def digest(self) -> str:
        """``sha256:`` of the canonical JSON."""
        return _digest(self.to_dict())


AnyView = FeatureView | OnDemandFeatureView
Definition = Entity | FeatureView | OnDemandFeatureView
