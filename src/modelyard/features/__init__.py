"""The feature store: entities, feature views, point-in-time training data, online serving."""

from modelyard.features.definitions import (
    AGGREGATION_FUNCTIONS,
    Aggregation,
    DatasetSource,
    Definition,
    Entity,
    Feature,
    FeatureView,
    OnDemandFeatureView,
    ParquetSource,
    SqlSource,
)
from modelyard.features.loading import load_definitions
from modelyard.features.offline import historical
from modelyard.features.registry import (
    AppliedEntity,
    AppliedView,
    FeaturePlan,
    FeatureRegistry,
    PlanItem,
    ResolvedFeature,
)

__all__ = [
    "AGGREGATION_FUNCTIONS",
    "Aggregation",
    "AppliedEntity",
    "AppliedView",
    "DatasetSource",
    "Definition",
    "Entity",
    "Feature",
    "FeaturePlan",
    "FeatureRegistry",
    "FeatureView",
    "OnDemandFeatureView",
    "ParquetSource",
    "PlanItem",
    "ResolvedFeature",
    "SqlSource",
    "historical",
    "load_definitions",
]
