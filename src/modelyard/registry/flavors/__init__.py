"""Model flavors: package a model (native file, ONNX form, signature) and load it to predict."""

from modelyard.registry.flavors.dispatch import save_model, supported_flavors
from modelyard.registry.flavors.package import (
    MANIFEST_FILE,
    ConversionReport,
    ModelPackage,
    read_package,
)
from modelyard.registry.flavors.predictor import Predictor, load_predictor
from modelyard.registry.flavors.signature import ColumnSpec, Signature, infer_signature

__all__ = [  # noqa: RUF022  # plain sorted(), as the public-names test checks
    "ColumnSpec",
    "ConversionReport",
    "MANIFEST_FILE",
    "ModelPackage",
    "Predictor",
    "Signature",
    "infer_signature",
    "load_predictor",
    "read_package",
    "save_model",
    "supported_flavors",
]
