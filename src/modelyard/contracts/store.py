"""Contracts versioned in the workspace, and the validation reports stored with them."""

from __future__ import annotations

import builtins
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Row, exc, func, select

from modelyard.clock import Clock, from_ms
from modelyard.contracts.contract import Contract
from modelyard.contracts.report import ValidationReport
from modelyard.contracts.sources import ValidationData, is_dataset_version
from modelyard.errors import (
    ContractNotFoundError,
    DatasetNotFoundError,
    DatasetVersionNotFoundError,
    InvalidReferenceError,
)
from modelyard.ids import check_name, parse_reference
from modelyard.lineage import current_run_id
from modelyard.metastore import Metastore
from modelyard.metastore.tables import (
    contracts,
    dataset_tags,
    dataset_versions,
    datasets,
    validation_reports,
)

_REGISTER_ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class StoredContract:
    """One version of a contract as stored: numbered per name, addressed by its digest."""

    id: str
    name: str
    version: int
    digest: str
    created_at_ms: int
    contract: Contract

    @property
    def ref(self) -> str:
        """``name/version``."""
        return f"{self.name}/{self.version}"


@dataclass(frozen=True, slots=True)
class StoredReport:
    """A stored validation report, with what it is linked to."""

    id: str
    contract: str
    contract_version: int
    dataset_version_id: str | None
    run_id: str | None
    is_passed: bool
    error_failures: int
    warn_failures: int
    num_rows: int
    created_at_ms: int
    report: ValidationReport

    @property
    def created_at(self) -> datetime:
        """When the report was stored (UTC)."""
        return from_ms(self.created_at_ms)


class ContractStore:
    """Registers contract versions and keeps validation reports (``ws.contracts``)."""

    def __init__(self, metastore: Metastore, clock: Clock) -> None:
        self._db = metastore
        self._clock = clock

    # ------------------------------------------------------------------ contracts

    def register(self, contract: Contract) -> StoredContract:
        """Store ``contract`` as the next version of its name; the same definition is stored once.

        Returns:
            The stored version: a new one, or the existing version with the same digest.
        """
        digest = contract.digest
        body = json.dumps(contract.to_dict(), sort_keys=True, separators=(",", ":"))
        for attempt in range(_REGISTER_ATTEMPTS):
            try:
                with self._db.write() as conn:
                    existing = conn.execute(
                        select(contracts).where(
                            contracts.c.name == contract.name, contracts.c.digest == digest
                        )
                    ).first()
                    if existing is not None:
                        return _stored(existing)
                    latest = conn.execute(
                        select(func.max(contracts.c.version)).where(
                            contracts.c.name == contract.name
                        )
                    ).scalar_one_or_none()
                    stored = StoredContract(
                        id=uuid.uuid4().hex,
                        name=contract.name,
                        version=int(latest or 0) + 1,
                        digest=digest,
                        created_at_ms=self._clock.time_ms(),
                        contract=contract,
                    )
                    conn.execute(
                        contracts.insert(),
                        {
                            "id": stored.id,
                            "name": stored.name,
                            "version": stored.version,
                            "digest": digest,
                            "body": body,
                            "created_at_ms": stored.created_at_ms,
                        },
                    )
                return stored
            except exc.IntegrityError:
                # A concurrent writer took this version number (PostgreSQL): read again.
                if attempt == _REGISTER_ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")

    def get(self, name: str, version: int | None = None) -> StoredContract:
        """Return a stored contract version (the latest by default).

        Raises:
            ContractNotFoundError: no such contract or version (with close names).
        """
        query = select(contracts).where(contracts.c.name == name)
        if version is None:
            query = query.order_by(contracts.c.version.desc()).limit(1)
        else:
            query = query.where(contracts.c.version == version)
        with self._db.read() as conn:
            row = conn.execute(query).first()
            if row is None:
                names = conn.execute(select(contracts.c.name).distinct()).scalars().all()
                raise ContractNotFoundError(name, version, sorted(names))
        return _stored(row)

    def list(self) -> list[StoredContract]:
        """Return the latest version of every contract, by name."""
        latest = (
            select(contracts.c.name, func.max(contracts.c.version).label("version"))
            .group_by(contracts.c.name)
            .subquery()
        )
        query = (
            select(contracts)
            .join(
                latest,
                (contracts.c.name == latest.c.name) & (contracts.c.version == latest.c.version),
            )
            .order_by(contracts.c.name)
        )
        with self._db.read() as conn:
            return [_stored(row) for row in conn.execute(query)]

    def versions(self, name: str) -> builtins.list[StoredContract]:
        """Return every version of a contract, newest first.

        Raises:
            ContractNotFoundError: no contract of that name.
        """
        query = (
            select(contracts).where(contracts.c.name == name).order_by(contracts.c.version.desc())
        )
        with self._db.read() as conn:
            rows = conn.execute(query).all()
        if not rows:
            self.get(name)
        return [_stored(row) for row in rows]

    # ------------------------------------------------------------------ validation

    def validate(
        self,
        contract: Contract | str,
        data: ValidationData,
        *,
        store: bool = True,
        now_ms: int | None = None,
    ) -> ValidationReport:
        """Register the contract, validate ``data`` and store the report.

        The stored report is linked to the dataset version when ``data`` is one, and to the run
        recording in this context (:func:`modelyard.lineage.current_run_id`).

        Args:
            contract: a contract, or the name of a stored one ("tx" for the latest, "tx/2").
            data: what :meth:`Contract.validate` accepts.
            store: whether to register the contract and keep the report.
            now_ms: the time freshness is measured against; this store's clock if None.

        Raises:
            ContractNotFoundError: a named contract is not stored.
            InvalidInputError: unsupported or unreadable data.
            CorruptDatasetError: a dataset version's Parquet file cannot be read.
        """
        if isinstance(contract, str):
            contract = self._resolve(contract).contract
        now = self._clock.time_ms() if now_ms is None else now_ms
        report = contract.validate(data, now_ms=now)
        if not store:
            return report
        stored = self.register(contract)
        dataset_version_id = str(data.id) if is_dataset_version(data) else None
        with self._db.write() as conn:
            conn.execute(
                validation_reports.insert(),
                {
                    "id": uuid.uuid4().hex,
                    "contract_id": stored.id,
                    "dataset_version_id": dataset_version_id,
                    "run_id": current_run_id(),
                    "is_passed": report.passed,
                    "error_failures": len(report.errors),
                    "warn_failures": len(report.warnings),
                    "num_rows": report.num_rows,
                    "report": json.dumps(report.to_dict(), sort_keys=True, allow_nan=False),
                    "created_at_ms": self._clock.time_ms(),
                },
            )
        return report

    def reports(
        self, dataset_ref: str | None = None, run_id: str | None = None
    ) -> builtins.list[StoredReport]:
        """Return stored reports, newest first, optionally for a dataset or a run.

        Args:
            dataset_ref: "tx" (any version), "tx/3" or "tx@prod".
            run_id: the run that asked for the validation.

        Raises:
            InvalidReferenceError: the reference does not parse.
            DatasetNotFoundError: no dataset of that name.
            DatasetVersionNotFoundError: the dataset has no such version or tag.
        """
        query = (
            select(validation_reports, contracts.c.name, contracts.c.version)
            .join(contracts, contracts.c.id == validation_reports.c.contract_id)
            .order_by(validation_reports.c.created_at_ms.desc(), validation_reports.c.id)
        )
        if run_id is not None:
            query = query.where(validation_reports.c.run_id == run_id)
        with self._db.read() as conn:
            if dataset_ref is not None:
                version_ids = _dataset_version_ids(conn, dataset_ref)
                query = query.where(validation_reports.c.dataset_version_id.in_(version_ids))
            rows = conn.execute(query).all()
        return [
            StoredReport(
                id=row.id,
                contract=row.name,
                contract_version=int(row.version),
                dataset_version_id=row.dataset_version_id,
                run_id=row.run_id,
                is_passed=bool(row.is_passed),
                error_failures=int(row.error_failures),
                warn_failures=int(row.warn_failures),
                num_rows=int(row.num_rows),
                created_at_ms=int(row.created_at_ms),
                report=ValidationReport.from_dict(json.loads(row.report)),
            )
            for row in rows
        ]

    def _resolve(self, ref: str) -> StoredContract:
        parsed = parse_reference(ref)
        if parsed.alias is not None:
            raise InvalidReferenceError(ref, "contracts have versions, not aliases")
        return self.get(parsed.name, parsed.version)


def _stored(row: Row[object]) -> StoredContract:
    source = f"contract {row.name}/{row.version}"
    return StoredContract(
        id=row.id,
        name=row.name,
        version=int(row.version),
        digest=row.digest,
        created_at_ms=int(row.created_at_ms),
        contract=Contract.from_dict(json.loads(row.body), source=source),
    )


def _dataset_version_ids(conn: Connection, ref: str) -> list[str]:
    parsed = parse_reference(ref)
    check_name("dataset name", parsed.name)
    dataset_id = conn.execute(
        select(datasets.c.id).where(datasets.c.name == parsed.name)
    ).scalar_one_or_none()
    if dataset_id is None:
        names = conn.execute(select(datasets.c.name)).scalars().all()
        raise DatasetNotFoundError(parsed.name, sorted(names))
    query = select(dataset_versions.c.id).where(dataset_versions.c.dataset_id == dataset_id)
    if parsed.version is not None:
        query = query.where(dataset_versions.c.version == parsed.version)
    elif parsed.alias is not None:
        query = query.join(dataset_tags, dataset_tags.c.version_id == dataset_versions.c.id).where(
            dataset_tags.c.tag == parsed.alias
        )
    ids = [str(value) for value in conn.execute(query).scalars()]
    if not ids and (parsed.version is not None or parsed.alias is not None):
        latest = conn.execute(
            select(func.max(dataset_versions.c.version)).where(
                dataset_versions.c.dataset_id == dataset_id
            )
        ).scalar_one_or_none()
        wanted = str(parsed.version) if parsed.version is not None else f"@{parsed.alias}"
        raise DatasetVersionNotFoundError(parsed.name, wanted, latest)
    return ids
