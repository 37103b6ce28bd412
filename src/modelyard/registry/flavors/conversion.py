"""ONNX conversion at save time: try each input layout, then verify against the native model."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from modelyard.errors import CorruptArtifactError, InvalidInputError
from modelyard.registry.flavors.adapter import InputAdapter
from modelyard.registry.flavors.flavor import Flavor, Layout
from modelyard.registry.flavors.package import ConversionReport
from modelyard.registry.flavors.runtime import ORT_ERRORS, OnnxModel, open_session
from modelyard.registry.flavors.signature import Array, ModelInput

# Running a fresh ONNX form on the example: onnxruntime refuses it, or its inputs do not fit.
_RUN_ERRORS: tuple[type[Exception], ...] = (CorruptArtifactError, InvalidInputError, *ORT_ERRORS)


@dataclass(frozen=True)
class Conversion:
    """The outcome of converting one model: the report, and the ONNX bytes when it agreed."""

    report: ConversionReport
    onnx_bytes: bytes | None


def convert(
    flavor: Flavor,
    model: object,
    adapter: InputAdapter,
    *,
    task: str,
    example: ModelInput,
    reference: Array,
    tolerance: float,
) -> Conversion:
    """Convert ``model`` to ONNX and check it against ``reference`` on the input example.

    Layouts are tried in the flavor's order; the first that converts and runs is verified:
    the largest |onnx - native| over ``reference`` (probabilities for a classifier,
    predictions otherwise) must be at most ``tolerance``.

    Args:
        flavor: the model's flavor.
        model: the in-memory model.
        adapter: the input adapter of the package's signature (outputs declared).
        task: the model's task.
        example: the input example as the caller gave it.
        reference: the native model's output on the example.
        tolerance: the largest difference accepted.

    Returns:
        The conversion report, and the ONNX bytes when the form converted and agreed.
    """
    signature = adapter.signature
    layouts = flavor.layouts(signature)
    if flavor.opset is None or not layouts:
        reason = (
            f"the {flavor.name} flavor has no ONNX converter"
            if flavor.opset is None
            else f"the {flavor.name} ONNX converter cannot take these inputs "
            "(it needs every column numeric)"
        )
        return Conversion(ConversionReport(False, None, tolerance, reason, flavor.opset), None)
    errors: dict[Layout, str] = {}
    for layout in layouts:
        prepared = _prepared(adapter, layout, example)
        try:
            with warnings.catch_warnings():
                # Converters warn about their own internals (deprecated helpers, opset notes);
                # none of it concerns the caller, and the verification below is the real test.
                warnings.simplefilter("ignore")
                onnx_bytes = flavor.to_onnx(model, signature, layout, prepared)
        except Exception as exc:
            # A converter raises whatever its internals raise (RuntimeError for a missing
            # converter, KeyError, TypeError, NotImplementedError, …); every one of them means
            # "no ONNX form in this layout", which is recorded, never a failure to save.
            errors[layout] = f"{type(exc).__name__}: {_first_line(exc)}"
            continue
        try:
            candidate = _run(onnx_bytes, adapter, task, example)
        except _RUN_ERRORS as exc:
            errors[layout] = f"onnxruntime cannot run it: {_first_line(exc)}"
            continue
        diff = max_abs_diff(reference, candidate)
        if isinstance(diff, str):
            report = ConversionReport(False, None, tolerance, diff, flavor.opset)
            return Conversion(report, None)
        if diff <= tolerance:
            return Conversion(
                ConversionReport(True, diff, tolerance, None, flavor.opset), onnx_bytes
            )
        reason = (
            f"the ONNX form disagrees with the native model by {diff:.3g} (tolerance "
            f"{tolerance:g}) on the input example"
        )
        return Conversion(ConversionReport(False, diff, tolerance, reason, flavor.opset), None)
    report = ConversionReport(False, None, tolerance, _summary(errors), flavor.opset)
    return Conversion(report, None)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else ""


def _summary(errors: dict[Layout, str]) -> str:
    """Return one line per distinct failure, naming the layouts when they failed differently."""
    if len(set(errors.values())) == 1:
        return next(iter(errors.values()))
    return "; ".join(f"{layout} layout: {message}" for layout, message in errors.items())


def _prepared(adapter: InputAdapter, layout: Layout, example: ModelInput) -> ModelInput:
    if layout == "matrix":
        return adapter.matrix(example)
    if layout == "tensor":
        return adapter.tensor(example)
    return example


def _run(onnx_bytes: bytes, adapter: InputAdapter, task: str, example: ModelInput) -> Array:
    model = OnnxModel(open_session(onnx_bytes, threads=1), adapter, task)
    if task == "classification":
        return model.predict_proba(example)
    return model.predict(example)


def max_abs_diff(reference: Array, candidate: Array) -> float | str:
    """Return max |candidate - reference|, or why the two cannot be compared.

    Non-numeric outputs (string labels) compare equal or not: 0.0, or the rows that differ.
    NaN in both at the same place counts as equal.
    """
    if reference.shape != candidate.shape:
        return (
            f"the ONNX form returns shape {candidate.shape} where the native model returns "
            f"{reference.shape}"
        )
    if reference.size == 0:
        return 0.0
    if reference.dtype.kind not in "biuf" or candidate.dtype.kind not in "biuf":
        unequal = int(np.sum(reference.astype(str) != candidate.astype(str)))
        if unequal:
            return f"the ONNX form's predictions differ from the native model's on {unequal} rows"
        return 0.0
    diff = np.abs(candidate.astype(np.float64) - reference.astype(np.float64))
    both_nan = np.isnan(candidate.astype(np.float64)) & np.isnan(reference.astype(np.float64))
    diff[both_nan] = 0.0
    if np.isnan(diff).any():
        return "the ONNX form returns NaN where the native model does not (or the reverse)"
    return float(diff.max())
