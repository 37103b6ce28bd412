"""The online stores' bytes: typed canonical entity keys and packed rows that round-trip."""

from __future__ import annotations

import math
import struct
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import FeaturePushRejectedError, InvalidEntityFrameError
from modelyard.features.online import (
    OnlineRow,
    decode_key,
    encode_key,
    encode_keys,
    pack_rows,
    unpack_row,
)
from modelyard.features.online.codec import FORMAT_VERSION

KEY_PARTS = st.one_of(
    st.integers(min_value=-(2**300), max_value=2**300),
    st.text(),
    st.booleans(),
    st.binary(),
)
KEYS = st.lists(KEY_PARTS, min_size=1, max_size=4).map(tuple)


def _typed(key: tuple[object, ...]) -> tuple[tuple[str, object], ...]:
    return tuple((type(part).__name__, part) for part in key)


# ----------------------------------------------------------------------------- keys


@given(KEYS)
def test_keys_round_trip_with_their_types(key: tuple[object, ...]) -> None:
    assert _typed(decode_key(encode_key(key))) == _typed(key)


@given(KEYS, KEYS)
def test_keys_are_equal_exactly_when_their_bytes_are(
    first: tuple[object, ...], second: tuple[object, ...]
) -> None:
    assert (encode_key(first) == encode_key(second)) == (_typed(first) == _typed(second))


def test_key_bytes_are_fixed() -> None:
    # Stored keys outlive this code: the encoding must never change under them.
    assert encode_key((1,)) == b"q" + bytes(7) + b"\x01"
    assert encode_key((-1, "ab")) == b"q" + b"\xff" * 8 + b"s\x02ab"
    assert encode_key((True, b"\x00")) == b"b\x01y\x01\x00"
    assert encode_key((2**63,)) == b"i\x09\x00\x80" + bytes(7)
    assert encode_key((-(2**63) - 1,)) == b"i\x09\xff\x7f" + b"\xff" * 7
    assert encode_key(("é" * 100,)) == b"s\xc8\x01" + "é".encode() * 100


@given(st.lists(KEYS | KEY_PARTS.map(lambda part: (part,)), max_size=5), st.binary(max_size=4))
def test_encoding_many_keys_matches_encoding_each(
    keys: list[tuple[object, ...]], prefix: bytes
) -> None:
    assert encode_keys(keys, prefix) == [prefix + encode_key(key) for key in keys]


def test_one_and_the_string_one_and_true_are_different_keys() -> None:
    assert (
        len({encode_key((1,)), encode_key(("1",)), encode_key((True,)), encode_key((b"1",))}) == 4
    )


def test_numpy_scalars_encode_as_their_python_values() -> None:
    assert encode_key((np.int32(7), np.uint64(2**63), np.bool_(False))) == encode_key(
        (7, 2**63, False)
    )


@pytest.mark.parametrize(
    ("part", "message"),
    [
        (None, "null cannot be a join key value"),
        (1.0, r"1.0 \(float\) cannot be a join key value"),
        ((1,), r"\(1,\) \(tuple\) cannot be a join key value"),
        ("\ud800", "is not valid Unicode"),
        (2**2100, "needs more than 255 bytes"),
    ],
)
def test_unusable_key_values_are_refused(part: object, message: str) -> None:
    with pytest.raises(InvalidEntityFrameError, match=message) as info:
        encode_key((1, part))

    assert info.value.column == "entity key"


@pytest.mark.parametrize(
    "data", [b"x", b"i\x05\x01", b"s\x05ab", b"s\xff", b"\xff\xfe", b"b\x02", b"b", b"s\x01\xff"]
)
def test_malformed_key_bytes_are_refused(data: bytes) -> None:
    with pytest.raises(InvalidEntityFrameError, match="entity key"):
        decode_key(data)


# ----------------------------------------------------------------------------- rows

TIMESTAMPS = st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31))
COLUMN_KINDS: dict[str, tuple[pa.DataType, st.SearchStrategy[object]]] = {
    "float64": (pa.float64(), st.floats(allow_nan=True, allow_infinity=True)),
    "float32": (pa.float32(), st.floats(width=32, allow_nan=False)),
    "int64": (pa.int64(), st.integers(-(2**63), 2**63 - 1)),
    "int8": (pa.int8(), st.integers(-128, 127)),
    "uint64": (pa.uint64(), st.integers(0, 2**64 - 1)),
    "string": (pa.string(), st.text()),
    "large_string": (pa.large_string(), st.text(max_size=5)),
    "binary": (pa.binary(), st.binary()),
    "bool": (pa.bool_(), st.booleans()),
    "date": (pa.date32(), st.dates()),
    "timestamp": (pa.timestamp("us"), TIMESTAMPS),
    "timestamp_utc": (pa.timestamp("us", "UTC"), TIMESTAMPS.map(lambda t: t.replace(tzinfo=UTC))),
}


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[int], pa.Table, list[dict[str, object]]]:
    kinds = draw(st.lists(st.sampled_from(sorted(COLUMN_KINDS)), max_size=12))
    names = draw(
        st.lists(st.text(max_size=8), min_size=len(kinds), max_size=len(kinds), unique=True)
    )
    count = draw(st.integers(0, 5))
    columns: dict[str, pa.Array] = {}
    for name, kind in zip(names, kinds, strict=True):
        arrow_type, cells = COLUMN_KINDS[kind]
        values = draw(st.lists(st.none() | cells, min_size=count, max_size=count))
        columns[name] = pa.array(values, arrow_type)
    event_ms = draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=count, max_size=count))
    # A table without columns still has rows: build it from a placeholder column.
    table = pa.table(columns or {"_": pa.nulls(count)})
    if not columns:
        table = table.drop_columns(["_"])
    return event_ms, table, table.to_pylist()


def _same(left: object, right: object) -> bool:
    if isinstance(left, float) and isinstance(right, float) and math.isnan(left):
        return math.isnan(right)
    return type(left) is type(right) and left == right


@given(tables())
def test_rows_round_trip(case: tuple[list[int], pa.Table, list[dict[str, object]]]) -> None:
    event_ms, table, expected = case

    rows = [unpack_row(blob) for blob in pack_rows("v", event_ms, table)]

    assert [row.event_ms for row in rows] == event_ms
    assert [list(row.values) for row in rows] == [table.column_names] * len(rows)
    for row, want in zip(rows, expected, strict=True):
        for name, value in want.items():
            assert _same(row.values[name], value), (name, row.values[name], value)


def test_timestamps_keep_microseconds_and_drop_finer_units() -> None:
    table = pa.table(
        {
            "naive": pa.array([1_700_000_000_123_456_789], pa.timestamp("ns")),
            "zoned": pa.array([-1], pa.timestamp("ns", "Europe/Berlin")),
            "seconds": pa.array([86_400], pa.timestamp("s")),
        }
    )

    (row,) = [unpack_row(blob) for blob in pack_rows("v", [0], table)]

    assert row.values == {
        "naive": datetime(2023, 11, 14, 22, 13, 20, 123_456),
        "zoned": datetime(1970, 1, 1, tzinfo=UTC) - timedelta(microseconds=1),
        "seconds": datetime(1970, 1, 2),
    }


def test_dictionary_and_all_null_columns_pack() -> None:
    table = pa.table(
        {
            "country": pa.array(["DE", "FR", "DE"]).dictionary_encode(),
            "nothing": pa.nulls(3),
        }
    )

    rows = [unpack_row(blob) for blob in pack_rows("v", [1, 2, 3], table)]

    assert rows == [
        OnlineRow(1, {"country": "DE", "nothing": None}),
        OnlineRow(2, {"country": "FR", "nothing": None}),
        OnlineRow(3, {"country": "DE", "nothing": None}),
    ]


def test_packed_row_bytes_are_fixed() -> None:
    table = pa.table({"x": pa.array([5], pa.int64()), "s": ["ab"]})

    (blob,) = pack_rows("v", [1_000], table)

    layout = b"i\x01\x00x" + b"s\x01\x00s"
    assert blob == (
        struct.pack("<BqH", FORMAT_VERSION, 1_000, len(layout))
        + layout
        + struct.pack("<qI1s", 5, 2, b"\x00")
        + b"ab"
    )


def test_unsupported_columns_are_refused_by_name() -> None:
    table = pa.table({"tags": pa.array([["a"]]), "half": pa.array([1.0], pa.float16())})

    with pytest.raises(
        FeaturePushRejectedError, match='"tags" has type list<item: string>'
    ) as info:
        pack_rows("clicks", [1], table)

    assert info.value.view == "clicks"
    assert len(info.value.problems) == 2


@pytest.mark.parametrize(
    "blob",
    [
        b"",
        b"\x02" + bytes(10),
        struct.pack("<BqH", FORMAT_VERSION, 1, 4) + b"i\x01\x00x",
        struct.pack("<BqH", FORMAT_VERSION, 1, 4) + b"?\x01\x00x" + bytes(9),
        struct.pack("<BqH", FORMAT_VERSION, 1, 4) + b"s\x01\x00x" + struct.pack("<I1s", 5, b"\0"),
    ],
)
def test_malformed_rows_raise_value_error_for_the_stores_to_translate(blob: bytes) -> None:
    with pytest.raises((ValueError, struct.error)):
        unpack_row(blob)


def test_event_times_outside_int64_are_refused() -> None:
    with pytest.raises(FeaturePushRejectedError, match="a row cannot be packed"):
        pack_rows("v", [2**63], pa.table({"x": [1]}))


def test_date_limits_round_trip() -> None:
    table = pa.table({"d": pa.array([date(1, 1, 1), date(9999, 12, 31)], pa.date32())})

    rows = [unpack_row(blob) for blob in pack_rows("v", [0, 0], table)]

    assert [row.values["d"] for row in rows] == [date(1, 1, 1), date(9999, 12, 31)]
