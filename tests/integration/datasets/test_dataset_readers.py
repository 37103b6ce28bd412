"""Reading dataset versions: in place from a local store, through a verified cache otherwise."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pandas as pd
import polars as pl
import pyarrow as pa
import pytest

from dataset_stores import ListRecorder, dataset_store, open_metastore, transactions
from modelyard.artifacts import FsspecArtifactStore, LocalArtifactStore
from modelyard.artifacts.store import blob_key
from modelyard.datasets import DatasetStore, DatasetVersion
from modelyard.errors import (
    BlobNotFoundError,
    CorruptBlobError,
    CorruptDatasetError,
    InvalidNameError,
)
from modelyard.lineage import LineageInput, recording
from modelyard.metastore import Metastore


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


@pytest.fixture
def version(datasets: DatasetStore) -> DatasetVersion:
    """Version 1 of "transactions" (six rows)."""
    return datasets.add("transactions", transactions())


def test_every_reader_returns_the_data(version: DatasetVersion) -> None:
    expected = transactions()

    pd.testing.assert_frame_equal(version.to_pandas(), expected)
    assert version.to_arrow().to_pylist() == expected.to_dict("records")
    assert version.to_polars().equals(pl.from_pandas(expected))
    batches = list(version.iter_batches(batch_size=4))
    assert [batch.num_rows for batch in batches] == [4, 2]
    assert pa.Table.from_batches(batches).to_pylist() == expected.to_dict("records")
    assert version.relation().aggregate("count(*), sum(amount)").fetchall() == [(6, 75.0)]


def test_readers_read_only_the_columns_asked_for(version: DatasetVersion) -> None:
    assert version.to_arrow(columns=["is_fraud"]).column_names == ["is_fraud"]
    assert version.to_pandas(columns=["amount"]).columns.tolist() == ["amount"]
    assert version.to_polars(columns=["amount", "is_fraud"]).columns == ["amount", "is_fraud"]
    assert next(version.iter_batches(columns=["amount"])).schema.names == ["amount"]


def test_an_unknown_column_is_refused_with_the_known_ones(version: DatasetVersion) -> None:
    with pytest.raises(InvalidNameError) as caught:
        version.to_pandas(columns=["amount", "amt"])

    assert str(caught.value) == (
        "column 'amt' is invalid: transactions/1 has no such column "
        "(columns: amount, merchant_category, is_fraud)"
    )


def test_a_relation_binds_to_the_given_connection(version: DatasetVersion) -> None:
    with duckdb.connect() as conn:
        relation = version.relation(conn)
        conn.register("tx", relation)

        assert conn.execute("SELECT count(*) FROM tx WHERE is_fraud").fetchall() == [(2,)]


def test_every_read_reports_the_version_to_the_recording_run(version: DatasetVersion) -> None:
    recorder = ListRecorder("r" * 32)

    with recording(recorder):
        version.to_arrow()
        version.to_pandas()
        version.to_polars()
        list(version.iter_batches())
        version.relation()
        assert version.path.is_file()

    assert recorder.items == [LineageInput("dataset", "transactions", "1", version.digest)] * 6


def test_a_local_store_is_read_in_place(
    version: DatasetVersion, artifacts: LocalArtifactStore
) -> None:
    assert version.path == artifacts.directory / blob_key(version.digest)


def test_a_remote_store_is_read_through_a_verified_cache(
    metastore: Metastore, tmp_path: Path
) -> None:
    remote = FsspecArtifactStore(f"memory://datasets-{uuid.uuid4().hex}")
    store = dataset_store(metastore, remote, tmp_path)
    version = store.add("transactions", transactions())

    path = version.path

    assert path == tmp_path / "cache" / "datasets" / f"{version.digest[7:]}.parquet"
    pd.testing.assert_frame_equal(version.to_pandas(), transactions())
    remote._fs.rm(remote._key(version.digest))
    assert version.path == path  # served from the cache, not fetched again


def test_a_tampered_remote_blob_is_refused(metastore: Metastore, tmp_path: Path) -> None:
    remote = FsspecArtifactStore(f"memory://datasets-{uuid.uuid4().hex}")
    version = dataset_store(metastore, remote, tmp_path).add("transactions", transactions())
    remote._fs.pipe_file(remote._key(version.digest), b"PAR1 not the same bytes PAR1")

    with pytest.raises(CorruptBlobError, match=f"artifact blob {version.digest} at memory://"):
        version.to_arrow()

    assert not (tmp_path / "cache" / "datasets" / f"{version.digest[7:]}.parquet").exists()


def _damage(artifacts: LocalArtifactStore, version: DatasetVersion, data: bytes) -> None:
    blob = artifacts.directory / blob_key(version.digest)
    blob.chmod(0o644)
    blob.write_bytes(data)


READERS: dict[str, Callable[[DatasetVersion], object]] = {
    "to_arrow": lambda version: version.to_arrow(),
    "to_pandas": lambda version: version.to_pandas(),
    "to_polars": lambda version: version.to_polars(),
    "iter_batches": lambda version: list(version.iter_batches()),
    "relation": lambda version: version.relation(),
}


@pytest.mark.parametrize("reader", sorted(READERS))
def test_an_unreadable_local_blob_is_a_corrupt_dataset(
    datasets: DatasetStore, artifacts: LocalArtifactStore, reader: str
) -> None:
    version = datasets.add("transactions", transactions())
    _damage(artifacts, version, b"this is not parquet")

    with pytest.raises(CorruptDatasetError) as caught:
        READERS[reader](version)

    assert str(caught.value).startswith("dataset transactions/1 cannot be read: ")
    assert str(caught.value).endswith(
        "; run `modelyard data show transactions/1` and add the data again"
    )


def test_checkout_of_a_changed_blob_is_refused_and_writes_nothing(
    datasets: DatasetStore, artifacts: LocalArtifactStore, tmp_path: Path
) -> None:
    version = datasets.add("transactions", transactions())
    _damage(artifacts, version, b"changed")

    with pytest.raises(CorruptBlobError, match=f"artifact blob {version.digest} at "):
        datasets.checkout("transactions/1", tmp_path / "out")

    assert list((tmp_path / "out").iterdir()) == []


def test_a_missing_blob_is_not_found(datasets: DatasetStore, artifacts: LocalArtifactStore) -> None:
    version = datasets.add("transactions", transactions())
    (artifacts.directory / blob_key(version.digest)).unlink()

    with pytest.raises(BlobNotFoundError, match=f"has no blob {version.digest}"):
        version.to_pandas()
