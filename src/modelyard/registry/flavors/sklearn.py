"""The scikit-learn flavor: estimators and pipelines, stored with skops, converted by skl2onnx."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import skops.io as skops_io
from sklearn.base import is_classifier, is_regressor
from sklearn.pipeline import Pipeline

from modelyard.errors import CorruptModelPackageError, UntrustedPickleError
from modelyard.registry.flavors.dtypes import FLOATS, INTEGERS, is_numeric
from modelyard.registry.flavors.flavor import (
    MATRIX_INPUT,
    EstimatorModel,
    Layout,
    LoadedModel,
    StoredNative,
    input_form_for,
    qualified_name,
)
from modelyard.registry.flavors.package import ModelPackage
from modelyard.registry.flavors.signature import ColumnSpec, ModelInput, Signature

NATIVE_FILE = "model.skops"
# skl2onnx's TreeEnsemble converters need the ai.onnx.ml domain as well; both are pinned so a
# newer converter cannot silently move a stored model to operators an older runtime lacks.
OPSET = 15
ML_OPSET = 3
# What skops may fail with when an object holds something it cannot represent (a lambda, a
# generator, an open file).
_SKOPS_DUMP_ERRORS = (
    TypeError,
    ValueError,
    AttributeError,
    NotImplementedError,
    pickle.PicklingError,
)
_SKOPS_LOAD_ERRORS = (zipfile.BadZipFile, KeyError, ValueError, TypeError, AttributeError, OSError)


class SklearnFlavor:
    """Packaging for scikit-learn estimators and pipelines."""

    name = "sklearn"
    distributions: tuple[str, ...] = ("scikit-learn", "skops", "skl2onnx")
    opset: int | None = OPSET

    def task(self, model: object) -> str:
        """Return the estimator's task (a classifier without predict_proba is ``other``)."""
        if is_classifier(model) and hasattr(model, "predict_proba"):
            return "classification"
        if is_regressor(model):
            return "regression"
        return "other"

    def wrap(self, model: object, signature: Signature) -> LoadedModel:
        """Return the in-memory estimator as a loaded model."""
        return EstimatorModel(model, input_form_for(signature, takes_frames=True))

    def save_native(self, model: object, directory: Path, example: object) -> StoredNative:
        """Store the estimator with skops and record the non-default types it needs.

        Raises:
            UntrustedPickleError: skops cannot represent the object.
        """
        path = Path(directory) / NATIVE_FILE
        try:
            skops_io.dump(model, path)
        except _SKOPS_DUMP_ERRORS as exc:
            path.unlink(missing_ok=True)
            raise UntrustedPickleError(
                qualified_name(model), f"skops cannot store it: {type(exc).__name__}: {exc}"
            ) from exc
        trusted = tuple(sorted(skops_io.get_untrusted_types(file=path)))
        return StoredNative("skops", NATIVE_FILE, trusted)

    def layouts(self, signature: Signature) -> list[Layout]:
        """Return the matrix layout first when every column is numeric, then per column."""
        if signature.input_kind == "tensor":
            return ["tensor"]
        if all(is_numeric(spec.dtype) for spec in signature.inputs):
            return ["matrix", "columns"]
        return ["columns"]

    def to_onnx(
        self, model: object, signature: Signature, layout: Layout, example: ModelInput
    ) -> bytes:
        """Convert with skl2onnx; classifiers give probabilities as a plain tensor."""
        from skl2onnx import convert_sklearn
        from skl2onnx.common.data_types import FloatTensorType

        if layout == "columns":
            initial_types = [(spec.name, _column_type(spec)) for spec in signature.inputs]
        else:
            spec = signature.inputs[0]
            width = _width(signature) if layout == "matrix" else _tensor_width(spec)
            initial_types = [(MATRIX_INPUT, FloatTensorType([None, width]))]
        options = None
        if self.task(model) == "classification":
            options = {id(_final_estimator(model)): {"zipmap": False}}
        onnx_model = convert_sklearn(
            model,
            initial_types=initial_types,
            options=options,
            target_opset={"": OPSET, "ai.onnx.ml": ML_OPSET},
        )
        serialized: bytes = onnx_model.SerializeToString()
        return serialized

    def load_native(self, directory: Path, package: ModelPackage) -> LoadedModel:
        """Load the skops file, trusting exactly the types recorded at save time.

        Raises:
            CorruptArtifactError: the file is unreadable, or needs types not recorded.
        """
        path = Path(directory) / package.native_path
        try:
            needed = skops_io.get_untrusted_types(file=path)
            unexpected = sorted(set(needed) - set(package.trusted_types))
            if unexpected:
                raise CorruptModelPackageError(
                    f"{path} needs types that were not recorded when it was saved: "
                    + ", ".join(unexpected)
                    + "; the file changed after logging, so it is not loaded (log the model again)"
                )
            model = skops_io.load(path, trusted=needed)
        except _SKOPS_LOAD_ERRORS as exc:
            raise CorruptModelPackageError(f"skops cannot read {path}: {exc}") from exc
        return EstimatorModel(model, input_form_for(package.signature, takes_frames=True))


def _final_estimator(model: object) -> object:
    while isinstance(model, Pipeline):
        model = model.steps[-1][1]
    return model


def _column_type(spec: ColumnSpec) -> object:
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    if spec.dtype in INTEGERS and not spec.nullable:
        return Int64TensorType([None, 1])
    if spec.dtype in FLOATS or spec.dtype in INTEGERS or spec.dtype == "bool":
        return FloatTensorType([None, 1])
    return StringTensorType([None, 1])


def _width(signature: Signature) -> int:
    return len(signature.inputs)


def _tensor_width(spec: ColumnSpec) -> int | None:
    if spec.shape is None or len(spec.shape) != 2:
        return None
    return spec.shape[1]


FLAVOR = SklearnFlavor()
