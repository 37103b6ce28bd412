"""RequestSchema: every body form decoded into typed columns, every rule of the request contract
reported at once with its field and rule."""

from __future__ import annotations

import datetime as dt
import io
from functools import partial

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import MalformedRequestError, RequestContractError
from modelyard.registry.flavors.signature import ColumnSpec, Signature, infer_signature
from modelyard.serving.requests import MAX_REQUEST_ROWS, Decoded, RequestSchema

PREDICTION = (ColumnSpec("prediction", "int64", False),)
FRAUD = Signature(
    (
        ColumnSpec("amount", "float64", False),
        ColumnSpec("count", "int64", False),
        ColumnSpec("is_new", "bool", False),
        ColumnSpec("country", "string", False),
        ColumnSpec("note", "string", True),
    ),
    PREDICTION,
    "dataframe",
)
VALID: dict[str, list[object]] = {
    "amount": [1.5, 2.0],
    "count": [1, 2],
    "is_new": [True, False],
    "country": ["DE", "FR"],
    "note": ["a", None],
}
WIDTHS = Signature(
    (ColumnSpec("small", "int8", False), ColumnSpec("tiny", "uint8", False)),
    PREDICTION,
    "dataframe",
)
EVENTS = Signature(
    (
        ColumnSpec("seen_at", "datetime64[ns]", False),
        ColumnSpec("opened_at", "datetime64[ns, UTC]", True),
    ),
    PREDICTION,
    "dataframe",
)
FEATURED = Signature(
    (
        ColumnSpec("amount", "float64", False),
        ColumnSpec("txn_count", "int64", False),
        ColumnSpec("amount_sum_24h", "float64", True),
    ),
    PREDICTION,
    "dataframe",
)
TENSOR = infer_signature(np.zeros((2, 3), dtype=np.float32))
INT8_TENSOR = infer_signature(np.zeros((2, 3), dtype=np.int8))

JSON_FORMS = ("records", "dataframe_records", "columns", "dataframe_split")
FORMS = (*JSON_FORMS, "arrow", "v2")


def arrow_body(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _v2_datatype(values: list[object]) -> str:
    first = next((value for value in values if value is not None), None)
    if isinstance(first, bool):
        return "BOOL"
    if isinstance(first, int):
        return "INT64"
    if isinstance(first, float):
        return "FP64"
    return "BYTES"


def decode(schema: RequestSchema, form: str, columns: dict[str, list[object]]) -> Decoded:
    """Send ``columns`` (all the same length) in one body form."""
    names = list(columns)
    rows = [list(row) for row in zip(*columns.values(), strict=True)]
    if form in ("records", "dataframe_records"):
        records = [dict(zip(names, row, strict=True)) for row in rows]
        return schema.decode_json(orjson.dumps({form: records}))
    if form == "columns":
        return schema.decode_json(orjson.dumps({"columns": columns}))
    if form == "dataframe_split":
        return schema.decode_json(
            orjson.dumps({"dataframe_split": {"columns": names, "data": rows}})
        )
    if form == "arrow":
        return schema.decode_arrow(arrow_body(pa.table(columns)))
    assert form == "v2"
    inputs = [
        {"name": name, "shape": [len(values)], "datatype": _v2_datatype(values), "data": values}
        for name, values in columns.items()
    ]
    return schema.decode_v2(orjson.loads(orjson.dumps(inputs)))


def pairs(error: RequestContractError) -> list[tuple[str, str]]:
    return [(problem["field"], problem["rule"]) for problem in error.problems]


def fraud_schema() -> RequestSchema:
    return RequestSchema("fraud", FRAUD)


def featured_schema() -> RequestSchema:
    return RequestSchema(
        "fraud",
        FEATURED,
        feature_columns=("txn_count", "amount_sum_24h"),
        entity_fields=("customer_id",),
    )


# ------------------------------------------------------------------ valid bodies


@pytest.mark.parametrize("form", FORMS)
def test_a_valid_body_decodes_into_typed_columns(form: str) -> None:
    decoded = decode(fraud_schema(), form, VALID)

    assert decoded == Decoded(2, VALID)


@pytest.mark.parametrize("form", FORMS)
def test_integers_widen_into_a_float_column_unchanged(form: str) -> None:
    decoded = decode(fraud_schema(), form, {**VALID, "amount": [1, 2]})

    assert decoded.columns["amount"] == [1, 2]


@pytest.mark.parametrize("form", FORMS)
def test_an_absent_nullable_column_becomes_nulls(form: str) -> None:
    columns = {name: values for name, values in VALID.items() if name != "note"}

    decoded = decode(fraud_schema(), form, columns)

    assert decoded == Decoded(2, {**columns, "note": [None, None]})


def test_a_nullable_field_missing_from_some_records_is_null_there() -> None:
    records = [
        {"amount": 1.5, "count": 1, "is_new": True, "country": "DE", "note": "a"},
        {"amount": 2.0, "count": 2, "is_new": False, "country": "FR"},
    ]

    decoded = fraud_schema().decode_json(orjson.dumps({"records": records}))

    assert decoded.columns["note"] == ["a", None]


@settings(max_examples=40, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(allow_nan=False, allow_infinity=False),
            st.integers(-(2**63), 2**63 - 1),
            st.booleans(),
            st.text(max_size=5),
            st.none() | st.text(max_size=5),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_every_body_form_decodes_the_same_rows_alike(
    rows: list[tuple[float, int, bool, str, str | None]],
) -> None:
    columns: dict[str, list[object]] = {
        name: [row[position] for row in rows] for position, name in enumerate(VALID)
    }
    schema = fraud_schema()

    decoded = {form: decode(schema, form, columns) for form in FORMS}

    assert decoded == dict.fromkeys(FORMS, Decoded(len(rows), columns))


# ------------------------------------------------------------------ the rules, in every form

RULE_CASES = [
    pytest.param({"amount": ["x", "y"]}, [("amount", "type")], id="string-for-a-float"),
    pytest.param({"count": [1.5, 2.5]}, [("count", "type")], id="float-for-an-integer"),
    pytest.param({"amount": [True, False]}, [("amount", "type")], id="bool-is-not-a-float"),
    pytest.param({"count": [True, False]}, [("count", "type")], id="bool-is-not-an-integer"),
    pytest.param({"is_new": [1, 0]}, [("is_new", "type")], id="number-for-a-bool"),
    pytest.param({"country": [1, 2]}, [("country", "type")], id="number-for-a-string"),
    pytest.param({"amount": [1.5, None]}, [("amount", "not_null")], id="null-not-nullable"),
    pytest.param({"country": None}, [("country", "required")], id="required-missing"),
    pytest.param({"amout": [1.0, 2.0]}, [("amout", "unknown_field")], id="unknown-field"),
]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(("change", "expected"), RULE_CASES)
def test_each_broken_rule_is_reported_with_its_field_in_every_form(
    form: str, change: dict[str, list[object] | None], expected: list[tuple[str, str]]
) -> None:
    columns = {**VALID, **change}
    sent = {name: values for name, values in columns.items() if values is not None}

    with pytest.raises(RequestContractError, match='model "fraud"') as info:
        decode(fraud_schema(), form, sent)

    assert pairs(info.value) == expected


@pytest.mark.parametrize("form", FORMS)
def test_several_problems_are_reported_at_once(form: str) -> None:
    sent: dict[str, list[object]] = {
        "amout": [1.0],
        "amount": ["x"],
        "is_new": [1],
        "country": [None],
    }

    with pytest.raises(RequestContractError) as info:
        decode(fraud_schema(), form, sent)

    assert pairs(info.value) == [
        ("amout", "unknown_field"),
        ("amount", "type"),
        ("count", "required"),
        ("is_new", "type"),
        ("country", "not_null"),
    ]
    assert info.value.problems[0]["message"] == (
        "the model takes no field 'amout' (did you mean \"amount\"?)"
    )
    assert info.value.problems[2]["message"] == "missing (a int64 input)"
    assert str(info.value).startswith(
        'request does not match the signature of model "fraud": amout: the model takes no '
        "field 'amout'"
    )


def test_type_and_null_messages_name_the_row_the_expected_type_and_the_value() -> None:
    with pytest.raises(RequestContractError) as info:
        decode(fraud_schema(), "columns", {**VALID, "amount": [1.0, "x"], "country": ["DE", None]})

    assert info.value.problems == [
        {
            "field": "amount",
            "rule": "type",
            "message": 'row 1: expected a number (float64), got string "x"',
        },
        {
            "field": "country",
            "rule": "not_null",
            "message": "row 1: null, but country is not nullable",
        },
    ]


def test_a_required_field_missing_from_some_records_is_one_problem() -> None:
    records = [
        {"amount": 1.5, "count": 1, "is_new": True, "country": "DE"},
        {"amount": 2.0, "count": 2, "is_new": False},
    ]

    with pytest.raises(RequestContractError) as info:
        fraud_schema().decode_json(orjson.dumps({"records": records}))

    assert info.value.problems == [
        {
            "field": "country",
            "rule": "required",
            "message": "present in some records and missing from others",
        }
    ]


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize(
    ("columns", "expected"),
    [
        pytest.param({"small": [127, -128], "tiny": [0, 255]}, [], id="edges-fit"),
        pytest.param({"small": [128, 0], "tiny": [0, 1]}, [("small", "range")], id="int8-high"),
        pytest.param({"small": [0, -129], "tiny": [0, 1]}, [("small", "range")], id="int8-low"),
        pytest.param({"small": [0, 1], "tiny": [-1, 0]}, [("tiny", "range")], id="uint8-low"),
        pytest.param({"small": [0, 1], "tiny": [0, 256]}, [("tiny", "range")], id="uint8-high"),
    ],
)
def test_integers_must_fit_their_column_width(
    form: str, columns: dict[str, list[object]], expected: list[tuple[str, str]]
) -> None:
    schema = RequestSchema("scores", WIDTHS)
    if not expected:
        assert decode(schema, form, columns) == Decoded(2, columns)
        return

    with pytest.raises(RequestContractError) as info:
        decode(schema, form, columns)

    assert pairs(info.value) == expected


def test_the_range_message_names_the_row_the_value_and_the_width() -> None:
    with pytest.raises(RequestContractError) as info:
        decode(RequestSchema("scores", WIDTHS), "columns", {"small": [0, 300], "tiny": [1, 1]})

    assert info.value.problems[0]["message"] == "row 1: 300 does not fit int8"


@pytest.mark.parametrize("form", ["columns", "v2"])
def test_columns_of_unequal_length_are_each_reported(form: str) -> None:
    sent: dict[str, list[object]] = {"amount": [1.5, 2.0], "count": [1], "is_new": [True, False]}
    schema = fraud_schema()
    tensors = [{"name": name, "shape": [len(v)], "data": v} for name, v in sent.items()]

    body = orjson.dumps({"columns": sent})
    send = (
        partial(schema.decode_json, body)
        if form == "columns"
        else partial(schema.decode_v2, tensors)
    )

    with pytest.raises(RequestContractError) as info:
        send()

    assert pairs(info.value) == [("amount", "length"), ("count", "length"), ("is_new", "length")]
    assert info.value.problems[1]["message"] == "has 1 values; columns differ in length"


# ------------------------------------------------------------------ rows


REQUIRED_MISSING = [("count", "required"), ("is_new", "required"), ("country", "required")]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param({"records": []}, [("amount", "required"), *REQUIRED_MISSING], id="records"),
        pytest.param({"dataframe_records": []}, [("amount", "required"), *REQUIRED_MISSING]),
        pytest.param({"columns": {}}, [("amount", "required"), *REQUIRED_MISSING], id="columns"),
        pytest.param({"columns": {name: [] for name in VALID}}, [], id="empty-columns"),
        pytest.param({"dataframe_split": {"columns": list(VALID), "data": []}}, [], id="split"),
    ],
)
def test_a_json_body_without_rows_is_refused(
    body: dict[str, object], expected: list[tuple[str, str]]
) -> None:
    with pytest.raises(RequestContractError) as info:
        fraud_schema().decode_json(orjson.dumps(body))

    assert pairs(info.value) == [("(rows)", "rows"), *expected]
    assert info.value.problems[0]["message"] == "the request holds no rows"


def test_an_arrow_body_without_rows_is_refused() -> None:
    table = pa.table({"amount": pa.array([], pa.float64())})
    schema = RequestSchema("fraud", Signature(FRAUD.inputs[:1], PREDICTION, "dataframe"))

    with pytest.raises(RequestContractError) as info:
        schema.decode_arrow(arrow_body(table))

    assert pairs(info.value) == [("(rows)", "rows")]


def test_v2_tensors_without_rows_are_refused() -> None:
    schema = RequestSchema("fraud", Signature(FRAUD.inputs[:1], PREDICTION, "dataframe"))

    with pytest.raises(RequestContractError) as info:
        schema.decode_v2([{"name": "amount", "shape": [0], "data": []}])

    assert pairs(info.value) == [("(rows)", "rows")]


def test_more_rows_than_the_limit_are_refused() -> None:
    schema = RequestSchema("fraud", Signature(FRAUD.inputs[:1], PREDICTION, "dataframe"))

    with pytest.raises(RequestContractError) as info:
        schema.decode_columns({"amount": [0.0] * (MAX_REQUEST_ROWS + 1)})

    assert info.value.problems == [
        {"field": "(rows)", "rule": "rows", "message": "100,001 rows; at most 100,000 per request"}
    ]


# ------------------------------------------------------------------ date-times


def test_iso_strings_become_datetimes() -> None:
    schema = RequestSchema("events", EVENTS)
    body = {
        "columns": {
            "seen_at": ["2024-05-01T12:30:00", "2024-05-02"],
            "opened_at": ["2024-05-01T12:30:00+00:00", None],
        }
    }

    decoded = schema.decode_json(orjson.dumps(body))

    assert decoded.columns == {
        "seen_at": [dt.datetime(2024, 5, 1, 12, 30), dt.datetime(2024, 5, 2)],
        "opened_at": [dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC), None],
    }


@pytest.mark.parametrize(
    ("value", "shown"),
    [("yesterday", 'string "yesterday"'), (1714560000, "number 1714560000")],
)
def test_a_datetime_column_refuses_what_is_not_an_iso_string(value: object, shown: str) -> None:
    with pytest.raises(RequestContractError) as info:
        RequestSchema("events", EVENTS).decode_columns({"seen_at": [value]})

    assert info.value.problems == [
        {
            "field": "seen_at",
            "rule": "type",
            "message": "row 0: expected an ISO 8601 date-time string (datetime64[ns]), got "
            + shown,
        }
    ]


@pytest.mark.parametrize("unit", ["us", "ns"])
def test_an_arrow_timestamp_column_fills_a_datetime_input(unit: str) -> None:
    seen = [dt.datetime(2024, 5, 1, 12, 30), dt.datetime(2024, 5, 2)]
    table = pa.table(
        {
            "seen_at": pa.array(seen, pa.timestamp(unit)),
            "opened_at": pa.array([None, "2024-05-03T00:00:00+00:00"], pa.string()),
        }
    )

    decoded = RequestSchema("events", EVENTS).decode_arrow(arrow_body(table))

    assert decoded.columns == {
        "seen_at": seen,
        "opened_at": [None, dt.datetime(2024, 5, 3, tzinfo=dt.UTC)],
    }


# ------------------------------------------------------------------ features and entity keys


def test_absent_features_are_left_for_the_lookup_when_the_entity_key_is_sent() -> None:
    decoded = featured_schema().decode_columns({"amount": [1.5], "customer_id": ["c1"]})

    assert decoded == Decoded(1, {"amount": [1.5], "customer_id": ["c1"]})


def test_features_sent_in_the_request_need_no_entity_key() -> None:
    sent: dict[str, list[object]] = {
        "amount": [1.5],
        "txn_count": [3],
        "amount_sum_24h": [None],
    }

    assert featured_schema().decode_columns(sent) == Decoded(1, sent)


@pytest.mark.parametrize(
    ("sent", "looked_up"),
    [
        ({"amount": [1.5]}, "txn_count, amount_sum_24h"),
        ({"amount": [1.5], "txn_count": [3]}, "amount_sum_24h"),
    ],
)
def test_the_entity_key_is_required_when_a_feature_must_be_looked_up(
    sent: dict[str, list[object]], looked_up: str
) -> None:
    with pytest.raises(RequestContractError) as info:
        featured_schema().decode_columns(sent)

    assert info.value.problems == [
        {
            "field": "customer_id",
            "rule": "required",
            "message": f"missing: the entity key to look up {looked_up} "
            "(or send those features in the request)",
        }
    ]


def test_a_null_entity_key_is_refused_when_a_lookup_is_needed() -> None:
    with pytest.raises(RequestContractError) as info:
        featured_schema().decode_columns({"amount": [1.5, 2.0], "customer_id": ["c1", None]})

    assert pairs(info.value) == [("customer_id", "not_null")]


def test_an_entity_key_is_known_to_the_did_you_mean() -> None:
    with pytest.raises(RequestContractError) as info:
        featured_schema().decode_columns({"amount": [1.5], "custmer_id": ["c1"]})

    assert pairs(info.value) == [("custmer_id", "unknown_field"), ("customer_id", "required")]
    assert 'did you mean "customer_id"?' in info.value.problems[0]["message"]


def test_a_sent_feature_is_checked_like_any_input() -> None:
    with pytest.raises(RequestContractError) as info:
        featured_schema().decode_columns(
            {"amount": [1.5], "txn_count": [1.5], "amount_sum_24h": [0.0]}
        )

    assert pairs(info.value) == [("txn_count", "type")]


def test_an_entity_field_that_is_also_an_input_is_checked_as_the_input() -> None:
    schema = RequestSchema("fraud", FEATURED, entity_fields=("amount", "customer_id"))

    assert schema.entity_fields == ("customer_id",)


# ------------------------------------------------------------------ V2 inputs


@pytest.mark.parametrize(
    ("shape", "data"),
    [([2], [1.5, 2.0]), ([2, 1], [[1.5], [2.0]]), ([2, 1], [1.5, 2.0])],
)
def test_v2_columns_take_shape_n_or_n_by_1(shape: list[int], data: list[object]) -> None:
    schema = RequestSchema("fraud", Signature(FRAUD.inputs[:1], PREDICTION, "dataframe"))

    decoded = schema.decode_v2(
        [{"name": "amount", "shape": shape, "datatype": "FP64", "data": data}]
    )

    assert decoded == Decoded(2, {"amount": [1.5, 2.0]})


def test_v2_scalar_data_is_one_value() -> None:
    schema = RequestSchema("fraud", Signature(FRAUD.inputs[:1], PREDICTION, "dataframe"))

    assert schema.decode_v2([{"name": "amount", "shape": [1], "data": 2.5}]) == Decoded(
        1, {"amount": [2.5]}
    )


def test_v2_wrong_shapes_are_reported_per_tensor() -> None:
    inputs = [
        {"name": "amount", "shape": [2, 2], "data": [1.0, 2.0, 3.0, 4.0]},
        {"name": "count", "shape": [3], "data": [1, 2]},
        {"name": "is_new", "shape": [2], "data": [True, False]},
    ]

    with pytest.raises(RequestContractError) as info:
        fraud_schema().decode_v2(inputs)

    assert info.value.problems == [
        {"field": "amount", "rule": "shape", "message": "expected shape [N] or [N, 1], got [2, 2]"},
        {"field": "count", "rule": "shape", "message": "shape [3] holds 3 values, data has 2"},
    ]


@pytest.mark.parametrize(
    ("inputs", "fragment"),
    [
        pytest.param({"name": "amount"}, "must be a non-empty list of tensors", id="not-a-list"),
        pytest.param([], "must be a non-empty list of tensors", id="empty"),
        pytest.param(["amount"], r"V2 inputs\[0\] is not an object", id="not-an-object"),
        pytest.param([{"shape": [1], "data": [1.0]}], "needs name, shape and data", id="no-name"),
        pytest.param([{"name": "amount", "data": [1.0]}], "needs name, shape and data", id="shape"),
        pytest.param([{"name": "amount", "shape": [1]}], "needs name, shape and data", id="data"),
        pytest.param(
            [{"name": "amount", "shape": [True], "data": [1.0]}],
            "shape must be a list of",
            id="bool-dimension",
        ),
        pytest.param(
            [{"name": "amount", "shape": ["1"], "data": [1.0]}],
            "shape must be a list of",
            id="string-dimension",
        ),
        pytest.param(
            [{"name": "amount", "shape": [-1], "data": [1.0]}],
            "shape must be a list of",
            id="negative-dimension",
        ),
    ],
)
def test_inputs_that_are_not_v2_tensors_are_malformed(inputs: object, fragment: str) -> None:
    with pytest.raises(MalformedRequestError, match=fragment):
        fraud_schema().decode_v2(inputs)


# ------------------------------------------------------------------ tensor models


@pytest.mark.parametrize(
    "body",
    [
        {"inputs": [[1, 2, 3], [4, 5, 6.5]]},
        {"inputs": [[1, 2, 3], [4, 5, 6.5]], "parameters": {}},
    ],
)
def test_a_tensor_model_takes_nested_lists_cast_to_its_dtype(body: dict[str, object]) -> None:
    decoded = RequestSchema("digits", TENSOR).decode_json(orjson.dumps(body))

    assert (decoded.rows, decoded.columns) == (2, {})
    assert decoded.tensor is not None
    assert decoded.tensor.dtype == np.float32
    assert decoded.tensor.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.5]]


@pytest.mark.parametrize(
    ("data", "signature", "rule", "message"),
    [
        pytest.param(
            [[1, 2]], TENSOR, "shape", "expected shape ['N', 3], got [1, 2]", id="wrong-width"
        ),
        pytest.param([1, 2, 3], TENSOR, "shape", "expected shape ['N', 3], got [3]", id="1-d"),
        pytest.param(
            [["a", "b", "c"]], TENSOR, "type", "expected numbers, got 'U' values", id="strings"
        ),
        pytest.param(
            [[1, None, 3]], TENSOR, "shape", "expected a nested list of numbers", id="null"
        ),
        pytest.param(7, TENSOR, "shape", "expected a nested list of numbers", id="scalar"),
        pytest.param(
            [[1.5, 2, 3]], INT8_TENSOR, "type", "expected int8 integers, got floats", id="floats"
        ),
        pytest.param([[300, 0, 0]], INT8_TENSOR, "range", "300 does not fit int8", id="int8-high"),
        pytest.param([[0, -129, 0]], INT8_TENSOR, "range", "-129 does not fit int8", id="int8-low"),
    ],
)
def test_a_tensor_of_the_wrong_shape_type_or_range_is_refused(
    data: object, signature: Signature, rule: str, message: str
) -> None:
    with pytest.raises(RequestContractError) as info:
        RequestSchema("digits", signature).decode_json(orjson.dumps({"inputs": data}))

    assert info.value.problems == [{"field": "input", "rule": rule, "message": message}]


def test_a_ragged_tensor_is_a_shape_problem() -> None:
    with pytest.raises(RequestContractError) as info:
        RequestSchema("digits", TENSOR).decode_json(b'{"inputs": [[1, 2, 3], [4]]}')

    assert pairs(info.value) == [("input", "shape")]
    assert info.value.problems[0]["message"].startswith("ragged nested lists")


def test_an_int8_tensor_at_its_edges_is_accepted() -> None:
    decoded = RequestSchema("digits", INT8_TENSOR).decode_json(b'{"inputs": [[127, -128, 0]]}')

    assert decoded.tensor is not None
    assert decoded.tensor.dtype == np.int8
    assert decoded.tensor.tolist() == [[127, -128, 0]]


@pytest.mark.parametrize("data", [[1, 2, 3, 4, 5, 6], [[1, 2, 3], [4, 5, 6]]])
def test_a_v2_tensor_is_reshaped_to_its_shape(data: list[object]) -> None:
    decoded = RequestSchema("digits", TENSOR).decode_v2(
        [{"name": "input", "shape": [2, 3], "datatype": "FP32", "data": data}]
    )

    assert decoded.rows == 2
    assert decoded.tensor is not None
    assert decoded.tensor.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]


@pytest.mark.parametrize(
    ("inputs", "rule", "message"),
    [
        pytest.param(
            [{"name": "input", "shape": [2, 3], "data": [1, 2, 3, 4, 5]}],
            "shape",
            "shape [2, 3] needs 6 values, got 5",
            id="count",
        ),
        pytest.param(
            [{"name": "input", "shape": [3, 2], "data": [1, 2, 3, 4, 5, 6]}],
            "shape",
            "expected shape ['N', 3], got [3, 2]",
            id="shape",
        ),
        pytest.param(
            [
                {"name": "input", "shape": [1, 3], "data": [1, 2, 3]},
                {"name": "other", "shape": [1, 3], "data": [1, 2, 3]},
            ],
            "shape",
            "a tensor model takes one input, got 2",
            id="two-inputs",
        ),
        pytest.param(
            [{"name": "input", "shape": [0, 3], "data": []}],
            "rows",
            "0 rows is out of range",
            id="no-rows",
        ),
    ],
)
def test_v2_tensors_that_do_not_fit_the_model_are_refused(
    inputs: list[object], rule: str, message: str
) -> None:
    with pytest.raises(RequestContractError) as info:
        RequestSchema("digits", TENSOR).decode_v2(inputs)

    assert info.value.problems == [{"field": "input", "rule": rule, "message": message}]


def test_a_tensor_model_needs_inputs_and_refuses_arrow() -> None:
    schema = RequestSchema("digits", TENSOR)

    with pytest.raises(MalformedRequestError, match=r'a tensor model takes \{"inputs"'):
        schema.decode_json(b'{"records": []}')
    with pytest.raises(MalformedRequestError, match="takes JSON inputs, not Arrow"):
        schema.decode_arrow(arrow_body(pa.table({"input": [1.0]})))


def test_a_signature_inferred_from_a_frame_checks_requests() -> None:
    frame = pd.DataFrame({"amount": [1.5, 2.0], "country": ["DE", None]})
    schema = RequestSchema("fraud", infer_signature(frame))

    assert schema.decode_columns({"amount": [3]}) == Decoded(1, {"amount": [3], "country": [None]})
    with pytest.raises(RequestContractError) as info:
        schema.decode_columns({"country": ["DE"]})
    assert pairs(info.value) == [("amount", "required")]


# ------------------------------------------------------------------ malformed bodies


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        pytest.param(b"{", "not valid JSON", id="not-json"),
        pytest.param(b"[1, 2]", "expected a JSON object", id="array"),
        pytest.param(b"{}", "got an empty object", id="empty-object"),
        pytest.param(b'{"rows": [], "data": 1}', "got data, rows", id="unknown-form"),
        pytest.param(b'{"inputs": [[1.0]]}', "got inputs", id="inputs-for-a-frame-model"),
        pytest.param(b'{"records": {"amount": 1}}', "records must be a list of objects", id="r"),
        pytest.param(b'{"records": [1]}', "records must be a list of objects", id="record"),
        pytest.param(b'{"columns": [1]}', "columns must be an object of lists", id="columns"),
        pytest.param(b'{"columns": {"amount": 1}}', "columns must be an object of lists", id="c"),
        pytest.param(b'{"dataframe_split": []}', "needs columns and data lists", id="split"),
        pytest.param(
            b'{"dataframe_split": {"columns": ["amount"], "data": [[1, 2]]}}',
            "a list of rows as long as columns",
            id="split-row",
        ),
        pytest.param(
            b'{"dataframe_split": {"columns": ["amount"]}}',
            "a list of rows as long as columns",
            id="split-no-data",
        ),
        pytest.param(
            b'{"dataframe_split": {"columns": [1], "data": [[1]]}}',
            "columns must be strings",
            id="split-names",
        ),
    ],
)
def test_an_unparseable_json_body_is_malformed(body: bytes, fragment: str) -> None:
    with pytest.raises(MalformedRequestError, match=fragment) as info:
        fraud_schema().decode_json(body)

    assert str(info.value).startswith("malformed request body: ")


@pytest.mark.parametrize("body", [b"", b"not an arrow stream at all", b"\xff\xff\xff\xff\x10"])
def test_garbage_bytes_are_not_an_arrow_stream(body: bytes) -> None:
    with pytest.raises(MalformedRequestError, match="not an Arrow IPC stream"):
        fraud_schema().decode_arrow(body)


def test_an_arrow_stream_with_a_repeated_column_name_is_malformed() -> None:
    table = pa.Table.from_arrays([pa.array([1.0]), pa.array([2.0])], names=["amount", "amount"])

    with pytest.raises(MalformedRequestError, match="Arrow columns must have distinct names"):
        fraud_schema().decode_arrow(arrow_body(table))


def test_a_field_given_twice_is_refused_not_overwritten() -> None:
    schema = RequestSchema("fraud", FRAUD)
    split = {"dataframe_split": {"columns": ["amount", "amount"], "data": [[1.0, 2.0]]}}
    twice = {"name": "amount", "shape": [1], "datatype": "FP64", "data": [1.0]}

    with pytest.raises(MalformedRequestError, match="dataframe_split names amount more than once"):
        schema.decode_json(orjson.dumps(split))
    with pytest.raises(MalformedRequestError, match="V2 input 'amount' is given twice"):
        schema.decode_v2([twice, {**twice, "data": [2.0]}])
