"""Model signatures: the columns (or tensor) a model takes and returns, inferred and checked."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt
import pandas as pd

from modelyard.errors import InvalidInputError, SignatureMismatchError, close_matches
from modelyard.registry.flavors.dtypes import (
    accepts,
    canonical_dtype,
    column_dtype,
    is_masked,
)

Array = npt.NDArray[np.generic]
ModelInput = pd.DataFrame | Array
OutputExample = pd.DataFrame | pd.Series | Array | Mapping[str, Array]

INPUT_KINDS = ("dataframe", "tensor")
TENSOR_INPUT = "input"
PREDICTION_OUTPUT = "prediction"
WHOLE_INPUT = "<input>"


@dataclass(frozen=True)
class ColumnSpec:
    """One column of a signature (or its one tensor).

    Attributes:
        name: the column name (``"input"`` for a tensor).
        dtype: the canonical dtype (see ``dtypes.py``).
        nullable: whether nulls are allowed; a nullable input column may also be left out.
        shape: a tensor's shape with ``None`` for free dimensions; None for a plain column.
        pii: whether the column holds personal data: the prediction log hashes or drops it.
    """

    name: str
    dtype: str
    nullable: bool
    shape: tuple[int | None, ...] | None = None
    pii: bool = False

    def to_dict(self) -> dict[str, object]:
        """Return the spec as JSON-ready values (``"pii"`` only when true)."""
        data: dict[str, object] = {
            "name": self.name,
            "dtype": self.dtype,
            "nullable": self.nullable,
            "shape": None if self.shape is None else list(self.shape),
        }
        if self.pii:
            # Only when set, so that manifests stored before PII marking keep their digests.
            data["pii"] = True
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ColumnSpec:
        """Build a spec from :meth:`to_dict` output.

        Raises:
            InvalidInputError: a field is missing or has the wrong type.
        """
        name, dtype, nullable, shape = (
            data.get("name"),
            data.get("dtype"),
            data.get("nullable"),
            data.get("shape"),
        )
        if not isinstance(name, str) or not isinstance(dtype, str):
            raise InvalidInputError(f"column spec {dict(data)!r} needs a string name and dtype")
        if not isinstance(nullable, bool):
            raise InvalidInputError(f'column spec "{name}": nullable must be true or false')
        pii = data.get("pii", False)
        if not isinstance(pii, bool):
            raise InvalidInputError(f'column spec "{name}": pii must be true or false')
        if shape is None:
            return cls(name, dtype, nullable, pii=pii)
        if not isinstance(shape, list) or not all(
            dim is None or (isinstance(dim, int) and not isinstance(dim, bool)) for dim in shape
        ):
            raise InvalidInputError(f'column spec "{name}": shape must be a list of ints or null')
        return cls(name, dtype, nullable, tuple(shape), pii)


@dataclass(frozen=True)
class Signature:
    """What a model takes and returns.

    Attributes:
        inputs: the input columns, in the order the model was given them (one spec for a tensor).
        outputs: what ``predict`` (and ``predict_proba`` for classifiers) return.
        input_kind: ``"dataframe"`` or ``"tensor"``.
    """

    inputs: tuple[ColumnSpec, ...]
    outputs: tuple[ColumnSpec, ...]
    input_kind: str

    def __post_init__(self) -> None:
        if self.input_kind not in INPUT_KINDS:
            raise InvalidInputError(
                f"signature input_kind {self.input_kind!r} is invalid: expected one of "
                + ", ".join(INPUT_KINDS)
            )
        if self.input_kind == "tensor" and len(self.inputs) != 1:
            raise InvalidInputError(
                f"a tensor signature has exactly one input, not {len(self.inputs)}"
            )
        names = [spec.name for spec in self.inputs]
        if len(set(names)) != len(names):
            raise InvalidInputError(f"signature input names repeat: {', '.join(names)}")

    @property
    def input_names(self) -> tuple[str, ...]:
        """The input column names, in order."""
        return tuple(spec.name for spec in self.inputs)

    @property
    def pii_names(self) -> tuple[str, ...]:
        """The names of the inputs marked PII, in input order."""
        return tuple(spec.name for spec in self.inputs if spec.pii)

    def with_pii(self, names: Iterable[str]) -> Signature:
        """Return a copy with the named inputs marked PII (those already marked stay marked).

        Args:
            names: input column names; a single string is one name.

        Returns:
            The new signature.

        Raises:
            InvalidInputError: a name is not an input of the signature (the message lists the
                inputs and the close matches).

        Example:
            >>> signature = signature.with_pii(["customer_id", "email"])
        """
        wanted = {names} if isinstance(names, str) else set(names)
        known = self.input_names
        unknown = sorted(wanted - set(known))
        if unknown:
            named = ", ".join(f'"{name}"{_did_you_mean(name, known)}' for name in unknown)
            raise InvalidInputError(
                f"cannot mark {named} as PII: not an input of the signature; "
                f"the inputs are: {', '.join(known) or 'none'}"
            )
        inputs = tuple(
            replace(spec, pii=True) if spec.name in wanted else spec for spec in self.inputs
        )
        return replace(self, inputs=inputs)

    def check(self, data: object) -> None:
        """Check that ``data`` matches the inputs; report every problem at once.

        A nullable input column may be absent; every other input column must be present with
        an accepted type (see ``dtypes.accepts``) and, unless nullable, hold no nulls. Columns
        the signature does not name are rejected. Column order does not matter.

        Args:
            data: a pandas DataFrame (``"dataframe"`` kind) or a numpy array (``"tensor"``).

        Raises:
            SignatureMismatchError: naming the first bad column and its rule, with every
                problem in ``problems``.
        """
        if self.input_kind == "tensor":
            problems = _tensor_problems(self.inputs[0], data)
        else:
            problems = _frame_problems(self.inputs, data)
        if problems:
            column, rule = problems[0]
            raise SignatureMismatchError(column, rule, [f"{col}: {why}" for col, why in problems])

    def breaking_changes(self, newer: Signature) -> list[str]:
        """List how ``newer`` would break callers of this signature ([] when compatible).

        Compatible means every input this signature accepts is accepted by ``newer`` and every
        output callers read keeps its name, type and shape: a new nullable input, a widened
        type (int64 → float64), a column made nullable or a new output break nothing.

        Args:
            newer: the signature of the version that would replace this one.

        Returns:
            One human-readable line per break, in input then output order.
        """
        changes: list[str] = []
        if newer.input_kind != self.input_kind:
            changes.append(f"input kind changed from {self.input_kind} to {newer.input_kind}")
        new_inputs = {spec.name: spec for spec in newer.inputs}
        for old in self.inputs:
            new = new_inputs.get(old.name)
            if new is None:
                changes.append(f'input "{old.name}" was removed')
                continue
            if not accepts(new.dtype, old.dtype):
                changes.append(f'input "{old.name}" changed type from {old.dtype} to {new.dtype}')
            if old.nullable and not new.nullable:
                changes.append(f'input "{old.name}" no longer accepts nulls')
            if not _shape_accepts(new.shape, old.shape):
                changes.append(
                    f'input "{old.name}" changed shape from {_shape_text(old.shape)} to '
                    f"{_shape_text(new.shape)}"
                )
        old_names = set(self.input_names)
        changes.extend(
            f'new input "{spec.name}" is required (non-nullable)'
            for spec in newer.inputs
            if spec.name not in old_names and not spec.nullable
        )
        new_outputs = {spec.name: spec for spec in newer.outputs}
        for old in self.outputs:
            new = new_outputs.get(old.name)
            if new is None:
                changes.append(f'output "{old.name}" was removed')
            elif (new.dtype, new.shape) != (old.dtype, old.shape):
                changes.append(
                    f'output "{old.name}" changed from {old.dtype} {_shape_text(old.shape)} to '
                    f"{new.dtype} {_shape_text(new.shape)}"
                )
        return changes

    def to_dict(self) -> dict[str, object]:
        """Return the signature as JSON-ready values."""
        return {
            "input_kind": self.input_kind,
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": [spec.to_dict() for spec in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Signature:
        """Build a signature from :meth:`to_dict` output.

        Raises:
            InvalidInputError: the mapping is not a signature.
        """
        kind, inputs, outputs = data.get("input_kind"), data.get("inputs"), data.get("outputs")
        if not isinstance(kind, str) or not isinstance(inputs, list):
            raise InvalidInputError("a signature needs input_kind (a string) and inputs (a list)")
        if not isinstance(outputs, list):
            raise InvalidInputError("a signature needs outputs (a list)")
        return cls(_specs(inputs), _specs(outputs), kind)


def _specs(items: list[object]) -> tuple[ColumnSpec, ...]:
    specs = []
    for item in items:
        if not isinstance(item, Mapping):
            raise InvalidInputError(f"column spec {item!r} is not a mapping")
        specs.append(ColumnSpec.from_dict(item))
    return tuple(specs)


def infer_signature(input_example: object, output_example: object = None) -> Signature:
    """Infer a signature from example data.

    A DataFrame gives one spec per column (a column is nullable when the example holds a null
    in it or its dtype is a nullable pandas dtype); a numpy array gives a tensor signature whose
    first dimension is free.

    Args:
        input_example: a pandas DataFrame or a numpy array.
        output_example: what the model returns on it: an array (named ``"prediction"``), a
            Series, a DataFrame, a mapping of output name to array, or None (no outputs).

    Returns:
        The signature.

    Raises:
        InvalidInputError: the example is neither a DataFrame nor an array, or its column
            names are not unique strings.
    """
    if isinstance(input_example, pd.DataFrame):
        inputs = _frame_specs(input_example)
        kind = "dataframe"
    elif isinstance(input_example, np.ndarray):
        inputs = (_array_spec(TENSOR_INPUT, input_example),)
        kind = "tensor"
    else:
        raise InvalidInputError(
            "input_example must be a pandas DataFrame or a numpy array, got "
            + _type_name(input_example)
        )
    return Signature(inputs, _output_specs(output_example), kind)


def _frame_specs(frame: pd.DataFrame) -> tuple[ColumnSpec, ...]:
    names = list(frame.columns)
    bad = [repr(name) for name in names if not isinstance(name, str)]
    if bad:
        raise InvalidInputError(
            "column names must be strings; rename " + ", ".join(bad) + " (e.g. df.columns = "
            "df.columns.astype(str))"
        )
    if len(set(names)) != len(names):
        raise InvalidInputError(f"column names repeat: {', '.join(names)}")
    return tuple(_column_spec(str(name), frame[name]) for name in names)


def _column_spec(name: str, series: pd.Series) -> ColumnSpec:
    nullable = is_masked(series.dtype) or bool(series.isna().any())
    return ColumnSpec(name, column_dtype(series), nullable)


def _array_spec(name: str, array: Array) -> ColumnSpec:
    if array.ndim == 0:
        raise InvalidInputError(f'"{name}" must have at least one dimension, got a scalar')
    nullable = array.dtype.kind == "f" and bool(np.isnan(array).any())
    shape: tuple[int | None, ...] = (None, *(int(dim) for dim in array.shape[1:]))
    return ColumnSpec(name, canonical_dtype(array.dtype), nullable, shape)


def _output_specs(example: object) -> tuple[ColumnSpec, ...]:
    if example is None:
        return ()
    if isinstance(example, pd.DataFrame):
        return _frame_specs(example)
    if isinstance(example, pd.Series):
        name = example.name if isinstance(example.name, str) else PREDICTION_OUTPUT
        spec = _column_spec(name, example)
        return (ColumnSpec(spec.name, spec.dtype, spec.nullable, (None,)),)
    if isinstance(example, np.ndarray):
        return (_array_spec(PREDICTION_OUTPUT, example),)
    if isinstance(example, Mapping):
        specs = []
        for name, value in example.items():
            if not isinstance(name, str) or not isinstance(value, np.ndarray):
                raise InvalidInputError("an output mapping must map names to numpy arrays")
            specs.append(_array_spec(name, value))
        return tuple(specs)
    raise InvalidInputError(
        "output_example must be an array, a Series, a DataFrame or a mapping of arrays, got "
        + _type_name(example)
    )


def _frame_problems(inputs: tuple[ColumnSpec, ...], data: object) -> list[tuple[str, str]]:
    if not isinstance(data, pd.DataFrame):
        return [(WHOLE_INPUT, f"expected a pandas DataFrame, got {_type_name(data)}")]
    present = list(data.columns)
    problems: list[tuple[str, str]] = []
    repeated = sorted({str(col) for col in present if present.count(col) > 1})
    problems.extend((col, "column appears more than once") for col in repeated)
    for spec in inputs:
        if spec.name not in present:
            if not spec.nullable:
                problems.append((spec.name, f"missing column of type {spec.dtype}"))
            continue
        if spec.name in repeated:
            continue
        series = data[spec.name]
        if spec.nullable and bool(series.isna().all()):
            continue  # nothing but nulls: no type to check, and nulls are allowed
        actual = column_dtype(series)
        if not accepts(spec.dtype, actual):
            problems.append((spec.name, f"expected {spec.dtype}, got {actual}"))
        elif not spec.nullable:
            nulls = int(series.isna().sum())
            if nulls:
                problems.append(
                    (spec.name, f"{_count(nulls, 'null value')} in a non-nullable column")
                )
    expected = {spec.name for spec in inputs}
    problems.extend((str(col), "unexpected column") for col in present if col not in expected)
    return problems


def _tensor_problems(spec: ColumnSpec, data: object) -> list[tuple[str, str]]:
    if not isinstance(data, np.ndarray):
        return [(spec.name, f"expected a numpy array, got {_type_name(data)}")]
    problems: list[tuple[str, str]] = []
    if spec.shape is not None and not _shape_fits(spec.shape, data.shape):
        problems.append(
            (spec.name, f"expected shape {_shape_text(spec.shape)}, got {_shape_text(data.shape)}")
        )
    actual = canonical_dtype(data.dtype)
    if not accepts(spec.dtype, actual):
        problems.append((spec.name, f"expected {spec.dtype}, got {actual}"))
    elif not spec.nullable and data.dtype.kind == "f":
        nans = int(np.isnan(data).sum())
        if nans:
            problems.append((spec.name, f"{_count(nans, 'NaN value')} in a non-nullable tensor"))
    return problems


def _shape_fits(expected: tuple[int | None, ...], actual: tuple[int, ...]) -> bool:
    return len(expected) == len(actual) and all(
        want is None or want == got for want, got in zip(expected, actual, strict=True)
    )


def _shape_accepts(
    newer: tuple[int | None, ...] | None, older: tuple[int | None, ...] | None
) -> bool:
    if newer is None or older is None:
        return newer == older
    return len(newer) == len(older) and all(
        new is None or new == old for new, old in zip(newer, older, strict=True)
    )


def _shape_text(shape: tuple[int | None, ...] | None) -> str:
    if shape is None:
        return "(column)"
    return "(" + ", ".join("None" if dim is None else str(dim) for dim in shape) + ")"


def _did_you_mean(name: str, candidates: tuple[str, ...]) -> str:
    matches = close_matches(name, candidates)
    return " (did you mean " + ", ".join(f'"{m}"' for m in matches) + "?)" if matches else ""


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _type_name(value: object) -> str:
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}"
