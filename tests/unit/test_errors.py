"""Tests of modelyard/errors.py: the error tree, codes, messages, details() and close_matches."""

from __future__ import annotations

import inspect
import json
import re

import pytest

from modelyard import errors
from modelyard.errors import (
    AliasNotFoundError,
    ArtifactExistsError,
    ArtifactPathNotFoundError,
    ArtifactStoreUnavailableError,
    BackendUnavailableError,
    BatchAnswerError,
    BlobNotFoundError,
    BreakingFeatureChangeError,
    ContractNotFoundError,
    ContractViolation,
    CorruptBlobError,
    CorruptDatasetError,
    CorruptModelPackageError,
    CorruptOnlineRowError,
    DatabaseUnavailableError,
    DataContractViolation,
    DatasetNotFoundError,
    DatasetVersionNotFoundError,
    ExperimentArchivedError,
    ExperimentExistsError,
    ExperimentNotFoundError,
    FeatureLookupFailedError,
    FeatureNotFoundError,
    FeatureParityError,
    FeaturePushRejectedError,
    FeatureViewNotFoundError,
    FlavorNotInstalledError,
    IncompatibleContractError,
    InvalidContractError,
    InvalidDatasetSourceError,
    InvalidDigestError,
    InvalidEntityFrameError,
    InvalidFeatureDefinitionError,
    InvalidFilterError,
    InvalidMetricValueError,
    InvalidNameError,
    InvalidReferenceError,
    InvalidScoringInputError,
    InvalidServingConfigError,
    InvalidSettingError,
    MalformedRequestError,
    ModelNotReadyError,
    ModelNotServedError,
    ModelVersionExistsError,
    ModelVersionNotFoundError,
    ModelyardError,
    NoRollbackTargetError,
    OnlineStoreUnavailableError,
    OverloadedError,
    ParamConflictError,
    PromotionBlockedError,
    PromotionConflictError,
    QueueFullError,
    RegisteredModelExistsError,
    RegisteredModelNotFoundError,
    RequestContractError,
    RunNotActiveError,
    RunNotFoundError,
    SchemaOutdatedError,
    ScoringFailedError,
    SignatureMismatchError,
    UnsupportedModelError,
    UntrustedPickleError,
    all_error_classes,
    close_matches,
)

RUN = "0123456789abcdef0123456789abcdef"
DIGEST = "sha256:" + "ab" * 32
OTHER_DIGEST = "sha256:" + "cd" * 32

# Every leaf that writes its own message: sample arguments, the exact message, the exact details().
LEAF_CASES: list[tuple[type[ModelyardError], dict[str, object], str, dict[str, object]]] = [
    (
        ExperimentNotFoundError,
        {"experiment": "fruad", "suggestions": ["fraud", "frauds"]},
        'no experiment "fruad" (did you mean "fraud", "frauds"?); see `modelyard experiments ls`',
        {"experiment": "fruad", "suggestions": ["fraud", "frauds"]},
    ),
    (
        RunNotFoundError,
        {"run_id": RUN},
        f'no run with id "{RUN}"; see `modelyard runs ls`',
        {"run_id": RUN},
    ),
    (
        BlobNotFoundError,
        {"digest": DIGEST, "root": "file:///srv/artifacts"},
        f"artifact store file:///srv/artifacts has no blob {DIGEST}",
        {"digest": DIGEST, "root": "file:///srv/artifacts"},
    ),
    (
        ArtifactPathNotFoundError,
        {"run_id": RUN, "path": "model.pkl", "available": ["data.csv", "plot.png"]},
        f'run {RUN} has no artifact "model.pkl" (it has data.csv, plot.png)',
        {"run_id": RUN, "path": "model.pkl", "available": ["data.csv", "plot.png"]},
    ),
    (
        ExperimentExistsError,
        {"name": "fraud"},
        'experiment "fraud" already exists; pick another name or use it as it is',
        {"name": "fraud"},
    ),
    (
        ParamConflictError,
        {"run_id": RUN, "key": "lr", "existing": "0.1", "new": "0.2"},
        f'param "lr" of run {RUN} is already "0.1" and cannot become "0.2"; params are '
        "immutable within a run: start a new run to change it",
        {"run_id": RUN, "key": "lr", "existing": "0.1", "new": "0.2"},
    ),
    (
        ArtifactExistsError,
        {"run_id": RUN, "path": "model.pkl", "existing": DIGEST, "new": OTHER_DIGEST},
        f'run {RUN} already has artifact "model.pkl" ({DIGEST}); the new content is '
        f"{OTHER_DIGEST}: log it under another name",
        {"run_id": RUN, "path": "model.pkl", "existing": DIGEST, "new": OTHER_DIGEST},
    ),
    (
        InvalidMetricValueError,
        {"name": "auc", "value": "high"},
        "metric \"auc\": value 'high' of type str is not a number; log an int or a float "
        "(NaN and ±inf are kept as they are)",
        {"name": "auc", "value": "'high'", "value_type": "str"},
    ),
    (
        InvalidNameError,
        {"field": "experiment name", "value": "my model", "rule": "no spaces"},
        "experiment name 'my model' is invalid: no spaces",
        {"field": "experiment name", "value": "my model", "rule": "no spaces"},
    ),
    (
        InvalidFilterError,
        {"text": "metrics.auc >> 1", "position": 12, "token": ">>", "reason": "unknown operator"},
        "invalid filter at position 12 ('>>'): unknown operator\n"
        "  metrics.auc >> 1\n"
        "              ^",
        {"text": "metrics.auc >> 1", "position": 12, "token": ">>", "reason": "unknown operator"},
    ),
    (
        InvalidReferenceError,
        {"text": "fraud/x", "reason": "bad version"},
        "invalid reference 'fraud/x': bad version "
        '(expected "name", "name/VERSION" or "name@ALIAS")',
        {"text": "fraud/x", "reason": "bad version"},
    ),
    (
        InvalidSettingError,
        {"key": "metrics_batch_size", "value": -1, "rule": "must be > 0", "source": "env"},
        "setting metrics_batch_size=-1 from env is invalid: must be > 0",
        {"key": "metrics_batch_size", "value": "-1", "rule": "must be > 0", "source": "env"},
    ),
    (
        InvalidDigestError,
        {"digest": "md5:abc"},
        "invalid digest 'md5:abc': expected \"sha256:\" followed by 64 lowercase hex digits",
        {"digest": "md5:abc"},
    ),
    (
        RunNotActiveError,
        {"run_id": RUN, "status": "FINISHED", "action": "log a metric"},
        f"cannot log a metric: run {RUN} has ended with status FINISHED; start a new run",
        {"run_id": RUN, "status": "FINISHED", "action": "log a metric"},
    ),
    (
        ExperimentArchivedError,
        {"name": "fraud"},
        'experiment "fraud" is archived; restore it with `modelyard experiments restore fraud` '
        "to start runs in it",
        {"name": "fraud"},
    ),
    (
        CorruptBlobError,
        {"digest": DIGEST, "actual": OTHER_DIGEST, "location": "/srv/a/sha256/ab/x"},
        f"artifact blob {DIGEST} at /srv/a/sha256/ab/x is corrupt: its content hashes to "
        f"{OTHER_DIGEST}; restore it from a backup or log the artifact again",
        {"digest": DIGEST, "actual": OTHER_DIGEST, "location": "/srv/a/sha256/ab/x"},
    ),
    (
        DatabaseUnavailableError,
        {"url": "postgresql://u:***@db/x", "reason": "connection refused"},
        "cannot use the metadata database postgresql://u:***@db/x: connection refused; check "
        "that the server is running and the URL (db_url / MODELYARD_DB_URL) is right",
        {"url": "postgresql://u:***@db/x", "reason": "connection refused"},
    ),
    (
        SchemaOutdatedError,
        {"url": "sqlite:///m.db", "revision": "0009", "head": "0001"},
        "the metadata database sqlite:///m.db is at schema revision 0009, which this "
        "modelyard (head 0001) does not know; upgrade modelyard",
        {"url": "sqlite:///m.db", "revision": "0009", "head": "0001"},
    ),
    (
        ArtifactStoreUnavailableError,
        {"root": "s3://bucket/prefix", "reason": "access denied"},
        "cannot use the artifact store s3://bucket/prefix: access denied",
        {"root": "s3://bucket/prefix", "reason": "access denied"},
    ),
    (
        RegisteredModelNotFoundError,
        {"model": "fruad", "suggestions": ["fraud"]},
        'no registered model "fruad" (did you mean "fraud"?); see `modelyard models ls`',
        {"model": "fruad", "suggestions": ["fraud"]},
    ),
    (
        ModelVersionNotFoundError,
        {"model": "fraud", "version": 9, "latest": 4},
        'model "fraud" has no version 9 (latest is 4); see `modelyard models versions fraud`',
        {"model": "fraud", "version": 9, "latest": 4},
    ),
    (
        AliasNotFoundError,
        {"model": "fraud", "alias": "champoin", "existing": ["champion", "challenger"]},
        'model "fraud" has no alias "champoin" (did you mean "champion"?) '
        "(aliases: champion, challenger); see `modelyard models show fraud`",
        {"model": "fraud", "alias": "champoin", "existing": ["champion", "challenger"]},
    ),
    (
        RegisteredModelExistsError,
        {"model": "fraud"},
        'registered model "fraud" already exists',
        {"model": "fraud"},
    ),
    (
        ModelVersionExistsError,
        {"model": "fraud", "version": 2, "digest": DIGEST},
        f'artifact {DIGEST} is already version 2 of model "fraud" (fraud/2); use that version',
        {"model": "fraud", "version": 2, "digest": DIGEST},
    ),
    (
        UnsupportedModelError,
        {"type_name": "builtins.dict", "supported": ["sklearn", "onnx"]},
        "cannot package a model of type builtins.dict: supported flavors are sklearn, onnx "
        "(an arbitrary object needs trust=True and is pickled)",
        {"type_name": "builtins.dict", "supported": ["sklearn", "onnx"]},
    ),
    (
        UntrustedPickleError,
        {"type_name": "my.Model", "reason": "no safe format"},
        "a model of type my.Model can only be stored as a pickle (no safe format); loading a "
        "pickle runs code, so pass trust=True to accept that (it is recorded on the version)",
        {"type_name": "my.Model", "reason": "no safe format"},
    ),
    (
        SignatureMismatchError,
        {
            "column": "amount",
            "rule": "is missing",
            "problems": ["amount: is missing", "hour: expected int64, got object"],
        },
        "input does not match the model signature: amount: is missing; "
        "hour: expected int64, got object",
        {
            "column": "amount",
            "rule": "is missing",
            "problems": ["amount: is missing", "hour: expected int64, got object"],
        },
    ),
    (
        PromotionBlockedError,
        {
            "model": "fraud",
            "version": 4,
            "stage": "production",
            "failed": ["metric auc 0.8 < 0.9", "smoke test"],
        },
        "promotion of fraud/4 to production blocked by 2 gate(s): metric auc 0.8 < 0.9; "
        "smoke test — fix the model, or pass --force with --reason (audited)",
        {
            "model": "fraud",
            "version": 4,
            "stage": "production",
            "failed": ["metric auc 0.8 < 0.9", "smoke test"],
        },
    ),
    (
        NoRollbackTargetError,
        {"model": "fraud"},
        'model "fraud" has no earlier production version to roll back to; see '
        "`modelyard models history fraud`",
        {"model": "fraud"},
    ),
    (
        PromotionConflictError,
        {"model": "fraud", "version": 5, "expected": 3, "actual": 4},
        "production of fraud changed from version 3 to version 4 while the gates of fraud/5 "
        "ran; promote again to evaluate against the new champion",
        {"model": "fraud", "version": 5, "expected": 3, "actual": 4},
    ),
    (
        FlavorNotInstalledError,
        {"flavor": "xgboost", "model_type": "xgboost.sklearn.XGBClassifier"},
        "the xgboost flavor of xgboost.sklearn.XGBClassifier needs its library, which is not "
        "installed here: pip install 'modelyard[xgboost]'",
        {"flavor": "xgboost", "model_type": "xgboost.sklearn.XGBClassifier"},
    ),
    (
        CorruptModelPackageError,
        {"reason": "model.skops missing"},
        "unusable model package: model.skops missing",
        {"reason": "model.skops missing"},
    ),
    (
        DatasetNotFoundError,
        {"dataset": "transactons", "existing": ["transactions"]},
        'no dataset "transactons" (did you mean "transactions"?); see `modelyard data ls`',
        {"dataset": "transactons", "suggestions": ["transactions"]},
    ),
    (
        DatasetVersionNotFoundError,
        {"dataset": "transactions", "version": "9", "latest": 3},
        'dataset "transactions" has no version 9 (latest is 3); '
        "see `modelyard data show transactions`",
        {"dataset": "transactions", "version": "9", "latest": 3},
    ),
    (
        ContractNotFoundError,
        {"contract": "transaction", "version": 2, "existing": ["transactions"]},
        'no contract "transaction" version 2 (did you mean "transactions"?) in this workspace',
        {"contract": "transaction", "version": 2, "suggestions": ["transactions"]},
    ),
    (
        InvalidDatasetSourceError,
        {"source": "/data/x.parquet", "reason": "it is not a Parquet file"},
        "cannot add dataset from /data/x.parquet: it is not a Parquet file; nothing was stored",
        {"source": "/data/x.parquet", "reason": "it is not a Parquet file"},
    ),
    (
        InvalidContractError,
        {"source": "c.yaml", "key": "columns.amount.tpye", "reason": "unknown key", "line": 3},
        "invalid contract c.yaml, line 3 at columns.amount.tpye: unknown key",
        {"source": "c.yaml", "key": "columns.amount.tpye", "reason": "unknown key", "line": 3},
    ),
    (
        DataContractViolation,
        {"contract": "tx", "data": "tx/2", "failed": ["columns.amount.type"]},
        'tx/2 breaks contract "tx": 1 error rule(s) failed: columns.amount.type',
        {"contract": "tx", "data": "tx/2", "failed": ["columns.amount.type"]},
    ),
    (
        IncompatibleContractError,
        {"old": "old.yaml", "new": "new.yaml", "breaking": ["amount removed"]},
        "new.yaml is not backward compatible with old.yaml: amount removed",
        {"old": "old.yaml", "new": "new.yaml", "breaking": ["amount removed"]},
    ),
    (
        CorruptDatasetError,
        {"dataset": "tx", "version": 2, "reason": "bad footer"},
        "dataset tx/2 cannot be read: bad footer; run `modelyard data show tx/2` and add the "
        "data again",
        {"dataset": "tx", "version": 2, "reason": "bad footer"},
    ),
    (
        FeatureViewNotFoundError,
        {"view": "customer_stat", "existing": ["customer_stats"], "kind": "feature view"},
        'no feature view "customer_stat" (did you mean "customer_stats"?); '
        "see `modelyard features plan`",
        {"view": "customer_stat", "kind": "feature view", "suggestions": ["customer_stats"]},
    ),
    (
        FeatureNotFoundError,
        {"reference": "customer_stats:txn_cnt_7d", "suggestions": ["customer_stats:txn_count_7d"]},
        'no feature "customer_stats:txn_cnt_7d" (did you mean "customer_stats:txn_count_7d"?)',
        {"reference": "customer_stats:txn_cnt_7d", "suggestions": ["customer_stats:txn_count_7d"]},
    ),
    (
        InvalidFeatureDefinitionError,
        {"source": "f.yaml", "key": "views.stats.ttl", "reason": "not a duration", "line": 7},
        "invalid feature definition f.yaml, line 7 at views.stats.ttl: not a duration",
        {"source": "f.yaml", "key": "views.stats.ttl", "reason": "not a duration", "line": 7},
    ),
    (
        InvalidEntityFrameError,
        {"column": "customer_id", "reason": "missing (the join key of entity customer)"},
        'entity frame column "customer_id": missing (the join key of entity customer)',
        {"column": "customer_id", "reason": "missing (the join key of entity customer)"},
    ),
    (
        BreakingFeatureChangeError,
        {"view": "stats", "changes": ["txn_count_7d retyped int64 -> float64"]},
        'applying feature view "stats" would break its consumers: txn_count_7d retyped int64 '
        "-> float64 — add a new feature or view instead, or pass allow_breaking "
        "(--allow-breaking)",
        {"view": "stats", "changes": ["txn_count_7d retyped int64 -> float64"]},
    ),
    (
        FeaturePushRejectedError,
        {"view": "stats", "problems": ["amount: expected float64, got string"]},
        'push to feature view "stats" rejected, nothing written: amount: expected float64, '
        "got string",
        {"view": "stats", "problems": ["amount: expected float64, got string"]},
    ),
    (
        FeatureParityError,
        {"view": "stats", "mismatches": 3, "checked": 1000},
        'feature view "stats": 3 of 1000 online values differ from the offline values as of '
        "the same time (training-serving skew)",
        {"view": "stats", "mismatches": 3, "checked": 1000},
    ),
    (
        BatchAnswerError,
        {"model": "fraud", "requests": 3, "answers": 2},
        'model "fraud": a batch of 3 requests got 2 answers; nothing was answered from it',
        {"model": "fraud", "requests": 3, "answers": 2},
    ),
    (
        ModelNotServedError,
        {"model": "fruad", "served": ["fraud/1", "fraud/2"], "version": None},
        'this server does not serve model "fruad" (did you mean "fraud"?); it serves: fraud/1, '
        "fraud/2 (see GET /v1/models)",
        {"model": "fruad", "served": ["fraud/1", "fraud/2"], "version": None},
    ),
    (
        MalformedRequestError,
        {"reason": "not valid JSON: unexpected end of data"},
        "malformed request body: not valid JSON: unexpected end of data",
        {"reason": "not valid JSON: unexpected end of data"},
    ),
    (
        InvalidServingConfigError,
        {"field": "models[0].max_batch_size", "reason": "must be at least 1", "source": "s.yaml"},
        "s.yaml: serving config models[0].max_batch_size: must be at least 1",
        {"field": "models[0].max_batch_size", "reason": "must be at least 1", "source": "s.yaml"},
    ),
    (
        InvalidScoringInputError,
        {"field": "input", "reason": "no such file or dataset: tx.parquet"},
        "batch scoring input: no such file or dataset: tx.parquet",
        {"field": "input", "reason": "no such file or dataset: tx.parquet"},
    ),
    (
        RequestContractError,
        {
            "model": "fraud",
            "problems": [
                {"field": "amount", "rule": "type", "message": "row 0: expected a number"}
            ],
        },
        'request does not match the signature of model "fraud": amount: row 0: expected a number',
        {
            "model": "fraud",
            "problems": [
                {"field": "amount", "rule": "type", "message": "row 0: expected a number"}
            ],
        },
    ),
    (
        FeatureLookupFailedError,
        {"model": "fraud", "reason": "no answer within 50 ms", "breaker": "open"},
        'cannot read the online features of model "fraud": no answer within 50 ms (circuit '
        "open); the model's on_feature_failure is reject, so no prediction was made; retry later "
        "or serve it with on_feature_failure: fallback",
        {"model": "fraud", "reason": "no answer within 50 ms", "breaker": "open"},
    ),
    (
        ModelNotReadyError,
        {"pending": ["fraud@champion"]},
        "the server is still loading or warming up: fraud@champion; retry shortly",
        {"pending": ["fraud@champion"]},
    ),
    (
        QueueFullError,
        {"model": "fraud", "max_queue": 2048, "retry_after_s": 1},
        'model "fraud" has 2048 requests waiting (its max_queue); the request was not queued: '
        "retry after 1 s, or serve with a larger max_queue or more workers",
        {"model": "fraud", "max_queue": 2048, "retry_after_s": 1},
    ),
    (
        ScoringFailedError,
        {"failed": ["part-00003"], "reasons": ["corrupt footer"], "output": "/tmp/scores"},
        "1 partition(s) failed: part-00003: corrupt footer; the completed partitions are in "
        "/tmp/scores, and running the same command again scores only the failed ones",
        {"failed": ["part-00003"], "reasons": ["corrupt footer"], "output": "/tmp/scores"},
    ),
    (
        OnlineStoreUnavailableError,
        {"url": "redis://127.0.0.1:1/0", "reason": "connection refused", "written": 0},
        "cannot use the online store redis://127.0.0.1:1/0: connection refused; nothing was "
        "written",
        {"url": "redis://127.0.0.1:1/0", "reason": "connection refused", "written": 0},
    ),
    (
        CorruptOnlineRowError,
        {"url": "redis://h:6379/0", "view": "stats", "reason": "truncated"},
        'a stored row of view "stats" in the online store redis://h:6379/0 cannot be decoded '
        "(truncated); materialize the view again",
        {"url": "redis://h:6379/0", "view": "stats", "reason": "truncated"},
    ),
]
CASE_IDS = [case[0].__name__ for case in LEAF_CASES]


def _documented_tree() -> dict[str, str | None]:
    """Map each class named in the module docstring's tree to its documented parent."""
    doc = errors.__doc__ or ""
    parents: dict[str, str | None] = {}
    stack: list[str] = []
    for line in doc.splitlines():
        match = re.match(r"^ {4}((?:│   |    )*)(?:├── |└── )?([A-Z]\w+)(?:\s|$)", line)
        if match is None:
            continue
        prefix, name = match.groups()
        depth = len(prefix) // 4 + (1 if name != "ModelyardError" else 0)
        del stack[depth:]
        parents[name] = stack[-1] if stack else None
        stack.append(name)
    return parents


def _leaves_with_messages() -> set[type[ModelyardError]]:
    return {cls for cls in all_error_classes() if "__init__" in vars(cls)}


# ------------------------------------------------------------------------- the tree


def test_all_error_classes_lists_the_base_and_every_subclass_sorted_by_name() -> None:
    classes = all_error_classes()

    assert [cls.__name__ for cls in classes] == sorted(cls.__name__ for cls in classes)
    assert len(classes) == len(set(classes))
    assert ModelyardError in classes
    assert {CorruptBlobError, InvalidDigestError, BlobNotFoundError} <= set(classes)


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda cls: cls.__name__)
def test_every_error_class_derives_from_modelyard_error(cls: type[ModelyardError]) -> None:
    assert issubclass(cls, ModelyardError)
    assert issubclass(cls, Exception)


def test_codes_are_unique_and_non_empty_snake_case() -> None:
    codes = {cls.__name__: cls.code for cls in all_error_classes()}

    assert len(set(codes.values())) == len(codes)
    for name, code in codes.items():
        assert re.fullmatch(r"[a-z]+(_[a-z]+)*", code), f"{name}.code = {code!r}"
    assert codes["ModelyardError"] == "error"
    assert codes["CorruptBlobError"] == "corrupt_blob"


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda cls: cls.__name__)
def test_every_class_defines_its_own_code(cls: type[ModelyardError]) -> None:
    assert "code" in vars(cls)


def test_module_docstring_tree_matches_the_class_hierarchy() -> None:
    documented = _documented_tree()
    actual = {
        cls.__name__: (None if cls is ModelyardError else cls.__bases__[0].__name__)
        for cls in all_error_classes()
    }

    assert documented == actual


def test_retry_after_is_set_on_the_retryable_families() -> None:
    assert BackendUnavailableError.retry_after_s == 5
    assert DatabaseUnavailableError.retry_after_s == 5
    assert ArtifactStoreUnavailableError.retry_after_s == 5
    assert OverloadedError.retry_after_s == 1


# ------------------------------------------------------------------------- leaf messages


def test_the_cases_cover_every_leaf_that_writes_its_own_message() -> None:
    assert {case[0] for case in LEAF_CASES} == _leaves_with_messages()


@pytest.mark.parametrize(("cls", "kwargs", "message", "details"), LEAF_CASES, ids=CASE_IDS)
def test_case_arguments_match_the_constructor_signature(
    cls: type[ModelyardError], kwargs: dict[str, object], message: str, details: dict[str, object]
) -> None:
    parameters = list(inspect.signature(cls.__init__).parameters)[1:]

    assert list(kwargs) == parameters


@pytest.mark.parametrize(("cls", "kwargs", "message", "details"), LEAF_CASES, ids=CASE_IDS)
def test_leaf_message_says_what_failed(
    cls: type[ModelyardError], kwargs: dict[str, object], message: str, details: dict[str, object]
) -> None:
    error = cls(**kwargs)

    assert str(error) == message
    for value in kwargs.values():
        for shown in value if isinstance(value, list) else [value]:
            if isinstance(shown, dict):  # a problem: its field and message are shown
                assert f"{shown['field']}: {shown['message']}" in str(error)
            elif shown is not None:
                assert str(shown) in str(error)


@pytest.mark.parametrize(("cls", "kwargs", "message", "details"), LEAF_CASES, ids=CASE_IDS)
def test_leaf_details_are_its_json_serialisable_attributes(
    cls: type[ModelyardError], kwargs: dict[str, object], message: str, details: dict[str, object]
) -> None:
    error = cls(**kwargs)

    assert error.details() == details
    assert json.loads(json.dumps(error.details())) == details


@pytest.mark.parametrize(("cls", "kwargs", "message", "details"), LEAF_CASES, ids=CASE_IDS)
def test_leaf_can_be_raised_and_caught_as_its_family(
    cls: type[ModelyardError], kwargs: dict[str, object], message: str, details: dict[str, object]
) -> None:
    family = cls.__bases__[0]

    with pytest.raises(family, match=re.escape(message[:20])):
        raise cls(**kwargs)


def test_experiment_not_found_without_suggestions_has_no_did_you_mean() -> None:
    error = ExperimentNotFoundError("fraud")

    assert str(error) == 'no experiment "fraud"; see `modelyard experiments ls`'
    assert error.details() == {"experiment": "fraud", "suggestions": []}


def test_artifact_path_not_found_lists_at_most_five_and_marks_the_rest() -> None:
    available = [f"f{i}.txt" for i in range(7)]

    error = ArtifactPathNotFoundError(RUN, "model.pkl", available)

    assert str(error) == (
        f'run {RUN} has no artifact "model.pkl" (it has f0.txt, f1.txt, f2.txt, f3.txt, f4.txt…)'
    )
    assert error.details()["available"] == available


def test_artifact_path_not_found_on_a_run_without_artifacts() -> None:
    error = ArtifactPathNotFoundError(RUN, "model.pkl", [])

    assert str(error) == f'run {RUN} has no artifact "model.pkl" (it has no artifacts)'


def test_invalid_filter_at_the_end_names_the_end_of_the_filter() -> None:
    error = InvalidFilterError("params.lr =", 11, "", "expected a value")

    assert str(error) == (
        "invalid filter at position 11 ('end of filter'): expected a value\n"
        "  params.lr =\n"
        "             ^"
    )


def test_invalid_metric_value_keeps_the_repr_and_type_of_an_object() -> None:
    error = InvalidMetricValueError("auc", [0.9])

    assert error.details() == {"name": "auc", "value": "[0.9]", "value_type": "list"}
    assert "value [0.9] of type list is not a number" in str(error)


# ------------------------------------------------------------------------- details()


def test_family_errors_raised_with_a_plain_message_have_no_details() -> None:
    error = ContractViolation("column amount has nulls")

    assert str(error) == "column amount has nulls"
    assert error.details() == {}


def test_details_keeps_json_values_and_drops_private_and_non_json_ones() -> None:
    error = ModelyardError("boom")
    error.count = 3  # type: ignore[attr-defined]
    error.ratio = 0.5  # type: ignore[attr-defined]
    error.flag = False  # type: ignore[attr-defined]
    error.missing = None  # type: ignore[attr-defined]
    error.names = ("a", "b")  # type: ignore[attr-defined]
    error.nested = [1, [2, "x"]]  # type: ignore[attr-defined]
    error._private = "hidden"  # type: ignore[attr-defined]
    error.nan = float("nan")  # type: ignore[attr-defined]
    error.inf = float("-inf")  # type: ignore[attr-defined]
    error.obj = object()  # type: ignore[attr-defined]
    error.mapping = {"a": 1}  # type: ignore[attr-defined]
    error.bad_mapping = {1: "a"}  # type: ignore[attr-defined]
    error.mixed = [1, object()]  # type: ignore[attr-defined]

    details = error.details()

    assert details == {
        "count": 3,
        "ratio": 0.5,
        "flag": False,
        "missing": None,
        "names": ("a", "b"),
        "nested": [1, [2, "x"]],
        "mapping": {"a": 1},
    }
    assert json.loads(json.dumps(details, allow_nan=False)) == {
        "count": 3,
        "ratio": 0.5,
        "flag": False,
        "missing": None,
        "names": ["a", "b"],
        "nested": [1, [2, "x"]],
        "mapping": {"a": 1},
    }


# ------------------------------------------------------------------------- close_matches


def test_close_matches_returns_the_most_similar_first() -> None:
    assert close_matches("fraud", ["churn", "fraud-v2", "frau"]) == ["frau", "fraud-v2"]


def test_close_matches_respects_the_limit() -> None:
    candidates = ["fraudster", "fraud-v2", "frau", "frauds"]

    assert close_matches("fraud", candidates) == ["frauds", "frau", "fraud-v2"]
    assert close_matches("fraud", candidates, limit=1) == ["frauds"]


def test_close_matches_returns_nothing_when_nothing_is_similar() -> None:
    assert close_matches("fraud", ["churn", "pricing"]) == []
    assert close_matches("fraud", []) == []


def test_close_matches_accepts_any_iterable() -> None:
    assert close_matches("churn", (name for name in ["churm", "fraud"])) == ["churm"]


@pytest.mark.parametrize(
    ("written", "ending"),
    [
        (None, "connection refused"),
        (0, "connection refused; nothing was written"),
        (
            2000,
            "connection refused; 2000 entities were written before the failure, and writing "
            "the same rows again is safe",
        ),
    ],
)
def test_an_online_store_error_says_how_much_was_written(written: int | None, ending: str) -> None:
    error = OnlineStoreUnavailableError("redis://h:6379/0", "connection refused", written)

    assert str(error) == f"cannot use the online store redis://h:6379/0: {ending}"
