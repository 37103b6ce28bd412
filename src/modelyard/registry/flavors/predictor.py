"""The Predictor: a stored model package loaded for serving, on onnxruntime or natively."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from threadpoolctl import ThreadpoolController

from modelyard.errors import InvalidInputError
from modelyard.registry.flavors.adapter import InputAdapter
from modelyard.registry.flavors.dispatch import flavor_named
from modelyard.registry.flavors.flavor import LoadedModel
from modelyard.registry.flavors.package import ModelPackage, read_package
from modelyard.registry.flavors.runtime import (
    SMALL_BATCH_ROWS,
    OutputShaper,
    onnx_model,
    output_spec,
)
from modelyard.registry.flavors.signature import Array, Signature

BACKENDS = ("auto", "onnx", "native")


class _Runner(Protocol):
    def predict(self, data: object) -> Array: ...

    def predict_proba(self, data: object) -> Array: ...

    def predict_with_proba(self, data: object) -> tuple[Array, Array]: ...


class NativeRunner:
    """A native model behind the input adapter, with outputs shaped as declared.

    Small batches run with the native libraries' thread pools (OpenMP, BLAS) limited to one
    thread: fanning one row out to every core buys nothing, and when the cores are busy (a
    server's other workers, a test run) OpenMP's barrier waits turn milliseconds into
    hundreds of milliseconds.
    """

    def __init__(self, loaded: LoadedModel, adapter: InputAdapter) -> None:
        self._loaded = loaded
        self._prepare = adapter.preparer(loaded.input_form)
        self._shape_label = OutputShaper(output_spec(adapter.signature, 0))
        self._shape_proba = OutputShaper(output_spec(adapter.signature, 1))
        # Created after the model is loaded, so the pools its libraries bring are known.
        self._pools = ThreadpoolController()

    def predict(self, data: object) -> Array:
        """Check and prepare ``data``, then return the model's predictions."""
        prepared = self._prepare(data)
        if _rows(data) > SMALL_BATCH_ROWS:
            return self._shape_label(self._loaded.predict(prepared))
        with self._pools.limit(limits=1):
            return self._shape_label(self._loaded.predict(prepared))

    def predict_proba(self, data: object) -> Array:
        """Check and prepare ``data``, then return the model's class probabilities."""
        prepared = self._prepare(data)
        if _rows(data) > SMALL_BATCH_ROWS:
            return self._shape_proba(self._loaded.predict_proba(prepared))
        with self._pools.limit(limits=1):
            return self._shape_proba(self._loaded.predict_proba(prepared))

    def predict_with_proba(self, data: object) -> tuple[Array, Array]:
        """Check and prepare ``data`` once, then return labels and class probabilities."""
        prepared = self._prepare(data)
        if _rows(data) > SMALL_BATCH_ROWS:
            return self._label_and_proba(prepared)
        with self._pools.limit(limits=1):
            return self._label_and_proba(prepared)

    def _label_and_proba(self, prepared: object) -> tuple[Array, Array]:
        return (
            self._shape_label(self._loaded.predict(prepared)),
            self._shape_proba(self._loaded.predict_proba(prepared)),
        )


def _rows(data: object) -> int:
    shape = getattr(data, "shape", None)
    return int(shape[0]) if shape else 0


class Predictor:
    """A loaded model package that predicts on checked input.

    Attributes:
        package: the package's manifest.
        signature: what the model takes and returns.
        flavor: the package's flavor.
        backend: ``"onnxruntime"`` or ``"native"``.
    """

    def __init__(self, package: ModelPackage, runner: _Runner, backend: str) -> None:
        self.package = package
        self.signature: Signature = package.signature
        self.flavor = package.flavor
        self.backend = backend
        self._runner = runner
        self._is_classifier = package.task == "classification"

    def predict(self, data: object) -> Array:
        """Return predictions (labels for a classifier) for ``data``.

        Args:
            data: a DataFrame with the signature's columns, or an array for tensor models.

        Raises:
            SignatureMismatchError: the data does not match the signature; every problem is
                listed.
        """
        return self._runner.predict(data)

    @property
    def takes_matrix(self) -> bool:
        """Whether ``predict*`` also take a float32 matrix of the inputs in signature order
        (an ONNX model over numeric columns); such a matrix is not checked against the
        signature, so only callers that have checked the rows (the server) pass one."""
        return bool(getattr(self._runner, "takes_matrix", False))

    @property
    def is_classifier(self) -> bool:
        """Whether the model gives class probabilities."""
        return self._is_classifier

    def predict_with_proba(self, data: object) -> tuple[Array, Array]:
        """Return predictions and class probabilities for ``data``, checking it once (one
        session run on onnxruntime).

        Raises:
            InvalidInputError: the model is not a classifier.
            SignatureMismatchError: the data does not match the signature.
        """
        if not self._is_classifier:
            raise InvalidInputError(
                f"{self.package.model_type} is a {self.package.task} model: it gives no class "
                "probabilities; call predict"
            )
        return self._runner.predict_with_proba(data)

    def predict_proba(self, data: object) -> Array:
        """Return class probabilities for ``data``, one column per class.

        Raises:
            InvalidInputError: the model is not a classifier.
            SignatureMismatchError: the data does not match the signature.
        """
        if not self._is_classifier:
            raise InvalidInputError(
                f"{self.package.model_type} is a {self.package.task} model: it gives no class "
                "probabilities; call predict"
            )
        return self._runner.predict_proba(data)


def load_predictor(
    directory: Path, *, backend: str = "auto", threads: int | None = None
) -> Predictor:
    """Load a package directory written by ``save_model`` for prediction.

    Args:
        directory: the package directory.
        backend: ``"auto"`` (the ONNX form when there is one, else native), ``"onnx"`` or
            ``"native"`` (an ONNX-flavor package is ONNX either way).
        threads: onnxruntime intra-op threads; None for the machine's cores, at most 4.

    Returns:
        The predictor.

    Raises:
        InvalidInputError: an unknown backend, or ``"onnx"`` for a package without an ONNX
            form (its conversion report says why), or not a package directory.
        UnsupportedModelError: the flavor's library is not installed here.
        CorruptArtifactError: the package's files are unreadable or were changed.
    """
    if backend not in BACKENDS:
        raise InvalidInputError(
            f"backend {backend!r} is invalid: expected one of {', '.join(BACKENDS)}"
        )
    directory = Path(directory)
    package = read_package(directory)
    adapter = InputAdapter(package.signature)
    if backend == "onnx" and package.onnx_path is None:
        raise InvalidInputError(
            f"model package {directory} has no ONNX form ({package.conversion.error}); "
            "load it with backend='native' or 'auto'"
        )
    if package.onnx_path is not None and (backend != "native" or package.flavor == "onnx"):
        model = onnx_model(directory / package.onnx_path, adapter, package.task, threads=threads)
        return Predictor(package, model, "onnxruntime")
    flavor = flavor_named(package.flavor, package.model_type)
    loaded = flavor.load_native(directory, package)
    return Predictor(package, NativeRunner(loaded, adapter), "native")
