"""Serving configuration: defaults, every validation naming its key, YAML loading, round trips."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import InvalidServingConfigError
from modelyard.serving import config as config_module
from modelyard.serving.config import (
    DEFAULT_FEATURE_TIMEOUT_MS,
    DEFAULT_MAX_BATCH_SIZE,
    DEFAULT_MAX_QUEUE,
    DEFAULT_MAX_WAIT_MS,
    ModelServingConfig,
    ServingConfig,
    config_from_mapping,
    load_serving_config,
    serving_config,
)

FRAUD = "fraud@champion"
FEATURES = (
    "customer_activity:customer_txn_count_1h",
    "customer_activity:customer_amount_sum_24h",
)
EXAMPLE = ServingConfig(
    (
        ModelServingConfig(
            FRAUD,
            max_batch_size=64,
            max_wait_ms=2,
            features=FEATURES,
            defaults={"customer_txn_count_1h": 0, "customer_amount_sum_24h": 0.0},
            on_feature_failure="fallback",
            pii_fields=("customer_id",),
        ),
    ),
    pii_policy="hash",
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "serving.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ defaults


def test_a_model_config_has_the_documented_defaults() -> None:
    model = ModelServingConfig(FRAUD)

    assert (
        model.max_batch_size,
        model.max_wait_ms,
        model.max_queue,
        model.features,
        model.defaults,
        model.on_feature_failure,
        model.feature_timeout_ms,
        model.cache_size,
        model.pii_fields,
        model.threads,
    ) == (64, 2.0, 2048, (), {}, "fallback", 50.0, 0, (), None)
    assert (DEFAULT_MAX_BATCH_SIZE, DEFAULT_MAX_WAIT_MS, DEFAULT_MAX_QUEUE) == (64, 2.0, 2048)
    assert DEFAULT_FEATURE_TIMEOUT_MS == 50.0
    assert model.is_batching is True
    assert model.feature_columns == ()


def test_a_server_config_has_the_documented_defaults() -> None:
    server = ServingConfig((ModelServingConfig(FRAUD),))

    assert (
        server.pii_policy,
        server.log_predictions,
        server.breaker_failures,
        server.breaker_reset_s,
    ) == ("hash", True, 5, 5.0)


def test_feature_columns_follow_the_features_in_order() -> None:
    model = ModelServingConfig(FRAUD, features=FEATURES)

    assert model.feature_columns == ("customer_txn_count_1h", "customer_amount_sum_24h")


def test_max_batch_size_one_turns_batching_off() -> None:
    assert ModelServingConfig(FRAUD, max_batch_size=1).is_batching is False


# ------------------------------------------------------------------ validation

WHERE = f"models[{FRAUD}]"


@pytest.mark.parametrize(
    ("settings_", "field", "reason"),
    [
        ({"max_batch_size": 0}, "max_batch_size", "must be a whole number of at least 1, not 0"),
        ({"max_batch_size": 2.5}, "max_batch_size", "at least 1, not 2.5"),
        ({"max_batch_size": True}, "max_batch_size", "at least 1, not True"),
        ({"max_queue": 0}, "max_queue", "at least 1, not 0"),
        ({"max_wait_ms": -1}, "max_wait_ms", "must be a number of at least 0, not -1"),
        ({"max_wait_ms": math.nan}, "max_wait_ms", "at least 0, not nan"),
        ({"max_wait_ms": math.inf}, "max_wait_ms", "at least 0, not inf"),
        ({"max_wait_ms": "2"}, "max_wait_ms", "at least 0, not '2'"),
        ({"feature_timeout_ms": -0.5}, "feature_timeout_ms", "at least 0, not -0.5"),
        ({"cache_size": -1}, "cache_size", "must be 0 (off) or more"),
        ({"cache_size": 1.5}, "cache_size", "must be a whole number"),
        ({"threads": 0}, "threads", "at least 1, not 0"),
        (
            {"on_feature_failure": "retry"},
            "on_feature_failure",
            "'retry' is not one of fallback, reject",
        ),
        ({"features": ("txn_count",)}, "features", "'txn_count' is not a feature reference"),
        ({"features": (":txn_count",)}, "features", "':txn_count' is not a feature reference"),
        ({"features": ("a:b:c",)}, "features", "'a:b:c' is not a feature reference"),
        ({"features": ("activity:",)}, "features", "'activity:' is not a feature reference"),
        (
            {"features": ("activity:txn_count",), "defaults": {"amount_sum": 0}},
            "defaults",
            "amount_sum is not one of the model's features (txn_count)",
        ),
        (
            {"defaults": {"txn_count": 0}},
            "defaults",
            "txn_count is not one of the model's features (none declared)",
        ),
    ],
)
def test_a_bad_model_setting_is_refused_naming_its_key(
    settings_: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(InvalidServingConfigError, match="serving config") as info:
        ModelServingConfig(FRAUD, **settings_)  # type: ignore[arg-type]  # bad on purpose

    assert info.value.field == f"{WHERE}.{field}"
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("ref", "reason"),
    [
        ("fraud@", "the alias '' is invalid"),
        ("fraud/0", "version '0' is not a positive integer"),
        ("fraud@champion/3", "give a version or an alias, not both"),
        ("", "it is empty"),
    ],
)
def test_a_bad_ref_is_refused_as_a_serving_config_error(ref: str, reason: str) -> None:
    with pytest.raises(InvalidServingConfigError) as info:
        ModelServingConfig(ref)

    assert info.value.field == f"models[{ref}].ref"
    assert reason in info.value.reason


@pytest.mark.parametrize(
    ("settings_", "field", "reason"),
    [
        ({"models": ()}, "models", "name at least one model to serve"),
        ({"pii_policy": "encrypt"}, "pii_policy", "'encrypt' is not one of hash, drop"),
        ({"breaker_failures": 0}, "breaker_failures", "at least 1, not 0"),
        ({"breaker_reset_s": -1.0}, "breaker_reset_s", "at least 0, not -1.0"),
        ({"log_predictions": "no"}, "log_predictions", "must be true or false"),
    ],
)
def test_a_bad_server_setting_is_refused_naming_its_key(
    settings_: dict[str, object], field: str, reason: str
) -> None:
    values: dict[str, object] = {"models": (ModelServingConfig(FRAUD),), **settings_}

    with pytest.raises(InvalidServingConfigError) as info:
        ServingConfig(**values)  # type: ignore[arg-type]  # bad on purpose

    assert info.value.field == field
    assert reason in info.value.reason
    assert str(info.value) == f"serving config {field}: {info.value.reason}"


# ------------------------------------------------------------------ mappings


def test_a_model_may_be_named_by_its_ref_alone() -> None:
    config = config_from_mapping({"models": [FRAUD, {"ref": "churn/3", "max_batch_size": 1}]})

    assert config == ServingConfig(
        (ModelServingConfig(FRAUD), ModelServingConfig("churn/3", max_batch_size=1))
    )


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ([FRAUD], "(top level)", "must be a mapping with a models list"),
        ({"pii_policy": "hash"}, "models", "must be a list of models to serve"),
        ({"models": FRAUD}, "models", "must be a list of models to serve"),
        ({"models": []}, "models", "name at least one model to serve"),
        ({"models": [{"max_batch_size": 4}]}, "models[0]", "needs a ref"),
        ({"models": [FRAUD, {"ref": 3}]}, "models[1]", "needs a ref"),
        ({"models": [{"ref": FRAUD, "features": "a:b"}]}, "models[0].features", "list of strings"),
        ({"models": [{"ref": FRAUD, "pii_fields": [1]}]}, "models[0].pii_fields", "strings"),
        ({"models": [{"ref": FRAUD, "defaults": [1]}]}, "models[0].defaults", "must be a mapping"),
        (
            {"models": [{"ref": FRAUD, "max_batch": 8}]},
            "models[0].max_batch",
            "unknown key (did you mean 'max_batch_size'?); known keys: cache_size, defaults,",
        ),
        (
            {"models": [FRAUD], "pii_polcy": "drop"},
            "pii_polcy",
            "unknown key (did you mean 'pii_policy'?); known keys: breaker_failures,",
        ),
        (
            {"models": [FRAUD], "colour": "blue"},
            "colour",
            "unknown key; known keys: breaker_failures, breaker_reset_s, log_predictions, "
            "models, pii_policy",
        ),
        ({"models": [{"ref": FRAUD, "max_wait_ms": -1}]}, f"{WHERE}.max_wait_ms", "at least 0"),
    ],
)
def test_a_bad_mapping_is_refused_naming_its_key(data: object, field: str, reason: str) -> None:
    with pytest.raises(InvalidServingConfigError) as info:
        config_from_mapping(data)

    assert info.value.field == field
    assert reason in info.value.reason


def test_serving_config_serves_each_ref_with_the_same_settings() -> None:
    config = serving_config([FRAUD, "churn/3"], pii_policy="drop", max_batch_size=8)

    assert config == ServingConfig(
        (
            ModelServingConfig(FRAUD, max_batch_size=8),
            ModelServingConfig("churn/3", max_batch_size=8),
        ),
        pii_policy="drop",
    )


def test_serving_config_refuses_an_unknown_setting() -> None:
    with pytest.raises(InvalidServingConfigError, match="did you mean 'max_batch_size'") as info:
        serving_config([FRAUD], max_batch=8)

    assert info.value.field == "max_batch"


# ------------------------------------------------------------------ YAML files


def test_the_documented_yaml_example_loads(tmp_path: Path) -> None:
    assert config_module.__doc__ is not None
    example = config_module.__doc__.split("::", 1)[1]

    assert load_serving_config(write(tmp_path, example)) == EXAMPLE


def test_a_yaml_file_with_every_setting_loads(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
models:
  - ref: fraud@champion
    max_batch_size: 32
    max_wait_ms: 0.5
    max_queue: 100
    features: [activity:txn_count]
    defaults: {txn_count: 0}
    on_feature_failure: reject
    feature_timeout_ms: 20
    cache_size: 1000
    pii_fields: [email]
    threads: 4
  - churn/3
pii_policy: drop
log_predictions: false
breaker_failures: 3
breaker_reset_s: 1.5
""",
    )

    assert load_serving_config(str(path)) == ServingConfig(
        (
            ModelServingConfig(
                FRAUD,
                max_batch_size=32,
                max_wait_ms=0.5,
                max_queue=100,
                features=("activity:txn_count",),
                defaults={"txn_count": 0},
                on_feature_failure="reject",
                feature_timeout_ms=20,
                cache_size=1000,
                pii_fields=("email",),
                threads=4,
            ),
            ModelServingConfig("churn/3"),
        ),
        pii_policy="drop",
        log_predictions=False,
        breaker_failures=3,
        breaker_reset_s=1.5,
    )


def test_an_unknown_key_in_a_file_is_named_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - ref: fraud@champion\n    max_wait: 2\n")

    with pytest.raises(InvalidServingConfigError) as info:
        load_serving_config(path)

    assert (info.value.field, info.value.source) == ("models[0].max_wait", str(path))
    assert str(info.value).startswith(
        f"{path}: serving config models[0].max_wait: unknown key (did you mean 'max_wait_ms'?)"
    )


def test_a_bad_value_in_a_file_is_named_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - ref: fraud@champion\n    max_batch_size: 0\n")

    with pytest.raises(InvalidServingConfigError) as info:
        load_serving_config(path)

    assert (info.value.field, info.value.source) == (f"{WHERE}.max_batch_size", str(path))


def test_a_bad_ref_in_a_file_is_named_with_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - ref: fraud@\n")

    with pytest.raises(InvalidServingConfigError) as info:
        load_serving_config(path)

    assert (info.value.field, info.value.source) == ("models[fraud@].ref", str(path))


def test_a_file_that_is_not_yaml_is_refused_with_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "models:\n  - ref: fraud@champion\n    features: [a:b\n")

    with pytest.raises(InvalidServingConfigError) as info:
        load_serving_config(path)

    assert (info.value.field, info.value.reason, info.value.source) == (
        "file",
        "line 4: not valid YAML",
        str(path),
    )
    assert str(info.value) == f"{path}: serving config file: line 4: not valid YAML"


def test_a_mapping_error_on_line_one_names_line_one(tmp_path: Path) -> None:
    path = write(tmp_path, "models: a: b\n")

    with pytest.raises(InvalidServingConfigError) as info:
        load_serving_config(path)

    assert info.value.reason == "line 1: not valid YAML"


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"

    with pytest.raises(InvalidServingConfigError) as info:
        load_serving_config(path)

    assert (info.value.field, info.value.reason) == (
        "file",
        f"cannot read {path}: No such file or directory",
    )


def test_an_empty_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidServingConfigError) as info:
        load_serving_config(write(tmp_path, ""))

    assert (info.value.field, info.value.reason) == (
        "(top level)",
        "must be a mapping with a models list",
    )


# ------------------------------------------------------------------ round trips

_NAMES = st.sampled_from(["txn_count", "amount_sum_24h", "email", "country", "age", "x1"])
_FINITE = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**31), 2**31)
    | st.floats(allow_nan=False, allow_infinity=False, width=32)
    | st.text(max_size=5)
)


@st.composite
def model_configs(draw: st.DrawFn) -> ModelServingConfig:
    columns = draw(st.lists(_NAMES, unique=True, max_size=4))
    views = st.sampled_from(["customer_activity", "merchant"])
    features = tuple(f"{draw(views)}:{column}" for column in columns)
    defaults = (
        draw(st.dictionaries(st.sampled_from(columns), _SCALARS, max_size=len(columns)))
        if columns
        else {}
    )
    return ModelServingConfig(
        draw(st.sampled_from([FRAUD, "fraud/3", "churn", "churn@challenger"])),
        max_batch_size=draw(st.integers(1, 1024)),
        max_wait_ms=draw(_FINITE | st.integers(0, 1000)),
        max_queue=draw(st.integers(1, 100_000)),
        features=features,
        defaults=defaults,
        on_feature_failure=draw(st.sampled_from(["fallback", "reject"])),
        feature_timeout_ms=draw(_FINITE),
        cache_size=draw(st.integers(0, 10_000)),
        pii_fields=tuple(draw(st.lists(_NAMES, max_size=3))),
        threads=draw(st.none() | st.integers(1, 64)),
    )


SERVING_CONFIGS = st.builds(
    ServingConfig,
    st.lists(model_configs(), min_size=1, max_size=3).map(tuple),
    pii_policy=st.sampled_from(["hash", "drop"]),
    log_predictions=st.booleans(),
    breaker_failures=st.integers(1, 100),
    breaker_reset_s=_FINITE,
)


@settings(max_examples=40, deadline=None)
@given(config=SERVING_CONFIGS)
def test_to_dict_reads_back_equal_through_json_and_yaml(config: ServingConfig) -> None:
    data = config.to_dict()

    assert config_from_mapping(data) == config
    assert config_from_mapping(orjson.loads(orjson.dumps(data))) == config
    assert config_from_mapping(yaml.safe_load(yaml.safe_dump(data))) == config


def test_to_dict_writes_plain_values() -> None:
    assert EXAMPLE.to_dict() == {
        "models": [
            {
                "ref": FRAUD,
                "max_batch_size": 64,
                "max_wait_ms": 2,
                "max_queue": 2048,
                "features": list(FEATURES),
                "defaults": {"customer_txn_count_1h": 0, "customer_amount_sum_24h": 0.0},
                "on_feature_failure": "fallback",
                "feature_timeout_ms": 50.0,
                "cache_size": 0,
                "pii_fields": ["customer_id"],
                "threads": None,
            }
        ],
        "pii_policy": "hash",
        "log_predictions": True,
        "breaker_failures": 5,
        "breaker_reset_s": 5.0,
    }


# ------------------------------------------------------------------ overrides


def test_with_overrides_changes_every_model_and_keeps_the_rest() -> None:
    config = ServingConfig(
        (ModelServingConfig(FRAUD, max_wait_ms=5), ModelServingConfig("churn/3", cache_size=10)),
        pii_policy="drop",
    )

    changed = config.with_overrides(max_batch_size=1)

    assert changed == ServingConfig(
        (
            ModelServingConfig(FRAUD, max_batch_size=1, max_wait_ms=5),
            ModelServingConfig("churn/3", max_batch_size=1, cache_size=10),
        ),
        pii_policy="drop",
    )
    assert [model.is_batching for model in changed.models] == [False, False]
    assert config.models[0].max_batch_size == 64  # the original is unchanged


def test_with_no_overrides_returns_the_same_config() -> None:
    config = ServingConfig((ModelServingConfig(FRAUD),))

    assert config.with_overrides() is config


def test_a_bad_override_is_validated_like_any_setting() -> None:
    config = ServingConfig((ModelServingConfig(FRAUD),))

    with pytest.raises(InvalidServingConfigError) as info:
        config.with_overrides(max_wait_ms=-1)

    assert info.value.field == f"{WHERE}.max_wait_ms"
