"""The rows a materialization loads into the online store: each entity's values as of a time.

The values follow the rules of the point-in-time retrieval that builds training data
(:func:`modelyard.features.offline.values_as_of` is its grouped form: the latest row at or
before the end time, null past the TTL, windows ending at it), so what is served online is what
training would have seen at that moment; ``FeatureStore.parity`` checks that it stays so.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from modelyard.datasets import DatasetStore
from modelyard.errors import InvalidFeatureDefinitionError
from modelyard.features.definitions import FeatureView
from modelyard.features.offline import source_sql, values_as_of
from modelyard.features.registry import AppliedView, FeatureRegistry

# Entities are computed and written in chunks, so memory stays bounded by the chunk.
CHUNK_ROWS = 50_000
_EVENT = "__event_ms"


@dataclass(frozen=True, slots=True)
class MaterializedChunk:
    """One chunk of a view's entities: their keys, newest event time and feature values."""

    keys: list[tuple[object, ...]]
    event_ms: list[int]
    values: pa.Table  # one column per output of the view, one row per key

    @property
    def num_rows(self) -> int:
        """How many entities the chunk holds."""
        return len(self.keys)


def join_keys(registry: FeatureRegistry, view: FeatureView) -> list[str]:
    """The view's join keys, entity by entity, without repeats."""
    keys: list[str] = []
    for name in view.entities:
        for key in registry.entity(name).definition.join_keys:
            if key not in keys:
                keys.append(key)
    return keys


def feature_view(applied: AppliedView) -> FeatureView:
    """The applied view's definition, which must be a (materializable) feature view.

    Raises:
        InvalidFeatureDefinitionError: an on-demand view (it is computed at request time).
    """
    if not isinstance(applied.definition, FeatureView):
        raise InvalidFeatureDefinitionError(
            f'feature view "{applied.name}"',
            "",
            "an on-demand view is computed at request time and is not materialized",
        )
    return applied.definition


def latest_chunks(
    applied: AppliedView,
    *,
    registry: FeatureRegistry,
    datasets: DatasetStore,
    end_ms: int,
    start_ms: int | None = None,
    pushed_dir: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[MaterializedChunk]:
    """Compute, for every entity with an event in ``(start_ms, end_ms]`` (every event up to
    ``end_ms`` when ``start_ms`` is None), its feature values as of ``end_ms``.

    Args:
        applied: the view to materialize (its applied version).
        registry: where its entities are applied.
        datasets: where dataset sources are read.
        end_ms: the time the values are taken at (epoch milliseconds, UTC).
        start_ms: only entities with a newer event than this (incremental materialization).
        pushed_dir: where rows pushed to views are kept (part of their sources).
        progress: called with (entities done, entities in all) after each chunk.

    Returns:
        The chunks, in a stable order of the entity keys.

    Raises:
        InvalidFeatureDefinitionError: an on-demand view, or a source that cannot be read.
    """
    view = feature_view(applied)
    keys = join_keys(registry, view)
    with duckdb.connect() as conn:
        conn.execute("SET TimeZone = 'UTC'")
        try:
            source = source_sql(conn, view, datasets, pushed_dir)
        except duckdb.Error as exc:
            raise InvalidFeatureDefinitionError(
                f'feature view "{view.name}"', "source", f"cannot be read: {exc}"
            ) from exc
        # An entity with a new event gets its values as of end_ms, which take every event up
        # to end_ms into account, not only the new ones. Windowed values of entities without
        # new events are not recomputed by an incremental run: they age until a full one.
        table = values_as_of(conn, view, keys, source, end_ms, start_ms)
    outputs = list(view.output_names)
    chunks: list[MaterializedChunk] = []
    for offset in range(0, table.num_rows, CHUNK_ROWS):
        part = table.slice(offset, CHUNK_ROWS)
        columns = [part.column(key).to_pylist() for key in keys]
        chunks.append(
            MaterializedChunk(
                keys=list(zip(*columns, strict=True)),
                event_ms=part.column(_EVENT).to_pylist(),
                values=part.select(outputs),
            )
        )
        if progress is not None:
            progress(min(offset + CHUNK_ROWS, table.num_rows), table.num_rows)
    return chunks
