"""PII marking in signatures: stored only when set, round trips, and names checked."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelyard.errors import InvalidInputError
from modelyard.registry.flavors import ColumnSpec, Signature

INPUTS = (
    ColumnSpec("customer_id", "int64", False),
    ColumnSpec("email", "string", True),
    ColumnSpec("amount", "float64", False),
)
SIGNATURE = Signature(INPUTS, (ColumnSpec("prediction", "int64", False, (None,)),), "dataframe")


def test_an_unmarked_spec_is_stored_as_before() -> None:
    assert ColumnSpec("amount", "float64", False).to_dict() == {
        "name": "amount",
        "dtype": "float64",
        "nullable": False,
        "shape": None,
    }
    assert "pii" not in str(SIGNATURE.to_dict())


def test_a_marked_spec_stores_pii_and_reads_it_back() -> None:
    spec = ColumnSpec("email", "string", True, pii=True)
    assert spec.to_dict() == {
        "name": "email",
        "dtype": "string",
        "nullable": True,
        "shape": None,
        "pii": True,
    }
    assert ColumnSpec.from_dict(spec.to_dict()) == spec
    tensor = ColumnSpec("input", "float32", False, (None, 4), pii=True)
    assert ColumnSpec.from_dict(tensor.to_dict()) == tensor


def test_a_spec_stored_before_pii_marking_reads_as_not_pii() -> None:
    stored = {"name": "email", "dtype": "string", "nullable": True, "shape": None}
    assert ColumnSpec.from_dict(stored).pii is False


@pytest.mark.parametrize("value", ["yes", 1, None, [True]])
def test_a_pii_that_is_not_a_boolean_is_refused(value: object) -> None:
    stored = {"name": "email", "dtype": "string", "nullable": True, "pii": value}
    with pytest.raises(InvalidInputError, match='column spec "email": pii must be true or false'):
        ColumnSpec.from_dict(stored)


def test_with_pii_marks_the_named_inputs_in_a_new_signature() -> None:
    marked = SIGNATURE.with_pii(["email", "customer_id"])
    assert marked.pii_names == ("customer_id", "email")
    assert SIGNATURE.pii_names == ()
    assert marked.with_pii("amount").pii_names == ("customer_id", "email", "amount")
    assert marked.with_pii([]) == marked
    assert marked.outputs == SIGNATURE.outputs
    assert [spec.name for spec in marked.inputs] == list(SIGNATURE.input_names)
    assert Signature.from_dict(marked.to_dict()) == marked


def test_marking_an_unknown_input_names_it_the_inputs_and_close_matches() -> None:
    with pytest.raises(InvalidInputError) as info:
        SIGNATURE.with_pii(["emial", "amount"])
    assert str(info.value) == (
        'cannot mark "emial" (did you mean "email"?) as PII: not an input of the signature; '
        "the inputs are: customer_id, email, amount"
    )


@given(st.sets(st.sampled_from([spec.name for spec in INPUTS])))
def test_pii_marking_round_trips_through_the_stored_form(names: set[str]) -> None:
    marked = SIGNATURE.with_pii(names)
    assert set(marked.pii_names) == names
    assert Signature.from_dict(marked.to_dict()) == marked
    stored = marked.to_dict()["inputs"]
    assert isinstance(stored, list)
    stored_pii = [spec.get("pii", False) for spec in stored]
    assert stored_pii == [spec.name in names for spec in INPUTS]
