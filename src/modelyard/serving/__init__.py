"""Model serving, framework-free: a runtime of pinned model versions with dynamic batching,
request contracts, feature enrichment behind a circuit breaker, a prediction cache, Prometheus
metrics and a prediction log; batch scoring locally or on Ray."""

from modelyard.serving.batch import ScoringResult, score
from modelyard.serving.batcher import DynamicBatcher
from modelyard.serving.breaker import BreakerState, CircuitBreaker
from modelyard.serving.cache import PredictionCache, canonical_key
from modelyard.serving.config import (
    ModelServingConfig,
    ServingConfig,
    config_from_mapping,
    load_serving_config,
    serving_config,
)
from modelyard.serving.metrics import ServingMetrics
from modelyard.serving.predlog import PredictionBatch, PredictionLog, read_predictions
from modelyard.serving.requests import Decoded, RequestSchema
from modelyard.serving.runtime import Prediction, ServedModel, ServingRuntime

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "Decoded",
    "DynamicBatcher",
    "ModelServingConfig",
    "Prediction",
    "PredictionBatch",
    "PredictionCache",
    "PredictionLog",
    "RequestSchema",
    "ScoringResult",
    "ServedModel",
    "ServingConfig",
    "ServingMetrics",
    "ServingRuntime",
    "canonical_key",
    "config_from_mapping",
    "load_serving_config",
    "read_predictions",
    "score",
    "serving_config",
]
