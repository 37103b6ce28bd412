"""save_model and load_predictor on bad input, failed conversions and tampered packages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

import modelyard.registry.flavors as flavors
from modelyard.errors import (
    CorruptArtifactError,
    FlavorNotInstalledError,
    InvalidInputError,
    SignatureMismatchError,
    UnsupportedModelError,
    UntrustedPickleError,
)
from modelyard.registry.flavors import (
    MANIFEST_FILE,
    ColumnSpec,
    Signature,
    dispatch,
    infer_signature,
    load_predictor,
    read_package,
    save_model,
    supported_flavors,
)


class Clip(BaseEstimator, TransformerMixin):  # type: ignore[misc]  # sklearn is untyped
    """A custom transformer: skops stores it (by name), skl2onnx has no converter for it."""

    def fit(self, features: pd.DataFrame, target: object = None) -> Clip:
        return self

    def transform(self, features: pd.DataFrame) -> np.ndarray:
        return np.clip(np.asarray(features, dtype=np.float64), 0.0, 100.0)


class Doubler:
    """Has predict, but no flavor knows it."""

    def predict(self, frame: pd.DataFrame) -> np.ndarray:
        return frame["amount"].to_numpy() * 2


class Erfinv(torch.nn.Module):
    """torch.export takes it; the legacy ONNX exporter has no erfinv at opset 17."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        result: torch.Tensor = torch.special.erfinv(torch.tanh(features))
        return result


class Branchy(torch.nn.Module):
    """Data-dependent control flow: torch.export cannot trace it."""

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.sum() > 0:
            return features * 2
        return features


def _frame(rows: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    return pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 40.0, rows),
            "hour": rng.integers(0, 24, rows),
            "age": rng.integers(18, 90, rows),
        }
    )


def _label(frame: pd.DataFrame) -> pd.Series:
    return (frame["amount"] > 90).astype(np.int64)


def test_the_supported_flavors_are_those_installed() -> None:
    assert supported_flavors() == ["lightgbm", "onnx", "pickle", "sklearn", "torch", "xgboost"]


def test_the_public_names_are_sorted_and_complete() -> None:
    assert flavors.__all__ == sorted(flavors.__all__)
    assert set(flavors.__all__) == {
        "MANIFEST_FILE",
        "ColumnSpec",
        "ConversionReport",
        "ModelPackage",
        "Predictor",
        "Signature",
        "infer_signature",
        "load_predictor",
        "read_package",
        "save_model",
        "supported_flavors",
    }


def test_a_non_model_object_is_unsupported(tmp_path: Path) -> None:
    with pytest.raises(UnsupportedModelError) as caught:
        save_model({"weights": [1, 2]}, tmp_path / "p", input_example=_frame(), trust=True)
    assert caught.value.type_name == "builtins.dict"
    assert str(caught.value) == (
        "cannot package a model of type builtins.dict: supported flavors are lightgbm, onnx, "
        "pickle, sklearn, torch, xgboost (an arbitrary object needs trust=True and is pickled)"
    )
    assert not (tmp_path / "p").exists()


def test_an_unknown_object_with_predict_needs_trust(tmp_path: Path) -> None:
    with pytest.raises(UntrustedPickleError) as caught:
        save_model(Doubler(), tmp_path / "p", input_example=_frame())
    assert (caught.value.type_name, caught.value.reason) == (
        "test_save_model.Doubler",
        "no flavor stores it",
    )
    assert not (tmp_path / "p").exists()
    package = save_model(Doubler(), tmp_path / "p", input_example=_frame(), trust=True)
    assert (package.flavor, package.is_pickle_trusted, package.task) == ("pickle", True, "other")
    predictor = load_predictor(tmp_path / "p")
    np.testing.assert_array_equal(predictor.predict(_frame(5)), _frame(5)["amount"] * 2)


def test_a_pipeline_without_a_converter_is_recorded_and_served_natively(tmp_path: Path) -> None:
    frame = _frame()
    model = Pipeline([("clip", Clip()), ("classify", LogisticRegression())])
    model.fit(frame, _label(frame))
    package = save_model(model, tmp_path / "p", input_example=frame.iloc[:20])
    assert package.onnx_path is None
    assert package.conversion.is_converted is False
    assert package.conversion.max_abs_diff is None
    assert package.conversion.error == (
        "MissingShapeCalculator: Unable to find a shape calculator for type "
        "'<class 'test_save_model.Clip'>'."
    )
    assert package.trusted_types == ("test_save_model.Clip",)
    assert not (tmp_path / "p" / "model.onnx").exists()
    predictor = load_predictor(tmp_path / "p")
    assert predictor.backend == "native"
    np.testing.assert_array_equal(predictor.predict_proba(frame), model.predict_proba(frame))
    with pytest.raises(InvalidInputError) as caught:
        load_predictor(tmp_path / "p", backend="onnx")
    assert str(caught.value) == (
        f"model package {tmp_path / 'p'} has no ONNX form ({package.conversion.error}); load "
        "it with backend='native' or 'auto'"
    )


def test_a_skops_file_needing_unrecorded_types_is_not_loaded(tmp_path: Path) -> None:
    frame = _frame()
    model = Pipeline([("clip", Clip()), ("classify", LogisticRegression())])
    model.fit(frame, _label(frame))
    save_model(model, tmp_path / "p", input_example=frame.iloc[:20])
    manifest_path = tmp_path / "p" / MANIFEST_FILE
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    manifest["trusted_types"] = []
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(CorruptArtifactError, match=r"not recorded when it was saved: "):
        load_predictor(tmp_path / "p")
    with pytest.raises(CorruptArtifactError, match=r"test_save_model\.Clip; the file changed"):
        load_predictor(tmp_path / "p", backend="native")


def test_an_onnx_form_that_disagrees_is_not_kept(tmp_path: Path) -> None:
    frame = _frame()
    model = GradientBoostingRegressor(n_estimators=10, random_state=0)
    model.fit(frame, frame["amount"] * 1000.0)
    package = save_model(model, tmp_path / "p", input_example=frame.iloc[:50], tolerance=0.0)
    conversion = package.conversion
    assert conversion.is_converted is False
    assert conversion.max_abs_diff is not None
    assert conversion.max_abs_diff > 0.0
    assert conversion.error == (
        f"the ONNX form disagrees with the native model by {conversion.max_abs_diff:.3g} "
        "(tolerance 0) on the input example"
    )
    assert package.onnx_path is None
    assert load_predictor(tmp_path / "p").backend == "native"


def test_a_torch_operator_without_onnx_export_is_served_natively(tmp_path: Path) -> None:
    example = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    package = save_model(Erfinv(), tmp_path / "p", input_example=example)
    assert (package.native_format, package.onnx_path) == ("torch-export", None)
    assert package.conversion.error == (
        "UnsupportedOperatorError: Exporting the operator 'aten::erfinv' to ONNX opset version "
        "17 is not supported"
    )
    assert package.signature.input_kind == "tensor"
    predictor = load_predictor(tmp_path / "p")
    assert predictor.backend == "native"
    expected = torch.special.erfinv(torch.tanh(torch.from_numpy(example))).numpy()
    np.testing.assert_array_equal(predictor.predict(example), expected)


def test_a_module_torch_export_cannot_trace_needs_a_pickle(tmp_path: Path) -> None:
    example = np.ones((2, 3), dtype=np.float32)
    with pytest.raises(UntrustedPickleError) as caught:
        save_model(Branchy(), tmp_path / "p", input_example=example)
    assert caught.value.reason == "torch.export cannot export it: GuardOnDataDependentSymNode"
    with pytest.raises(InvalidInputError, match="the pickle fallback needs an object with predict"):
        save_model(Branchy(), tmp_path / "p", input_example=example, trust=True)
    assert not (tmp_path / "p").exists()


def test_a_given_signature_must_accept_the_example(tmp_path: Path) -> None:
    frame = _frame()
    model = LogisticRegression().fit(frame, _label(frame))
    wrong = Signature((ColumnSpec("amount", "float64", False),), (), "dataframe")
    with pytest.raises(SignatureMismatchError) as caught:
        save_model(model, tmp_path / "p", input_example=frame, signature=wrong)
    assert caught.value.problems == ["hour: unexpected column", "age: unexpected column"]
    assert not (tmp_path / "p").exists()


def test_a_given_signature_with_outputs_is_kept(tmp_path: Path) -> None:
    frame = _frame()
    model = LogisticRegression().fit(frame, _label(frame))
    outputs = (
        ColumnSpec("prediction", "int64", False, (None,)),
        ColumnSpec("probabilities", "float64", False, (None, 2)),
    )
    given = Signature(infer_signature(frame).inputs, outputs, "dataframe")
    package = save_model(model, tmp_path / "p", input_example=frame, signature=given)
    assert package.signature == given
    assert read_package(tmp_path / "p").signature == given


@pytest.mark.parametrize(
    ("example", "tolerance", "message"),
    [
        ([[1.0]], 1e-4, "input_example must be a pandas DataFrame or a numpy array, got builtins"),
        (pd.DataFrame({"amount": []}), 1e-4, "input_example must hold at least one row"),
        (pd.DataFrame({"amount": [1.0]}), -1.0, "tolerance must be a number >= 0, got -1.0"),
        (pd.DataFrame({"amount": [1.0]}), float("nan"), "tolerance must be a number >= 0"),
    ],
)
def test_bad_arguments_are_rejected_before_anything_is_written(
    tmp_path: Path, example: object, tolerance: float, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=f"^{message}"):
        save_model(
            Doubler(),
            tmp_path / "p",
            input_example=example,  # type: ignore[arg-type]  # deliberately not a frame
            trust=True,
            tolerance=tolerance,
        )
    assert not (tmp_path / "p").exists()


def test_the_directory_must_be_empty(tmp_path: Path) -> None:
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="must be an empty directory"):
        save_model(Doubler(), tmp_path / "p", input_example=_frame(), trust=True)
    assert [path.name for path in (tmp_path / "p").iterdir()] == ["keep.txt"]


def test_a_model_that_fails_on_its_example_is_rejected_and_cleaned_up(tmp_path: Path) -> None:
    frame = _frame()
    model = LogisticRegression().fit(frame, _label(frame))
    (tmp_path / "p").mkdir()
    renamed = frame.rename(columns={"age": "years"})
    with pytest.raises(InvalidInputError, match=r"^the model cannot predict on input_example: "):
        save_model(model, tmp_path / "p", input_example=renamed)
    assert list((tmp_path / "p").iterdir()) == []


def test_predict_proba_of_a_regressor_and_a_bad_backend_are_invalid(tmp_path: Path) -> None:
    frame = _frame()
    model = GradientBoostingRegressor(n_estimators=5).fit(frame, frame["amount"] / 100)
    save_model(model, tmp_path / "p", input_example=frame.iloc[:20])
    predictor = load_predictor(tmp_path / "p")
    with pytest.raises(InvalidInputError) as caught:
        predictor.predict_proba(frame)
    assert str(caught.value) == (
        "sklearn.ensemble._gb.GradientBoostingRegressor is a regression model: it gives no "
        "class probabilities; call predict"
    )
    with pytest.raises(InvalidInputError) as caught:
        load_predictor(tmp_path / "p", backend="gpu")
    assert str(caught.value) == "backend 'gpu' is invalid: expected one of auto, onnx, native"


def test_read_package_rejects_missing_corrupt_and_incomplete_packages(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        read_package(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path} is not a modelyard model package: it has no {MANIFEST_FILE} "
        "(write one with save_model)"
    )
    save_model(Doubler(), tmp_path / "p", input_example=_frame(), trust=True)
    manifest = tmp_path / "p" / MANIFEST_FILE
    original = manifest.read_text(encoding="utf-8")
    manifest.write_text("{not json", encoding="utf-8")
    with pytest.raises(CorruptArtifactError, match=r"manifest .* is unreadable: Expecting"):
        read_package(tmp_path / "p")
    manifest.write_text(original.replace('"task": "other"', '"task": "ranking"'), encoding="utf-8")
    with pytest.raises(CorruptArtifactError, match="manifest task 'ranking' is not one of"):
        read_package(tmp_path / "p")
    manifest.write_text(original, encoding="utf-8")
    (tmp_path / "p" / "model.pkl").unlink()
    with pytest.raises(CorruptArtifactError) as caught_corrupt:
        read_package(tmp_path / "p")
    assert str(caught_corrupt.value) == (
        f"unusable model package: model package {tmp_path / 'p'} is incomplete: "
        "model.pkl missing; log the model again"
    )


def test_a_flavor_whose_library_is_missing_is_absent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = np.linspace(-1.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    save_model(Erfinv(), tmp_path / "p", input_example=example)
    requirements = {**dispatch._REQUIREMENTS, "torch": ("modelyard_no_such_torch",)}
    monkeypatch.setattr(dispatch, "_REQUIREMENTS", requirements)
    assert supported_flavors() == ["lightgbm", "onnx", "pickle", "sklearn", "xgboost"]
    # A module has no predict, so not even a trusted pickle could serve it.
    with pytest.raises(UnsupportedModelError) as caught:
        save_model(Erfinv(), tmp_path / "q", input_example=example, trust=True)
    assert caught.value.type_name == "test_save_model.Erfinv"
    assert caught.value.supported == ["lightgbm", "onnx", "pickle", "sklearn", "xgboost"]
    with pytest.raises(
        FlavorNotInstalledError, match=r"pip install 'modelyard\[torch\]'"
    ) as missing:
        load_predictor(tmp_path / "p", backend="native")
    assert (missing.value.flavor, missing.value.model_type) == ("torch", "test_save_model.Erfinv")
