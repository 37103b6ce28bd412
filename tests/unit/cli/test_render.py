"""Tests of modelyard/cli/render.py: durations and JSON conversion."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from modelyard.cli.render import duration, to_jsonable


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (None, "running"),
        (0.85, "850ms"),
        (12.34, "12.3s"),
        (245, "4m05s"),
        (7380, "2h03m"),
        (47 * 3600 + 59 * 60, "47h59m"),
        (3 * 86_400 + 4 * 3600 + 59, "3d04h"),
        (20_377_484, "235d20h"),
    ],
)
def test_duration(seconds: float | None, shown: str) -> None:
    assert duration(seconds) == shown


@dataclass(frozen=True)
class _Handle:
    name: str
    _store: object = field(default=None, repr=False)


def test_to_jsonable_leaves_out_private_fields() -> None:
    assert to_jsonable(_Handle("tx", _store=object())) == {"name": "tx"}
