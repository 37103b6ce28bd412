"""The contract every flavor module fulfils: store a model natively, convert it, load it back.

Each flavor module (``sklearn.py``, ``xgboost.py``, …) exposes one object satisfying
:class:`Flavor`; ``dispatch.py`` picks it by the model's type. A flavor never checks input:
the predictor's :class:`~modelyard.registry.flavors.adapter.InputAdapter` hands it data in its
:data:`InputForm`, already checked against the signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol, cast

import numpy as np

from modelyard.registry.flavors.package import ModelPackage
from modelyard.registry.flavors.signature import Array, ModelInput, Signature

# What a native model's predict takes: the checked frame in signature order, or all columns
# as one float32 matrix, or the (checked) input array itself; "raw" models (ONNX on
# onnxruntime) take the caller's data and check it themselves.
InputForm = Literal["frame", "matrix", "tensor", "raw"]
# How an ONNX form takes its input: one float32 matrix named "input" ("matrix"), one [N, 1]
# tensor per column named after it ("columns"), or the input array as "input" ("tensor").
Layout = Literal["matrix", "columns", "tensor"]
MATRIX_INPUT = "input"


class LoadedModel(Protocol):
    """A native model ready to predict on input already in its :data:`InputForm`."""

    @property
    def input_form(self) -> InputForm:
        """What ``predict`` takes."""
        ...

    def predict(self, data: object) -> Array:
        """Return the model's predictions (labels for a classifier)."""
        ...

    def predict_proba(self, data: object) -> Array:
        """Return class probabilities, one column per class (classifiers only)."""
        ...


class Estimator(Protocol):
    """The scikit-learn estimator interface the frame-taking flavors wrap."""

    def predict(self, data: object) -> Array:
        """Return predictions."""
        ...

    def predict_proba(self, data: object) -> Array:
        """Return class probabilities (classifiers)."""
        ...


class EstimatorModel:
    """An estimator (scikit-learn API) predicting on checked input in its input form."""

    def __init__(self, model: object, input_form: InputForm) -> None:
        self.model = cast(Estimator, model)
        self.input_form: InputForm = input_form

    def predict(self, data: object) -> Array:
        """Return ``model.predict(data)``."""
        return np.asarray(self.model.predict(data))

    def predict_proba(self, data: object) -> Array:
        """Return ``model.predict_proba(data)``."""
        return np.asarray(self.model.predict_proba(data))


@dataclass(frozen=True)
class StoredNative:
    """Where and how a flavor stored the native model.

    Attributes:
        native_format: the format name recorded in the manifest.
        native_path: the file, relative to the package directory.
        trusted_types: types the file needs trusted on load (skops), recorded now.
    """

    native_format: str
    native_path: str
    trusted_types: tuple[str, ...] = ()


class Flavor(Protocol):
    """One model library's packaging.

    Attributes:
        name: the flavor name recorded in the manifest.
        distributions: the distributions whose versions the manifest records.
        opset: the default-domain ONNX opset its conversion targets (None: no conversion).
    """

    name: str
    distributions: tuple[str, ...]
    opset: int | None

    def task(self, model: object) -> str:
        """Return ``classification``, ``regression`` or ``other``."""
        ...

    def wrap(self, model: object, signature: Signature) -> LoadedModel:
        """Return the in-memory model as a :class:`LoadedModel` (the reference at save time)."""
        ...

    def save_native(self, model: object, directory: Path, example: object) -> StoredNative:
        """Store the model in its safe native format under ``directory``.

        ``example`` is the input example in the model's input form.

        Raises:
            UntrustedPickleError: the native format cannot store this object.
        """
        ...

    def layouts(self, signature: Signature) -> list[Layout]:
        """Return the ONNX input layouts to try, best first ([] when none can work)."""
        ...

    def to_onnx(
        self, model: object, signature: Signature, layout: Layout, example: ModelInput
    ) -> bytes:
        """Convert the model to a serialized ONNX model taking input in ``layout``.

        Any exception means "no ONNX form"; the caller records it.
        """
        ...

    def load_native(self, directory: Path, package: ModelPackage) -> LoadedModel:
        """Load the native model stored by :meth:`save_native`.

        Raises:
            CorruptArtifactError: the stored file is unreadable or holds what was not recorded.
        """
        ...


def qualified_name(model: object) -> str:
    """Return ``module.QualName`` of the model's class."""
    kind = type(model)
    return f"{kind.__module__}.{kind.__qualname__}"


def input_form_for(signature: Signature, *, takes_frames: bool) -> InputForm:
    """Return the input form for a model that takes frames (sklearn, …) or arrays (torch)."""
    if signature.input_kind == "tensor":
        return "tensor"
    return "frame" if takes_frames else "matrix"
