"""The serving runtime: model versions loaded, pinned by digest, warmed up and answered in batches.

Framework-free: the HTTP interface (``modelyard.api``) decodes a body with the model's
:class:`RequestSchema` and awaits :meth:`ServedModel.predict`; everything else (feature
enrichment, the prediction cache, dynamic batching, the prediction log and the metrics) happens
here. One runtime hosts several models and several versions of one model, each addressed by
name, version number or digest, so rollouts can route between them.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from modelyard.errors import ModelNotReadyError, ModelNotServedError, ModelyardError
from modelyard.features.store import FeatureStore
from modelyard.registry import ModelRegistry
from modelyard.registry.flavors.predictor import Predictor
from modelyard.registry.flavors.signature import Array
from modelyard.registry.versions import ModelVersion
from modelyard.serving.assembly import Answer, Assembler
from modelyard.serving.batcher import DynamicBatcher
from modelyard.serving.breaker import BreakerState, CircuitBreaker
from modelyard.serving.cache import PredictionCache, canonical_key
from modelyard.serving.config import ModelServingConfig, ServingConfig
from modelyard.serving.enrichment import Enriched, FeatureEnricher
from modelyard.serving.metrics import ModelMetrics, ServingMetrics
from modelyard.serving.predlog import PredictionBatch, PredictionLog, Values
from modelyard.serving.requests import Decoded, RequestSchema

ONLINE_STORE = "online"
_LOOKUP_THREADS = 4


@dataclass(frozen=True, slots=True)
class Prediction:
    """The answer to one request.

    Attributes:
        predictions: one label (classifiers) or value per row.
        probabilities: one row of class probabilities per row (classifiers), else None.
        feature_fallback: whether declared defaults replaced looked-up features.
        fallback_reason: why (``timeout``, ``unavailable``, ``circuit_open``, ``not_found``,
            ``expired``), else None.
        cached_rows: rows answered from the prediction cache.
    """

    predictions: Array
    probabilities: Array | None
    feature_fallback: bool = False
    fallback_reason: str | None = None
    cached_rows: int = 0


@dataclass(frozen=True, slots=True)
class Work:
    """One request waiting for its batch."""

    decoded: Decoded
    request_id: str
    started: float  # time.perf_counter() at arrival


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a batch did for one request: its enriched input and answer, or its error."""

    decoded: Decoded
    answer: Answer | None
    enriched: Enriched | None = None
    cached_rows: int = 0
    error: ModelyardError | None = None


class _BatchMetrics:
    def __init__(self, metrics: ModelMetrics) -> None:
        self._metrics = metrics

    def on_batch(self, rows: int, requests: int, queue_waits_s: Sequence[float]) -> None:
        self._metrics.batch_rows.observe(rows)
        self._metrics.batch_requests.observe(requests)
        for wait in queue_waits_s:
            self._metrics.queue_wait.observe(wait)


class ServedModel:
    """One model version in a server: pinned, warmed up, batched.

    Attributes:
        name: the registered model's name.
        version: the version number.
        digest: the artifact digest it is pinned to.
        requested: the reference it was asked for (``fraud@champion``).
        config: how it is served.
        predictor: the loaded model.
        schema: the request contract.
        load_seconds: how long loading and warm-up took.
    """

    def __init__(
        self,
        config: ModelServingConfig,
        version: ModelVersion,
        predictor: Predictor,
        *,
        enricher: FeatureEnricher | None,
        metrics: ServingMetrics,
        load_seconds: float,
    ) -> None:
        self.config = config
        self.name = version.model
        self.version = version.version
        self.digest = version.artifact_digest
        self.requested = config.ref
        self.predictor = predictor
        self.load_seconds = load_seconds
        self.enricher = enricher
        self.schema = RequestSchema(
            version.model,
            predictor.signature,
            feature_columns=config.feature_columns if enricher is not None else (),
            entity_fields=enricher.entity_fields if enricher is not None else (),
        )
        self._assembler = Assembler(predictor.signature, takes_matrix=predictor.takes_matrix)
        self._is_classifier = predictor.is_classifier
        self._is_tensor = predictor.signature.input_kind == "tensor"
        self._input_names = list(predictor.signature.input_names)
        self._logged_fields = [*self._input_names, *self.schema.entity_fields]
        self._metrics = metrics
        self.metrics = metrics.bind(self.name, self.version)
        # Requests being answered. One process reads the plain count when scraped (no lock per
        # request); worker processes share the gauge through prometheus_client's files.
        self.in_flight = 0
        self._count_in_flight = metrics.is_multiprocess
        self.log: PredictionLog | None = None
        self.cache = PredictionCache(config.cache_size) if config.cache_size > 0 else None
        self.batcher: DynamicBatcher[Work, Outcome] = DynamicBatcher(
            self.name,
            self.run_batch,
            max_batch_size=config.max_batch_size,
            max_wait_ms=config.max_wait_ms,
            max_queue=config.max_queue,
            observer=_BatchMetrics(self.metrics),
        )

    @property
    def reference(self) -> str:
        """``name/version``."""
        return f"{self.name}/{self.version}"

    def run_batch(self, works: list[Work]) -> list[Outcome]:
        """Answer a batch on the worker thread: one feature lookup for every request that
        needs one, the prediction cache, one model call for the rest, one prediction-log
        append for the batch."""
        requests = [work.decoded for work in works]
        if self.enricher is not None:
            enriched = self.enricher.enrich_batch(requests)
            if self.enricher.lookup_seconds is not None:
                self.metrics.feature_latency.observe(self.enricher.lookup_seconds)
        else:
            enriched = [Enriched(request, 0, None) for request in requests]
        outcomes: list[Outcome | None] = [None] * len(requests)
        pending: list[tuple[int, Enriched, list[bytes] | None]] = []
        for position, item in enumerate(enriched):
            if isinstance(item, ModelyardError):
                outcomes[position] = Outcome(requests[position], None, error=item)
                continue
            keys = None
            if self.cache is not None and item.decoded.tensor is None:
                keys, cached = self._from_cache(item.decoded)
                if cached is not None:
                    outcomes[position] = Outcome(item.decoded, cached, item, item.decoded.rows)
                    continue
            pending.append((position, item, keys))
        model_call: _ModelCall | None = None
        if pending:
            batch = [item.decoded for _, item, _ in pending]
            data = self._assembler.model_input(batch)
            if self._is_classifier:
                labels, probabilities = self.predictor.predict_with_proba(data)
            else:
                labels, probabilities = self.predictor.predict(data), None
            model_call = _ModelCall(data, labels, probabilities)
            answers = Assembler.split(batch, labels, probabilities)
            for (position, item, keys), answer in zip(pending, answers, strict=True):
                outcomes[position] = Outcome(item.decoded, answer, item)
                if keys is not None:
                    self._cache_answer(keys, answer)
        done = [outcome for outcome in outcomes if outcome is not None]
        if self.log is not None and not self._is_tensor:
            # When one model call answered every request, its input and output arrays are the
            # log's columns as they are (no per-value Python work).
            whole = model_call if len(pending) == len(requests) else None
            self._log_batch(works, done, whole)
        return done

    def _cache_answer(self, keys: list[bytes], answer: Answer) -> None:
        assert self.cache is not None
        for row, key in enumerate(keys):
            probabilities = answer.probabilities
            self.cache.put(
                key, (answer.labels[row], None if probabilities is None else probabilities[row])
            )

    def warm_up(self, example: pd.DataFrame | np.ndarray) -> None:
        """Run the model on the stored example: one row and a full batch, so the first
        requests do not pay for lazy initialisation."""
        for rows in (1, self.config.max_batch_size):
            repeats = -(-rows // max(len(example), 1))
            if isinstance(example, pd.DataFrame):
                data: pd.DataFrame | np.ndarray = pd.concat([example] * repeats).head(rows)
            else:
                data = np.concatenate([example] * repeats)[:rows]
            if self._is_classifier:
                self.predictor.predict_with_proba(data)
            else:
                self.predictor.predict(data)

    async def predict(self, decoded: Decoded, request_id: str) -> Prediction:
        """Answer one decoded request: batched with others, enriched, cached, logged.

        Raises:
            RequestContractError: the request (or its looked-up features) breaks the signature.
            FeatureLookupFailedError: features could not be read and the policy rejects.
            QueueFullError: the model's queue is full.
        """
        started = time.perf_counter()
        self.in_flight += 1
        if self._count_in_flight:
            self.metrics.in_flight.inc()
        try:
            outcome = await self.batcher.submit(Work(decoded, request_id, started), decoded.rows)
        finally:
            self.in_flight -= 1
            if self._count_in_flight:
                self.metrics.in_flight.dec()
        if outcome.error is not None:
            raise outcome.error
        assert outcome.answer is not None
        assert outcome.enriched is not None
        enriched = outcome.enriched
        prediction = Prediction(
            outcome.answer.labels,
            outcome.answer.probabilities,
            enriched.is_fallback,
            enriched.reason,
            outcome.cached_rows,
        )
        self.metrics.latency.observe(time.perf_counter() - started)
        return prediction

    def _from_cache(self, decoded: Decoded) -> tuple[list[bytes], Answer | None]:
        assert self.cache is not None
        columns = [decoded.columns[name] for name in self._input_names]
        keys = [canonical_key([column[row] for column in columns]) for row in range(decoded.rows)]
        found = [self.cache.get(key) for key in keys]
        hits = sum(item is not None for item in found)
        self.metrics.cache_hits.inc(hits)
        self.metrics.cache_misses.inc(len(keys) - hits)
        self._metrics.cache_hit_ratio.labels(self.name, str(self.version)).set(self.cache.hit_ratio)
        if hits < len(keys):
            return keys, None
        labels = np.asarray([item[0] for item in found])  # type: ignore[index]  # all hits
        probabilities = (
            None
            if found[0][1] is None  # type: ignore[index]  # all hits
            else np.asarray([item[1] for item in found])  # type: ignore[index]  # all hits
        )
        return keys, Answer(labels, probabilities)

    def _log_batch(
        self, works: list[Work], outcomes: list[Outcome], call: _ModelCall | None
    ) -> None:
        """Append one batch's predictions to the log: one entry, built once, off the loop."""
        assert self.log is not None
        now = time.perf_counter()
        now_ms = int(time.time() * 1000)
        answered = [
            (work, outcome)
            for work, outcome in zip(works, outcomes, strict=True)
            if outcome.answer is not None
        ]
        if not answered:
            return
        counts = np.fromiter(
            (outcome.decoded.rows for _, outcome in answered), np.int64, len(answered)
        )
        request_ids: list[str] = []
        for (work, _), rows in zip(answered, counts.tolist(), strict=True):
            request_ids.extend([work.request_id] * rows)
        latency_ms = np.repeat(
            np.fromiter(((now - work.started) * 1000.0 for work, _ in answered), np.float64),
            counts,
        )
        fallback = np.repeat(
            np.fromiter(
                (
                    outcome.enriched is not None and outcome.enriched.is_fallback
                    for _, outcome in answered
                ),
                np.bool_,
            ),
            counts,
        )
        inputs: dict[str, Values] = {}
        for name in self._logged_fields:
            from_call = None if call is None else call.column(name, self._input_names)
            if from_call is not None:
                inputs[name] = from_call
                continue
            column: list[object] = []
            for _, outcome in answered:
                values = outcome.decoded.columns.get(name)
                column.extend(values if values is not None else [None] * outcome.decoded.rows)
            inputs[name] = column
        outputs: dict[str, Values] = {}
        if call is not None:
            outputs["prediction"] = call.labels
            if call.probabilities is not None:
                outputs["score"] = _scores(call.probabilities)
        else:
            labels = [o.answer.labels for _, o in answered if o.answer is not None]
            outputs["prediction"] = np.concatenate(labels)
            probabilities = [
                o.answer.probabilities
                for _, o in answered
                if o.answer is not None and o.answer.probabilities is not None
            ]
            if len(probabilities) == len(answered):
                outputs["score"] = _scores(np.concatenate(probabilities))
        self.log.append(
            PredictionBatch(
                model=self.name,
                version=self.version,
                digest=self.digest,
                request_ids=request_ids,
                time_ms=np.full(len(request_ids), now_ms, dtype=np.int64),
                inputs=inputs,
                outputs=outputs,
                latency_ms=latency_ms,
                feature_fallback=fallback,
            )
        )

    def describe(self) -> dict[str, object]:
        """What the server says about this model (``GET /v1/models``)."""
        signature = self.predictor.signature
        return {
            "name": self.name,
            "version": self.version,
            "reference": self.reference,
            "requested": self.requested,
            "digest": self.digest,
            "flavor": self.predictor.flavor,
            "backend": self.predictor.backend,
            "task": self.predictor.package.task,
            "inputs": [spec.to_dict() for spec in signature.inputs],
            "outputs": [spec.to_dict() for spec in signature.outputs],
            "features": list(self.config.features),
            "entity_fields": list(self.schema.entity_fields),
            "on_feature_failure": self.config.on_feature_failure,
            "max_batch_size": self.config.max_batch_size,
            "max_wait_ms": self.config.max_wait_ms,
            "max_queue": self.config.max_queue,
            "cache_size": self.config.cache_size,
            "load_seconds": round(self.load_seconds, 4),
        }


def _in_flight_of(versions: list[ServedModel]) -> Callable[[], float]:
    """The in-flight count of a model's served versions, read when /metrics is scraped."""

    def count() -> float:
        return float(sum(model.in_flight for model in versions))

    return count


def _scores(probabilities: Array) -> Array:
    """The logged score per row: the positive class of a binary classifier, else the top one."""
    if probabilities.ndim == 2 and probabilities.shape[1] == 2:
        return np.ascontiguousarray(probabilities[:, 1])
    return np.asarray(probabilities.max(axis=1))


@dataclass(frozen=True, slots=True)
class _ModelCall:
    """One model call: its input (a frame or a float32 matrix) and outputs."""

    data: pd.DataFrame | Array
    labels: Array
    probabilities: Array | None

    def column(self, name: str, names: list[str]) -> Array | None:
        """The input column ``name`` exactly as the model saw it (None if not an input)."""
        if isinstance(self.data, pd.DataFrame):
            if name not in self.data.columns:
                return None
            return np.asarray(self.data[name].to_numpy())
        if self.data.ndim != 2 or name not in names:
            return None
        return np.ascontiguousarray(self.data[:, names.index(name)])


class ServingRuntime:
    """Every model a server hosts, and what they share (breaker, lookup threads, log, metrics).

    Args:
        config: what to serve.
        registry: where model versions are resolved and loaded from.
        features: the feature store (needed when a model declares features).
        log_root: where the prediction log is written (None: no log).
        metrics: the metrics to report to (a new set by default).
    """

    def __init__(
        self,
        config: ServingConfig,
        registry: ModelRegistry,
        *,
        features: FeatureStore | None = None,
        log_root: Path | None = None,
        metrics: ServingMetrics | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or ServingMetrics()
        self._registry = registry
        self._features = features
        self.breaker = CircuitBreaker(
            failures=config.breaker_failures,
            reset_s=config.breaker_reset_s,
            on_change=self._on_circuit_change,
        )
        self.metrics.set_circuit(ONLINE_STORE, BreakerState.CLOSED.value)
        self._lookups = ThreadPoolExecutor(_LOOKUP_THREADS, thread_name_prefix="feature-lookup")
        self._log_root = log_root if config.log_predictions else None
        self.log: PredictionLog | None = None
        self.models: list[ServedModel] = []
        self.pending = [model.ref for model in config.models]
        self.is_ready = False

    def _on_circuit_change(self, old: BreakerState, new: BreakerState) -> None:
        self.metrics.set_circuit(ONLINE_STORE, new.value)

    async def start(self) -> None:
        """Resolve, load and warm up every model (on a thread), then start their batchers.

        Raises:
            NotFoundError: a reference, feature or view does not exist.
            CorruptArtifactError: a model's files do not match its digest.
        """
        loaded: dict[str, ServedModel] = {}
        for model_config in self.config.models:
            served = await asyncio.to_thread(self._load, model_config, loaded)
            if served is not None:
                loaded[served.digest] = served
                served.batcher.start()
                self.models.append(served)
            self.pending.remove(model_config.ref)
        if self._log_root is not None:
            # PII fields are known once the signatures are loaded.
            self.log = PredictionLog(
                self._log_root,
                pii_policy=self.config.pii_policy,
                pii_fields={model.name: self._pii_fields(model) for model in self.models},
            )
            for model in self.models:
                model.log = self.log
        if not self.metrics.is_multiprocess:
            for name in {model.name for model in self.models}:
                versions = [model for model in self.models if model.name == name]
                self.metrics.in_flight.labels(name).set_function(_in_flight_of(versions))
        # The models and their libraries live as long as the server: moved out of the cyclic
        # garbage collector's sight, a full collection no longer walks them (it stalled
        # requests for tens of milliseconds under load).
        gc.collect()
        gc.freeze()
        self.is_ready = True

    def _pii_fields(self, model: ServedModel) -> list[str]:
        return sorted({*model.predictor.signature.pii_names, *model.config.pii_fields})

    def _load(
        self, config: ModelServingConfig, loaded: dict[str, ServedModel]
    ) -> ServedModel | None:
        started = time.perf_counter()
        version = self._registry.version(config.ref)
        if version.artifact_digest in loaded:
            return None  # two references to one version: served once
        predictor = self._registry.load_version(version, threads=config.threads)
        enricher = None
        if config.features:
            if self._features is None:
                raise ModelNotReadyError([f"{config.ref} (declares features, no feature store)"])
            fallbacks = self.metrics.feature_fallbacks

            def count_fallback(reason: str, rows: int, name: str = version.model) -> None:
                fallbacks.labels(name, reason).inc(rows)

            enricher = FeatureEnricher(
                version.model,
                config,
                predictor.signature,
                self._features,
                self.breaker,
                self._lookups,
                count_fallback,
            )
        served = ServedModel(
            config,
            version,
            predictor,
            enricher=enricher,
            metrics=self.metrics,
            load_seconds=0.0,
        )
        served.warm_up(self._registry.input_example(version))
        served.load_seconds = time.perf_counter() - started
        self.metrics.model_load.labels(
            served.name, str(served.version), served.digest, predictor.backend
        ).set(served.load_seconds)
        return served

    def find(self, name: str, version: str | None = None) -> ServedModel | None:
        """Return the served model ``name`` (its first configured version), or the version
        named by number or digest; None when there is none (yet)."""
        for model in self.models:
            if model.name == name and (
                version is None or version in (str(model.version), model.digest)
            ):
                return model
        return None

    def get(self, name: str, version: str | None = None) -> ServedModel:
        """Return what :meth:`find` finds.

        Raises:
            ModelNotReadyError: models are still loading.
            ModelNotServedError: no such model or version here.
        """
        model = self.find(name, version)
        if model is not None:
            return model
        if not self.is_ready:
            raise ModelNotReadyError(list(self.pending))
        served = sorted({model.reference for model in self.models})
        raise ModelNotServedError(name, served, version)

    async def close(self) -> None:
        """Answer what is queued, flush the prediction log, release threads."""
        for model in self.models:
            await model.batcher.close()
        self._lookups.shutdown(wait=False, cancel_futures=True)
        if self.log is not None:
            await asyncio.to_thread(self.log.close)
        if self.is_ready:
            gc.unfreeze()
