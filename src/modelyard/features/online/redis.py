"""The shared online store: one Redis key per (view, entity) holding the entity's packed row.

Key: ``<prefix>:<view>:`` followed by the entity key's canonical bytes (see ``codec``). Value:
the packed row, whose header carries the event time that the write script compares.

Atomicity: each chunk of a write (``chunk_rows`` entities) is one EVAL of a script that first
reads every stored row of the chunk, then sets the ones it may replace. Redis runs a script
without interleaving other commands, and the script fails before its first SET when it fails at
all (a key of another type, a foreign value), so a chunk is written entirely or not at all and
readers never see half a chunk. A write of at most ``chunk_rows`` entities is thus
all-or-nothing. A larger write is not one transaction across chunks (that would block every
reader for the whole write): the chunks go out in one pipeline, and when one fails the others
are still stored (the error says how many entities were); when the connection drops midway,
any prefix of the chunks may be stored. Every row is guarded by its event time, so writing the
same rows again is always safe and completes the write. Event times are compared as Lua numbers,
exactly up to 2**53 ms.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from typing import cast

import pyarrow as pa
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from modelyard.errors import CorruptOnlineRowError, OnlineStoreUnavailableError
from modelyard.features.online.codec import FORMAT_VERSION, encode_keys, pack_rows, unpack_rows
from modelyard.features.online.store import (
    EntityKey,
    OnlineRow,
    check_view_name,
    check_write_shape,
    newest_per_key,
)
from modelyard.settings import redact_url

# KEYS: the entity keys; ARGV: their event times, then their packed rows. Reads every stored
# row before the first SET so that any error leaves the chunk unwritten.
_COMPARE_AND_SET = f"""
local n = #KEYS
local replace = {{}}
for i = 1, n do
  local old = redis.call('GET', KEYS[i])
  if old then
    if string.len(old) < 11 or string.byte(old, 1) ~= {FORMAT_VERSION} then
      return redis.error_reply('key ' .. KEYS[i] .. ' holds no modelyard online row')
    end
    replace[i] = tonumber(ARGV[i]) >= struct.unpack('<i8', old, 2)
  else
    replace[i] = true
  end
end
local written = 0
for i = 1, n do
  if replace[i] then
    redis.call('SET', KEYS[i], ARGV[n + i])
    written = written + 1
  end
end
return written
"""
_GLOB_SPECIALS = {ord(char): f"\\{char}" for char in "*?[]\\"}


class RedisOnlineStore:
    """An :class:`~modelyard.features.online.store.OnlineStore` on a Redis server.

    Safe to share between threads (redis-py keeps a connection pool).

    Args:
        url: ``redis://[:password@]host:port/db`` (or ``rediss://`` for TLS).
        prefix: the first part of every key, so several workspaces can share a server.
        chunk_rows: entities per write script; bounds how long one write blocks the server.
        timeout_s: how long to wait to connect and for each reply.
        retries: how many times to retry a command after a connection error or timeout.
    """

    def __init__(
        self,
        url: str,
        prefix: str = "modelyard",
        *,
        chunk_rows: int = 2000,
        timeout_s: float = 5.0,
        retries: int = 1,
    ) -> None:
        self._url = url
        self.prefix = prefix
        self.chunk_rows = max(1, chunk_rows)
        self.timeout_s = timeout_s
        self.retries = retries
        self._client: redis.Redis | None = None
        self._script: redis.commands.core.Script | None = None
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """The server URL with any password replaced by ***."""
        return redact_url(self._url)

    def write(
        self,
        view: str,
        keys: Sequence[EntityKey],
        event_ms: Sequence[int],
        values: pa.Table,
    ) -> int:
        """Upsert one row per entity, a script per chunk; see ``OnlineStore.write``.

        Raises:
            InvalidNameError: ``view`` is not a valid view name.
            InvalidEntityFrameError: a key holds a value that cannot be a join key.
            FeaturePushRejectedError: the lengths differ, or a column has an unsupported type.
            OnlineStoreUnavailableError: the server cannot be reached, or a key of the chunk
                holds something else than a packed row (that chunk is not written).
        """
        base = self._view_prefix(check_view_name(view))
        check_write_shape(view, keys, event_ms, values)
        encoded = encode_keys(keys)
        blobs = pack_rows(view, event_ms, values)
        kept = newest_per_key(encoded, event_ms)
        if not kept:
            return 0
        client, script = self._connection()
        chunks = [
            kept[start : start + self.chunk_rows] for start in range(0, len(kept), self.chunk_rows)
        ]
        try:
            pipeline = client.pipeline(transaction=False)
            for chunk in chunks:
                script(
                    keys=[base + encoded[i] for i in chunk],
                    args=[int(event_ms[i]) for i in chunk] + [blobs[i] for i in chunk],
                    client=pipeline,
                )
            results = pipeline.execute(raise_on_error=False)
        except redis.RedisError as exc:
            raise OnlineStoreUnavailableError(self.url, _reason(exc)) from exc
        failures = [result for result in results if isinstance(result, redis.RedisError)]
        if failures:
            reason, stored = _chunk_failure(chunks, results, failures[0])
            raise OnlineStoreUnavailableError(self.url, reason, written=stored) from failures[0]
        return sum(int(count) for count in results)

    def read(self, view: str, keys: Sequence[EntityKey]) -> list[OnlineRow | None]:
        """Return the stored row of each key in one round trip; see ``OnlineStore.read``.

        Raises:
            InvalidNameError: ``view`` is not a valid view name.
            InvalidEntityFrameError: a key holds a value that cannot be a join key.
            OnlineStoreUnavailableError: the server cannot be reached.
            CorruptOnlineRowError: a stored row cannot be decoded.
        """
        base = self._view_prefix(check_view_name(view))
        names = encode_keys(keys, base)
        if not names:
            return []
        client, _ = self._connection()
        try:
            # GET for one key: the cheapest command when serving a single entity.
            replies = [client.get(names[0])] if len(names) == 1 else client.mget(names)
        except redis.RedisError as exc:
            raise OnlineStoreUnavailableError(self.url, _reason(exc)) from exc
        # decode_responses is off: every reply is bytes or None.
        blobs = cast(list[bytes | None], replies)
        try:
            return unpack_rows(blobs)
        except (ValueError, KeyError, struct.error) as exc:
            raise CorruptOnlineRowError(self.url, view, str(exc)) from exc

    def delete_view(self, view: str) -> None:
        """Unlink every key of ``view``, scanning in batches; see ``OnlineStore.delete_view``.

        Rows written while the scan runs may survive it.

        Raises:
            InvalidNameError: ``view`` is not a valid view name.
            OnlineStoreUnavailableError: the server cannot be reached.
        """
        base = self._view_prefix(check_view_name(view))
        pattern = base.decode().translate(_GLOB_SPECIALS) + "*"
        client, _ = self._connection()
        try:
            batch: list[bytes] = []
            for name in client.scan_iter(match=pattern, count=1000):
                batch.append(name)
                if len(batch) >= 1000:
                    client.unlink(*batch)
                    batch.clear()
            if batch:
                client.unlink(*batch)
        except redis.RedisError as exc:
            raise OnlineStoreUnavailableError(self.url, _reason(exc)) from exc

    def close(self) -> None:
        """Close the connection pool (a later call opens a new one)."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client, self._script = None, None

    # ------------------------------------------------------------------------- plumbing

    def _view_prefix(self, view: str) -> bytes:
        return f"{self.prefix}:{view}:".encode()

    def _connection(self) -> tuple[redis.Redis, redis.commands.core.Script]:
        with self._lock:
            return self._connect()

    def _connect(self) -> tuple[redis.Redis, redis.commands.core.Script]:
        client, script = self._client, self._script
        if client is None or script is None:
            try:
                client = redis.Redis.from_url(
                    self._url,
                    socket_timeout=self.timeout_s,
                    socket_connect_timeout=self.timeout_s,
                    retry=Retry(NoBackoff(), self.retries),
                )
            except ValueError as exc:  # redis-py's answer to a malformed URL
                raise OnlineStoreUnavailableError(self.url, str(exc)) from exc
            script = client.register_script(_COMPARE_AND_SET)
            self._client, self._script = client, script
        return client, script


def _reason(exc: redis.RedisError) -> str:
    return f"{type(exc).__name__}: {exc}"


def _chunk_failure(
    chunks: list[list[int]], results: list[object], first: redis.RedisError
) -> tuple[str, int]:
    """The reason a pipelined write failed, and how many entities the other chunks stored."""
    failed = sum(isinstance(result, redis.RedisError) for result in results)
    stored = sum(
        len(chunk)
        for chunk, result in zip(chunks, results, strict=True)
        if not isinstance(result, redis.RedisError)
    )
    return f"{failed} of {len(chunks)} write chunks failed ({_reason(first)})", stored
