"""Feature enrichment: a request's entity keys turned into model inputs from the online store.

The lookup is made once per batch (every row of every request in it that lacks a feature) on a
small thread pool, within a time budget, behind a circuit breaker shared
by every model of the server: after repeated failures (an unreachable store, timeouts) the
circuit opens and requests stop waiting on the store at all; after ``breaker_reset_s`` one trial
request goes through (half-open) and a success closes it again. When the store cannot answer,
each model's ``on_feature_failure`` decides: ``fallback`` serves the declared defaults (marked in
the response and counted in metrics), ``reject`` answers 503. On-demand transformations run
inside the lookup, exactly as when building training data.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeoutError
from dataclasses import dataclass

from modelyard.errors import (
    CorruptOnlineRowError,
    FeatureLookupFailedError,
    ModelyardError,
    OnlineStoreUnavailableError,
    RequestContractError,
)
from modelyard.features.store import FeatureStatus, FeatureStore
from modelyard.registry.flavors.signature import Signature
from modelyard.serving.breaker import CircuitBreaker
from modelyard.serving.config import ModelServingConfig
from modelyard.serving.requests import Decoded

FallbackCounter = Callable[[str, int], None]


@dataclass(frozen=True, slots=True)
class Enriched:
    """A request with its feature columns filled.

    Attributes:
        decoded: the request's columns, features included.
        fallback_rows: rows served with at least one declared default (or null) instead of a
            looked-up value.
        reason: why defaults were used (``timeout``, ``unavailable``, ``circuit_open``,
            ``not_found``, ``expired``), None when every value was found.
    """

    decoded: Decoded
    fallback_rows: int
    reason: str | None

    @property
    def is_fallback(self) -> bool:
        """Whether any row was served with defaults."""
        return self.fallback_rows > 0


class FeatureEnricher:
    """Fills one model's feature columns from the online store.

    Args:
        model: the model name (for errors and metrics).
        config: the model's serving config (features, defaults, policy, timeout).
        signature: the model's signature (which feature columns may be null).
        features: the feature store.
        breaker: the server's online-store breaker.
        executor: the thread pool lookups run on.
        on_fallback: called with (reason, rows) when rows get defaults.
    """

    def __init__(
        self,
        model: str,
        config: ModelServingConfig,
        signature: Signature,
        features: FeatureStore,
        breaker: CircuitBreaker,
        executor: ThreadPoolExecutor,
        on_fallback: FallbackCounter,
    ) -> None:
        self.model = model
        self.config = config
        self._features = features
        self._breaker = breaker
        self._executor = executor
        self._on_fallback = on_fallback
        self._timeout_s = config.feature_timeout_ms / 1000.0
        self._refs = dict(zip(config.feature_columns, config.features, strict=True))
        specs = {spec.name: spec for spec in signature.inputs}
        self._nullable = {
            name: specs[name].nullable if name in specs else True for name in self._refs
        }
        self.entity_fields = features.request_fields(list(config.features))
        # How long the last batch's lookup took (None: the batch needed none).
        self.lookup_seconds: float | None = None

    def enrich_batch(self, requests: Sequence[Decoded]) -> list[Enriched | ModelyardError]:
        """Fill the feature columns each request lacks, with one online lookup for the batch.

        Runs on the batch's worker thread: the lookup goes to the lookup pool and is awaited
        for at most ``feature_timeout_ms``, so a slow store costs one budget per batch, not
        one per request.

        Returns:
            Per request, the enriched request, or the error to answer it with:
            FeatureLookupFailedError (the store failed or the circuit is open and the policy is
            ``reject``, or a needed column has no default) or RequestContractError (an entity
            has no value for a feature that cannot be null and has no default).
        """
        self.lookup_seconds = None
        results: list[Enriched | ModelyardError] = []
        needing: list[int] = []
        wanted: dict[str, None] = {}
        for position, decoded in enumerate(requests):
            missing = [name for name in self._refs if name not in decoded.columns]
            results.append(Enriched(decoded, 0, None))
            if missing:
                needing.append(position)
                wanted.update(dict.fromkeys(missing))
        if not needing:
            return results
        names = list(wanted)
        if not self._breaker.allow():
            for position in needing:
                results[position] = self._fail(
                    requests[position], names, "circuit_open", "the circuit is open"
                )
            return results
        entities = [
            {name: requests[position].columns[name][row] for name in self.entity_fields}
            for position in needing
            for row in range(requests[position].rows)
        ]
        refs = [self._refs[name] for name in names]
        started = time.perf_counter()
        future = self._executor.submit(self._features.online, refs, entities)
        try:
            found = future.result(timeout=self._timeout_s)
        except FutureTimeoutError:
            future.cancel()
            self._breaker.record_failure()
            reason = f"no answer within {self.config.feature_timeout_ms:g} ms"
            for position in needing:
                results[position] = self._fail(requests[position], names, "timeout", reason)
            return results
        except (OnlineStoreUnavailableError, CorruptOnlineRowError) as exc:
            self._breaker.record_failure()
            for position in needing:
                results[position] = self._fail(requests[position], names, "unavailable", str(exc))
            return results
        finally:
            self.lookup_seconds = time.perf_counter() - started
        self._breaker.record_success()
        offset = 0
        for position in needing:
            decoded = requests[position]
            rows = slice(offset, offset + decoded.rows)
            offset += decoded.rows
            results[position] = self._fill(
                decoded,
                [name for name in names if name not in decoded.columns],
                {name: found.columns[name][rows] for name in names},
                {name: found.status_columns[name][rows] for name in names},
            )
        return results

    def _fill(
        self,
        decoded: Decoded,
        wanted: list[str],
        found_values: Mapping[str, list[object]],
        found_statuses: Mapping[str, list[FeatureStatus]],
    ) -> Enriched | ModelyardError:
        columns = dict(decoded.columns)
        defaulted = [False] * decoded.rows
        reason: str | None = None
        problems: list[dict[str, str]] = []
        for name in wanted:
            values = found_values[name]
            statuses = found_statuses[name]
            if all(status is FeatureStatus.PRESENT for status in statuses):
                columns[name] = list(values)
                continue
            default = self.config.defaults.get(name)
            filled = list(values)
            for row, status in enumerate(statuses):
                if status is FeatureStatus.PRESENT:
                    continue
                if default is None and not self._nullable[name]:
                    keys = ", ".join(
                        f"{key}={decoded.columns[key][row]!r}" for key in self.entity_fields
                    )
                    problems.append(
                        {
                            "field": name,
                            "rule": "feature_missing",
                            "message": f"row {row}: {status.value.lower()} in the online store "
                            f"for {keys}, and the model declares no default for it",
                        }
                    )
                    break
                filled[row] = default
                defaulted[row] = True
                reason = reason or status.value.lower()
            columns[name] = filled
        if problems:
            return RequestContractError(self.model, problems)
        rows = sum(defaulted)
        if rows:
            self._on_fallback(reason or "not_found", rows)
        return Enriched(Decoded(decoded.rows, columns), rows, reason)

    def _fail(
        self, decoded: Decoded, wanted: list[str], reason: str, detail: str
    ) -> Enriched | ModelyardError:
        state = str(self._breaker.state.value)
        if self.config.on_feature_failure == "reject":
            return FeatureLookupFailedError(self.model, detail, state)
        missing = [
            name
            for name in wanted
            if self.config.defaults.get(name) is None and not self._nullable[name]
        ]
        if missing:
            return FeatureLookupFailedError(
                self.model,
                f"{detail}, and {', '.join(missing)} has no declared default",
                state,
            )
        columns = dict(decoded.columns)
        for name in wanted:
            columns[name] = [self.config.defaults.get(name)] * decoded.rows
        self._on_fallback(reason, decoded.rows)
        return Enriched(Decoded(decoded.rows, columns), decoded.rows, reason)
