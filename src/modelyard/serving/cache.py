"""The prediction cache: a bounded LRU of model outputs keyed on the canonical input row.

Only for deterministic models whose features do not change under a given input: the server
looks a row up by :func:`canonical_key` before queueing it for the model, and stores the
model's answer after.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt
import orjson

from modelyard.errors import InvalidServingConfigError

# Types whose repr() is already canonical and cannot be mistaken for another type's.
_PLAIN: frozenset[type] = frozenset({str, int, float, bool, type(None), bytes})


class PredictionCache:
    """A thread-safe LRU cache of bounded size.

    ``get`` returns None on a miss, so caching None as a value is pointless.

    Args:
        capacity: the most entries kept; putting one more evicts the least recently used.

    Raises:
        InvalidServingConfigError: ``capacity`` is not an integer of at least 1.
    """

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise InvalidServingConfigError(
                "cache_size", f"must be an integer >= 1, not {capacity!r} (0 means no cache)"
            )
        self._capacity = capacity
        self._entries: OrderedDict[bytes, object] = OrderedDict()
        self._lock = threading.Lock()
        self._hits = 0
        self._misses = 0

    @property
    def capacity(self) -> int:
        """The most entries kept."""
        return self._capacity

    @property
    def hits(self) -> int:
        """Lookups that found an entry."""
        return self._hits

    @property
    def misses(self) -> int:
        """Lookups that found nothing."""
        return self._misses

    @property
    def size(self) -> int:
        """Entries held now."""
        return len(self._entries)

    @property
    def hit_ratio(self) -> float:
        """Hits over lookups (0.0 before the first lookup)."""
        with self._lock:
            asked = self._hits + self._misses
            return self._hits / asked if asked else 0.0

    def get(self, key: bytes) -> object | None:
        """Return the value stored under ``key`` (now the most recently used), or None."""
        with self._lock:
            value = self._entries.get(key)
            if value is None:
                self._misses += 1
                return None
            self._entries.move_to_end(key)
            self._hits += 1
            return value

    def put(self, key: bytes, value: object) -> None:
        """Store ``value`` under ``key`` as the most recently used; evict beyond capacity."""
        with self._lock:
            self._entries[key] = value
            self._entries.move_to_end(key)
            if len(self._entries) > self._capacity:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        """Drop every entry (the hit and miss counts stay)."""
        with self._lock:
            self._entries.clear()


def canonical_key(values: Sequence[object] | npt.NDArray[np.generic]) -> bytes:
    """Return the canonical bytes of one input row, for :class:`PredictionCache`.

    The values come in signature order, already coerced to their columns' types. Two rows get
    the same key exactly when their values are equal with the same types, with these rules:

    - None, NaN and 0 differ; every NaN is the same value (its payload is ignored).
    - ``-0.0`` and ``0.0`` get different keys: a cache miss, never a wrong answer.
    - Types are kept: the string ``"1"``, the integer ``1``, the float ``1.0`` and ``True`` all
      differ.
    - numpy scalars are their Python values (``np.float32(0.5)`` is ``0.5``); lists, tuples and
      numpy arrays are sequences of their items (a list and a tuple of equal items are the
      same); any other object is its type's name and its ``repr``.

    A row of plain values (str, int, float, bool, None, numpy scalars) is its compact JSON
    (orjson: about 2 µs for 20 values); a NaN or an infinity there is written as a mapping
    (``{"float":"nan"}``) behind a ``!``; any other row is the ``repr`` of its canonical values
    behind a ``~``. The three forms never meet.

    Args:
        values: one row's values, in signature order (a 1-D numpy array is its items).

    Returns:
        The key.

    Example:
        >>> canonical_key([1.5, "DE", None, 3])
        b'[1.5,"DE",null,3]'
    """
    row: Sequence[object]
    if type(values) is list or type(values) is tuple:
        row = values
    elif isinstance(values, np.ndarray):
        row = values.tolist()
    else:
        row = list(values)
    if _FAST_TYPES.issuperset(map(type, row)):
        try:
            encoded = orjson.dumps(row, default=_scalar)
        except TypeError:  # orjson.JSONEncodeError: an int beyond 64 bits
            pass
        else:
            # orjson writes NaN and infinities as null, like None: when the nulls outnumber
            # the Nones (a NaN, or "null" inside a string), they are marked and told apart.
            if encoded.count(b"null") == row.count(None):
                return encoded
            marked = [
                _non_finite(value) if type(value) is float and not math.isfinite(value) else value
                for value in row
            ]
            return b"!" + orjson.dumps(marked, default=_marked_scalar)
    return b"~" + repr(_canonical_row(row)).encode("utf-8", "backslashreplace")


def _non_finite(value: float) -> dict[str, str]:
    # A row of plain values holds no mapping, so {"float": ...} cannot be mistaken for a value.
    return {"float": "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")}


def _scalar(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


def _marked_scalar(value: object) -> object:
    item = _scalar(value)
    if isinstance(item, float) and not math.isfinite(item):
        return _non_finite(item)
    return item


_NUMPY_SCALARS = (
    np.float64, np.float32, np.float16, np.int64, np.int32, np.int16, np.int8,
    np.uint64, np.uint32, np.uint16, np.uint8, np.bool_,
)  # fmt: skip
_FAST_TYPES: frozenset[type] = frozenset({str, int, float, bool, type(None), *_NUMPY_SCALARS})


def _canonical_row(values: Iterable[object]) -> tuple[object, ...]:
    return tuple(value if type(value) in _PLAIN else _canonical(value) for value in values)


def _canonical(value: object) -> object:
    if isinstance(value, np.ndarray):
        return _canonical_row(value.tolist()) if value.ndim else _canonical(value.item())
    if isinstance(value, np.generic):
        return _canonical(value.item())
    if isinstance(value, float):
        return float(value)  # repr() writes every NaN as "nan"
    if isinstance(value, list | tuple):
        return _canonical_row(value)
    return _Opaque(f"{type(value).__module__}.{type(value).__qualname__}", repr(value))


class _Opaque:
    """A value of another type, written so that it cannot read as a plain value."""

    __slots__ = ("kind", "text")

    def __init__(self, kind: str, text: str) -> None:
        self.kind, self.text = kind, text

    def __repr__(self) -> str:
        # '<' starts no repr of a plain value, and the quoted text cannot end the marker early.
        return f"<{self.kind} {self.text!r}>"
