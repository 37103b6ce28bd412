"""Registered models and their versions as stored: numbering, references, aliases and stages."""

from __future__ import annotations

import builtins
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, exc, func, select, update

from modelyard.clock import Clock, from_ms
from modelyard.errors import (
    AliasNotFoundError,
    InvalidInputError,
    ModelVersionExistsError,
    ModelVersionNotFoundError,
    RegisteredModelExistsError,
    RegisteredModelNotFoundError,
    close_matches,
)
from modelyard.ids import ModelVersionId, Reference, RunId, check_name, new_run_id
from modelyard.metastore import Metastore
from modelyard.metastore.tables import model_aliases, model_versions, registered_models

PRODUCTION_ALIAS = "champion"


class Stage(enum.StrEnum):
    """The lifecycle stage of a model version."""

    NONE = "None"
    STAGING = "Staging"
    PRODUCTION = "Production"
    ARCHIVED = "Archived"

    @classmethod
    def parse(cls, text: str) -> Stage:
        """Read a stage name case-insensitively ("production", "Staging", "none").

        Raises:
            InvalidInputError: for an unknown stage.
        """
        for stage in cls:
            if stage.value.lower() == str(text).strip().lower():
                return stage
        names = ", ".join(stage.value.lower() for stage in cls)
        raise InvalidInputError(f"unknown stage {text!r}: use one of {names}")


@dataclass(frozen=True, slots=True)
class RegisteredModel:
    """A registered model: a name under which versions are numbered."""

    model_id: str
    name: str
    description: str
    tags: Mapping[str, str]
    created_at: datetime
    updated_at: datetime
    latest_version: int | None = None
    production_version: int | None = None
    aliases: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ModelVersion:
    """One immutable version of a registered model, pinned to its artifact digest and run."""

    version_id: ModelVersionId
    model: str
    version: int
    run_id: RunId
    artifact_path: str
    artifact_digest: str
    flavor: str
    model_type: str
    package: Mapping[str, Any]
    is_pickle_trusted: bool
    is_onnx: bool
    stage: Stage
    description: str
    card: Mapping[str, str]
    created_by: str | None
    created_at: datetime
    aliases: tuple[str, ...] = ()

    @property
    def reference(self) -> str:
        """``name/version``."""
        return f"{self.model}/{self.version}"

    @property
    def signature(self) -> Mapping[str, Any]:
        """The stored signature (as a dict)."""
        signature: Mapping[str, Any] = self.package.get("signature", {})
        return signature


class VersionStore:
    """Reads and writes registered models, versions and aliases."""

    def __init__(self, metastore: Metastore, clock: Clock) -> None:
        self._db = metastore
        self._clock = clock

    # ------------------------------------------------------------------ models

    def create_model(
        self,
        conn: Connection,
        name: str,
        *,
        description: str = "",
        tags: Mapping[str, str] | None = None,
    ) -> str:
        """Insert a registered model inside ``conn``'s transaction and return its id.

        Raises:
            RegisteredModelExistsError: the name is taken.
        """
        check_name("model name", name)
        now = self._clock.time_ms()
        model_id = new_run_id()
        try:
            with conn.begin_nested():
                conn.execute(
                    registered_models.insert(),
                    {
                        "id": model_id,
                        "name": name,
                        "description": description,
                        "tags": json.dumps(dict(tags or {}), sort_keys=True),
                        "gates": "{}",
                        "created_at_ms": now,
                        "updated_at_ms": now,
                    },
                )
        except exc.IntegrityError as error:
            raise RegisteredModelExistsError(name) from error
        return model_id

    def model_row(self, conn: Connection, name: str, *, for_update: bool = False) -> Row[Any]:
        """Return the registered model's row (locked for the transaction with ``for_update``).

        Raises:
            RegisteredModelNotFoundError: with close matches.
        """
        query = select(registered_models).where(registered_models.c.name == name)
        if for_update and self._db.dialect == "postgresql":
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None:
            names = conn.execute(select(registered_models.c.name)).scalars().all()
            raise RegisteredModelNotFoundError(name, close_matches(name, names))
        return row

    def get_model(self, name: str) -> RegisteredModel:
        """Return a registered model with its latest and production versions and aliases."""
        with self._db.read() as conn:
            row = self.model_row(conn, name)
            return self._to_model(conn, row)

    def list_models(self) -> builtins.list[RegisteredModel]:
        """Return every registered model by name."""
        with self._db.read() as conn:
            rows = conn.execute(select(registered_models).order_by(registered_models.c.name))
            return [self._to_model(conn, row) for row in rows.all()]

    def update_model(
        self,
        name: str,
        *,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        """Change a registered model's description or tags."""
        values: dict[str, object] = {"updated_at_ms": self._clock.time_ms()}
        if description is not None:
            values["description"] = description
        if tags is not None:
            values["tags"] = json.dumps(dict(tags), sort_keys=True)
        with self._db.write() as conn:
            row = self.model_row(conn, name)
            conn.execute(
                update(registered_models).where(registered_models.c.id == row.id).values(values)
            )

    # ------------------------------------------------------------------ versions

    def insert_version(
        self,
        conn: Connection,
        model_row: Row[Any],
        *,
        run_id: str,
        artifact_path: str,
        artifact_digest: str,
        package: Mapping[str, Any],
        description: str,
        created_by: str | None,
    ) -> int:
        """Insert the next version of a model (the caller holds the model's lock).

        Raises:
            ModelVersionExistsError: the same artifact is already a version of this model.
        """
        existing = conn.execute(
            select(model_versions.c.version).where(
                model_versions.c.model_id == model_row.id,
                model_versions.c.artifact_digest == artifact_digest,
            )
        ).scalar_one_or_none()
        if existing is not None:
            raise ModelVersionExistsError(model_row.name, int(existing), artifact_digest)
        latest = conn.execute(
            select(func.max(model_versions.c.version)).where(
                model_versions.c.model_id == model_row.id
            )
        ).scalar_one()
        version = int(latest or 0) + 1
        conversion = package.get("conversion", {})
        conn.execute(
            model_versions.insert(),
            {
                "id": new_run_id(),
                "model_id": model_row.id,
                "version": version,
                "run_id": run_id,
                "artifact_path": artifact_path,
                "artifact_digest": artifact_digest,
                "flavor": str(package.get("flavor", "unknown")),
                "model_type": str(package.get("model_type", "unknown")),
                "package": json.dumps(package, sort_keys=True),
                "is_pickle_trusted": bool(package.get("is_pickle_trusted", False)),
                "is_onnx": bool(conversion.get("is_converted", False)),
                "stage": Stage.NONE.value,
                "description": description,
                "card": "{}",
                "created_by": created_by,
                "created_at_ms": self._clock.time_ms(),
            },
        )
        conn.execute(
            update(registered_models)
            .where(registered_models.c.id == model_row.id)
            .values(updated_at_ms=self._clock.time_ms())
        )
        return version

    def resolve(self, reference: Reference, conn: Connection | None = None) -> ModelVersion:
        """Return the version a reference names: ``name/3``, ``name@alias`` (or
        ``name@production`` for the stage), or ``name`` for the latest version.

        Raises:
            RegisteredModelNotFoundError, ModelVersionNotFoundError, AliasNotFoundError.
        """
        if conn is None:
            with self._db.read() as own:
                return self.resolve(reference, own)
        model = self.model_row(conn, reference.name)
        query = select(model_versions).where(model_versions.c.model_id == model.id)
        if reference.version is not None:
            row = conn.execute(query.where(model_versions.c.version == reference.version)).first()
            if row is None:
                raise ModelVersionNotFoundError(
                    reference.name, reference.version, self._latest(conn, model.id)
                )
            return self._to_version(conn, row, model.name)
        if reference.alias is not None:
            version_id = conn.execute(
                select(model_aliases.c.version_id).where(
                    model_aliases.c.model_id == model.id,
                    model_aliases.c.alias == reference.alias,
                )
            ).scalar_one_or_none()
            if version_id is not None:
                row = conn.execute(query.where(model_versions.c.id == version_id)).one()
                return self._to_version(conn, row, model.name)
            stage = _stage_or_none(reference.alias)
            if stage is not None:
                row = conn.execute(
                    query.where(model_versions.c.stage == stage.value)
                    .order_by(model_versions.c.version.desc())
                    .limit(1)
                ).first()
                if row is not None:
                    return self._to_version(conn, row, model.name)
            raise AliasNotFoundError(
                reference.name, reference.alias, self._alias_names(conn, model.id)
            )
        row = conn.execute(query.order_by(model_versions.c.version.desc()).limit(1)).first()
        if row is None:
            raise ModelVersionNotFoundError(reference.name, 1, None)
        return self._to_version(conn, row, model.name)

    def list_versions(self, name: str) -> builtins.list[ModelVersion]:
        """Return a model's versions, newest first."""
        with self._db.read() as conn:
            model = self.model_row(conn, name)
            rows = conn.execute(
                select(model_versions)
                .where(model_versions.c.model_id == model.id)
                .order_by(model_versions.c.version.desc())
            ).all()
            return [self._to_version(conn, row, model.name) for row in rows]

    def versions_of_run(self, run_id: str) -> builtins.list[ModelVersion]:
        """Return the versions registered from a run."""
        with self._db.read() as conn:
            rows = conn.execute(
                select(model_versions, registered_models.c.name.label("model_name"))
                .join(registered_models, registered_models.c.id == model_versions.c.model_id)
                .where(model_versions.c.run_id == run_id)
                .order_by(registered_models.c.name, model_versions.c.version)
            ).all()
            return [self._to_version(conn, row, row.model_name) for row in rows]

    def set_stage(self, conn: Connection, version_id: str, stage: Stage) -> None:
        """Set a version's stage inside ``conn``'s transaction."""
        conn.execute(
            update(model_versions)
            .where(model_versions.c.id == version_id)
            .values(stage=stage.value)
        )

    def set_card(self, conn: Connection, version_id: str, card: Mapping[str, str]) -> None:
        """Replace a version's editable card fields."""
        conn.execute(
            update(model_versions)
            .where(model_versions.c.id == version_id)
            .values(card=json.dumps(dict(card), sort_keys=True))
        )

    # ------------------------------------------------------------------ aliases

    def set_alias(self, conn: Connection, model_id: str, alias: str, version_id: str) -> None:
        """Point ``alias`` at a version inside ``conn``'s transaction."""
        check_name("alias", alias)
        now = self._clock.time_ms()
        updated = conn.execute(
            update(model_aliases)
            .where(model_aliases.c.model_id == model_id, model_aliases.c.alias == alias)
            .values(version_id=version_id, updated_at_ms=now)
        )
        if updated.rowcount == 0:
            conn.execute(
                model_aliases.insert(),
                {
                    "model_id": model_id,
                    "alias": alias,
                    "version_id": version_id,
                    "updated_at_ms": now,
                },
            )

    def delete_alias(self, conn: Connection, model_id: str, model: str, alias: str) -> None:
        """Remove an alias.

        Raises:
            AliasNotFoundError: the model has no such alias.
        """
        deleted = conn.execute(
            model_aliases.delete().where(
                model_aliases.c.model_id == model_id, model_aliases.c.alias == alias
            )
        )
        if deleted.rowcount == 0:
            raise AliasNotFoundError(model, alias, self._alias_names(conn, model_id))

    # ------------------------------------------------------------------ helpers

    def _latest(self, conn: Connection, model_id: str) -> int | None:
        latest = conn.execute(
            select(func.max(model_versions.c.version)).where(model_versions.c.model_id == model_id)
        ).scalar_one()
        return None if latest is None else int(latest)

    def _alias_names(self, conn: Connection, model_id: str) -> builtins.list[str]:
        return sorted(
            conn.execute(
                select(model_aliases.c.alias).where(model_aliases.c.model_id == model_id)
            ).scalars()
        )

    def _aliases(self, conn: Connection, model_id: str) -> dict[str, str]:
        return {
            alias: version_id
            for alias, version_id in conn.execute(
                select(model_aliases.c.alias, model_aliases.c.version_id).where(
                    model_aliases.c.model_id == model_id
                )
            )
        }

    def _to_model(self, conn: Connection, row: Row[Any]) -> RegisteredModel:
        numbers = {
            version_id: int(number)
            for version_id, number in conn.execute(
                select(model_versions.c.id, model_versions.c.version).where(
                    model_versions.c.model_id == row.id
                )
            )
        }
        production = conn.execute(
            select(func.max(model_versions.c.version)).where(
                model_versions.c.model_id == row.id,
                model_versions.c.stage == Stage.PRODUCTION.value,
            )
        ).scalar_one()
        aliases = {alias: numbers[vid] for alias, vid in self._aliases(conn, row.id).items()}
        return RegisteredModel(
            model_id=row.id,
            name=row.name,
            description=row.description,
            tags=json.loads(row.tags),
            created_at=from_ms(int(row.created_at_ms)),
            updated_at=from_ms(int(row.updated_at_ms)),
            latest_version=max(numbers.values()) if numbers else None,
            production_version=None if production is None else int(production),
            aliases=dict(sorted(aliases.items())),
        )

    def _to_version(self, conn: Connection, row: Row[Any], model: str) -> ModelVersion:
        aliases = tuple(
            sorted(
                conn.execute(
                    select(model_aliases.c.alias).where(model_aliases.c.version_id == row.id)
                ).scalars()
            )
        )
        return ModelVersion(
            version_id=ModelVersionId(row.id),
            model=model,
            version=int(row.version),
            run_id=RunId(row.run_id),
            artifact_path=row.artifact_path,
            artifact_digest=row.artifact_digest,
            flavor=row.flavor,
            model_type=row.model_type,
            package=json.loads(row.package),
            is_pickle_trusted=bool(row.is_pickle_trusted),
            is_onnx=bool(row.is_onnx),
            stage=Stage(row.stage),
            description=row.description,
            card=json.loads(row.card),
            created_by=row.created_by,
            created_at=from_ms(int(row.created_at_ms)),
            aliases=aliases,
        )


def _stage_or_none(text: str) -> Stage | None:
    try:
        stage = Stage.parse(text)
    except InvalidInputError:
        return None
    return None if stage is Stage.NONE else stage
