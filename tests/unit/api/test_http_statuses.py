"""Every error class maps to the HTTP status of its family (STYLE.md section 4); 503s carry
Retry-After; error bodies are {"code", "message", "details"}."""

from __future__ import annotations

import orjson
import pytest

from modelyard import errors
from modelyard.api.errors import (
    BAD_REQUEST,
    CONFLICT,
    INTERNAL,
    NOT_FOUND,
    UNAVAILABLE,
    UNPROCESSABLE,
    error_body,
    plain_error_body,
    retry_after_s,
    status_for,
)
from modelyard.errors import ModelyardError

# The documented table, family by family. A new family (a direct subclass of ModelyardError)
# is missing here and fails test_every_family_has_a_documented_status until it is given one.
EXPECTED_BY_FAMILY: dict[type[ModelyardError], int] = {
    errors.ModelyardError: 500,
    errors.NotFoundError: 404,
    errors.ConflictError: 409,
    errors.InvalidTransitionError: 409,
    errors.InvalidInputError: 422,
    errors.ContractViolation: 422,
    errors.BackendUnavailableError: 503,
    errors.OverloadedError: 503,
    errors.CorruptArtifactError: 500,
    errors.ScoringFailedError: 500,
    errors.BatchAnswerError: 500,
}
# A body that does not parse at all is a bad request, not an unprocessable one.
EXCEPTIONS: dict[type[ModelyardError], int] = {errors.MalformedRequestError: 400}


def _family(cls: type[ModelyardError]) -> type[ModelyardError]:
    """The direct subclass of ModelyardError that ``cls`` belongs to (itself for the root)."""
    if cls is ModelyardError:
        return cls
    for ancestor in cls.__mro__:
        if ModelyardError in ancestor.__bases__:
            return ancestor
    raise AssertionError(f"{cls.__name__} does not derive from ModelyardError")


def _expected(cls: type[ModelyardError]) -> int:
    return EXCEPTIONS.get(cls, EXPECTED_BY_FAMILY[_family(cls)])


def _instance(cls: type[ModelyardError]) -> ModelyardError:
    # Leaves take typed arguments; the mapping depends on the class only, so skip __init__.
    error = cls.__new__(cls)
    Exception.__init__(error, f"a {cls.__name__}")
    return error


def test_status_constants_are_the_documented_numbers() -> None:
    assert (BAD_REQUEST, NOT_FOUND, CONFLICT, UNPROCESSABLE, INTERNAL, UNAVAILABLE) == (
        400,
        404,
        409,
        422,
        500,
        503,
    )


def test_every_family_has_a_documented_status() -> None:
    families = {_family(cls) for cls in errors.all_error_classes()}

    assert families == set(EXPECTED_BY_FAMILY)


@pytest.mark.parametrize("cls", errors.all_error_classes(), ids=lambda cls: cls.__name__)
def test_error_class_maps_to_its_family_status(cls: type[ModelyardError]) -> None:
    assert status_for(_instance(cls)) == _expected(cls)


@pytest.mark.parametrize("cls", errors.all_error_classes(), ids=lambda cls: cls.__name__)
def test_only_503s_carry_a_retry_after(cls: type[ModelyardError]) -> None:
    seconds = retry_after_s(_instance(cls))

    if _expected(cls) == 503:
        assert isinstance(seconds, int)
        assert seconds >= 1
    else:
        assert seconds is None


@pytest.mark.parametrize(
    ("error", "status", "retry_after"),
    [
        (errors.MalformedRequestError("not valid JSON"), 400, None),
        (errors.RequestContractError("fraud", []), 422, None),
        (errors.InvalidServingConfigError("models", "name a model"), 422, None),
        (errors.ModelNotServedError("fruad", ["fraud"]), 404, None),
        (errors.ModelVersionNotFoundError("fraud", 9, 7), 404, None),
        (errors.ModelVersionExistsError("fraud", 3, "sha256:" + "0" * 64), 409, None),
        (errors.RunNotActiveError("abc", "FINISHED", "log metric 'auc'"), 409, None),
        (errors.QueueFullError("fraud", 8, retry_after_s=3), 503, 3),
        (errors.QueueFullError("fraud", 8), 503, 1),
        (errors.ModelNotReadyError(["fraud"]), 503, 1),
        (errors.OnlineStoreUnavailableError("redis://h:6379/0", "refused"), 503, 5),
        (errors.FeatureLookupFailedError("fraud", "timeout", "open"), 503, 5),
        (errors.CorruptModelPackageError("no MLmodel"), 500, None),
        (errors.ModelyardError("something else"), 500, None),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_constructed_errors_map_to_their_status_and_retry_after(
    error: ModelyardError, status: int, retry_after: int | None
) -> None:
    assert (status_for(error), retry_after_s(error)) == (status, retry_after)


def test_error_body_holds_code_message_and_typed_details() -> None:
    error = errors.ModelVersionNotFoundError("fraud", 9, 7)

    assert orjson.loads(error_body(error)) == {
        "code": "model_version_not_found",
        "message": str(error),
        "details": {"model": "fraud", "version": 9, "latest": 7},
    }


def test_a_request_contract_error_body_lists_each_problem() -> None:
    problems = [{"field": "amount", "rule": "type", "message": "row 0: expected a number"}]
    error = errors.RequestContractError("fraud", problems)

    assert orjson.loads(error_body(error)) == {
        "code": "request_contract_violation",
        "message": 'request does not match the signature of model "fraud": amount: row 0: '
        "expected a number",
        "details": {"model": "fraud", "problems": problems},
    }


def test_a_queue_full_body_names_the_model_and_its_max_queue() -> None:
    error = errors.QueueFullError("fraud", 8)

    body = orjson.loads(error_body(error))

    assert (body["code"], body["details"]) == (
        "queue_full",
        {"model": "fraud", "max_queue": 8, "retry_after_s": 1},
    )
    assert body["message"].startswith('model "fraud" has 8 requests waiting (its max_queue)')


def test_a_plain_error_body_defaults_its_details_to_an_empty_object() -> None:
    assert orjson.loads(plain_error_body("not_found", "no route /v3")) == {
        "code": "not_found",
        "message": "no route /v3",
        "details": {},
    }
    assert orjson.loads(plain_error_body("payload_too_large", "too big", {"limit": 10})) == {
        "code": "payload_too_large",
        "message": "too big",
        "details": {"limit": 10},
    }
