"""Choose the online store backend from a URL or a path."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from modelyard.errors import OnlineStoreUnavailableError
from modelyard.features.online.sqlite import SqliteOnlineStore
from modelyard.features.online.store import OnlineStore
from modelyard.settings import redact_url

_REDIS_SCHEMES = ("redis", "rediss", "unix")


def open_online_store(url_or_path: str | Path, *, prefix: str = "modelyard") -> OnlineStore:
    """Return the online store at ``url_or_path``, without connecting yet.

    ``sqlite:///path/online.db`` or a bare path gives a :class:`SqliteOnlineStore`;
    ``redis://[:password@]host:port/db`` (``rediss://``, ``unix://``) gives a
    ``RedisOnlineStore`` whose keys start with ``prefix``.

    Example:
        >>> store = open_online_store("redis://127.0.0.1:6379/0")  # doctest: +SKIP

    Raises:
        OnlineStoreUnavailableError: the scheme is unknown, a SQLite URL names no file, or a
            Redis URL is given and the ``redis`` package is not installed.
    """
    if isinstance(url_or_path, Path):
        return SqliteOnlineStore(url_or_path)
    parts = urlsplit(url_or_path)
    if parts.scheme == "sqlite":
        # sqlite:///relative/x.db and sqlite:////absolute/x.db, as SQLAlchemy spells them.
        path = unquote(url_or_path.removeprefix("sqlite:").removeprefix("///"))
        if not path or path.startswith("//") or path == ":memory:":
            raise OnlineStoreUnavailableError(
                url_or_path, "a SQLite online store needs a file: sqlite:///path/online.db"
            )
        return SqliteOnlineStore(Path(path))
    if parts.scheme in _REDIS_SCHEMES:
        try:
            from modelyard.features.online.redis import RedisOnlineStore
        except ImportError as exc:
            raise OnlineStoreUnavailableError(
                redact_url(url_or_path),
                "the redis package is not installed; pip install 'modelyard[redis]'",
            ) from exc
        return RedisOnlineStore(url_or_path, prefix=prefix)
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # a Windows drive letter
        path = unquote(parts.path) if parts.scheme == "file" else url_or_path
        return SqliteOnlineStore(Path(path))
    raise OnlineStoreUnavailableError(
        redact_url(url_or_path),
        f'unknown scheme "{parts.scheme}"; use sqlite:///path, a path, or redis://host:port/db',
    )
