"""The prediction log: round trips by day, PII never on disk, bounded queue, failures, threads."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from modelyard.clock import FixedClock
from modelyard.errors import (
    CorruptArtifactError,
    InvalidInputError,
    InvalidNameError,
    InvalidServingConfigError,
)
from modelyard.serving.predlog import (
    PII_KEY_FILE,
    PredictionBatch,
    PredictionLog,
    Values,
    read_predictions,
)

BEFORE_MIDNIGHT = datetime(2026, 1, 1, 23, 59, 59, 998_000, tzinfo=UTC)
KEY = b"k" * 32
# Generous: only reached when the writer thread is broken.
THREAD_DEADLINE_S = 30.0


def _batch(
    clock: FixedClock,
    request_ids: Sequence[str],
    inputs: Mapping[str, Values],
    *,
    model: str = "fraud",
    version: int = 1,
    step_ms: int = 1,
    outputs: Mapping[str, Values] | None = None,
) -> PredictionBatch:
    times = []
    for _ in request_ids:
        times.append(clock.time_ms())
        clock.advance(ms=step_ms)
    rows = len(request_ids)
    return PredictionBatch(
        model=model,
        version=version,
        digest=f"sha256:{version:064d}",
        request_ids=list(request_ids),
        time_ms=times,
        inputs=inputs,
        outputs=outputs if outputs is not None else {"prediction": list(range(rows))},
        latency_ms=[1.5] * rows,
        feature_fallback=[index % 2 == 1 for index in range(rows)],
    )


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(BEFORE_MIDNIGHT)


@pytest.fixture
def logs(tmp_path: Path) -> Iterator[list[PredictionLog]]:
    """Logs the test opens; closed after it, whatever happened."""
    opened: list[PredictionLog] = []
    yield opened
    for log in opened:
        log.close()


def _open(logs: list[PredictionLog], root: Path, **options: object) -> PredictionLog:
    options.setdefault("key", KEY)
    options.setdefault("flush_interval_s", 3600.0)
    log = PredictionLog(root, **options)  # type: ignore[arg-type]  # options are checked there
    logs.append(log)
    return log


def _files(root: Path) -> list[Path]:
    return sorted(root.rglob("*.parquet"))


def _all_bytes(root: Path) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file())


def _hash(value: str) -> str:
    return hmac.new(KEY, value.encode(), hashlib.sha256).hexdigest()


# ---------------------------------------------------------------- round trip


def test_rows_round_trip_split_by_day(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(logs, tmp_path, clock_ms=clock.time_ms)
    first = _batch(
        clock,
        ["r1", "r2", "r3", "r4"],
        {"amount": np.array([1.5, 2.5, np.nan, 4.0]), "country": ["DE", None, "US", "FR"]},
        outputs={"prediction": np.array([0, 1, 0, 1]), "probability": np.array([[0.9, 0.1]] * 4)},
    )
    second = _batch(clock, ["r5"], {"amount": [5.0], "country": ["DE"]}, version=2)
    log.append(first)
    log.append(second)
    log.flush()
    assert (log.written_rows, log.pending_rows, log.failed_rows, log.last_error) == (5, 0, 0, None)

    days = sorted({path.parent.relative_to(tmp_path).as_posix() for path in _files(tmp_path)})
    assert days == ["model=fraud/date=2026-01-01", "model=fraud/date=2026-01-02"]
    table = read_predictions(tmp_path)
    assert table.column_names == [
        "request_id",
        "time",
        "model",
        "version",
        "digest",
        "latency_ms",
        "feature_fallback",
        "inputs",
        "outputs",
    ]
    assert table.schema.field("time").type == pa.timestamp("ms", tz="UTC")
    rows = table.to_pylist()
    assert [row["request_id"] for row in rows] == ["r1", "r2", "r3", "r4", "r5"]
    assert [row["time"] for row in rows] == [
        BEFORE_MIDNIGHT + timedelta(milliseconds=ms) for ms in range(5)
    ]
    assert [row["version"] for row in rows] == [1, 1, 1, 1, 2]
    assert rows[4]["digest"] == "sha256:" + "0" * 63 + "2"
    assert [row["feature_fallback"] for row in rows] == [False, True, False, True, False]
    assert [row["latency_ms"] for row in rows] == [1.5] * 5
    amounts = [row["inputs"]["amount"] for row in rows]
    assert amounts[:2] == [1.5, 2.5]
    assert np.isnan(amounts[2])
    assert amounts[3:] == [4.0, 5.0]
    assert [row["inputs"]["country"] for row in rows] == ["DE", None, "US", "FR", "DE"]
    assert [row["outputs"]["probability"] for row in rows] == [[0.9, 0.1]] * 4 + [None]
    assert [row["outputs"]["prediction"] for row in rows] == [0, 1, 0, 1, 0]


def test_reading_filters_by_model_and_time(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(logs, tmp_path)
    log.append(_batch(clock, ["a", "b", "c"], {"x": [1, 2, 3]}, step_ms=1000))
    log.append(_batch(clock, ["d"], {"y": ["z"]}, model="churn"))
    log.flush()
    assert read_predictions(tmp_path, model="churn").column("request_id").to_pylist() == ["d"]
    midnight = datetime(2026, 1, 2)  # naive: UTC
    late = read_predictions(tmp_path, model="fraud", start=midnight)
    assert late.column("request_id").to_pylist() == ["b", "c"]
    early = read_predictions(tmp_path, end=midnight + timedelta(seconds=1))
    assert early.column("request_id").to_pylist() == ["a", "b"]
    assert read_predictions(tmp_path, model="absent").num_rows == 0
    with pytest.raises(InvalidNameError):
        read_predictions(tmp_path, model="../fraud")


def test_versions_and_models_with_different_inputs_read_back_together(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(logs, tmp_path)
    log.append(_batch(clock, ["v1"], {"amount": [10], "hour": [3]}, version=1))
    log.flush()
    log.append(_batch(clock, ["v2"], {"amount": [12.5], "country": ["DE"]}, version=2))
    log.append(_batch(clock, ["other"], {"tenure": [7]}, model="churn"))
    log.flush()
    assert len(_files(tmp_path)) == 3
    table = read_predictions(tmp_path)
    inputs = table.schema.field("inputs").type
    assert {inputs.field(index).name: inputs.field(index).type for index in range(4)} == {
        "amount": pa.float64(),  # int64 in version 1, float64 in version 2
        "hour": pa.int64(),
        "country": pa.string(),
        "tenure": pa.int64(),
    }
    assert table.to_pylist()[0]["inputs"] == {
        "amount": 10.0,
        "hour": 3,
        "country": None,
        "tenure": None,
    }
    assert [(row["model"], row["inputs"]) for row in table.to_pylist()[1:]] == [
        ("fraud", {"amount": 12.5, "hour": None, "country": "DE", "tenure": None}),
        ("churn", {"amount": None, "hour": None, "country": None, "tenure": 7}),
    ]


def test_batches_of_arrays_and_lists_are_written_together(
    tmp_path: Path, logs: list[PredictionLog]
) -> None:
    clock = FixedClock(datetime(2026, 1, 1, 12, tzinfo=UTC))
    log = _open(logs, tmp_path)
    probabilities: dict[str, Values] = {"probability": np.array([[0.2, 0.8]]), "prediction": [1]}
    log.append(_batch(clock, ["r1"], {"x": np.array([1.5])}, outputs=probabilities))
    log.append(
        _batch(
            clock,
            ["r2", "r3"],
            {"x": [2.5, None]},
            outputs={"probability": [[0.6, 0.4], [0.5, 0.5]], "prediction": [0, 0]},
            version=2,
        )
    )
    log.append(_batch(clock, ["r4"], {"x": np.array([4.5])}, outputs=probabilities, version=3))
    log.flush()
    assert len(_files(tmp_path)) == 1  # one model, one day, one set of fields: one file
    rows = read_predictions(tmp_path).to_pylist()
    assert [(row["version"], row["inputs"]["x"]) for row in rows] == [
        (1, 1.5),
        (2, 2.5),
        (2, None),
        (3, 4.5),
    ]
    assert [row["digest"][-1] for row in rows] == ["1", "2", "2", "3"]
    assert [row["outputs"]["probability"] for row in rows] == [
        [0.2, 0.8],
        [0.6, 0.4],
        [0.5, 0.5],
        [0.2, 0.8],
    ]


def test_files_that_cannot_be_read_together_raise_a_typed_error(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(logs, tmp_path)
    log.append(_batch(clock, ["r1"], {"x": [1]}))
    log.flush()
    clock.advance(seconds=1)
    log.append(_batch(clock, ["r2"], {"x": ["one"]}, version=2))  # retyped in place, next day
    log.flush()
    assert read_predictions(tmp_path, end=datetime(2026, 1, 2, tzinfo=UTC)).num_rows == 1
    with pytest.raises(CorruptArtifactError, match=r"the prediction log under .* cannot be read"):
        read_predictions(tmp_path)


def test_an_empty_log_reads_as_an_empty_table(tmp_path: Path) -> None:
    table = read_predictions(tmp_path / "nothing-here")
    assert table.num_rows == 0
    assert table.column_names[-2:] == ["inputs", "outputs"]


# ---------------------------------------------------------------- PII


def test_pii_fields_are_hashed_and_never_written_raw(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(
        logs,
        tmp_path,
        key=None,
        pii_fields={"fraud": ["email"], "*": ["customer_id"]},
    )
    log.append(
        _batch(
            clock,
            ["r1", "r2"],
            {
                "email": ["alice@example.com", None],
                "customer_id": np.array([4242424242, 5151515151]),
                "merchant": ["visible-merchant", "visible-merchant"],
            },
        )
    )
    log.flush()
    assert log.written_rows == 2
    key_file = tmp_path / PII_KEY_FILE
    assert (len(key_file.read_bytes()), key_file.stat().st_mode & 0o777) == (32, 0o600)
    key = key_file.read_bytes()
    inputs = read_predictions(tmp_path).column("inputs").to_pylist()
    assert inputs[0]["email"] == hmac.new(key, b"alice@example.com", hashlib.sha256).hexdigest()
    assert inputs[1]["email"] is None
    assert inputs[1]["customer_id"] == hmac.new(key, b"5151515151", hashlib.sha256).hexdigest()
    assert inputs[0]["merchant"] == "visible-merchant"
    written = _all_bytes(tmp_path)
    assert b"visible-merchant" in written  # a raw value would be found (Parquet statistics)
    assert b"alice@example.com" not in written
    assert b"4242424242" not in written
    assert (4242424242).to_bytes(8, "little") not in written

    # Another log on the same root (another server process) uses the same key: hashes join.
    again = _open(logs, tmp_path, key=None, pii_fields={"*": ["email"]})
    again.append(_batch(clock, ["r3"], {"email": ["alice@example.com"]}, model="churn"))
    again.flush()
    churn = read_predictions(tmp_path, model="churn").column("inputs").to_pylist()
    assert churn[0]["email"] == inputs[0]["email"]


def test_the_drop_policy_leaves_pii_fields_out(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(logs, tmp_path, pii_policy="drop", pii_fields={"fraud": ["email", "label"]})
    log.append(
        _batch(
            clock,
            ["r1"],
            {"email": ["alice@example.com"], "amount": [3.0]},
            outputs={"label": ["alice@example.com"], "prediction": [1]},
        )
    )
    log.append(_batch(clock, ["r2"], {"email": ["bob@example.com"]}))  # nothing left of inputs
    log.flush()
    assert (log.written_rows, log.failed_rows) == (2, 0)
    assert not (tmp_path / PII_KEY_FILE).exists()  # dropping needs no key
    rows = read_predictions(tmp_path).to_pylist()
    assert [row["inputs"] for row in rows] == [{"amount": 3.0}, None]
    assert [row["outputs"] for row in rows] == [{"prediction": 1}, {"prediction": 0}]
    written = _all_bytes(tmp_path)
    assert b"example.com" not in written
    assert b"email" not in written


def test_hashing_with_a_given_key_creates_no_key_file(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(logs, tmp_path, pii_fields={"fraud": ["email"]})
    log.append(_batch(clock, ["r1"], {"email": ["carol@example.com"]}))
    log.flush()
    assert not (tmp_path / PII_KEY_FILE).exists()
    [row] = read_predictions(tmp_path).to_pylist()
    assert row["inputs"]["email"] == _hash("carol@example.com")


def test_a_broken_key_file_fails_the_write_instead_of_writing_raw_values(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    (tmp_path / PII_KEY_FILE).write_bytes(b"short")
    log = _open(logs, tmp_path, key=None, pii_fields={"fraud": ["email"]})
    log.append(_batch(clock, ["r1"], {"email": ["dave@example.com"]}))
    log.flush()
    assert (log.written_rows, log.failed_rows) == (0, 1)
    assert log.last_error is not None
    assert "holds 5 bytes, not 32" in log.last_error
    assert _files(tmp_path) == []


# ---------------------------------------------------------------- bounds, lifecycle, failures


def test_a_full_queue_drops_and_counts_batches(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(logs, tmp_path, flush_rows=1_000, max_pending_rows=10)
    for ids in (["a1", "a2", "a3", "a4"], ["b1", "b2", "b3", "b4"], ["c1", "c2", "c3"], ["d1"]):
        log.append(_batch(clock, ids, {"x": [1] * len(ids)}))
    assert (log.pending_rows, log.dropped_rows) == (9, 3)
    log.append(_batch(clock, ["e1", "e2"], {"x": [1, 1]}))
    assert (log.pending_rows, log.dropped_rows) == (9, 5)
    log.flush()
    assert (log.pending_rows, log.written_rows) == (0, 9)
    ids = read_predictions(tmp_path).column("request_id").to_pylist()
    assert ids == ["a1", "a2", "a3", "a4", "b1", "b2", "b3", "b4", "d1"]


def test_close_flushes_is_idempotent_and_later_appends_are_dropped(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(logs, tmp_path)
    log.append(_batch(clock, ["r1", "r2"], {"x": [1, 2]}))
    log.close()
    assert (log.written_rows, log.pending_rows) == (2, 0)
    log.close()
    log.append(_batch(clock, ["r3"], {"x": [3]}))
    assert (log.dropped_rows, log.written_rows) == (1, 2)
    assert read_predictions(tmp_path).num_rows == 2


def test_closing_a_log_that_never_wrote_writes_nothing(tmp_path: Path) -> None:
    log = PredictionLog(tmp_path / "log")
    log.close()
    assert not (tmp_path / "log").exists()


def test_the_writer_thread_flushes_once_flush_rows_are_waiting(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(logs, tmp_path, flush_rows=3)
    log.append(_batch(clock, ["r1"], {"x": [1]}))
    log.append(_batch(clock, ["r2", "r3"], {"x": [2, 3]}))
    deadline = time.monotonic() + THREAD_DEADLINE_S
    while log.pending_rows and time.monotonic() < deadline:
        time.sleep(0.005)
    assert (log.written_rows, log.pending_rows) == (3, 0)


def test_write_failures_are_counted_never_raised(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    not_a_folder = tmp_path / "log"
    not_a_folder.write_text("a file where the log folder should be")
    log = _open(logs, not_a_folder)
    log.append(_batch(clock, ["r1", "r2"], {"x": [1, 2]}))
    log.flush()
    assert (log.written_rows, log.failed_rows, log.pending_rows) == (0, 2, 0)
    assert log.last_error is not None
    assert log.last_error.startswith('model "fraud", 2026-01-01: ')


def test_a_batch_arrow_cannot_hold_fails_alone(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(logs, tmp_path)
    log.append(_batch(clock, ["bad"], {"x": [object()]}))
    log.append(_batch(clock, ["good"], {"x": [1]}))
    log.append(_batch(clock, ["escape"], {"x": [1]}, model="../outside"))
    log.flush()
    assert (log.written_rows, log.failed_rows) == (1, 2)
    assert log.last_error is not None
    assert log.last_error.startswith('model "../outside"')
    assert read_predictions(tmp_path).column("request_id").to_pylist() == ["good"]
    assert not (tmp_path.parent / "model=..").exists()


def test_concurrent_appends_from_threads_are_all_written_once(
    tmp_path: Path, clock: FixedClock, logs: list[PredictionLog]
) -> None:
    log = _open(logs, tmp_path, flush_rows=50)
    threads_n, batches = 8, 40
    barrier = threading.Barrier(threads_n)
    start_ms = clock.time_ms()

    def work(worker: int) -> None:
        barrier.wait()
        for number in range(batches):
            ids = [f"{worker}-{number}-{row}" for row in range(5)]
            log.append(
                PredictionBatch(
                    model="fraud",
                    version=1,
                    digest="sha256:" + "0" * 64,
                    request_ids=ids,
                    time_ms=[start_ms + number] * 5,
                    inputs={"x": [worker] * 5},
                    outputs={"prediction": [number] * 5},
                    latency_ms=[1.0] * 5,
                    feature_fallback=[False] * 5,
                )
            )
            if number % 10 == 0:
                log.flush()

    threads = [threading.Thread(target=work, args=(worker,)) for worker in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log.close()
    expected = {f"{w}-{n}-{r}" for w in range(threads_n) for n in range(batches) for r in range(5)}
    ids = read_predictions(tmp_path).column("request_id").to_pylist()
    assert (len(ids), set(ids)) == (len(expected), expected)
    assert (log.written_rows, log.dropped_rows, log.failed_rows) == (len(expected), 0, 0)


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"pii_policy": "encrypt"}, "pii_policy"),
        ({"key": b""}, "key"),
        ({"flush_rows": 0}, "flush_rows"),
        ({"max_pending_rows": -1}, "max_pending_rows"),
        ({"flush_interval_s": 0.0}, "flush_interval_s"),
    ],
)
def test_bad_arguments_are_refused(tmp_path: Path, options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidServingConfigError, match=f"serving config {field}: ") as info:
        PredictionLog(tmp_path, **options)  # type: ignore[arg-type]  # the point is the values
    assert info.value.field == field


def test_a_batch_whose_columns_do_not_line_up_is_refused() -> None:
    with pytest.raises(InvalidInputError, match=r"inputs\.x has 1 values for 2 request ids"):
        PredictionBatch(
            model="fraud",
            version=1,
            digest="sha256:" + "0" * 64,
            request_ids=["a", "b"],
            time_ms=[0, 0],
            inputs={"x": [1]},
            outputs={},
            latency_ms=[1.0, 1.0],
            feature_fallback=[False, False],
        )
