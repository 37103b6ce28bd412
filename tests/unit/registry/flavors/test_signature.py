"""Signatures: inference from pandas and numpy, checks, compatibility, round trips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import InvalidInputError, SignatureMismatchError
from modelyard.registry.flavors import ColumnSpec, Signature, infer_signature

FRAUD_INPUTS = (
    ColumnSpec("amount", "float64", False),
    ColumnSpec("hour", "int64", False),
    ColumnSpec("country", "category", False),
    ColumnSpec("note", "string", True),
)
FRAUD = Signature(FRAUD_INPUTS, (ColumnSpec("prediction", "int64", False, (None,)),), "dataframe")


def _fraud_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [12.5, 80.0, 3.2],
            "hour": np.array([1, 13, 23], dtype=np.int64),
            "country": pd.Categorical(["US", "DE", "US"]),
            "note": ["a", None, "c"],
        }
    )


# ---------------------------------------------------------------- inference


def test_inference_names_every_pandas_dtype_canonically() -> None:
    frame = pd.DataFrame(
        {
            "f64": [1.5, 2.5],
            "f32": np.array([1.0, 2.0], dtype=np.float32),
            "i64": np.array([1, 2], dtype=np.int64),
            "i16": np.array([1, 2], dtype=np.int16),
            "u8": np.array([1, 2], dtype=np.uint8),
            "flag": [True, False],
            "text": ["a", "b"],
            "objects": pd.Series(["a", "b"], dtype=object),
            "kind": pd.Categorical(["x", "y"]),
            "when": pd.to_datetime(["2026-01-01", "2026-01-02"]),
            "when_utc": pd.to_datetime(["2026-01-01", "2026-01-02"]).tz_localize("UTC"),
            "wait": pd.to_timedelta([1, 2], unit="s"),
            "mixed": pd.Series([1, "b"], dtype=object),
        }
    )
    signature = infer_signature(frame)
    assert signature.input_kind == "dataframe"
    assert signature.outputs == ()
    assert [(spec.name, spec.dtype) for spec in signature.inputs] == [
        ("f64", "float64"),
        ("f32", "float32"),
        ("i64", "int64"),
        ("i16", "int16"),
        ("u8", "uint8"),
        ("flag", "bool"),
        ("text", "string"),
        ("objects", "string"),
        ("kind", "category"),
        ("when", "datetime64[ns]"),
        ("when_utc", "datetime64[ns, UTC]"),
        ("wait", "timedelta64[ns]"),
        ("mixed", "object"),
    ]
    assert not any(spec.nullable for spec in signature.inputs)
    assert all(spec.shape is None for spec in signature.inputs)


def test_nullable_follows_the_example_and_the_nullable_dtypes() -> None:
    frame = pd.DataFrame(
        {
            "with_nan": [1.0, np.nan],
            "without_nan": [1.0, 2.0],
            "masked_int": pd.array([1, None], dtype="Int64"),
            "masked_int_full": pd.array([1, 2], dtype="Int32"),
            "masked_bool": pd.array([True, None], dtype="boolean"),
            "masked_float": pd.array([0.5, None], dtype="Float64"),
            "text_with_none": ["a", None],
            "arrow_text": pd.array(["a", None], dtype="string"),
            "when": pd.Series([pd.Timestamp("2026-01-01"), pd.NaT]),
        }
    )
    specs = infer_signature(frame).inputs
    assert specs == (
        ColumnSpec("with_nan", "float64", True),
        ColumnSpec("without_nan", "float64", False),
        ColumnSpec("masked_int", "int64", True),
        ColumnSpec("masked_int_full", "int32", True),
        ColumnSpec("masked_bool", "bool", True),
        ColumnSpec("masked_float", "float64", True),
        ColumnSpec("text_with_none", "string", True),
        ColumnSpec("arrow_text", "string", True),
        ColumnSpec("when", "datetime64[ns]", True),
    )


def test_an_array_gives_a_tensor_signature_with_a_free_batch_dimension() -> None:
    example = np.zeros((4, 3, 2), dtype=np.float32)
    signature = infer_signature(example, np.zeros(4, dtype=np.int64))
    assert signature == Signature(
        (ColumnSpec("input", "float32", False, (None, 3, 2)),),
        (ColumnSpec("prediction", "int64", False, (None,)),),
        "tensor",
    )
    with_nan = np.array([[1.0, np.nan]])
    assert infer_signature(with_nan).inputs[0].nullable is True


def test_outputs_come_from_arrays_series_frames_and_mappings() -> None:
    frame = _fraud_frame()
    named = infer_signature(frame, pd.Series([0.5, 0.1, 0.2], name="score")).outputs
    assert named == (ColumnSpec("score", "float64", False, (None,)),)
    mapping = {"prediction": np.array([1, 0, 1]), "probabilities": np.zeros((3, 2))}
    assert infer_signature(frame, mapping).outputs == (
        ColumnSpec("prediction", "int64", False, (None,)),
        ColumnSpec("probabilities", "float64", False, (None, 2)),
    )
    columns = infer_signature(frame, pd.DataFrame({"a": [1.0, 2.0, 3.0]})).outputs
    assert columns == (ColumnSpec("a", "float64", False),)


@pytest.mark.parametrize(
    ("example", "message"),
    [
        ([1, 2, 3], "input_example must be a pandas DataFrame or a numpy array, got builtins.list"),
        (pd.DataFrame({0: [1.0]}), "column names must be strings; rename 0"),
        (np.float64(1.0), "input_example must be a pandas DataFrame or a numpy array"),
    ],
)
def test_inference_rejects_what_is_not_a_frame_or_array(example: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^{message}"):
        infer_signature(example)


def test_repeated_column_names_are_rejected() -> None:
    frame = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    with pytest.raises(InvalidInputError, match=r"^column names repeat: a, a$"):
        infer_signature(frame)


# ---------------------------------------------------------------- check


def test_a_matching_frame_passes_in_any_column_order() -> None:
    frame = _fraud_frame()
    FRAUD.check(frame)
    FRAUD.check(frame[["note", "country", "hour", "amount"]])


def test_the_check_lists_every_problem_and_names_the_first() -> None:
    frame = _fraud_frame().drop(columns=["amount"])
    frame["hour"] = frame["hour"].astype(str)
    frame["country"] = pd.Series(["US", None, None], dtype="category")
    frame["merchant"] = 1
    with pytest.raises(SignatureMismatchError) as caught:
        FRAUD.check(frame)
    error = caught.value
    assert (error.column, error.rule) == ("amount", "missing column of type float64")
    assert error.problems == [
        "amount: missing column of type float64",
        "hour: expected int64, got string",
        "country: 2 null values in a non-nullable column",
        "merchant: unexpected column",
    ]
    assert str(error) == (
        "input does not match the model signature: amount: missing column of type float64; "
        "hour: expected int64, got string; country: 2 null values in a non-nullable column; "
        "merchant: unexpected column"
    )
    assert error.code == "signature_mismatch"


def test_one_null_is_counted_in_the_singular() -> None:
    frame = _fraud_frame()
    frame.loc[1, "amount"] = np.nan
    with pytest.raises(SignatureMismatchError) as caught:
        FRAUD.check(frame)
    assert caught.value.problems == ["amount: 1 null value in a non-nullable column"]


def test_a_nullable_column_may_be_left_out_and_hold_nulls() -> None:
    frame = _fraud_frame()
    FRAUD.check(frame.drop(columns=["note"]))
    FRAUD.check(frame.assign(note=pd.Series([None, None, None], dtype=object)))


def test_numbers_widen_into_floats_but_not_the_reverse() -> None:
    frame = _fraud_frame()
    FRAUD.check(frame.assign(amount=np.array([1, 2, 3], dtype=np.int32)))
    FRAUD.check(frame.assign(amount=[True, False, True]))
    FRAUD.check(frame.assign(hour=np.array([1, 2, 3], dtype=np.int8)))
    FRAUD.check(frame.assign(country=["US", "DE", "FR"]))
    FRAUD.check(frame.assign(hour=pd.Series([1, 2, 3], dtype=object)))
    with pytest.raises(SignatureMismatchError) as caught:
        FRAUD.check(frame.assign(hour=[1.5, 2.0, 3.0]))
    assert caught.value.problems == ["hour: expected int64, got float64"]


def test_repeated_columns_in_the_data_are_reported() -> None:
    frame = pd.concat([_fraud_frame(), _fraud_frame()[["hour"]]], axis=1)
    with pytest.raises(SignatureMismatchError) as caught:
        FRAUD.check(frame)
    assert caught.value.problems == ["hour: column appears more than once"]


def test_a_frame_signature_takes_only_frames() -> None:
    with pytest.raises(SignatureMismatchError) as caught:
        FRAUD.check(np.zeros((2, 4)))
    assert (caught.value.column, caught.value.rule) == (
        "<input>",
        "expected a pandas DataFrame, got numpy.ndarray",
    )


def test_tensor_checks_cover_dimensions_width_dtype_and_nan() -> None:
    signature = infer_signature(np.zeros((2, 3), dtype=np.float32))
    signature.check(np.ones((5, 3), dtype=np.float32))
    signature.check(np.ones((5, 3), dtype=np.int64))
    cases = [
        (np.ones(3, dtype=np.float32), "expected shape (None, 3), got (3)"),
        (np.ones((5, 4), dtype=np.float32), "expected shape (None, 3), got (5, 4)"),
        (np.array([["a", "b", "c"]]), "expected float32, got string"),
        (np.array([[1.0, np.nan, np.nan]]), "2 NaN values in a non-nullable tensor"),
        (pd.DataFrame({"a": [1.0]}), "expected a numpy array, got pandas.DataFrame"),
    ]
    for data, rule in cases:
        with pytest.raises(SignatureMismatchError) as caught:
            signature.check(data)
        assert (caught.value.column, caught.value.rule) == ("input", rule)


# ---------------------------------------------------------------- compatibility


def _with(inputs: tuple[ColumnSpec, ...], outputs: tuple[ColumnSpec, ...] = ()) -> Signature:
    return Signature(inputs, outputs or FRAUD.outputs, "dataframe")


def test_an_identical_or_widened_signature_breaks_nothing() -> None:
    assert FRAUD.breaking_changes(FRAUD) == []
    widened = _with(
        (
            ColumnSpec("amount", "float64", True),
            ColumnSpec("hour", "float64", False),
            *FRAUD_INPUTS[2:],
            ColumnSpec("merchant", "string", True),
        ),
        (*FRAUD.outputs, ColumnSpec("score", "float64", False, (None,))),
    )
    assert FRAUD.breaking_changes(widened) == []


def test_breaking_changes_are_listed_one_per_line() -> None:
    newer = Signature(
        (
            ColumnSpec("amount", "int64", False),
            ColumnSpec("hour", "int64", False),
            ColumnSpec("note", "string", False),
            ColumnSpec("device", "category", False),
        ),
        (ColumnSpec("prediction", "float64", False, (None,)),),
        "dataframe",
    )
    assert FRAUD.breaking_changes(newer) == [
        'input "amount" changed type from float64 to int64',
        'input "country" was removed',
        'input "note" no longer accepts nulls',
        'new input "device" is required (non-nullable)',
        'output "prediction" changed from int64 (None) to float64 (None)',
    ]


def test_a_removed_output_and_a_new_input_kind_break_callers() -> None:
    tensor = Signature((ColumnSpec("input", "float32", False, (None, 4)),), (), "tensor")
    assert FRAUD.breaking_changes(tensor) == [
        "input kind changed from dataframe to tensor",
        'input "amount" was removed',
        'input "hour" was removed',
        'input "country" was removed',
        'input "note" was removed',
        'new input "input" is required (non-nullable)',
        'output "prediction" was removed',
    ]
    wider = Signature((ColumnSpec("input", "float32", False, (None, None)),), (), "tensor")
    assert tensor.breaking_changes(wider) == []
    assert wider.breaking_changes(tensor) == [
        'input "input" changed shape from (None, None) to (None, 4)'
    ]


# ---------------------------------------------------------------- serialization


def test_to_dict_and_from_dict_round_trip() -> None:
    tensor = infer_signature(np.zeros((2, 3), dtype=np.float32), np.zeros((2, 1)))
    for signature in (FRAUD, tensor):
        assert Signature.from_dict(signature.to_dict()) == signature
    assert FRAUD.to_dict()["inputs"] == [
        {"name": "amount", "dtype": "float64", "nullable": False, "shape": None},
        {"name": "hour", "dtype": "int64", "nullable": False, "shape": None},
        {"name": "country", "dtype": "category", "nullable": False, "shape": None},
        {"name": "note", "dtype": "string", "nullable": True, "shape": None},
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"inputs": []}, "a signature needs input_kind"),
        ({"input_kind": "dataframe", "inputs": [], "outputs": None}, "a signature needs outputs"),
        ({"input_kind": "graph", "inputs": [], "outputs": []}, "signature input_kind 'graph'"),
        ({"input_kind": "tensor", "inputs": [], "outputs": []}, "a tensor signature has exactly"),
        (
            {"input_kind": "dataframe", "inputs": [{"name": "a", "dtype": "int64"}], "outputs": []},
            'column spec "a": nullable must be true or false',
        ),
        (
            {
                "input_kind": "dataframe",
                "inputs": [{"name": "a", "dtype": "int64", "nullable": True, "shape": "x"}],
                "outputs": [],
            },
            'column spec "a": shape must be a list of ints or null',
        ),
    ],
)
def test_from_dict_rejects_what_is_not_a_signature(data: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInputError, match=f"^{message}"):
        Signature.from_dict(data)


# ---------------------------------------------------------------- property


_COLUMN_KINDS = st.sampled_from(["float", "int", "bool", "text", "category", "masked"])


@st.composite
def _frames(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.integers(min_value=1, max_value=8))
    kinds = draw(st.lists(_COLUMN_KINDS, min_size=1, max_size=6))
    columns: dict[str, object] = {}
    for position, kind in enumerate(kinds):
        name = f"c{position}_{kind}"
        if kind == "float":
            values = st.one_of(st.floats(allow_nan=False, width=64), st.just(float("nan")))
            columns[name] = np.array(draw(st.lists(values, min_size=rows, max_size=rows)))
        elif kind == "int":
            ints = st.lists(st.integers(-(2**40), 2**40), min_size=rows, max_size=rows)
            columns[name] = np.array(draw(ints), dtype=np.int64)
        elif kind == "bool":
            columns[name] = draw(st.lists(st.booleans(), min_size=rows, max_size=rows))
        elif kind == "text":
            texts = st.one_of(st.text(max_size=5), st.none())
            columns[name] = pd.Series(draw(st.lists(texts, min_size=rows, max_size=rows)))
        elif kind == "category":
            labels = st.lists(st.sampled_from(["a", "b", "c"]), min_size=rows, max_size=rows)
            columns[name] = pd.Categorical(draw(labels))
        else:
            masked = st.one_of(st.integers(-100, 100), st.none())
            numbers = draw(st.lists(masked, min_size=rows, max_size=rows))
            columns[name] = pd.array(numbers, dtype="Int64")
    return pd.DataFrame(columns)


@settings(max_examples=75, deadline=None)
@given(frame=_frames(), seed=st.integers(0, 2**16))
def test_an_inferred_signature_accepts_its_own_frame_in_any_order(
    frame: pd.DataFrame, seed: int
) -> None:
    signature = infer_signature(frame)
    signature.check(frame)
    order = np.random.default_rng(seed).permutation(len(frame.columns))
    signature.check(frame.iloc[:, order])
    assert Signature.from_dict(signature.to_dict()) == signature
    assert signature.breaking_changes(signature) == []
