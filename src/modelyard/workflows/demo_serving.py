"""The demo's serving act: the champion behind the real server, a burst of requests (some bad),
latency and batch sizes from /metrics, an online-store outage ridden out by the circuit breaker
and declared defaults, and a day of transactions scored in batch.

Web frameworks stay in the interfaces: the caller passes ``start_server``, which serves a
runtime on a loopback port and yields its URL (the CLI uses ``modelyard.api``); this module
speaks plain HTTP to it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
from prometheus_client.parser import text_string_to_metric_families

from modelyard.errors import OnlineStoreUnavailableError
from modelyard.features.online import OnlineRow, OnlineStore
from modelyard.features.online.store import EntityKey
from modelyard.features.store import FeatureStore
from modelyard.registry import ModelRegistry
from modelyard.serving.batch import ScoringResult, score
from modelyard.serving.config import ModelServingConfig, ServingConfig
from modelyard.serving.runtime import ServingRuntime

ServerStarter = Callable[[ServingRuntime], AbstractContextManager[str]]
BURST_REQUESTS = 600
BURST_CLIENTS = 32
OUTAGE_REQUESTS = 8
BREAKER_FAILURES = 3
BREAKER_RESET_S = 0.5


class OutageSwitch:
    """An online store behind a switch: while ``is_down`` every call fails as a dropped
    connection does (the demo's stand-in for pulling the store's network cable)."""

    def __init__(self, store: OnlineStore) -> None:
        self._store = store
        self.is_down = False

    @property
    def url(self) -> str:
        """The wrapped store's URL."""
        return self._store.url

    def _check(self) -> None:
        if self.is_down:
            raise OnlineStoreUnavailableError(self._store.url, "connection reset (demo outage)")

    def write(
        self,
        view: str,
        keys: Sequence[EntityKey],
        event_ms: Sequence[int],
        values: pa.Table,
    ) -> int:
        """Write through to the store (fails while down)."""
        self._check()
        return self._store.write(view, keys, event_ms, values)

    def read(self, view: str, keys: Sequence[EntityKey]) -> list[OnlineRow | None]:
        """Read through from the store (fails while down)."""
        self._check()
        return self._store.read(view, keys)

    def delete_view(self, view: str) -> None:
        """Delete through (fails while down)."""
        self._check()
        self._store.delete_view(view)

    def close(self) -> None:
        """Nothing to release: the wrapped store belongs to the workspace."""


@dataclass(frozen=True, slots=True)
class BadRequest:
    """One deliberately bad request and how the server answered it."""

    description: str
    status: int
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class OutageStep:
    """One request during (or after) the outage."""

    phase: str  # "outage" or "recovered"
    status: int
    feature_fallback: bool
    reason: str | None
    circuit: str


@dataclass(frozen=True, slots=True)
class ServingDemoResult:
    """What the serving act showed."""

    reference: str
    digest: str
    requests: int
    failed: int
    seconds: float
    latency_ms: Mapping[str, float]
    batches: int
    mean_batch_rows: float
    batch_histogram: tuple[tuple[str, int], ...]
    server_p99_ms: float
    bad_requests: tuple[BadRequest, ...]
    outage: tuple[OutageStep, ...]
    logged_predictions: int
    scoring: ScoringResult | None
    scored_day: str | None

    @property
    def throughput(self) -> float:
        """Requests answered per second during the burst."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def serving_config(reference: str, feature_refs: Sequence[str]) -> ServingConfig:
    """How the demo serves the champion: its activity features from the online store (zero
    activity when the store cannot answer), batches of up to 32 rows within 10 ms (the
    champion is a native scikit-learn pipeline: a call costs about the same for 1 row or 32)."""
    columns = [ref.split(":", 1)[1] for ref in feature_refs]
    defaults: dict[str, object] = {column: 0 if "count" in column else 0.0 for column in columns}
    model = ModelServingConfig(
        reference,
        max_batch_size=32,
        max_wait_ms=10.0,
        features=tuple(feature_refs),
        defaults=defaults,
        on_feature_failure="fallback",
        feature_timeout_ms=100.0,
        pii_fields=("customer_id",),
    )
    return ServingConfig(
        (model,), breaker_failures=BREAKER_FAILURES, breaker_reset_s=BREAKER_RESET_S
    )


def run_serving_demo(
    *,
    models: ModelRegistry,
    features: FeatureStore,
    reference: str,
    feature_refs: Sequence[str],
    transactions: pd.DataFrame,
    raw_columns: Sequence[str],
    log_root: Path | None,
    start_server: ServerStarter,
    scores_dir: Path | None = None,
) -> ServingDemoResult:
    """Serve ``reference`` and exercise the server (see the module docstring).

    Args:
        models: the registry holding the champion.
        features: the feature store (its online store is put behind an outage switch).
        reference: what to serve (``fraud@champion``).
        feature_refs: the features the server looks up by the request's entity keys.
        transactions: recent transactions to send (raw columns and ``customer_id``).
        raw_columns: the model inputs a request carries itself.
        log_root: where the prediction log goes (None: no log).
        start_server: serves a runtime on loopback and yields its URL.
        scores_dir: where the last day of ``transactions`` is batch-scored (None: skipped).

    Returns:
        Latency, batching, the bad requests' answers, the outage and the log's size.
    """
    switch = OutageSwitch(features.online_store)
    serving_features = features.with_online_store(switch)
    runtime = ServingRuntime(
        serving_config(reference, feature_refs),
        models,
        features=serving_features,
        log_root=log_root,
    )
    fields = [*dict.fromkeys([*raw_columns, *features.request_fields(list(feature_refs))])]
    records = _records(transactions, fields)
    version = models.version(reference)
    name = version.model
    with start_server(runtime) as base:
        url = f"{base}/v1/models/{name}/predict"
        statuses, latency_ms, seconds = _burst(url, records[:BURST_REQUESTS])
        metrics = httpx.get(f"{base}/metrics").text
        bad = _bad_requests(url, records[0])
        outage = _outage(base, url, records, switch)
    logged = 0
    if runtime.log is not None:
        logged = runtime.log.written_rows
    scoring, day = None, None
    if scores_dir is not None:
        day, scoring = _score_a_day(
            models, features, runtime.config.models[0], transactions, raw_columns, scores_dir
        )
    labels = {"model": name, "version": str(version.version)}
    samples = _scrape(metrics)
    series = frozenset(labels.items())
    batches = samples.get(("modelyard_batch_size_rows_count", series), 0.0)
    rows = samples.get(("modelyard_batch_size_rows_sum", series), 0.0)
    return ServingDemoResult(
        reference=version.reference,
        digest=version.artifact_digest,
        requests=sum(statuses.values()),
        failed=sum(count for status, count in statuses.items() if status != 200),
        seconds=seconds,
        latency_ms=latency_ms,
        batches=int(batches),
        mean_batch_rows=rows / batches if batches else 0.0,
        batch_histogram=_histogram(samples, "modelyard_batch_size_rows", labels),
        server_p99_ms=_quantile(
            _histogram(samples, "modelyard_request_duration_seconds", labels), 0.99
        )
        * 1000.0,
        bad_requests=tuple(bad),
        outage=tuple(outage),
        logged_predictions=logged,
        scoring=scoring,
        scored_day=day,
    )


def _score_a_day(
    models: ModelRegistry,
    features: FeatureStore,
    config: ModelServingConfig,
    transactions: pd.DataFrame,
    raw_columns: Sequence[str],
    scores_dir: Path,
) -> tuple[str, ScoringResult]:
    """Batch-score the last day of ``transactions``, features looked up point in time (as of a
    millisecond before each transaction, as in training)."""
    day = transactions["event_time"].dt.floor("D").max()
    chosen = transactions[transactions["event_time"].dt.floor("D") == day]
    keys = features.request_fields(list(config.features))
    columns = [*dict.fromkeys(["transaction_id", *keys, *raw_columns])]
    frame = chosen[columns].assign(
        event_timestamp=chosen["event_time"] - pd.Timedelta(milliseconds=1)
    )
    label = day.strftime("%Y-%m-%d")
    inputs = scores_dir / "inputs"
    inputs.mkdir(parents=True, exist_ok=True)
    source = inputs / f"transactions-{label}.parquet"
    frame.to_parquet(source, index=False)
    result = score(
        config.ref,
        source,
        scores_dir / label,
        registry=models,
        feature_store=features,
        serving=config,
    )
    return label, result


def _records(frame: pd.DataFrame, fields: Sequence[str]) -> list[dict[str, object]]:
    subset = frame[list(fields)]
    return [
        {
            str(key): (value.item() if isinstance(value, np.generic) else value)
            for key, value in row.items()
        }
        for row in subset.to_dict(orient="records")
    ]


def _burst(
    url: str, records: Sequence[dict[str, object]]
) -> tuple[dict[int, int], dict[str, float], float]:
    """Send ``records`` one per request from a separate process (so the client does not share
    this interpreter's lock with the server); return statuses, latency percentiles, seconds."""
    with tempfile.TemporaryDirectory(prefix="modelyard-burst-") as scratch:
        bodies = Path(scratch) / "bodies.jsonl"
        bodies.write_bytes(
            b"\n".join(orjson.dumps({"records": [record]}) for record in records) + b"\n"
        )
        completed = subprocess.run(
            [
                sys.executable,
                "-m",
                "modelyard.workflows.loadgen",
                url,
                str(bodies),
                "--clients",
                str(BURST_CLIENTS),
            ],
            capture_output=True,
            check=True,
            text=True,
        )
    result = json.loads(completed.stdout)
    statuses = {int(code): count for code, count in result["statuses"].items()}
    return statuses, result["latency_ms"], float(result["seconds"])


def _bad_requests(url: str, good: dict[str, object]) -> list[BadRequest]:
    amount_as_text = {**good, "amount": "12.50"}
    misspelled = {key: value for key, value in good.items() if key != "country"}
    misspelled["contry"] = good["country"]
    no_customer = {key: value for key, value in good.items() if key != "customer_id"}
    cases: list[tuple[str, dict[str, object]]] = [
        ("amount sent as a string", {"json": {"records": [amount_as_text]}}),
        ('"country" misspelled "contry"', {"json": {"records": [misspelled]}}),
        ("no customer_id to look the features up by", {"json": {"records": [no_customer]}}),
        ("a body that is not JSON", {"content": b'{"records": [{"amount": 1'}),
    ]
    answers = []
    with httpx.Client(timeout=30) as client:
        for description, body in cases:
            answer = client.post(url, **body)  # type: ignore[arg-type]  # json= or content=
            payload = answer.json()
            answers.append(
                BadRequest(description, answer.status_code, payload["code"], payload["message"])
            )
    return answers


def _outage(
    base: str, url: str, records: Sequence[dict[str, object]], switch: OutageSwitch
) -> list[OutageStep]:
    steps = []
    with httpx.Client(timeout=30) as client:

        def send(phase: str, record: dict[str, object]) -> None:
            answer = client.post(url, json={"records": [record]})
            body = answer.json()
            circuit = _circuit(client.get(f"{base}/metrics").text)
            steps.append(
                OutageStep(
                    phase,
                    answer.status_code,
                    bool(body.get("feature_fallback")),
                    body.get("fallback_reason"),
                    circuit,
                )
            )

        switch.is_down = True
        for record in records[:OUTAGE_REQUESTS]:
            send("outage", record)
        switch.is_down = False
        time.sleep(BREAKER_RESET_S + 0.1)  # the next lookup is the breaker's half-open trial
        for record in records[OUTAGE_REQUESTS : OUTAGE_REQUESTS + 2]:
            send("recovered", record)
    return steps


_CIRCUIT_NAMES = {0.0: "closed", 1.0: "half-open", 2.0: "open"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _scrape(text: str) -> Samples:
    """Every sample of a ``/metrics`` answer, by name and labels (prometheus_client's parser)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _circuit(metrics: str) -> str:
    value = _scrape(metrics).get(("modelyard_circuit_state", frozenset({("store", "online")})))
    return _CIRCUIT_NAMES.get(value if value is not None else -1.0, "?")


def _histogram(
    samples: Samples, name: str, labels: Mapping[str, str]
) -> tuple[tuple[str, int], ...]:
    """The cumulative buckets ``(le, count)`` of one histogram series, in bound order."""
    wanted = set(labels.items())
    buckets = [
        (dict(key)["le"], int(value))
        for (sample, key), value in samples.items()
        if sample == f"{name}_bucket" and wanted <= key and "le" in dict(key)
    ]
    return tuple(sorted(buckets, key=lambda bucket: float(bucket[0])))


def _quantile(buckets: Sequence[tuple[str, int]], q: float) -> float:
    """The upper bound of the bucket holding quantile ``q`` (Prometheus' coarse estimate)."""
    if not buckets or buckets[-1][1] == 0:
        return 0.0
    target = q * buckets[-1][1]
    for bound, count in buckets:
        if count >= target:
            return float(bound)  # "+Inf" parses as inf
    return float("inf")
