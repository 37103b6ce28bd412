"""Point-in-time training data: the feature values each entity row had at its event time.

For every view, DuckDB joins the entity frame to the view's source with an ASOF LEFT JOIN on the
entity's join keys and ``feature_ts <= entity_ts``: the latest value at or before the event time,
never a later one. A value older than the view's TTL (``entity_ts - feature_ts > ttl``) becomes
null. Windowed aggregations take the events with ``entity_ts - window < feature_ts <= entity_ts``.
Every entity row is kept, in input order, with its columns as given; the features follow.

Sources are scanned where they lie (the Parquet files of dataset versions, Parquet paths, DuckDB
SQL over datasets); the entity frame enters DuckDB as Arrow and the result leaves as Arrow.
Times are compared as integer nanoseconds since the epoch (UTC), so naive timestamps mean UTC
and the dates that fit are those of 1677-2262. When two source rows of one entity share a
timestamp, which of them is served is not specified.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.contracts.sources import quote_identifier, quote_literal
from modelyard.datasets import DatasetStore
from modelyard.errors import (
    InvalidEntityFrameError,
    InvalidFeatureDefinitionError,
    close_matches,
)
from modelyard.features.definitions import (
    Aggregation,
    DatasetSource,
    Feature,
    FeatureView,
    OnDemandFeatureView,
    ParquetSource,
    SqlSource,
)
from modelyard.features.registry import AppliedView, FeatureRegistry
from modelyard.lineage import LineageInput, report_input

DEFAULT_TIMESTAMP_COLUMN = "event_timestamp"
_NS_PER_MS = 1_000_000
_NS_PER_UNIT = {"s": 1_000_000_000, "ms": 1_000_000, "us": 1_000, "ns": 1}
_DUCKDB_TYPES = {
    "int8": "TINYINT",
    "int16": "SMALLINT",
    "int32": "INTEGER",
    "int64": "BIGINT",
    "uint8": "UTINYINT",
    "uint16": "USMALLINT",
    "uint32": "UINTEGER",
    "uint64": "UBIGINT",
    "float32": "FLOAT",
    "float64": "DOUBLE",
    "bool": "BOOLEAN",
    "string": "VARCHAR",
    "date": "DATE",
    "time": "TIME",
    "timestamp": "TIMESTAMP",
    "timestamp_tz": "TIMESTAMPTZ",
    "binary": "BLOB",
}
_INTEGER_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"} | {
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
}
_ENTITY_TABLE = "__modelyard_entities"


@dataclass
class _ViewRequest:
    applied: AppliedView
    features: list[str] = field(default_factory=list)


def historical(
    entity_df: object,
    features: Sequence[str],
    *,
    registry: FeatureRegistry,
    datasets: DatasetStore,
    full_feature_names: bool = False,
    timestamp_column: str = DEFAULT_TIMESTAMP_COLUMN,
    pushed_dir: Path | None = None,
) -> pa.Table:
    """Return the entity frame with, per row, each feature's value as of the row's event time.

    Args:
        entity_df: a pandas or polars DataFrame or an Arrow table with every join key of the
            requested views' entities and an event-timestamp column (timezone-aware, or naive
            meaning UTC).
        features: ``"view:feature"`` references, of feature views and on-demand views.
        registry: where the views are applied (their latest versions are read).
        datasets: where dataset sources are read.
        full_feature_names: name the feature columns ``<view>__<feature>`` instead of
            ``<feature>``.
        timestamp_column: the entity frame's event-time column.
        pushed_dir: where rows pushed to views are kept (``<dir>/<view>/*.parquet``); they
            count as part of their view's source.

    Returns:
        An Arrow table: the entity frame's columns as given, then one column per feature in
        the order requested, one row per entity row in input order.

    Raises:
        FeatureNotFoundError: a reference names no applied feature (with close matches).
        InvalidEntityFrameError: the frame lacks a join key or the timestamp column, or its
            timestamps are not timestamps, are null, or mix time zones.
        InvalidFeatureDefinitionError: a source lacks a column its view declares or cannot be
            read, two features would get the same column name, or an on-demand function
            fails to return its outputs.
        DatasetNotFoundError, DatasetVersionNotFoundError: a dataset source names no version.
    """
    entities = _to_arrow(entity_df, timestamp_column)
    event_ns = _event_ns(entities, timestamp_column)
    resolved = registry.resolve(list(features))
    names = _output_names(
        [(item.view.name, item.feature) for item in resolved],
        full=full_feature_names,
        taken=set(entities.column_names),
    )
    requests: dict[str, _ViewRequest] = {}
    on_demand: dict[str, AppliedView] = {}
    for item in resolved:
        if isinstance(item.view.definition, OnDemandFeatureView):
            on_demand.setdefault(item.view.name, item.view)
            for ref in item.view.definition.inputs:
                if ":" in ref:
                    (dependency,) = registry.resolve([ref])
                    _add(requests, dependency.view, dependency.feature)
        else:
            _add(requests, item.view, item.feature)
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        values: dict[tuple[str, str], pa.ChunkedArray] = {}
        for request in requests.values():
            view = request.applied.definition
            assert isinstance(view, FeatureView)
            keys = _join_keys(registry, view, entities)
            frame = pa.table(
                {
                    "__row": pa.array(np.arange(entities.num_rows, dtype=np.int64)),
                    "__ts": event_ns,
                    **{key: entities.column(key) for key in keys},
                }
            )
            conn.register(_ENTITY_TABLE, frame)
            try:
                values.update(_retrieve(conn, request, keys, datasets, pushed_dir))
            finally:
                conn.unregister(_ENTITY_TABLE)
            _report(request.applied)
    for applied in on_demand.values():
        values.update(on_demand_values(applied, entities, values))
        _report(applied)
    result = entities
    for item, name in zip(resolved, names, strict=True):
        result = result.append_column(name, values[(item.view.name, item.feature)])
    return result


def _add(requests: dict[str, _ViewRequest], applied: AppliedView, feature: str) -> None:
    request = requests.setdefault(applied.name, _ViewRequest(applied))
    if feature not in request.features:
        request.features.append(feature)


def _report(applied: AppliedView) -> None:
    report_input(
        LineageInput(
            kind="feature_view",
            name=applied.name,
            version=str(applied.version),
            digest=applied.digest,
        )
    )


# ---------------------------------------------------------------------- the entity frame


def _to_arrow(entity_df: object, timestamp_column: str) -> pa.Table:
    if isinstance(entity_df, pa.Table):
        return entity_df
    if isinstance(entity_df, pa.RecordBatch):
        return pa.Table.from_batches([entity_df])
    module = type(entity_df).__module__.split(".")[0]
    if module == "polars":
        table = entity_df.to_arrow()  # type: ignore[attr-defined]  # a polars DataFrame
        assert isinstance(table, pa.Table)
        return table
    if module == "pandas":
        import pandas as pd

        if isinstance(entity_df, pd.DataFrame):
            if timestamp_column in entity_df.columns:
                _check_object_zones(entity_df[timestamp_column], timestamp_column)
            try:
                return pa.Table.from_pandas(entity_df, preserve_index=False)
            except (pa.ArrowException, TypeError, ValueError) as error:
                raise InvalidEntityFrameError("", f"cannot be read as Arrow: {error}") from error
    raise InvalidEntityFrameError(
        "",
        f"expected a pandas or polars DataFrame or an Arrow table, got {type(entity_df).__name__}",
    )


def _check_object_zones(column: object, name: str) -> None:
    import pandas as pd

    assert isinstance(column, pd.Series)
    if column.dtype != object:
        return
    zones = set()
    for value in column:
        if isinstance(value, datetime):
            zones.add(None if value.tzinfo is None else str(value.tzinfo))
        elif value is not None and not pd.isna(value):
            raise InvalidEntityFrameError(
                name, f"holds {type(value).__name__} values, not timestamps"
            )
    if len(zones) > 1:
        shown = ", ".join(sorted("naive" if zone is None else zone for zone in zones))
        raise InvalidEntityFrameError(
            name, f"mixes time zones ({shown}); convert the timestamps to one zone (e.g. UTC)"
        )


def _event_ns(entities: pa.Table, column: str) -> pa.Array:
    if column not in entities.column_names:
        hint = close_matches(column, entities.column_names)
        did_you_mean = f" (did you mean {', '.join(hint)}?)" if hint else ""
        raise InvalidEntityFrameError(
            column,
            f"missing{did_you_mean}; name the event-time column with timestamp_column=",
        )
    values = entities.column(column)
    if not pa.types.is_timestamp(values.type):
        raise InvalidEntityFrameError(column, f"holds {values.type}, not timestamps")
    if values.null_count:
        raise InvalidEntityFrameError(column, f"has {values.null_count} null timestamps")
    # The stored integers of an Arrow timestamp are UTC whatever its zone.
    scale = _NS_PER_UNIT[values.type.unit]
    as_int = pc.cast(values.combine_chunks(), pa.int64())
    try:
        return pc.multiply_checked(as_int, scale) if scale != 1 else as_int
    except pa.ArrowInvalid as error:
        raise InvalidEntityFrameError(column, "has timestamps outside 1677-2262") from error


def _join_keys(registry: FeatureRegistry, view: FeatureView, entities: pa.Table) -> list[str]:
    keys: list[str] = []
    for name in view.entities:
        for key in registry.entity(name).definition.join_keys:
            if key not in entities.column_names:
                raise InvalidEntityFrameError(
                    key,
                    f'missing: it is a join key of entity "{name}" (feature view "{view.name}")',
                )
            if key not in keys:
                keys.append(key)
    return keys


def _output_names(
    resolved_refs: Sequence[tuple[str, str]], *, full: bool, taken: set[str]
) -> list[str]:
    names: list[str] = []
    origin: dict[str, str] = {}
    for view, feature in resolved_refs:
        name = f"{view}__{feature}" if full else feature
        ref = f"{view}:{feature}"
        if name in taken:
            raise InvalidFeatureDefinitionError(
                "historical retrieval", ref, f'the entity frame already has a column "{name}"'
            )
        if name in origin:
            if origin[name] == ref:
                raise InvalidFeatureDefinitionError("historical retrieval", ref, "requested twice")
            raise InvalidFeatureDefinitionError(
                "historical retrieval",
                ref,
                f'"{origin[name]}" gives a column "{name}" too; pass full_feature_names=True',
            )
        origin[name] = ref
        names.append(name)
    return names


# ---------------------------------------------------------------------- sources and joins


def source_sql(
    conn: duckdb.DuckDBPyConnection,
    view: FeatureView,
    datasets: DatasetStore,
    pushed_dir: Path | None = None,
) -> str:
    """Return the SQL relation of the view's source (registering views of SQL sources' datasets),
    with the rows pushed to the view under ``pushed_dir`` appended (columns matched by name)."""
    base = _base_sql(conn, view, datasets)
    pushed = sorted((pushed_dir / view.name).glob("*.parquet")) if pushed_dir is not None else []
    if not pushed:
        return base
    files = ", ".join(quote_literal(str(path)) for path in pushed)
    return f"(SELECT * FROM {base} UNION ALL BY NAME SELECT * FROM read_parquet([{files}]))"


def _base_sql(conn: duckdb.DuckDBPyConnection, view: FeatureView, datasets: DatasetStore) -> str:
    source = view.source
    if isinstance(source, DatasetSource):
        version = datasets.get(source.ref)
        return f"read_parquet({quote_literal(str(version.path))})"
    if isinstance(source, ParquetSource):
        location = Path(source.path)
        text = str(location / "*.parquet") if location.is_dir() else source.path
        return f"read_parquet({quote_literal(text)})"
    assert isinstance(source, SqlSource)
    for alias, ref in source.datasets.items():
        path = datasets.get(ref).path
        conn.execute(
            f"CREATE OR REPLACE TEMP VIEW {quote_identifier(alias)} AS "
            f"SELECT * FROM read_parquet({quote_literal(str(path))})"
        )
    return f"({source.query})"


def _retrieve(
    conn: duckdb.DuckDBPyConnection,
    request: _ViewRequest,
    keys: list[str],
    datasets: DatasetStore,
    pushed_dir: Path | None,
) -> dict[tuple[str, str], pa.ChunkedArray]:
    applied = request.applied
    view = applied.definition
    assert isinstance(view, FeatureView)
    owner = f'feature view "{view.name}"'
    try:
        source = source_sql(conn, view, datasets, pushed_dir)
        described = conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    except duckdb.Error as error:
        raise InvalidFeatureDefinitionError(owner, "source", f"cannot be read: {error}") from error
    types = {str(row[0]): str(row[1]) for row in described}
    needed = [(key, key) for key in keys] + [("timestamp_field", view.timestamp_field)]
    plain = [item for item in view.features if item.name in request.features]
    windowed = [item for item in view.aggregations if item.name in request.features]
    needed += [(f"features.{item.name}", item.name) for item in plain]
    needed += [(f"aggregations.{item.name}", item.column) for item in windowed]
    for key, column in needed:
        if column not in types:
            hint = close_matches(column, types)
            did_you_mean = f" (did you mean {', '.join(hint)}?)" if hint else ""
            raise InvalidFeatureDefinitionError(
                owner, key, f"its source has no column {column!r}{did_you_mean}"
            )
    result: dict[tuple[str, str], pa.ChunkedArray] = {}
    key_list = ", ".join(quote_identifier(key) for key in keys)
    rows = (
        f"SELECT {key_list}, epoch_ns({quote_identifier(view.timestamp_field)}) AS __ts, * "
        f"EXCLUDE ({key_list}) FROM {source}"
    )
    on_keys = " AND ".join(f"e.{quote_identifier(key)} = f.{quote_identifier(key)}" for key in keys)
    try:
        if plain:
            result.update(_latest_values(conn, view, plain, rows, on_keys))
        if windowed:
            result.update(_windowed_values(conn, view, windowed, rows, on_keys, types))
    except duckdb.Error as error:
        raise InvalidEntityFrameError(
            ", ".join(keys), f'cannot be joined to feature view "{view.name}": {error}'
        ) from error
    return result


def _latest_values(
    conn: duckdb.DuckDBPyConnection,
    view: FeatureView,
    plain: Sequence[Feature],
    rows: str,
    on_keys: str,
) -> dict[tuple[str, str], pa.ChunkedArray]:
    ttl_ms = view.ttl_ms
    selected = []
    for position, item in enumerate(plain):
        name, dtype = item.name, item.dtype
        value = f"f.{quote_identifier(name)}"
        if dtype in _DUCKDB_TYPES:
            value = f"CAST({value} AS {_DUCKDB_TYPES[dtype]})"
        if ttl_ms is not None:
            value = f"CASE WHEN e.__ts - f.__ts <= {ttl_ms * _NS_PER_MS} THEN {value} END"
        selected.append(f"{value} AS __v{position}")
    query = (
        f"SELECT {', '.join(selected)} FROM {_ENTITY_TABLE} e "
        f"ASOF LEFT JOIN ({rows}) f ON {on_keys} AND e.__ts >= f.__ts ORDER BY e.__row"
    )
    table = conn.sql(query).to_arrow_table()
    return {
        (view.name, item.name): table.column(f"__v{position}")
        for position, item in enumerate(plain)
    }


def _windowed_values(
    conn: duckdb.DuckDBPyConnection,
    view: FeatureView,
    windowed: Sequence[Aggregation],
    rows: str,
    on_keys: str,
    types: Mapping[str, str],
) -> dict[tuple[str, str], pa.ChunkedArray]:
    selected = []
    longest = 0
    for position, item in enumerate(windowed):
        column, function, window_ms = item.column, item.function, item.window_ms
        longest = max(longest, window_ms)
        inside = f"FILTER (WHERE f.__ts > e.__ts - {window_ms * _NS_PER_MS})"
        value = f"f.{quote_identifier(column)}"
        if function == "count":
            expression = f"count({value}) {inside}"
        elif function == "mean":
            expression = f"CAST(avg({value}) {inside} AS DOUBLE)"
        elif function == "sum":
            cast = "BIGINT" if types[column] in _INTEGER_TYPES else "DOUBLE"
            expression = f"CAST(sum({value}) {inside} AS {cast})"
        else:
            expression = f"{function}({value}) {inside}"
        selected.append(f"{expression} AS __v{position}")
    query = (
        f"SELECT {', '.join(selected)} FROM {_ENTITY_TABLE} e LEFT JOIN ({rows}) f "
        f"ON {on_keys} AND f.__ts <= e.__ts AND f.__ts > e.__ts - {longest * _NS_PER_MS} "
        "GROUP BY e.__row ORDER BY e.__row"
    )
    table = conn.sql(query).to_arrow_table()
    return {
        (view.name, item.name): table.column(f"__v{position}")
        for position, item in enumerate(windowed)
    }


def values_as_of(
    conn: duckdb.DuckDBPyConnection,
    view: FeatureView,
    keys: Sequence[str],
    source: str,
    end_ms: int,
    start_ms: int | None = None,
) -> pa.Table:
    """Every entity's values of ``view`` as of ``end_ms``, in one grouped pass over the source.

    The same values the ASOF retrieval gives an entity row at ``end_ms`` (latest row at or
    before it, null past the TTL; windows ending at it), for every entity with an event at or
    before ``end_ms`` (and after ``start_ms`` when given). Columns: the join keys,
    ``__event_ms`` (the entity's newest event) and the view's outputs, ordered by the keys.

    Raises:
        InvalidFeatureDefinitionError: the source lacks a column or cannot be read.
    """
    owner = f'feature view "{view.name}"'
    end_ns = end_ms * _NS_PER_MS
    ts = quote_identifier(view.timestamp_field)
    key_list = ", ".join(quote_identifier(key) for key in keys)
    selected = [key_list, f"CAST(max(__ts) // {_NS_PER_MS} AS BIGINT) AS __event_ms"]
    ttl_ms = view.ttl_ms
    try:
        types = {
            str(row[0]): str(row[1])
            for row in conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
        }
        for item in view.features:
            value = f"arg_max_null({quote_identifier(item.name)}, __ts)"
            if item.dtype in _DUCKDB_TYPES:
                value = f"CAST({value} AS {_DUCKDB_TYPES[item.dtype]})"
            if ttl_ms is not None:
                value = f"CASE WHEN {end_ns} - max(__ts) <= {ttl_ms * _NS_PER_MS} THEN {value} END"
            selected.append(f"{value} AS {quote_identifier(item.name)}")
        for aggregation in view.aggregations:
            inside = f"FILTER (WHERE __ts > {end_ns - aggregation.window_ms * _NS_PER_MS})"
            value = quote_identifier(aggregation.column)
            if aggregation.function == "count":
                expression = f"count({value}) {inside}"
            elif aggregation.function == "mean":
                expression = f"CAST(avg({value}) {inside} AS DOUBLE)"
            elif aggregation.function == "sum":
                cast = "BIGINT" if types[aggregation.column] in _INTEGER_TYPES else "DOUBLE"
                expression = f"CAST(sum({value}) {inside} AS {cast})"
            else:
                expression = f"{aggregation.function}({value}) {inside}"
            selected.append(f"{expression} AS {quote_identifier(aggregation.name)}")
        having = "" if start_ms is None else f"HAVING max(__ts) > {start_ms * _NS_PER_MS}"
        query = (
            f"SELECT {', '.join(selected)} FROM (SELECT *, epoch_ns({ts}) AS __ts FROM {source}) "
            f"WHERE __ts <= {end_ns} GROUP BY {key_list} {having} ORDER BY {key_list}"
        )
        return conn.sql(query).to_arrow_table()
    except (duckdb.Error, KeyError) as error:
        raise InvalidFeatureDefinitionError(owner, "source", f"cannot be read: {error}") from error


# ---------------------------------------------------------------------- on-demand views


def on_demand_values(
    applied: AppliedView,
    entities: pa.Table,
    values: Mapping[tuple[str, str], pa.ChunkedArray],
) -> dict[tuple[str, str], pa.ChunkedArray]:
    """Run an on-demand view's function over its inputs: ``values`` of features (keyed by
    (view, feature)) and request fields, the columns of ``entities``; one row per entity row."""
    view = applied.definition
    assert isinstance(view, OnDemandFeatureView)
    owner = f'on-demand feature view "{view.name}"'
    columns: dict[str, pa.ChunkedArray] = {}
    for ref, name in zip(view.inputs, view.input_names, strict=True):
        source, _, feature = ref.partition(":")
        if feature:
            columns[name] = values[(source, feature)]
        elif ref in entities.column_names:
            columns[name] = entities.column(ref)
        else:
            raise InvalidEntityFrameError(ref, f"missing: it is a request field of {owner}")
    function = view.resolve_function()
    output = function(pa.table(columns))
    if not isinstance(output, pa.Table):
        output = _maybe_from_pandas(output, owner)
    result: dict[tuple[str, str], pa.ChunkedArray] = {}
    for name in view.output_names:
        if name not in output.column_names:
            raise InvalidFeatureDefinitionError(
                owner, "function", f"it returned no column {name!r}"
            )
        if output.num_rows != entities.num_rows:
            raise InvalidFeatureDefinitionError(
                owner,
                "function",
                f"it returned {output.num_rows} rows for {entities.num_rows} entity rows",
            )
        result[(view.name, name)] = output.column(name)
    return result


def _maybe_from_pandas(output: object, owner: str) -> pa.Table:
    if type(output).__module__.split(".")[0] == "pandas":
        import pandas as pd

        if isinstance(output, pd.DataFrame):
            return pa.Table.from_pandas(output, preserve_index=False)
    raise InvalidFeatureDefinitionError(
        owner, "function", f"it returned {type(output).__name__}, not an Arrow table or DataFrame"
    )
