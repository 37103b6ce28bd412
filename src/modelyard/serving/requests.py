"""Request contracts: a predict body decoded into typed columns and checked against the signature.

A request carries rows as records (``{"records": [{...}, ...]}``), as columns
(``{"columns": {"amount": [...], ...}}``), in MLflow's ``dataframe_split`` /
``dataframe_records`` forms, as Open Inference Protocol (V2) input tensors, or as an Arrow IPC
stream. Whatever the form, the same rules apply, and every broken rule is reported at once, each
naming the field and the rule:

- ``required``: a signature input that is not nullable and not filled by a feature is missing;
  so is an entity key when a feature column must be looked up.
- ``unknown_field``: a field the model neither takes nor uses as an entity key.
- ``type``: a value of the wrong JSON type (a string for a float, a float for an integer, a
  number for a bool); integers widen into float inputs, nothing else is coerced.
- ``not_null``: a null where the signature forbids one.
- ``range``: an integer outside its column's width.
- ``length``: columns of different lengths; ``shape``: a tensor of the wrong shape;
  ``rows``: no rows, or more than the limit.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

from modelyard.errors import MalformedRequestError, RequestContractError, close_matches
from modelyard.registry.flavors.dtypes import FLOATS, INTEGERS, TEXT
from modelyard.registry.flavors.signature import Array, ColumnSpec, Signature

MAX_REQUEST_ROWS = 100_000
Problem = dict[str, str]
_INT_BOUNDS = {name: (int(np.iinfo(name).min), int(np.iinfo(name).max)) for name in INTEGERS}
# Open Inference Protocol datatypes of each canonical dtype.
V2_DATATYPES = {
    "float64": "FP64",
    "float32": "FP32",
    "float16": "FP16",
    "int64": "INT64",
    "int32": "INT32",
    "int16": "INT16",
    "int8": "INT8",
    "uint64": "UINT64",
    "uint32": "UINT32",
    "uint16": "UINT16",
    "uint8": "UINT8",
    "bool": "BOOL",
    "string": "BYTES",
    "category": "BYTES",
}


@dataclass(frozen=True, slots=True)
class Decoded:
    """One request's rows: typed values per field (signature inputs and entity keys), or a
    tensor for a tensor model."""

    rows: int
    columns: Mapping[str, list[object]]
    tensor: Array | None = None


@dataclass(frozen=True, slots=True)
class _Field:
    spec: ColumnSpec
    kind: str  # float, int, bool, string, datetime, object
    is_required: bool


_MAX_PLANS = 64
_FAST_TYPES: dict[str, frozenset[type]] = {
    "float": frozenset({float, int}),
    "int": frozenset({int}),
    "bool": frozenset({bool}),
    "string": frozenset({str}),
}


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a records request with one set of keys needs checked on the fast path."""

    checks: tuple[tuple[str, frozenset[type], tuple[int, int] | None], ...]
    nulls: tuple[str, ...]  # absent nullable inputs, filled with nulls
    entity_fields: tuple[str, ...]  # present entity keys: must not be null


class RequestSchema:
    """The fields a model's requests may carry, and the checks each value gets.

    Args:
        model: the model name (for messages).
        signature: the model's signature.
        feature_columns: inputs the server fills from the online store (optional in requests).
        entity_fields: the join keys and request fields those features need.
    """

    def __init__(
        self,
        model: str,
        signature: Signature,
        *,
        feature_columns: Sequence[str] = (),
        entity_fields: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.signature = signature
        self.is_tensor = signature.input_kind == "tensor"
        self.feature_columns = tuple(feature_columns)
        self.entity_fields = tuple(
            name for name in entity_fields if name not in signature.input_names
        )
        filled = set(self.feature_columns)
        self.fields: dict[str, _Field] = {
            spec.name: _Field(
                spec, _kind(spec.dtype), not spec.nullable and spec.name not in filled
            )
            for spec in signature.inputs
        }
        self._allowed = [*self.fields, *self.entity_fields]
        # Per tuple of record keys: what a well-formed request with those keys needs checked
        # (None: take the slow path, which also writes the messages).
        self._plans: dict[tuple[str, ...], _Plan | None] = {}

    # ------------------------------------------------------------------ bodies

    def decode_json(self, body: bytes) -> Decoded:
        """Decode a JSON predict body (records, columns, dataframe_split, dataframe_records, or
        ``inputs`` for a tensor model).

        Raises:
            MalformedRequestError: the body is not JSON or has none of the accepted forms.
            RequestContractError: the rows break the signature (every problem listed).
        """
        data = parse_json(body)
        if not isinstance(data, dict):
            raise MalformedRequestError(
                "expected a JSON object with records, columns, dataframe_split, "
                "dataframe_records or inputs"
            )
        if self.is_tensor:
            if "inputs" not in data:
                raise MalformedRequestError('a tensor model takes {"inputs": [...]}')
            return self.decode_tensor(data["inputs"])
        if "records" in data:
            return self.decode_records(data["records"])
        if "dataframe_records" in data:
            return self.decode_records(data["dataframe_records"])
        if "columns" in data:
            return self.decode_columns(data["columns"])
        if "dataframe_split" in data:
            split = data["dataframe_split"]
            if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
                raise MalformedRequestError("dataframe_split needs columns and data lists")
            names, rows = split["columns"], split.get("data")
            if not isinstance(rows, list) or not all(
                isinstance(row, list) and len(row) == len(names) for row in rows
            ):
                raise MalformedRequestError(
                    "dataframe_split data must be a list of rows as long as columns"
                )
            if not all(isinstance(name, str) for name in names):
                raise MalformedRequestError("dataframe_split columns must be strings")
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise MalformedRequestError(
                    f"dataframe_split names {', '.join(repeated)} more than once"
                )
            return self.decode_columns(
                {name: [row[i] for row in rows] for i, name in enumerate(names)}
            )
        raise MalformedRequestError(
            "expected one of records, columns, dataframe_split, dataframe_records; got "
            + (", ".join(sorted(map(str, data))) or "an empty object")
        )

    def decode_arrow(self, body: bytes) -> Decoded:
        """Decode an Arrow IPC stream body (one record batch or more, one column per field).

        Raises:
            MalformedRequestError: the body is not an Arrow IPC stream.
            RequestContractError: the rows break the signature.
        """
        try:
            table = pa.ipc.open_stream(pa.py_buffer(body)).read_all()
        except (pa.ArrowInvalid, pa.ArrowTypeError, OSError) as exc:
            raise MalformedRequestError(f"not an Arrow IPC stream: {exc}") from exc
        if self.is_tensor:
            raise MalformedRequestError("a tensor model takes JSON inputs, not Arrow")
        if len(set(table.column_names)) != len(table.column_names):
            raise MalformedRequestError("Arrow columns must have distinct names")
        return self.decode_columns({name: table[name].to_pylist() for name in table.column_names})

    def decode_v2(self, inputs: object) -> Decoded:
        """Decode Open Inference Protocol (V2) ``inputs``: one tensor per field (shape [N] or
        [N, 1], row-major ``data``), or one tensor for a tensor model.

        Raises:
            MalformedRequestError: inputs that are not V2 tensors.
            RequestContractError: the rows break the signature.
        """
        if not isinstance(inputs, list) or not inputs:
            raise MalformedRequestError("V2 inputs must be a non-empty list of tensors")
        tensors: dict[str, tuple[list[int], list[object]]] = {}
        for position, item in enumerate(inputs):
            if not isinstance(item, dict):
                raise MalformedRequestError(f"V2 inputs[{position}] is not an object")
            name, shape, data = item.get("name"), item.get("shape"), item.get("data")
            if not isinstance(name, str) or not isinstance(shape, list) or data is None:
                raise MalformedRequestError(f"V2 inputs[{position}] needs name, shape and data")
            if not all(
                isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0 for dim in shape
            ):
                raise MalformedRequestError(
                    f"V2 input {name}: shape must be a list of non-negative integers"
                )
            if not isinstance(data, list):
                data = [data]
            if name in tensors:
                raise MalformedRequestError(f"V2 input {name!r} is given twice")
            tensors[name] = (shape, _flatten(data))
        if self.is_tensor:
            spec = self.signature.inputs[0]
            if len(tensors) != 1:
                raise RequestContractError(
                    self.model,
                    [
                        _problem(
                            spec.name,
                            "shape",
                            f"a tensor model takes one input, got {len(tensors)}",
                        )
                    ],
                )
            ((shape, flat),) = tensors.values()
            return self._tensor_from_flat(shape, flat)
        columns: dict[str, list[object]] = {}
        problems: list[Problem] = []
        for name, (shape, flat) in tensors.items():
            if not (len(shape) == 1 or (len(shape) == 2 and shape[1] == 1)):
                problems.append(
                    _problem(name, "shape", f"expected shape [N] or [N, 1], got {shape}")
                )
                continue
            if len(flat) != shape[0]:
                problems.append(
                    _problem(
                        name,
                        "shape",
                        f"shape {shape} holds {shape[0]} values, data has {len(flat)}",
                    )
                )
                continue
            columns[name] = flat
        if problems:
            raise RequestContractError(self.model, problems)
        return self.decode_columns(columns)

    # ------------------------------------------------------------------ forms

    def decode_records(self, records: object) -> Decoded:
        """Decode a list of ``{field: value}`` rows.

        Raises:
            MalformedRequestError: not a list of objects.
            RequestContractError: the rows break the signature.
        """
        if type(records) is list and records and type(records[0]) is dict:
            fast = self._fast_records(records)
            if fast is not None:
                return fast
        if not isinstance(records, list) or not all(isinstance(row, dict) for row in records):
            raise MalformedRequestError("records must be a list of objects, one per row")
        names: dict[str, None] = {}
        for row in records:
            names.update(dict.fromkeys(row))
        missing_in_some = [name for name in names if any(name not in row for row in records)]
        problems = [
            _problem(name, "required", "present in some records and missing from others")
            for name in missing_in_some
            if self._is_required_field(name)
        ]
        columns = {name: [row.get(name) for row in records] for name in names}
        return self._check(columns, len(records), problems)

    def _fast_records(self, records: list[Any]) -> Decoded | None:
        """Decode well-formed records with no per-problem bookkeeping; None when anything is
        off (the slow path then reports every problem)."""
        first = records[0]
        keys = tuple(first)
        try:
            plan = self._plans[keys]
        except KeyError:
            plan = self._plan(keys)
            if len(self._plans) < _MAX_PLANS:
                self._plans[keys] = plan
        if plan is None or len(records) > MAX_REQUEST_ROWS:
            return None
        if len(records) == 1:
            columns = {name: [first[name]] for name in keys}
        else:
            shape = first.keys()
            for row in records:
                if type(row) is not dict or row.keys() != shape:
                    return None
            columns = {name: [row[name] for row in records] for name in keys}
        for name, allowed, bounds in plan.checks:
            values = columns[name]
            for value in values:
                if type(value) not in allowed:
                    return None
            if bounds is not None:
                low, high = bounds
                for value in values:
                    if value is not None and not low <= value <= high:
                        return None
        for name in plan.entity_fields:
            if None in columns[name]:
                return None
        rows = len(records)
        for name in plan.nulls:
            columns[name] = [None] * rows
        return Decoded(rows, columns)

    def _plan(self, keys: tuple[str, ...]) -> _Plan | None:
        present = set(keys)
        if len(present) != len(keys) or not present <= set(self._allowed):
            return None
        checks: list[tuple[str, frozenset[type], tuple[int, int] | None]] = []
        nulls = []
        for name, field in self.fields.items():
            if name not in present:
                if field.is_required:
                    return None
                if name not in self.feature_columns:
                    nulls.append(name)
                continue
            allowed = _FAST_TYPES.get(field.kind)
            if allowed is None:
                return None  # dates and objects take the slow path
            if field.spec.nullable:
                allowed = allowed | {type(None)}
            bounds = _INT_BOUNDS[field.spec.dtype] if field.kind == "int" else None
            checks.append((name, allowed, bounds))
        lookup = any(name not in present for name in self.feature_columns)
        if lookup and not set(self.entity_fields) <= present:
            return None
        entity_fields = tuple(name for name in self.entity_fields if name in present)
        return _Plan(tuple(checks), tuple(nulls), entity_fields)

    def decode_columns(self, columns: object) -> Decoded:
        """Decode ``{field: [values]}``.

        Raises:
            MalformedRequestError: not an object of lists.
            RequestContractError: the rows break the signature.
        """
        if not isinstance(columns, dict) or not all(
            isinstance(values, list) for values in columns.values()
        ):
            raise MalformedRequestError("columns must be an object of lists, one per field")
        lengths = {len(values) for values in columns.values()}
        if len(lengths) > 1:
            raise RequestContractError(
                self.model,
                [
                    _problem(name, "length", f"has {len(values)} values; columns differ in length")
                    for name, values in columns.items()
                ],
            )
        rows = lengths.pop() if lengths else 0
        return self._check(dict(columns), rows, [])

    def decode_tensor(self, data: object) -> Decoded:
        """Decode a nested list for a tensor model.

        Raises:
            RequestContractError: the values are ragged, of the wrong type or shape.
        """
        spec = self.signature.inputs[0]
        try:
            array = np.asarray(data)
        except ValueError as exc:
            raise RequestContractError(
                self.model, [_problem(spec.name, "shape", f"ragged nested lists: {exc}")]
            ) from exc
        return self._tensor(array)

    # ------------------------------------------------------------------ checks

    def _is_required_field(self, name: str) -> bool:
        field = self.fields.get(name)
        return field is not None and field.is_required

    def _check(
        self, columns: dict[str, list[object]], rows: int, problems: list[Problem]
    ) -> Decoded:
        reported = {problem["field"] for problem in problems}
        if rows == 0:
            problems.append(_problem("(rows)", "rows", "the request holds no rows"))
        elif rows > MAX_REQUEST_ROWS:
            problems.append(
                _problem(
                    "(rows)", "rows", f"{rows:,} rows; at most {MAX_REQUEST_ROWS:,} per request"
                )
            )
        for name in columns:
            if name not in self.fields and name not in self.entity_fields:
                suggestions = close_matches(name, self._allowed)
                hint = f' (did you mean "{suggestions[0]}"?)' if suggestions else ""
                problems.append(
                    _problem(name, "unknown_field", f"the model takes no field {name!r}{hint}")
                )
        lookup_needed = [name for name in self.feature_columns if name not in columns]
        for name, field in self.fields.items():
            values = columns.get(name)
            if values is None:
                if field.is_required:
                    problems.append(
                        _problem(name, "required", f"missing (a {field.spec.dtype} input)")
                    )
                elif name not in self.feature_columns:
                    # An absent nullable input is null; an absent feature is looked up.
                    columns[name] = [None] * rows
                continue
            if name in reported:
                continue  # missing from some records: reported once, as required
            problem = _check_values(name, field, values)
            if problem is not None:
                problems.append(problem)
        if lookup_needed:
            for name in self.entity_fields:
                if name not in columns:
                    problems.append(
                        _problem(
                            name,
                            "required",
                            f"missing: the entity key to look up {', '.join(lookup_needed)} "
                            "(or send those features in the request)",
                        )
                    )
                elif any(value is None for value in columns[name]):
                    problems.append(_problem(name, "not_null", "an entity key cannot be null"))
        if problems:
            raise RequestContractError(self.model, problems)
        return Decoded(rows, columns)

    def _tensor_from_flat(self, shape: list[int], flat: list[object]) -> Decoded:
        spec = self.signature.inputs[0]
        if math.prod(shape) != len(flat):
            raise RequestContractError(
                self.model,
                [
                    _problem(
                        spec.name,
                        "shape",
                        f"shape {shape} needs {math.prod(shape)} values, got {len(flat)}",
                    )
                ],
            )
        return self._tensor(np.asarray(flat).reshape(shape))

    def _tensor(self, array: Array) -> Decoded:
        spec = self.signature.inputs[0]
        expected = spec.shape or ()
        problems: list[Problem] = []
        if array.ndim == 0 or array.dtype == object:
            problems.append(_problem(spec.name, "shape", "expected a nested list of numbers"))
        elif len(expected) != array.ndim or any(
            want is not None and want != got
            for want, got in zip(expected, array.shape, strict=False)
        ):
            shown = [("N" if dim is None else dim) for dim in expected]
            problems.append(
                _problem(spec.name, "shape", f"expected shape {shown}, got {list(array.shape)}")
            )
        elif array.dtype.kind not in "iufb":
            problems.append(
                _problem(spec.name, "type", f"expected numbers, got {array.dtype.kind!r} values")
            )
        elif spec.dtype in INTEGERS and array.dtype.kind == "f":
            problems.append(
                _problem(spec.name, "type", f"expected {spec.dtype} integers, got floats")
            )
        elif spec.dtype in INTEGERS and array.size:
            # astype() below would wrap an out-of-range value silently.
            low, high = _INT_BOUNDS[spec.dtype]
            smallest, largest = int(array.min()), int(array.max())
            if smallest < low or largest > high:
                value = smallest if smallest < low else largest
                problems.append(_problem(spec.name, "range", f"{value} does not fit {spec.dtype}"))
        if problems:
            raise RequestContractError(self.model, problems)
        if array.shape[0] == 0 or array.shape[0] > MAX_REQUEST_ROWS:
            raise RequestContractError(
                self.model, [_problem(spec.name, "rows", f"{array.shape[0]} rows is out of range")]
            )
        dtype = np.dtype(spec.dtype) if spec.dtype in FLOATS or spec.dtype in INTEGERS else None
        tensor = array.astype(dtype) if dtype is not None else array
        return Decoded(int(array.shape[0]), {}, tensor)


def parse_json(body: bytes) -> Any:
    """Parse a JSON body.

    Raises:
        MalformedRequestError: not JSON (the parser's message names the position).
    """
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedRequestError(f"not valid JSON: {exc}") from exc


def _kind(dtype: str) -> str:
    if dtype in FLOATS:
        return "float"
    if dtype in INTEGERS:
        return "int"
    if dtype == "bool":
        return "bool"
    if dtype in TEXT:
        return "string"
    if dtype.startswith("datetime64"):
        return "datetime"
    return "object"


_EXPECTED = {
    "float": "a number",
    "int": "an integer",
    "bool": "true or false",
    "string": "a string",
    "datetime": "an ISO 8601 date-time string",
    "object": "a value",
}


def _check_values(name: str, field: _Field, values: list[object]) -> Problem | None:
    """Check one column in place (ISO strings become datetimes); return its first problem."""
    kind, nullable = field.kind, field.spec.nullable
    for row, value in enumerate(values):
        if value is None:
            if nullable:
                continue
            return _problem(name, "not_null", f"row {row}: null, but {name} is not nullable")
        value_type = type(value)
        if kind == "float":
            if value_type is float or value_type is int:
                continue
        elif kind == "int":
            if value_type is int:
                low, high = _INT_BOUNDS[field.spec.dtype]
                if low <= value <= high:  # type: ignore[operator]  # an int, checked above
                    continue
                return _problem(
                    name, "range", f"row {row}: {value} does not fit {field.spec.dtype}"
                )
        elif kind == "bool":
            if value_type is bool:
                continue
        elif kind == "string":
            if value_type is str:
                continue
        elif kind == "datetime":
            if isinstance(value, datetime):  # an Arrow timestamp column
                continue
            if value_type is str:
                try:
                    values[row] = datetime.fromisoformat(value)  # type: ignore[arg-type]  # a str, checked above
                    continue
                except ValueError:
                    pass
        else:
            continue
        return _problem(
            name,
            "type",
            f"row {row}: expected {_EXPECTED[kind]} ({field.spec.dtype}), got "
            f"{_json_type(value)} {_shown(value)}",
        )
    return None


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _shown(value: object) -> str:
    text = (
        orjson.dumps(value, default=str).decode() if not isinstance(value, float) else repr(value)
    )
    return text if len(text) <= 40 else text[:37] + "..."


def _problem(field: str, rule: str, message: str) -> Problem:
    return {"field": field, "rule": rule, "message": message}


def _flatten(data: list[object]) -> list[object]:
    if not any(isinstance(item, list) for item in data):
        return data
    flat: list[object] = []
    stack: list[Iterable[object]] = [iter(data)]
    while stack:
        for item in stack[-1]:
            if isinstance(item, list):
                stack.append(iter(item))
                break
            flat.append(item)
        else:
            stack.pop()
    return flat
