"""Batch assembly: the checked columns of several requests made into one model input, and the
model's answer split back into one slice per request."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from modelyard.registry.flavors.dtypes import FLOATS, INTEGERS, TEXT
from modelyard.registry.flavors.signature import Array, ColumnSpec, Signature
from modelyard.serving.requests import Decoded

# Nullable pandas dtypes for integer and bool columns that hold a null.
_MASKED_NAMES = {
    "int64": "Int64",
    "int32": "Int32",
    "int16": "Int16",
    "int8": "Int8",
    "uint64": "UInt64",
    "uint32": "UInt32",
    "uint16": "UInt16",
    "uint8": "UInt8",
    "bool": "boolean",
}


@dataclass(frozen=True, slots=True)
class Answer:
    """One request's share of a model call."""

    labels: Array
    probabilities: Array | None


class Assembler:
    """Builds model input from decoded requests in the signature's column order.

    Args:
        signature: the model's signature.
    """

    def __init__(self, signature: Signature, *, takes_matrix: bool = False) -> None:
        self.signature = signature
        self._is_tensor = signature.input_kind == "tensor"
        # A float32 matrix costs a tenth of a frame to build; the rows are checked already.
        self._takes_matrix = takes_matrix
        self._specs = signature.inputs
        self._names = list(signature.input_names)

    def model_input(self, requests: Sequence[Decoded]) -> pd.DataFrame | Array:
        """Return one frame (or tensor) holding every request's rows, in request order."""
        if self._is_tensor:
            tensors = [request.tensor for request in requests if request.tensor is not None]
            return tensors[0] if len(tensors) == 1 else np.concatenate(tensors)
        if self._takes_matrix:
            if len(requests) == 1:
                columns = requests[0].columns
                rows = [columns[name] for name in self._names]
            else:
                rows = []
                for name in self._names:
                    joined: list[object] = []
                    for request in requests:
                        joined.extend(request.columns[name])
                    rows.append(joined)
            return np.ascontiguousarray(np.array(rows, dtype=np.float32).T)
        if len(requests) == 1:
            columns = requests[0].columns
            data = {spec.name: _column(spec, columns[spec.name]) for spec in self._specs}
        else:
            data = {}
            for spec in self._specs:
                values: list[object] = []
                for request in requests:
                    values.extend(request.columns[spec.name])
                data[spec.name] = _column(spec, values)
        return pd.DataFrame(data, columns=self._names, copy=False)

    @staticmethod
    def split(
        requests: Sequence[Decoded], labels: Array, probabilities: Array | None
    ) -> list[Answer]:
        """Return each request's rows of the answer."""
        if len(requests) == 1:
            return [Answer(labels, probabilities)]
        answers = []
        start = 0
        for request in requests:
            end = start + request.rows
            answers.append(
                Answer(
                    labels[start:end],
                    None if probabilities is None else probabilities[start:end],
                )
            )
            start = end
        return answers


def _column(spec: ColumnSpec, values: list[object]) -> object:
    dtype = spec.dtype
    if dtype in FLOATS:
        # None becomes NaN in a float array.
        return np.array(values, dtype=dtype)
    if dtype in INTEGERS or dtype == "bool":
        if spec.nullable and any(value is None for value in values):
            return pd.array(values, dtype=_MASKED_NAMES[dtype])  # type: ignore[call-overload]  # checked values
        return np.array(values, dtype=dtype)
    if dtype in TEXT:
        return pd.array(values, dtype="str")  # type: ignore[call-overload]  # checked strings
    if dtype.startswith("datetime64"):
        return pd.to_datetime(pd.Series(values, dtype=object), utc="UTC" in dtype)
    return np.array(values, dtype=object)
