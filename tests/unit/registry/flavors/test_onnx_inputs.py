"""ONNX input layouts: one matrix, one tensor per column, or a tensor; read off the session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pandas as pd
import pytest
from onnx import TensorProto, helper
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from modelyard.errors import InvalidInputError
from modelyard.registry.flavors import load_predictor, save_model


def _frame(rows: int = 120) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 40.0, rows),
            "hour": rng.integers(0, 24, rows),
            "country": rng.choice(["US", "DE", "FR"], rows),
        }
    )


def _pipeline(frame: pd.DataFrame) -> Pipeline:
    prepare = ColumnTransformer(
        [
            ("onehot", OneHotEncoder(handle_unknown="ignore"), ["country"]),
            ("scale", StandardScaler(), ["amount", "hour"]),
        ]
    )
    model = Pipeline([("prepare", prepare), ("classify", LogisticRegression())])
    return model.fit(frame, (frame["amount"] > 80).astype(np.int64))


def test_a_ready_onnx_file_with_one_input_per_column_is_fed_column_by_column(
    tmp_path: Path,
) -> None:
    frame = _frame()
    model = _pipeline(frame)
    proto = convert_sklearn(
        model,
        initial_types=[
            ("amount", FloatTensorType([None, 1])),
            ("hour", Int64TensorType([None, 1])),
            ("country", StringTensorType([None, 1])),
        ],
        options={id(model.steps[-1][1]): {"zipmap": False}},
        target_opset={"": 15, "ai.onnx.ml": 3},
    )
    onnx_file = tmp_path / "pipeline.onnx"
    onnx.save_model(proto, onnx_file)
    package = save_model(onnx_file, tmp_path / "p", input_example=frame.iloc[:30])
    assert (package.flavor, package.model_type, package.task) == (
        "onnx",
        "onnx.ModelProto",
        "classification",
    )
    opsets = {entry.domain: entry.version for entry in proto.opset_import}
    assert package.conversion.opset == opsets[""]
    predictor = load_predictor(tmp_path / "p")
    shuffled = frame[["country", "hour", "amount"]]
    probabilities = np.asarray(predictor.predict_proba(shuffled), dtype=np.float64)
    np.testing.assert_allclose(probabilities, model.predict_proba(frame), rtol=0, atol=1e-5)
    np.testing.assert_array_equal(predictor.predict(frame.iloc[:1]), model.predict(frame.iloc[:1]))


def test_an_onnx_model_whose_inputs_fit_no_layout_is_rejected(tmp_path: Path) -> None:
    frame = _frame()[["amount", "hour"]].astype(np.float32)
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, 1]) for name in ("a", "b")
    ]
    output = helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 1])
    graph = helper.make_graph([helper.make_node("Add", ["a", "b"], ["y"])], "add", inputs, [output])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 15)])
    with pytest.raises(InvalidInputError) as caught:
        save_model(proto, tmp_path / "p", input_example=frame)
    assert str(caught.value) == (
        "the ONNX model's inputs (a, b) are neither the signature's columns (amount, hour) nor "
        "one tensor"
    )
    assert not (tmp_path / "p").exists()


def test_a_path_that_is_not_onnx_is_rejected(tmp_path: Path) -> None:
    bogus = tmp_path / "model.onnx"
    bogus.write_bytes(b"\x00not a protobuf")
    with pytest.raises(InvalidInputError, match=r"model\.onnx is not an? (valid )?ONNX model"):
        save_model(bogus, tmp_path / "p", input_example=_frame())


def test_a_model_fitted_on_arrays_converts_with_the_tensor_layout(tmp_path: Path) -> None:
    features = _frame()[["amount", "hour"]].to_numpy(dtype=np.float64)
    model = LinearRegression().fit(features, features[:, 0] / 100 + features[:, 1] / 10)
    package = save_model(model, tmp_path / "p", input_example=features[:20])
    assert package.signature.input_kind == "tensor"
    assert package.input_example_path == "input_example.npy"
    assert package.conversion.is_converted is True
    for threads in (1, 2):
        predictor = load_predictor(tmp_path / "p", threads=threads)
        assert predictor.backend == "onnxruntime"
        predictions = np.asarray(predictor.predict(features), dtype=np.float64)
        np.testing.assert_allclose(predictions, model.predict(features), rtol=0, atol=1e-4)
    native = load_predictor(tmp_path / "p", backend="native").predict(features[:3])
    np.testing.assert_array_equal(native, model.predict(features[:3]))
