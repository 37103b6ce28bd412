"""The pickle fallback: any object with ``predict``, stored only when the caller trusts it.

Loading a pickle runs code chosen by whoever wrote the file, so ``save_model`` takes this path
only with ``trust=True``, and the manifest records that trust (``is_pickle_trusted``).
"""

from __future__ import annotations

import pickle
from pathlib import Path

from modelyard.errors import CorruptModelPackageError, InvalidInputError
from modelyard.registry.flavors.flavor import (
    EstimatorModel,
    Layout,
    LoadedModel,
    StoredNative,
    input_form_for,
    qualified_name,
)
from modelyard.registry.flavors.package import ModelPackage
from modelyard.registry.flavors.signature import ModelInput, Signature

NATIVE_FILE = "model.pkl"
_LOAD_ERRORS = (pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError)


class PickleFlavor:
    """Packaging for any object with ``predict``, as a stdlib pickle (trusted callers only)."""

    name = "pickle"
    distributions: tuple[str, ...] = ()
    opset: int | None = None

    def task(self, model: object) -> str:
        """Return ``classification`` when the object has ``predict_proba``, else ``other``."""
        return "classification" if callable(getattr(model, "predict_proba", None)) else "other"

    def wrap(self, model: object, signature: Signature) -> LoadedModel:
        """Return the object; it takes the checked frame (or array) as it is."""
        return EstimatorModel(model, input_form_for(signature, takes_frames=True))

    def save_native(self, model: object, directory: Path, example: object) -> StoredNative:
        """Pickle the object.

        Raises:
            InvalidInputError: the object cannot be pickled (a lambda, an open file, …).
        """
        try:
            data = pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:
            raise InvalidInputError(
                f"a model of type {qualified_name(model)} cannot be pickled: {exc}"
            ) from exc
        (Path(directory) / NATIVE_FILE).write_bytes(data)
        return StoredNative("pickle", NATIVE_FILE)

    def layouts(self, signature: Signature) -> list[Layout]:
        """Return no layouts: an arbitrary object has no ONNX converter."""
        return []

    def to_onnx(
        self, model: object, signature: Signature, layout: Layout, example: ModelInput
    ) -> bytes:
        """There is no converter for arbitrary objects.

        Raises:
            InvalidInputError: always.
        """
        raise InvalidInputError(f"no ONNX converter for {qualified_name(model)}")

    def load_native(self, directory: Path, package: ModelPackage) -> LoadedModel:
        """Unpickle the object (the manifest says the caller trusted it when saving).

        Raises:
            CorruptArtifactError: the pickle is unreadable, was not trusted when saved, or
                needs code this environment does not have.
        """
        path = Path(directory) / package.native_path
        if not package.is_pickle_trusted:
            raise CorruptModelPackageError(
                f"{path} is a pickle that was not trusted when saved; it is not loaded"
            )
        try:
            # The caller vouched for this file at save time (is_pickle_trusted).
            model = pickle.loads(path.read_bytes())
        except _LOAD_ERRORS as exc:
            raise CorruptModelPackageError(
                f"cannot unpickle {path} ({package.model_type}): {exc}; the code that defines "
                "it must be importable"
            ) from exc
        return EstimatorModel(model, input_form_for(package.signature, takes_frames=True))


FLAVOR = PickleFlavor()
