"""Runs as stored: the Run record, its status, and reading and writing run rows."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Row, select, update

from modelyard.clock import Clock, from_ms
from modelyard.errors import InvalidNameError, ParamConflictError, RunNotFoundError
from modelyard.ids import ExperimentId, RunId
from modelyard.lineage import LineageInput
from modelyard.metastore import Metastore
from modelyard.metastore.tables import (
    environments,
    experiments,
    latest_metrics,
    params,
    run_inputs,
    runs,
    tags,
)
from modelyard.metastore.upsert import insert_ignore, upsert
from modelyard.tracking.environment import Environment, RunContext

MAX_KEY_CHARS = 250
MAX_VALUE_CHARS = 6000


class RunStatus(enum.StrEnum):
    """Where a run is in its life."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    KILLED = "KILLED"

    @property
    def is_terminal(self) -> bool:
        """Whether the run has ended."""
        return self is not RunStatus.RUNNING


@dataclass(frozen=True, slots=True)
class RunInput:
    """Something a run read (a dataset version, a feature-view version, …)."""

    kind: str
    name: str
    version: str
    digest: str | None
    details: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Run:
    """A run as stored, with its params, tags and the latest value of each metric."""

    run_id: RunId
    experiment_id: ExperimentId
    experiment: str
    name: str
    status: RunStatus
    start_time: datetime
    end_time: datetime | None
    parent_run_id: RunId | None
    note: str
    error_type: str | None
    error_message: str | None
    user: str | None
    host: str | None
    command: str | None
    git_commit: str | None
    git_branch: str | None
    git_is_dirty: bool | None
    environment_digest: str | None
    seed: int | None
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)

    @property
    def duration_s(self) -> float | None:
        """Seconds from start to end (None while running)."""
        if self.end_time is None:
            return None
        return (self.end_time - self.start_time).total_seconds()


def check_key(field_name: str, key: str) -> str:
    """Return ``key`` when it is a valid param, tag or metric key.

    Raises:
        InvalidNameError: empty, too long, or with characters outside letters, digits,
            ``_ - . / :`` and spaces.
    """
    if (
        not isinstance(key, str)
        or not key
        or len(key) > MAX_KEY_CHARS
        or key != key.strip()
        or not all(ch.isalnum() or ch in "_-./: " for ch in key)
    ):
        raise InvalidNameError(
            field_name,
            str(key),
            f"use 1-{MAX_KEY_CHARS} letters, digits, spaces or '_-./:', "
            "not starting or ending with a space",
        )
    return key


def stringify(field_name: str, key: str, value: object) -> str:
    """Return a param or tag value as stored (its ``str``), checking its length."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > MAX_VALUE_CHARS:
        raise InvalidNameError(
            f"{field_name} {key!r}", text[:40] + "…", f"at most {MAX_VALUE_CHARS} characters"
        )
    return text


class RunStore:
    """Reads and writes run rows and what hangs off them (params, tags, inputs)."""

    def __init__(self, metastore: Metastore, clock: Clock) -> None:
        self._db = metastore
        self._clock = clock
        self._stored_environments: set[str] = set()

    def create(
        self,
        *,
        run_id: RunId,
        experiment_id: ExperimentId,
        name: str,
        parent_run_id: RunId | None,
        context: RunContext | None,
        param_values: Mapping[str, str],
        tag_values: Mapping[str, str],
        note: str,
    ) -> None:
        """Insert a RUNNING run with its captured context, params and tags, in one transaction."""
        row: dict[str, object] = {
            "id": run_id,
            "experiment_id": experiment_id,
            "name": name,
            "status": RunStatus.RUNNING.value,
            "parent_run_id": parent_run_id,
            "start_time_ms": self._clock.time_ms(),
            "note": note,
        }
        if context is not None:
            row.update(
                user_name=context.user,
                host=context.host,
                command=context.command,
                environment_digest=context.environment.digest,
            )
            if context.git is not None:
                row.update(
                    git_commit=context.git.commit,
                    git_branch=context.git.branch,
                    git_is_dirty=context.git.is_dirty,
                )
        with self._db.write() as conn:
            if context is not None:
                self._store_environment(conn, context.environment)
            conn.execute(runs.insert(), row)
            if param_values:
                conn.execute(
                    params.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in param_values.items()],
                )
            if tag_values:
                conn.execute(
                    tags.insert(),
                    [{"run_id": run_id, "key": k, "value": v} for k, v in tag_values.items()],
                )

    def end(
        self,
        run_id: RunId,
        status: RunStatus,
        *,
        error_type: str | None = None,
        error_message: str | None = None,
    ) -> None:
        """Record the run's terminal status and end time."""
        with self._db.write() as conn:
            conn.execute(
                update(runs)
                .where(runs.c.id == run_id)
                .values(
                    status=status.value,
                    end_time_ms=self._clock.time_ms(),
                    error_type=error_type,
                    error_message=error_message,
                )
            )

    def log_params(self, run_id: RunId, values: Mapping[str, str]) -> None:
        """Store params; a key already stored with the same value is a no-op.

        Raises:
            ParamConflictError: a key already holds another value (nothing is written).
        """
        with self._db.write() as conn:
            existing = {
                key: value
                for key, value in conn.execute(
                    select(params.c.key, params.c.value).where(
                        params.c.run_id == run_id, params.c.key.in_(list(values))
                    )
                )
            }
            for key, value in values.items():
                if key in existing and existing[key] != value:
                    raise ParamConflictError(run_id, key, existing[key], value)
            new = [
                {"run_id": run_id, "key": k, "value": v}
                for k, v in values.items()
                if k not in existing
            ]
            if new:
                conn.execute(params.insert(), new)

    def set_tags(self, run_id: RunId, values: Mapping[str, str]) -> None:
        """Set tags (a tag may be overwritten)."""
        statement = upsert(self._db.dialect, tags, ["run_id", "key"], ["value"])
        with self._db.write() as conn:
            conn.execute(
                statement, [{"run_id": run_id, "key": k, "value": v} for k, v in values.items()]
            )

    def set_note(self, run_id: RunId, note: str) -> None:
        """Replace the run's note."""
        with self._db.write() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(note=note))

    def set_seed(self, run_id: RunId, seed: int) -> None:
        """Record the seed the run was seeded with."""
        with self._db.write() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(seed=seed))

    def record_input(self, run_id: RunId, item: LineageInput) -> None:
        """Record that the run read ``item`` (recorded once per run)."""
        with self._db.write() as conn:
            conn.execute(
                insert_ignore(self._db.dialect, run_inputs),
                {
                    "run_id": run_id,
                    "kind": item.kind,
                    "name": item.name,
                    "version": item.version,
                    "digest": item.digest,
                    "details": json.dumps(dict(item.details), sort_keys=True),
                    "recorded_at_ms": self._clock.time_ms(),
                },
            )

    def get(self, run_id: str) -> Run:
        """Return one run with its params, tags and latest metrics.

        Raises:
            RunNotFoundError: no run has that id.
        """
        found = self.get_many([run_id])
        if not found:
            raise RunNotFoundError(run_id)
        return found[0]

    def get_many(self, run_ids: Sequence[str]) -> list[Run]:
        """Return the runs with these ids, in the order given (unknown ids are left out)."""
        if not run_ids:
            return []
        query = (
            select(runs, experiments.c.name.label("experiment_name"))
            .join(experiments, experiments.c.id == runs.c.experiment_id)
            .where(runs.c.id.in_(list(run_ids)))
        )
        with self._db.read() as conn:
            rows = {row.id: row for row in conn.execute(query)}
            return hydrate(conn, [rows[run_id] for run_id in run_ids if run_id in rows])

    def inputs(self, run_id: RunId) -> list[RunInput]:
        """Return what the run read, in the order it was recorded."""
        query = (
            select(run_inputs)
            .where(run_inputs.c.run_id == run_id)
            .order_by(run_inputs.c.recorded_at_ms, run_inputs.c.kind, run_inputs.c.name)
        )
        with self._db.read() as conn:
            return [
                RunInput(row.kind, row.name, row.version, row.digest, json.loads(row.details))
                for row in conn.execute(query)
            ]

    def readers(self, kind: str, name: str, version: str | None = None) -> list[RunId]:
        """Return the ids of runs that read an input (any version when ``version`` is None)."""
        query = select(run_inputs.c.run_id).where(
            run_inputs.c.kind == kind, run_inputs.c.name == name
        )
        if version is not None:
            query = query.where(run_inputs.c.version == version)
        with self._db.read() as conn:
            return [RunId(run_id) for run_id in conn.execute(query.distinct()).scalars()]

    def environment(self, digest: str) -> Environment | None:
        """Return a stored environment by digest."""
        with self._db.read() as conn:
            row = conn.execute(select(environments).where(environments.c.digest == digest)).first()
        if row is None:
            return None
        return Environment(
            row.digest, row.python_version, row.platform, tuple(json.loads(row.packages))
        )

    def children(self, run_id: RunId) -> list[RunId]:
        """Return the ids of the run's child runs, oldest first."""
        query = (
            select(runs.c.id)
            .where(runs.c.parent_run_id == run_id)
            .order_by(runs.c.start_time_ms, runs.c.id)
        )
        with self._db.read() as conn:
            return [RunId(run_id) for run_id in conn.execute(query).scalars()]

    def _store_environment(self, conn: Connection, environment: Environment) -> None:
        if environment.digest in self._stored_environments:
            return
        conn.execute(
            insert_ignore(self._db.dialect, environments),
            {
                "digest": environment.digest,
                "python_version": environment.python_version,
                "platform": environment.platform,
                "packages": json.dumps(list(environment.packages)),
                "created_at_ms": self._clock.time_ms(),
            },
        )
        self._stored_environments.add(environment.digest)


def hydrate(conn: Connection, rows: Iterable[Row[tuple[object, ...]]]) -> list[Run]:
    """Turn run rows (joined with ``experiment_name``) into Runs, loading params, tags and
    latest metrics in three queries for all of them."""
    rows = list(rows)
    ids = [row._mapping["id"] for row in rows]
    by_run: dict[str, dict[str, dict[str, object]]] = {
        run_id: {"params": {}, "tags": {}, "metrics": {}} for run_id in ids
    }
    for chunk_start in range(0, len(ids), 500):
        chunk = ids[chunk_start : chunk_start + 500]
        for table, slot in ((params, "params"), (tags, "tags")):
            for run_id, key, value in conn.execute(
                select(table.c.run_id, table.c.key, table.c.value).where(table.c.run_id.in_(chunk))
            ):
                by_run[run_id][slot][key] = value
        for run_id, key, value in conn.execute(
            select(latest_metrics.c.run_id, latest_metrics.c.key, latest_metrics.c.value).where(
                latest_metrics.c.run_id.in_(chunk)
            )
        ):
            by_run[run_id]["metrics"][key] = float("nan") if value is None else float(value)
    return [_to_run(row, by_run[row._mapping["id"]]) for row in rows]


def _to_run(row: Row[tuple[object, ...]], extra: Mapping[str, Mapping[str, object]]) -> Run:
    m = row._mapping
    end_ms = m["end_time_ms"]
    return Run(
        run_id=RunId(str(m["id"])),
        experiment_id=ExperimentId(str(m["experiment_id"])),
        experiment=str(m["experiment_name"]),
        name=str(m["name"]),
        status=RunStatus(str(m["status"])),
        start_time=from_ms(int(m["start_time_ms"])),
        end_time=None if end_ms is None else from_ms(int(end_ms)),
        parent_run_id=None if m["parent_run_id"] is None else RunId(str(m["parent_run_id"])),
        note=str(m["note"]),
        error_type=m["error_type"],
        error_message=m["error_message"],
        user=m["user_name"],
        host=m["host"],
        command=m["command"],
        git_commit=m["git_commit"],
        git_branch=m["git_branch"],
        git_is_dirty=None if m["git_is_dirty"] is None else bool(m["git_is_dirty"]),
        environment_digest=m["environment_digest"],
        seed=None if m["seed"] is None else int(m["seed"]),
        params=dict(sorted(extra["params"].items())),  # type: ignore[arg-type]
        tags=dict(sorted(extra["tags"].items())),  # type: ignore[arg-type]
        metrics=dict(sorted(extra["metrics"].items())),  # type: ignore[arg-type]
    )
