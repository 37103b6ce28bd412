"""Choosing a model's flavor, and ``save_model``: package a model object into a directory."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from modelyard.errors import (
    FlavorNotInstalledError,
    InvalidInputError,
    ModelyardError,
    UnsupportedModelError,
    UntrustedPickleError,
)
from modelyard.registry.flavors.adapter import InputAdapter
from modelyard.registry.flavors.conversion import convert
from modelyard.registry.flavors.flavor import Flavor, LoadedModel, qualified_name
from modelyard.registry.flavors.package import (
    ONNX_FILE,
    ConversionReport,
    ModelPackage,
    library_versions,
    save_input_example,
    write_manifest,
)
from modelyard.registry.flavors.runtime import OutputShaper, output_spec
from modelyard.registry.flavors.signature import (
    PREDICTION_OUTPUT,
    Array,
    ModelInput,
    Signature,
    infer_signature,
)

PROBABILITIES = "probabilities"
# The modules each flavor needs importable (its library and its safe native format).
_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "lightgbm": ("lightgbm",),
    "onnx": ("onnx",),
    "pickle": (),
    "sklearn": ("sklearn", "skops"),
    "torch": ("torch",),
    "xgboost": ("xgboost",),
}
# Checked in this order: XGBoost and LightGBM models are scikit-learn estimators too. A type is
# looked up in sys.modules only, so detecting a flavor never imports a library (torch takes
# seconds); a model of that library's type means the library is loaded already.
_DETECTION = (
    ("xgboost", "xgboost.sklearn", "XGBModel"),
    ("lightgbm", "lightgbm.sklearn", "LGBMModel"),
    ("torch", "torch.nn", "Module"),
    ("onnx", "onnx", "ModelProto"),
    ("sklearn", "sklearn.base", "BaseEstimator"),
)


def supported_flavors() -> list[str]:
    """Return the flavors whose libraries are installed, sorted by name."""
    return sorted(
        name
        for name, modules in _REQUIREMENTS.items()
        if all(importlib.util.find_spec(module) is not None for module in modules)
    )


def flavor_named(name: str, model_type: str) -> Flavor:
    """Return the flavor object of that name.

    Raises:
        FlavorNotInstalledError: its library is not installed here.
        UnsupportedModelError: no such flavor.
    """
    if name not in _REQUIREMENTS:
        raise UnsupportedModelError(model_type, supported_flavors())
    if name not in supported_flavors():
        raise FlavorNotInstalledError(name, model_type)
    if name == "sklearn":
        from modelyard.registry.flavors.sklearn import FLAVOR as SKLEARN

        return SKLEARN
    if name == "xgboost":
        from modelyard.registry.flavors.xgboost import FLAVOR as XGBOOST

        return XGBOOST
    if name == "lightgbm":
        from modelyard.registry.flavors.lightgbm import FLAVOR as LIGHTGBM

        return LIGHTGBM
    if name == "torch":
        from modelyard.registry.flavors.torch import FLAVOR as TORCH

        return TORCH
    if name == "onnx":
        from modelyard.registry.flavors.onnx import FLAVOR as ONNX

        return ONNX
    from modelyard.registry.flavors.pickle import FLAVOR as PICKLE

    return PICKLE


def detect_flavor(model: object) -> str | None:
    """Return the name of the flavor that stores ``model`` natively, or None."""
    for name, module_name, class_name in _DETECTION:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if isinstance(cls, type) and isinstance(model, cls):
            return name
    if isinstance(model, str | Path) and str(model).endswith(".onnx"):
        return "onnx"
    return None


def save_model(
    model: object,
    directory: Path,
    *,
    input_example: pd.DataFrame | Array,
    signature: Signature | None = None,
    trust: bool = False,
    tolerance: float = 1e-4,
) -> ModelPackage:
    """Package a model into ``directory``: native file, ONNX form, input example, manifest.

    The flavor follows the model's type (scikit-learn, XGBoost, LightGBM, torch, ONNX); any
    other object with ``predict`` is pickled, which needs ``trust=True``. The ONNX form is kept
    only when it agrees with the native model on the input example within ``tolerance``;
    otherwise the package serves natively and its conversion report says why.

    Args:
        model: the model object (or the path of a ``.onnx`` file).
        directory: where to write; created if absent, and must be empty.
        input_example: a few representative rows (a DataFrame, or an array for tensor models);
            stored in the package.
        signature: the input signature; inferred from the example when None. Outputs are
            inferred from the model's predictions when the signature declares none.
        trust: allow the pickle fallback (loading a pickle runs code).
        tolerance: the largest |onnx - native| accepted on the example.

    Returns:
        The package description written as the manifest.

    Raises:
        UnsupportedModelError: no flavor stores the object and it has no ``predict``.
        UntrustedPickleError: only a pickle could store it and ``trust`` is False.
        SignatureMismatchError: the example does not match the given signature.
        InvalidInputError: a bad example, tolerance or directory, or a model that cannot
            predict on its example.
    """
    directory = Path(directory)
    _check_arguments(input_example, directory, tolerance)
    flavor = _choose_flavor(model, trust)
    inputs = signature if signature is not None else infer_signature(input_example)
    inputs.check(input_example)
    is_new = not directory.exists()
    directory.mkdir(parents=True, exist_ok=True)
    try:
        return _save(model, directory, flavor, inputs, input_example, trust, tolerance)
    except BaseException:
        # Leave no half-written package behind.
        if is_new:
            shutil.rmtree(directory, ignore_errors=True)
        else:
            for child in directory.iterdir():
                if child.is_dir():
                    shutil.rmtree(child)
                else:
                    child.unlink()
        raise


def _save(
    model: object,
    directory: Path,
    flavor: Flavor,
    inputs: Signature,
    example: ModelInput,
    trust: bool,
    tolerance: float,
) -> ModelPackage:
    adapter = InputAdapter(inputs)
    loaded = flavor.wrap(model, inputs)
    prepared = adapter.preparer(loaded.input_form)(example)
    try:
        stored = flavor.save_native(model, directory, prepared)
    except UntrustedPickleError as exc:
        if not trust:
            raise
        if not callable(getattr(model, "predict", None)):
            raise InvalidInputError(
                f"{exc.reason}, and the pickle fallback needs an object with predict"
            ) from exc
        flavor = flavor_named("pickle", qualified_name(model))
        loaded = flavor.wrap(model, inputs)
        prepared = adapter.preparer(loaded.input_form)(example)
        stored = flavor.save_native(model, directory, prepared)
    task = flavor.task(model)
    outputs = _reference_outputs(loaded, prepared, task)
    full = inputs
    if not inputs.outputs:
        full = Signature(
            inputs.inputs, infer_signature(example, outputs).outputs, inputs.input_kind
        )
    position = 1 if task == "classification" else 0
    reference = OutputShaper(output_spec(full, position))(outputs[_output_name(task)])
    if stored.native_format == "onnx":
        from modelyard.registry.flavors.onnx import default_opset

        report = ConversionReport(True, 0.0, tolerance, None, default_opset(model))
        onnx_path: str | None = stored.native_path
    else:
        conversion = convert(
            flavor,
            model,
            InputAdapter(full),
            task=task,
            example=example,
            reference=reference,
            tolerance=tolerance,
        )
        report, onnx_path = conversion.report, None
        if conversion.onnx_bytes is not None:
            (directory / ONNX_FILE).write_bytes(conversion.onnx_bytes)
            onnx_path = ONNX_FILE
    package = ModelPackage(
        flavor=flavor.name,
        model_type="onnx.ModelProto" if flavor.name == "onnx" else qualified_name(model),
        signature=full,
        native_format=stored.native_format,
        native_path=stored.native_path,
        onnx_path=onnx_path,
        conversion=report,
        is_pickle_trusted=flavor.name == "pickle",
        library_versions=library_versions(flavor.distributions),
        input_example_path=save_input_example(directory, example),
        task=task,
        trusted_types=stored.trusted_types,
    )
    write_manifest(directory, package)
    return package


def _check_arguments(example: object, directory: Path, tolerance: float) -> None:
    if not isinstance(example, pd.DataFrame | np.ndarray):
        raise InvalidInputError(
            "input_example must be a pandas DataFrame or a numpy array, got "
            f"{qualified_name(example)}"
        )
    if example.ndim == 0 or len(example) == 0:
        raise InvalidInputError("input_example must hold at least one row")
    if not tolerance >= 0.0:
        raise InvalidInputError(f"tolerance must be a number >= 0, got {tolerance!r}")
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise InvalidInputError(f"{directory} must be an empty directory (or not exist yet)")


def _choose_flavor(model: object, trust: bool) -> Flavor:
    name = detect_flavor(model)
    model_type = qualified_name(model)
    if name is not None and name in supported_flavors():
        return flavor_named(name, model_type)
    if not callable(getattr(model, "predict", None)):
        raise UnsupportedModelError(model_type, supported_flavors())
    if not trust:
        reason = (
            f"its {name} flavor is not installed here"
            if name is not None
            else "no flavor stores it"
        )
        raise UntrustedPickleError(model_type, reason)
    return flavor_named("pickle", model_type)


def _reference_outputs(loaded: LoadedModel, prepared: object, task: str) -> dict[str, Array]:
    try:
        outputs = {PREDICTION_OUTPUT: np.asarray(loaded.predict(prepared))}
        if task == "classification":
            outputs[PROBABILITIES] = np.asarray(loaded.predict_proba(prepared))
    except ModelyardError:
        raise
    except Exception as exc:
        # The model's own predict raised (any type: it is the model's code); it cannot be
        # packaged against this example.
        raise InvalidInputError(
            f"the model cannot predict on input_example: {type(exc).__name__}: {exc}"
        ) from exc
    return outputs


def _output_name(task: str) -> str:
    return PROBABILITIES if task == "classification" else PREDICTION_OUTPUT
