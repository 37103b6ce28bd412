"""The dataset store on SQLite and PostgreSQL: add, resolve, tag, list, diff, check out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import func, select

from dataset_stores import ListRecorder, dataset_store, open_metastore, transactions
from modelyard.artifacts import LocalArtifactStore
from modelyard.datasets import ColumnSchema, DatasetInfo, DatasetStore, sources
from modelyard.errors import (
    DatasetNotFoundError,
    DatasetVersionNotFoundError,
    InvalidDatasetSourceError,
    InvalidNameError,
    InvalidReferenceError,
)
from modelyard.lineage import LineageInput, recording
from modelyard.metastore import Metastore
from modelyard.metastore.tables import dataset_versions, experiments, runs
from modelyard.metastore.tables import datasets as datasets_table

JAN_1_2026_MS = 1_767_225_600_000


@pytest.fixture
def metastore(db_url: str, tmp_path: Path) -> Iterator[Metastore]:
    """A migrated metadata database on each backend (SQLite, then PostgreSQL)."""
    store = open_metastore(db_url, tmp_path)
    try:
        yield store
    finally:
        store.dispose()


@pytest.fixture
def artifacts(tmp_path: Path) -> LocalArtifactStore:
    """A local artifact store."""
    return LocalArtifactStore(tmp_path / "artifacts")


@pytest.fixture
def datasets(metastore: Metastore, artifacts: LocalArtifactStore, tmp_path: Path) -> DatasetStore:
    """A dataset store on each metadata backend with a local artifact store."""
    return dataset_store(metastore, artifacts, tmp_path)


def _count(metastore: Metastore, table: object) -> int:
    with metastore.read() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())  # type: ignore[arg-type]


def _blobs(artifacts: LocalArtifactStore) -> list[Path]:
    return (
        sorted((artifacts.directory / "sha256").rglob("*")) if artifacts.directory.exists() else []
    )


def test_add_records_a_first_version(
    datasets: DatasetStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELYARD_USER", "ana")

    version = datasets.add("transactions", transactions(), description="May", tags=["prod"])

    assert (version.name, version.version, version.ref) == ("transactions", 1, "transactions/1")
    assert (version.num_rows, version.num_columns) == (6, 3)
    assert version.schema == (
        ColumnSchema("amount", "double"),
        ColumnSchema("merchant_category", "string"),
        ColumnSchema("is_fraud", "bool"),
    )
    assert version.size_bytes == version.path.stat().st_size
    assert (version.source, version.description, version.tags) == (
        "pandas.DataFrame",
        "May",
        ("prod",),
    )
    assert (version.created_by, version.created_by_run, version.created_at_ms) == (
        "ana",
        None,
        JAN_1_2026_MS,
    )
    assert version.summary["amount"].mean == pytest.approx(12.5)
    assert version.summary["is_fraud"].mean == pytest.approx(2 / 6)
    assert datasets.get("transactions") == version


def test_the_version_reads_back_over_a_fresh_store(
    datasets: DatasetStore, metastore: Metastore, artifacts: LocalArtifactStore, tmp_path: Path
) -> None:
    added = datasets.add("transactions", transactions())

    fresh = DatasetStore(metastore, artifacts, datasets._clock, tmp_path / "other-cache")
    read = fresh.get("transactions/1")

    assert read == added
    pd.testing.assert_frame_equal(read.to_pandas(), transactions())


def test_identical_content_returns_the_existing_version(
    datasets: DatasetStore, metastore: Metastore, artifacts: LocalArtifactStore, tmp_path: Path
) -> None:
    first = datasets.add("transactions", transactions())
    path = tmp_path / "same.parquet"
    pq.write_table(pa.Table.from_pandas(transactions()), path)

    again = datasets.add("transactions", path, tags=["golden"])

    assert (again.version, again.digest, again.tags) == (1, first.digest, ("golden",))
    assert again.source == "pandas.DataFrame"
    assert _count(metastore, dataset_versions) == 1
    assert len([blob for blob in _blobs(artifacts) if blob.is_file()]) == 1


def test_new_content_is_the_next_version(datasets: DatasetStore) -> None:
    datasets.add("transactions", transactions(), description="May")
    datasets.add("other", transactions(2))
    second = datasets.add("transactions", transactions(offset=1))

    assert second.version == 2
    assert [version.version for version in datasets.versions("transactions")] == [2, 1]
    assert datasets.list() == [
        DatasetInfo(
            "other", "", 1, 1, 2, 3, datasets.get("other").size_bytes, JAN_1_2026_MS, JAN_1_2026_MS
        ),
        DatasetInfo(
            "transactions", "May", 2, 2, 6, 3, second.size_bytes, JAN_1_2026_MS, JAN_1_2026_MS
        ),
    ]


def test_an_empty_source_is_refused_unless_allowed(
    datasets: DatasetStore, metastore: Metastore, artifacts: LocalArtifactStore
) -> None:
    empty = transactions().iloc[:0]

    with pytest.raises(InvalidDatasetSourceError) as caught:
        datasets.add("transactions", empty)

    assert str(caught.value) == (
        "cannot add dataset from pandas.DataFrame: it has no rows (pass allow_empty=True to add "
        "it anyway); nothing was stored"
    )
    assert (_count(metastore, datasets_table), _blobs(artifacts)) == (0, [])
    version = datasets.add("transactions", empty, allow_empty=True)
    assert (version.version, version.num_rows, version.to_pandas().columns.tolist()) == (
        1,
        0,
        ["amount", "merchant_category", "is_fraud"],
    )


def test_a_corrupt_source_stores_nothing(
    datasets: DatasetStore, metastore: Metastore, artifacts: LocalArtifactStore, tmp_path: Path
) -> None:
    good = tmp_path / "data" / "a.parquet"
    good.parent.mkdir()
    pq.write_table(pa.Table.from_pandas(transactions()), good)
    bad = tmp_path / "data" / "b.parquet"
    bad.write_bytes(good.read_bytes()[:-40])

    with pytest.raises(InvalidDatasetSourceError, match=f"cannot add dataset from {bad}: "):
        datasets.add("transactions", tmp_path / "data")

    assert (_count(metastore, datasets_table), _blobs(artifacts)) == (0, [])
    assert list((tmp_path / "cache" / "datasets").rglob("*.parquet")) == []


def test_add_reports_progress(
    datasets: DatasetStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sources, "BATCH_ROWS", 4)
    path = tmp_path / "tx.parquet"
    pq.write_table(pa.Table.from_pandas(transactions(10)), path, row_group_size=4)
    calls: list[tuple[int, int | None]] = []

    datasets.add("transactions", path, progress=lambda done, total: calls.append((done, total)))

    assert calls == [(4, 10), (8, 10), (10, 10)]


@pytest.mark.parametrize(
    ("name", "tags", "field"),
    [("bad name", (), "dataset name"), ("transactions", ("no spaces",), "tag")],
)
def test_bad_names_are_refused_before_reading(
    datasets: DatasetStore, name: str, tags: tuple[str, ...], field: str
) -> None:
    with pytest.raises(InvalidNameError, match=f"^{field} "):
        datasets.add(name, object(), tags=tags)


# ------------------------------------------------------------------ references


def test_references_resolve_numbers_tags_and_latest(datasets: DatasetStore) -> None:
    first = datasets.add("transactions", transactions(), tags=["prod"])
    second = datasets.add("transactions", transactions(offset=1))

    assert datasets.get("transactions") == second
    assert datasets.get("transactions/1") == first
    assert datasets.get("transactions", version=2) == second
    assert datasets.get("transactions@prod") == first


def test_an_unknown_dataset_suggests_close_names(datasets: DatasetStore) -> None:
    datasets.add("transactions", transactions())

    with pytest.raises(DatasetNotFoundError) as caught:
        datasets.get("transaction/1")

    assert str(caught.value) == (
        'no dataset "transaction" (did you mean "transactions"?); see `modelyard data ls`'
    )


@pytest.mark.parametrize(
    ("ref", "wanted"), [("transactions/7", "7"), ("transactions@gold", "@gold")]
)
def test_an_unknown_version_or_tag_names_the_latest(
    datasets: DatasetStore, ref: str, wanted: str
) -> None:
    datasets.add("transactions", transactions())

    with pytest.raises(DatasetVersionNotFoundError) as caught:
        datasets.get(ref)

    assert str(caught.value) == (
        f'dataset "transactions" has no version {wanted} (latest is 1); '
        "see `modelyard data show transactions`"
    )


def test_a_version_in_the_reference_and_as_an_argument_is_refused(datasets: DatasetStore) -> None:
    with pytest.raises(InvalidReferenceError, match="not both"):
        datasets.get("transactions/1", version=2)


def test_a_tag_moves_and_is_removed(datasets: DatasetStore) -> None:
    datasets.add("transactions", transactions(), tags=["prod"])
    datasets.add("transactions", transactions(offset=1))

    moved = datasets.tag("transactions", 2, "prod")

    assert (moved.version, moved.tags) == (2, ("prod",))
    assert datasets.get("transactions/1").tags == ()
    assert datasets.list()[0].tags == {"prod": 2}
    datasets.untag("transactions", "prod")
    assert datasets.get("transactions/2").tags == ()
    with pytest.raises(DatasetVersionNotFoundError, match="has no version @prod"):
        datasets.untag("transactions", "prod")


def test_tagging_a_missing_version_is_refused(datasets: DatasetStore) -> None:
    datasets.add("transactions", transactions())

    with pytest.raises(DatasetVersionNotFoundError, match="has no version 3 "):
        datasets.tag("transactions", 3, "prod")


# ------------------------------------------------------------------ diff, checkout, runs


def test_diff_compares_two_references(datasets: DatasetStore) -> None:
    datasets.add("transactions", transactions())
    renamed = transactions(offset=1).rename(columns={"amount": "amount_usd"})
    second = datasets.add("transactions", renamed)

    diff = datasets.diff("transactions/1", second)

    assert (diff.old, diff.new) == ("transactions/1", "transactions/2")
    assert [change.detail for change in diff.schema_changes] == [
        "amount renamed to amount_usd? (double)"
    ]
    assert [(change.column, change.statistic) for change in diff.column_changes] == [
        ("is_fraud", "mean"),
        ("is_fraud", "std"),
    ]


def test_checkout_writes_the_verified_file(datasets: DatasetStore, tmp_path: Path) -> None:
    version = datasets.add("transactions", transactions())

    path = datasets.checkout("transactions", tmp_path / "out")

    assert path == tmp_path / "out" / "transactions-v1.parquet"
    assert path.read_bytes() == version.path.read_bytes()


def test_a_version_added_in_a_run_names_the_run_and_a_checkout_is_its_input(
    datasets: DatasetStore, metastore: Metastore, tmp_path: Path
) -> None:
    with metastore.write() as conn:
        conn.execute(
            experiments.insert(),
            {"id": "e" * 32, "name": "fraud", "created_at_ms": 0, "updated_at_ms": 0},
        )
        conn.execute(
            runs.insert(),
            {
                "id": "a" * 32,
                "experiment_id": "e" * 32,
                "name": "train",
                "status": "RUNNING",
                "start_time_ms": 0,
            },
        )
    recorder = ListRecorder("a" * 32)

    with recording(recorder):
        version = datasets.add("transactions", transactions())
        datasets.checkout("transactions/1", tmp_path / "out")

    assert version.created_by_run == "a" * 32
    assert recorder.items == [LineageInput("dataset", "transactions", "1", version.digest)]


def test_concurrent_adds_number_versions_without_gaps(datasets: DatasetStore) -> None:
    errors: list[BaseException] = []

    def add(offset: int) -> None:
        try:
            datasets.add("transactions", transactions(offset=offset))
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=add, args=(offset,)) for offset in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    versions = datasets.versions("transactions")
    assert sorted(version.version for version in versions) == [1, 2, 3, 4]
    assert len({version.digest for version in versions}) == 4
