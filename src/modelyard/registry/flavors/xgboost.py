"""The XGBoost flavor: scikit-learn API models, stored as XGBoost JSON, converted by onnxmltools."""

from __future__ import annotations

import copy
from pathlib import Path

import xgboost

from modelyard.errors import CorruptModelPackageError
from modelyard.registry.flavors.dtypes import is_numeric
from modelyard.registry.flavors.flavor import (
    MATRIX_INPUT,
    EstimatorModel,
    Layout,
    LoadedModel,
    StoredNative,
    input_form_for,
)
from modelyard.registry.flavors.package import ModelPackage
from modelyard.registry.flavors.signature import ModelInput, Signature

NATIVE_FILE = "model.json"  # XGBoost picks its JSON format from the extension
# onnxmltools converts to opset 15 at most.
OPSET = 15
# The classes a stored model may be loaded into: a fixed table, so that the manifest's
# model_type can never make loading import something else.
_MODEL_CLASSES: dict[str, type[xgboost.XGBModel]] = {
    f"xgboost.sklearn.{cls.__name__}": cls
    for cls in (
        xgboost.XGBClassifier,
        xgboost.XGBRegressor,
        xgboost.XGBRFClassifier,
        xgboost.XGBRFRegressor,
        xgboost.XGBRanker,
    )
}


class XGBoostFlavor:
    """Packaging for XGBoost's scikit-learn API models."""

    name = "xgboost"
    distributions: tuple[str, ...] = ("xgboost", "onnxmltools")
    opset: int | None = OPSET

    def task(self, model: object) -> str:
        """Return ``classification`` for classifiers, ``regression`` for regressors."""
        if isinstance(model, xgboost.XGBClassifier):
            return "classification"
        if isinstance(model, xgboost.XGBRegressor):
            return "regression"
        return "other"

    def wrap(self, model: object, signature: Signature) -> LoadedModel:
        """Return the in-memory model as a loaded model."""
        return EstimatorModel(model, input_form_for(signature, takes_frames=True))

    def save_native(self, model: object, directory: Path, example: object) -> StoredNative:
        """Store the model with XGBoost's own ``save_model`` (JSON)."""
        assert isinstance(model, xgboost.XGBModel)  # dispatch only routes XGBoost models here
        model.save_model(Path(directory) / NATIVE_FILE)
        return StoredNative("xgboost-json", NATIVE_FILE)

    def layouts(self, signature: Signature) -> list[Layout]:
        """Return the matrix layout for all-numeric inputs; the converter takes nothing else."""
        if signature.input_kind == "tensor":
            return ["tensor"]
        if all(is_numeric(spec.dtype) for spec in signature.inputs):
            return ["matrix"]
        return []

    def to_onnx(
        self, model: object, signature: Signature, layout: Layout, example: ModelInput
    ) -> bytes:
        """Convert with onnxmltools' ``convert_xgboost``."""
        from onnxmltools import convert_xgboost
        from onnxmltools.convert.common.data_types import FloatTensorType

        assert isinstance(model, xgboost.XGBModel)
        # The converter reads features as "f0", "f1", …; a model fitted on a frame names them
        # after the columns, so a copy without names is converted (the order is the same).
        unnamed = copy.deepcopy(model)
        unnamed.get_booster().feature_names = None
        width = len(signature.inputs) if layout == "matrix" else _tensor_width(signature)
        onnx_model = convert_xgboost(
            unnamed,
            initial_types=[(MATRIX_INPUT, FloatTensorType([None, width]))],
            target_opset=OPSET,
        )
        serialized: bytes = onnx_model.SerializeToString()
        return serialized

    def load_native(self, directory: Path, package: ModelPackage) -> LoadedModel:
        """Load the JSON model into its recorded scikit-learn API class.

        Raises:
            CorruptArtifactError: the class is not an XGBoost model class, or the file is
                unreadable.
        """
        path = Path(directory) / package.native_path
        cls = _MODEL_CLASSES.get(package.model_type)
        if cls is None:
            raise CorruptModelPackageError(
                f"model package {directory} records model_type {package.model_type!r}, which "
                "is not an XGBoost scikit-learn model class"
            )
        model = cls()
        try:
            model.load_model(path)
        except xgboost.core.XGBoostError as exc:
            raise CorruptModelPackageError(f"XGBoost cannot read {path}: {exc}") from exc
        return EstimatorModel(model, input_form_for(package.signature, takes_frames=True))


def _tensor_width(signature: Signature) -> int | None:
    shape = signature.inputs[0].shape
    return shape[1] if shape is not None and len(shape) == 2 else None


FLAVOR = XGBoostFlavor()
