"""Dataset versions: sources snapshotted to Parquet by digest, resolved, diffed and read."""

from modelyard.datasets.diff import ColumnChange, DatasetDiff, SchemaChange
from modelyard.datasets.schema import ColumnSchema, ColumnSummary, TopValue
from modelyard.datasets.store import DatasetStore
from modelyard.datasets.versions import DatasetInfo, DatasetVersion

__all__ = [
    "ColumnChange",
    "ColumnSchema",
    "ColumnSummary",
    "DatasetDiff",
    "DatasetInfo",
    "DatasetStore",
    "DatasetVersion",
    "SchemaChange",
    "TopValue",
]
