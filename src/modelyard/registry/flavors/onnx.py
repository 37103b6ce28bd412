"""The ONNX flavor: a ready ONNX model (a ModelProto or a ``.onnx`` file), stored as it is."""

from __future__ import annotations

from pathlib import Path

import onnx
from google.protobuf.message import DecodeError  # type: ignore[import-untyped]  # no hints

from modelyard.errors import InvalidInputError
from modelyard.registry.flavors.adapter import InputAdapter
from modelyard.registry.flavors.flavor import Layout, LoadedModel, StoredNative
from modelyard.registry.flavors.package import ONNX_FILE, ModelPackage
from modelyard.registry.flavors.runtime import OnnxModel, onnx_model, open_session
from modelyard.registry.flavors.signature import ModelInput, Signature

_PROBABILITY_NAMES = ("probabilities", "output_probability")


def model_bytes(model: object) -> bytes:
    """Return the serialized ONNX model of a ModelProto or a ``.onnx`` path.

    Raises:
        InvalidInputError: the file is missing or does not parse as ONNX.
    """
    if isinstance(model, onnx.ModelProto):
        serialized: bytes = model.SerializeToString()
        return serialized
    path = Path(str(model))
    try:
        data = path.read_bytes()
        onnx.load_model_from_string(data)
    except OSError as exc:
        raise InvalidInputError(f"cannot read the ONNX file {path}: {exc}") from exc
    except onnx.onnx_cpp2py_export.checker.ValidationError as exc:
        raise InvalidInputError(f"{path} is not a valid ONNX model: {exc}") from exc
    except DecodeError as exc:
        raise InvalidInputError(f"{path} is not an ONNX model: {exc}") from exc
    return data


def default_opset(model: object) -> int | None:
    """Return the default-domain opset a ready ONNX model imports (None when it names none)."""
    proto = onnx.load_model_from_string(model_bytes(model))
    for entry in proto.opset_import:
        if entry.domain in ("", "ai.onnx"):
            return int(entry.version)
    return None


class OnnxFlavor:
    """Packaging for models that are ONNX already: the native form is the ONNX form."""

    name = "onnx"
    distributions: tuple[str, ...] = ("onnx", "onnxruntime")
    opset: int | None = None

    def task(self, model: object) -> str:
        """Return ``classification`` when the model has a probabilities output."""
        proto = onnx.load_model_from_string(model_bytes(model))
        names = [output.name for output in proto.graph.output]
        if len(names) > 1 and any(name in _PROBABILITY_NAMES for name in names):
            return "classification"
        return "other"

    def wrap(self, model: object, signature: Signature) -> LoadedModel:
        """Return the model on onnxruntime (it checks and shapes its input itself)."""
        session = open_session(model_bytes(model), threads=1)
        return OnnxModel(session, InputAdapter(signature), self.task(model))

    def save_native(self, model: object, directory: Path, example: object) -> StoredNative:
        """Write the model bytes as they are."""
        (Path(directory) / ONNX_FILE).write_bytes(model_bytes(model))
        return StoredNative("onnx", ONNX_FILE)

    def layouts(self, signature: Signature) -> list[Layout]:
        """Return no layouts: there is nothing to convert."""
        return []

    def to_onnx(
        self, model: object, signature: Signature, layout: Layout, example: ModelInput
    ) -> bytes:
        """Return the model as it is."""
        return model_bytes(model)

    def load_native(self, directory: Path, package: ModelPackage) -> LoadedModel:
        """Open the stored model on onnxruntime.

        Raises:
            CorruptArtifactError: onnxruntime cannot load it.
        """
        adapter = InputAdapter(package.signature)
        return onnx_model(Path(directory) / package.native_path, adapter, package.task)


FLAVOR = OnnxFlavor()
