"""Tests of modelyard/settings.py: precedence, defaults, validation, redaction, the config file."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from modelyard.errors import InvalidSettingError
from modelyard.settings import (
    Settings,
    default_home,
    load_settings,
    redact_url,
    with_changes,
    write_config,
)

KNOWN = (
    "artifact_root, capture_environment, db_url, metrics_batch_size, metrics_flush_interval_s, "
    "metrics_max_buffer, online_store, online_store_prefix, s3_endpoint_url, "
    "sqlite_busy_timeout_ms"
)


def _toml(home: Path, text: str) -> Path:
    path = home / "modelyard.toml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------------- defaults


def test_a_directory_workspace_defaults_to_a_sqlite_file_and_a_local_artifact_dir(
    tmp_path: Path,
) -> None:
    settings = load_settings(tmp_path, environ={})

    home = tmp_path.resolve()
    assert settings == Settings(
        home=home,
        db_url=f"sqlite:///{home}/modelyard.db",
        artifact_root=f"file://{home}/artifacts",
        sqlite_busy_timeout_ms=30_000,
        metrics_flush_interval_s=1.0,
        metrics_batch_size=20_000,
        metrics_max_buffer=1_000_000,
        capture_environment=True,
        s3_endpoint_url=None,
    )


def test_the_home_is_resolved_to_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "ws").mkdir()

    settings = load_settings(Path("~/ws/../ws"), environ={})

    assert settings.home == tmp_path.resolve() / "ws"
    assert settings.db_url == f"sqlite:///{tmp_path.resolve()}/ws/modelyard.db"


def test_without_a_home_both_urls_come_from_the_caller() -> None:
    settings = load_settings(
        overrides={"db_url": "sqlite:///m.db", "artifact_root": "s3://bucket/p"}, environ={}
    )

    assert settings.home is None
    assert settings.db_url == "sqlite:///m.db"
    assert settings.artifact_root == "s3://bucket/p"


@pytest.mark.parametrize(
    ("given", "missing"),
    [({}, "db_url"), ({"db_url": "sqlite:///m.db"}, "artifact_root")],
)
def test_without_a_home_a_missing_url_is_an_error(given: dict[str, str], missing: str) -> None:
    with pytest.raises(InvalidSettingError) as caught:
        load_settings(overrides=given, environ={})

    assert str(caught.value) == (
        f"setting {missing}=None from settings is invalid: "
        "required when no workspace directory is given"
    )


def test_without_a_home_the_urls_may_come_from_the_environment() -> None:
    settings = load_settings(
        environ={"MODELYARD_DB_URL": "sqlite:///e.db", "MODELYARD_ARTIFACT_ROOT": "/srv/a"}
    )

    assert (settings.home, settings.db_url, settings.artifact_root) == (
        None,
        "sqlite:///e.db",
        "/srv/a",
    )


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"MODELYARD_HOME": "/srv/ws"}, Path("/srv/ws")),
        ({"MODELYARD_HOME": ""}, Path(".modelyard")),
        ({}, Path(".modelyard")),
    ],
)
def test_default_home(environ: dict[str, str], expected: Path) -> None:
    assert default_home(environ) == expected


# ------------------------------------------------------------------------- precedence


@pytest.mark.parametrize(
    ("in_toml", "in_env", "in_overrides", "expected"),
    [
        (False, False, False, 20_000),
        (True, False, False, 11),
        (False, True, False, 22),
        (True, True, False, 22),
        (False, False, True, 33),
        (True, False, True, 33),
        (True, True, True, 33),
    ],
)
def test_overrides_beat_environment_beat_toml_beat_defaults(
    tmp_path: Path, in_toml: bool, in_env: bool, in_overrides: bool, expected: int
) -> None:
    if in_toml:
        _toml(tmp_path, "metrics_batch_size = 11\n")
    environ = {"MODELYARD_METRICS_BATCH_SIZE": "22"} if in_env else {}
    overrides = {"metrics_batch_size": 33} if in_overrides else None

    settings = load_settings(tmp_path, overrides=overrides, environ=environ)

    assert settings.metrics_batch_size == expected


def test_each_key_takes_its_value_from_the_highest_layer_that_sets_it(tmp_path: Path) -> None:
    _toml(
        tmp_path,
        'db_url = "sqlite:///toml.db"\n'
        'artifact_root = "s3://toml/a"\n'
        "metrics_batch_size = 11\n"
        "capture_environment = false\n",
    )
    environ = {
        "MODELYARD_ARTIFACT_ROOT": "s3://env/a",
        "MODELYARD_METRICS_BATCH_SIZE": "22",
        "MODELYARD_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    }

    settings = load_settings(
        tmp_path, overrides={"metrics_batch_size": 33, "db_url": None}, environ=environ
    )

    assert settings == Settings(
        home=tmp_path.resolve(),
        db_url="sqlite:///toml.db",
        artifact_root="s3://env/a",
        metrics_batch_size=33,
        capture_environment=False,
        s3_endpoint_url="http://127.0.0.1:9000",
    )


def test_an_empty_environment_variable_is_ignored(tmp_path: Path) -> None:
    _toml(tmp_path, "metrics_batch_size = 11\n")

    settings = load_settings(tmp_path, environ={"MODELYARD_METRICS_BATCH_SIZE": ""})

    assert settings.metrics_batch_size == 11


def test_the_process_environment_is_read_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELYARD_SQLITE_BUSY_TIMEOUT_MS", "1234")

    assert load_settings(tmp_path).sqlite_busy_timeout_ms == 1234


def test_a_missing_config_file_is_the_defaults(tmp_path: Path) -> None:
    home = tmp_path / "not-created"

    settings = load_settings(home, environ={})

    assert settings.metrics_batch_size == 20_000
    assert settings.db_url == f"sqlite:///{home.resolve()}/modelyard.db"


# ------------------------------------------------------------------------- environment parsing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1", True),
        ("true", True),
        ("TRUE", True),
        ("Yes", True),
        (" on ", True),
        ("0", False),
        ("false", False),
        ("No", False),
        ("OFF", False),
    ],
)
def test_booleans_from_the_environment(tmp_path: Path, raw: str, expected: bool) -> None:
    settings = load_settings(tmp_path, environ={"MODELYARD_CAPTURE_ENVIRONMENT": raw})

    assert settings.capture_environment is expected


def test_a_boolean_that_is_not_one_raises(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettingError) as caught:
        load_settings(tmp_path, environ={"MODELYARD_CAPTURE_ENVIRONMENT": "maybe"})

    assert str(caught.value) == (
        "setting capture_environment='maybe' from $MODELYARD_CAPTURE_ENVIRONMENT is invalid: "
        "must be true or false"
    )


@pytest.mark.parametrize(
    ("variable", "raw", "field", "expected"),
    [
        ("MODELYARD_METRICS_BATCH_SIZE", "500", "metrics_batch_size", 500),
        ("MODELYARD_METRICS_BATCH_SIZE", " 7 ", "metrics_batch_size", 7),
        ("MODELYARD_METRICS_MAX_BUFFER", "1_000", "metrics_max_buffer", 1000),
        ("MODELYARD_METRICS_FLUSH_INTERVAL_S", "0.25", "metrics_flush_interval_s", 0.25),
        ("MODELYARD_METRICS_FLUSH_INTERVAL_S", "3", "metrics_flush_interval_s", 3.0),
        ("MODELYARD_DB_URL", "sqlite:///x.db", "db_url", "sqlite:///x.db"),
    ],
)
def test_numbers_and_strings_from_the_environment(
    tmp_path: Path, variable: str, raw: str, field: str, expected: object
) -> None:
    settings = load_settings(tmp_path, environ={variable: raw})

    value = getattr(settings, field)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("variable", "raw", "message"),
    [
        (
            "MODELYARD_METRICS_BATCH_SIZE",
            "many",
            "setting metrics_batch_size='many' from $MODELYARD_METRICS_BATCH_SIZE is invalid: "
            "must be int",
        ),
        (
            "MODELYARD_METRICS_BATCH_SIZE",
            "1.5",
            "setting metrics_batch_size='1.5' from $MODELYARD_METRICS_BATCH_SIZE is invalid: "
            "must be int",
        ),
        (
            "MODELYARD_METRICS_BATCH_SIZE",
            "0",
            "setting metrics_batch_size=0 from $MODELYARD_METRICS_BATCH_SIZE is invalid: "
            "must be greater than 0",
        ),
        (
            "MODELYARD_SQLITE_BUSY_TIMEOUT_MS",
            "-5",
            "setting sqlite_busy_timeout_ms=-5 from $MODELYARD_SQLITE_BUSY_TIMEOUT_MS is "
            "invalid: must be greater than 0",
        ),
        (
            "MODELYARD_METRICS_FLUSH_INTERVAL_S",
            "soon",
            "setting metrics_flush_interval_s='soon' from $MODELYARD_METRICS_FLUSH_INTERVAL_S "
            "is invalid: must be float",
        ),
        (
            # NaN compares false with everything: it must not slip past "greater than 0".
            "MODELYARD_METRICS_FLUSH_INTERVAL_S",
            "nan",
            "setting metrics_flush_interval_s=nan from $MODELYARD_METRICS_FLUSH_INTERVAL_S "
            "is invalid: must be greater than 0",
        ),
    ],
)
def test_a_malformed_number_in_the_environment_names_the_variable(
    tmp_path: Path, variable: str, raw: str, message: str
) -> None:
    with pytest.raises(InvalidSettingError) as caught:
        load_settings(tmp_path, environ={variable: raw})

    assert str(caught.value) == message


def test_unrelated_environment_variables_are_ignored(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path, environ={"MODELYARD_NOT_A_SETTING": "x", "DB_URL": "sqlite:///other.db"}
    )

    assert settings == load_settings(tmp_path, environ={})


# ------------------------------------------------------------------------- validation


def test_an_unknown_key_in_the_config_file_names_the_file(tmp_path: Path) -> None:
    path = _toml(tmp_path, "batch_size = 5\n")

    with pytest.raises(InvalidSettingError) as caught:
        load_settings(tmp_path, environ={})

    assert str(caught.value) == (
        f"setting batch_size=5 from {path} is invalid: unknown setting (known: {KNOWN})"
    )
    assert caught.value.details() == {
        "key": "batch_size",
        "value": "5",
        "rule": f"unknown setting (known: {KNOWN})",
        "source": str(path),
    }


def test_an_unknown_override_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettingError) as caught:
        load_settings(tmp_path, overrides={"db_uri": "sqlite:///x.db"}, environ={})

    assert str(caught.value) == (
        "setting db_uri='sqlite:///x.db' from the caller is invalid: "
        f"unknown setting (known: {KNOWN})"
    )


@pytest.mark.parametrize(
    ("toml", "message_tail"),
    [
        ('metrics_batch_size = "5"', "metrics_batch_size='5' from {path} is invalid: must be int"),
        (
            "metrics_batch_size = true",
            "metrics_batch_size=True from {path} is invalid: must be int",
        ),
        ("metrics_batch_size = 2.5", "metrics_batch_size=2.5 from {path} is invalid: must be int"),
        (
            "capture_environment = 1",
            "capture_environment=1 from {path} is invalid: must be bool",
        ),
        ("db_url = 5", "db_url=5 from {path} is invalid: must be str"),
        (
            "metrics_flush_interval_s = -1.5",
            "metrics_flush_interval_s=-1.5 from {path} is invalid: must be greater than 0",
        ),
        (
            "metrics_flush_interval_s = nan",
            "metrics_flush_interval_s=nan from {path} is invalid: must be greater than 0",
        ),
    ],
)
def test_a_value_of_the_wrong_type_in_the_config_file(
    tmp_path: Path, toml: str, message_tail: str
) -> None:
    path = _toml(tmp_path, toml + "\n")

    with pytest.raises(InvalidSettingError) as caught:
        load_settings(tmp_path, environ={})

    assert str(caught.value) == "setting " + message_tail.format(path=path)


def test_an_int_is_accepted_for_a_float_setting(tmp_path: Path) -> None:
    _toml(tmp_path, "metrics_flush_interval_s = 2\n")

    settings = load_settings(tmp_path, environ={})

    assert settings.metrics_flush_interval_s == 2.0
    assert type(settings.metrics_flush_interval_s) is float


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"metrics_batch_size": True},
            "setting metrics_batch_size=True from the caller is invalid: must be int",
        ),
        (
            {"metrics_batch_size": "5"},
            "setting metrics_batch_size='5' from the caller is invalid: must be int",
        ),
        (
            {"capture_environment": "yes"},
            "setting capture_environment='yes' from the caller is invalid: must be bool",
        ),
        (
            {"metrics_flush_interval_s": 0},
            "setting metrics_flush_interval_s=0.0 from the caller is invalid: "
            "must be greater than 0",
        ),
        (
            {"metrics_flush_interval_s": float("nan")},
            "setting metrics_flush_interval_s=nan from the caller is invalid: "
            "must be greater than 0",
        ),
    ],
)
def test_an_override_of_the_wrong_type(
    tmp_path: Path, overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidSettingError) as caught:
        load_settings(tmp_path, overrides=overrides, environ={})

    assert str(caught.value) == message


def test_malformed_toml_names_the_file(tmp_path: Path) -> None:
    path = _toml(tmp_path, "db_url = \n")

    with pytest.raises(InvalidSettingError) as caught:
        load_settings(tmp_path, environ={})

    message = str(caught.value)
    assert message.startswith(
        f"setting modelyard.toml=None from {path} is invalid: not valid TOML: "
    )
    assert "(at line 1, column 10)" in message
    assert caught.value.source == str(path)


# ------------------------------------------------------------------------- with_changes


def test_with_changes_returns_a_checked_copy(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})

    changed = with_changes(settings, metrics_batch_size=5, capture_environment=False)

    assert changed == dataclasses.replace(settings, metrics_batch_size=5, capture_environment=False)
    assert settings.metrics_batch_size == 20_000


def test_with_changes_stores_an_int_for_a_float_setting_as_a_float(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})

    changed = with_changes(settings, metrics_flush_interval_s=2)

    assert changed.metrics_flush_interval_s == 2.0
    assert type(changed.metrics_flush_interval_s) is float


def test_with_changes_rejects_a_wrong_type(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})

    with pytest.raises(
        InvalidSettingError, match=re.escape("metrics_batch_size='5' from the caller")
    ):
        with_changes(settings, metrics_batch_size="5")


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, environ={})

    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'db_url'"):
        settings.db_url = "sqlite:///other.db"  # type: ignore[misc]


# ------------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("postgresql+psycopg://u:secret@h:5/db", "postgresql+psycopg://u:***@h:5/db"),
        ("postgresql://u:secret@db.example.com/x", "postgresql://u:***@db.example.com/x"),
        ("postgresql://:secret@h/db", "postgresql://:***@h/db"),
        ("postgresql://u:p%40ss@h/db?sslmode=require", "postgresql://u:***@h/db?sslmode=require"),
        ("postgresql://u:secret@[::1]:5432/db", "postgresql://u:***@[::1]:5432/db"),
        ("postgresql://u:secret@DB.Example.com/x", "postgresql://u:***@DB.Example.com/x"),
        # A malformed port must not turn redaction into a crash (nor show the password).
        ("postgresql://u:secret@h:port/db", "postgresql://u:***@h:port/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        ("sqlite:////srv/ws/modelyard.db", "sqlite:////srv/ws/modelyard.db"),
        ("not a url", "not a url"),
    ],
)
def test_redact_url_hides_the_password(url: str, redacted: str) -> None:
    assert redact_url(url) == redacted
    assert "secret" not in redact_url(url)


def test_redacted_db_url_property(tmp_path: Path) -> None:
    settings = load_settings(
        tmp_path, overrides={"db_url": "postgresql+psycopg://u:secret@h:5/db"}, environ={}
    )

    assert settings.redacted_db_url == "postgresql+psycopg://u:***@h:5/db"
    assert settings.db_url == "postgresql+psycopg://u:secret@h:5/db"


# ------------------------------------------------------------------------- write_config


def test_write_config_round_trips_through_load_settings(tmp_path: Path) -> None:
    values = {
        "db_url": 'postgresql+psycopg://u:p"w\\x@h:5/db',
        "artifact_root": "s3://bucket/prefix",
        "s3_endpoint_url": "http://127.0.0.1:9000",
    }

    path = write_config(tmp_path, values)

    assert path == tmp_path / "modelyard.toml"
    assert path.read_text(encoding="utf-8").splitlines()[0] == (
        "# modelyard workspace settings; MODELYARD_* environment variables win."
    )
    settings = load_settings(tmp_path, environ={})
    assert (settings.db_url, settings.artifact_root, settings.s3_endpoint_url) == (
        values["db_url"],
        values["artifact_root"],
        values["s3_endpoint_url"],
    )


def test_write_config_round_trips_numbers_and_booleans(tmp_path: Path) -> None:
    write_config(
        tmp_path,
        {
            "metrics_batch_size": 5,
            "metrics_flush_interval_s": 0.5,
            "capture_environment": False,
        },
    )

    settings = load_settings(tmp_path, environ={})

    assert (
        settings.metrics_batch_size,
        settings.metrics_flush_interval_s,
        settings.capture_environment,
    ) == (5, 0.5, False)


def test_write_config_replaces_an_existing_file(tmp_path: Path) -> None:
    write_config(tmp_path, {"artifact_root": "s3://old/a"})

    write_config(tmp_path, {"db_url": "sqlite:///new.db"})

    settings = load_settings(tmp_path, environ={})
    assert settings.db_url == "sqlite:///new.db"
    assert settings.artifact_root == f"file://{tmp_path.resolve()}/artifacts"


def test_write_config_rejects_an_unknown_key_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettingError, match=re.escape("unknown setting (known: ")):
        write_config(tmp_path, {"db_uri": "sqlite:///x.db"})

    assert list(tmp_path.iterdir()) == []


def test_the_environment_beats_a_written_config(tmp_path: Path) -> None:
    write_config(tmp_path, {"db_url": "sqlite:///file.db"})

    settings = load_settings(tmp_path, environ={"MODELYARD_DB_URL": "sqlite:///env.db"})

    assert settings.db_url == "sqlite:///env.db"


def test_current_user_prefers_modelyard_user(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelyard.settings import current_user

    assert current_user({"MODELYARD_USER": "ci-bot"}) == "ci-bot"
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    assert current_user({}) == "alice"

    def no_login() -> str:
        raise OSError("no login name")

    monkeypatch.setattr("getpass.getuser", no_login)
    assert current_user({}) is None
