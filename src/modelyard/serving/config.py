"""How a model is served: batching, queue bound, feature enrichment, fallbacks, cache, PII policy.

A server hosts several models (and several versions of one model, each pinned by digest); each
gets a :class:`ModelServingConfig`. They are written in Python or in a YAML file::

    models:
      - ref: fraud@champion
        max_batch_size: 64
        max_wait_ms: 2
        features:
          - customer_activity:customer_txn_count_1h
          - customer_activity:customer_amount_sum_24h
        defaults: {customer_txn_count_1h: 0, customer_amount_sum_24h: 0.0}
        on_feature_failure: fallback
        pii_fields: [customer_id]
    pii_policy: hash
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

from modelyard.errors import InvalidReferenceError, InvalidServingConfigError
from modelyard.ids import parse_reference

FEATURE_FAILURE_POLICIES = ("fallback", "reject")
PII_POLICIES = ("hash", "drop")
DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_MAX_WAIT_MS = 2.0
DEFAULT_MAX_QUEUE = 2048
DEFAULT_FEATURE_TIMEOUT_MS = 50.0


@dataclass(frozen=True, slots=True)
class ModelServingConfig:
    """How one model version is served.

    Attributes:
        ref: the registry reference (``fraud@champion``, ``fraud/3``); resolved once, at load,
            to a version pinned by digest.
        max_batch_size: the most rows one model call coalesces (1 turns batching off).
        max_wait_ms: how long the first queued request waits for others to join its batch.
        max_queue: the most requests waiting for this model; beyond it the server answers 503
            with ``Retry-After`` instead of growing memory.
        features: feature references (``view:feature``) read from the online store for each
            request, by the entity keys the request carries; each fills the model input column
            named like the feature.
        defaults: per feature column, the value used when the lookup fails or finds nothing
            (with ``on_feature_failure: fallback``).
        on_feature_failure: ``fallback`` (declared defaults, marked in the response and in
            metrics) or ``reject`` (503) when the online store is slow, failing or the circuit
            is open.
        feature_timeout_ms: the budget of one online lookup.
        cache_size: rows kept in the prediction cache (0: no cache); only for deterministic
            models whose features do not change under a given input.
        pii_fields: fields of the request (beyond those the signature marks PII) to hash or
            drop in the prediction log.
        threads: onnxruntime intra-op threads for large batches (None: the default).
    """

    ref: str
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    max_wait_ms: float = DEFAULT_MAX_WAIT_MS
    max_queue: int = DEFAULT_MAX_QUEUE
    features: tuple[str, ...] = ()
    defaults: Mapping[str, object] = field(default_factory=dict)
    on_feature_failure: str = "fallback"
    feature_timeout_ms: float = DEFAULT_FEATURE_TIMEOUT_MS
    cache_size: int = 0
    pii_fields: tuple[str, ...] = ()
    threads: int | None = None

    def __post_init__(self) -> None:
        where = f"models[{self.ref}]"
        try:
            parse_reference(self.ref)
        except InvalidReferenceError as exc:
            raise InvalidServingConfigError(f"{where}.ref", exc.reason) from exc
        _positive_int(f"{where}.max_batch_size", self.max_batch_size)
        _positive_int(f"{where}.max_queue", self.max_queue)
        _non_negative(f"{where}.max_wait_ms", self.max_wait_ms)
        _non_negative(f"{where}.feature_timeout_ms", self.feature_timeout_ms)
        if not isinstance(self.cache_size, int) or isinstance(self.cache_size, bool):
            raise InvalidServingConfigError(f"{where}.cache_size", "must be a whole number")
        if self.cache_size < 0:
            raise InvalidServingConfigError(f"{where}.cache_size", "must be 0 (off) or more")
        if self.on_feature_failure not in FEATURE_FAILURE_POLICIES:
            raise InvalidServingConfigError(
                f"{where}.on_feature_failure",
                f"{self.on_feature_failure!r} is not one of {', '.join(FEATURE_FAILURE_POLICIES)}",
            )
        for ref in self.features:
            if (
                not isinstance(ref, str)
                or ref.count(":") != 1
                or ref.startswith(":")
                or ref.endswith(":")
            ):
                raise InvalidServingConfigError(
                    f"{where}.features", f"{ref!r} is not a feature reference (view:feature)"
                )
        columns = self.feature_columns
        unknown = sorted(set(self.defaults) - set(columns))
        if unknown:
            raise InvalidServingConfigError(
                f"{where}.defaults",
                f"{', '.join(unknown)} is not one of the model's features "
                f"({', '.join(columns) or 'none declared'})",
            )
        if self.threads is not None:
            _positive_int(f"{where}.threads", self.threads)

    @property
    def feature_columns(self) -> tuple[str, ...]:
        """The model input columns the features fill, in ``features`` order."""
        return tuple(ref.split(":", 1)[1] for ref in self.features)

    @property
    def is_batching(self) -> bool:
        """Whether requests are coalesced (``max_batch_size`` above 1)."""
        return self.max_batch_size > 1


@dataclass(frozen=True, slots=True)
class ServingConfig:
    """What a server hosts, and server-wide policies.

    Attributes:
        models: one entry per hosted model version; the first entry for a name answers
            ``/v1/models/{name}/predict``.
        pii_policy: what the prediction log does with PII fields: ``hash`` (a keyed
            sha256) or ``drop``.
        log_predictions: whether predictions are appended to the workspace's prediction log.
        breaker_failures: consecutive online-store failures that open the circuit.
        breaker_reset_s: how long an open circuit waits before one trial request (half-open).
    """

    models: tuple[ModelServingConfig, ...]
    pii_policy: str = "hash"
    log_predictions: bool = True
    breaker_failures: int = 5
    breaker_reset_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.models:
            raise InvalidServingConfigError("models", "name at least one model to serve")
        if self.pii_policy not in PII_POLICIES:
            raise InvalidServingConfigError(
                "pii_policy", f"{self.pii_policy!r} is not one of {', '.join(PII_POLICIES)}"
            )
        if not isinstance(self.log_predictions, bool):
            raise InvalidServingConfigError("log_predictions", "must be true or false")
        _positive_int("breaker_failures", self.breaker_failures)
        _non_negative("breaker_reset_s", self.breaker_reset_s)

    def to_dict(self) -> dict[str, object]:
        """Return the config as JSON-ready values that :func:`config_from_mapping` reads back."""
        models = []
        for model in self.models:
            entry: dict[str, object] = {}
            for name in _MODEL_FIELDS:
                value = getattr(model, name)
                entry[name] = (
                    list(value)
                    if isinstance(value, tuple)
                    else dict(value)
                    if isinstance(value, Mapping)
                    else value
                )
            models.append(entry)
        return {
            "models": models,
            "pii_policy": self.pii_policy,
            "log_predictions": self.log_predictions,
            "breaker_failures": self.breaker_failures,
            "breaker_reset_s": self.breaker_reset_s,
        }

    def with_overrides(self, **changes: object) -> ServingConfig:
        """Return the config with ``changes`` applied to every model (e.g. ``max_batch_size=1``)."""
        if not changes:
            return self
        return replace(
            self,
            models=tuple(replace(model, **changes) for model in self.models),  # type: ignore[arg-type]  # keys are checked by replace
        )


_MODEL_FIELDS = tuple(ModelServingConfig.__dataclass_fields__)
_MODEL_KEYS = set(_MODEL_FIELDS)
_SERVER_KEYS = {name for name in ServingConfig.__dataclass_fields__}


def serving_config(
    refs: Sequence[str], *, pii_policy: str = "hash", **model_settings: object
) -> ServingConfig:
    """Build a config that serves ``refs`` with the same settings each.

    Raises:
        InvalidServingConfigError: a setting is unknown or out of range.
    """
    unknown = sorted(set(model_settings) - _MODEL_KEYS)
    if unknown:
        raise InvalidServingConfigError(unknown[0], _unknown_key(unknown[0], _MODEL_KEYS))
    models = tuple(ModelServingConfig(ref, **model_settings) for ref in refs)  # type: ignore[arg-type]  # checked in __post_init__
    return ServingConfig(models, pii_policy=pii_policy)


def load_serving_config(path: str | Path) -> ServingConfig:
    """Read a serving config from a YAML file (see the module docstring).

    Raises:
        InvalidServingConfigError: the file is missing or unreadable, does not parse, or holds
            an unknown key or a bad value (the message names the key).
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidServingConfigError("file", f"cannot read {source}: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f"line {mark.line + 1}: " if mark is not None else ""
        raise InvalidServingConfigError("file", f"{line}not valid YAML", source) from exc
    try:
        return config_from_mapping(data)
    except InvalidServingConfigError as exc:
        raise InvalidServingConfigError(exc.field, exc.reason, source) from exc


def config_from_mapping(data: object) -> ServingConfig:
    """Build a config from parsed YAML or JSON (see the module docstring).

    Raises:
        InvalidServingConfigError: an unknown key or a bad value (the message names the key).
    """
    if not isinstance(data, dict):
        raise InvalidServingConfigError("(top level)", "must be a mapping with a models list")
    for key in data:
        if key not in _SERVER_KEYS:
            raise InvalidServingConfigError(str(key), _unknown_key(str(key), _SERVER_KEYS))
    entries = data.get("models")
    if not isinstance(entries, list):
        raise InvalidServingConfigError("models", "must be a list of models to serve")
    models = []
    for position, entry in enumerate(entries):
        where = f"models[{position}]"
        if isinstance(entry, str):
            entry = {"ref": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("ref"), str):
            raise InvalidServingConfigError(
                where, "needs a ref (a model reference such as fraud@champion)"
            )
        for key in entry:
            if key not in _MODEL_KEYS:
                raise InvalidServingConfigError(
                    f"{where}.{key}", _unknown_key(str(key), _MODEL_KEYS)
                )
        values = dict(entry)
        for key in ("features", "pii_fields"):
            if key in values:
                if not isinstance(values[key], list) or not all(
                    isinstance(item, str) for item in values[key]
                ):
                    raise InvalidServingConfigError(f"{where}.{key}", "must be a list of strings")
                values[key] = tuple(values[key])
        if "defaults" in values and not isinstance(values["defaults"], dict):
            raise InvalidServingConfigError(f"{where}.defaults", "must be a mapping")
        try:
            models.append(ModelServingConfig(**values))
        except TypeError as exc:
            raise InvalidServingConfigError(where, str(exc)) from exc
    server = {key: value for key, value in data.items() if key != "models"}
    try:
        return ServingConfig(tuple(models), **server)
    except TypeError as exc:
        raise InvalidServingConfigError("(top level)", str(exc)) from exc


def _unknown_key(key: str, known: set[str]) -> str:
    from modelyard.errors import close_matches

    suggestions = close_matches(key, sorted(known))
    hint = f" (did you mean {suggestions[0]!r}?)" if suggestions else ""
    return f"unknown key{hint}; known keys: {', '.join(sorted(known))}"


def _positive_int(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidServingConfigError(
            name, f"must be a whole number of at least 1, not {value!r}"
        )


def _non_negative(name: str, value: object) -> None:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidServingConfigError(name, f"must be a number of at least 0, not {value!r}")
