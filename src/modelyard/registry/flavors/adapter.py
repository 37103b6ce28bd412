"""Turns caller data into model input, checking it against the signature on a cached fast path.

The hot path (one request, one small frame) must cost little more than the conversion to
numpy the model needs anyway. So the adapter remembers the last column index it accepted (an
Index is immutable: the same object means the same columns) and, per tuple of column dtypes,
whether those dtypes are accepted. A frame that passes both, and holds no null where the
signature forbids one, goes straight through; anything else takes the full
:meth:`Signature.check`, which either raises the detailed error or accepts the frame (columns
in another order, a nullable column left out, numbers in an object column), after which the
frame is put into signature order and types.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelyard.registry.flavors.dtypes import (
    FLOATS,
    INTEGERS,
    accepts,
    can_hold_nulls,
    canonical_dtype,
    is_masked,
)
from modelyard.registry.flavors.signature import Array, ColumnSpec, Signature

Matrix = npt.NDArray[np.float32]
_MAX_CACHED_DTYPES = 64


@dataclass(frozen=True)
class _Verdict:
    """What the fast path still has to do for frames with one tuple of column dtypes."""

    has_masked: bool  # to_numpy needs na_value (pd.NA cannot become a float otherwise)
    null_columns: tuple[str, ...]  # non-nullable columns whose dtype can hold a null
    nan_positions: npt.NDArray[np.intp] | None  # matrix columns to test for NaN; None: all


class InputAdapter:
    """Prepares data for a model: a checked frame, a float32 matrix, per-column arrays.

    Safe to share between threads: its caches only ever hold correct entries.
    """

    def __init__(self, signature: Signature) -> None:
        self.signature = signature
        self._names = list(signature.input_names)
        self._specs = signature.inputs
        self._index = pd.Index(self._names)
        to_arrow = getattr(self._index.array, "__arrow_array__", None)
        self._arrow_names: object | None = to_arrow() if to_arrow is not None else None
        self._seen_columns: pd.Index | None = None
        self._verdicts: dict[tuple[object, ...], _Verdict | None] = {}
        # The dtypes of the last frame seen and their verdict, read and replaced as one tuple.
        self._last: tuple[list[object] | None, _Verdict | None] = (None, None)
        self._tensor = signature.inputs[0] if signature.input_kind == "tensor" else None
        self._tensor_dtype = _numpy_dtype(self._tensor) if self._tensor is not None else None

    def preparer(self, form: str) -> Callable[[object], object]:
        """Return the method that turns caller data into ``form`` (``raw``: unchanged)."""
        if form == "frame":
            return self.frame if self.signature.input_kind == "dataframe" else self.tensor
        if form == "matrix":
            return self.matrix
        if form == "tensor":
            return self.tensor
        return _unchanged

    # ----------------------------------------------------------------- frames

    def frame(self, data: object) -> pd.DataFrame:
        """Return ``data`` checked, with the signature's columns in order.

        Raises:
            SignatureMismatchError: the data does not match the signature.
        """
        verdict = self._fast_verdict(data)
        if verdict is None:
            return self._slow_frame(data)
        assert isinstance(data, pd.DataFrame)  # the fast verdict is only given to frames
        if verdict.null_columns and any(data[name].hasnans for name in verdict.null_columns):
            self.signature.check(data)
        return data

    def matrix(self, data: object) -> Matrix:
        """Return every input column as one float32 matrix (the signature is all numeric).

        Raises:
            SignatureMismatchError: the data does not match the signature.
        """
        if self._tensor is not None:
            return self.tensor(data).astype(np.float32, copy=False)
        verdict = self._fast_verdict(data)
        if verdict is None:
            return self._slow_frame(data).to_numpy(dtype=np.float32, na_value=np.nan)
        assert isinstance(data, pd.DataFrame)
        if verdict.has_masked:
            matrix = data.to_numpy(dtype=np.float32, na_value=np.nan)
        else:
            matrix = data.to_numpy(dtype=np.float32)
        if verdict.null_columns:
            checked = matrix if verdict.nan_positions is None else matrix[:, verdict.nan_positions]
            flat = checked.ravel(order="K")
            # x·x is NaN exactly when some x is NaN (inf·inf is inf), and one BLAS call is
            # cheaper than isnan + any.
            if math.isnan(np.dot(flat, flat)):
                self.signature.check(data)
        return matrix

    def columns(self, data: object, kinds: dict[str, str]) -> dict[str, Array]:
        """Return one [N, 1] array per input named in ``kinds`` (input name → ONNX kind).

        Kinds: ``float``, ``double``, ``int64``, ``bool``, ``string``. A nullable column left
        out of ``data`` comes as nulls (NaN, or "" for strings).

        Raises:
            SignatureMismatchError: the data does not match the signature.
        """
        frame = self.frame(data)
        return {name: _column_array(frame[name], kind) for name, kind in kinds.items()}

    # ----------------------------------------------------------------- tensors

    def tensor(self, data: object) -> Array:
        """Return the checked input array, in the signature's dtype.

        Raises:
            SignatureMismatchError: the data does not match the signature.
        """
        spec, dtype = self._tensor, self._tensor_dtype
        assert spec is not None  # only tensor signatures call this
        if type(data) is np.ndarray and data.dtype == dtype and _fits(spec.shape, data.shape):
            if not spec.nullable and data.dtype.kind == "f" and np.isnan(data).any():
                self.signature.check(data)
            return data
        self.signature.check(data)
        assert isinstance(data, np.ndarray)  # the check accepts only arrays here
        return data.astype(dtype) if dtype is not None else data

    # ----------------------------------------------------------------- internals

    def _fast_verdict(self, data: object) -> _Verdict | None:
        if type(data) is not pd.DataFrame:
            return None
        columns = data.columns
        if columns is not self._seen_columns:
            if not self._is_expected(columns):
                return None
            self._seen_columns = columns
        dtypes = _dtypes(data)
        last_dtypes, last_verdict = self._last
        if dtypes == last_dtypes:
            # Builtin numpy dtypes are singletons: this compares identities, no hashing.
            return last_verdict
        key = tuple(dtypes)
        try:
            verdict = self._verdicts[key]
        except KeyError:
            verdict = self._judge(key)
            if len(self._verdicts) < _MAX_CACHED_DTYPES:
                self._verdicts[key] = verdict
        self._last = (dtypes, verdict)
        return verdict

    def _is_expected(self, columns: pd.Index) -> bool:
        # Index.equals costs ~5 µs on pandas' Arrow-backed string index (the default); the
        # Arrow arrays compare in ~2 µs through the Arrow protocol. Any other index (object
        # dtype, another Arrow string type) takes Index.equals, which is always right.
        to_arrow = getattr(columns.array, "__arrow_array__", None)
        expected = self._arrow_names
        if to_arrow is not None and expected is not None and bool(to_arrow().equals(expected)):
            return True
        return bool(columns.equals(self._index))

    def _judge(self, dtypes: tuple[object, ...]) -> _Verdict | None:
        names = [canonical_dtype(dtype) for dtype in dtypes]
        if any(
            name == "object" or not accepts(spec.dtype, name)
            for spec, name in zip(self._specs, names, strict=True)
        ):
            # Object columns need their values looked at; a rejected type needs the full
            # check's message. Both take the slow path.
            return None
        null_columns = tuple(
            spec.name
            for spec, dtype in zip(self._specs, dtypes, strict=True)
            if not spec.nullable and can_hold_nulls(dtype)
        )
        nan_positions = None
        if any(
            spec.nullable and can_hold_nulls(dtype)
            for spec, dtype in zip(self._specs, dtypes, strict=True)
        ):
            positions = [self._names.index(name) for name in null_columns]
            nan_positions = np.asarray(positions, dtype=np.intp)
        return _Verdict(
            has_masked=any(is_masked(dtype) for dtype in dtypes),
            null_columns=null_columns,
            nan_positions=nan_positions,
        )

    def _slow_frame(self, data: object) -> pd.DataFrame:
        self.signature.check(data)
        assert isinstance(data, pd.DataFrame)  # a frame signature accepts only frames
        frame = data.reindex(columns=self._names)
        for spec in self._specs:
            if canonical_dtype(frame[spec.name].dtype) == "object":
                frame[spec.name] = _from_objects(frame[spec.name], spec)
        return frame


def _unchanged(data: object) -> object:
    return data


def _dtypes(frame: pd.DataFrame) -> list[object]:
    # DataFrame.dtypes builds a Series (~20 µs); the block manager has the same list as an
    # array (~0.6 µs as a list). Fall back to the public attribute should pandas move it.
    get_dtypes = getattr(getattr(frame, "_mgr", None), "get_dtypes", None)
    if get_dtypes is not None:
        dtypes: list[object] = get_dtypes().tolist()
        return dtypes
    return list(frame.dtypes)


def _fits(expected: tuple[int | None, ...] | None, actual: tuple[int, ...]) -> bool:
    if expected is None:
        return True
    return len(expected) == len(actual) and all(
        want is None or want == got for want, got in zip(expected, actual, strict=True)
    )


def _numpy_dtype(spec: ColumnSpec) -> np.dtype[np.generic] | None:
    if spec.dtype in FLOATS or spec.dtype in INTEGERS or spec.dtype == "bool":
        return np.dtype(spec.dtype)
    return None


def _from_objects(series: pd.Series, spec: ColumnSpec) -> pd.Series:
    # An object column the full check accepted: numbers (from JSON, say) or strings.
    if spec.dtype in FLOATS or spec.dtype in INTEGERS:
        return pd.to_numeric(series)
    if spec.dtype == "bool":
        return series.astype("boolean" if spec.nullable else bool)
    return series


def _column_array(series: pd.Series, kind: str) -> Array:
    if kind == "float":
        return series.to_numpy(dtype=np.float32, na_value=np.nan).reshape(-1, 1)
    if kind == "double":
        return series.to_numpy(dtype=np.float64, na_value=np.nan).reshape(-1, 1)
    if kind == "int64":
        return series.to_numpy(dtype=np.int64).reshape(-1, 1)
    if kind == "bool":
        return series.to_numpy(dtype=np.bool_).reshape(-1, 1)
    values = series.to_numpy(dtype=object)
    missing = pd.isna(values)
    if missing.any():
        values = values.copy()
        values[missing] = ""
    return np.asarray([str(value) for value in values], dtype=object).reshape(-1, 1)
