"""ContractStore on SQLite and PostgreSQL: versions by digest, stored reports and their links."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from modelyard.artifacts import LocalArtifactStore
from modelyard.clock import FixedClock
from modelyard.contracts import (
    ColumnSpec,
    Contract,
    ContractStore,
    RowCount,
    ValidationReport,
    compare_contracts,
)
from modelyard.datasets import DatasetStore
from modelyard.errors import (
    ContractNotFoundError,
    CorruptDatasetError,
    DatasetNotFoundError,
    DatasetVersionNotFoundError,
    InvalidReferenceError,
)
from modelyard.metastore import Metastore, connect, upgrade
from modelyard.settings import load_settings
from modelyard.workspace import Workspace

CONTRACT = Contract(
    "tx",
    {"amount": ColumnSpec("float64", nullable=False, min=0)},
    [RowCount(min=2)],
)
GOOD = pd.DataFrame({"amount": [1.0, 2.0, 3.0]})
BAD = pd.DataFrame({"amount": [1.0, -2.0, None]})


@pytest.fixture
def metastore(db_url: str, tmp_path: Path) -> Iterator[Metastore]:
    """A migrated metadata database on each backend."""
    database = connect(load_settings(tmp_path, overrides={"db_url": db_url}))
    upgrade(database)
    try:
        yield database
    finally:
        database.dispose()


@pytest.fixture
def store(metastore: Metastore, clock: FixedClock) -> ContractStore:
    return ContractStore(metastore, clock)


@pytest.fixture
def datasets(metastore: Metastore, tmp_path: Path) -> DatasetStore:
    artifacts = LocalArtifactStore(tmp_path / "artifacts")
    return DatasetStore(metastore, artifacts, FixedClock(), tmp_path / "cache")


def test_register_numbers_versions_and_is_idempotent_by_digest(store: ContractStore) -> None:
    first = store.register(CONTRACT)
    again = store.register(Contract.from_yaml(CONTRACT.to_yaml()))
    changed = Contract("tx", {"amount": ColumnSpec("float64", min=0)})
    second = store.register(changed)
    other = store.register(Contract("other", {}))
    assert (first.ref, again.id, second.ref, other.ref) == ("tx/1", first.id, "tx/2", "other/1")
    assert first.digest == CONTRACT.digest
    assert store.get("tx").ref == "tx/2"
    assert store.get("tx", 1).contract == CONTRACT
    assert [c.ref for c in store.list()] == ["other/1", "tx/2"]
    assert [c.version for c in store.versions("tx")] == [2, 1]
    assert not compare_contracts(store.get("tx", 1).contract, store.get("tx").contract).breaking
    with pytest.raises(ContractNotFoundError, match=r'no contract "tx" version 3 \(did you mean'):
        store.get("tx", 3)
    with pytest.raises(ContractNotFoundError, match=r'no contract "txx" \(did you mean "tx"\?\)'):
        store.versions("txx")


def test_validate_stores_reports_linked_to_the_dataset_version(
    store: ContractStore,
    datasets: DatasetStore,
    clock: FixedClock,
) -> None:
    good = datasets.add("payments", GOOD)
    bad = datasets.add("payments", BAD)
    datasets.tag("payments", 1, "prod")
    assert store.validate(CONTRACT, good).passed
    clock.advance(seconds=1)
    report = store.validate("tx", bad)
    assert [r.rule_id for r in report.errors] == ["columns.amount.nullable", "columns.amount.min"]
    clock.advance(seconds=1)
    store.validate(CONTRACT, GOOD)  # not a dataset version: stored without a link
    store.validate(CONTRACT, BAD, store=False)

    everything = store.reports()
    assert [(r.is_passed, r.error_failures, r.dataset_version_id) for r in everything] == [
        (True, 0, None),
        (False, 2, bad.id),
        (True, 0, good.id),
    ]
    assert [r.report.data for r in store.reports(dataset_ref="payments")] == [
        "payments/2",
        "payments/1",
    ]
    only_bad = store.reports(dataset_ref="payments/2")
    assert [(r.contract, r.contract_version, r.num_rows) for r in only_bad] == [("tx", 1, 3)]
    assert only_bad[0].report == report
    assert [r.dataset_version_id for r in store.reports(dataset_ref="payments@prod")] == [good.id]
    with pytest.raises(DatasetNotFoundError, match='did you mean "payments"'):
        store.reports(dataset_ref="payment")
    with pytest.raises(DatasetVersionNotFoundError, match="has no version 7"):
        store.reports(dataset_ref="payments/7")
    with pytest.raises(InvalidReferenceError, match="contracts have versions, not aliases"):
        store.validate("tx@prod", GOOD)


def test_a_corrupt_dataset_file_is_a_typed_error(
    store: ContractStore,
    datasets: DatasetStore,
) -> None:
    version = datasets.add("payments", GOOD)
    path = Path(version.path)
    path.chmod(0o644)
    path.write_bytes(b"PAR1 garbage")
    with pytest.raises(CorruptDatasetError, match=r"dataset payments/1 cannot be read: "):
        store.validate(CONTRACT, version)
    assert store.reports() == []  # nothing stored for data that could not be read


def test_a_report_records_the_run_that_asked_for_it(workspace: Workspace) -> None:
    version = workspace.datasets.add("payments", GOOD)
    with workspace.start_run("contracts") as run:
        report = workspace.contracts.validate(CONTRACT, version)
    stored = workspace.contracts.reports(run_id=run.run_id)
    assert [(r.run_id, r.dataset_version_id) for r in stored] == [(run.run_id, version.id)]
    assert isinstance(stored[0].report, ValidationReport)
    assert stored[0].report == report
    assert workspace.contracts.reports(run_id="0" * 32) == []
