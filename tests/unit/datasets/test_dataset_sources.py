"""Opening what ``datasets.add`` accepts as one stream of record batches."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from modelyard.datasets.sources import BatchSource, open_source
from modelyard.errors import InvalidDatasetSourceError

TABLE = pa.table({"id": [1, 2, 3], "name": ["a", "b", None]})


def _rows(source: BatchSource) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = pa.Table.from_batches(
        list(source.batches), schema=source.schema
    ).to_pylist()
    return rows


def _write_parquet(path: Path, table: pa.Table = TABLE) -> Path:
    pq.write_table(table, path)
    return path


def _write_csv(path: Path, text: str = "id,name\n1,a\n2,b\n3,\n") -> Path:
    path.write_text(text)
    return path


def test_a_pandas_frame_is_read_without_its_index() -> None:
    frame = pd.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None]}, index=[7, 8, 9])

    source = open_source(frame)

    assert source.description == "pandas.DataFrame"
    assert source.rows_total == 3
    assert source.schema.names == ["id", "name"]
    assert _rows(source) == TABLE.to_pylist()


def test_a_polars_frame_is_read() -> None:
    source = open_source(pl.DataFrame({"id": [1, 2, 3], "name": ["a", "b", None]}))

    assert (source.description, source.rows_total) == ("polars.DataFrame", 3)
    assert _rows(source) == TABLE.to_pylist()


def test_a_table_is_read_in_batches() -> None:
    source = open_source(TABLE)

    assert (source.description, source.rows_total) == ("pyarrow.Table", 3)
    assert _rows(source) == TABLE.to_pylist()


def test_a_record_batch_reader_has_no_known_total() -> None:
    reader = pa.RecordBatchReader.from_batches(TABLE.schema, TABLE.to_batches(max_chunksize=1))

    source = open_source(reader)

    assert (source.description, source.rows_total) == ("pyarrow.RecordBatchReader", None)
    assert _rows(source) == TABLE.to_pylist()


def test_a_parquet_file_is_streamed_with_its_row_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write_parquet(tmp_path / "tx.parquet")

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a source file must be streamed, never read whole")

    monkeypatch.setattr(pq, "read_table", refuse)
    monkeypatch.setattr(pq.ParquetFile, "read", refuse)
    source = open_source(path)

    assert (source.description, source.rows_total) == (str(path), 3)
    assert _rows(source) == TABLE.to_pylist()


def test_a_parquet_file_is_read_one_row_group_at_a_time(tmp_path: Path) -> None:
    path = tmp_path / "big.parquet"
    rows = 1 << 17  # 1 MiB of int64 per row group, 16 row groups
    pq.write_table(
        pa.table({"x": pa.array(range(16 * rows), pa.int64())}), path, row_group_size=rows
    )
    before = pa.total_allocated_bytes()
    peak = 0

    for _ in open_source(path).batches:
        peak = max(peak, pa.total_allocated_bytes() - before)

    assert peak < 6 << 20  # the whole file is 16 MiB in memory


def test_a_csv_file_is_streamed_without_a_known_total(tmp_path: Path) -> None:
    path = _write_csv(tmp_path / "tx.csv")

    source = open_source(str(path))

    assert (source.description, source.rows_total) == (str(path), None)
    assert _rows(source) == TABLE.to_pylist()


def test_a_relative_path_is_described_absolute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_parquet(tmp_path / "tx.parquet")
    monkeypatch.chdir(tmp_path)

    assert open_source("tx.parquet").description == str(tmp_path / "tx.parquet")


def test_a_directory_reads_its_files_sorted_skipping_hidden_ones(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "b.parquet", TABLE.slice(1))
    _write_parquet(tmp_path / "a.parquet", TABLE.slice(0, 1))
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "_metadata").mkdir()
    _write_parquet(tmp_path / "_metadata" / "stale.parquet", TABLE)
    (tmp_path / "notes.txt").write_text("not data")

    source = open_source(tmp_path)

    assert (source.description, source.rows_total) == (str(tmp_path), 3)
    assert _rows(source) == TABLE.to_pylist()


def test_a_glob_reads_the_matching_files_sorted(tmp_path: Path) -> None:
    _write_csv(tmp_path / "part-2.csv", "id,name\n3,\n")
    _write_csv(tmp_path / "part-1.csv", "id,name\n1,a\n2,b\n")
    _write_csv(tmp_path / "other.csv", "id,name\n9,z\n")
    pattern = str(tmp_path / "part-*.csv")

    source = open_source(pattern)

    assert (source.description, source.rows_total) == (pattern, None)
    assert _rows(source) == TABLE.to_pylist()


def test_later_files_are_cast_to_the_first_files_types(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "1.parquet", pa.table({"x": pa.array([1.5], pa.float64())}))
    _write_parquet(tmp_path / "2.parquet", pa.table({"x": pa.array([2], pa.int32())}))

    source = open_source(tmp_path)

    assert source.schema == pa.schema([pa.field("x", pa.float64())])
    assert _rows(source) == [{"x": 1.5}, {"x": 2.0}]


def test_files_with_other_columns_are_refused_naming_the_file(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "1.parquet")
    second = _write_parquet(tmp_path / "2.parquet", pa.table({"id": [4], "nom": ["d"]}))
    source = open_source(tmp_path)

    with pytest.raises(
        InvalidDatasetSourceError,
        match=rf"cannot add dataset from {second}: its columns \['id', 'nom'\] differ",
    ):
        _rows(source)


def test_files_whose_types_do_not_cast_are_refused_naming_the_file(tmp_path: Path) -> None:
    _write_csv(tmp_path / "1.csv", "x\n1\n")
    second = _write_csv(tmp_path / "2.csv", "x\nhello\n")
    source = open_source(tmp_path)

    with pytest.raises(
        InvalidDatasetSourceError, match=f"from {second}: its column types do not match"
    ):
        _rows(source)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("tx.parquet", b"PAR1 this is not parquet", "Parquet"),
        ("tx.parquet", b"", "Parquet file size is 0 bytes"),
        ("tx.csv", b"", "Empty CSV file"),
        ("tx.csv.gz", b"not gzip at all", "zlib inflate failed"),
    ],
)
def test_a_corrupt_file_is_refused_naming_it(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(InvalidDatasetSourceError, match=f"from {path}: .*{reason}"):
        _rows(open_source(path))


def test_a_csv_whose_later_rows_break_the_inferred_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tx.csv"
    # Types are inferred from the first block; a 20 MB first block of integers then a word.
    path.write_text("x\n" + "1\n" * 10_500_000 + "oops\n")

    with pytest.raises(InvalidDatasetSourceError, match=f"from {path}: .*conversion error"):
        _rows(open_source(path))


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda root: root / "missing.parquet", "no such file or directory"),
        (lambda root: root, "the directory holds no .parquet or .csv file"),
        (lambda root: str(root / "*.parquet"), "no Parquet or CSV file matches this glob"),
    ],
    ids=["missing", "empty-directory", "empty-glob"],
)
def test_a_path_without_data_is_refused(tmp_path: Path, make: object, reason: str) -> None:
    target = make(tmp_path)  # type: ignore[operator]

    with pytest.raises(InvalidDatasetSourceError) as caught:
        open_source(target)

    assert str(caught.value) == (
        f"cannot add dataset from {os.path.abspath(target)}: {reason}; nothing was stored"
    )


def test_an_unsupported_file_type_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tx.json"
    path.write_text("{}")

    with pytest.raises(InvalidDatasetSourceError, match=r"unsupported file type; use a \.parquet"):
        open_source(path)


@pytest.mark.parametrize("source", [42, {"id": [1]}, [1, 2]])
def test_an_unsupported_source_type_is_refused(source: object) -> None:
    with pytest.raises(InvalidDatasetSourceError) as caught:
        open_source(source)

    assert str(caught.value).startswith(
        f"cannot add dataset from a {type(source).__name__}: unsupported source; give a pandas"
    )
