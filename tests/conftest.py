"""Shared fixtures: every store-touching test runs on SQLite and on the real PostgreSQL.

PostgreSQL and Redis come from MODELYARD_TEST_POSTGRES_URL / MODELYARD_TEST_REDIS_URL (the
local servers by default). When one cannot be reached the tests that need it are skipped on a
laptop and fail under CI=true: CI must never pass by skipping the real backends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

import modelyard
from cli_harness import cli  # noqa: F401 -- fixture for the CLI tests
from fraud_models import frame, log_version  # noqa: F401 -- fixtures for the registry tests
from modelyard.clock import FixedClock
from modelyard.workspace import Workspace

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
IS_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _unavailable(what: str, error: Exception) -> None:
    message = f"{what} is not reachable: {error}"
    if IS_CI:
        pytest.fail(f"{message} (CI=true: the real servers are required)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """The URL of the real PostgreSQL server's test database."""
    url = os.environ.get("MODELYARD_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as error:
        _unavailable(f"PostgreSQL at {url}", error)
    finally:
        engine.dispose()
    return url


@pytest.fixture
def postgres_url(postgres_server_url: str) -> Iterator[str]:
    """A URL whose connections work in a fresh schema, dropped after the test."""
    schema = f"t_{uuid.uuid4().hex[:16]}"
    admin = sa.create_engine(postgres_server_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in postgres_server_url else "?"
    options = quote(f"-csearch_path={schema}")
    try:
        yield f"{postgres_server_url}{separator}options={options}"
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The metadata database of a test: a SQLite file, then a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'meta.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> FixedClock:
    """A clock that only moves when the test says so."""
    return FixedClock()


@pytest.fixture
def workspace(db_url: str, tmp_path: Path) -> Iterator[Workspace]:
    """A workspace on each metadata backend, with a local artifact store."""
    ws = modelyard.open(tmp_path / "ws", db_url=db_url)
    try:
        yield ws
    finally:
        ws.close()


@pytest.fixture
def redis_url() -> str:
    """The URL of the real Redis server."""
    url = os.environ.get("MODELYARD_TEST_REDIS_URL", DEFAULT_REDIS_URL)
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.exceptions.ConnectionError as error:
        _unavailable(f"Redis at {url}", error)
    finally:
        client.close()
    return url


@pytest.fixture(autouse=True)
def _no_modelyard_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from the test alone, never from the caller's MODELYARD_* variables."""
    for name in (
        "MODELYARD_HOME",
        "MODELYARD_DB_URL",
        "MODELYARD_ARTIFACT_ROOT",
        "MODELYARD_DEBUG",
        "MODELYARD_CAPTURE_ENVIRONMENT",
        "MODELYARD_USER",
    ):
        monkeypatch.delenv(name, raising=False)
