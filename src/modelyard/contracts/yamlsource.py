"""YAML text to plain data, keeping the line of every key path for error messages."""

from __future__ import annotations

import re

import yaml

from modelyard.errors import InvalidContractError

_LAST_SEGMENT = re.compile(r"(\.[^.\[]*|\[\d+\])$")


def read_yaml(text: str, source: str) -> tuple[object, dict[str, int]]:
    """Parse YAML safely; return the data and the 1-based line of each key path in it.

    Key paths read as in error messages: ``columns.amount.min``, ``rules[2].mean.column``.

    Raises:
        InvalidContractError: the text is not well-formed YAML, or a mapping repeats a key.
    """
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[str, int] = {}
        if node is not None:
            lines[""] = node.start_mark.line + 1
            _index(node, "", lines, source)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "it does not parse"
        raise InvalidContractError(source, "", f"malformed YAML: {problem}", line) from exc
    except yaml.YAMLError as exc:
        raise InvalidContractError(source, "", f"malformed YAML: {exc}") from exc
    finally:
        loader.dispose()
    return data, lines


def _index(node: yaml.Node, path: str, lines: dict[str, int], source: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            if key in seen:
                raise InvalidContractError(
                    source, child, f"the key {key!r} appears twice", key_node.start_mark.line + 1
                )
            seen.add(key)
            lines[child] = key_node.start_mark.line + 1
            _index(value_node, child, lines, source)
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            child = f"{path}[{position}]"
            lines[child] = item.start_mark.line + 1
            _index(item, child, lines, source)


def line_of(key: str, lines: dict[str, int]) -> int | None:
    """Return the line of ``key``, or of its nearest enclosing key that has one."""
    while True:
        if key in lines:
            return lines[key]
        shorter = _LAST_SEGMENT.sub("", key)
        if shorter == key:
            return lines.get("")
        key = shorter


def with_line(error: InvalidContractError, lines: dict[str, int]) -> InvalidContractError:
    """Return ``error`` with the line of its key filled in (when it has none yet)."""
    if error.line is not None:
        return error
    return InvalidContractError(error.source, error.key, error.reason, line_of(error.key, lines))
