"""The feature store of a workspace: definitions, training data, materialization, online lookups,
pushes, freshness and the online/offline parity check, over one registry and one online store.
"""

from __future__ import annotations

import enum
import math
import random
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Literal, TypeVar, overload

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from sqlalchemy import func, select

from modelyard.clock import Clock, to_ms
from modelyard.contracts.sources import quote_identifier
from modelyard.datasets import DatasetStore
from modelyard.errors import FeaturePushRejectedError, InvalidEntityFrameError, InvalidInputError
from modelyard.features.definitions import Definition, FeatureView, OnDemandFeatureView
from modelyard.features.materialize import feature_view, join_keys, latest_chunks
from modelyard.features.offline import (
    DEFAULT_TIMESTAMP_COLUMN,
    historical,
    on_demand_values,
    source_sql,
)
from modelyard.features.online import OnlineRow, OnlineStore
from modelyard.features.registry import AppliedView, FeaturePlan, FeatureRegistry
from modelyard.metastore import Metastore
from modelyard.metastore.tables import feature_materializations

if TYPE_CHECKING:
    import pandas as pd
    import polars as pl

Progress = Callable[[int, int], None]
_T = TypeVar("_T")
Instant = datetime | int  # a timezone-aware datetime, or epoch milliseconds (UTC)


class FeatureStatus(enum.Enum):
    """What an online lookup found for one feature of one entity."""

    PRESENT = "PRESENT"
    NOT_FOUND = "NOT_FOUND"
    EXPIRED = "EXPIRED"  # older than the view's TTL: served as null


@dataclass(frozen=True, slots=True)
class OnlineFeatures:
    """The answer of an online lookup, by column: each feature's values, statuses and ages, one
    entry per entity in request order (a value is None unless its status is PRESENT).

    The per-entity views (``values``, ``statuses``, ``ages_ms``) are built when asked for; a
    server reads the columns.
    """

    names: tuple[str, ...]
    columns: Mapping[str, list[object]]
    status_columns: Mapping[str, list[FeatureStatus]]
    age_columns: Mapping[str, list[int | None]]

    @property
    def num_entities(self) -> int:
        """How many entities were looked up."""
        return len(self.columns[self.names[0]]) if self.names else 0

    @property
    def values(self) -> tuple[dict[str, object], ...]:
        """Per entity, {feature: value}."""
        return self._rows(self.columns)

    @property
    def statuses(self) -> tuple[dict[str, FeatureStatus], ...]:
        """Per entity, {feature: status}."""
        return self._rows(self.status_columns)

    @property
    def ages_ms(self) -> tuple[dict[str, int | None], ...]:
        """Per entity, {feature: age of the value in milliseconds (None when not found)}."""
        return self._rows(self.age_columns)

    def _rows(self, columns: Mapping[str, list[_T]]) -> tuple[dict[str, _T], ...]:
        return tuple(
            {name: columns[name][i] for name in self.names} for i in range(self.num_entities)
        )

    def to_arrow(self) -> pa.Table:
        """The values as an Arrow table, one row per entity, one column per feature."""
        return pa.table({name: self.columns[name] for name in self.names})

    def to_dict(self) -> dict[str, object]:
        """A JSON-friendly form: a list of {feature: {value, status, age_ms}} per entity."""
        return {
            "features": list(self.names),
            "entities": [
                {
                    name: {
                        "value": self.columns[name][i],
                        "status": self.status_columns[name][i].value,
                        "age_ms": self.age_columns[name][i],
                    }
                    for name in self.names
                }
                for i in range(self.num_entities)
            ],
        }


@dataclass(frozen=True, slots=True)
class _ViewRead:
    """What an online lookup reads of one feature view."""

    name: str
    keys: tuple[str, ...]
    ttl_ms: int | None
    features: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _ServingPlan:
    """Resolved feature references: what to read and what to compute, in request order."""

    names: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    reads: tuple[_ViewRead, ...]
    on_demand: tuple[AppliedView, ...]


@dataclass(frozen=True, slots=True)
class MaterializationResult:
    """What a materialization (or a push) loaded into the online store."""

    view: str
    version: int
    kind: str  # "materialize" | "push"
    store: str
    start_ms: int | None
    end_ms: int
    rows: int
    newest_event_ms: int | None
    seconds: float


@dataclass(frozen=True, slots=True)
class Freshness:
    """How far behind now the newest event loaded online for a view is."""

    view: str
    newest_event_ms: int | None
    lag_ms: int | None
    materialized_at_ms: int | None
    end_ms: int | None


@dataclass(frozen=True, slots=True)
class ParityMismatch:
    """One feature of one entity whose online value differs from the offline one."""

    feature: str
    entity: dict[str, object]
    online: object
    offline: object
    as_of_ms: int


@dataclass(frozen=True, slots=True)
class ParityReport:
    """The online values of sampled entities against the offline values as of the same time."""

    view: str
    version: int
    entities: int
    values: int
    mismatches: tuple[ParityMismatch, ...]

    @property
    def is_consistent(self) -> bool:
        """Whether every compared value agrees."""
        return not self.mismatches


class FeatureStore:
    """Feature definitions, point-in-time training data and online serving of one workspace.

    Args:
        registry: where entities and views are applied.
        datasets: where dataset sources are read.
        metastore: where materializations are recorded (freshness, incremental watermarks).
        clock: "now" for materialization, freshness and TTLs.
        online: opens the online store on first use.
        pushed_dir: where pushed rows are appended offline (``<dir>/<view>/*.parquet``).
        registry_cache_s: how long online lookups reuse resolved feature references before
            reading the registry again (another process's apply shows after at most this long).
    """

    def __init__(
        self,
        registry: FeatureRegistry,
        datasets: DatasetStore,
        metastore: Metastore,
        clock: Clock,
        online: Callable[[], OnlineStore],
        pushed_dir: Path | None,
        *,
        registry_cache_s: float = 30.0,
    ) -> None:
        self.registry = registry
        self._registry_cache_s = registry_cache_s
        self._plans: dict[tuple[str, ...], tuple[_ServingPlan, float]] = {}
        self._datasets = datasets
        self._db = metastore
        self._clock = clock
        self._open_online = online
        self._online: OnlineStore | None = None
        self._pushed_dir = pushed_dir

    def with_online_store(self, store: OnlineStore) -> FeatureStore:
        """Return a feature store over the same registry and offline data that reads and
        writes ``store`` online (a server in front of another store, a test's fault
        injection)."""
        return FeatureStore(
            self.registry,
            self._datasets,
            self._db,
            self._clock,
            online=lambda: store,
            pushed_dir=self._pushed_dir,
            registry_cache_s=self._registry_cache_s,
        )

    @property
    def online_store(self) -> OnlineStore:
        """The online store (opened on first use)."""
        if self._online is None:
            self._online = self._open_online()
        return self._online

    def close(self) -> None:
        """Close the online store's connections."""
        if self._online is not None:
            self._online.close()
            self._online = None

    # ------------------------------------------------------------------ definitions

    def plan(self, definitions: Iterable[Definition]) -> FeaturePlan:
        """What :meth:`apply` would change (see FeatureRegistry.plan)."""
        return self.registry.plan(definitions)

    def apply(
        self, definitions: Iterable[Definition], *, allow_breaking: bool = False
    ) -> FeaturePlan:
        """Register and version definitions (see FeatureRegistry.apply)."""
        self._plans.clear()
        return self.registry.apply(definitions, allow_breaking=allow_breaking)

    # ------------------------------------------------------------------ offline

    @overload
    def historical(
        self,
        entity_df: object,
        features: Sequence[str],
        *,
        full_feature_names: bool = ...,
        timestamp_column: str = ...,
        output: Literal["arrow"] = ...,
    ) -> pa.Table: ...

    @overload
    def historical(
        self,
        entity_df: object,
        features: Sequence[str],
        *,
        full_feature_names: bool = ...,
        timestamp_column: str = ...,
        output: Literal["pandas"],
    ) -> pd.DataFrame: ...

    @overload
    def historical(
        self,
        entity_df: object,
        features: Sequence[str],
        *,
        full_feature_names: bool = ...,
        timestamp_column: str = ...,
        output: Literal["polars"],
    ) -> pl.DataFrame: ...

    def historical(
        self,
        entity_df: object,
        features: Sequence[str],
        *,
        full_feature_names: bool = False,
        timestamp_column: str = DEFAULT_TIMESTAMP_COLUMN,
        output: Literal["arrow", "pandas", "polars"] = "arrow",
    ) -> pa.Table | pd.DataFrame | pl.DataFrame:
        """Point-in-time-correct training data (see :func:`offline.historical`); pushed rows
        count as part of their views' sources.

        Args:
            entity_df: the entity rows (pandas, polars or Arrow) with join keys and times.
            features: ``"view:feature"`` references.
            full_feature_names: name the columns ``<view>__<feature>``.
            timestamp_column: the entity frame's event-time column.
            output: ``"arrow"`` (a pyarrow Table), ``"pandas"`` or ``"polars"``.

        Raises:
            InvalidInputError: an unknown ``output``; and the errors of offline.historical.
        """
        if output not in ("arrow", "pandas", "polars"):
            raise InvalidInputError(f"output {output!r} is not one of arrow, pandas, polars")
        table = historical(
            entity_df,
            features,
            registry=self.registry,
            datasets=self._datasets,
            full_feature_names=full_feature_names,
            timestamp_column=timestamp_column,
            pushed_dir=self._pushed_dir,
        )
        if output == "pandas":
            frame: pd.DataFrame = table.to_pandas()
            return frame
        if output == "polars":
            import polars as pl  # imported on use: the CLI starts faster without it

            converted = pl.from_arrow(table)
            assert isinstance(converted, pl.DataFrame)  # a Table converts to a DataFrame
            return converted
        return table

    # ------------------------------------------------------------------ materialization

    def materialize(
        self,
        view: str,
        start: Instant | None = None,
        end: Instant | None = None,
        *,
        progress: Progress | None = None,
    ) -> MaterializationResult:
        """Load each entity's values as of ``end`` (default now) into the online store, for the
        entities with an event after ``start`` (default: every entity).

        Raises:
            FeatureViewNotFoundError: no such view.
            InvalidFeatureDefinitionError: an on-demand view, or an unreadable source.
            OnlineStoreUnavailableError: the online store cannot be written.
        """
        applied = self.registry.view(view)
        end_ms = self._ms(end) if end is not None else self._clock.time_ms()
        start_ms = self._ms(start) if start is not None else None
        return self._materialize(applied, start_ms, end_ms, progress)

    def materialize_incremental(
        self, view: str, end: Instant | None = None, *, progress: Progress | None = None
    ) -> MaterializationResult:
        """Materialize the entities with events since the last materialization's end."""
        applied = self.registry.view(view)
        end_ms = self._ms(end) if end is not None else self._clock.time_ms()
        return self._materialize(applied, self._last_end_ms(view), end_ms, progress)

    def _materialize(
        self, applied: AppliedView, start_ms: int | None, end_ms: int, progress: Progress | None
    ) -> MaterializationResult:
        started = time.perf_counter()
        started_ms = self._clock.time_ms()
        chunks = latest_chunks(
            applied,
            registry=self.registry,
            datasets=self._datasets,
            end_ms=end_ms,
            start_ms=start_ms,
            pushed_dir=self._pushed_dir,
            progress=progress,
        )
        for chunk in chunks:
            self.online_store.write(applied.name, chunk.keys, chunk.event_ms, chunk.values)
        rows = sum(chunk.num_rows for chunk in chunks)
        newest = max((max(chunk.event_ms) for chunk in chunks if chunk.event_ms), default=None)
        result = MaterializationResult(
            applied.name,
            applied.version,
            "materialize",
            self.online_store.url,
            start_ms,
            end_ms,
            rows,
            newest,
            time.perf_counter() - started,
        )
        self._record(result, started_ms)
        return result

    def _record(self, result: MaterializationResult, started_ms: int) -> None:
        with self._db.write() as conn:
            conn.execute(
                feature_materializations.insert(),
                {
                    "id": uuid.uuid4().hex,
                    "view": result.view,
                    "view_version": result.version,
                    "kind": result.kind,
                    "store": result.store,
                    "start_ms": result.start_ms,
                    "end_ms": result.end_ms,
                    "rows": result.rows,
                    "newest_event_ms": result.newest_event_ms,
                    "started_at_ms": started_ms,
                    "finished_at_ms": self._clock.time_ms(),
                },
            )

    def _last_end_ms(self, view: str) -> int | None:
        with self._db.read() as conn:
            value = conn.execute(
                # Pushes carry their own event times: only materializations move the watermark.
                select(func.max(feature_materializations.c.end_ms)).where(
                    feature_materializations.c.view == view,
                    feature_materializations.c.kind == "materialize",
                )
            ).scalar_one_or_none()
        return None if value is None else int(value)

    def freshness(self, view: str | None = None) -> list[Freshness]:
        """Per view (or for one), the newest event loaded online and its lag behind now.

        Raises:
            FeatureViewNotFoundError: ``view`` names no applied view.
        """
        names = (
            [self.registry.view(view).name]
            if view is not None
            else [
                item.name
                for item in self.registry.views()
                if isinstance(item.definition, FeatureView)
            ]
        )
        now = self._clock.time_ms()
        found: list[Freshness] = []
        with self._db.read() as conn:
            for name in names:
                row = conn.execute(
                    select(
                        func.max(feature_materializations.c.newest_event_ms),
                        func.max(feature_materializations.c.finished_at_ms),
                        func.max(feature_materializations.c.end_ms),
                    ).where(feature_materializations.c.view == name)
                ).one()
                newest = None if row[0] is None else int(row[0])
                found.append(
                    Freshness(
                        name,
                        newest,
                        None if newest is None else now - newest,
                        None if row[1] is None else int(row[1]),
                        None if row[2] is None else int(row[2]),
                    )
                )
        return found

    # ------------------------------------------------------------------ online

    def online(
        self,
        features: Sequence[str],
        entities: Sequence[Mapping[str, object]],
    ) -> OnlineFeatures:
        """Read the latest values of ``features`` for ``entities`` from the online store.

        Each entity is a mapping with the join keys of the features' views (and the request
        fields on-demand views take). On-demand features are computed here exactly as when
        building training data. Resolved references are cached for ``registry_cache_s``
        (cleared by :meth:`apply`), as a server looks up the same features again and again.

        Returns:
            Per feature and entity, the value (None unless PRESENT), status and age.

        Raises:
            FeatureNotFoundError: an unknown feature (with close matches).
            InvalidEntityFrameError: an entity lacks a join key or request field.
            OnlineStoreUnavailableError: the online store cannot be read.
        """
        plan = self._serving_plan(tuple(features))
        now = self._clock.time_ms()
        values: dict[tuple[str, str], list[object]] = {}
        statuses: dict[tuple[str, str], list[FeatureStatus]] = {}
        ages: dict[tuple[str, str], list[int | None]] = {}
        for read in plan.reads:
            try:
                keys = [tuple([entity[key] for key in read.keys]) for entity in entities]
            except KeyError as exc:
                raise InvalidEntityFrameError(
                    str(exc.args[0]), f'missing from an entity (a join key of "{read.name}")'
                ) from exc
            rows = self.online_store.read(read.name, keys)
            view_statuses, view_ages = _judge_rows(rows, now, read.ttl_ms)
            for name, column_values in zip(
                read.features, _columns(rows, view_statuses, read.features), strict=True
            ):
                column = (read.name, name)
                values[column] = column_values
                statuses[column] = view_statuses
                ages[column] = view_ages
        for applied in plan.on_demand:
            self._on_demand_online(applied, entities, values, statuses, ages)
        return OnlineFeatures(
            plan.names,
            {name: values[column] for name, column in zip(plan.names, plan.columns, strict=True)},
            {name: statuses[column] for name, column in zip(plan.names, plan.columns, strict=True)},
            {name: ages[column] for name, column in zip(plan.names, plan.columns, strict=True)},
        )

    def request_fields(self, features: Sequence[str]) -> tuple[str, ...]:
        """Return what an entity must carry to look ``features`` up online: the join keys of
        their views and the request fields of their on-demand transformations, in first-use
        order.

        Raises:
            FeatureNotFoundError: an unknown feature (with close matches).
        """
        plan = self._serving_plan(tuple(features))
        fields: dict[str, None] = {}
        for read in plan.reads:
            fields.update(dict.fromkeys(read.keys))
        for applied in plan.on_demand:
            view = applied.definition
            assert isinstance(view, OnDemandFeatureView)
            fields.update(dict.fromkeys(ref for ref in view.inputs if ":" not in ref))
        return tuple(fields)

    def _serving_plan(self, features: tuple[str, ...]) -> _ServingPlan:
        cached = self._plans.get(features)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        resolved = self.registry.resolve(list(features))
        wanted: dict[str, tuple[AppliedView, list[str]]] = {}
        on_demand: dict[str, AppliedView] = {}

        def want(applied: AppliedView, feature: str) -> None:
            names = wanted.setdefault(applied.name, (applied, []))[1]
            if feature not in names:
                names.append(feature)

        for item in resolved:
            if isinstance(item.view.definition, OnDemandFeatureView):
                on_demand.setdefault(item.view.name, item.view)
                for ref in item.view.definition.inputs:
                    if ":" in ref:
                        (dependency,) = self.registry.resolve([ref])
                        want(dependency.view, dependency.feature)
            else:
                want(item.view, item.feature)
        reads = []
        for applied, names in wanted.values():
            view = feature_view(applied)
            reads.append(
                _ViewRead(
                    applied.name,
                    tuple(join_keys(self.registry, view)),
                    view.ttl_ms,
                    tuple(names),
                )
            )
        plan = _ServingPlan(
            tuple(item.feature for item in resolved),
            tuple((item.view.name, item.feature) for item in resolved),
            tuple(reads),
            tuple(on_demand.values()),
        )
        self._plans[features] = (plan, time.monotonic() + self._registry_cache_s)
        return plan

    def _on_demand_online(
        self,
        applied: AppliedView,
        entities: Sequence[Mapping[str, object]],
        values: dict[tuple[str, str], list[object]],
        statuses: dict[tuple[str, str], list[FeatureStatus]],
        ages: dict[tuple[str, str], list[int | None]],
    ) -> None:
        view = applied.definition
        assert isinstance(view, OnDemandFeatureView)
        inputs = [ref.partition(":") for ref in view.inputs if ":" in ref]
        fields = [ref for ref in view.inputs if ":" not in ref]
        request = {
            name: [_field(entity, name, view.name) for entity in entities] for name in fields
        }
        arrays = {
            (source, feature): pa.chunked_array([pa.array(values[(source, feature)])])
            for source, _, feature in inputs
        }
        table = pa.table(request) if request else pa.table({"__rows": [0] * len(entities)})
        outputs = on_demand_values(applied, table, arrays)
        # An output is as good as its worst input: any missing input makes it missing.
        worst = [
            max(
                (statuses[(source, feature)][i] for source, _, feature in inputs),
                key=_severity,
                default=FeatureStatus.PRESENT,
            )
            for i in range(len(entities))
        ]
        oldest = [
            max((ages[(source, feature)][i] or 0 for source, _, feature in inputs), default=0)
            for i in range(len(entities))
        ]
        for (_, name), column in outputs.items():
            values[(view.name, name)] = [
                value if status is FeatureStatus.PRESENT else None
                for value, status in zip(column.to_pylist(), worst, strict=True)
            ]
            statuses[(view.name, name)] = worst
            ages[(view.name, name)] = list(oldest)

    # ------------------------------------------------------------------ push

    def push(self, view: str, rows: object) -> int:
        """Append rows (events) to a view: offline, then its online values for those entities.

        The rows must hold the view's join keys, its timestamp field and every column its
        features and aggregations read, with values of the declared types (numbers may widen,
        nothing else is converted). A row that does not fit rejects the whole push.

        Returns:
            The number of entities whose online values were updated.

        Raises:
            FeaturePushRejectedError: the rows do not match the view's schema (nothing written).
            OnlineStoreUnavailableError: the online store cannot be written; the offline append
                is removed again, so nothing is written.
        """
        applied = self.registry.view(view)
        definition = feature_view(applied)
        if self._pushed_dir is None:
            raise FeaturePushRejectedError(view, ["this workspace has no directory for pushes"])
        table = _push_table(definition, join_keys(self.registry, definition), rows)
        folder = self._pushed_dir / applied.name
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{self._clock.time_ms():015d}-{uuid.uuid4().hex}.parquet"
        staged = final.with_suffix(".part")
        pq.write_table(table, staged)
        staged.replace(final)
        try:
            return self._refresh_online(applied, definition, table)
        except BaseException:
            final.unlink(missing_ok=True)
            raise

    def _refresh_online(self, applied: AppliedView, view: FeatureView, table: pa.Table) -> int:
        keys = join_keys(self.registry, view)
        started_ms = self._clock.time_ms()
        started = time.perf_counter()
        with duckdb.connect() as conn:
            conn.execute("SET TimeZone = 'UTC'")
            conn.register("pushed", table)
            quoted = ", ".join(quote_identifier(key) for key in keys)
            ts = quote_identifier(view.timestamp_field)
            latest = conn.sql(
                f"SELECT {quoted}, max({ts}) AS event_timestamp, "
                f"max(epoch_ms({ts}::TIMESTAMP)) AS __event_ms FROM pushed GROUP BY ALL "
                "ORDER BY ALL"
            ).to_arrow_table()
        features = [f"{applied.name}:{name}" for name in view.output_names]
        values = self.historical(latest.select([*keys, "event_timestamp"]), features)
        entity_keys = list(zip(*(latest.column(key).to_pylist() for key in keys), strict=True))
        event_ms = [int(value) for value in latest.column("__event_ms").to_pylist()]
        written = self.online_store.write(
            applied.name, entity_keys, event_ms, values.select(list(view.output_names))
        )
        self._record(
            MaterializationResult(
                applied.name,
                applied.version,
                "push",
                self.online_store.url,
                None,
                max(event_ms),
                len(entity_keys),
                max(event_ms),
                time.perf_counter() - started,
            ),
            started_ms,
        )
        return written

    # ------------------------------------------------------------------ parity

    def parity(self, view: str, *, sample: int = 1000, seed: int = 0) -> ParityReport:
        """Compare the online values of up to ``sample`` entities of ``view`` with the offline
        values as of the same time (the later of the last materialization's end and the
        entity's online event time). A missing online row counts as a mismatch.

        Raises:
            FeatureViewNotFoundError: no such view.
            InvalidFeatureDefinitionError: an on-demand view, or an unreadable source.
            OnlineStoreUnavailableError: the online store cannot be read.
        """
        applied = self.registry.view(view)
        definition = feature_view(applied)
        keys = join_keys(self.registry, definition)
        with duckdb.connect() as conn:
            conn.execute("SET TimeZone = 'UTC'")
            source = source_sql(conn, definition, self._datasets, self._pushed_dir)
            quoted = ", ".join(quote_identifier(key) for key in keys)
            every = conn.sql(f"SELECT DISTINCT {quoted} FROM {source} ORDER BY ALL").fetchall()
        chosen = random.Random(seed).sample(every, min(sample, len(every)))
        chosen.sort(key=repr)
        entity_keys = [tuple(item) for item in chosen]
        online_rows = self.online_store.read(applied.name, entity_keys)
        end_ms = self._last_end_ms(applied.name) or 0
        as_of = [max(end_ms, row.event_ms if row is not None else 0) for row in online_rows]
        frame = pa.table(
            {
                **{key: [item[i] for item in entity_keys] for i, key in enumerate(keys)},
                "event_timestamp": pa.array(as_of, pa.timestamp("ms", tz="UTC")),
            }
        )
        names = list(definition.output_names)
        offline = self.historical(frame, [f"{applied.name}:{name}" for name in names])
        mismatches: list[ParityMismatch] = []
        for i, row in enumerate(online_rows):
            entity = dict(zip(keys, entity_keys[i], strict=True))
            for name in names:
                expected = offline.column(name)[i].as_py()
                served = None if row is None else row.values.get(name)
                if row is None or not _same(served, expected):
                    mismatches.append(ParityMismatch(name, entity, served, expected, as_of[i]))
        return ParityReport(
            applied.name,
            applied.version,
            len(entity_keys),
            len(entity_keys) * len(names),
            tuple(mismatches),
        )

    def _ms(self, value: Instant) -> int:
        return value if isinstance(value, int) else to_ms(value)


_SEVERITY = {FeatureStatus.PRESENT: 0, FeatureStatus.EXPIRED: 1, FeatureStatus.NOT_FOUND: 2}


def _severity(status: FeatureStatus) -> int:
    return _SEVERITY[status]


def _columns(
    rows: Sequence[OnlineRow | None], statuses: Sequence[FeatureStatus], features: Sequence[str]
) -> list[list[object]]:
    """The values of ``features``, one list per feature, None where a row is not PRESENT.

    The hot path of a lookup: one C-level getter call per row and one transpose, instead of a
    dictionary lookup per value.
    """
    missing: tuple[object, ...] = (None,) * len(features)
    getter = itemgetter(*features)
    try:
        if len(features) == 1:
            picked = [
                (getter(row.values),) if status is FeatureStatus.PRESENT and row else missing
                for row, status in zip(rows, statuses, strict=True)
            ]
        else:
            picked = [
                getter(row.values) if status is FeatureStatus.PRESENT and row else missing
                for row, status in zip(rows, statuses, strict=True)
            ]
    except KeyError:
        # A row stored before the view gained a feature: that feature is absent from it.
        picked = [
            tuple(row.values.get(name) for name in features)
            if status is FeatureStatus.PRESENT and row
            else missing
            for row, status in zip(rows, statuses, strict=True)
        ]
    if not picked:
        return [[] for _ in features]
    return [list(column) for column in zip(*picked, strict=True)]


def _judge_rows(
    rows: Sequence[OnlineRow | None], now: int, ttl: int | None
) -> tuple[list[FeatureStatus], list[int | None]]:
    """The status and age of each row of one view: NOT_FOUND, EXPIRED past the TTL, PRESENT."""
    statuses: list[FeatureStatus] = []
    ages: list[int | None] = []
    for row in rows:
        if row is None:
            statuses.append(FeatureStatus.NOT_FOUND)
            ages.append(None)
            continue
        age = now - row.event_ms
        statuses.append(
            FeatureStatus.EXPIRED if ttl is not None and age > ttl else FeatureStatus.PRESENT
        )
        ages.append(age)
    return statuses, ages


def _field(entity: Mapping[str, object], name: str, view: str) -> object:
    if name not in entity:
        raise InvalidEntityFrameError(
            name, f'missing: it is a request field of on-demand feature view "{view}"'
        )
    return entity[name]


def _same(online: object, offline: object) -> bool:
    if online is None or offline is None:
        return online is None and offline is None
    if isinstance(online, float) and isinstance(offline, float):
        if math.isnan(online) or math.isnan(offline):
            return math.isnan(online) and math.isnan(offline)
        return math.isclose(online, offline, rel_tol=1e-9, abs_tol=1e-12)
    return online == offline


def _push_table(view: FeatureView, keys: Sequence[str], rows: object) -> pa.Table:
    """The pushed rows as Arrow, checked against the view: every problem named at once."""
    table = _as_arrow(view.name, rows)
    problems: list[str] = []
    needed = [*keys, view.timestamp_field]
    needed += [feature.name for feature in view.features]
    needed += [item.column for item in view.aggregations if item.column not in needed]
    for column in needed:
        if column not in table.column_names:
            problems.append(f"{column}: missing")
    columns: dict[str, pa.ChunkedArray] = {}
    for column in dict.fromkeys(needed):
        if column not in table.column_names:
            continue
        data = table.column(column)
        if column in keys and data.null_count:
            problems.append(f"{column}: {data.null_count} null key(s)")
        if column == view.timestamp_field:
            if not pa.types.is_timestamp(data.type):
                problems.append(f"{column}: expected a timestamp, got {data.type}")
                continue
            if data.null_count:
                problems.append(f"{column}: {data.null_count} null timestamp(s)")
            columns[column] = data
            continue
        dtype = view.dtype_of(column)
        if dtype is None:
            columns[column] = data
            continue
        checked = _conform(column, data, dtype)
        if isinstance(checked, str):
            problems.append(checked)
        else:
            columns[column] = checked
    if table.num_rows == 0:
        problems.append("no rows")
    if problems:
        raise FeaturePushRejectedError(view.name, problems)
    return pa.table(columns)


def _as_arrow(view: str, rows: object) -> pa.Table:
    if isinstance(rows, pa.Table):
        return rows
    if isinstance(rows, list):
        try:
            return pa.Table.from_pylist(rows)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise FeaturePushRejectedError(view, [f"rows do not form a table: {exc}"]) from exc
    module = type(rows).__module__.split(".")[0]
    if module == "pandas":
        return pa.Table.from_pandas(rows, preserve_index=False)
    if module == "polars":
        table: pa.Table = rows.to_arrow()  # type: ignore[attr-defined]  # a polars DataFrame
        return table
    raise FeaturePushRejectedError(
        view, [f"rows must be a list of dicts, an Arrow table or a DataFrame, not {module}"]
    )


_ARROW_TYPES: dict[str, pa.DataType] = {
    "int8": pa.int8(),
    "int16": pa.int16(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "uint8": pa.uint8(),
    "uint16": pa.uint16(),
    "uint32": pa.uint32(),
    "uint64": pa.uint64(),
    "float32": pa.float32(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "string": pa.string(),
}


def _conform(column: str, data: pa.ChunkedArray, dtype: str) -> pa.ChunkedArray | str:
    """``data`` as ``dtype`` when that loses nothing (numbers widen), else the problem."""
    target = _ARROW_TYPES.get(dtype)
    if target is None or data.type == target:
        return data
    numeric = pa.types.is_integer(data.type) or pa.types.is_floating(data.type)
    if pa.types.is_integer(target) or pa.types.is_floating(target):
        if not numeric:
            return f"{column}: expected {dtype}, got {data.type}"
        try:
            return pc.cast(data, target, safe=True)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return f"{column}: values do not fit {dtype} without loss"
    if pa.types.is_string(target) and pa.types.is_large_string(data.type):
        return pc.cast(data, target)
    return f"{column}: expected {dtype}, got {data.type}"
