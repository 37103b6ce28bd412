"""``modelyard models ...`` driven in-process against real registries on SQLite and PostgreSQL.

Each test logs versions through the SDK (the ``workspace`` fixture), points the CLI at the same
workspace with ``-w HOME`` (its modelyard.toml names the same database) and checks the exit
code, stdout (exact JSON against what ``workspace.models`` reads back) and the ``error:`` line
on stderr. The console is pinned to a wide terminal so that each table row is one line, read
cell by cell; one test renders at 80 columns on purpose.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from cli_harness import Cli, Result
from fraud_models import FEATURES, LogFn
from modelyard.artifacts import read_tree
from modelyard.cli import render
from modelyard.cli.render import to_jsonable
from modelyard.errors import AliasNotFoundError
from modelyard.registry import ModelVersion
from modelyard.settings import write_config
from modelyard.tracking.model_logging import LoggedModel
from modelyard.workspace import Workspace

WIDE = 200
MISSING_RUN = "0" * 32
UNKNOWN_MODEL = (
    'error: no registered model "frod" (did you mean "fraud"?); see `modelyard models ls`\n'
)
BLOCKED = (
    "error: promotion of fraud/2 to Production blocked by 1 gate(s): metric: auc >= 0.99: "
    "auc = 0.8, needs >= 0.99 — fix the model, or pass --force with --reason (audited)\n"
)
ALWAYS = [
    ["always", "artifact digest verification"],
    ["always", "signature compatible with production"],
    ["always", "stored smoke payloads replay within tolerance"],
]


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Render for a wide terminal whatever COLUMNS the runner has (80 under pytest-xdist), so
    table rows stay on one line."""
    monkeypatch.setattr(render.console, "width", WIDE)


@pytest.fixture
def models(cli: Cli, home: Path) -> Cli:
    """Run ``modelyard -w HOME models ARGS...`` against the ``workspace`` fixture's registry."""

    def run(*args: str | Path) -> Result:
        return cli("-w", home, "models", *args)

    return run


@pytest.fixture
def home(workspace: Workspace, db_url: str) -> Path:
    """The ``workspace`` fixture's directory, whose modelyard.toml names its database."""
    assert workspace.home is not None
    write_config(workspace.home, {"db_url": db_url})
    return workspace.home


def _jsonable(value: object) -> Any:
    """``value`` as the CLI's ``--json`` prints it, read back."""
    return json.loads(json.dumps(to_jsonable(value)))


def _rows(out: str) -> list[list[str]]:
    """The stripped cells of every table body line in ``out``."""
    return [
        [cell.strip() for cell in line.split("│")[1:-1]]
        for line in out.splitlines()
        if line.startswith("│")
    ]


def _version_row(version: ModelVersion) -> list[str]:
    return [
        str(version.version),
        version.stage.value,
        ", ".join(version.aliases) or "—",
        version.flavor,
        "onnx" if version.is_onnx else "native",
        version.run_id[:8],
        version.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        version.artifact_digest.removeprefix("sha256:")[:12],
    ]


def _digest_row(workspace: Workspace, version: ModelVersion) -> list[str]:
    files = len(read_tree(workspace.artifacts, version.artifact_digest).entries)
    return [
        "artifact digest",
        "pass",
        f"{files} files verified",
        "every blob matches its digest",
        "ok",
    ]


def _stages(workspace: Workspace) -> dict[int, str]:
    return {v.version: v.stage.value for v in workspace.models.versions("fraud")}


def _log_run(
    workspace: Workspace,
    frame: pd.DataFrame,
    *,
    seed: int | None = None,
    register: str | None = None,
) -> LoggedModel:
    """Log a logistic regression as run "lr" (C=0.5), registered only when ``register``."""
    model = LogisticRegression(C=0.5, max_iter=500).fit(frame[FEATURES], frame["is_fraud"])
    with workspace.start_run("registry", name="lr", params={"C": 0.5}, seed=seed) as run:
        run.log_metrics({"auc": 0.8})
        return run.log_model(
            model, input_example=frame[FEATURES].head(50), registered_model_name=register
        )


# ----------------------------------------------------------------------------- ls, show, versions


def test_models_ls_show_and_versions_json_match_the_registry(
    models: Cli, workspace: Workspace, log_version: LogFn
) -> None:
    empty = models("ls")
    empty_json = models("ls", "--json")
    log_version(0.5)
    log_version(2.0)
    workspace.models.promote("fraud/1", "production")
    workspace.models.set_alias("fraud", "challenger", 2)

    listed = models("ls", "--json")
    shown = models("show", "fraud", "--json")
    versions = models("versions", "fraud", "--json")

    assert (empty.code, empty.out, empty.err) == (
        0,
        "no registered models yet: run.log_model(..., registered_model_name=NAME)\n",
        "",
    )
    assert (empty_json.code, empty_json.json()) == (0, [])
    assert (listed.code, listed.err, shown.code, versions.code) == (0, "", 0, 0)
    registered = listed.json()
    assert [
        (m["name"], m["latest_version"], m["production_version"], m["aliases"]) for m in registered
    ] == [("fraud", 2, 1, {"challenger": 2, "champion": 1})]
    assert registered == _jsonable(workspace.models.list())
    v2, v1 = workspace.models.version("fraud/2"), workspace.models.version("fraud/1")
    assert [
        (v["version"], v["stage"], v["aliases"], v["artifact_digest"], v["run_id"])
        for v in versions.json()
    ] == [
        (2, "None", ["challenger"], v2.artifact_digest, v2.run_id),
        (1, "Production", ["champion"], v1.artifact_digest, v1.run_id),
    ]
    assert versions.json() == _jsonable([v2, v1])
    assert shown.json() == {
        "model": registered[0],
        "versions": versions.json(),
        "gates": {"metric_rules": [], "latency_p99_ms": None, "latency_samples": 200},
    }


def test_models_ls_show_and_versions_tables_for_people(
    models: Cli, workspace: Workspace, log_version: LogFn
) -> None:
    log_version(0.5)
    log_version(2.0)
    workspace.models.promote("fraud/1", "production")
    workspace.models.set_alias("fraud", "challenger", 2)

    listed = models("ls")
    shown = models("show", "fraud")
    versions = models("versions", "fraud")

    model = workspace.models.get("fraud")
    assert (listed.code, listed.err) == (0, "")
    assert _rows(listed.out) == [
        [
            "fraud",
            "2",
            "1",
            "challenger→2, champion→1",
            model.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
            "",
        ]
    ]
    expected = [_version_row(workspace.models.version(ref)) for ref in ("fraud/2", "fraud/1")]
    assert expected[0][1:3] == ["None", "challenger"]
    assert expected[1][1:3] == ["Production", "champion"]
    assert (versions.code, versions.err, _rows(versions.out)) == (0, "", expected)
    assert (shown.code, shown.err, _rows(shown.out)) == (0, "", expected)
    assert shown.out.splitlines()[:2] == [
        "model fraud",
        "gates: metrics none; latency p99 budget none",
    ]


# ----------------------------------------------------------------------------- register


def test_models_register_a_logged_run_then_again_exits_4_naming_the_version(
    models: Cli, workspace: Workspace, frame: pd.DataFrame
) -> None:
    logged = _log_run(workspace, frame)
    digest = logged.artifact_digest

    first = models("register", "fraud", logged.run_id, "--path", "model")
    again = models("register", "fraud", logged.run_id, "--path", "model")
    other = models("register", "fraud-shadow", logged.run_id, "-d", "shadow", "--json")
    missing_path = models("register", "fraud", logged.run_id, "-p", "weights")

    assert logged.registered_version is None
    assert (first.code, first.out, first.err) == (0, f"✓ registered fraud/1 ({digest})\n", "")
    version = workspace.models.version("fraud/1")
    assert (version.run_id, version.artifact_path, version.artifact_digest) == (
        logged.run_id,
        "model",
        digest,
    )
    assert (again.code, again.out, again.err) == (
        4,
        "",
        f'error: artifact {digest} is already version 1 of model "fraud" (fraud/1); '
        "use that version\n",
    )
    assert [v.version for v in workspace.models.versions("fraud")] == [1]
    assert (other.code, other.err) == (0, "")
    shadow = workspace.models.version("fraud-shadow/1")
    assert (shadow.description, shadow.artifact_digest) == ("shadow", digest)
    assert other.json() == _jsonable(shadow)
    assert (missing_path.code, missing_path.out, missing_path.err) == (
        3,
        "",
        f'error: run {logged.run_id} has no artifact "weights" (it has model)\n',
    )


# ----------------------------------------------------------------------------- promote


def test_models_promote_prints_the_gate_table_then_json(
    models: Cli, workspace: Workspace, log_version: LogFn
) -> None:
    log_version(0.5)
    log_version(2.0)

    first = models("promote", "fraud/1", "--to", "production")
    second = models("promote", "fraud/2", "--to", "production", "-r", "retrain", "--json")

    assert (first.code, first.err) == (0, "")
    lines = first.out.splitlines()
    assert (lines[0], lines[-1]) == (
        "Gates for fraud/1 → Production: passed",
        "✓ fraud/1 is now Production",
    )
    assert _rows(first.out) == [
        _digest_row(workspace, workspace.models.version("fraud/1")),
        ["signature", "pass", "—", "compatible", "no production version yet"],
    ]
    assert (second.code, second.err) == (0, "")
    promoted = second.json()
    assert sorted(promoted) == ["is_forced", "previous_production", "report", "target", "version"]
    assert promoted["version"] == _jsonable(workspace.models.version("fraud/2"))
    assert (promoted["target"], promoted["previous_production"], promoted["is_forced"]) == (
        "Production",
        1,
        False,
    )
    report = promoted["report"]
    stored = workspace.models.gate_report("fraud/2")
    assert stored is not None
    assert (report["evaluation_id"], report["model"], report["version"], report["target"]) == (
        stored.evaluation_id,
        "fraud",
        2,
        "Production",
    )
    assert [(r["gate"], r["is_passed"], r["message"]) for r in report["results"]] == [
        ("artifact digest", True, "ok"),
        ("signature", True, "ok"),
    ]
    assert _stages(workspace) == {2: "Production", 1: "Archived"}
    assert workspace.models.version("fraud@champion").version == 2
    last = workspace.models.history("fraud")[-1]
    assert (last.action, last.version, last.reason) == ("promote", 2, "retrain")


def test_a_failed_gate_blocks_promotion_with_exit_5_and_the_gate_table(
    models: Cli, workspace: Workspace, log_version: LogFn
) -> None:
    log_version(0.5)
    log_version(2.0)
    workspace.models.promote("fraud/1", "production")

    gates = models("gates", "fraud", "-m", "auc >= 0.99")
    blocked = models("promote", "fraud/2", "--to", "production")
    blocked_json = models("promote", "fraud/2", "--to", "production", "--json")

    digest_row = _digest_row(workspace, workspace.models.version("fraud/2"))
    assert (gates.code, gates.err) == (0, "")
    assert (blocked.code, blocked.err) == (5, BLOCKED)
    lines = blocked.out.splitlines()
    assert lines[0] == "Gates for fraud/2 → Production: failed"
    assert not any("is now" in line for line in lines)
    assert _rows(blocked.out) == [
        digest_row,
        ["metric: auc >= 0.99", "FAIL", "0.8", ">= 0.99", "auc = 0.8, needs >= 0.99"],
        ["signature", "pass", "compatible", "compatible", "ok"],
    ]
    assert (blocked_json.code, blocked_json.err) == (5, BLOCKED)
    report = blocked_json.json()
    assert (report["model"], report["version"], report["target"]) == ("fraud", 2, "Production")
    assert [
        (r["gate"], r["is_passed"], r["observed"], r["expected"]) for r in report["results"]
    ] == [
        ("artifact digest", True, digest_row[2], "every blob matches its digest"),
        ("metric: auc >= 0.99", False, "0.8", ">= 0.99"),
        ("signature", True, "compatible", "compatible"),
    ]
    assert _stages(workspace) == {2: "None", 1: "Production"}
    assert [e.action for e in workspace.models.history("fraud")][-2:] == [
        "promotion_blocked",
        "promotion_blocked",
    ]


def test_force_needs_a_reason_and_is_audited_in_history(
    models: Cli, workspace: Workspace, log_version: LogFn
) -> None:
    log_version(0.5)
    log_version(2.0)
    workspace.models.promote("fraud/1", "production")
    workspace.models.set_gates("fraud", metrics=["auc >= 0.99"])

    no_reason = models("promote", "fraud/2", "--to", "production", "--force")
    forced = models("promote", "fraud/2", "--to", "production", "--force", "-r", "incident-42")
    history = models("history", "fraud")
    history_json = models("history", "fraud", "--json")

    assert (no_reason.code, no_reason.out, no_reason.err) == (
        2,
        "",
        "error: --force needs --reason: say why the gates are overridden\n",
    )
    assert (forced.code, forced.err) == (0, "")
    assert forced.out.splitlines()[-1] == (
        "✓ fraud/2 is now Production; version 1 archived (forced over failed gates)"
    )
    assert ["metric: auc >= 0.99", "FAIL", "0.8", ">= 0.99", "auc = 0.8, needs >= 0.99"] in _rows(
        forced.out
    )
    assert _stages(workspace) == {2: "Production", 1: "Archived"}
    events = history_json.json()
    assert events == _jsonable(workspace.models.history("fraud"))
    assert [(e["action"], e["version"], e["reason"]) for e in events] == [
        ("create_model", None, None),
        ("register", 1, None),
        ("register", 2, None),
        ("promote", 1, None),
        ("set_gates", None, None),
        ("promote_forced", 2, "incident-42"),
    ]
    assert events[-1]["details"]["forced_over"] == ["metric: auc >= 0.99: auc = 0.8, needs >= 0.99"]
    assert (history.code, history.err) == (0, "")
    forced_rows = [row for row in _rows(history.out) if row[2] == "promote_forced"]
    assert [(row[2], row[3], row[5]) for row in forced_rows] == [
        ("promote_forced", "2", "incident-42")
    ]


# ----------------------------------------------------------------------------- alias, rollback


def test_models_alias_sets_deletes_and_guards_champion(
    models: Cli, workspace: Workspace, log_version: LogFn
) -> None:
    log_version(0.5)
    log_version(2.0)
    workspace.models.promote("fraud/1", "production")

    pointed = models("alias", "fraud", "challenger", "2", "-r", "shadow test")
    listed = models("ls", "--json")
    typo = models("alias", "fraud", "challengr", "--delete")
    champion = models("alias", "fraud", "champion", "1")
    no_version = models("alias", "fraud", "challenger")
    deleted = models("alias", "fraud", "challenger", "--delete")

    assert (pointed.code, pointed.out, pointed.err) == (0, "✓ fraud@challenger → fraud/2\n", "")
    assert listed.json()[0]["aliases"] == {"challenger": 2, "champion": 1}
    assert (typo.code, typo.out, typo.err) == (
        3,
        "",
        'error: model "fraud" has no alias "challengr" (did you mean "challenger"?) '
        "(aliases: challenger, champion); see `modelyard models show fraud`\n",
    )
    assert (champion.code, champion.out, champion.err) == (
        4,
        "",
        'error: the "champion" alias follows production and only moves through the gates: '
        "`modelyard models promote fraud/1 --to production`\n",
    )
    assert (no_version.code, no_version.err) == (
        2,
        "error: give the VERSION the alias should point at, or --delete\n",
    )
    assert (deleted.code, deleted.out, deleted.err) == (
        0,
        "✓ removed alias fraud@challenger\n",
        "",
    )
    with pytest.raises(AliasNotFoundError, match='no alias "challenger"'):
        workspace.models.version("fraud@challenger")
    assert workspace.models.version("fraud@champion").version == 1
    assert [(e.action, e.version, e.reason) for e in workspace.models.history("fraud")][-2:] == [
        ("set_alias", 2, "shadow test"),
        ("delete_alias", None, None),
    ]


def test_models_rollback_returns_production_to_the_earlier_version(
    models: Cli, workspace: Workspace, log_version: LogFn
) -> None:
    log_version(0.5)
    log_version(2.0)
    assert models("promote", "fraud/1", "--to", "production").code == 0
    assert models("promote", "fraud/2", "--to", "production").code == 0

    rolled = models("rollback", "fraud", "--reason", "p99 doubled")

    assert (rolled.code, rolled.out, rolled.err) == (
        0,
        "✓ rolled fraud back to version 1 (version 2 archived)\n",
        "",
    )
    assert _stages(workspace) == {2: "Archived", 1: "Production"}
    assert workspace.models.version("fraud@champion").version == 1
    last = workspace.models.history("fraud")[-1]
    assert (last.action, last.version, last.reason) == ("rollback", 1, "p99 doubled")


def test_models_rollback_without_an_earlier_production_version_exits_4(
    models: Cli, workspace: Workspace, log_version: LogFn
) -> None:
    log_version()

    never_promoted = models("rollback", "fraud")
    workspace.models.promote("fraud/1", "production")
    promoted_once = models("rollback", "fraud", "--json")

    expected = (
        'error: model "fraud" has no earlier production version to roll back to; '
        "see `modelyard models history fraud`\n"
    )
    assert (never_promoted.code, never_promoted.out, never_promoted.err) == (4, "", expected)
    assert (promoted_once.code, promoted_once.out, promoted_once.err) == (4, "", expected)
    assert _stages(workspace) == {1: "Production"}


# ----------------------------------------------------------------------------- lineage


def test_models_lineage_of_a_version_shows_its_run_seed_and_params(
    models: Cli, workspace: Workspace, frame: pd.DataFrame
) -> None:
    logged = _log_run(workspace, frame, seed=7, register="fraud")

    tree = models("lineage", "fraud/1")
    as_json = models("lineage", "fraud/1", "--json")

    version = workspace.models.version("fraud/1")
    run = workspace.runs.get(logged.run_id)
    environment = workspace.runs.environment(logged.run_id)
    max_diff = version.package.get("conversion", {}).get("max_abs_diff")
    captured: list[str] = []
    kinds: list[str] = []
    if run.git_commit:
        dirty = " (dirty)" if run.git_is_dirty else ""
        kinds.append("code")
        captured += [
            f"    ├── code git {run.git_commit[:12]}{dirty}",
            f"    │   ├── commit: {run.git_commit}",
            f"    │   └── branch: {run.git_branch or '—'}",
        ]
    if environment is not None:
        kinds.append("environment")
        captured += [
            f"    ├── environment python {environment.python_version}, "
            f"{len(environment.packages)} packages",
            f"    │   ├── digest: {environment.digest}",
            f"    │   └── platform: {environment.platform}",
        ]
    assert (tree.code, tree.err) == (0, "")
    assert tree.out.splitlines() == [
        "model_version fraud/1",
        f"├── digest: {logged.artifact_digest}",
        "├── flavor: sklearn",
        f"├── model type: {version.model_type}",
        "├── stage: None",
        "├── aliases: —",
        f"├── serving format: {'onnx' if version.is_onnx else 'native (sklearn)'}",
        f"├── onnx max |diff|: {'—' if max_diff is None else max_diff}",
        "├── pickle trusted: no",
        f"└── run lr ({logged.run_id[:8]})",
        f"    ├── run id: {logged.run_id}",
        "    ├── experiment: registry",
        "    ├── status: FINISHED",
        f"    ├── user: {run.user or '—'}",
        f"    ├── started: {run.start_time.isoformat()}",
        *captured,
        "    ├── seed seed 7",
        "    ├── params 1 params",
        "    │   └── C: 0.5",
        "    └── metrics 1 metrics",
        "        └── auc: 0.8",
    ]
    assert as_json.code == 0
    node = as_json.json()
    assert node == _jsonable(workspace.lineage("fraud/1"))
    assert (node["kind"], node["label"], node["details"]["digest"]) == (
        "model_version",
        "fraud/1",
        logged.artifact_digest,
    )
    [run_node] = node["children"]
    assert (run_node["kind"], run_node["details"]["run id"]) == ("run", logged.run_id)
    assert [child["kind"] for child in run_node["children"]] == [
        *kinds,
        "seed",
        "params",
        "metrics",
    ]
    assert [child["label"] for child in run_node["children"]][-3:] == [
        "seed 7",
        "1 params",
        "1 metrics",
    ]


def test_models_lineage_of_a_run_and_of_an_unread_input(
    models: Cli, workspace: Workspace, frame: pd.DataFrame
) -> None:
    logged = _log_run(workspace, frame, register="fraud")

    downstream = models("lineage", logged.run_id)
    downstream_json = models("lineage", logged.run_id, "--json")
    nothing = models("lineage", "dataset:nope")
    nothing_json = models("lineage", "dataset:nope", "--json")

    assert (downstream.code, downstream.err) == (0, "")
    lines = downstream.out.splitlines()
    assert lines[:2] == [f"run lr ({logged.run_id[:8]})", f"├── run id: {logged.run_id}"]
    assert lines[-3:] == [
        "└── model_version fraud/1",
        f"    ├── digest: {logged.artifact_digest}",
        "    └── stage: None",
    ]
    assert "seed" not in [child["kind"] for child in downstream_json.json()["children"]]
    assert downstream_json.json()["children"][-1] == {
        "kind": "model_version",
        "label": "fraud/1",
        "details": {"digest": logged.artifact_digest, "stage": "None"},
        "children": [],
    }
    assert (nothing.code, nothing.out, nothing.err) == (
        0,
        "input dataset nope (every version)\n└── runs: 0\n",
        "",
    )
    assert (nothing_json.code, nothing_json.json()) == (
        0,
        {
            "kind": "input",
            "label": "dataset nope (every version)",
            "details": {"runs": "0"},
            "children": [],
        },
    )


def test_models_lineage_wraps_long_lines_instead_of_cutting_them(
    models: Cli, log_version: LogFn, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On an 80-column terminal the tree used to crop every line at the edge: the digest line
    # lost its last characters, with no sign that anything was missing.
    monkeypatch.setattr(render.console, "width", 80)
    logged = log_version()

    result = models("lineage", "fraud/1")

    assert (result.code, result.err) == (0, "")
    lines = [line.rstrip() for line in result.out.splitlines()]
    assert max(len(line) for line in lines) <= 80
    assert lines[1:3] == ["├── digest:", f"│   {logged.artifact_digest}"]


# ----------------------------------------------------------------------------- card


def test_models_card_prints_edits_and_writes_markdown(
    models: Cli, workspace: Workspace, log_version: LogFn, tmp_path: Path
) -> None:
    log_version()
    target = tmp_path / "card.md"

    printed = models("card", "fraud/1")
    fields = ["--set", "intended_use=Rank transactions for review", "--set", "owners=risk-team"]
    edited = models("card", "fraud/1", *fields, "--reason", "first draft")
    bogus = models("card", "fraud/1", "--set", "bogus=x")
    shapeless = models("card", "fraud/1", "--set", "intended_use")
    written = models("card", "fraud/1", "--output", target)

    assert (printed.code, printed.err) == (0, "")
    assert printed.out.startswith("# Model card: fraud/1\n\n- **Stage**: None; aliases: none\n")
    placeholder = '_Not written yet: `modelyard models card fraud/1 --set intended_use="…"`._'
    assert f"## Intended use\n\n{placeholder}\n" in printed.out
    card = workspace.models.card("fraud/1")
    assert (edited.code, edited.out, edited.err) == (0, card, "")
    assert "## Intended use\n\nRank transactions for review\n\n## Owners\n\nrisk-team\n" in card
    assert workspace.models.version("fraud/1").card == {
        "intended_use": "Rank transactions for review",
        "owners": "risk-team",
    }
    last = workspace.models.history("fraud")[-1]
    assert (last.action, last.version, dict(last.details), last.reason) == (
        "edit_card",
        1,
        {"fields": ["intended_use", "owners"]},
        "first draft",
    )
    assert (bogus.code, bogus.out, bogus.err) == (
        2,
        "",
        "error: card field 'bogus' is not editable: use one of intended_use, limitations, "
        "ethical_considerations, owners, notes\n",
    )
    assert (shapeless.code, shapeless.out, shapeless.err) == (
        2,
        "",
        "error: --set 'intended_use' must read FIELD=TEXT\n",
    )
    assert (written.code, written.out, written.err) == (
        0,
        f"✓ model card written to {target}\n",
        "",
    )
    assert target.read_text(encoding="utf-8") == card


def test_models_card_prints_the_markdown_verbatim(
    models: Cli, workspace: Workspace, log_version: LogFn, tmp_path: Path
) -> None:
    # stdout went through Rich, which turned ":warning:" into an emoji and tabs into spaces:
    # `card > FILE` and `card --output FILE` wrote different markdown.
    log_version()
    workspace.models.edit_card("fraud/1", intended_use="Flag :warning: cases\tfor review")
    target = tmp_path / "card.md"

    printed = models("card", "fraud/1")
    written = models("card", "fraud/1", "--output", target)

    card = workspace.models.card("fraud/1")
    assert "\n## Intended use\n\nFlag :warning: cases\tfor review\n" in card
    assert (printed.code, printed.out, printed.err) == (0, card, "")
    assert (written.code, written.err) == (0, "")
    assert target.read_text(encoding="utf-8") == card


def test_models_card_output_names_the_file_or_exits_2_when_it_cannot_be_written(
    models: Cli, log_version: LogFn, tmp_path: Path
) -> None:
    # A path with [brackets] was read as Rich markup ("written to card.md"); a missing
    # directory ended in "unexpected FileNotFoundError ... a bug in modelyard" (exit 70).
    log_version()
    bracketed = tmp_path / "card[draft].md"
    missing = tmp_path / "missing" / "card.md"

    written = models("card", "fraud/1", "-o", bracketed)
    unwritable = models("card", "fraud/1", "-o", missing)

    assert (written.code, written.out, written.err) == (
        0,
        f"✓ model card written to {bracketed}\n",
        "",
    )
    assert bracketed.read_text(encoding="utf-8").startswith("# Model card: fraud/1\n")
    assert (unwritable.code, unwritable.out, unwritable.err) == (
        2,
        "",
        f"error: cannot write the model card of fraud/1 to {missing}: No such file or "
        "directory; create the directory or pick another --output\n",
    )
    assert not missing.parent.exists()


def test_free_text_with_brackets_is_shown_as_written(models: Cli, workspace: Workspace) -> None:
    workspace.models.create("fraud", description="rules v2 [/] legacy")

    listed = models("ls")

    assert (listed.code, listed.err) == (0, "")
    assert _rows(listed.out)[0][-1] == "rules v2 [/] legacy"


# ----------------------------------------------------------------------------- gates


def test_models_gates_show_set_and_json(models: Cli, workspace: Workspace) -> None:
    workspace.models.create("fraud")

    empty = models("gates", "fraud")
    rules = ["-m", "auc >= 0.85", "-m", "auc >= champion.auc - 0.002"]
    updated = models("gates", "fraud", *rules, "--latency-p99-ms", "5")
    as_json = models("gates", "fraud", "--json")
    shown = models("show", "fraud")

    assert (empty.code, empty.err) == (0, "")
    assert empty.out.splitlines()[0] == "gates of fraud"
    assert _rows(empty.out) == ALWAYS
    assert (updated.code, updated.err) == (0, "")
    assert _rows(updated.out) == [
        ["metric", "auc >= 0.85"],
        ["metric", "auc >= champion.auc - 0.002"],
        ["latency p99", "<= 5 ms"],
        *ALWAYS,
    ]
    assert as_json.json() == {
        "metric_rules": ["auc >= 0.85", "auc >= champion.auc - 0.002"],
        "latency_p99_ms": 5.0,
        "latency_samples": 200,
    }
    assert workspace.models.gates("fraud").to_dict() == as_json.json()
    assert shown.out.splitlines()[:2] == [
        "model fraud",
        "gates: metrics auc >= 0.85, auc >= champion.auc - 0.002; latency p99 budget 5 ms",
    ]


def test_models_gates_set_one_option_keeps_the_others(models: Cli, workspace: Workspace) -> None:
    # `gates NAME --latency-p99-ms 5` used to wipe the metric rules (and `-m` alone the latency
    # budget and sample count): docs/cli.md says only --metric replaces the rules.
    workspace.models.create("fraud")
    workspace.models.set_gates("fraud", metrics=["auc >= 0.85"], latency_samples=500)

    budget = models("gates", "fraud", "--latency-p99-ms", "5", "--json")
    rules = models("gates", "fraud", "-m", "auc >= 0.9", "--json")

    assert (budget.code, budget.json()) == (
        0,
        {"metric_rules": ["auc >= 0.85"], "latency_p99_ms": 5.0, "latency_samples": 500},
    )
    assert (rules.code, rules.json()) == (
        0,
        {"metric_rules": ["auc >= 0.9"], "latency_p99_ms": 5.0, "latency_samples": 500},
    )
    assert workspace.models.gates("fraud").to_dict() == rules.json()


@pytest.mark.parametrize(
    ("option", "error"),
    [
        (
            ["-m", "auc >> 1"],
            "error: gate rule 'auc >> 1' does not parse: write 'METRIC OP NUMBER' or "
            "'METRIC OP champion.METRIC - NUMBER' with OP one of >=, <=, >, <, ==\n",
        ),
        (["--latency-p99-ms", "0"], "error: latency_p99_ms 0.0 must be greater than 0\n"),
    ],
    ids=["bad rule", "zero budget"],
)
def test_models_gates_rejects_bad_settings_with_exit_2(
    models: Cli, workspace: Workspace, option: list[str], error: str
) -> None:
    workspace.models.create("fraud")
    workspace.models.set_gates("fraud", metrics=["auc >= 0.85"])

    result = models("gates", "fraud", *option)

    assert (result.code, result.out, result.err) == (2, "", error)
    assert workspace.models.gates("fraud").to_dict() == {
        "metric_rules": ["auc >= 0.85"],
        "latency_p99_ms": None,
        "latency_samples": 200,
    }


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("command", "code", "error"),
    [
        (["show", "frod"], 3, UNKNOWN_MODEL),
        (["versions", "frod"], 3, UNKNOWN_MODEL),
        (["history", "frod"], 3, UNKNOWN_MODEL),
        (["gates", "frod"], 3, UNKNOWN_MODEL),
        (["rollback", "frod"], 3, UNKNOWN_MODEL),
        (
            ["promote", "fraud/x", "--to", "production"],
            2,
            "error: invalid reference 'fraud/x': version 'x' is not a positive integer "
            '(expected "name", "name/VERSION" or "name@ALIAS")\n',
        ),
        (
            ["promote", "fraud/1", "--to", "production"],
            3,
            'error: model "fraud" has no version 1 (no versions registered yet); '
            "see `modelyard models versions fraud`\n",
        ),
        (
            ["promote", "fraud@champion", "--to", "production"],
            3,
            'error: model "fraud" has no alias "champion" (aliases: none); '
            "see `modelyard models show fraud`\n",
        ),
        (
            ["promote", "fraud/1", "--to", "live"],
            2,
            "error: unknown stage 'live': use one of none, staging, production, archived\n",
        ),
        (
            ["promote", "fraud/1"],
            2,
            "error: promote needs exactly one of to=STAGE or alias=NAME\n",
        ),
        (
            ["lineage", ":x"],
            2,
            "error: invalid reference ':x': an input reads KIND:NAME[/VERSION] "
            '(expected "name", "name/VERSION" or "name@ALIAS")\n',
        ),
        (
            ["lineage", MISSING_RUN],
            3,
            f'error: no run with id "{MISSING_RUN}"; see `modelyard runs ls`\n',
        ),
        (
            ["register", "fraud", MISSING_RUN],
            3,
            f'error: no run with id "{MISSING_RUN}"; see `modelyard runs ls`\n',
        ),
        (
            ["card", "fraud/2"],
            3,
            'error: model "fraud" has no version 2 (no versions registered yet); '
            "see `modelyard models versions fraud`\n",
        ),
    ],
    ids=lambda value: " ".join(value) if isinstance(value, list) else None,
)
def test_unknown_or_malformed_subjects_exit_with_their_code(
    models: Cli, workspace: Workspace, command: list[str], code: int, error: str
) -> None:
    workspace.models.create("fraud")

    result = models(*command)

    assert (result.code, result.out, result.err) == (code, "", error)
    assert workspace.models.history("fraud")[-1].action == "create_model"


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["alias", "fraud", "challenger", "two"], "Invalid value for 'version'"),
        (["gates", "fraud", "--latency-p99-ms", "fast"], "Invalid value for '--latency-p99-ms'"),
        (["promote"], "Missing argument 'reference'"),
    ],
    ids=lambda command: " ".join(command) if isinstance(command, list) else None,
)
def test_bad_flags_or_arguments_exit_2_before_opening_a_workspace(
    cli: Cli, tmp_path: Path, command: list[str], message: str
) -> None:
    result = cli("-w", tmp_path / "ws", "models", *command)

    assert (result.code, result.out) == (2, "")
    assert message in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "ws").exists()
