"""Run search: the filter language, ordering, paging and errors, executed in the database."""

from __future__ import annotations

import pytest

from modelyard.errors import ExperimentNotFoundError, InvalidFilterError, InvalidInputError
from modelyard.workspace import Workspace

RUNS = [
    # name, auc, max_depth, team
    ("a", 0.91, "6", "risk"),
    ("b", 0.85, "6", "risk"),
    ("c", 0.95, "8", "risk"),
    ("d", 0.70, "6", "growth"),
    ("e", float("nan"), "6", "risk"),
]


@pytest.fixture
def populated(workspace: Workspace) -> Workspace:
    for name, auc, depth, team in RUNS:
        with workspace.start_run(
            "search", name=name, params={"max_depth": depth}, tags={"team": team}
        ) as run:
            run.log_metric("auc", auc)
            if name == "c":
                run.log_metric("val loss", 0.2)
    with workspace.start_run("other", name="z", params={"max_depth": "6"}) as run:
        run.log_metric("auc", 0.99)
    return workspace


def names(runs: list) -> list[str]:  # type: ignore[type-arg]
    return [run.name for run in runs]


def test_the_issue_filter(populated: Workspace) -> None:
    found = populated.runs.search(
        "search",
        "metrics.auc > 0.8 and params.max_depth = '6' and tags.team = 'risk'",
        order_by=["metrics.auc DESC"],
    )
    assert names(found) == ["a", "b"]
    assert found[0].metrics == {"auc": 0.91}
    assert found[0].params == {"max_depth": "6"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("metrics.auc >= 0.91", {"a", "c"}),
        ("metrics.auc < 0.8", {"d"}),
        ("metrics.auc != 0.91", {"b", "c", "d"}),
        ("params.max_depth != '6'", {"c"}),
        ("params.max_depth IN ('8', '9')", {"c"}),
        ("params.max_depth NOT IN ('6')", {"c"}),
        ("tags.team LIKE 'gr%'", {"d"}),
        ("tags.team ILIKE 'RISK'", {"a", "b", "c", "e"}),
        ("metrics.`val loss` < 0.3", {"c"}),
        ("metrics.`val loss` IS NULL", {"a", "b", "d", "e"}),
        ("metrics.`val loss` IS NOT NULL", {"c"}),
        ("tags.team = 'growth' or metrics.auc > 0.94", {"c", "d"}),
        ("(tags.team = 'growth' or metrics.auc > 0.94) and params.max_depth = '8'", {"c"}),
        ("not tags.team = 'risk'", {"d"}),
        ("name = 'a'", {"a"}),
        ("attributes.status = 'finished'", {"a", "b", "c", "d", "e"}),
        ("status = 'FAILED'", set()),
        ("start_time > '2000-01-01'", {"a", "b", "c", "d", "e"}),
        ("end_time IS NULL", set()),
    ],
)
def test_filters(populated: Workspace, text: str, expected: set[str]) -> None:
    assert set(names(populated.runs.search("search", text))) == expected


def test_nan_matches_no_comparison(populated: Workspace) -> None:
    found = populated.runs.search("search", "metrics.auc > 0 or metrics.auc <= 0")
    assert "e" not in names(found)


def test_order_limit_offset_and_all_experiments(populated: Workspace) -> None:
    ordered = populated.runs.search(order_by=["metrics.auc DESC"])
    # Runs without a value (NaN is stored as NULL) sort last.
    assert names(ordered) == ["z", "c", "a", "b", "d", "e"]
    assert names(populated.runs.search(order_by=["metrics.auc ASC"], limit=2)) == ["d", "b"]
    assert names(populated.runs.search(order_by=["metrics.auc DESC"], limit=2, offset=2)) == [
        "a",
        "b",
    ]
    assert names(populated.runs.search(["search", "other"], "metrics.auc > 0.95")) == ["z"]
    assert names(populated.runs.search(order_by=["params.max_depth DESC", "name"]))[:1] == ["c"]


def test_default_order_is_newest_first(populated: Workspace) -> None:
    assert names(populated.runs.search("search")) == ["e", "d", "c", "b", "a"]


def test_archived_experiments_are_left_out_unless_asked(populated: Workspace) -> None:
    populated.experiments.archive("other")
    assert "z" not in names(populated.runs.search())
    assert "z" in names(populated.runs.search(include_archived=True))
    assert names(populated.runs.search("other")) == ["z"]


@pytest.mark.parametrize(
    ("text", "position", "reason"),
    [
        ("metrics.auc >", 13, "expected a value"),
        ("metrics.auc > 0.8 and", 21, "expected a field"),
        ("metrics.auc > 'high'", 14, "is a number: write it unquoted"),
        ("params.max_depth = 6", 19, "holds strings: quote the value ('6')"),
        ("metrix.auc > 1", 0, "unknown prefix 'metrix'"),
        ("metrics.auc >> 1", 13, "expected a value"),
        ("colour = 'red'", 0, "unknown run attribute 'colour'"),
        ("metrics.auc > 0.8 params.x = '1'", 18, "expected AND, OR or the end"),
        ("tags.team = 'risk", 12, "unterminated string"),
        ("(metrics.auc > 1", 16, "expected ')'"),
        ("status = 'DONE'", 9, "status is one of RUNNING, FINISHED, FAILED, KILLED"),
        ("metrics.auc LIKE 'x'", 12, "LIKE needs a string field"),
        ("start_time > 'yesterday'", 13, "not an ISO date"),
        ("   ", 3, "the filter is empty"),
    ],
)
def test_malformed_filters_point_at_the_token(
    workspace: Workspace, text: str, position: int, reason: str
) -> None:
    if not text.strip():
        # A blank filter means "no filter"; the parser itself reports it as empty.
        from modelyard.tracking.search import compile_filter

        with pytest.raises(InvalidFilterError) as caught:
            compile_filter(text)
    else:
        with pytest.raises(InvalidFilterError) as caught:
            workspace.runs.search(filter=text)
    assert caught.value.position == position
    assert reason in str(caught.value)
    assert str(caught.value).splitlines()[-1] == "  " + " " * position + "^"


def test_malformed_order_by(workspace: Workspace) -> None:
    with pytest.raises(InvalidFilterError, match="expected ASC, DESC or the end"):
        workspace.runs.search(order_by=["metrics.auc DOWN"])


def test_unknown_experiment_suggests_close_names(populated: Workspace) -> None:
    with pytest.raises(
        ExperimentNotFoundError, match=r'no experiment "serch" .*did you mean "search"'
    ):
        populated.runs.search("serch")


def test_limit_and_offset_are_checked(workspace: Workspace) -> None:
    with pytest.raises(InvalidInputError, match="limit 0 is out of range"):
        workspace.runs.search(limit=0)
    with pytest.raises(InvalidInputError, match="offset -1 is out of range"):
        workspace.runs.search(offset=-1)


def test_compare_lines_up_params_and_metrics(populated: Workspace) -> None:
    by_name = {run.name: run for run in populated.runs.search("search")}
    comparison = populated.runs.compare([by_name["a"].run_id, by_name["c"].run_id])
    rows = {(row.section, row.key): row for row in comparison.rows}
    assert rows[("param", "max_depth")].values == ("6", "8")
    assert rows[("param", "max_depth")].is_different is True
    assert rows[("tag", "team")].is_different is False
    assert rows[("metric", "auc")].values == (0.91, 0.95)
    assert rows[("metric", "auc")].best_index == 1
    assert rows[("metric", "val loss")].values == (None, 0.2)
    with pytest.raises(InvalidInputError, match="at least two run ids"):
        populated.runs.compare([by_name["a"].run_id])
