"""The registry's append-only audit trail: who changed what, when, and why."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from modelyard.clock import Clock, from_ms
from modelyard.metastore import Metastore
from modelyard.metastore.tables import registry_audit
from modelyard.settings import current_user


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One registry mutation."""

    event_id: int
    at: datetime
    actor: str
    action: str
    model: str
    version: int | None
    details: Mapping[str, Any]
    reason: str | None


def current_actor() -> str:
    """Who is acting: $MODELYARD_USER, else the login name, else "unknown"."""
    return current_user() or "unknown"


class AuditLog:
    """Append registry events and read a model's history. Rows are never updated or deleted."""

    def __init__(self, metastore: Metastore, clock: Clock) -> None:
        self._db = metastore
        self._clock = clock

    def record(
        self,
        conn: Connection,
        action: str,
        model: str,
        *,
        version: int | None = None,
        details: Mapping[str, Any] | None = None,
        reason: str | None = None,
        actor: str | None = None,
    ) -> None:
        """Append an event inside ``conn``'s transaction (it commits with the change itself)."""
        conn.execute(
            registry_audit.insert(),
            {
                "at_ms": self._clock.time_ms(),
                "actor": actor or current_actor(),
                "action": action,
                "model": model,
                "version": version,
                "details": json.dumps(dict(details or {}), sort_keys=True, default=str),
                "reason": reason,
            },
        )

    def history(self, model: str, *, limit: int = 1000) -> list[AuditEvent]:
        """Return a model's events, oldest first."""
        query = (
            select(registry_audit)
            .where(registry_audit.c.model == model)
            .order_by(registry_audit.c.id)
            .limit(limit)
        )
        with self._db.read() as conn:
            return [
                AuditEvent(
                    event_id=int(row.id),
                    at=from_ms(int(row.at_ms)),
                    actor=row.actor,
                    action=row.action,
                    model=row.model,
                    version=None if row.version is None else int(row.version),
                    details=json.loads(row.details),
                    reason=row.reason,
                )
                for row in conn.execute(query)
            ]
