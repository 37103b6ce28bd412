"""The one table from errors to exit codes (../shared/STYLE.md section 4)."""

from __future__ import annotations

from modelyard.errors import (
    BackendUnavailableError,
    ConflictError,
    ContractViolation,
    InvalidInputError,
    InvalidTransitionError,
    ModelyardError,
    NotFoundError,
    OverloadedError,
)

SUCCESS = 0
FAILURE = 1
USAGE = 2
NOT_FOUND = 3
CONFLICT = 4
VIOLATION = 5
UNAVAILABLE = 6
BUG = 70

# Most specific family first; the first match wins.
EXIT_CODES: tuple[tuple[type[ModelyardError], int], ...] = (
    (InvalidInputError, USAGE),
    (NotFoundError, NOT_FOUND),
    (ConflictError, CONFLICT),
    (InvalidTransitionError, CONFLICT),
    (ContractViolation, VIOLATION),
    (BackendUnavailableError, UNAVAILABLE),
    (OverloadedError, UNAVAILABLE),
)


def exit_code_for(error: ModelyardError) -> int:
    """Return the documented exit code of ``error`` (1 for any other ModelyardError)."""
    for family, code in EXIT_CODES:
        if isinstance(error, family):
            return code
    return FAILURE
