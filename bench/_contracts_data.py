"""Data for bench/contracts.py: 20 mixed columns, nulls and planted rule failures, as Parquet."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

# Every timestamp is placed relative to this instant; validation runs with now_ms = REFERENCE_MS,
# so the freshness rules give the same verdict whenever the benchmark runs.
REFERENCE = dt.datetime(2026, 11, 20, 12, 0, 0)
REFERENCE_MS = int(REFERENCE.replace(tzinfo=dt.UTC).timestamp() * 1000)

CATEGORIES = ["grocery", "travel", "dining", "fuel", "online", "other"]
CATEGORY_WEIGHTS = [0.30, 0.08, 0.20, 0.12, 0.20, 0.10]
COUNTRIES = ["US", "GB", "DE", "FR", "ES", "IT", "NL", "CA"]
CURRENCIES = ["USD", "EUR", "GBP", "CAD"]

SCHEMA = pa.schema(
    [
        ("txn_id", pa.string()),
        ("event_time", pa.timestamp("us")),
        ("updated_at", pa.timestamp("us")),
        ("customer_id", pa.int64()),
        ("card_id", pa.string()),
        ("merchant_category", pa.string()),
        ("country", pa.string()),
        ("currency", pa.string()),
        ("zip_code", pa.string()),
        ("amount", pa.float64()),
        ("fee", pa.float64()),
        ("discount", pa.float32()),
        ("hour", pa.int16()),
        ("customer_age", pa.int16()),
        ("items", pa.int32()),
        ("device_score", pa.float64()),
        ("card_present", pa.bool_()),
        ("is_new_device", pa.bool_()),
        ("is_fraud", pa.bool_()),
        ("ref_code", pa.string()),
    ]
)

_US_PER_DAY = 86_400 * 1_000_000
_REFERENCE_US = REFERENCE_MS * 1000


def _strings(prefix: str, numbers: np.ndarray[Any, Any], width: int = 0) -> pa.Array:
    """``prefix`` followed by each number, zero-padded to ``width``, as an Arrow string array."""
    text = np.char.zfill(numbers.astype("U20"), width) if width else numbers.astype("U20")
    return pa.array(np.char.add(prefix, text), type=pa.string())


def _pick(values: list[str], codes: np.ndarray[Any, Any]) -> pa.Array:
    return pa.array(values, type=pa.string()).take(pa.array(codes))


def make_chunk(start: int, rows: int, seed: int) -> pa.Table:
    """Rows ``start .. start+rows-1`` of the benchmark table (deterministic for a given seed)."""
    rng = np.random.default_rng(seed)

    def mask(rate: float) -> np.ndarray[Any, Any]:
        return rng.random(rows) < rate

    def bad(rate: float) -> np.ndarray[Any, Any]:
        return rng.random(rows) < rate

    index = np.arange(start, start + rows, dtype=np.int64)
    event_us = _REFERENCE_US - rng.integers(3_600_000_000, 30 * _US_PER_DAY, rows)
    updated_us = _REFERENCE_US - rng.integers(3 * _US_PER_DAY, 30 * _US_PER_DAY, rows)

    card = rng.integers(1, 200_000, rows)
    card_id = _strings("c", card).to_numpy(zero_copy_only=False)
    card_id = np.where(bad(0.0005), "card-x", card_id)  # regex misses, tolerated by mostly

    category = rng.choice(len(CATEGORIES), size=rows, p=CATEGORY_WEIGHTS)
    merchant = np.asarray(CATEGORIES, dtype=object)[category]
    merchant = np.where(bad(0.002), "unknown", merchant)  # not allowed, tolerated by mostly

    country = np.asarray(COUNTRIES, dtype=object)[rng.integers(0, len(COUNTRIES), rows)]
    country = np.where(bad(0.0001), "XX", country)  # not allowed, no tolerance: FAIL

    zip_code = np.char.zfill(rng.integers(0, 100_000, rows).astype("U5"), 5).astype(object)
    zip_code = np.where(bad(0.02), "ABCDE", zip_code)  # 2 % misses > 1 % tolerance: FAIL

    amount = np.round(rng.lognormal(3.5, 1.0, rows), 2)
    amount[rng.random(rows) < 0.00001] = -5.0  # below min 0, no tolerance: FAIL

    fee = np.round(rng.uniform(0, 20, rows), 2)
    fee[bad(0.0001)] = 150.0  # above max 100, tolerated by mostly

    age = rng.integers(18, 90, rows).astype(np.int16)
    age[bad(0.01)] = 17  # below min 18: FAIL

    ref = rng.integers(0, 2**62, rows)
    ref[bad(0.001)] = 42  # duplicates: unique FAILS

    table = pa.table(
        {
            "txn_id": _strings("t", index, 9),
            "event_time": pa.array(event_us, type=pa.timestamp("us")),
            "updated_at": pa.array(updated_us, mask=mask(0.01), type=pa.timestamp("us")),
            "customer_id": pa.array(rng.integers(1, 1_000_001, rows), type=pa.int64()),
            "card_id": pa.array(card_id, mask=mask(0.02), type=pa.string()),
            "merchant_category": pa.array(merchant, type=pa.string()),
            "country": pa.array(country, mask=mask(0.01), type=pa.string()),
            "currency": _pick(CURRENCIES, rng.integers(0, len(CURRENCIES), rows)),
            "zip_code": pa.array(zip_code, type=pa.string()),
            "amount": pa.array(amount, type=pa.float64()),
            "fee": pa.array(fee, mask=mask(0.01), type=pa.float64()),
            "discount": pa.array(
                rng.random(rows).astype(np.float32), mask=mask(0.05), type=pa.float32()
            ),
            "hour": pa.array(rng.integers(0, 24, rows).astype(np.int16), type=pa.int16()),
            "customer_age": pa.array(age, mask=mask(0.03), type=pa.int16()),
            "items": pa.array(rng.integers(1, 51, rows).astype(np.int32), type=pa.int32()),
            "device_score": pa.array(rng.beta(5, 5, rows), mask=mask(0.02), type=pa.float64()),
            "card_present": pa.array(rng.random(rows) < 0.6, type=pa.bool_()),
            # 2 % nulls > the 1 % that not-null's mostly tolerates: FAIL
            "is_new_device": pa.array(rng.random(rows) < 0.1, mask=mask(0.02), type=pa.bool_()),
            "is_fraud": pa.array(rng.random(rows) < 0.02, type=pa.bool_()),
            "ref_code": pa.array(
                np.char.add("r", ref.astype("U20")), mask=mask(0.10), type=pa.string()
            ),
        }
    )
    return table.cast(SCHEMA)


def write_parquet(
    path: Path, rows: int, *, chunk_rows: int = 1_000_000, seed: int = 7
) -> dict[str, Any]:
    """Write ``rows`` rows to ``path`` chunk by chunk; return rows, Arrow bytes and file size."""
    arrow_bytes = 0
    with pq.ParquetWriter(path, SCHEMA) as writer:
        done = 0
        part = 0
        while done < rows:
            n = min(chunk_rows, rows - done)
            chunk = make_chunk(done, n, seed + part)
            arrow_bytes += chunk.nbytes
            writer.write_table(chunk, row_group_size=n)
            done += n
            part += 1
    return {"rows": rows, "arrow_bytes": arrow_bytes, "file_bytes": path.stat().st_size}


def write_big_parquet(
    path: Path, target_bytes: int, *, chunk_rows: int = 1_000_000, distinct_chunks: int = 4
) -> dict[str, Any]:
    """Append row groups until the file reaches ``target_bytes`` (never all in memory).

    ``distinct_chunks`` different chunks are generated and written in turn, with fresh
    ``txn_id`` values each time, so writing 2 GB does not take minutes of data generation.
    """
    chunks = [make_chunk(0, chunk_rows, 1000 + i) for i in range(distinct_chunks)]
    txn_at = SCHEMA.get_field_index("txn_id")
    rows = 0
    part = 0
    with pq.ParquetWriter(path, SCHEMA, compression="snappy") as writer:
        while rows == 0 or path.stat().st_size < target_bytes:
            chunk = chunks[part % distinct_chunks]
            ids = np.arange(rows, rows + chunk_rows, dtype=np.int64)
            chunk = chunk.set_column(txn_at, "txn_id", _strings("t", ids, 9))
            writer.write_table(chunk, row_group_size=chunk_rows)
            rows += chunk_rows
            part += 1
    return {"rows": rows, "file_bytes": path.stat().st_size, "row_groups": part}
