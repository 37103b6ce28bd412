"""Online feature serving: the latest values per entity in SQLite or Redis, read by key.

``RedisOnlineStore`` lives in ``modelyard.features.online.redis`` and is imported on demand
(``open_online_store("redis://…")``), so the package works without the ``redis`` extra.
"""

from modelyard.features.online.codec import (
    decode_key,
    encode_key,
    encode_keys,
    pack_rows,
    unpack_row,
    unpack_rows,
)
from modelyard.features.online.location import open_online_store
from modelyard.features.online.sqlite import SqliteOnlineStore
from modelyard.features.online.store import EntityKey, OnlineRow, OnlineStore

__all__ = [
    "EntityKey",
    "OnlineRow",
    "OnlineStore",
    "SqliteOnlineStore",
    "decode_key",
    "encode_key",
    "encode_keys",
    "open_online_store",
    "pack_rows",
    "unpack_row",
    "unpack_rows",
]
