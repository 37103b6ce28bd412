"""The PyTorch flavor: CPU modules, stored as a torch.export program, converted by torch.onnx.

The native format is ``torch.export`` (a ``.pt2`` archive of the traced graph and weights): it
loads without the module's Python code and without unpickling, and it replaces TorchScript,
whose ``torch.jit.trace`` is deprecated. The batch dimension is exported as dynamic.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch

from modelyard.errors import (
    CorruptModelPackageError,
    InvalidInputError,
    UntrustedPickleError,
)
from modelyard.registry.flavors.flavor import (
    MATRIX_INPUT,
    InputForm,
    Layout,
    LoadedModel,
    StoredNative,
    input_form_for,
    qualified_name,
)
from modelyard.registry.flavors.package import ModelPackage
from modelyard.registry.flavors.signature import Array, ModelInput, Signature

NATIVE_FILE = "model.pt2"
OPSET = 17
OUTPUT_NAME = "output"
_EXPORT_ERRORS = (RuntimeError, ValueError, TypeError, AssertionError, NotImplementedError)


class ModuleModel:
    """A torch module (or exported program) predicting on a numpy array."""

    def __init__(self, module: torch.nn.Module, input_form: InputForm) -> None:
        self.module = module
        self.input_form: InputForm = input_form

    def predict(self, data: object) -> Array:
        """Return the module's (first) output for ``data`` as a numpy array."""
        assert isinstance(data, np.ndarray)  # the adapter hands torch models arrays
        with torch.inference_mode():
            output = self.module(torch.from_numpy(np.ascontiguousarray(data)))
        if isinstance(output, tuple | list):
            output = output[0]
        return np.asarray(output.detach().cpu().numpy())

    def predict_proba(self, data: object) -> Array:
        """Torch models declare no probabilities.

        Raises:
            InvalidInputError: always.
        """
        raise InvalidInputError("a torch model gives no class probabilities; call predict")


class TorchFlavor:
    """Packaging for ``torch.nn.Module`` models on the CPU."""

    name = "torch"
    distributions: tuple[str, ...] = ("torch",)
    opset: int | None = OPSET

    def task(self, model: object) -> str:
        """Return ``other``: a module does not say what it predicts."""
        return "other"

    def wrap(self, model: object, signature: Signature) -> LoadedModel:
        """Return the in-memory module (in eval mode) as a loaded model."""
        assert isinstance(model, torch.nn.Module)  # dispatch only routes modules here
        model.eval()
        return ModuleModel(model, input_form_for(signature, takes_frames=False))

    def save_native(self, model: object, directory: Path, example: object) -> StoredNative:
        """Export the module with ``torch.export`` on the example, batch dimension dynamic.

        Raises:
            UntrustedPickleError: the module cannot be exported (data-dependent control flow,
                unsupported operators); only a pickle could store it.
        """
        assert isinstance(model, torch.nn.Module)
        assert isinstance(example, np.ndarray)
        model.eval()
        tensor = torch.from_numpy(np.ascontiguousarray(example))
        try:
            program = torch.export.export(
                model, (tensor,), dynamic_shapes=({0: torch.export.Dim.DYNAMIC},)
            )
            torch.export.save(program, Path(directory) / NATIVE_FILE)
        except _EXPORT_ERRORS as exc:
            raise UntrustedPickleError(
                qualified_name(model), f"torch.export cannot export it: {type(exc).__name__}"
            ) from exc
        return StoredNative("torch-export", NATIVE_FILE)

    def layouts(self, signature: Signature) -> list[Layout]:
        """Return the one layout a module takes: the matrix, or the tensor."""
        return ["tensor"] if signature.input_kind == "tensor" else ["matrix"]

    def to_onnx(
        self, model: object, signature: Signature, layout: Layout, example: ModelInput
    ) -> bytes:
        """Export with the TorchScript-based ``torch.onnx.export`` (``dynamo=False``).

        The dynamo exporter needs onnxscript, which modelyard does not require.
        """
        assert isinstance(model, torch.nn.Module)
        assert isinstance(example, np.ndarray)
        with tempfile.TemporaryDirectory() as scratch, warnings.catch_warnings():
            # The legacy exporter announces its own deprecation on every call.
            warnings.simplefilter("ignore", DeprecationWarning)
            path = Path(scratch) / "model.onnx"
            torch.onnx.export(
                model,
                (torch.from_numpy(np.ascontiguousarray(example)),),
                path,
                input_names=[MATRIX_INPUT],
                output_names=[OUTPUT_NAME],
                dynamic_axes={MATRIX_INPUT: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=OPSET,
                dynamo=False,
            )
            return path.read_bytes()

    def load_native(self, directory: Path, package: ModelPackage) -> LoadedModel:
        """Load the exported program.

        Raises:
            CorruptArtifactError: the archive is unreadable.
        """
        path = Path(directory) / package.native_path
        try:
            program = torch.export.load(path)
        except (*_EXPORT_ERRORS, OSError, KeyError) as exc:
            raise CorruptModelPackageError(f"torch cannot load {path}: {exc}") from exc
        module = program.module()
        return ModuleModel(module, input_form_for(package.signature, takes_frames=False))


FLAVOR = TorchFlavor()
