"""The column builder of online lookups (features/store.py): values by feature, or None."""

from __future__ import annotations

from modelyard.features.online import OnlineRow
from modelyard.features.store import FeatureStatus, _columns

PRESENT, EXPIRED, NOT_FOUND = FeatureStatus.PRESENT, FeatureStatus.EXPIRED, FeatureStatus.NOT_FOUND


def test_values_by_feature_with_none_unless_present() -> None:
    rows = [OnlineRow(1, {"a": 1.0, "b": "x"}), OnlineRow(2, {"a": 2.0, "b": "y"}), None]

    assert _columns(rows, [PRESENT, EXPIRED, NOT_FOUND], ["b", "a"]) == [
        ["x", None, None],
        [1.0, None, None],
    ]
    assert _columns(rows, [PRESENT, PRESENT, NOT_FOUND], ["a"]) == [[1.0, 2.0, None]]


def test_a_feature_absent_from_an_older_row_is_none() -> None:
    rows = [OnlineRow(1, {"a": 1.0}), OnlineRow(2, {"a": 2.0, "b": 5})]

    assert _columns(rows, [PRESENT, PRESENT], ["a", "b"]) == [[1.0, 2.0], [None, 5]]


def test_no_entities_give_empty_columns() -> None:
    assert _columns([], [], ["a", "b"]) == [[], []]
