"""Tests of modelyard/ids.py: references, names and run ids."""

from __future__ import annotations

import dataclasses
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import InvalidNameError, InvalidReferenceError
from modelyard.ids import (
    NAME_RULE,
    Reference,
    check_name,
    is_run_id,
    new_experiment_id,
    new_run_id,
    parse_reference,
)

EXPECTED_SHAPES = '(expected "name", "name/VERSION" or "name@ALIAS")'
NAMES = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}", fullmatch=True)


# ------------------------------------------------------------------------- parse_reference


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("fraud", Reference(name="fraud")),
        ("fraud/3", Reference(name="fraud", version=3)),
        ("fraud@champion", Reference(name="fraud", alias="champion")),
        ("Fraud.v2-x_y/12", Reference(name="Fraud.v2-x_y", version=12)),
        ("tx/2", Reference(name="tx", version=2)),
        ("3d@prod-eu.1", Reference(name="3d", alias="prod-eu.1")),
        ("fraud/03", Reference(name="fraud", version=3)),
    ],
)
def test_parse_reference_accepts_the_three_shapes(text: str, expected: Reference) -> None:
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    ("reference", "text"),
    [
        (Reference(name="fraud"), "fraud"),
        (Reference(name="fraud", version=3), "fraud/3"),
        (Reference(name="fraud", alias="champion"), "fraud@champion"),
    ],
)
def test_reference_str_writes_the_canonical_shape(reference: Reference, text: str) -> None:
    assert str(reference) == text


def test_reference_is_frozen() -> None:
    reference = Reference(name="fraud")

    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
        reference.name = "churn"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "it is empty"),
        ("fraud/0", "version '0' is not a positive integer"),
        ("fraud/x", "version 'x' is not a positive integer"),
        ("fraud/", "version '' is not a positive integer"),
        ("fraud/-1", "version '-1' is not a positive integer"),
        ("fraud/+1", "version '+1' is not a positive integer"),
        ("fraud/1.5", "version '1.5' is not a positive integer"),
        ("fraud/1/2", "version '1/2' is not a positive integer"),
        ("fraud/ 3", "version ' 3' is not a positive integer"),
        # Digits outside ASCII: "²" is isdigit() but not int()-able, "٣" would read as 3.
        ("fraud/²", "version '²' is not a positive integer"),
        ("fraud/٣", "version '٣' is not a positive integer"),
        ("a@b/3", "give a version or an alias, not both"),
        ("a/3@b", "give a version or an alias, not both"),
        ("@x", f"the name '' is invalid: {NAME_RULE}"),
        ("/3", f"the name '' is invalid: {NAME_RULE}"),
        ("fraud@", f"the alias '' is invalid: {NAME_RULE}"),
        ("fraud@a@b", f"the alias 'a@b' is invalid: {NAME_RULE}"),
        ("fraud@champ ion", f"the alias 'champ ion' is invalid: {NAME_RULE}"),
        ("my model", f"the name 'my model' is invalid: {NAME_RULE}"),
        ("my model/3", f"the name 'my model' is invalid: {NAME_RULE}"),
        (" fraud", f"the name ' fraud' is invalid: {NAME_RULE}"),
        ("fraud\n", f"the name 'fraud\\n' is invalid: {NAME_RULE}"),
        ("_fraud", f"the name '_fraud' is invalid: {NAME_RULE}"),
        ("naïve", f"the name 'naïve' is invalid: {NAME_RULE}"),
        ("x" * 129, f"the name '{'x' * 129}' is invalid: {NAME_RULE}"),
    ],
)
def test_parse_reference_rejects_malformed_text(text: str, reason: str) -> None:
    with pytest.raises(InvalidReferenceError) as caught:
        parse_reference(text)

    assert str(caught.value) == f"invalid reference {text!r}: {reason} {EXPECTED_SHAPES}"
    assert caught.value.details() == {"text": text, "reason": reason}


@given(
    name=NAMES,
    suffix=st.one_of(
        st.none(),
        st.integers(min_value=1, max_value=10**12).map(lambda version: f"/{version}"),
        NAMES.map(lambda alias: f"@{alias}"),
    ),
)
@settings(max_examples=200, derandomize=True, deadline=None)
def test_valid_references_round_trip_through_str(name: str, suffix: str | None) -> None:
    text = name + (suffix or "")

    reference = parse_reference(text)

    assert str(reference) == text
    assert reference.name == name
    assert parse_reference(str(reference)) == reference


# ------------------------------------------------------------------------- check_name


@pytest.mark.parametrize("name", ["fraud", "a", "7", "A.b-c_1", "x" * 128, "v1.2.3"])
def test_check_name_returns_a_valid_name(name: str) -> None:
    assert check_name("experiment name", name) == name


@pytest.mark.parametrize(
    "name", ["", "-x", ".x", "_x", "a b", "a/b", "a@b", "x" * 129, "naïve", "fraud\n", "a\tb"]
)
def test_check_name_rejects_a_malformed_name(name: str) -> None:
    with pytest.raises(InvalidNameError) as caught:
        check_name("experiment name", name)

    assert str(caught.value) == f"experiment name {name!r} is invalid: {NAME_RULE}"
    assert caught.value.details() == {"field": "experiment name", "value": name, "rule": NAME_RULE}


def test_check_name_rejects_a_value_that_is_not_a_string() -> None:
    with pytest.raises(InvalidNameError, match=re.escape("experiment name '42' is invalid")):
        check_name("experiment name", 42)  # type: ignore[arg-type]


@given(name=NAMES)
@settings(max_examples=100, derandomize=True, deadline=None)
def test_check_name_accepts_every_name_of_the_rule(name: str) -> None:
    assert check_name("name", name) == name


# ------------------------------------------------------------------------- run ids


def test_new_ids_are_32_lowercase_hex_digits_and_distinct() -> None:
    run_ids = {new_run_id() for _ in range(100)}
    experiment_id = new_experiment_id()

    assert len(run_ids) == 100
    assert all(re.fullmatch(r"[0-9a-f]{32}", run_id) for run_id in run_ids)
    assert re.fullmatch(r"[0-9a-f]{32}", experiment_id)
    assert all(is_run_id(run_id) for run_id in run_ids)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0123456789abcdef0123456789abcdef", True),
        ("0123456789ABCDEF0123456789ABCDEF", False),
        ("0123456789abcdef0123456789abcde", False),
        ("0123456789abcdef0123456789abcdef0", False),
        ("0123456789abcdef0123456789abcdeg", False),
        ("fraud", False),
        ("", False),
    ],
)
def test_is_run_id_checks_the_shape(text: str, expected: bool) -> None:
    assert is_run_id(text) is expected
