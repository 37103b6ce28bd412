"""Canonical dtype names for model signatures, and which data dtypes each one accepts.

A signature names column types with a small vocabulary that does not depend on how pandas or
numpy stores the values: ``float64``, ``float32``, ``int64`` … ``int8``, ``uint64`` … ``uint8``,
``bool``, ``string``, ``category``, ``datetime64[ns]`` (``datetime64[ns, <tz>]`` when
zone-aware), ``timedelta64[ns]`` and ``object`` for anything else. Nullable pandas dtypes
(``Int64``, ``Float64``, ``boolean``) take the name of their values; that they hold nulls is the
column's ``nullable`` flag, not part of its type.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

FLOATS = frozenset({"float64", "float32", "float16"})
SIGNED = frozenset({"int64", "int32", "int16", "int8"})
UNSIGNED = frozenset({"uint64", "uint32", "uint16", "uint8"})
INTEGERS = SIGNED | UNSIGNED
NUMERIC = FLOATS | INTEGERS | {"bool"}
TEXT = frozenset({"string", "category"})

_OBJECT_VALUE_KINDS = {
    "string": "string",
    "boolean": "bool",
    "integer": "int64",
    "floating": "float64",
    "mixed-integer-float": "float64",
}


def canonical_dtype(dtype: object) -> str:
    """Return the canonical signature name of a numpy or pandas dtype.

    An ``object`` column is named ``object`` here; :func:`column_dtype` looks at its values.

    Args:
        dtype: a ``numpy.dtype`` or a pandas extension dtype.

    Returns:
        The canonical name, e.g. ``"float64"``, ``"string"``, ``"datetime64[ns, UTC]"``.
    """
    if isinstance(dtype, pd.CategoricalDtype):
        return "category"
    if isinstance(dtype, pd.StringDtype):
        return "string"
    if isinstance(dtype, pd.DatetimeTZDtype):
        return f"datetime64[ns, {dtype.tz}]"
    if isinstance(dtype, pd.BooleanDtype):
        return "bool"
    if isinstance(dtype, pd.ArrowDtype) and dtype.kind in ("O", "U"):
        return "string"
    numpy_dtype = getattr(dtype, "numpy_dtype", None)
    if numpy_dtype is not None and not isinstance(dtype, np.dtype):
        # Masked nullable dtypes (Int64, Float32, …) and Arrow numbers: named after the values.
        return canonical_dtype(numpy_dtype)
    if not isinstance(dtype, np.dtype):
        return "object"
    if dtype.kind == "M":
        return "datetime64[ns]"
    if dtype.kind == "m":
        return "timedelta64[ns]"
    if dtype.kind == "U":
        return "string"
    if dtype.kind == "b":
        return "bool"
    if dtype.kind in "iuf":
        return dtype.name
    return "object"


def column_dtype(series: pd.Series) -> str:
    """Return the canonical name of a column's type, looking at the values of object columns.

    Args:
        series: the column.

    Returns:
        The canonical name; an object column of strings is ``"string"``, of ints ``"int64"``.
    """
    name = canonical_dtype(series.dtype)
    if name != "object":
        return name
    kind = pd.api.types.infer_dtype(series, skipna=True)
    return _OBJECT_VALUE_KINDS.get(kind, "object")


_MASKED = (
    pd.BooleanDtype,
    pd.Int64Dtype,
    pd.Int32Dtype,
    pd.Int16Dtype,
    pd.Int8Dtype,
    pd.UInt64Dtype,
    pd.UInt32Dtype,
    pd.UInt16Dtype,
    pd.UInt8Dtype,
    pd.Float64Dtype,
    pd.Float32Dtype,
)


def is_masked(dtype: object) -> bool:
    """Return whether a dtype is one of pandas' nullable masked dtypes (Int64, boolean, …)."""
    return isinstance(dtype, _MASKED)


def accepts(expected: str, actual: str) -> bool:
    """Return whether a column declared ``expected`` takes values of type ``actual``.

    Numbers widen into floats (an int column feeds a float input), integers of any width feed
    an integer input, strings and categories feed each other, any datetime unit feeds a
    datetime input of the same zone, and ``object`` takes anything.

    Args:
        expected: the canonical dtype a signature declares.
        actual: the canonical dtype of the data.

    Returns:
        True when the data is acceptable as it is.
    """
    if expected == actual or expected == "object":
        return True
    if expected in FLOATS:
        return actual in NUMERIC
    if expected in INTEGERS:
        return actual in INTEGERS or actual == "bool"
    if expected in TEXT:
        return actual in TEXT
    return False


def is_numeric(dtype_name: str) -> bool:
    """Return whether a canonical dtype is a number or a bool (it fits a float tensor)."""
    return dtype_name in NUMERIC


def can_hold_nulls(dtype: object) -> bool:
    """Return whether values of this dtype can be null (ints and bools cannot, unmasked)."""
    if isinstance(dtype, np.dtype):
        return dtype.kind not in "iub"
    return True
