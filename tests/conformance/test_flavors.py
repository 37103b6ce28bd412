"""The model flavor conformance suite: every flavor must pass every test here.

Flavors: a scikit-learn estimator, a scikit-learn Pipeline with a ColumnTransformer over string
and categorical columns, XGBoost, LightGBM, torch, a ready ONNX model and a trusted pickle. Each
case is fitted and saved once per module (small data, few trees); the tests read the package
back, load it on each backend and compare with the in-memory model.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import lightgbm
import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import torch
import xgboost
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

from modelyard.errors import InvalidInputError, SignatureMismatchError
from modelyard.registry.flavors import (
    MANIFEST_FILE,
    ColumnSpec,
    ModelPackage,
    load_predictor,
    read_package,
    save_model,
)
from modelyard.workflows.fraud_data import generate_transactions

NUMERIC = ["amount", "hour", "customer_age", "card_present", "is_new_device"]
NUMERIC_SPECS = (
    ColumnSpec("amount", "float64", False),
    ColumnSpec("hour", "int16", False),
    ColumnSpec("customer_age", "int16", False),
    ColumnSpec("card_present", "bool", False),
    ColumnSpec("is_new_device", "bool", False),
)
FLOAT_SPECS = tuple(ColumnSpec(spec.name, "float64", False) for spec in NUMERIC_SPECS)
TOLERANCE = 1e-4


class ThresholdModel:
    """A hand-written classifier no flavor knows: it needs the pickle fallback."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        share = np.clip(frame["amount"].to_numpy() / (2 * self.threshold), 0.0, 1.0)
        return np.column_stack([1.0 - share, share])

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(frame)[:, 1] > 0.5).astype(np.int64)


@dataclass(frozen=True)
class Case:
    """One flavor under test: the model, its example, and how to get its native output."""

    name: str
    model: object
    frame: pd.DataFrame
    native: Callable[[pd.DataFrame], np.ndarray]
    flavor: str
    native_format: str
    task: str
    input_specs: tuple[ColumnSpec, ...]
    distributions: tuple[str, ...]
    trust: bool = False

    @property
    def example(self) -> pd.DataFrame:
        return self.frame.iloc[:64]

    @property
    def data(self) -> pd.DataFrame:
        return self.frame.iloc[64:]


def _transactions() -> tuple[pd.DataFrame, pd.Series]:
    frame = generate_transactions(rows=1_200, seed=11)
    return frame, frame["is_fraud"]


def _sklearn_estimator() -> Case:
    frame, label = _transactions()
    features = frame[NUMERIC]
    model = GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0)
    model.fit(features, label)
    return Case(
        "sklearn-estimator",
        model,
        features,
        model.predict_proba,
        "sklearn",
        "skops",
        "classification",
        NUMERIC_SPECS,
        ("scikit-learn", "skops", "skl2onnx"),
    )


def _sklearn_pipeline() -> Case:
    frame, label = _transactions()
    features = frame[[*NUMERIC, "merchant_category", "country", "device"]].copy()
    # One plain string column (pandas' str dtype) next to the categorical ones.
    features["merchant_category"] = features["merchant_category"].astype(str)
    prepare = ColumnTransformer(
        [
            ("onehot", OneHotEncoder(handle_unknown="ignore"), ["merchant_category", "country"]),
            ("ordinal", OrdinalEncoder(), ["device"]),
            ("scale", StandardScaler(), NUMERIC),
        ]
    )
    model = Pipeline([("prepare", prepare), ("classify", LogisticRegression(max_iter=500))])
    model.fit(features, label)
    specs = (
        *NUMERIC_SPECS,
        ColumnSpec("merchant_category", "string", False),
        ColumnSpec("country", "category", False),
        ColumnSpec("device", "category", False),
    )
    return Case(
        "sklearn-pipeline",
        model,
        features,
        model.predict_proba,
        "sklearn",
        "skops",
        "classification",
        specs,
        ("scikit-learn", "skops", "skl2onnx"),
    )


def _xgboost() -> Case:
    frame, label = _transactions()
    features = frame[NUMERIC].astype("float64")
    model = xgboost.XGBClassifier(n_estimators=15, max_depth=3, n_jobs=1, random_state=0)
    model.fit(features, label)
    return Case(
        "xgboost",
        model,
        features,
        model.predict_proba,
        "xgboost",
        "xgboost-json",
        "classification",
        FLOAT_SPECS,
        ("xgboost", "onnxmltools"),
    )


def _lightgbm() -> Case:
    frame, _ = _transactions()
    features = frame[NUMERIC]
    target = np.log1p(frame["amount"]) + 0.1 * frame["hour"]
    model = lightgbm.LGBMRegressor(n_estimators=15, num_leaves=8, n_jobs=1, verbose=-1)
    model.fit(features, target)

    def native(data: pd.DataFrame) -> np.ndarray:
        return np.asarray(model.predict(data))

    return Case(
        "lightgbm",
        model,
        features,
        native,
        "lightgbm",
        "lightgbm-text",
        "regression",
        NUMERIC_SPECS,
        ("lightgbm", "onnxmltools"),
    )


def _torch() -> Case:
    frame, _ = _transactions()
    features = frame[NUMERIC].astype("float32")
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    model.eval()

    def native(data: pd.DataFrame) -> np.ndarray:
        with torch.no_grad():
            return np.asarray(model(torch.from_numpy(data.to_numpy(dtype=np.float32))).numpy())

    specs = tuple(ColumnSpec(spec.name, "float32", False) for spec in NUMERIC_SPECS)
    return Case(
        "torch", model, features, native, "torch", "torch-export", "other", specs, ("torch",)
    )


def _onnx() -> Case:
    frame, label = _transactions()
    features = frame[NUMERIC].astype("float32")
    classifier = LogisticRegression(max_iter=500).fit(features.to_numpy(), label)
    model = convert_sklearn(
        classifier,
        initial_types=[("features", FloatTensorType([None, len(NUMERIC)]))],
        options={id(classifier): {"zipmap": False}},
        target_opset={"": 15, "ai.onnx.ml": 3},
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])

    def native(data: pd.DataFrame) -> np.ndarray:
        feeds = {"features": data.to_numpy(dtype=np.float32)}
        return np.asarray(session.run(["probabilities"], feeds)[0])

    specs = tuple(ColumnSpec(spec.name, "float32", False) for spec in NUMERIC_SPECS)
    return Case(
        "onnx",
        model,
        features,
        native,
        "onnx",
        "onnx",
        "classification",
        specs,
        ("onnx", "onnxruntime"),
    )


def _pickle() -> Case:
    frame, _ = _transactions()
    features = frame[NUMERIC]
    model = ThresholdModel(threshold=150.0)
    return Case(
        "pickle",
        model,
        features,
        model.predict_proba,
        "pickle",
        "pickle",
        "classification",
        NUMERIC_SPECS,
        (),
        trust=True,
    )


CASES = {
    "sklearn-estimator": _sklearn_estimator,
    "sklearn-pipeline": _sklearn_pipeline,
    "xgboost": _xgboost,
    "lightgbm": _lightgbm,
    "torch": _torch,
    "onnx": _onnx,
    "pickle": _pickle,
}
CONVERTED = {"sklearn-estimator", "sklearn-pipeline", "xgboost", "lightgbm", "torch", "onnx"}


@dataclass(frozen=True)
class Saved:
    case: Case
    directory: Path
    package: ModelPackage


@pytest.fixture(scope="module", params=list(CASES))
def saved(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Saved:
    """Each flavor's model, saved once into its own package directory."""
    case = CASES[request.param]()
    directory = tmp_path_factory.mktemp(case.name) / "package"
    package = save_model(case.model, directory, input_example=case.example, trust=case.trust)
    return Saved(case, directory, package)


def _predict(saved: Saved, backend: str) -> np.ndarray:
    predictor = load_predictor(saved.directory, backend=backend)
    if saved.case.task == "classification":
        return predictor.predict_proba(saved.case.data)
    return predictor.predict(saved.case.data)


def test_the_package_records_flavor_task_and_files(saved: Saved) -> None:
    package, case = saved.package, saved.case
    assert (package.flavor, package.native_format, package.task) == (
        case.flavor,
        case.native_format,
        case.task,
    )
    assert package.is_pickle_trusted is (case.flavor == "pickle")
    expected_files = {MANIFEST_FILE, package.native_path, "input_example.parquet"}
    if package.onnx_path is not None:
        expected_files.add(package.onnx_path)
    stored = {path.name for path in saved.directory.iterdir()}
    assert expected_files <= stored
    pd.testing.assert_frame_equal(
        pd.read_parquet(saved.directory / package.input_example_path),
        case.example.reset_index(drop=True),
    )


def test_conversion_is_recorded_and_verified(saved: Saved) -> None:
    conversion = saved.package.conversion
    if saved.case.name in CONVERTED:
        assert saved.package.onnx_path == "model.onnx"
        assert conversion.is_converted is True
        assert conversion.error is None
        assert conversion.max_abs_diff is not None
        assert 0.0 <= conversion.max_abs_diff <= TOLERANCE
        onnx.checker.check_model(onnx.load(saved.directory / "model.onnx"))
    else:
        assert saved.package.onnx_path is None
        assert conversion.is_converted is False
        assert conversion.error == "the pickle flavor has no ONNX converter"
    assert conversion.tolerance == TOLERANCE


def test_read_package_returns_what_save_model_returned(saved: Saved) -> None:
    assert read_package(saved.directory) == saved.package
    manifest = json.loads((saved.directory / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert ModelPackage.from_dict(manifest) == saved.package
    assert ModelPackage.from_dict(saved.package.to_dict()) == saved.package


def test_the_input_signature_is_inferred_from_the_example(saved: Saved) -> None:
    signature = saved.package.signature
    assert signature.input_kind == "dataframe"
    assert signature.inputs == saved.case.input_specs


def test_outputs_describe_predictions_and_probabilities(saved: Saved) -> None:
    outputs = {spec.name: spec for spec in saved.package.signature.outputs}
    native = saved.case.native(saved.case.example)
    if saved.case.task == "classification":
        assert list(outputs) == ["prediction", "probabilities"]
        assert outputs["probabilities"].shape == (None, native.shape[1])
    else:
        assert list(outputs) == ["prediction"]
        assert outputs["prediction"].shape == (None, *native.shape[1:])


@pytest.mark.parametrize("backend", ["auto", "native"])
def test_predictions_match_the_native_model(saved: Saved, backend: str) -> None:
    expected = saved.case.native(saved.case.data)
    actual = _predict(saved, backend)
    assert actual.shape == expected.shape
    np.testing.assert_allclose(actual, expected, rtol=0, atol=TOLERANCE)


def test_labels_match_the_native_model(saved: Saved) -> None:
    predictor = load_predictor(saved.directory)
    case = saved.case
    if case.task != "classification":
        # Only classifiers have labels next to probabilities; the others say so.
        with pytest.raises(InvalidInputError, match="gives no class probabilities; call predict"):
            predictor.predict_proba(case.data)
        return
    if case.flavor == "onnx":
        expected = np.argmax(case.native(case.data), axis=1)
    else:
        expected = case.model.predict(case.data)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(predictor.predict(case.data), expected)


def test_the_backend_is_onnxruntime_when_converted(saved: Saved) -> None:
    auto = load_predictor(saved.directory)
    native = load_predictor(saved.directory, backend="native")
    if saved.case.name in CONVERTED:
        assert auto.backend == "onnxruntime"
        assert load_predictor(saved.directory, backend="onnx").backend == "onnxruntime"
    else:
        assert auto.backend == "native"
    expected_native = "onnxruntime" if saved.case.flavor == "onnx" else "native"
    assert native.backend == expected_native
    assert (auto.flavor, auto.signature) == (saved.case.flavor, saved.package.signature)


def test_single_rows_give_the_rows_of_a_batch(saved: Saved) -> None:
    # Small batches run on a single-threaded session, large ones on the multi-threaded one.
    predictor = load_predictor(saved.directory)
    data = saved.case.data
    batch = _predict(saved, "auto")
    single = predictor.predict_proba if saved.case.task == "classification" else predictor.predict
    for position in (0, 17, len(data) - 1):
        row = data.iloc[[position]]
        alone = np.asarray(single(row), dtype=np.float64)
        np.testing.assert_allclose(alone, batch[position : position + 1], rtol=0, atol=1e-6)


def test_a_fresh_predictor_gives_identical_output(saved: Saved) -> None:
    first = _predict(saved, "auto")
    again = _predict(saved, "auto")
    np.testing.assert_array_equal(first, again)
    assert first.dtype == again.dtype


@pytest.mark.parametrize("backend", ["auto", "native"])
def test_a_missing_column_is_rejected_by_name(saved: Saved, backend: str) -> None:
    predictor = load_predictor(saved.directory, backend=backend)
    data = saved.case.data.drop(columns=["customer_age"])
    with pytest.raises(SignatureMismatchError) as caught:
        predictor.predict(data)
    dtype = saved.package.signature.inputs[2].dtype
    assert (caught.value.column, caught.value.rule) == (
        "customer_age",
        f"missing column of type {dtype}",
    )


@pytest.mark.parametrize("backend", ["auto", "native"])
def test_an_extra_column_is_rejected_by_name(saved: Saved, backend: str) -> None:
    predictor = load_predictor(saved.directory, backend=backend)
    data = saved.case.data.assign(merchant_id=7)
    with pytest.raises(SignatureMismatchError) as caught:
        predictor.predict(data)
    assert (caught.value.column, caught.value.rule) == ("merchant_id", "unexpected column")
    assert caught.value.problems == ["merchant_id: unexpected column"]


@pytest.mark.parametrize("backend", ["auto", "native"])
def test_a_mistyped_column_is_rejected_by_name(saved: Saved, backend: str) -> None:
    predictor = load_predictor(saved.directory, backend=backend)
    data = saved.case.data.assign(amount=saved.case.data["amount"].astype(str))
    with pytest.raises(SignatureMismatchError) as caught:
        predictor.predict(data)
    dtype = saved.package.signature.inputs[0].dtype
    assert (caught.value.column, caught.value.rule) == ("amount", f"expected {dtype}, got string")


def test_library_versions_are_recorded(saved: Saved) -> None:
    versions = saved.package.library_versions
    for name in ("numpy", "pandas", "pyarrow", "onnx", "onnxruntime", *saved.case.distributions):
        assert versions[name] == importlib.metadata.version(name)
    assert versions["python"].count(".") == 2
