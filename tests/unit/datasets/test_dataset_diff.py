"""Diffs of two dataset versions from their stored schemas and summaries."""

from __future__ import annotations

import json
from pathlib import Path

from modelyard.artifacts import LocalArtifactStore
from modelyard.datasets import ColumnChange, ColumnSchema, ColumnSummary, DatasetDiff, SchemaChange
from modelyard.datasets.diff import diff_versions
from modelyard.datasets.versions import DatasetFiles, DatasetVersion
from modelyard.ids import DatasetVersionId


def _version(
    tmp_path: Path,
    number: int,
    columns: dict[str, tuple[str, ColumnSummary]],
    num_rows: int = 100,
) -> DatasetVersion:
    return DatasetVersion(
        id=DatasetVersionId(f"{number:032x}"),
        name="tx",
        version=number,
        digest="sha256:" + f"{number:x}" * 64,
        num_rows=num_rows,
        num_columns=len(columns),
        size_bytes=1,
        schema=tuple(ColumnSchema(name, kind) for name, (kind, _) in columns.items()),
        summary={name: summary for name, (_, summary) in columns.items()},
        source="pandas.DataFrame",
        description="",
        tags=(),
        created_by_run=None,
        created_by=None,
        created_at_ms=0,
        _files=DatasetFiles(LocalArtifactStore(tmp_path), tmp_path),
    )


AMOUNT = ColumnSummary(null_count=0, min=1.0, max=90.0, mean=20.0, std=5.0, approx_distinct=80)
CARD = ColumnSummary(null_count=0, min="c1", max="c9", approx_distinct=40)


def test_identical_versions_have_no_changes(tmp_path: Path) -> None:
    a = _version(tmp_path, 1, {"amount": ("double", AMOUNT)})
    b = _version(tmp_path, 2, {"amount": ("double", AMOUNT)})

    diff = diff_versions(a, b)

    assert diff == DatasetDiff(old="tx/1", new="tx/2", old_rows=100, new_rows=100)
    assert diff.has_schema_changes is False


def test_schema_changes_are_removed_renamed_retyped_then_added(tmp_path: Path) -> None:
    a = _version(
        tmp_path,
        1,
        {
            "amount": ("double", AMOUNT),
            "card_id": ("string", CARD),
            "legacy": ("int64", ColumnSummary(null_count=100)),
        },
    )
    b = _version(
        tmp_path,
        2,
        {
            "amount_usd": ("double", AMOUNT),
            "card_id": ("int64", ColumnSummary(null_count=0)),
            "channel": ("string", ColumnSummary(null_count=3)),
        },
        num_rows=120,
    )

    diff = diff_versions(a, b)

    assert diff.schema_changes == (
        SchemaChange("removed", "legacy", "legacy removed", old_type="int64"),
        SchemaChange(
            "renamed",
            "amount",
            "amount renamed to amount_usd? (double)",
            "amount_usd",
            "double",
            "double",
        ),
        SchemaChange(
            "retyped",
            "card_id",
            "card_id retyped from string to int64",
            old_type="string",
            new_type="int64",
        ),
        SchemaChange("added", "channel", "channel added", new_type="string"),
    )
    assert diff.has_schema_changes is True
    assert diff.rows_delta == 20


def test_a_renamed_column_is_recognised_by_its_statistics_alone(tmp_path: Path) -> None:
    a = _version(tmp_path, 1, {"amt": ("double", AMOUNT), "x": ("double", CARD)})
    b = _version(tmp_path, 2, {"value": ("double", AMOUNT), "x": ("double", CARD)})

    assert [change.kind for change in diff_versions(a, b).schema_changes] == ["renamed"]


def test_unrelated_columns_of_one_type_are_not_a_rename(tmp_path: Path) -> None:
    a = _version(tmp_path, 1, {"amount": ("double", AMOUNT)})
    b = _version(tmp_path, 2, {"latitude": ("double", ColumnSummary(null_count=0, mean=48.1))})

    assert [change.kind for change in diff_versions(a, b).schema_changes] == ["removed", "added"]


def test_column_changes_compare_the_stored_statistics(tmp_path: Path) -> None:
    a = _version(tmp_path, 1, {"amount": ("double", AMOUNT)})
    after = ColumnSummary(null_count=30, min=1.0, max=500.0, mean=20.0, std=5.0, approx_distinct=80)
    b = _version(tmp_path, 2, {"amount": ("double", after)}, num_rows=120)

    diff = diff_versions(a, b)

    assert diff.column_changes == (
        ColumnChange("amount", "null_rate", 0.0, 0.25),
        ColumnChange("amount", "max", 90.0, 500.0),
    )
    assert json.loads(json.dumps(diff.to_dict())) == {
        "old": "tx/1",
        "new": "tx/2",
        "rows": {"old": 100, "new": 120, "delta": 20},
        "has_schema_changes": False,
        "schema_changes": [],
        "column_changes": [
            {"column": "amount", "statistic": "null_rate", "old": 0.0, "new": 0.25},
            {"column": "amount", "statistic": "max", "old": 90.0, "new": 500.0},
        ],
    }
