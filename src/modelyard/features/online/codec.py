"""Bytes for the online stores: canonical entity keys and one packed blob of values per entity.

Entity key: each component is a tag byte and its payload, concatenated in key order, so the
bytes are typed (``1``, ``"1"`` and ``True`` differ) and composite keys cannot run together::

    b"b" + 0x00 | 0x01                      bool
    b"q" + 8 bytes (big-endian, signed)      int in the int64 range
    b"i" + n + n bytes (big-endian, signed)  any other int, minimal length n (at most 255)
    b"s" + varint length + UTF-8            str
    b"y" + varint length + bytes            bytes

Packed row (little-endian)::

    u8 format version (1) | i64 event_ms | u16 L | L bytes layout | fixed part | variable part

The layout names the columns and their types (per column: type code, u16 name length, UTF-8
name). The fixed part is one ``struct`` record: a fixed-width slot per column (a u32 length for
strings and bytes) and then a null bitmap. The variable part holds the string and bytes payloads
in column order. Decoding parses a layout once and caches it, so reading a row is one
``struct.unpack_from`` plus the strings, timestamps and nulls it holds.

Column types: bool, signed and unsigned integers (up to 64 bits), float32/float64 (read back as
Python floats, NaN and infinities included), string, binary, date32, timestamps (read back as
``datetime`` at microsecond precision: naive for a naive column, UTC for a zoned one),
dictionary-encoded columns of those, and all-null columns.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from numbers import Integral
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from modelyard.errors import FeaturePushRejectedError, InvalidEntityFrameError
from modelyard.features.online.store import EntityKey, OnlineRow

FORMAT_VERSION = 1
_HEAD = struct.Struct("<BqH")
_NAME_LENGTH = struct.Struct("<H")
_MAX_LAYOUTS = 1024
_EPOCH = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_TRUE, _FALSE = b"b\x01", b"b\x00"
_INT64 = struct.Struct(">q")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_SHORT_LENGTHS = [bytes((length,)) for length in range(0x80)]

# type code -> struct format of its fixed slot
_SLOTS = {"b": "?", "i": "q", "u": "Q", "f": "d", "s": "I", "y": "I", "d": "i", "t": "q", "z": "q"}
_VARIABLE = frozenset("sy")


# ----------------------------------------------------------------------------- keys


def encode_keys(keys: Sequence[EntityKey], prefix: bytes = b"") -> list[bytes]:
    """Return ``prefix`` followed by the canonical bytes of each key (see :func:`encode_key`).

    Faster than :func:`encode_key` per key for the common single-int and single-str keys.

    Raises:
        InvalidEntityFrameError: a key value cannot be a join key (see :func:`encode_key`).
    """
    encoded: list[bytes] = []
    int_head, text_head = prefix + b"q", prefix + b"s"
    for key in keys:
        if len(key) == 1:
            value = key[0]
            # Exact types: a bool is an int, and a str subclass takes the general path.
            if type(value) is int and _INT64_MIN <= value <= _INT64_MAX:
                encoded.append(int_head + _INT64.pack(value))
                continue
            if type(value) is str and len(value) < 0x80 and value.isascii():
                encoded.append(text_head + _SHORT_LENGTHS[len(value)] + value.encode())
                continue
        encoded.append(prefix + encode_key(key))
    return encoded


def encode_key(key: EntityKey) -> bytes:
    """Return the canonical bytes of an entity key.

    Args:
        key: the join-key values; each a ``str``, ``int``, ``bool`` or ``bytes`` (NumPy
            integers and booleans count as their Python types).

    Raises:
        InvalidEntityFrameError: a value is null, a float or another type, or an int does not
            fit in 255 bytes.
    """
    parts: list[bytes] = []
    for value in key:
        if isinstance(value, str):
            parts.append(_text_component(value))
        elif isinstance(value, bool | np.bool_):
            parts.append(_TRUE if value else _FALSE)
        elif isinstance(value, Integral):
            parts.append(_int_component(int(value)))
        elif isinstance(value, bytes | bytearray | memoryview):
            payload = bytes(value)
            parts.append(b"y" + _varint(len(payload)) + payload)
        else:
            what = "null" if value is None else f"{value!r} ({type(value).__name__})"
            raise InvalidEntityFrameError(
                "entity key", f"{what} cannot be a join key value; use str, int, bool or bytes"
            )
    return b"".join(parts)


def decode_key(data: bytes) -> EntityKey:
    """Return the key that :func:`encode_key` turned into ``data``.

    Raises:
        InvalidEntityFrameError: ``data`` is not an encoded key.
    """
    values: list[object] = []
    position = 0
    try:
        while position < len(data):
            tag = data[position]
            if tag == ord("b"):
                flag = data[position + 1]
                if flag > 1:
                    raise InvalidEntityFrameError("entity key", f"bool byte {flag} at {position}")
                values.append(flag == 1)
                position += 2
                continue
            if tag == ord("q"):
                size, start = 8, position + 1
            elif tag == ord("i"):
                size, start = data[position + 1], position + 2
            elif tag in (ord("s"), ord("y")):
                size, start = _read_varint(data, position + 1)
            else:
                raise InvalidEntityFrameError("entity key", f"unknown tag {tag} at byte {position}")
            payload, position = data[start : start + size], start + size
            if len(payload) != size:
                raise InvalidEntityFrameError("entity key", f"truncated at byte {len(data)}")
            if tag in (ord("q"), ord("i")):
                values.append(int.from_bytes(payload, "big", signed=True))
            else:
                values.append(payload.decode() if tag == ord("s") else payload)
    except (IndexError, UnicodeDecodeError) as exc:
        raise InvalidEntityFrameError("entity key", f"malformed bytes ({exc})") from exc
    return tuple(values)


def _text_component(value: str) -> bytes:
    try:
        payload = value.encode()
    except UnicodeEncodeError as exc:
        raise InvalidEntityFrameError("entity key", f"{value!r} is not valid Unicode") from exc
    return b"s" + _varint(len(payload)) + payload


def _int_component(value: int) -> bytes:
    if _INT64_MIN <= value <= _INT64_MAX:
        return b"q" + _INT64.pack(value)
    size = (value.bit_length() + 8) // 8
    if size > 255:
        raise InvalidEntityFrameError(
            "entity key", f"the integer {value} needs more than 255 bytes"
        )
    return b"i" + bytes((size,)) + value.to_bytes(size, "big", signed=True)


def _varint(number: int) -> bytes:
    out = bytearray()
    while number >= 0x80:
        out.append((number & 0x7F) | 0x80)
        number >>= 7
    out.append(number)
    return bytes(out)


def _read_varint(data: bytes, position: int) -> tuple[int, int]:
    number = shift = 0
    while True:
        byte = data[position]
        position += 1
        number |= (byte & 0x7F) << shift
        if byte < 0x80:
            return number, position
        shift += 7


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class _Layout:
    """What a packed row's layout bytes say, parsed once."""

    names: tuple[str, ...]
    unpack_record: Callable[[bytes, int], tuple[Any, ...]]
    record_size: int
    is_plain: bool  # no strings, bytes, dates or timestamps: the record is the values
    variable: tuple[tuple[int, bool], ...]  # (column index, is text)
    converters: tuple[tuple[int, Callable[[int], object]], ...]
    no_nulls: bytes


_layouts: dict[bytes, _Layout] = {}


def pack_rows(view: str, event_ms: Sequence[int], values: pa.Table) -> list[bytes]:
    """Return one packed blob per row of ``values``.

    Args:
        view: the feature view (named in errors).
        event_ms: the event time of each row, in milliseconds since the Unix epoch.
        values: the feature columns.

    Raises:
        FeaturePushRejectedError: a column has an unsupported type, or a name or timestamp
            cannot be packed.
    """
    codes: list[str] = []
    columns: list[list[object]] = []
    problems: list[str] = []
    for name, column in zip(values.column_names, values.columns, strict=True):
        packed = _column_cells(column)
        if packed is None:
            problems.append(
                f'column "{name}" has type {column.type}, which the online store cannot hold'
            )
            continue
        codes.append(packed[0])
        columns.append(packed[1])
    if problems:
        raise FeaturePushRejectedError(view, problems)
    layout = _layout_bytes(view, values.column_names, codes)
    record = _record(codes)
    bitmap_size = (len(codes) + 7) // 8
    variable = [index for index, code in enumerate(codes) if code in _VARIABLE]
    nullable = [index for index, column in enumerate(values.columns) if column.null_count]
    placeholders = [b"" if code in _VARIABLE else 0 for code in codes]
    blobs: list[bytes] = []
    rows = zip(*columns, strict=True) if columns else iter([()] * values.num_rows)
    try:
        for moment, row in zip(event_ms, rows, strict=True):
            cells = list(row)
            bitmap = 0
            for index in nullable:
                if cells[index] is None:
                    bitmap |= 1 << index
                    cells[index] = placeholders[index]
            tail = b""
            if variable:
                payloads = [cells[index] for index in variable]
                for index in variable:
                    cells[index] = len(cells[index])
                tail = b"".join(payloads)
            cells.append(bitmap.to_bytes(bitmap_size, "little"))
            blobs.append(
                _HEAD.pack(FORMAT_VERSION, moment, len(layout))
                + layout
                + record.pack(*cells)
                + tail
            )
    except struct.error as exc:
        raise FeaturePushRejectedError(view, [f"a row cannot be packed: {exc}"]) from exc
    return blobs


def unpack_row(blob: bytes) -> OnlineRow:
    """Return the event time and values packed into ``blob`` by :func:`pack_rows`.

    Raises:
        ValueError: ``blob`` is not a packed row of a known format version
            (``UnicodeDecodeError`` included); the stores translate it.
        struct.error: ``blob`` is shorter than its layout says; the stores translate it.
    """
    return _unpack(blob)


def unpack_rows(blobs: Iterable[bytes | None]) -> list[OnlineRow | None]:
    """Return :func:`unpack_row` of each blob, and ``None`` for each ``None``.

    Raises:
        ValueError: a blob is not a packed row (see :func:`unpack_row`).
        struct.error: a blob is shorter than its layout says.
    """
    return [None if blob is None else _unpack(blob) for blob in blobs]


def _unpack(blob: bytes) -> OnlineRow:
    version, event_ms, size = _unpack_head(blob)
    if version != FORMAT_VERSION:
        raise ValueError(f"packed row format {version}, expected {FORMAT_VERSION}")
    end = _HEAD.size + size
    layout_bytes = blob[_HEAD.size : end]
    layout = _layouts.get(layout_bytes) or _parse_layout(layout_bytes)
    # The record ends with the null bitmap, which has no name: zip stops before it.
    fields = layout.unpack_record(blob, end)
    if layout.is_plain and fields[-1] == layout.no_nulls:
        return _new_row(event_ms, dict(zip(layout.names, fields, strict=False)))
    cells = list(fields)
    position = end + layout.record_size
    for index, is_text in layout.variable:
        length = cells[index]
        payload = blob[position : position + length]
        position += length
        cells[index] = payload.decode() if is_text else payload
    if position != len(blob):
        raise ValueError(f"packed row of {len(blob)} bytes, layout accounts for {position}")
    for index, convert in layout.converters:
        cells[index] = convert(cells[index])
    bitmap = cells[-1]
    if bitmap != layout.no_nulls:
        nulls = int.from_bytes(bitmap, "little")
        while nulls:
            index = nulls.bit_length() - 1
            cells[index] = None
            nulls ^= 1 << index
    return _new_row(event_ms, dict(zip(layout.names, cells, strict=False)))


def _new_row(event_ms: int, values: dict[str, object]) -> OnlineRow:
    # A frozen dataclass's __init__ goes through object.__setattr__ per field, which is most
    # of the cost of decoding a short row; the slots' own descriptors set the same fields.
    row = _allocate(OnlineRow)
    _set_event_ms(row, event_ms)
    _set_values(row, values)
    return row


_unpack_head = _HEAD.unpack_from
_allocate = object.__new__
_set_event_ms = vars(OnlineRow)["event_ms"].__set__
_set_values = vars(OnlineRow)["values"].__set__


def _column_cells(column: pa.ChunkedArray) -> tuple[str, list[object]] | None:
    """Return the type code and the Python cells of a column; None for an unsupported type."""
    kind = column.type
    if pa.types.is_dictionary(kind):
        return _column_cells(column.cast(kind.value_type))
    if pa.types.is_boolean(kind):
        return "b", column.to_pylist()
    if pa.types.is_signed_integer(kind) or kind in (pa.uint8(), pa.uint16(), pa.uint32()):
        return "i", column.to_pylist()
    if kind == pa.uint64():
        return "u", column.to_pylist()
    if kind in (pa.float32(), pa.float64()):
        return "f", column.to_pylist()
    if pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return "s", column.cast(pa.large_binary()).to_pylist()
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return "y", column.to_pylist()
    if kind == pa.date32():
        return "d", column.cast(pa.int32()).to_pylist()
    if pa.types.is_timestamp(kind):
        # Python datetimes hold microseconds: nanoseconds are floored (as pandas does), so a
        # value never moves later in time.
        if kind.unit == "ns":
            column = pc.floor_temporal(column, unit="microsecond")
        micros = column.cast(pa.timestamp("us", kind.tz)).cast(pa.int64())
        return ("z" if kind.tz else "t"), micros.to_pylist()
    if pa.types.is_null(kind):
        return "b", column.to_pylist()
    return None


def _layout_bytes(view: str, names: Sequence[str], codes: Sequence[str]) -> bytes:
    parts: list[bytes] = []
    for name, code in zip(names, codes, strict=True):
        encoded = name.encode()
        if len(encoded) > 0xFFFF:
            raise FeaturePushRejectedError(view, [f'column name "{name[:40]}…" is too long'])
        parts.append(code.encode() + _NAME_LENGTH.pack(len(encoded)) + encoded)
    layout = b"".join(parts)
    if len(layout) > 0xFFFF:
        raise FeaturePushRejectedError(view, ["the column names take more than 64 KiB per row"])
    return layout


def _record(codes: Sequence[str]) -> struct.Struct:
    return struct.Struct(
        "<" + "".join(_SLOTS[code] for code in codes) + f"{(len(codes) + 7) // 8}s"
    )


def _parse_layout(layout: bytes) -> _Layout:
    names: list[str] = []
    codes: list[str] = []
    position = 0
    while position < len(layout):
        code = chr(layout[position])
        (size,) = _NAME_LENGTH.unpack_from(layout, position + 1)
        start = position + 1 + _NAME_LENGTH.size
        name = layout[start : start + size].decode()
        if code not in _SLOTS or len(name.encode()) != size:
            raise ValueError(f"malformed layout at byte {position}")
        names.append(name)
        codes.append(code)
        position = start + size
    converters: list[tuple[int, Callable[[int], object]]] = []
    for index, code in enumerate(codes):
        if code == "t":
            converters.append((index, _naive_timestamp))
        elif code == "z":
            converters.append((index, _utc_timestamp))
        elif code == "d":
            converters.append((index, _date))
    record = _record(codes)
    variable = tuple((index, code == "s") for index, code in enumerate(codes) if code in _VARIABLE)
    parsed = _Layout(
        names=tuple(names),
        unpack_record=record.unpack_from,
        record_size=record.size,
        is_plain=not variable and not converters,
        variable=variable,
        converters=tuple(converters),
        no_nulls=bytes((len(codes) + 7) // 8),
    )
    if len(_layouts) >= _MAX_LAYOUTS:
        _layouts.clear()
    _layouts[layout] = parsed
    return parsed


def _naive_timestamp(micros: int) -> datetime:
    return _EPOCH + timedelta(microseconds=micros)


def _utc_timestamp(micros: int) -> datetime:
    return _EPOCH_UTC + timedelta(microseconds=micros)


def _date(days: int) -> date:
    return date.fromordinal(_EPOCH_ORDINAL + days)
