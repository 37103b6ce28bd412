"""One frozen Settings, read from modelyard.toml in the workspace and MODELYARD_* variables."""

from __future__ import annotations

import dataclasses
import getpass
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from modelyard.errors import InvalidSettingError

CONFIG_FILE = "modelyard.toml"
DB_FILE = "modelyard.db"
ARTIFACT_DIR = "artifacts"
DEFAULT_HOME = ".modelyard"
ENV_PREFIX = "MODELYARD_"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a workspace is configured with.

    Attributes:
        home: the workspace directory, or None when db_url and artifact_root are both given.
        db_url: SQLAlchemy URL of the metadata database (``sqlite:///…``,
            ``postgresql+psycopg://…``).
        artifact_root: where blobs live (``file:///…``, ``s3://bucket/prefix``).
        sqlite_busy_timeout_ms: how long a SQLite writer waits for the lock.
        metrics_flush_interval_s: the longest a logged metric waits before it is written.
        metrics_batch_size: points written per database round trip at most.
        metrics_max_buffer: points held in memory at most; log_metric waits beyond it.
        capture_environment: record git, Python, packages, host, user, command on each run.
        s3_endpoint_url: endpoint of an S3-compatible store (MinIO, a local test server).
        online_store: the online feature store: ``redis://…``, ``sqlite:///…`` or a path
            (default: ``online.db`` in the workspace directory).
        online_store_prefix: the prefix of this workspace's Redis keys, so that several
            workspaces can share one Redis database.
    """

    home: Path | None
    db_url: str
    artifact_root: str
    sqlite_busy_timeout_ms: int = 30_000
    metrics_flush_interval_s: float = 1.0
    metrics_batch_size: int = 20_000
    metrics_max_buffer: int = 1_000_000
    capture_environment: bool = True
    s3_endpoint_url: str | None = None
    online_store: str | None = None
    online_store_prefix: str = "modelyard"

    @property
    def redacted_db_url(self) -> str:
        """The database URL with any password replaced by ***."""
        return redact_url(self.db_url)


_TUNABLES: dict[str, type] = {
    "db_url": str,
    "artifact_root": str,
    "sqlite_busy_timeout_ms": int,
    "metrics_flush_interval_s": float,
    "metrics_batch_size": int,
    "metrics_max_buffer": int,
    "capture_environment": bool,
    "s3_endpoint_url": str,
    "online_store": str,
    "online_store_prefix": str,
}


def current_user(environ: Mapping[str, str] | None = None) -> str | None:
    """Who is acting: $MODELYARD_USER, else the login name (None when there is none)."""
    environ = os.environ if environ is None else environ
    explicit = environ.get("MODELYARD_USER")
    if explicit:
        return explicit
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return None


def default_home(environ: Mapping[str, str] | None = None) -> Path:
    """Return MODELYARD_HOME, else ./.modelyard."""
    environ = os.environ if environ is None else environ
    return Path(environ.get(ENV_PREFIX + "HOME") or DEFAULT_HOME)


def load_settings(
    home: Path | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build Settings: explicit overrides win, then MODELYARD_* variables, then modelyard.toml.

    Args:
        home: the workspace directory; None when the overrides name db_url and artifact_root.
        overrides: values given in code (``modelyard.open(..., db_url=...)``).
        environ: the environment to read (default ``os.environ``).

    Returns:
        The frozen settings; a directory workspace defaults to ``HOME/modelyard.db`` and
        ``HOME/artifacts``.

    Raises:
        InvalidSettingError: for an unknown key, a value of the wrong type, or a missing
            database URL / artifact root when there is no workspace directory.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    if home is not None:
        values.update(_read_toml(home / CONFIG_FILE))
    for key, kind in _TUNABLES.items():
        raw = environ.get(ENV_PREFIX + key.upper())
        if raw is not None and raw != "":
            values[key] = _coerce(key, raw, kind, f"${ENV_PREFIX}{key.upper()}")
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key] = _check_type(key, value, "the caller")
    if home is not None:
        home = home.expanduser().resolve()
        values.setdefault("db_url", f"sqlite:///{home / DB_FILE}")
        values.setdefault("artifact_root", (home / ARTIFACT_DIR).as_uri())
    for key in ("db_url", "artifact_root"):
        if key not in values:
            raise InvalidSettingError(
                key, None, "required when no workspace directory is given", "settings"
            )
    return Settings(home=home, **values)


def with_changes(settings: Settings, **changes: Any) -> Settings:
    """Return a copy of ``settings`` with some fields replaced (type-checked)."""
    checked = {key: _check_type(key, value, "the caller") for key, value in changes.items()}
    return dataclasses.replace(settings, **checked)


def write_config(home: Path, values: Mapping[str, object]) -> Path:
    """Write ``values`` as HOME/modelyard.toml and return its path."""
    lines = ["# modelyard workspace settings; MODELYARD_* environment variables win."]
    for key, value in values.items():
        lines.append(f"{key} = {_toml_value(_check_type(key, value, 'the caller'))}")
    path = home / CONFIG_FILE
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def update_config(home: Path, changes: Mapping[str, object]) -> Path:
    """Merge ``changes`` into HOME/modelyard.toml (keeping the other settings); return its path.

    Raises:
        InvalidSettingError: the existing file is malformed or a change breaks its rule.
    """
    merged = {**_read_toml(home / CONFIG_FILE), **changes}
    return write_config(home, merged)


def redact_url(url: str) -> str:
    """Return ``url`` with its password (if any) replaced by ***."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if parts.password is None:
        return url
    # Rebuild from the raw netloc: .port raises on a malformed port, .hostname drops the
    # brackets of an IPv6 address.
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


def _read_toml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidSettingError(path.name, None, f"not valid TOML: {exc}", str(path)) from exc
    return {key: _check_type(key, value, str(path)) for key, value in data.items()}


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    escaped = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _check_type(key: str, value: Any, source: str) -> Any:
    kind = _TUNABLES.get(key)
    if kind is None:
        known = ", ".join(sorted(_TUNABLES))
        raise InvalidSettingError(key, value, f"unknown setting (known: {known})", source)
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise InvalidSettingError(key, value, f"must be {kind.__name__}", source)
    if kind in (int, float) and isinstance(value, int | float) and not value > 0:  # NaN too
        raise InvalidSettingError(key, value, "must be greater than 0", source)
    return value


def _coerce(key: str, raw: str, kind: type, source: str) -> Any:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise InvalidSettingError(key, raw, "must be true or false", source)
    if kind is str:
        return raw
    try:
        value = kind(raw)
    except ValueError as exc:
        raise InvalidSettingError(key, raw, f"must be {kind.__name__}", source) from exc
    return _check_type(key, value, source)
