"""The online store protocol: latest feature values per entity, read by key at serving time."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from modelyard.errors import FeaturePushRejectedError, InvalidNameError

EntityKey = tuple[object, ...]
"""The join-key values of one entity in the order of its join keys: ``(42,)``, ``("eu", 7)``."""

_VIEW_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,199}")


@dataclass(frozen=True, slots=True)
class OnlineRow:
    """The stored values of one entity in one feature view.

    Attributes:
        event_ms: the event time of the values, in milliseconds since the Unix epoch.
        values: feature name -> value (``None`` for a null).
    """

    event_ms: int
    values: dict[str, object]


class OnlineStore(Protocol):
    """Latest feature values per (view, entity), written by materialization and read by serving.

    Every backend passes tests/conformance/test_online_stores.py.
    """

    @property
    def url(self) -> str:
        """Where the store lives, with any password replaced by ***."""
        ...

    def write(
        self,
        view: str,
        keys: Sequence[EntityKey],
        event_ms: Sequence[int],
        values: pa.Table,
    ) -> int:
        """Upsert one row per entity; a stored row is replaced only by one at least as new.

        Late data never overwrites newer values: a row whose ``event_ms`` is older than the
        stored one is skipped. When ``keys`` names an entity twice, the newest row wins (the
        last one on a tie).

        Args:
            view: the feature view name.
            keys: the entity keys, one per row of ``values``.
            event_ms: the event time of each row, in milliseconds since the Unix epoch.
            values: the feature columns, one row per key.

        Returns:
            How many entities were inserted or replaced.

        Raises:
            InvalidNameError: ``view`` is not a valid view name.
            InvalidEntityFrameError: a key holds a value that cannot be a join key.
            FeaturePushRejectedError: the lengths differ, or a column has an unsupported type.
            OnlineStoreUnavailableError: the store cannot be reached or written.
        """
        ...

    def read(self, view: str, keys: Sequence[EntityKey]) -> list[OnlineRow | None]:
        """Return the stored row of each key, in key order; ``None`` where there is none.

        Raises:
            InvalidNameError: ``view`` is not a valid view name.
            InvalidEntityFrameError: a key holds a value that cannot be a join key.
            OnlineStoreUnavailableError: the store cannot be reached.
            CorruptOnlineRowError: a stored row cannot be decoded.
        """
        ...

    def delete_view(self, view: str) -> None:
        """Remove every row of ``view``; other views are untouched.

        Raises:
            InvalidNameError: ``view`` is not a valid view name.
            OnlineStoreUnavailableError: the store cannot be reached or written.
        """
        ...

    def close(self) -> None:
        """Release connections; the store may not be used afterwards."""
        ...


def check_view_name(view: str) -> str:
    """Return ``view`` when it can name a view in every backend's key space.

    Raises:
        InvalidNameError: it is empty, too long, or holds characters other than letters,
            digits, ``_``, ``.`` and ``-`` (a ``:`` would make Redis keys ambiguous).
    """
    if not _VIEW_NAME.fullmatch(view):
        raise InvalidNameError(
            "feature view name",
            view,
            "use 1-200 letters, digits, '_', '.' or '-', not starting with '.' or '-'",
        )
    return view


def check_write_shape(
    view: str, keys: Sequence[EntityKey], event_ms: Sequence[int], values: pa.Table
) -> None:
    """Check a write's arguments line up before anything is encoded.

    Raises:
        FeaturePushRejectedError: the lengths differ or a column name repeats.
    """
    problems: list[str] = []
    if not len(keys) == len(event_ms) == values.num_rows:
        problems.append(
            f"{len(keys)} keys, {len(event_ms)} event times and {values.num_rows} rows of "
            "values; give one of each per entity"
        )
    names = values.column_names
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        problems.append(f"column names repeat: {', '.join(repeated)}")
    if problems:
        raise FeaturePushRejectedError(view, problems)


def newest_per_key(encoded_keys: Sequence[bytes], event_ms: Sequence[int]) -> list[int]:
    """Return the row indexes to write: per key the newest row, the last one on a tie.

    A write that names a key twice thus ends as if the rows were written one after another.
    """
    best: dict[bytes, int] = {}
    for index, key in enumerate(encoded_keys):
        previous = best.get(key)
        if previous is None or event_ms[index] >= event_ms[previous]:
            best[key] = index
    if len(best) == len(encoded_keys):
        return list(range(len(encoded_keys)))
    return sorted(best.values())
