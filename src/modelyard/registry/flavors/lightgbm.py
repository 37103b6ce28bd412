"""The LightGBM flavor: LGBMClassifier/LGBMRegressor, stored as booster text, via onnxmltools."""

from __future__ import annotations

import json
from pathlib import Path

import lightgbm
import numpy as np

from modelyard.errors import CorruptModelPackageError
from modelyard.registry.flavors.dtypes import is_numeric
from modelyard.registry.flavors.flavor import (
    MATRIX_INPUT,
    EstimatorModel,
    InputForm,
    Layout,
    LoadedModel,
    StoredNative,
    input_form_for,
)
from modelyard.registry.flavors.package import ModelPackage
from modelyard.registry.flavors.signature import Array, ModelInput, Signature

NATIVE_FILE = "model.txt"
# A classifier's labels, in the booster's class order (the text format keeps only indices).
CLASSES_FILE = "model.classes.json"
OPSET = 15  # onnxmltools converts to opset 15 at most


class BoosterModel:
    """A LightGBM booster, with the classifier's labels when it is one."""

    def __init__(self, booster: lightgbm.Booster, classes: Array | None, input_form: InputForm):
        self.booster = booster
        self.classes = classes
        self.input_form: InputForm = input_form

    def predict(self, data: object) -> Array:
        """Return labels (classifier) or predictions (regressor), as LGBMModel.predict does."""
        if self.classes is None:
            return np.asarray(self.booster.predict(data))
        return np.asarray(self.classes[np.argmax(self.predict_proba(data), axis=1)])

    def predict_proba(self, data: object) -> Array:
        """Return one probability column per class (binary boosters give the positive one)."""
        raw = np.asarray(self.booster.predict(data))
        if raw.ndim == 1:
            return np.column_stack([1.0 - raw, raw])
        return raw


class LightGBMFlavor:
    """Packaging for LightGBM's scikit-learn API models."""

    name = "lightgbm"
    distributions: tuple[str, ...] = ("lightgbm", "onnxmltools")
    opset: int | None = OPSET

    def task(self, model: object) -> str:
        """Return ``classification`` for classifiers, ``regression`` for regressors."""
        if isinstance(model, lightgbm.LGBMClassifier):
            return "classification"
        if isinstance(model, lightgbm.LGBMRegressor):
            return "regression"
        return "other"

    def wrap(self, model: object, signature: Signature) -> LoadedModel:
        """Return the in-memory model as a loaded model."""
        return EstimatorModel(model, input_form_for(signature, takes_frames=True))

    def save_native(self, model: object, directory: Path, example: object) -> StoredNative:
        """Store the booster as text (and a classifier's labels next to it)."""
        assert isinstance(model, lightgbm.LGBMModel)  # dispatch only routes LightGBM here
        model.booster_.save_model(Path(directory) / NATIVE_FILE)
        if isinstance(model, lightgbm.LGBMClassifier):
            labels = np.asarray(model.classes_).tolist()
            text = json.dumps({"classes": labels})
            (Path(directory) / CLASSES_FILE).write_text(text, encoding="utf-8")
        return StoredNative("lightgbm-text", NATIVE_FILE)

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
        """Convert with onnxmltools' ``convert_lightgbm``; probabilities as a plain tensor."""
        from onnxmltools import convert_lightgbm
        from onnxmltools.convert.common.data_types import FloatTensorType

        shape = signature.inputs[0].shape
        width: int | None = len(signature.inputs)
        if layout == "tensor":
            width = shape[1] if shape is not None and len(shape) == 2 else None
        onnx_model = convert_lightgbm(
            model,
            initial_types=[(MATRIX_INPUT, FloatTensorType([None, width]))],
            target_opset=OPSET,
            zipmap=False,
        )
        serialized: bytes = onnx_model.SerializeToString()
        return serialized

    def load_native(self, directory: Path, package: ModelPackage) -> LoadedModel:
        """Load the booster text (and the labels of a classifier).

        Raises:
            CorruptArtifactError: the booster or the labels file is unreadable.
        """
        path = Path(directory) / package.native_path
        try:
            booster = lightgbm.Booster(model_file=path)
        except lightgbm.basic.LightGBMError as exc:
            raise CorruptModelPackageError(f"LightGBM cannot read {path}: {exc}") from exc
        classes = None
        if package.task == "classification":
            classes_path = Path(directory) / CLASSES_FILE
            try:
                labels = json.loads(classes_path.read_text(encoding="utf-8"))["classes"]
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CorruptModelPackageError(
                    f"the class labels of {path} ({classes_path.name}) are unreadable: {exc}"
                ) from exc
            classes = np.asarray(labels)
        form = input_form_for(package.signature, takes_frames=True)
        return BoosterModel(booster, classes, form)


FLAVOR = LightGBMFlavor()
