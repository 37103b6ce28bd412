"""The input adapter: the cached fast path must accept and reject exactly what the check does."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from modelyard.errors import SignatureMismatchError
from modelyard.registry.flavors import ColumnSpec, Signature, infer_signature
from modelyard.registry.flavors.adapter import InputAdapter

NUMERIC = Signature(
    (
        ColumnSpec("amount", "float64", False),
        ColumnSpec("hour", "int16", False),
        ColumnSpec("card_present", "bool", False),
        ColumnSpec("discount", "float64", True),
    ),
    (),
    "dataframe",
)


def _frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [12.5, 80.0],
            "hour": np.array([1, 23], dtype=np.int16),
            "card_present": [True, False],
            "discount": [np.nan, 0.5],
        }
    )


def test_a_matching_frame_becomes_a_float32_matrix_in_column_order() -> None:
    adapter = InputAdapter(NUMERIC)
    frame = _frame()
    for _ in range(2):  # the second call takes the cached path
        matrix = adapter.matrix(frame)
        assert matrix.dtype == np.float32
        np.testing.assert_array_equal(
            matrix, np.array([[12.5, 1, 1, np.nan], [80.0, 23, 0, 0.5]], dtype=np.float32)
        )
        assert adapter.frame(frame) is frame


def test_a_null_in_a_non_nullable_column_is_caught_on_the_fast_path() -> None:
    adapter = InputAdapter(NUMERIC)
    adapter.matrix(_frame())
    bad = _frame()
    bad.loc[0, "amount"] = np.nan
    for prepare in (adapter.matrix, adapter.frame):
        with pytest.raises(SignatureMismatchError) as caught:
            prepare(bad)
        assert caught.value.problems == ["amount: 1 null value in a non-nullable column"]


def test_the_dtype_cache_notices_a_retyped_column_under_the_same_names() -> None:
    adapter = InputAdapter(NUMERIC)
    frame = _frame()
    adapter.matrix(frame)
    retyped = frame.copy()
    retyped["hour"] = retyped["hour"].astype(str)
    assert retyped.columns.equals(frame.columns)
    with pytest.raises(SignatureMismatchError) as caught:
        adapter.matrix(retyped)
    assert caught.value.problems == ["hour: expected int16, got string"]
    np.testing.assert_array_equal(adapter.matrix(frame)[:, 0], [12.5, 80.0])


def test_other_orders_missing_nullable_columns_and_objects_are_normalized() -> None:
    adapter = InputAdapter(NUMERIC)
    frame = _frame()
    reordered = frame[["discount", "card_present", "hour", "amount"]]
    np.testing.assert_array_equal(adapter.matrix(reordered), adapter.matrix(frame))
    assert list(adapter.frame(reordered).columns) == ["amount", "hour", "card_present", "discount"]
    without = frame.drop(columns=["discount"])
    np.testing.assert_array_equal(
        adapter.matrix(without),
        np.array([[12.5, 1, 1, np.nan], [80.0, 23, 0, np.nan]], dtype=np.float32),
    )
    as_objects = frame.astype({"amount": object, "hour": object})
    np.testing.assert_array_equal(adapter.matrix(as_objects), adapter.matrix(frame))


def test_masked_nullable_integers_become_nan() -> None:
    signature = infer_signature(pd.DataFrame({"count": pd.array([1, None], dtype="Int64")}))
    adapter = InputAdapter(signature)
    frame = pd.DataFrame({"count": pd.array([None, 4], dtype="Int64")})
    np.testing.assert_array_equal(
        adapter.matrix(frame), np.array([[np.nan], [4.0]], dtype=np.float32)
    )


def test_per_column_arrays_follow_the_onnx_kinds() -> None:
    signature = Signature(
        (
            ColumnSpec("amount", "float64", False),
            ColumnSpec("hour", "int64", False),
            ColumnSpec("country", "category", False),
            ColumnSpec("note", "string", True),
        ),
        (),
        "dataframe",
    )
    frame = pd.DataFrame(
        {
            "amount": [1.5, 2.5],
            "hour": [3, 4],
            "country": pd.Categorical(["US", "DE"]),
            "note": ["x", None],
        }
    )
    kinds = {"amount": "float", "hour": "int64", "country": "string", "note": "string"}
    arrays = InputAdapter(signature).columns(frame, kinds)
    assert {name: (array.dtype.kind, array.shape) for name, array in arrays.items()} == {
        "amount": ("f", (2, 1)),
        "hour": ("i", (2, 1)),
        "country": ("O", (2, 1)),
        "note": ("O", (2, 1)),
    }
    assert arrays["country"].ravel().tolist() == ["US", "DE"]
    assert arrays["note"].ravel().tolist() == ["x", ""]


def test_a_tensor_is_checked_and_cast_to_the_signature_dtype() -> None:
    adapter = InputAdapter(infer_signature(np.zeros((2, 3), dtype=np.float32)))
    same = np.ones((4, 3), dtype=np.float32)
    assert adapter.tensor(same) is same
    cast = adapter.tensor(np.ones((4, 3), dtype=np.float64))
    assert cast.dtype == np.float32
    with pytest.raises(SignatureMismatchError) as caught:
        adapter.tensor(np.array([[1.0, np.nan, 2.0]], dtype=np.float32))
    assert caught.value.problems == ["input: 1 NaN value in a non-nullable tensor"]
    with pytest.raises(SignatureMismatchError) as caught:
        adapter.matrix(np.ones((2, 2), dtype=np.float32))
    assert caught.value.problems == ["input: expected shape (None, 3), got (2, 2)"]


def test_a_list_takes_the_full_check_and_is_rejected() -> None:
    adapter = InputAdapter(NUMERIC)
    with pytest.raises(SignatureMismatchError) as caught:
        adapter.matrix([[1.0, 2, True, 0.0]])
    assert caught.value.problems == ["<input>: expected a pandas DataFrame, got builtins.list"]
