"""Every error class maps to the exit code of its family (STYLE.md section 4)."""

from __future__ import annotations

import pytest

from modelyard import errors
from modelyard.cli.exitcodes import (
    BUG,
    CONFLICT,
    FAILURE,
    NOT_FOUND,
    SUCCESS,
    UNAVAILABLE,
    USAGE,
    VIOLATION,
    exit_code_for,
)
from modelyard.errors import ModelyardError

# The documented table, family by family. A new family (a direct subclass of ModelyardError)
# is missing here and fails test_every_family_has_a_documented_exit_code until it is given one.
EXPECTED_BY_FAMILY: dict[type[ModelyardError], int] = {
    errors.ModelyardError: 1,
    errors.NotFoundError: 3,
    errors.ConflictError: 4,
    errors.InvalidTransitionError: 4,
    errors.InvalidInputError: 2,
    errors.ContractViolation: 5,
    errors.BackendUnavailableError: 6,
    errors.OverloadedError: 6,
    errors.CorruptArtifactError: 1,
    errors.ScoringFailedError: 1,
    errors.BatchAnswerError: 1,
}


def _family(cls: type[ModelyardError]) -> type[ModelyardError]:
    """The direct subclass of ModelyardError that ``cls`` belongs to (itself for the root)."""
    if cls is ModelyardError:
        return cls
    for ancestor in cls.__mro__:
        if ModelyardError in ancestor.__bases__:
            return ancestor
    raise AssertionError(f"{cls.__name__} does not derive from ModelyardError")


def _instance(cls: type[ModelyardError]) -> ModelyardError:
    # Leaves take typed arguments; the mapping depends on the class only, so skip __init__.
    error = cls.__new__(cls)
    Exception.__init__(error, f"a {cls.__name__}")
    return error


def test_exit_code_constants_are_the_documented_numbers() -> None:
    assert (SUCCESS, FAILURE, USAGE, NOT_FOUND, CONFLICT, VIOLATION, UNAVAILABLE, BUG) == (
        0,
        1,
        2,
        3,
        4,
        5,
        6,
        70,
    )


def test_every_family_has_a_documented_exit_code() -> None:
    families = {_family(cls) for cls in errors.all_error_classes()}

    assert families == set(EXPECTED_BY_FAMILY)


@pytest.mark.parametrize("cls", errors.all_error_classes(), ids=lambda cls: cls.__name__)
def test_error_class_maps_to_its_family_exit_code(cls: type[ModelyardError]) -> None:
    expected = EXPECTED_BY_FAMILY[_family(cls)]

    assert exit_code_for(_instance(cls)) == expected


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (errors.ExperimentNotFoundError("fraud", ["frauds"]), 3),
        (errors.RunNotFoundError("abc"), 3),
        (errors.ExperimentExistsError("fraud"), 4),
        (errors.RunNotActiveError("abc", "FINISHED", "log metric 'auc'"), 4),
        (errors.ExperimentArchivedError("fraud"), 4),
        (errors.InvalidFilterError("metrics.auc >> 3", 13, ">", "expected a value"), 2),
        (errors.InvalidSettingError("db_url", 3, "must be str", "modelyard.toml"), 2),
        (errors.ContractViolation("column amount: must be >= 0"), 5),
        (errors.DatabaseUnavailableError("postgresql+psycopg://u:***@h/db", "refused"), 6),
        (errors.SchemaOutdatedError("sqlite:///m.db", "0009", "0001"), 6),
        (errors.OverloadedError("queue full"), 6),
        (errors.CorruptBlobError("sha256:" + "0" * 64, "sha256:" + "1" * 64, "/a/b"), 1),
        (errors.ModelyardError("something else"), 1),
    ],
    ids=lambda value: type(value).__name__ if isinstance(value, Exception) else str(value),
)
def test_constructed_errors_map_to_their_exit_code(error: ModelyardError, expected: int) -> None:
    assert exit_code_for(error) == expected
