"""The typed errors modelyard raises; every one derives from ModelyardError.

The tree (a leaf has a stable ``code`` and writes its own message)::

    ModelyardError                          code "error"
    ├── NotFoundError
    │   ├── ExperimentNotFoundError         no experiment of that name or id
    │   ├── RunNotFoundError                no run with that id
    │   ├── BlobNotFoundError               no artifact blob with that digest
    │   ├── ArtifactPathNotFoundError       a run has no artifact at that path
    │   ├── RegisteredModelNotFoundError    no registered model of that name
    │   ├── ModelVersionNotFoundError       a model has no such version
    │   ├── AliasNotFoundError              a model has no such alias
    │   ├── DatasetNotFoundError            no dataset of that name
    │   ├── DatasetVersionNotFoundError     a dataset has no such version or tag
    │   ├── ContractNotFoundError           no stored contract of that name or version
    │   ├── FeatureViewNotFoundError        no applied feature view or entity of that name
    │   ├── FeatureNotFoundError            a "view:feature" reference names no feature
    │   └── ModelNotServedError             the server hosts no such model or version
    ├── ConflictError
    │   ├── ExperimentExistsError           the name is taken
    │   ├── ParamConflictError              a param logged again with another value
    │   ├── ArtifactExistsError             a run's artifact path logged again, other content
    │   ├── RegisteredModelExistsError      the model name is taken
    │   ├── ModelVersionExistsError         that artifact is already a version of the model
    │   ├── BreakingFeatureChangeError      a feature retyped or removed in place
    │   └── PromotionConflictError          production changed while the gates ran
    ├── InvalidInputError
    │   ├── InvalidMetricValueError         a metric value that is not a real number
    │   ├── InvalidNameError                an empty or malformed name, key or path
    │   ├── InvalidFilterError              a search filter or order_by that does not parse
    │   ├── InvalidReferenceError           "fraud@champion" / "fraud/3" that does not parse
    │   ├── InvalidSettingError             a bad modelyard.toml or MODELYARD_* value
    │   ├── InvalidDigestError              a digest that is not "sha256:<64 hex>"
    │   ├── UnsupportedModelError           a model object no flavor can package
    │   ├── UntrustedPickleError            only pickle could store it, and trust=False
    │   ├── FlavorNotInstalledError         a stored model's library is missing here
    │   ├── InvalidDatasetSourceError       a dataset source missing, unsupported, corrupt, empty
    │   ├── InvalidContractError            a contract that does not parse (line and key named)
    │   ├── InvalidFeatureDefinitionError   an entity or feature view that does not parse
    │   ├── InvalidEntityFrameError         an entity frame without its keys or timestamps
    │   ├── MalformedRequestError           a request body that does not parse (HTTP 400)
    │   ├── InvalidServingConfigError       a serving configuration that does not parse
    │   └── InvalidScoringInputError        batch-scoring input or output that cannot be used
    ├── ContractViolation                   data that breaks a declared contract
    │   ├── SignatureMismatchError          model input missing, extra or mistyped column
    │   ├── PromotionBlockedError           a promotion gate failed
    │   ├── DataContractViolation           data fails error rules of a data contract
    │   ├── IncompatibleContractError       a new contract version breaks the old one
    │   ├── FeaturePushRejectedError        pushed rows that do not match the view's schema
    │   ├── FeatureParityError              online values differ from offline ones
    │   └── RequestContractError            a request whose fields break the model's signature
    ├── InvalidTransitionError
    │   ├── RunNotActiveError               writing to a run that has ended
    │   ├── ExperimentArchivedError         starting a run in an archived experiment
    │   └── NoRollbackTargetError           no earlier production version to return to
    ├── CorruptArtifactError
    │   ├── CorruptBlobError                a blob whose content no longer matches its digest
    │   ├── CorruptModelPackageError        a model package whose files cannot be used
    │   ├── CorruptDatasetError             a stored dataset version that cannot be read
    │   └── CorruptOnlineRowError           an online-store row that cannot be decoded
    ├── BackendUnavailableError
    │   ├── DatabaseUnavailableError        the metadata database cannot be reached
    │   ├── SchemaOutdatedError             the database schema is newer than this code
    │   ├── ArtifactStoreUnavailableError   the artifact store cannot be reached
    │   ├── OnlineStoreUnavailableError     the online feature store cannot be reached
    │   ├── FeatureLookupFailedError        enrichment failed and the model rejects fallbacks
    │   └── ModelNotReadyError              the server is still loading or warming its models
    ├── OverloadedError                     a bounded queue is full; retry later
    │   └── QueueFullError                  a model's request queue is full
    ├── ScoringFailedError                  batch-scoring partitions failed; re-run resumes
    └── BatchAnswerError                    a batch function answered the wrong number of requests

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
    if isinstance(value, dict):
        return all(isinstance(key, str) and _is_jsonable(item) for key, item in value.items())
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


class RegisteredModelNotFoundError(NotFoundError):
    """No registered model has that name."""

    code = "registered_model_not_found"

    def __init__(self, model: str, suggestions: list[str] | None = None) -> None:
        self.model = model
        self.suggestions = suggestions or []
        super().__init__(
            f'no registered model "{model}"{_did_you_mean(self.suggestions)}; '
            "see `modelyard models ls`"
        )


class ModelVersionNotFoundError(NotFoundError):
    """A registered model has no such version."""

    code = "model_version_not_found"

    def __init__(self, model: str, version: int, latest: int | None) -> None:
        self.model, self.version, self.latest = model, version, latest
        where = f"latest is {latest}" if latest is not None else "no versions registered yet"
        super().__init__(
            f'model "{model}" has no version {version} ({where}); '
            f"see `modelyard models versions {model}`"
        )


class AliasNotFoundError(NotFoundError):
    """A registered model has no such alias (or stage)."""

    code = "alias_not_found"

    def __init__(self, model: str, alias: str, existing: list[str]) -> None:
        self.model, self.alias, self.existing = model, alias, existing
        suggestions = close_matches(alias, existing)
        have = ", ".join(existing) if existing else "none"
        super().__init__(
            f'model "{model}" has no alias "{alias}"{_did_you_mean(suggestions)} '
            f"(aliases: {have}); see `modelyard models show {model}`"
        )


class DatasetNotFoundError(NotFoundError):
    """No dataset has that name."""

    code = "dataset_not_found"

    def __init__(self, dataset: str, existing: list[str]) -> None:
        self.dataset = dataset
        self.suggestions = close_matches(dataset, existing)
        super().__init__(
            f'no dataset "{dataset}"{_did_you_mean(self.suggestions)}; see `modelyard data ls`'
        )


class DatasetVersionNotFoundError(NotFoundError):
    """A dataset has no such version (or tag)."""

    code = "dataset_version_not_found"

    def __init__(self, dataset: str, version: str, latest: int | None) -> None:
        self.dataset, self.version, self.latest = dataset, version, latest
        where = f"latest is {latest}" if latest is not None else "no versions added yet"
        super().__init__(
            f'dataset "{dataset}" has no version {version} ({where}); '
            f"see `modelyard data show {dataset}`"
        )


class ContractNotFoundError(NotFoundError):
    """No stored contract has that name (or version)."""

    code = "contract_not_found"

    def __init__(self, contract: str, version: int | None, existing: list[str]) -> None:
        self.contract, self.version = contract, version
        self.suggestions = close_matches(contract, existing)
        what = f'contract "{contract}"' + (f" version {version}" if version is not None else "")
        super().__init__(f"no {what}{_did_you_mean(self.suggestions)} in this workspace")


class FeatureViewNotFoundError(NotFoundError):
    """No feature view (or entity) of that name has been applied."""

    code = "feature_view_not_found"

    def __init__(self, view: str, existing: list[str], kind: str = "feature view") -> None:
        self.view, self.kind = view, kind
        self.suggestions = close_matches(view, existing)
        super().__init__(
            f'no {kind} "{view}"{_did_you_mean(self.suggestions)}; see `modelyard features plan`'
        )


class FeatureNotFoundError(NotFoundError):
    """A feature reference ("view:feature") names no applied feature."""

    code = "feature_not_found"

    def __init__(self, reference: str, suggestions: list[str]) -> None:
        self.reference, self.suggestions = reference, suggestions
        super().__init__(f'no feature "{reference}"{_did_you_mean(suggestions)}')


class ModelNotServedError(NotFoundError):
    """The server hosts no model (or no version of it) under that name."""

    code = "model_not_served"

    def __init__(self, model: str, served: list[str], version: str | None = None) -> None:
        self.model, self.served, self.version = model, served, version
        what = f'model "{model}"' if version is None else f'version {version} of model "{model}"'
        hosted = ", ".join(served) if served else "none"
        names = sorted({reference.split("/", 1)[0] for reference in served} - {model})
        super().__init__(
            f"this server does not serve {what}{_did_you_mean(close_matches(model, names))}; "
            f"it serves: {hosted} (see GET /v1/models)"
        )


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


class RegisteredModelExistsError(ConflictError):
    """A registered model of that name already exists."""

    code = "registered_model_exists"

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(f'registered model "{model}" already exists')


class ModelVersionExistsError(ConflictError):
    """The same artifact is already registered as a version of this model."""

    code = "model_version_exists"

    def __init__(self, model: str, version: int, digest: str) -> None:
        self.model, self.version, self.digest = model, version, digest
        super().__init__(
            f'artifact {digest} is already version {version} of model "{model}" '
            f"({model}/{version}); use that version"
        )


class BreakingFeatureChangeError(ConflictError):
    """Applying a definition would change a feature's type or remove it in place."""

    code = "breaking_feature_change"

    def __init__(self, view: str, changes: list[str]) -> None:
        self.view, self.changes = view, changes
        super().__init__(
            f'applying feature view "{view}" would break its consumers: '
            + "; ".join(changes)
            + " — add a new feature or view instead, or pass allow_breaking (--allow-breaking)"
        )


class PromotionConflictError(ConflictError):
    """Another promotion changed production while this one's gates were evaluated."""

    code = "promotion_conflict"

    def __init__(self, model: str, version: int, expected: int | None, actual: int | None) -> None:
        self.model, self.version, self.expected, self.actual = model, version, expected, actual
        before = f"version {expected}" if expected is not None else "no version"
        now = f"version {actual}" if actual is not None else "no version"
        super().__init__(
            f"production of {model} changed from {before} to {now} while the gates of "
            f"{model}/{version} ran; promote again to evaluate against the new champion"
        )


# ------------------------------------------------------------------------- invalid input


class InvalidDatasetSourceError(InvalidInputError):
    """A dataset source that cannot be read: missing, unsupported, corrupt or empty."""

    code = "invalid_dataset_source"

    def __init__(self, source: str, reason: str) -> None:
        self.source, self.reason = source, reason
        super().__init__(f"cannot add dataset from {source}: {reason}; nothing was stored")


class InvalidContractError(InvalidInputError):
    """A contract definition that does not parse or names unknown rules or types."""

    code = "invalid_contract"

    def __init__(self, source: str, key: str, reason: str, line: int | None = None) -> None:
        self.source, self.key, self.reason, self.line = source, key, reason, line
        where = f"{source}, line {line}" if line is not None else source
        at = f" at {key}" if key else ""
        super().__init__(f"invalid contract {where}{at}: {reason}")


class InvalidFeatureDefinitionError(InvalidInputError):
    """An entity or feature view definition that does not parse or is inconsistent."""

    code = "invalid_feature_definition"

    def __init__(self, source: str, key: str, reason: str, line: int | None = None) -> None:
        self.source, self.key, self.reason, self.line = source, key, reason, line
        where = f"{source}, line {line}" if line is not None else source
        at = f" at {key}" if key else ""
        super().__init__(f"invalid feature definition {where}{at}: {reason}")


class InvalidEntityFrameError(InvalidInputError):
    """An entity frame for training data or lookups that lacks a key or has bad timestamps."""

    code = "invalid_entity_frame"

    def __init__(self, column: str, reason: str) -> None:
        self.column, self.reason = column, reason
        super().__init__(f'entity frame column "{column}": {reason}')


class MalformedRequestError(InvalidInputError):
    """A request body that cannot be parsed at all (not JSON, not Arrow IPC, wrong shape)."""

    code = "malformed_request"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"malformed request body: {reason}")


class InvalidServingConfigError(InvalidInputError):
    """A serving configuration (models, batching, features, policies) that cannot be used."""

    code = "invalid_serving_config"

    def __init__(self, field: str, reason: str, source: str | None = None) -> None:
        self.field, self.reason, self.source = field, reason, source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}serving config {field}: {reason}")


class InvalidScoringInputError(InvalidInputError):
    """Batch-scoring input or output that cannot be used; nothing was scored."""

    code = "invalid_scoring_input"

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"batch scoring {field}: {reason}")


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


class UnsupportedModelError(InvalidInputError):
    """No flavor can package this kind of model object."""

    code = "unsupported_model"

    def __init__(self, type_name: str, supported: list[str]) -> None:
        self.type_name, self.supported = type_name, supported
        super().__init__(
            f"cannot package a model of type {type_name}: supported flavors are "
            f"{', '.join(supported)} (an arbitrary object needs trust=True and is pickled)"
        )


class UntrustedPickleError(InvalidInputError):
    """The model can only be stored as a pickle, which needs the caller's trust."""

    code = "untrusted_pickle"

    def __init__(self, type_name: str, reason: str) -> None:
        self.type_name, self.reason = type_name, reason
        super().__init__(
            f"a model of type {type_name} can only be stored as a pickle ({reason}); loading a "
            "pickle runs code, so pass trust=True to accept that (it is recorded on the version)"
        )


class FlavorNotInstalledError(InvalidInputError):
    """A stored model needs a library this environment does not have."""

    code = "flavor_not_installed"

    def __init__(self, flavor: str, model_type: str) -> None:
        self.flavor, self.model_type = flavor, model_type
        super().__init__(
            f"the {flavor} flavor of {model_type} needs its library, which is not installed "
            f"here: pip install 'modelyard[{flavor}]'"
        )


# ------------------------------------------------------------------------- contracts


class SignatureMismatchError(ContractViolation):
    """Input data does not match the model's signature."""

    code = "signature_mismatch"

    def __init__(self, column: str, rule: str, problems: list[str] | None = None) -> None:
        self.column, self.rule = column, rule
        self.problems = problems or [f"{column}: {rule}"]
        super().__init__("input does not match the model signature: " + "; ".join(self.problems))


class PromotionBlockedError(ContractViolation):
    """A promotion gate failed; nothing changed."""

    code = "promotion_blocked"
    # The full gate report (a registry GateReport), for interfaces that show it as a table.
    report: object = None

    def __init__(self, model: str, version: int, stage: str, failed: list[str]) -> None:
        self.model, self.version, self.stage, self.failed = model, version, stage, failed
        super().__init__(
            f"promotion of {model}/{version} to {stage} blocked by "
            f"{len(failed)} gate(s): "
            + "; ".join(failed)
            + " — fix the model, or pass --force with --reason (audited)"
        )


class DataContractViolation(ContractViolation):
    """Data fails error-severity rules of a data contract."""

    code = "data_contract_violation"
    # The full ValidationReport (a contracts report), for interfaces that render it.
    report: object = None

    def __init__(self, contract: str, data: str, failed: list[str]) -> None:
        self.contract, self.data, self.failed = contract, data, failed
        shown = "; ".join(failed[:5]) + (f"; and {len(failed) - 5} more" if len(failed) > 5 else "")
        super().__init__(
            f'{data} breaks contract "{contract}": {len(failed)} error rule(s) failed: {shown}'
        )


class IncompatibleContractError(ContractViolation):
    """A new contract version is not backward compatible with the old one."""

    code = "incompatible_contract"

    def __init__(self, old: str, new: str, breaking: list[str]) -> None:
        self.old, self.new, self.breaking = old, new, breaking
        super().__init__(f"{new} is not backward compatible with {old}: " + "; ".join(breaking))


class FeaturePushRejectedError(ContractViolation):
    """Pushed rows do not match the feature view's schema; nothing was written."""

    code = "feature_push_rejected"

    def __init__(self, view: str, problems: list[str]) -> None:
        self.view, self.problems = view, problems
        super().__init__(
            f'push to feature view "{view}" rejected, nothing written: ' + "; ".join(problems)
        )


class FeatureParityError(ContractViolation):
    """Online feature values differ from the offline values as of the same time."""

    code = "feature_parity"

    def __init__(self, view: str, mismatches: int, checked: int) -> None:
        self.view, self.mismatches, self.checked = view, mismatches, checked
        super().__init__(
            f'feature view "{view}": {mismatches} of {checked} online values differ from the '
            "offline values as of the same time (training-serving skew)"
        )


class RequestContractError(ContractViolation):
    """Request fields break the model's signature: each problem names the field and the rule."""

    code = "request_contract_violation"

    def __init__(self, model: str, problems: list[dict[str, str]]) -> None:
        self.model, self.problems = model, problems
        shown = "; ".join(f"{item['field']}: {item['message']}" for item in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f'request does not match the signature of model "{model}": {shown}{more}')


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


class NoRollbackTargetError(InvalidTransitionError):
    """There is no earlier production version to roll back to."""

    code = "no_rollback_target"

    def __init__(self, model: str) -> None:
        self.model = model
        super().__init__(
            f'model "{model}" has no earlier production version to roll back to; see '
            f"`modelyard models history {model}`"
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


class CorruptModelPackageError(CorruptArtifactError):
    """A model package's files cannot be used as recorded."""

    code = "corrupt_model_package"

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(f"unusable model package: {reason}")


class CorruptDatasetError(CorruptArtifactError):
    """A stored dataset version whose Parquet data cannot be read."""

    code = "corrupt_dataset"

    def __init__(self, dataset: str, version: int, reason: str) -> None:
        self.dataset, self.version, self.reason = dataset, version, reason
        super().__init__(
            f"dataset {dataset}/{version} cannot be read: {reason}; "
            f"run `modelyard data show {dataset}/{version}` and add the data again"
        )


class CorruptOnlineRowError(CorruptArtifactError):
    """A row in the online store whose bytes cannot be decoded."""

    code = "corrupt_online_row"

    def __init__(self, url: str, view: str, reason: str) -> None:
        self.url, self.view, self.reason = url, view, reason
        super().__init__(
            f'a stored row of view "{view}" in the online store {url} cannot be decoded '
            f"({reason}); materialize the view again"
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


class OnlineStoreUnavailableError(BackendUnavailableError):
    """The online feature store cannot be reached or written."""

    code = "online_store_unavailable"

    def __init__(self, url: str, reason: str, written: int | None = None) -> None:
        self.url, self.reason, self.written = url, reason, written
        if written is None:
            outcome = ""
        elif written == 0:
            outcome = "; nothing was written"
        else:
            outcome = (
                f"; {written} entities were written before the failure, and writing the same "
                "rows again is safe"
            )
        super().__init__(f"cannot use the online store {url}: {reason}{outcome}")


class FeatureLookupFailedError(BackendUnavailableError):
    """A model's features could not be read in time and its policy rejects fallbacks."""

    code = "feature_lookup_failed"

    def __init__(self, model: str, reason: str, breaker: str) -> None:
        self.model, self.reason, self.breaker = model, reason, breaker
        super().__init__(
            f'cannot read the online features of model "{model}": {reason} (circuit {breaker}); '
            "the model's on_feature_failure is reject, so no prediction was made; retry later "
            "or serve it with on_feature_failure: fallback"
        )


class ModelNotReadyError(BackendUnavailableError):
    """The server has not finished loading and warming up its models."""

    code = "model_not_ready"
    retry_after_s = 1

    def __init__(self, pending: list[str]) -> None:
        self.pending = pending
        super().__init__(
            "the server is still loading or warming up: " + ", ".join(pending) + "; retry shortly"
        )


# ------------------------------------------------------------------------- overloaded


class QueueFullError(OverloadedError):
    """A model's bounded request queue is full; nothing was queued."""

    code = "queue_full"

    def __init__(self, model: str, max_queue: int, retry_after_s: int = 1) -> None:
        self.model, self.max_queue, self.retry_after_s = model, max_queue, retry_after_s
        super().__init__(
            f'model "{model}" has {max_queue} requests waiting (its max_queue); the request was '
            f"not queued: retry after {retry_after_s} s, or serve with a larger max_queue or "
            "more workers"
        )


# ------------------------------------------------------------------------- other


class ScoringFailedError(ModelyardError):
    """Some partitions of a batch-scoring job failed; the others are written."""

    code = "scoring_failed"

    def __init__(self, failed: list[str], reasons: list[str], output: str) -> None:
        self.failed, self.reasons, self.output = failed, reasons, output
        shown = "; ".join(
            f"{name}: {why}" for name, why in zip(failed[:5], reasons[:5], strict=False)
        )
        more = f" (and {len(failed) - 5} more)" if len(failed) > 5 else ""
        super().__init__(
            f"{len(failed)} partition(s) failed: {shown}{more}; the completed partitions are "
            f"in {output}, and running the same command again scores only the failed ones"
        )


class BatchAnswerError(ModelyardError):
    """A batch function answered a different number of requests than it was given: a bug in
    the function; every request of that batch gets this error and the next batch runs."""

    code = "batch_answer_mismatch"

    def __init__(self, model: str, requests: int, answers: int) -> None:
        self.model, self.requests, self.answers = model, requests, answers
        super().__init__(
            f'model "{model}": a batch of {requests} requests got {answers} answers; '
            "nothing was answered from it"
        )


def all_error_classes() -> list[type[ModelyardError]]:
    """Return ModelyardError and every subclass, for the interfaces' mapping tests."""
    found: list[type[ModelyardError]] = []
    pending: list[type[ModelyardError]] = [ModelyardError]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return sorted(found, key=lambda cls: cls.__name__)
