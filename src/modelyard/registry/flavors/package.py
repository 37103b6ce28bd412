"""The model package on disk: its manifest, the input example, and the library versions."""

from __future__ import annotations

import importlib.metadata
import json
import platform
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from modelyard.errors import CorruptModelPackageError, InvalidInputError
from modelyard.registry.flavors.signature import ModelInput, Signature

MANIFEST_FILE = "modelyard-model.json"
MANIFEST_FORMAT = 1
ONNX_FILE = "model.onnx"
FRAME_EXAMPLE_FILE = "input_example.parquet"
TENSOR_EXAMPLE_FILE = "input_example.npy"
TASKS = ("classification", "regression", "other")
NATIVE_FORMATS = (
    "skops",
    "xgboost-json",
    "lightgbm-text",
    "torch-export",
    "onnx",
    "pickle",
)
_T = TypeVar("_T")
# What every package records next to the flavor's own libraries.
_BASE_DISTRIBUTIONS = ("modelyard", "numpy", "pandas", "pyarrow", "onnx", "onnxruntime")


@dataclass(frozen=True)
class ConversionReport:
    """How the ONNX conversion went.

    Attributes:
        is_converted: an ONNX form exists and agreed with the native model on the example.
        max_abs_diff: the largest |onnx - native| over the example (probabilities for a
            classifier, predictions otherwise); None when no ONNX form could be run.
        tolerance: the largest difference accepted.
        error: why there is no ONNX form (None when converted).
        opset: the default-domain opset the conversion targeted; None when not attempted.
    """

    is_converted: bool
    max_abs_diff: float | None
    tolerance: float
    error: str | None
    opset: int | None

    def to_dict(self) -> dict[str, object]:
        """Return the report as JSON-ready values."""
        return {
            "is_converted": self.is_converted,
            "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance,
            "error": self.error,
            "opset": self.opset,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ConversionReport:
        """Build a report from :meth:`to_dict` output.

        Raises:
            InvalidInputError: a field is missing or has the wrong type.
        """
        diff, tolerance, opset = data.get("max_abs_diff"), data.get("tolerance"), data.get("opset")
        return cls(
            is_converted=_typed(data, "is_converted", bool),
            max_abs_diff=None if diff is None else _number(diff, "max_abs_diff"),
            tolerance=_number(tolerance, "tolerance"),
            error=_optional_str(data, "error"),
            opset=None if opset is None else _typed(data, "opset", int),
        )


@dataclass(frozen=True)
class ModelPackage:
    """What ``save_model`` stored in a package directory (its manifest).

    Paths are relative to the package directory.

    Attributes:
        flavor: the flavor that stored it (``sklearn``, ``xgboost``, …).
        model_type: the model's qualified class name.
        signature: its inputs and outputs.
        native_format: how the native model is stored (``skops``, ``xgboost-json``, …).
        native_path: the native model file.
        onnx_path: the ONNX model file; None when conversion failed or disagreed.
        conversion: how the ONNX conversion went.
        is_pickle_trusted: the native file is a pickle the caller trusted at save time.
        library_versions: distribution name → version when saved (and ``python``).
        input_example_path: the stored input example (Parquet or .npy).
        task: ``classification``, ``regression`` or ``other``.
        trusted_types: the types a skops file needs beyond skops' defaults, recorded at save
            time; loading accepts exactly these.
    """

    flavor: str
    model_type: str
    signature: Signature
    native_format: str
    native_path: str
    onnx_path: str | None
    conversion: ConversionReport
    is_pickle_trusted: bool
    library_versions: dict[str, str]
    input_example_path: str
    task: str
    trusted_types: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        """Return the manifest as JSON-ready values."""
        return {
            "format": MANIFEST_FORMAT,
            "flavor": self.flavor,
            "model_type": self.model_type,
            "task": self.task,
            "signature": self.signature.to_dict(),
            "native_format": self.native_format,
            "native_path": self.native_path,
            "onnx_path": self.onnx_path,
            "conversion": self.conversion.to_dict(),
            "is_pickle_trusted": self.is_pickle_trusted,
            "trusted_types": list(self.trusted_types),
            "library_versions": dict(sorted(self.library_versions.items())),
            "input_example_path": self.input_example_path,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ModelPackage:
        """Build a package description from :meth:`to_dict` output.

        Raises:
            InvalidInputError: a field is missing or has the wrong type.
        """
        signature, conversion = data.get("signature"), data.get("conversion")
        versions, trusted = data.get("library_versions"), data.get("trusted_types", [])
        if not isinstance(signature, Mapping) or not isinstance(conversion, Mapping):
            raise InvalidInputError("a manifest needs signature and conversion mappings")
        if not isinstance(versions, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in versions.items()
        ):
            raise InvalidInputError("manifest library_versions must map names to versions")
        if not isinstance(trusted, list) or not all(isinstance(item, str) for item in trusted):
            raise InvalidInputError("manifest trusted_types must be a list of type names")
        task = _typed(data, "task", str)
        if task not in TASKS:
            raise InvalidInputError(f"manifest task {task!r} is not one of {', '.join(TASKS)}")
        return cls(
            flavor=_typed(data, "flavor", str),
            model_type=_typed(data, "model_type", str),
            signature=Signature.from_dict(signature),
            native_format=_typed(data, "native_format", str),
            native_path=_typed(data, "native_path", str),
            onnx_path=_optional_str(data, "onnx_path"),
            conversion=ConversionReport.from_dict(conversion),
            is_pickle_trusted=_typed(data, "is_pickle_trusted", bool),
            library_versions=dict(versions),
            input_example_path=_typed(data, "input_example_path", str),
            task=task,
            trusted_types=tuple(trusted),
        )


def read_package(directory: Path) -> ModelPackage:
    """Read the manifest of a package directory written by ``save_model``.

    Args:
        directory: the package directory.

    Returns:
        The package description.

    Raises:
        InvalidInputError: the directory holds no manifest (it is not a model package).
        CorruptArtifactError: the manifest is unreadable or names files that are missing.
    """
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise InvalidInputError(
            f"{directory} is not a modelyard model package: it has no {MANIFEST_FILE} "
            "(write one with save_model)"
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict):
            raise InvalidInputError("the manifest is not a JSON object")
        if data.get("format") != MANIFEST_FORMAT:
            raise InvalidInputError(f"unknown manifest format {data.get('format')!r}")
        package = ModelPackage.from_dict(data)
    except (json.JSONDecodeError, UnicodeDecodeError, InvalidInputError) as exc:
        raise CorruptModelPackageError(
            f"model package manifest {path} is unreadable: {exc}"
        ) from exc
    files = [package.native_path, package.input_example_path]
    if package.onnx_path is not None:
        files.append(package.onnx_path)
    missing = [name for name in files if not (Path(directory) / name).is_file()]
    if missing:
        raise CorruptModelPackageError(
            f"model package {directory} is incomplete: {', '.join(missing)} missing; "
            "log the model again"
        )
    return package


def write_manifest(directory: Path, package: ModelPackage) -> None:
    """Write ``package`` as the manifest of ``directory``."""
    text = json.dumps(package.to_dict(), indent=2, sort_keys=False) + "\n"
    (Path(directory) / MANIFEST_FILE).write_text(text, encoding="utf-8")


def save_input_example(directory: Path, example: ModelInput) -> str:
    """Store the input example (Parquet for a frame, .npy for an array); return its file name.

    Raises:
        InvalidInputError: the example cannot be stored (mixed-type object columns, object
            arrays).
    """
    if isinstance(example, pd.DataFrame):
        try:
            example.to_parquet(Path(directory) / FRAME_EXAMPLE_FILE, index=False)
        except (ValueError, TypeError, NotImplementedError) as exc:
            # pyarrow's ArrowInvalid, ArrowTypeError and ArrowNotImplementedError derive from
            # these: a column pyarrow cannot type (mixed objects, say).
            raise InvalidInputError(f"input_example cannot be stored as Parquet: {exc}") from exc
        return FRAME_EXAMPLE_FILE
    if example.dtype.kind == "O":
        raise InvalidInputError("a tensor input_example cannot hold Python objects")
    np.save(Path(directory) / TENSOR_EXAMPLE_FILE, example, allow_pickle=False)
    return TENSOR_EXAMPLE_FILE


def load_input_example(directory: Path, package: ModelPackage) -> ModelInput:
    """Read the stored input example back."""
    path = Path(directory) / package.input_example_path
    if path.suffix == ".npy":
        loaded: ModelInput = np.load(path, allow_pickle=False)
        return loaded
    return pd.read_parquet(path)


def library_versions(distributions: Iterable[str]) -> dict[str, str]:
    """Return the installed version of each distribution (skipping absent ones) and Python's."""
    versions = {"python": platform.python_version()}
    for name in (*_BASE_DISTRIBUTIONS, *distributions):
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return dict(sorted(versions.items()))


def _typed(data: Mapping[str, object], key: str, kind: type[_T]) -> _T:
    value = data.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidInputError(f"manifest field {key!r} must be a {kind.__name__}")
    return value


def _optional_str(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInputError(f"manifest field {key!r} must be a string or null")
    return value


def _number(value: object, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInputError(f"manifest field {key!r} must be a number")
    return float(value)
