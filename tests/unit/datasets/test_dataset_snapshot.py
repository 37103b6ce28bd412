"""Canonical Parquet snapshots: same content, same bytes; bounded memory; row groups by content."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modelyard.datasets import snapshot as snapshot_module
from modelyard.datasets.snapshot import Snapshot, canonical_schema, write_snapshot
from modelyard.datasets.sources import BatchSource, open_source
from modelyard.errors import InvalidDatasetSourceError

ROWS = st.lists(
    st.tuples(
        st.one_of(st.none(), st.integers(-(2**40), 2**40)),
        st.one_of(st.none(), st.text(max_size=8)),
        st.one_of(st.none(), st.floats(allow_nan=False)),
    ),
    min_size=1,
    max_size=40,
)
SCHEMA = pa.schema([("id", pa.int64()), ("name", pa.large_string()), ("score", pa.float64())])


def _table(rows: list[tuple[int | None, str | None, float | None]]) -> pa.Table:
    columns = list(zip(*rows, strict=True))
    return pa.Table.from_arrays(
        [pa.array(column, type=field.type) for column, field in zip(columns, SCHEMA, strict=True)],
        schema=SCHEMA,
    )


def _write(source: object, path: Path) -> Snapshot:
    return write_snapshot(open_source(source), path, None)


def _chunked(table: pa.Table, cuts: list[int]) -> pa.Table:
    bounds = sorted({0, table.num_rows, *(cut % (table.num_rows + 1) for cut in cuts)})
    pieces = [table.slice(start, end - start) for start, end in itertools.pairwise(bounds)]
    return pa.concat_tables(pieces)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS, cuts=st.lists(st.integers(0, 40), max_size=5))
def test_the_same_content_gives_the_same_bytes_however_it_is_chunked(
    tmp_path: Path, rows: list[tuple[int | None, str | None, float | None]], cuts: list[int]
) -> None:
    table = _table(rows)

    whole = _write(table, tmp_path / "whole.parquet")
    pieces = _write(_chunked(table, cuts), tmp_path / "pieces.parquet")
    frame = (
        _write(table.to_pandas(), tmp_path / "frame.parquet")
        if None not in [row[0] for row in rows]
        else whole
    )

    assert pieces.digest == whole.digest
    assert frame.digest == whole.digest
    assert whole.digest == "sha256:" + hashlib.sha256(whole.path.read_bytes()).hexdigest()
    assert whole.size_bytes == whole.path.stat().st_size
    assert pq.read_table(whole.path).to_pylist() == table.to_pylist()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rows=ROWS, index=st.integers(0, 39))
def test_different_content_gives_a_different_digest(
    tmp_path: Path, rows: list[tuple[int | None, str | None, float | None]], index: int
) -> None:
    changed = list(rows)
    row = changed[index % len(rows)]
    changed[index % len(rows)] = (1 if row[0] is None else row[0] + 1, row[1], row[2])

    first = _write(_table(rows), tmp_path / "first.parquet")
    second = _write(_table(changed), tmp_path / "second.parquet")

    assert first.digest != second.digest


def test_pandas_polars_and_arrow_sources_of_one_content_share_a_digest(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"id": [1, 2, 3], "name": ["a", None, "c"], "kind": pd.Categorical(["x", "y", "x"])}
    )

    digests = {
        _write(frame, tmp_path / "pandas.parquet").digest,
        _write(pl.from_pandas(frame), tmp_path / "polars.parquet").digest,
        _write(pa.Table.from_pandas(frame, preserve_index=False), tmp_path / "a.parquet").digest,
    }

    assert len(digests) == 1


def test_types_are_normalised_and_metadata_dropped(tmp_path: Path) -> None:
    frame = pd.DataFrame({"name": ["a", "b"], "kind": pd.Categorical(["x", "y"])}, index=[5, 6])

    written = _write(frame, tmp_path / "out.parquet")
    schema = pq.read_schema(written.path)

    assert written.schema == pa.schema([("name", pa.string()), ("kind", pa.string())])
    assert schema.names == ["name", "kind"]
    assert [str(field.type) for field in schema] == ["string", "string"]
    assert set((schema.metadata or {}).keys()) <= {b"ARROW:schema"}


def test_canonical_types_reach_into_lists_and_structs() -> None:
    schema = pa.schema(
        [
            ("tags", pa.large_list(pa.large_string())),
            ("point", pa.struct([("label", pa.dictionary(pa.int8(), pa.string()))])),
            ("blob", pa.large_binary()),
        ],
        metadata={b"pandas": b"{}"},
    )

    assert canonical_schema(schema) == pa.schema(
        [
            ("tags", pa.list_(pa.string())),
            ("point", pa.struct([("label", pa.string())])),
            ("blob", pa.binary()),
        ]
    )
    assert canonical_schema(schema).metadata is None


def test_row_groups_are_cut_by_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(snapshot_module, "ROW_GROUP_ROWS", 4)
    table = pa.table({"id": list(range(10))})

    written = _write(_chunked(table, [3, 7]), tmp_path / "out.parquet")
    metadata = pq.ParquetFile(written.path).metadata

    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [4, 4, 2]


def test_row_groups_are_cut_by_estimated_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each row: 4 bytes of offset + 10 bytes of text = 14; 30 bytes hold two rows.
    monkeypatch.setattr(snapshot_module, "ROW_GROUP_BYTES", 30)
    table = pa.table({"text": ["x" * 10] * 5})

    written = _write(table, tmp_path / "out.parquet")
    metadata = pq.ParquetFile(written.path).metadata

    assert [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)] == [2, 2, 1]


def test_a_row_wider_than_a_row_group_gets_one_of_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_module, "ROW_GROUP_BYTES", 8)
    table = pa.table({"text": ["x" * 100, "y" * 100]})

    written = _write(table, tmp_path / "out.parquet")

    assert pq.ParquetFile(written.path).metadata.num_row_groups == 2
    assert pq.read_table(written.path).to_pylist() == table.to_pylist()


def test_memory_stays_bounded_by_the_row_groups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(snapshot_module, "ROW_GROUP_BYTES", 1 << 20)
    batch_rows = 1 << 17  # 1 MiB of int64 per batch; 64 batches = 64 MiB in all
    peaks: list[int] = []

    def batches() -> Iterator[pa.RecordBatch]:
        for index in range(64):
            peaks.append(pa.total_allocated_bytes())
            yield pa.record_batch([pa.array(range(index, index + batch_rows), pa.int64())], ["x"])

    schema = pa.schema([("x", pa.int64())])
    written = write_snapshot(BatchSource("gen", schema, None, batches()), tmp_path / "o.pq", None)

    assert written.num_rows == 64 * batch_rows
    assert max(peaks) - peaks[0] < 8 << 20


def test_progress_reports_rows_written_and_the_total(tmp_path: Path) -> None:
    calls: list[tuple[int, int | None]] = []
    table = pa.table({"id": list(range(5))})

    write_snapshot(
        BatchSource("t", table.schema, 5, iter(table.to_batches(max_chunksize=2))),
        tmp_path / "out.parquet",
        lambda done, total: calls.append((done, total)),
    )

    assert calls == [(2, 5), (4, 5), (5, 5)]


@pytest.mark.parametrize(
    ("table", "reason"),
    [
        (pa.table({}), "it has no columns"),
        (
            pa.Table.from_arrays([pa.array([1]), pa.array([2]), pa.array([3])], ["a", "b", "a"]),
            "column names must be unique; repeated: a",
        ),
    ],
    ids=["no-columns", "repeated-name"],
)
def test_tables_without_usable_columns_are_refused(
    tmp_path: Path, table: pa.Table, reason: str
) -> None:
    with pytest.raises(InvalidDatasetSourceError) as caught:
        _write(table, tmp_path / "out.parquet")

    assert (
        str(caught.value) == f"cannot add dataset from pyarrow.Table: {reason}; nothing was stored"
    )
    assert not (tmp_path / "out.parquet").exists()
