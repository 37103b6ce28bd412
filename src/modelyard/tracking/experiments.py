"""Experiments: named groups of runs that can be renamed, archived and restored."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row, exc, func, insert, select, update

from modelyard.clock import Clock, from_ms
from modelyard.errors import (
    ExperimentArchivedError,
    ExperimentExistsError,
    ExperimentNotFoundError,
    close_matches,
)
from modelyard.ids import ExperimentId, check_name, new_experiment_id
from modelyard.metastore import Metastore
from modelyard.metastore.tables import experiments, runs

ACTIVE = "active"
ARCHIVED = "archived"
DEFAULT_EXPERIMENT = "default"


@dataclass(frozen=True, slots=True)
class Experiment:
    """An experiment as stored."""

    experiment_id: ExperimentId
    name: str
    description: str
    lifecycle: str
    created_at: datetime
    updated_at: datetime
    run_count: int = 0

    @property
    def is_archived(self) -> bool:
        """Whether the experiment is archived."""
        return self.lifecycle == ARCHIVED


class ExperimentStore:
    """Create, find, list, rename, archive and restore experiments."""

    def __init__(self, metastore: Metastore, clock: Clock) -> None:
        self._db = metastore
        self._clock = clock

    def create(self, name: str, *, description: str = "") -> Experiment:
        """Create an experiment.

        Raises:
            InvalidNameError: the name breaks the naming rule.
            ExperimentExistsError: the name is taken.
        """
        check_name("experiment name", name)
        now = self._clock.time_ms()
        row = {
            "id": new_experiment_id(),
            "name": name,
            "description": description,
            "lifecycle": ACTIVE,
            "created_at_ms": now,
            "updated_at_ms": now,
        }
        try:
            with self._db.write() as conn:
                conn.execute(insert(experiments), row)
        except exc.IntegrityError as error:
            raise ExperimentExistsError(name) from error
        return self.get(name)

    def open_for_runs(self, name: str) -> tuple[ExperimentId, str]:
        """Return (id, name) of the experiment runs should start in, creating it on first use
        (race-safe). Cheap: no run count.

        Raises:
            ExperimentArchivedError: the experiment is archived.
            InvalidNameError: a new name breaks the naming rule.
        """
        with self._db.read() as conn:
            row = _find(conn, name)
        if row is None:
            with contextlib.suppress(ExperimentExistsError):  # another process created it
                self.create(name)
            with self._db.read() as conn:
                row = _find(conn, name)
            assert row is not None  # created just now, and experiments are never deleted
        if row.lifecycle == ARCHIVED:
            raise ExperimentArchivedError(row.name)
        return ExperimentId(str(row.id)), str(row.name)

    def get(self, name_or_id: str) -> Experiment:
        """Return the experiment with this name (or id).

        Raises:
            ExperimentNotFoundError: with close matches among existing names.
        """
        with self._db.read() as conn:
            row = _find_or_raise(conn, name_or_id)
            count = conn.execute(
                select(func.count()).select_from(runs).where(runs.c.experiment_id == row.id)
            ).scalar_one()
        return _to_experiment(row, count)

    def resolve_id(self, name_or_id: str) -> ExperimentId:
        """Return the id of the experiment with this name (or id), without counting its runs.

        Raises:
            ExperimentNotFoundError: with close matches among existing names.
        """
        with self._db.read() as conn:
            row = _find_or_raise(conn, name_or_id)
        return ExperimentId(str(row.id))

    def list(self, *, include_archived: bool = False) -> list[Experiment]:
        """Return experiments by name, with their run counts."""
        counts = (
            select(runs.c.experiment_id, func.count().label("n"))
            .group_by(runs.c.experiment_id)
            .subquery()
        )
        query = (
            select(experiments, func.coalesce(counts.c.n, 0).label("run_count"))
            .outerjoin(counts, counts.c.experiment_id == experiments.c.id)
            .order_by(experiments.c.name)
        )
        if not include_archived:
            query = query.where(experiments.c.lifecycle == ACTIVE)
        with self._db.read() as conn:
            return [_to_experiment(row, row.run_count) for row in conn.execute(query)]

    def rename(self, name: str, new_name: str) -> Experiment:
        """Rename an experiment; its runs follow.

        Raises:
            ExperimentNotFoundError, ExperimentExistsError, InvalidNameError.
        """
        check_name("experiment name", new_name)
        experiment = self.get(name)
        try:
            with self._db.write() as conn:
                conn.execute(
                    update(experiments)
                    .where(experiments.c.id == experiment.experiment_id)
                    .values(name=new_name, updated_at_ms=self._clock.time_ms())
                )
        except exc.IntegrityError as error:
            raise ExperimentExistsError(new_name) from error
        return self.get(experiment.experiment_id)

    def archive(self, name: str) -> Experiment:
        """Archive an experiment: hidden from listings, no new runs; its runs stay readable."""
        return self._set_lifecycle(name, ARCHIVED)

    def restore(self, name: str) -> Experiment:
        """Bring an archived experiment back."""
        return self._set_lifecycle(name, ACTIVE)

    def set_description(self, name: str, description: str) -> Experiment:
        """Replace an experiment's description."""
        experiment = self.get(name)
        with self._db.write() as conn:
            conn.execute(
                update(experiments)
                .where(experiments.c.id == experiment.experiment_id)
                .values(description=description, updated_at_ms=self._clock.time_ms())
            )
        return self.get(experiment.experiment_id)

    def _set_lifecycle(self, name: str, lifecycle: str) -> Experiment:
        experiment = self.get(name)
        with self._db.write() as conn:
            conn.execute(
                update(experiments)
                .where(experiments.c.id == experiment.experiment_id)
                .values(lifecycle=lifecycle, updated_at_ms=self._clock.time_ms())
            )
        return self.get(experiment.experiment_id)


def _find(conn: Connection, name_or_id: str) -> Row[tuple[object, ...]] | None:
    row = conn.execute(select(experiments).where(experiments.c.name == name_or_id)).first()
    if row is None:
        row = conn.execute(select(experiments).where(experiments.c.id == name_or_id)).first()
    return row


def _find_or_raise(conn: Connection, name_or_id: str) -> Row[tuple[object, ...]]:
    row = _find(conn, name_or_id)
    if row is None:
        names = conn.execute(select(experiments.c.name)).scalars().all()
        raise ExperimentNotFoundError(name_or_id, close_matches(name_or_id, names))
    return row


def _to_experiment(row: Row[tuple[object, ...]], run_count: int = 0) -> Experiment:
    mapping = row._mapping
    return Experiment(
        experiment_id=ExperimentId(str(mapping["id"])),
        name=str(mapping["name"]),
        description=str(mapping["description"]),
        lifecycle=str(mapping["lifecycle"]),
        created_at=from_ms(int(mapping["created_at_ms"])),
        updated_at=from_ms(int(mapping["updated_at_ms"])),
        run_count=int(run_count),
    )
