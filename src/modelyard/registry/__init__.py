"""The model registry: packaged model versions with lineage, aliases, stages, gates and audit."""

from modelyard.registry.audit import AuditEvent
from modelyard.registry.gates import GateConfig, GateReport, GateResult, MetricRule, SmokePayload
from modelyard.registry.lineage import LineageNode
from modelyard.registry.models import ModelRegistry
from modelyard.registry.promotion import PromotionResult
from modelyard.registry.versions import ModelVersion, RegisteredModel, Stage

__all__ = [
    "AuditEvent",
    "GateConfig",
    "GateReport",
    "GateResult",
    "LineageNode",
    "MetricRule",
    "ModelRegistry",
    "ModelVersion",
    "PromotionResult",
    "RegisteredModel",
    "SmokePayload",
    "Stage",
]
