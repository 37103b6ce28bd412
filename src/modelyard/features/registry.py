"""The feature registry: plan and apply definitions as numbered versions, look up, resolve refs.

Each entity and view is stored once per distinct definition: the n-th distinct definition of a
name is its version n, addressed by the ``sha256:`` of its canonical JSON. A new version that
removes a feature or changes its type in place breaks whoever reads it, so :meth:`apply` refuses
it unless told otherwise.
"""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, Row, exc, func, select

from modelyard.clock import Clock
from modelyard.datasets import DatasetStore
from modelyard.errors import (
    BreakingFeatureChangeError,
    DatasetNotFoundError,
    DatasetVersionNotFoundError,
    FeatureNotFoundError,
    FeatureViewNotFoundError,
    InvalidFeatureDefinitionError,
    close_matches,
)
from modelyard.features.definitions import (
    AnyView,
    DatasetSource,
    Definition,
    Entity,
    FeatureView,
    OnDemandFeatureView,
    canonical_json,
)
from modelyard.features.loading import definition_from_dict
from modelyard.metastore import Metastore
from modelyard.metastore.tables import feature_definitions

Action = Literal["added", "changed", "unchanged", "breaking"]
Kind = Literal["entity", "feature_view"]
_ENTITY: Kind = "entity"
_VIEW: Kind = "feature_view"
_APPLY_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class AppliedEntity:
    """A stored version of an entity."""

    name: str
    version: int
    digest: str
    created_at_ms: int
    definition: Entity


@dataclass(frozen=True, slots=True)
class AppliedView:
    """A stored version of a feature view (or on-demand view)."""

    name: str
    version: int
    digest: str
    created_at_ms: int
    definition: AnyView

    @property
    def ref(self) -> str:
        """``name/version``."""
        return f"{self.name}/{self.version}"


@dataclass(frozen=True, slots=True)
class ResolvedFeature:
    """A ``"view:feature"`` reference bound to the latest version of its view."""

    reference: str
    view: AppliedView
    feature: str
    dtype: str | None


@dataclass(frozen=True, slots=True)
class PlanItem:
    """What applying one definition does.

    ``version`` is the version the definition has once applied (the existing one when
    unchanged); ``changes`` lists the differences from the latest stored version.
    """

    kind: Literal["entity", "feature_view"]
    name: str
    action: Action
    version: int
    previous_version: int | None
    digest: str
    changes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeaturePlan:
    """The effect of applying a set of definitions, one item per definition, in input order."""

    items: tuple[PlanItem, ...]

    @property
    def has_changes(self) -> bool:
        """Whether applying would store anything."""
        return any(item.action != "unchanged" for item in self.items)

    @property
    def breaking(self) -> tuple[PlanItem, ...]:
        """The items that break consumers."""
        return tuple(item for item in self.items if item.action == "breaking")


class FeatureRegistry:
    """Entities and feature views applied to a workspace (``ws.features``).

    Args:
        metastore: where definitions are stored.
        clock: the time of records.
        datasets: the datasets that dataset sources name (their columns are checked on plan).
    """

    def __init__(self, metastore: Metastore, clock: Clock, datasets: DatasetStore) -> None:
        self._db = metastore
        self._clock = clock
        self._datasets = datasets

    # ------------------------------------------------------------------ plan and apply

    def plan(self, definitions: Iterable[Definition]) -> FeaturePlan:
        """Tell what applying ``definitions`` would store, without storing anything.

        Raises:
            InvalidFeatureDefinitionError: two definitions share a name, or a view names an
                entity or an input that is neither given nor applied.
        """
        defs = list(definitions)
        with self._db.read() as conn:
            return self._plan(conn, defs)

    def apply(
        self, definitions: Iterable[Definition], *, allow_breaking: bool = False
    ) -> FeaturePlan:
        """Store every new or changed definition as the next version of its name.

        All definitions are stored in one transaction, or none.

        Args:
            definitions: entities and views (e.g. from :func:`load_definitions`).
            allow_breaking: store views that remove or retype a feature in place.

        Returns:
            The plan that was applied.

        Raises:
            InvalidFeatureDefinitionError: as for :meth:`plan`.
            BreakingFeatureChangeError: a view would break its consumers and ``allow_breaking``
                is False; nothing is stored.
        """
        defs = list(definitions)
        for attempt in range(_APPLY_ATTEMPTS):
            try:
                with self._db.write() as conn:
                    plan = self._plan(conn, defs)
                    if plan.breaking and not allow_breaking:
                        first = plan.breaking[0]
                        raise BreakingFeatureChangeError(first.name, list(first.changes))
                    now = self._clock.time_ms()
                    for definition, item in zip(defs, plan.items, strict=True):
                        if item.action != "unchanged":
                            conn.execute(
                                feature_definitions.insert(),
                                {
                                    "id": uuid.uuid4().hex,
                                    "kind": item.kind,
                                    "name": item.name,
                                    "version": item.version,
                                    "digest": item.digest,
                                    "body": canonical_json(definition.to_dict()),
                                    "created_at_ms": now,
                                },
                            )
                return plan
            except exc.IntegrityError:
                # A concurrent apply took a version number first (PostgreSQL): plan again.
                if attempt == _APPLY_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def _plan(self, conn: Connection, defs: Sequence[Definition]) -> FeaturePlan:
        seen: dict[tuple[str, str], Definition] = {}
        for definition in defs:
            key = (_kind_of(definition), definition.name)
            if key in seen:
                raise InvalidFeatureDefinitionError(
                    f'{key[0].replace("_", " ")} "{definition.name}"',
                    "name",
                    "defined twice in the same set of definitions",
                )
            seen[key] = definition
        items = []
        for definition in defs:
            kind = _kind_of(definition)
            latest = _latest_row(conn, kind, definition.name)
            items.append(self._plan_item(conn, definition, kind, latest))
            if isinstance(definition, FeatureView):
                self._check_view(conn, definition, seen)
            elif isinstance(definition, OnDemandFeatureView):
                self._check_on_demand(conn, definition, seen)
        return FeaturePlan(tuple(items))

    def _plan_item(
        self,
        conn: Connection,
        definition: Definition,
        kind: Literal["entity", "feature_view"],
        latest: Row[tuple[object, ...]] | None,
    ) -> PlanItem:
        digest = definition.digest
        if latest is None:
            return PlanItem(kind, definition.name, "added", 1, None, digest)
        latest_version = int(str(latest.version))
        if latest.digest == digest:
            return PlanItem(
                kind, definition.name, "unchanged", latest_version, latest_version, digest
            )
        old = definition_from_dict(
            json.loads(str(latest.body)), source=f"{definition.name}/{latest_version}"
        )
        changes = _diff(old, definition)
        action: Action = "breaking" if _breaking(old, definition) else "changed"
        return PlanItem(
            kind,
            definition.name,
            action,
            latest_version + 1,
            latest_version,
            digest,
            tuple(changes),
        )

    def _check_view(
        self, conn: Connection, view: FeatureView, given: dict[tuple[str, str], Definition]
    ) -> None:
        owner = f'feature view "{view.name}"'
        for i, name in enumerate(view.entities):
            if (_ENTITY, name) in given or _latest_row(conn, _ENTITY, name) is not None:
                continue
            known = {n for k, n in given if k == _ENTITY} | set(_names(conn, _ENTITY))
            hint = close_matches(name, known)
            did_you_mean = f" (did you mean {', '.join(hint)}?)" if hint else ""
            raise InvalidFeatureDefinitionError(
                owner, f"entities[{i}]", f"no entity {name!r} is given or applied{did_you_mean}"
            )
        if isinstance(view.source, DatasetSource):
            self._check_dataset_columns(view, view.source)

    def _check_dataset_columns(self, view: FeatureView, source: DatasetSource) -> None:
        owner = f'feature view "{view.name}"'
        try:
            columns = set(self._datasets.get(source.ref).columns)
        except (DatasetNotFoundError, DatasetVersionNotFoundError) as error:
            raise InvalidFeatureDefinitionError(owner, "source", str(error)) from error
        wanted = [("timestamp_field", view.timestamp_field)]
        wanted += [(f"features[{i}].name", item.name) for i, item in enumerate(view.features)]
        wanted += [
            (f"aggregations[{i}].column", item.column) for i, item in enumerate(view.aggregations)
        ]
        for key, column in wanted:
            if column not in columns:
                hint = close_matches(column, columns)
                did_you_mean = f" (did you mean {', '.join(hint)}?)" if hint else ""
                raise InvalidFeatureDefinitionError(
                    owner, key, f"dataset {source.name!r} has no column {column!r}{did_you_mean}"
                )

    def _check_on_demand(
        self,
        conn: Connection,
        view: OnDemandFeatureView,
        given: dict[tuple[str, str], Definition],
    ) -> None:
        owner = f'on-demand feature view "{view.name}"'
        for i, ref in enumerate(view.inputs):
            source_name, _, feature = ref.partition(":")
            if not feature:
                continue  # a request field, supplied by the entity frame
            source = given.get((_VIEW, source_name))
            if source is None:
                row = _latest_row(conn, _VIEW, source_name)
                if row is not None:
                    source = definition_from_dict(json.loads(str(row.body)), source=source_name)
            if not isinstance(source, FeatureView) or feature not in source.output_names:
                raise InvalidFeatureDefinitionError(
                    owner, f"inputs[{i}]", f"{ref!r} names no feature of a (non on-demand) view"
                )

    # ------------------------------------------------------------------ lookups

    def entity(self, name: str, version: int | None = None) -> AppliedEntity:
        """Return an applied entity (its latest version by default).

        Raises:
            FeatureViewNotFoundError: no such entity or version (kind "entity", close names).
        """
        with self._db.read() as conn:
            row = _row(conn, _ENTITY, name, version)
            if row is None:
                raise FeatureViewNotFoundError(
                    _label(name, version), _names(conn, _ENTITY), "entity"
                )
        applied = _applied(row)
        assert isinstance(applied, AppliedEntity)
        return applied

    def view(self, name: str, version: int | None = None) -> AppliedView:
        """Return an applied feature view (its latest version by default).

        Raises:
            FeatureViewNotFoundError: no such view or version (with close names).
        """
        with self._db.read() as conn:
            row = _row(conn, _VIEW, name, version)
            if row is None:
                raise FeatureViewNotFoundError(_label(name, version), _names(conn, _VIEW))
        applied = _applied(row)
        assert isinstance(applied, AppliedView)
        return applied

    def entities(self) -> builtins.list[AppliedEntity]:
        """Return the latest version of every entity, by name."""
        return [item for item in self._latest(_ENTITY) if isinstance(item, AppliedEntity)]

    def views(self) -> builtins.list[AppliedView]:
        """Return the latest version of every feature view, by name."""
        return [item for item in self._latest(_VIEW) if isinstance(item, AppliedView)]

    def view_versions(self, name: str) -> builtins.list[AppliedView]:
        """Return every version of a view, newest first.

        Raises:
            FeatureViewNotFoundError: no such view.
        """
        query = (
            select(feature_definitions)
            .where(feature_definitions.c.kind == _VIEW, feature_definitions.c.name == name)
            .order_by(feature_definitions.c.version.desc())
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
            if not rows:
                raise FeatureViewNotFoundError(name, _names(conn, _VIEW))
        return [item for item in map(_applied, rows) if isinstance(item, AppliedView)]

    def resolve(self, references: Sequence[str]) -> builtins.list[ResolvedFeature]:
        """Bind ``"view:feature"`` references to the latest version of their views, in order.

        Raises:
            FeatureNotFoundError: a reference names no applied feature (with close matches over
                every ``"view:feature"`` name).
        """
        views = {applied.name: applied for applied in self.views()}
        resolved = []
        for reference in references:
            name, _, feature = (
                reference.partition(":") if isinstance(reference, str) else ("", "", "")
            )
            applied = views.get(name)
            if applied is None or feature not in applied.definition.output_names:
                every = [
                    f"{view.name}:{output}"
                    for view in views.values()
                    for output in view.definition.output_names
                ]
                raise FeatureNotFoundError(str(reference), close_matches(str(reference), every))
            resolved.append(
                ResolvedFeature(reference, applied, feature, applied.definition.dtype_of(feature))
            )
        return resolved

    def _latest(self, kind: str) -> builtins.list[AppliedEntity | AppliedView]:
        latest = (
            select(
                feature_definitions.c.name,
                func.max(feature_definitions.c.version).label("version"),
            )
            .where(feature_definitions.c.kind == kind)
            .group_by(feature_definitions.c.name)
            .subquery()
        )
        query = (
            select(feature_definitions)
            .join(
                latest,
                (feature_definitions.c.name == latest.c.name)
                & (feature_definitions.c.version == latest.c.version),
            )
            .where(feature_definitions.c.kind == kind)
            .order_by(feature_definitions.c.name)
        )
        with self._db.read() as conn:
            return [_applied(row) for row in conn.execute(query)]


def _kind_of(definition: Definition) -> Literal["entity", "feature_view"]:
    return _ENTITY if isinstance(definition, Entity) else _VIEW


def _label(name: str, version: int | None) -> str:
    return name if version is None else f"{name}/{version}"


def _row(
    conn: Connection, kind: str, name: str, version: int | None
) -> Row[tuple[object, ...]] | None:
    query = select(feature_definitions).where(
        feature_definitions.c.kind == kind, feature_definitions.c.name == name
    )
    if version is None:
        query = query.order_by(feature_definitions.c.version.desc()).limit(1)
    else:
        query = query.where(feature_definitions.c.version == version)
    return conn.execute(query).first()


def _latest_row(conn: Connection, kind: str, name: str) -> Row[tuple[object, ...]] | None:
    return _row(conn, kind, name, None)


def _names(conn: Connection, kind: str) -> list[str]:
    query = (
        select(feature_definitions.c.name)
        .where(feature_definitions.c.kind == kind)
        .distinct()
        .order_by(feature_definitions.c.name)
    )
    return [str(name) for name in conn.execute(query).scalars()]


def _applied(row: Row[tuple[object, ...]]) -> AppliedEntity | AppliedView:
    version = int(str(row.version))
    definition = definition_from_dict(json.loads(str(row.body)), source=f"{row.name}/{version}")
    if isinstance(definition, Entity):
        return AppliedEntity(
            str(row.name), version, str(row.digest), int(str(row.created_at_ms)), definition
        )
    return AppliedView(
        str(row.name), version, str(row.digest), int(str(row.created_at_ms)), definition
    )


def _typed_outputs(definition: Definition) -> dict[str, str | None]:
    if isinstance(definition, Entity):
        return {}
    return {name: definition.dtype_of(name) for name in definition.output_names}


def _breaking(old: Definition, new: Definition) -> bool:
    if isinstance(old, Entity) or isinstance(new, Entity):
        return (
            isinstance(old, Entity) and isinstance(new, Entity) and old.join_keys != new.join_keys
        )
    if type(old) is not type(new):
        return True
    old_outputs, new_outputs = _typed_outputs(old), _typed_outputs(new)
    return any(
        name not in new_outputs or new_outputs[name] != dtype for name, dtype in old_outputs.items()
    )


def _diff(old: Definition, new: Definition) -> list[str]:
    changes: list[str] = []
    if isinstance(old, Entity) and isinstance(new, Entity):
        if old.join_keys != new.join_keys:
            changes.append(f"join keys {list(old.join_keys)} -> {list(new.join_keys)}")
    elif type(old) is not type(new):
        changes.append(f"{type(old).__name__} becomes {type(new).__name__}")
    if not isinstance(old, Entity) and not isinstance(new, Entity):
        old_outputs, new_outputs = _typed_outputs(old), _typed_outputs(new)
        for name, dtype in old_outputs.items():
            if name not in new_outputs:
                changes.append(f'feature "{name}" removed')
            elif new_outputs[name] != dtype:
                changes.append(f'feature "{name}" retyped {dtype} -> {new_outputs[name]}')
        changes.extend(f'feature "{name}" added' for name in new_outputs if name not in old_outputs)
    old_dict, new_dict = old.to_dict(), new.to_dict()
    for key in sorted(set(old_dict) | set(new_dict)):
        if key in ("features", "outputs", "join_keys", "name", "kind"):
            continue
        if old_dict.get(key) != new_dict.get(key):
            changes.append(f"{key} changed")
    return changes
