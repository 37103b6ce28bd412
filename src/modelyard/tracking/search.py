"""Run search: a small filter language compiled to SQL and executed in the database.

Filters compare ``metrics.KEY`` (latest value, a number), ``params.KEY`` and ``tags.KEY``
(strings) and run attributes (``status``, ``name``, ``run_id``, ``start_time``, ``end_time``,
``user``, ``git_commit``, ``parent_run_id``; also written ``attributes.status``) with ``=``,
``!=``, ``<``, ``<=``, ``>``, ``>=``, ``LIKE``, ``ILIKE``, ``IN (…)``, ``NOT IN (…)`` and
``IS [NOT] NULL``, joined by ``AND`` / ``OR`` and parentheses. Keys with other characters are
quoted with backticks: ``metrics.`val loss` < 0.3``. Example::

    metrics.auc > 0.8 and params.max_depth = '6' and tags.team = 'risk'
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, not_, or_, select
from sqlalchemy.sql.elements import ColumnClause

from modelyard.errors import InvalidFilterError
from modelyard.metastore.tables import latest_metrics, params, runs, tags
from modelyard.tracking.runs import RunStatus

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<number>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.]))
  | (?P<field>[A-Za-z_][A-Za-z0-9_]*\.(?:`[^`]+`|[A-Za-z0-9_\-./:]+))
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>>=|<=|!=|<>|==|=|<|>)
  | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_ENTITIES = {
    "metrics": "metric",
    "metric": "metric",
    "params": "param",
    "param": "param",
    "tags": "tag",
    "tag": "tag",
    "attributes": "attribute",
    "attribute": "attribute",
    "attr": "attribute",
    "run": "attribute",
}
_KEYWORDS = {"and", "or", "not", "in", "like", "ilike", "is", "null", "asc", "desc"}
_COMPARISONS = {
    "=": "=",
    "==": "=",
    "!=": "!=",
    "<>": "!=",
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
}


@dataclass(frozen=True, slots=True)
class _Attribute:
    column: Any
    kind: str  # "str" | "time"


_ATTRIBUTES: dict[str, _Attribute] = {
    "run_id": _Attribute(runs.c.id, "str"),
    "id": _Attribute(runs.c.id, "str"),
    "name": _Attribute(runs.c.name, "str"),
    "run_name": _Attribute(runs.c.name, "str"),
    "status": _Attribute(runs.c.status, "str"),
    "user": _Attribute(runs.c.user_name, "str"),
    "git_commit": _Attribute(runs.c.git_commit, "str"),
    "parent_run_id": _Attribute(runs.c.parent_run_id, "str"),
    "note": _Attribute(runs.c.note, "str"),
    "start_time": _Attribute(runs.c.start_time_ms, "time"),
    "end_time": _Attribute(runs.c.end_time_ms, "time"),
}


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # string | number | field | word | op | punct | end
    text: str
    position: int

    @property
    def lowered(self) -> str:
        return self.text.lower()


@dataclass(frozen=True, slots=True)
class _Field:
    entity: str  # metric | param | tag | attribute
    key: str
    token: _Token


def tokenize(text: str) -> list[_Token]:
    """Split a filter into tokens.

    Raises:
        InvalidFilterError: at the first character no token starts with.
    """
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            bad = text[position:].split()[0] if text[position:].split() else text[position]
            reason = "unterminated string" if text[position] in "'\"" else "unexpected character"
            raise InvalidFilterError(text, position, bad, reason)
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    """Recursive descent over the tokens, building a SQLAlchemy condition."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    @property
    def current(self) -> _Token:
        return self.tokens[self.index]

    def advance(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, token: _Token, reason: str) -> InvalidFilterError:
        return InvalidFilterError(self.text, token.position, token.text, reason)

    def expect_word(self, word: str) -> None:
        token = self.advance()
        if token.kind != "word" or token.lowered != word:
            raise self.fail(token, f"expected {word.upper()}")

    def parse(self) -> list[_Part]:
        if self.current.kind == "end":
            raise self.fail(self.current, "the filter is empty")
        conjunction = self.parse_or()
        if self.current.kind != "end":
            raise self.fail(self.current, "expected AND, OR or the end of the filter")
        return conjunction

    def parse_or(self) -> list[_Part]:
        """Return the conjunction the tokens describe (an OR is one part of it)."""
        branches = [self.parse_and()]
        while self.current.kind == "word" and self.current.lowered == "or":
            self.advance()
            branches.append(self.parse_and())
        if len(branches) == 1:
            return branches[0]
        return [or_(*(_to_sql(branch) for branch in branches))]

    def parse_and(self) -> list[_Part]:
        parts = self.parse_atom()
        while self.current.kind == "word" and self.current.lowered == "and":
            self.advance()
            parts = [*parts, *self.parse_atom()]
        return parts

    def parse_atom(self) -> list[_Part]:
        token = self.current
        if token.kind == "punct" and token.text == "(":
            self.advance()
            inner = self.parse_or()
            closing = self.advance()
            if closing.text != ")":
                raise self.fail(closing, "expected ')'")
            return inner
        if token.kind == "word" and token.lowered == "not":
            self.advance()
            return [not_(_to_sql(self.parse_atom()))]
        return [self.parse_comparison()]

    def parse_comparison(self) -> _Part:
        field = parse_field(self.text, self.advance())
        token = self.advance()
        if token.kind == "op":
            value = self.parse_value(field)
            return _compare(field, _COMPARISONS[token.text], value)
        if token.kind == "word" and token.lowered in ("like", "ilike"):
            is_text = field.entity in ("param", "tag") or (
                field.entity == "attribute" and _ATTRIBUTES[field.key].kind == "str"
            )
            if not is_text:
                raise self.fail(token, f"{token.text.upper()} needs a string field and pattern")
            value = self.parse_value(field)
            return _compare(field, token.lowered, value)
        if token.kind == "word" and token.lowered == "is":
            negate = self.current.kind == "word" and self.current.lowered == "not"
            if negate:
                self.advance()
            self.expect_word("null")
            return _presence(field, is_present=negate)
        negate = token.kind == "word" and token.lowered == "not"
        if negate:
            token = self.advance()
        if token.kind == "word" and token.lowered == "in":
            values = self.parse_list(field)
            condition = _compare(field, "in", values)
            return not_(_to_sql([condition])) if negate else condition
        raise self.fail(token, "expected a comparison (=, !=, <, <=, >, >=, LIKE, IN, IS NULL)")

    def parse_list(self, field: _Field) -> list[object]:
        opening = self.advance()
        if opening.text != "(":
            raise self.fail(opening, "expected '(' after IN")
        values = [self.parse_value(field)]
        while self.current.text == ",":
            self.advance()
            values.append(self.parse_value(field))
        closing = self.advance()
        if closing.text != ")":
            raise self.fail(closing, "expected ',' or ')'")
        return values

    def parse_value(self, field: _Field) -> object:
        token = self.advance()
        wants_number = field.entity == "metric"
        if field.entity == "attribute" and _ATTRIBUTES[field.key].kind == "time":
            if token.kind == "number":
                return int(float(token.text))
            if token.kind == "string":
                return _parse_time(self, token)
            raise self.fail(token, f"{field.key} takes epoch milliseconds or an ISO date string")
        if token.kind == "number":
            if not wants_number:
                raise self.fail(
                    token,
                    f"{field.token.text} holds strings: quote the value ('{token.text}')",
                )
            return float(token.text)
        if token.kind == "string":
            if wants_number:
                raise self.fail(token, f"{field.token.text} is a number: write it unquoted")
            value = _unquote(token.text)
            if field.entity == "attribute" and field.key == "status":
                allowed = [status.value for status in RunStatus]
                if value.upper() not in allowed:
                    raise self.fail(token, f"status is one of {', '.join(allowed)}")
                value = value.upper()
            return value
        raise self.fail(token, "expected a value (a number or a quoted string)")


def parse_field(text: str, token: _Token) -> _Field:
    """Resolve ``metrics.auc``, ``params.x``, ``tags.y``, ``status`` … into a field."""
    if token.kind == "field":
        prefix, _, key = token.text.partition(".")
        entity = _ENTITIES.get(prefix.lower())
        if entity is None:
            raise InvalidFilterError(
                text,
                token.position,
                token.text,
                f"unknown prefix {prefix!r}: use metrics., params., tags. or attributes.",
            )
        if key.startswith("`"):
            key = key[1:-1]
        if entity == "attribute":
            return _attribute(text, token, key)
        return _Field(entity, key, token)
    if token.kind == "word" and token.lowered not in _KEYWORDS:
        return _attribute(text, token, token.text)
    shown = "a value" if token.kind in ("string", "number") else repr(token.text or "end")
    raise InvalidFilterError(
        text,
        token.position,
        token.text,
        f"expected a field such as metrics.auc, params.max_depth, tags.team or status, not {shown}",
    )


def _attribute(text: str, token: _Token, key: str) -> _Field:
    if key.lower() not in _ATTRIBUTES:
        known = ", ".join(sorted(_ATTRIBUTES))
        raise InvalidFilterError(
            text, token.position, token.text, f"unknown run attribute {key!r} (known: {known})"
        )
    return _Field("attribute", key.lower(), token)


def _unquote(text: str) -> str:
    quote = text[0]
    body = text[1:-1].replace(quote * 2, quote)
    return re.sub(r"\\(.)", r"\1", body)


def _parse_time(parser: _Parser, token: _Token) -> int:
    value = _unquote(token.text)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise parser.fail(token, "not an ISO date or time (e.g. '2026-11-01T12:00')") from error
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def _apply(column: Any, op: str, value: object) -> ColumnElement[bool]:
    operations: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
        "=": lambda c, v: c == v,
        "!=": lambda c, v: c != v,
        "<": lambda c, v: c < v,
        "<=": lambda c, v: c <= v,
        ">": lambda c, v: c > v,
        ">=": lambda c, v: c >= v,
        "like": lambda c, v: c.like(v),
        "ilike": lambda c, v: func.lower(c).like(func.lower(v)),
        "in": lambda c, v: c.in_(v),
    }
    condition: ColumnElement[bool] = operations[op](column, value)
    return condition


def _keyed_table(entity: str) -> Any:
    return {"metric": latest_metrics, "param": params, "tag": tags}[entity]


@dataclass(frozen=True, slots=True)
class _Keyed:
    """A positive condition on a metric, param or tag: the run must have the key, and its
    value must pass. At the top level of a filter it becomes an inner join (one row per run and
    key at most), which lets the database start from the most selective index."""

    entity: str
    key: str
    op: str
    value: object

    def join_condition(self, table: Any) -> ColumnElement[bool]:
        return and_(
            table.c.run_id == runs.c.id,
            table.c.key == self.key,
            _apply(table.c.value, self.op, self.value),
        )

    def to_sql(self) -> ColumnElement[bool]:
        table = _keyed_table(self.entity)
        matching = select(table.c.run_id).where(
            table.c.key == self.key, _apply(table.c.value, self.op, self.value)
        )
        return runs.c.id.in_(matching)


_Part = ColumnElement[bool] | _Keyed


def _to_sql(parts: list[_Part]) -> ColumnElement[bool]:
    conditions = [part.to_sql() if isinstance(part, _Keyed) else part for part in parts]
    return conditions[0] if len(conditions) == 1 else and_(*conditions)


def _compare(field: _Field, op: str, value: object) -> _Part:
    if field.entity == "attribute":
        return _apply(_ATTRIBUTES[field.key].column, op, value)
    return _Keyed(field.entity, field.key, op, value)


def _presence(field: _Field, *, is_present: bool) -> ColumnElement[bool]:
    if field.entity == "attribute":
        column = _ATTRIBUTES[field.key].column
        condition: ColumnElement[bool] = column.is_not(None) if is_present else column.is_(None)
        return condition
    table = _keyed_table(field.entity)
    having = runs.c.id.in_(select(table.c.run_id).where(table.c.key == field.key))
    return having if is_present else not_(having)


def compile_filter(text: str) -> ColumnElement[bool]:
    """Compile a filter into a condition over the ``runs`` table.

    Raises:
        InvalidFilterError: pointing at the offending token.
    """
    return _to_sql(_Parser(text).parse())


def apply_filter(query: Select[Any], text: str) -> Select[Any]:
    """Add a filter to a query over ``runs``: top-level metric/param/tag conditions as inner
    joins, everything else in WHERE.

    Raises:
        InvalidFilterError: pointing at the offending token.
    """
    for part in _Parser(text).parse():
        if isinstance(part, _Keyed):
            table = _keyed_table(part.entity).alias()
            query = query.join(table, part.join_condition(table))
        else:
            query = query.where(part)
    return query


def apply_order(query: Select[Any], order_by: Sequence[str] | None) -> Select[Any]:
    """Add ORDER BY clauses (``"metrics.auc DESC"``, ``"start_time"``, …) to ``query``.

    Runs without the metric, param or tag sort last. Ties break on start time (newest first)
    and run id.

    Raises:
        InvalidFilterError: for a clause that does not parse.
    """
    for clause in order_by or []:
        tokens = tokenize(clause)
        field = parse_field(clause, tokens[0])
        direction = "asc"
        rest = tokens[1:]
        if rest[0].kind == "word" and rest[0].lowered in ("asc", "desc"):
            direction = rest[0].lowered
            rest = rest[1:]
        if rest[0].kind != "end":
            raise InvalidFilterError(
                clause, rest[0].position, rest[0].text, "expected ASC, DESC or the end"
            )
        column: ColumnClause[Any] | Any
        if field.entity == "attribute":
            column = _ATTRIBUTES[field.key].column
        else:
            table = _keyed_table(field.entity).alias()
            query = query.outerjoin(
                table, and_(table.c.run_id == runs.c.id, table.c.key == field.key)
            )
            column = table.c.value
        ordered = column.desc() if direction == "desc" else column.asc()
        query = query.order_by(ordered.nulls_last())
    return query.order_by(runs.c.start_time_ms.desc(), runs.c.id)
