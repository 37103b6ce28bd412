"""The server's Prometheus metrics: latency, queueing, batching, features, breaker, cache, loads.

Each server owns a :class:`ServingMetrics` on its own registry (tests run several servers in
one process). Under several worker processes, ``PROMETHEUS_MULTIPROC_DIR`` switches
prometheus_client to its multiprocess mode and :meth:`ServingMetrics.exposition` aggregates
every worker's values.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1.0,
    2.0,
    5.0,
)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}
CONTENT_TYPE = CONTENT_TYPE_LATEST


@dataclass(frozen=True, slots=True)
class ModelMetrics:
    """The metric children of one served model version, bound once at load (labels cost)."""

    latency: Histogram
    queue_wait: Histogram
    batch_rows: Histogram
    batch_requests: Histogram
    in_flight: Gauge
    answered: Counter  # requests answered 200
    feature_latency: Histogram
    cache_hits: Counter
    cache_misses: Counter


class ServingMetrics:
    """Every metric a server exports at ``/metrics``."""

    def __init__(self) -> None:
        self.is_multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        labels = ("model", "version")
        self.request_latency = Histogram(
            "modelyard_request_duration_seconds",
            "Time from a predict request's arrival to its answer, per model version.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.queue_wait = Histogram(
            "modelyard_queue_wait_seconds",
            "Time a request waited in its model's batch queue before its batch started.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.batch_rows = Histogram(
            "modelyard_batch_size_rows",
            "Rows per model call (dynamic batching coalesces requests).",
            labels,
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.batch_requests = Histogram(
            "modelyard_batch_size_requests",
            "Requests answered per model call.",
            labels,
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            "modelyard_requests_in_flight",
            "Predict requests being handled now.",
            ("model",),
            registry=registry,
            multiprocess_mode="livesum",
        )
        self.requests = Counter(
            "modelyard_requests",
            "Predict requests answered, by model, version and HTTP status.",
            ("model", "version", "status"),
            registry=registry,
        )
        self.errors = Counter(
            "modelyard_errors",
            "Requests answered with an error, by model and error code.",
            ("model", "code"),
            registry=registry,
        )
        self.feature_latency = Histogram(
            "modelyard_feature_lookup_seconds",
            "Online feature lookups of a request, successful or not.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.feature_fallbacks = Counter(
            "modelyard_feature_fallbacks",
            "Rows served with declared default features, by model and reason.",
            ("model", "reason"),
            registry=registry,
        )
        self.circuit_state = Gauge(
            "modelyard_circuit_state",
            "The online-store circuit breaker: 0 closed, 1 half-open, 2 open.",
            ("store",),
            registry=registry,
            multiprocess_mode="max",
        )
        self.model_load = Gauge(
            "modelyard_model_load_seconds",
            "How long loading and warming up each model version took.",
            ("model", "version", "digest", "backend"),
            registry=registry,
            multiprocess_mode="max",
        )
        self.cache_hits = Counter(
            "modelyard_prediction_cache_hits",
            "Rows answered from the prediction cache.",
            labels,
            registry=registry,
        )
        self.cache_misses = Counter(
            "modelyard_prediction_cache_misses",
            "Rows looked up in the prediction cache and not found.",
            labels,
            registry=registry,
        )
        self.cache_hit_ratio = Gauge(
            "modelyard_prediction_cache_hit_ratio",
            "Share of cache lookups answered from the cache since the server started.",
            labels,
            registry=registry,
            multiprocess_mode="max",
        )
        self.log_dropped = Counter(
            "modelyard_prediction_log_dropped_rows",
            "Predictions not logged because the log's queue was full.",
            registry=registry,
        )

    def bind(self, model: str, version: int) -> ModelMetrics:
        """Return the children of one model version."""
        labels = (model, str(version))
        return ModelMetrics(
            latency=self.request_latency.labels(*labels),
            queue_wait=self.queue_wait.labels(*labels),
            batch_rows=self.batch_rows.labels(*labels),
            batch_requests=self.batch_requests.labels(*labels),
            in_flight=self.in_flight.labels(model),
            answered=self.requests.labels(model, str(version), "200"),
            feature_latency=self.feature_latency.labels(*labels),
            cache_hits=self.cache_hits.labels(*labels),
            cache_misses=self.cache_misses.labels(*labels),
        )

    def set_circuit(self, store: str, state: str) -> None:
        """Export the breaker's state (``closed``, ``half_open``, ``open``)."""
        self.circuit_state.labels(store).set(CIRCUIT_VALUES[state])

    def exposition(self) -> bytes:
        """Return every metric in the Prometheus text format (all workers' in multiprocess
        mode)."""
        if self.is_multiprocess:
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped library
            return generate_latest(registry)
        return generate_latest(self.registry)
