"""Typed ids and the parsing of references such as "fraud@champion", "fraud/3" and "tx/2"."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import NewType

from modelyard.errors import InvalidNameError, InvalidReferenceError

ExperimentId = NewType("ExperimentId", str)
RunId = NewType("RunId", str)
ModelVersionId = NewType("ModelVersionId", str)
DatasetVersionId = NewType("DatasetVersionId", str)

NAME_RULE = "use 1-128 letters, digits, '_', '-' or '.', starting with a letter or digit"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}")
_RUN_ID = re.compile(r"[0-9a-f]{32}")


def new_run_id() -> RunId:
    """Return a fresh run id: 32 lowercase hex digits."""
    return RunId(uuid.uuid4().hex)


def new_experiment_id() -> ExperimentId:
    """Return a fresh experiment id: 32 lowercase hex digits."""
    return ExperimentId(uuid.uuid4().hex)


def is_run_id(text: str) -> bool:
    """Tell whether ``text`` has the shape of a run id."""
    return _RUN_ID.fullmatch(text) is not None


def check_name(field: str, value: str) -> str:
    """Return ``value`` when it is a valid object name.

    Raises:
        InvalidNameError: when ``value`` breaks NAME_RULE.
    """
    if not isinstance(value, str) or _NAME.fullmatch(value) is None:
        raise InvalidNameError(field, str(value), NAME_RULE)
    return value


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference: a name with an optional version number or alias."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.name}/{self.version}"
        if self.alias is not None:
            return f"{self.name}@{self.alias}"
        return self.name


def parse_reference(text: str) -> Reference:
    """Parse "name", "name/VERSION" or "name@ALIAS".

    Raises:
        InvalidReferenceError: when the text has none of these shapes.

    Example:
        >>> parse_reference("fraud@champion")
        Reference(name='fraud', version=None, alias='champion')
    """
    if not isinstance(text, str) or not text:
        raise InvalidReferenceError(str(text), "it is empty")
    if "@" in text and "/" in text:
        raise InvalidReferenceError(text, "give a version or an alias, not both")
    if "@" in text:
        name, _, alias = text.partition("@")
        _check_part(text, "name", name)
        _check_part(text, "alias", alias)
        return Reference(name=name, alias=alias)
    if "/" in text:
        name, _, version = text.partition("/")
        _check_part(text, "name", name)
        if not (version.isascii() and version.isdigit()) or int(version) < 1:
            raise InvalidReferenceError(text, f"version {version!r} is not a positive integer")
        return Reference(name=name, version=int(version))
    _check_part(text, "name", text)
    return Reference(name=text)


def _check_part(text: str, part: str, value: str) -> None:
    if _NAME.fullmatch(value) is None:
        raise InvalidReferenceError(text, f"the {part} {value!r} is invalid: {NAME_RULE}")
