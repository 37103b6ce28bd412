"""The closed vocabulary of column types a contract may declare, and how data types map onto it.

===============  ===========================================  ================================
contract type    matches (DuckDB type of the data)            Arrow / pandas examples
===============  ===========================================  ================================
int8 … int64     TINYINT, SMALLINT, INTEGER, BIGINT           int64, Int64
uint8 … uint64   UTINYINT, USMALLINT, UINTEGER, UBIGINT       uint32
float32          FLOAT                                        float32
float64          DOUBLE                                       float64
decimal          DECIMAL(p, s) of any precision               decimal128(10, 2)
bool             BOOLEAN                                      bool, boolean
string           VARCHAR, ENUM (a pandas category)            string, large_string, object
date             DATE                                         date32
time             TIME                                         time64
timestamp        TIMESTAMP of any unit, no time zone          timestamp[ns], datetime64[ns]
timestamp_tz     TIMESTAMP WITH TIME ZONE                     timestamp[us, tz=UTC]
binary           BLOB                                         binary, large_binary
===============  ===========================================  ================================

A data type outside this table (a list, a struct …) is reported by its DuckDB name and matches no
contract type.
"""

from __future__ import annotations

import enum


class Family(enum.Enum):
    """What kind of values a type holds: decides which rules and bounds apply."""

    NUMERIC = "numeric"
    BOOL = "bool"
    STRING = "string"
    TEMPORAL = "temporal"
    BINARY = "binary"
    OTHER = "other"


_DUCKDB_TO_TYPE = {
    "TINYINT": "int8",
    "SMALLINT": "int16",
    "INTEGER": "int32",
    "BIGINT": "int64",
    "UTINYINT": "uint8",
    "USMALLINT": "uint16",
    "UINTEGER": "uint32",
    "UBIGINT": "uint64",
    "FLOAT": "float32",
    "DOUBLE": "float64",
    "BOOLEAN": "bool",
    "VARCHAR": "string",
    "DATE": "date",
    "TIME": "time",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamp_tz",
    "BLOB": "binary",
}

TYPE_FAMILIES: dict[str, Family] = {
    **{f"int{bits}": Family.NUMERIC for bits in (8, 16, 32, 64)},
    **{f"uint{bits}": Family.NUMERIC for bits in (8, 16, 32, 64)},
    "float32": Family.NUMERIC,
    "float64": Family.NUMERIC,
    "decimal": Family.NUMERIC,
    "bool": Family.BOOL,
    "string": Family.STRING,
    "date": Family.TEMPORAL,
    "time": Family.TEMPORAL,
    "timestamp": Family.TEMPORAL,
    "timestamp_tz": Family.TEMPORAL,
    "binary": Family.BINARY,
}
"""Every contract type and its family, in the documented order."""

CONTRACT_TYPES: tuple[str, ...] = tuple(TYPE_FAMILIES)

# Lossless widenings: data valid under the narrower type stays valid under the wider one.
_WIDER: dict[str, tuple[str, ...]] = {
    "int8": ("int16", "int32", "int64"),
    "int16": ("int32", "int64"),
    "int32": ("int64",),
    "uint8": ("uint16", "uint32", "uint64", "int16", "int32", "int64"),
    "uint16": ("uint32", "uint64", "int32", "int64"),
    "uint32": ("uint64", "int64"),
    "float32": ("float64",),
}


def contract_type_of(duckdb_type: str) -> str:
    """Return the contract type that a DuckDB column type matches, or its lower-cased name."""
    name = duckdb_type.upper()
    if name.startswith("DECIMAL"):
        return "decimal"
    if name.startswith("ENUM"):
        return "string"
    return _DUCKDB_TO_TYPE.get(name, duckdb_type.lower())


def family_of(contract_type: str) -> Family:
    """Return the family of a contract type (OTHER for a type outside the vocabulary)."""
    return TYPE_FAMILIES.get(contract_type, Family.OTHER)


def is_widening(old: str, new: str) -> bool:
    """Tell whether every value of type ``old`` is a value of the different type ``new``."""
    return old != new and new in _WIDER.get(old, ())
