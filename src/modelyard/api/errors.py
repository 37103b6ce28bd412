"""The one table from errors to HTTP statuses (../shared/STYLE.md section 4), and the JSON body."""

from __future__ import annotations

import orjson

from modelyard.errors import (
    BackendUnavailableError,
    ConflictError,
    ContractViolation,
    InvalidInputError,
    InvalidTransitionError,
    MalformedRequestError,
    ModelyardError,
    NotFoundError,
    OverloadedError,
)

BAD_REQUEST = 400
NOT_FOUND = 404
CONFLICT = 409
PAYLOAD_TOO_LARGE = 413
UNPROCESSABLE = 422
INTERNAL = 500
UNAVAILABLE = 503

# Most specific first; the first match wins. A body that does not parse at all is a 400; a body
# that parses but breaks a rule is a 422.
HTTP_STATUSES: tuple[tuple[type[ModelyardError], int], ...] = (
    (MalformedRequestError, BAD_REQUEST),
    (InvalidInputError, UNPROCESSABLE),
    (NotFoundError, NOT_FOUND),
    (ConflictError, CONFLICT),
    (InvalidTransitionError, CONFLICT),
    (ContractViolation, UNPROCESSABLE),
    (BackendUnavailableError, UNAVAILABLE),
    (OverloadedError, UNAVAILABLE),
)


def status_for(error: ModelyardError) -> int:
    """Return the documented HTTP status of ``error`` (500 for any other ModelyardError)."""
    for family, status in HTTP_STATUSES:
        if isinstance(error, family):
            return status
    return INTERNAL


def retry_after_s(error: ModelyardError) -> int | None:
    """Return the ``Retry-After`` seconds of a 503, else None."""
    if isinstance(error, BackendUnavailableError | OverloadedError):
        return int(error.retry_after_s)
    return None


def error_body(error: ModelyardError) -> bytes:
    """Return ``{"code", "message", "details"}`` as JSON bytes."""
    return orjson.dumps({"code": error.code, "message": str(error), "details": error.details()})


def plain_error_body(code: str, message: str, details: dict[str, object] | None = None) -> bytes:
    """Return the error body for a failure that is not a ModelyardError (404 route, 413, bug)."""
    return orjson.dumps({"code": code, "message": message, "details": details or {}})
