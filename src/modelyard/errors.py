"""The typed errors modelyard raises; every one derives from ModelyardError.

The tree (a leaf has a stable ``code`` and writes its own message)::

    ModelyardError                          code "error"
    ├── NotFoundError
    │   ├── ExperimentNotFoundError         no experiment of that name or id
    │   ├── RunNotFoundError                no run with that id
    │   ├── BlobNotFoundError               no artifact blob with that digest
    │   └── ArtifactPathNotFoundError       a run has no artifact at that path
    ├── ConflictError
    │   ├── ExperimentExistsError           the name is taken
    │   ├── ParamConflictError              a param logged again with another value
    │   └── ArtifactExistsError             a run's artifact path logged again, other content
    ├── InvalidInputError
    │   ├── InvalidMetricValueError         a metric value that is not a real number
    │   ├── InvalidNameError                an empty or malformed name, key or path
    │   ├── InvalidFilterError              a search filter or order_by that does not parse
    │   ├── InvalidReferenceError           "fraud@champion" / "fraud/3" that does not parse
    │   ├── InvalidSettingError             a bad modelyard.toml or MODELYARD_* value
    │   └── InvalidDigestError              a digest that is not "sha256:<64 hex>"
    ├── ContractViolation                   data that breaks a declared contract
    ├── InvalidTransitionError
    │   ├── RunNotActiveError               writing to a run that has ended
    │   └── ExperimentArchivedError         starting a run in an archived experiment
    ├── CorruptArtifactError
    │   └── CorruptBlobError                a blob whose content no longer matches its digest
    ├── BackendUnavailableError
    │   ├── DatabaseUnavailableError        the metadata database cannot be reached
    │   ├── SchemaOutdatedError             the database schema is newer than this code
    │   └── ArtifactStoreUnavailableError   the artifact store cannot be reached
    └── OverloadedError                     a bounded queue is full; retry later

Interfaces map families to exit codes and HTTP statuses (see ../shared/STYLE.md); a message
says what failed, for which object, and what to do next.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable


class ModelyardError(Exception):
    """Base of every error modelyard raises on purpose."""

    code = "error"

    def details(self) -> dict[str, object]:
        """Return the error's typed attributes, for ``--json`` and HTTP bodies."""
        return {
            key: value
            for key, value in vars(self).items()
            if not key.startswith("_") and _is_jsonable(value)
        }


def _is_jsonable(value: object) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str | int | bool) or value is None:
        return True
    if isinstance(value, list | tuple):
        return all(_is_jsonable(item) for item in value)
    return False


def close_matches(word: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Return up to ``limit`` candidates that look like ``word`` (for "did you mean")."""
    return difflib.get_close_matches(word, list(candidates), n=limit, cutoff=0.6)


def _did_you_mean(suggestions: list[str]) -> str:
    if not suggestions:
        return ""
    return " (did you mean " + ", ".join(f'"{s}"' for s in suggestions) + "?)"


# ------------------------------------------------------------------------- families


class NotFoundError(ModelyardError):
    """Something the caller named does not exist."""

    code = "not_found"


class ConflictError(ModelyardError):
    """The request clashes with what is already stored."""

    code = "conflict"


class InvalidInputError(ModelyardError):
    """The caller's input breaks a rule; nothing was stored."""

    code = "invalid_input"


class ContractViolation(ModelyardError):
    """Data breaks a declared contract."""

    code = "contract_violation"


class InvalidTransitionError(ModelyardError):
    """The object is not in a state that allows this action."""

    code = "invalid_transition"


class CorruptArtifactError(ModelyardError):
    """Stored bytes no longer match what was recorded."""

    code = "corrupt_artifact"


class BackendUnavailableError(ModelyardError):
    """A backend (database, artifact store, cache) cannot be used right now."""

    code = "backend_unavailable"
    retry_after_s = 5


class OverloadedError(ModelyardError):
    """A bounded queue is full; the caller should retry later."""

    code = "overloaded"
    retry_after_s = 1


# ------------------------------------------------------------------------- not found


class ExperimentNotFoundError(NotFoundError):
    """No experiment has that name or id."""

    code = "experiment_not_found"

    def __init__(self, experiment: str, suggestions: list[str] | None = None) -> None:
        self.experiment = experiment
        self.suggestions = suggestions or []
        super().__init__(
            f'no experiment "{experiment}"{_did_you_mean(self.suggestions)}; '
            "see `modelyard experiments ls`"
        )


class RunNotFoundError(NotFoundError):
    """No run has that id."""

    code = "run_not_found"

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        super().__init__(f'no run with id "{run_id}"; see `modelyard runs ls`')


class BlobNotFoundError(NotFoundError):
    """The artifact store has no blob with that digest."""

    code = "blob_not_found"

    def __init__(self, digest: str, root: str) -> None:
        self.digest, self.root = digest, root
        super().__init__(f"artifact store {root} has no blob {digest}")


class ArtifactPathNotFoundError(NotFoundError):
    """A run logged no artifact at that path."""

    code = "artifact_path_not_found"

    def __init__(self, run_id: str, path: str, available: list[str]) -> None:
        self.run_id, self.path, self.available = run_id, path, available
        where = (
            "it has " + ", ".join(available[:5]) + ("…" if len(available) > 5 else "")
            if available
            else "it has no artifacts"
        )
        super().__init__(f'run {run_id} has no artifact "{path}" ({where})')


# ------------------------------------------------------------------------- conflicts


class ExperimentExistsError(ConflictError):
    """An experiment of that name already exists."""

    code = "experiment_exists"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f'experiment "{name}" already exists; pick another name or use it as it is'
        )


class ParamConflictError(ConflictError):
    """A param is immutable within a run: it was logged before with another value."""

    code = "param_conflict"

    def __init__(self, run_id: str, key: str, existing: str, new: str) -> None:
        self.run_id, self.key, self.existing, self.new = run_id, key, existing, new
        super().__init__(
            f'param "{key}" of run {run_id} is already "{existing}" and cannot become '
            f'"{new}"; params are immutable within a run: start a new run to change it'
        )


class ArtifactExistsError(ConflictError):
    """A run's artifact path is immutable: it was logged before with other content."""

    code = "artifact_exists"

    def __init__(self, run_id: str, path: str, existing: str, new: str) -> None:
        self.run_id, self.path, self.existing, self.new = run_id, path, existing, new
        super().__init__(
            f'run {run_id} already has artifact "{path}" ({existing}); the new content is '
            f"{new}: log it under another name"
        )


# ------------------------------------------------------------------------- invalid input


class InvalidMetricValueError(InvalidInputError):
    """A metric value must be a real number (NaN and ±inf included)."""

    code = "invalid_metric_value"

    def __init__(self, name: str, value: object) -> None:
        self.name = name
        self.value = repr(value)
        self.value_type = type(value).__name__
        super().__init__(
            f'metric "{name}": value {value!r} of type {self.value_type} is not a number; '
            "log an int or a float (NaN and ±inf are kept as they are)"
        )


class InvalidNameError(InvalidInputError):
    """A name, key or path breaks its rule."""

    code = "invalid_name"

    def __init__(self, field: str, value: str, rule: str) -> None:
        self.field, self.value, self.rule = field, value, rule
        super().__init__(f"{field} {value!r} is invalid: {rule}")


class InvalidFilterError(InvalidInputError):
    """A search filter (or order_by) does not parse; the message points at the token."""

    code = "invalid_filter"

    def __init__(self, text: str, position: int, token: str, reason: str) -> None:
        self.text, self.position, self.token, self.reason = text, position, token, reason
        caret = " " * position + "^"
        shown = token if token else "end of filter"
        super().__init__(
            f"invalid filter at position {position} ({shown!r}): {reason}\n  {text}\n  {caret}"
        )


class InvalidReferenceError(InvalidInputError):
    """A reference such as "fraud@champion" or "fraud/3" does not parse."""

    code = "invalid_reference"

    def __init__(self, text: str, reason: str) -> None:
        self.text, self.reason = text, reason
        super().__init__(
            f"invalid reference {text!r}: {reason} "
            '(expected "name", "name/VERSION" or "name@ALIAS")'
        )


class InvalidSettingError(InvalidInputError):
    """A setting from modelyard.toml or MODELYARD_* is invalid."""

    code = "invalid_setting"

    def __init__(self, key: str, value: object, rule: str, source: str) -> None:
        self.key, self.value, self.rule, self.source = key, repr(value), rule, source
        super().__init__(f"setting {key}={value!r} from {source} is invalid: {rule}")


class InvalidDigestError(InvalidInputError):
    """A digest must read "sha256:" followed by 64 lowercase hex digits."""

    code = "invalid_digest"

    def __init__(self, digest: str) -> None:
        self.digest = digest
        super().__init__(
            f'invalid digest {digest!r}: expected "sha256:" followed by 64 lowercase hex digits'
        )


# ------------------------------------------------------------------------- transitions


class RunNotActiveError(InvalidTransitionError):
    """The run has ended; it takes no more writes."""

    code = "run_not_active"

    def __init__(self, run_id: str, status: str, action: str) -> None:
        self.run_id, self.status, self.action = run_id, status, action
        super().__init__(
            f"cannot {action}: run {run_id} has ended with status {status}; start a new run"
        )


class ExperimentArchivedError(InvalidTransitionError):
    """Runs cannot start in an archived experiment."""

    code = "experiment_archived"

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f'experiment "{name}" is archived; restore it with '
            f"`modelyard experiments restore {name}` to start runs in it"
        )


# ------------------------------------------------------------------------- corruption


class CorruptBlobError(CorruptArtifactError):
    """A blob's bytes no longer hash to its digest."""

    code = "corrupt_blob"

    def __init__(self, digest: str, actual: str, location: str) -> None:
        self.digest, self.actual, self.location = digest, actual, location
        super().__init__(
            f"artifact blob {digest} at {location} is corrupt: its content hashes to {actual}; "
            "restore it from a backup or log the artifact again"
        )


# ------------------------------------------------------------------------- backends


class DatabaseUnavailableError(BackendUnavailableError):
    """The metadata database cannot be reached or opened."""

    code = "database_unavailable"

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(
            f"cannot use the metadata database {url}: {reason}; check that the server is "
            "running and the URL (db_url / MODELYARD_DB_URL) is right"
        )


class SchemaOutdatedError(BackendUnavailableError):
    """The database was migrated by a newer modelyard than this one."""

    code = "schema_outdated"

    def __init__(self, url: str, revision: str, head: str) -> None:
        self.url, self.revision, self.head = url, revision, head
        super().__init__(
            f"the metadata database {url} is at schema revision {revision}, which this "
            f"modelyard (head {head}) does not know; upgrade modelyard"
        )


class ArtifactStoreUnavailableError(BackendUnavailableError):
    """The artifact store cannot be reached or written."""

    code = "artifact_store_unavailable"

    def __init__(self, root: str, reason: str) -> None:
        self.root, self.reason = root, reason
        super().__init__(f"cannot use the artifact store {root}: {reason}")


def all_error_classes() -> list[type[ModelyardError]]:
    """Return ModelyardError and every subclass, for the interfaces' mapping tests."""
    found: list[type[ModelyardError]] = []
    pending: list[type[ModelyardError]] = [ModelyardError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__name__)
