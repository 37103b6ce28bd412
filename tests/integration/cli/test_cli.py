"""The ``modelyard`` command driven in-process against real workspaces on SQLite and PostgreSQL.

Each test calls ``modelyard.cli.app.main`` as the console script does and checks the exit code,
stdout (exact JSON where ``--json`` is given) and the ``error:`` line on stderr.
"""

from __future__ import annotations

import hashlib
import platform
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import modelyard
from cli_harness import Cli
from modelyard import __version__
from modelyard.clock import FixedClock
from modelyard.metastore import head_revision

HEAD = head_revision()
T0 = "2026-01-01T00:00:00+00:00"  # FixedClock's start
T1 = "2026-01-01T00:00:01+00:00"
UNREACHABLE_URL = "postgresql+psycopg://u:secret@127.0.0.1:1/db"
UNREACHABLE_SHOWN = "postgresql+psycopg://u:***@127.0.0.1:1/db"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend_url(request: pytest.FixtureRequest) -> str | None:
    """The ``--db`` given to ``modelyard init``: none (the SQLite default), or PostgreSQL."""
    if request.param == "sqlite":
        return None
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def home(cli: Cli, tmp_path: Path, backend_url: str | None) -> Path:
    """A workspace made by ``modelyard init`` on each backend."""
    directory = tmp_path / "ws"
    db_option = ["--db", backend_url] if backend_url is not None else []
    result = cli("init", directory, *db_option, "--json")
    assert (result.code, result.err) == (0, "")
    return directory


def _shown_db_url(home: Path, backend_url: str | None) -> str:
    return backend_url if backend_url is not None else f"sqlite:///{home.resolve()}/modelyard.db"


@dataclass(frozen=True)
class Logged:
    """The runs the SDK logged into a workspace."""

    lr: str
    gb: str
    model_digest: str
    plots_digest: str


@pytest.fixture
def logged(home: Path, tmp_path: Path) -> Logged:
    """Two finished runs in experiment "fraud"; "lr" has non-finite metrics and artifacts."""
    source = tmp_path / "source"
    (source / "plots").mkdir(parents=True)
    (source / "model.txt").write_text("weights", encoding="utf-8")
    (source / "plots" / "a.txt").write_text("a", encoding="utf-8")
    (source / "plots" / "b.txt").write_text("bb", encoding="utf-8")
    clock = FixedClock()
    with modelyard.open(home, clock=clock) as ws:
        with ws.start_run(
            "fraud", name="lr", params={"max_depth": 6, "lr": 0.1}, tags={"team": "risk"}
        ) as lr:
            lr.log_metric("auc", 0.8)
            lr.log_metric("auc", 0.9)
            lr.log_metric("loss", float("nan"))
            lr.log_metric("gain", float("inf"))
            lr.log_metric("drift", float("-inf"))
            model = lr.log_artifact(source / "model.txt")
            plots = lr.log_artifact(source / "plots")
        clock.advance(seconds=1)
        with ws.start_run("fraud", name="gb", params={"max_depth": 8, "lr": 0.1}) as gb:
            gb.log_metric("auc", 0.85)
            gb.log_metric("loss", 0.3)
    return Logged(lr.run_id, gb.run_id, model.digest, plots.digest)


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob_path(home: Path, digest: str) -> Path:
    hex_digest = digest.removeprefix("sha256:")
    return home.resolve() / "artifacts" / "sha256" / hex_digest[:2] / hex_digest


# ----------------------------------------------------------------------------- init, version


def test_init_writes_modelyard_toml_and_reports_the_workspace(
    cli: Cli, tmp_path: Path, backend_url: str | None
) -> None:
    directory = tmp_path / "new"
    db_option = ["--db", backend_url] if backend_url is not None else []

    result = cli("init", directory, *db_option, "--json")

    assert (result.code, result.err) == (0, "")
    assert result.json() == {
        "workspace": str(directory.resolve()),
        "db_url": _shown_db_url(directory, backend_url),
        "artifact_root": (directory.resolve() / "artifacts").as_uri(),
        "config": str(directory / "modelyard.toml"),
    }
    config = tomllib.loads((directory / "modelyard.toml").read_text(encoding="utf-8"))
    assert config == ({"db_url": backend_url} if backend_url is not None else {})


def test_init_prints_a_summary_for_people(cli: Cli, tmp_path: Path) -> None:
    directory = tmp_path / "new"

    result = cli("init", directory)

    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines() == [
        f"✓ workspace ready at {directory.resolve()}",
        f"  metadata   sqlite:///{directory.resolve()}/modelyard.db  (modelyard.db)",
        f"  artifacts  {(directory.resolve() / 'artifacts').as_uri()}  (artifacts/)",
        f"  settings   {directory / 'modelyard.toml'}",
    ]


def test_init_again_without_options_keeps_the_database_setting(
    cli: Cli, tmp_path: Path, db_url: str
) -> None:
    # A second `init DIR` used to rewrite modelyard.toml without db_url: the workspace then
    # silently moved to a new, empty SQLite file.
    directory = tmp_path / "ws"
    assert cli("init", directory, "--db", db_url).code == 0
    assert cli("-w", directory, "experiments", "create", "fraud").code == 0

    again = cli("init", directory, "--json")
    listed = cli("-w", directory, "experiments", "ls", "--json")

    assert (again.code, again.err, again.json()["db_url"]) == (0, "", db_url)
    assert tomllib.loads((directory / "modelyard.toml").read_text(encoding="utf-8")) == {
        "db_url": db_url
    }
    assert [experiment["name"] for experiment in listed.json()] == ["fraud"]
    assert "(modelyard.db)" not in cli("init", directory).out


def test_init_with_one_option_keeps_the_other_settings(
    cli: Cli, tmp_path: Path, db_url: str
) -> None:
    directory = tmp_path / "ws"
    blobs = (tmp_path / "blobs").as_uri()
    assert cli("init", directory, "--db", db_url).code == 0
    assert cli("init", directory, "--artifacts", blobs).code == 0
    assert tomllib.loads((directory / "modelyard.toml").read_text(encoding="utf-8")) == {
        "db_url": db_url,
        "artifact_root": blobs,
    }


def test_init_on_an_unreachable_database_exits_6_and_writes_no_settings(
    cli: Cli, tmp_path: Path
) -> None:
    directory = tmp_path / "ws"

    result = cli("init", directory, "--db", UNREACHABLE_URL)

    assert result.code == 6
    assert result.err.startswith(f"error: cannot use the metadata database {UNREACHABLE_SHOWN}: ")
    assert "secret" not in result.err
    assert not (directory / "modelyard.toml").exists()


def test_version_prints_the_package_version(cli: Cli) -> None:
    result = cli("version")

    assert (result.code, result.out, result.err) == (0, f"{__version__}\n", "")


def test_the_workspace_defaults_to_modelyard_home(
    cli: Cli, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MODELYARD_HOME", str(home))

    created = cli("experiments", "create", "from-env")
    listed = cli("-w", home, "experiments", "ls", "--json")

    assert (created.code, created.out) == (0, "✓ created experiment from-env\n")
    assert [experiment["name"] for experiment in listed.json()] == ["from-env"]


def test_the_workspace_defaults_to_dot_modelyard(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = cli("experiments", "create", "local")

    assert (result.code, result.err) == (0, "")
    assert (tmp_path / ".modelyard" / "modelyard.db").is_file()


# ----------------------------------------------------------------------------- experiments


def test_experiments_create_show_and_ls(cli: Cli, home: Path) -> None:
    empty = cli("-w", home, "experiments", "ls")
    created = cli("-w", home, "experiments", "create", "fraud", "-d", "card fraud", "--json")
    shown = cli("-w", home, "experiments", "show", "fraud", "--json")
    by_id = cli("-w", home, "experiments", "show", created.json()["experiment_id"], "--json")
    listed = cli("-w", home, "experiments", "ls", "--json")
    table = cli("-w", home, "experiments", "ls")

    assert (empty.code, empty.out) == (
        0,
        "no experiments yet: start a run, or `modelyard experiments create NAME`\n",
    )
    experiment = created.json()
    assert created.code == 0
    assert sorted(experiment) == [
        "created_at",
        "description",
        "experiment_id",
        "lifecycle",
        "name",
        "run_count",
        "updated_at",
    ]
    assert (experiment["name"], experiment["description"], experiment["lifecycle"]) == (
        "fraud",
        "card fraud",
        "active",
    )
    assert experiment["run_count"] == 0
    assert shown.json() == experiment
    assert by_id.json() == experiment
    assert listed.json() == [experiment]
    assert table.code == 0
    fraud_row = next(line for line in table.out.splitlines() if line.startswith("│ fraud "))
    assert [cell.strip() for cell in fraud_row.split("│")[1:4]] == ["fraud", "0", "active"]


def test_experiments_create_for_people(cli: Cli, home: Path) -> None:
    result = cli("-w", home, "experiments", "create", "fraud")

    assert (result.code, result.out, result.err) == (0, "✓ created experiment fraud\n", "")


def test_creating_an_experiment_twice_exits_4_naming_it(cli: Cli, home: Path) -> None:
    assert cli("-w", home, "experiments", "create", "fraud").code == 0

    result = cli("-w", home, "experiments", "create", "fraud")

    assert (result.code, result.out) == (4, "")
    assert result.err == (
        'error: experiment "fraud" already exists; pick another name or use it as it is\n'
    )


def test_an_unknown_experiment_exits_3_with_a_suggestion(cli: Cli, home: Path) -> None:
    assert cli("-w", home, "experiments", "create", "fraud").code == 0

    shown = cli("-w", home, "experiments", "show", "frud")
    runs = cli("-w", home, "runs", "ls", "-e", "frud")

    expected = (
        'error: no experiment "frud" (did you mean "fraud"?); see `modelyard experiments ls`\n'
    )
    assert (shown.code, shown.out, shown.err) == (3, "", expected)
    assert (runs.code, runs.out, runs.err) == (3, "", expected)


def test_experiments_rename_takes_the_runs_along(cli: Cli, home: Path, logged: Logged) -> None:
    renamed = cli("-w", home, "experiments", "rename", "fraud", "card-fraud", "--json")
    runs = cli("-w", home, "runs", "ls", "-e", "card-fraud", "--json")
    old = cli("-w", home, "experiments", "show", "fraud")
    back = cli("-w", home, "experiments", "rename", "card-fraud", "fraud")

    assert renamed.code == 0
    assert (renamed.json()["name"], renamed.json()["run_count"]) == ("card-fraud", 2)
    assert [(run["name"], run["experiment"]) for run in runs.json()] == [
        ("gb", "card-fraud"),
        ("lr", "card-fraud"),
    ]
    assert (old.code, old.err) == (
        3,
        'error: no experiment "fraud" (did you mean "card-fraud"?); '
        "see `modelyard experiments ls`\n",
    )
    assert (back.code, back.out) == (0, "✓ renamed from card-fraud to experiment fraud\n")


def test_renaming_onto_a_taken_name_exits_4(cli: Cli, home: Path) -> None:
    assert cli("-w", home, "experiments", "create", "fraud").code == 0
    assert cli("-w", home, "experiments", "create", "churn").code == 0

    result = cli("-w", home, "experiments", "rename", "fraud", "churn")

    assert (result.code, result.err) == (
        4,
        'error: experiment "churn" already exists; pick another name or use it as it is\n',
    )


def test_experiments_archive_hides_and_restore_shows_again(
    cli: Cli, home: Path, logged: Logged
) -> None:
    archived = cli("-w", home, "experiments", "archive", "fraud", "--json")
    listed = cli("-w", home, "experiments", "ls", "--json")
    listed_all = cli("-w", home, "experiments", "ls", "--all", "--json")
    runs_hidden = cli("-w", home, "runs", "ls", "--json")
    runs_named = cli("-w", home, "runs", "ls", "-e", "fraud", "--json")
    restored = cli("-w", home, "experiments", "restore", "fraud")
    runs_back = cli("-w", home, "runs", "ls", "--json")

    assert (archived.code, archived.json()["lifecycle"]) == (0, "archived")
    assert listed.json() == []
    assert [(e["name"], e["lifecycle"], e["run_count"]) for e in listed_all.json()] == [
        ("fraud", "archived", 2)
    ]
    assert runs_hidden.json() == []
    assert [run["name"] for run in runs_named.json()] == ["gb", "lr"]
    assert (restored.code, restored.out) == (0, "✓ restored experiment fraud\n")
    assert [run["name"] for run in runs_back.json()] == ["gb", "lr"]


def test_experiments_archive_for_people(cli: Cli, home: Path) -> None:
    assert cli("-w", home, "experiments", "create", "fraud").code == 0

    result = cli("-w", home, "experiments", "archive", "fraud")

    assert (result.code, result.out, result.err) == (0, "✓ archived experiment fraud\n", "")


# ----------------------------------------------------------------------------- runs


def test_runs_ls_json_has_every_value_with_non_finite_metrics_as_strings(
    cli: Cli, home: Path, logged: Logged
) -> None:
    result = cli("-w", home, "runs", "ls", "--json")

    assert result.code == 0
    gb, lr = result.json()
    assert (gb["run_id"], gb["name"], gb["start_time"]) == (logged.gb, "gb", T1)
    assert (lr["run_id"], lr["name"], lr["experiment"], lr["status"]) == (
        logged.lr,
        "lr",
        "fraud",
        "FINISHED",
    )
    assert (lr["start_time"], lr["end_time"], lr["parent_run_id"]) == (T0, T0, None)
    assert lr["params"] == {"lr": "0.1", "max_depth": "6"}
    assert lr["tags"] == {"team": "risk"}
    assert lr["metrics"] == {"auc": 0.9, "drift": "-Infinity", "gain": "Infinity", "loss": "NaN"}
    assert gb["metrics"] == {"auc": 0.85, "loss": 0.3}


def test_runs_ls_filters_by_status_and_limit(cli: Cli, home: Path, logged: Logged) -> None:
    finished = cli("-w", home, "runs", "ls", "-s", "FINISHED", "-n", "1", "--json")
    failed = cli("-w", home, "runs", "ls", "--status", "FAILED", "--json")
    none = cli("-w", home, "runs", "ls", "--status", "FAILED")

    assert [run["run_id"] for run in finished.json()] == [logged.gb]
    assert failed.json() == []
    assert (none.code, none.out) == (0, "no runs found\n")


def test_runs_ls_table_for_people(cli: Cli, home: Path, logged: Logged) -> None:
    result = cli("-w", home, "runs", "ls")

    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    lr_row = next(line for line in lines if logged.lr[:8] in line)
    gb_row = next(line for line in lines if logged.gb[:8] in line)
    assert lines.index(gb_row) < lines.index(lr_row)  # newest first
    assert [cell.strip() for cell in lr_row.split("│")[1:4]] == [logged.lr[:8], "lr", "FINISHED"]
    assert [cell.strip() for cell in gb_row.split("│")[1:4]] == [logged.gb[:8], "gb", "FINISHED"]
    assert "experiment: fraud" in lines


def test_runs_search_filters_and_orders_in_the_database(
    cli: Cli, home: Path, logged: Logged
) -> None:
    better = cli("-w", home, "runs", "search", "metrics.auc > 0.86", "--json")
    deep = cli("-w", home, "runs", "search", "params.max_depth = '8'", "-e", "fraud", "--json")
    ordered = cli("-w", home, "runs", "search", "", "-o", "metrics.auc ASC", "--json")
    tagged = cli("-w", home, "runs", "search", "tags.team = 'risk'")
    nothing = cli("-w", home, "runs", "search", "metrics.auc > 5")

    assert [run["run_id"] for run in better.json()] == [logged.lr]
    assert [run["run_id"] for run in deep.json()] == [logged.gb]
    assert [run["name"] for run in ordered.json()] == ["gb", "lr"]
    assert tagged.code == 0
    assert "1 run(s) match" in tagged.out
    assert logged.lr[:8] in tagged.out
    assert (nothing.code, nothing.out) == (0, "no runs match\n")


def test_a_malformed_filter_exits_2_pointing_at_the_token(
    cli: Cli, home: Path, logged: Logged
) -> None:
    result = cli("-w", home, "runs", "search", "metrics.auc >> 3")

    assert (result.code, result.out) == (2, "")
    assert result.err.splitlines() == [
        "error: invalid filter at position 13 ('>'): expected a value (a number or a quoted "
        "string)",
        "  metrics.auc >> 3",
        "               ^",
    ]


def test_runs_show_json(cli: Cli, home: Path, logged: Logged) -> None:
    result = cli("-w", home, "runs", "show", logged.lr, "--json")

    assert result.code == 0
    shown = result.json()
    assert sorted(shown) == ["artifacts", "children", "environment", "inputs", "run"]
    assert shown["run"]["metrics"] == {
        "auc": 0.9,
        "drift": "-Infinity",
        "gain": "Infinity",
        "loss": "NaN",
    }
    assert [
        (a["path"], a["kind"], a["file_count"], a["size_bytes"]) for a in shown["artifacts"]
    ] == [
        ("model.txt", "file", 1, 7),
        ("plots", "dir", 2, 3),
    ]
    assert (shown["inputs"], shown["children"]) == ([], [])
    assert shown["environment"]["python_version"] == platform.python_version()


def test_runs_show_for_people(cli: Cli, home: Path, logged: Logged) -> None:
    result = cli("-w", home, "runs", "show", logged.lr)

    assert (result.code, result.err) == (0, "")
    lines = result.out.splitlines()
    assert lines[0] == f"run {logged.lr}  FINISHED"
    loss_row = next(line for line in lines if "│ loss " in line)
    assert loss_row.split("│")[2].strip() == "NaN"
    assert next(line for line in lines if "│ max_depth " in line).split("│")[2].strip() == "6"
    model_row = next(line for line in lines if "│ model.txt " in line)
    assert [cell.strip() for cell in model_row.split("│")[1:5]] == ["model.txt", "file", "1", "7"]


def test_runs_compare_json_lines_runs_up_by_key(cli: Cli, home: Path, logged: Logged) -> None:
    result = cli("-w", home, "runs", "compare", logged.lr, logged.gb, "--json")

    assert result.code == 0
    compared = result.json()
    assert [run["run_id"] for run in compared["runs"]] == [logged.lr, logged.gb]
    assert compared["rows"] == [
        {
            "section": "param",
            "key": "lr",
            "values": ["0.1", "0.1"],
            "is_different": False,
            "best_index": None,
        },
        {
            "section": "param",
            "key": "max_depth",
            "values": ["6", "8"],
            "is_different": True,
            "best_index": None,
        },
        {
            "section": "metric",
            "key": "auc",
            "values": [0.9, 0.85],
            "is_different": True,
            "best_index": 0,
        },
        {
            "section": "metric",
            "key": "drift",
            "values": ["-Infinity", None],
            "is_different": True,
            "best_index": None,
        },
        {
            "section": "metric",
            "key": "gain",
            "values": ["Infinity", None],
            "is_different": True,
            "best_index": None,
        },
        {
            "section": "metric",
            "key": "loss",
            "values": ["NaN", 0.3],
            "is_different": True,
            "best_index": None,
        },
        {
            "section": "tag",
            "key": "team",
            "values": ["risk", None],
            "is_different": True,
            "best_index": None,
        },
    ]


def test_runs_compare_diff_for_people(cli: Cli, home: Path, logged: Logged) -> None:
    result = cli("-w", home, "runs", "compare", logged.lr, logged.gb, "--diff")

    assert (result.code, result.err) == (0, "")
    keys = [line.split("│")[2].strip() for line in result.out.splitlines() if line.count("│") > 3]
    assert keys == ["max_depth", "auc", "drift", "gain", "loss", "team"]


def test_runs_compare_with_one_run_exits_2(cli: Cli, home: Path, logged: Logged) -> None:
    result = cli("-w", home, "runs", "compare", logged.lr)

    assert (result.code, result.out, result.err) == (
        2,
        "",
        "error: compare needs at least two run ids\n",
    )


def test_runs_history_json_keeps_every_point(cli: Cli, home: Path, logged: Logged) -> None:
    auc = cli("-w", home, "runs", "history", logged.lr, "auc", "--json")
    loss = cli("-w", home, "runs", "history", logged.lr, "loss", "--json")
    missing = cli("-w", home, "runs", "history", logged.lr, "f1")

    assert auc.json() == [
        {"step": 0, "timestamp": T0, "value": 0.8},
        {"step": 1, "timestamp": T0, "value": 0.9},
    ]
    assert loss.json() == [{"step": 0, "timestamp": T0, "value": "NaN"}]
    assert (missing.code, missing.out) == (0, f"run {logged.lr} has no points of metric 'f1'\n")


def test_runs_history_for_people(cli: Cli, home: Path, logged: Logged) -> None:
    result = cli("-w", home, "runs", "history", logged.lr, "auc")

    assert (result.code, result.err) == (0, "")
    assert result.out.splitlines()[0] == "auc  ▁█  (2 points)"


def test_runs_artifacts_lists_files_inside_directories(
    cli: Cli, home: Path, logged: Logged
) -> None:
    result = cli("-w", home, "runs", "artifacts", logged.lr, "--json")
    none = cli("-w", home, "runs", "artifacts", logged.gb)

    assert result.code == 0
    assert [(a["path"], a["kind"], a["size_bytes"], a["digest"]) for a in result.json()] == [
        ("model.txt", "file", 7, _sha256(b"weights")),
        ("plots", "dir", 3, logged.plots_digest),
        ("plots/a.txt", "file", 1, _sha256(b"a")),
        ("plots/b.txt", "file", 2, _sha256(b"bb")),
    ]
    assert (none.code, none.out) == (0, f"run {logged.gb} has no artifacts\n")


def test_runs_download_writes_every_artifact(
    cli: Cli, home: Path, logged: Logged, tmp_path: Path
) -> None:
    dest = tmp_path / "out"

    result = cli("-w", home, "runs", "download", logged.lr, dest)

    assert (result.code, result.err) == (0, "")
    assert result.out == f"✓ artifacts of run {logged.lr} written to {dest}\n"
    written = sorted(path.relative_to(dest).as_posix() for path in dest.rglob("*"))
    assert written == ["model.txt", "plots", "plots/a.txt", "plots/b.txt"]
    assert (dest / "model.txt").read_text(encoding="utf-8") == "weights"
    assert (dest / "plots" / "b.txt").read_text(encoding="utf-8") == "bb"


def test_runs_download_one_path(cli: Cli, home: Path, logged: Logged, tmp_path: Path) -> None:
    dest = tmp_path / "out"

    result = cli("-w", home, "runs", "download", logged.lr, dest, "--path", "model.txt")
    unknown = cli("-w", home, "runs", "download", logged.lr, dest, "-p", "weights.bin")

    assert result.code == 0
    assert sorted(path.name for path in dest.iterdir()) == ["model.txt"]
    assert (unknown.code, unknown.err) == (
        3,
        f'error: run {logged.lr} has no artifact "weights.bin" (it has model.txt, plots)\n',
    )


def test_runs_verify_rehashes_every_blob(cli: Cli, home: Path, logged: Logged) -> None:
    as_json = cli("-w", home, "runs", "verify", logged.lr, "--json")
    for_people = cli("-w", home, "runs", "verify", logged.lr)

    assert (as_json.code, as_json.json()) == (0, {"run_id": logged.lr, "verified": 4})
    assert for_people.out == f"✓ 4 artifact blob(s) of run {logged.lr} match their digests\n"


def test_runs_verify_on_a_corrupt_blob_exits_1_naming_it(
    cli: Cli, home: Path, logged: Logged, tmp_path: Path
) -> None:
    blob = _blob_path(home, logged.model_digest)
    blob.chmod(0o644)
    blob.write_bytes(b"tampered")

    verified = cli("-w", home, "runs", "verify", logged.lr)
    downloaded = cli("-w", home, "runs", "download", logged.lr, tmp_path / "out")

    expected = (
        f"error: artifact blob {logged.model_digest} at {blob} is corrupt: its content hashes "
        f"to {_sha256(b'tampered')}; restore it from a backup or log the artifact again\n"
    )
    assert (verified.code, verified.out, verified.err) == (1, "", expected)
    assert (downloaded.code, downloaded.err) == (1, expected)
    assert not (tmp_path / "out" / "model.txt").exists()


@pytest.mark.parametrize(
    "command",
    [
        ["runs", "show", "{missing}"],
        ["runs", "history", "{missing}", "auc"],
        ["runs", "artifacts", "{missing}"],
        ["runs", "verify", "{missing}"],
        ["runs", "download", "{missing}", "{dest}"],
        ["runs", "compare", "{lr}", "{missing}"],
    ],
    ids=lambda command: " ".join(command[:2]),
)
def test_an_unknown_run_id_exits_3(
    cli: Cli, home: Path, logged: Logged, tmp_path: Path, command: list[str]
) -> None:
    missing = "0" * 32
    args = [part.format(missing=missing, lr=logged.lr, dest=tmp_path / "out") for part in command]

    result = cli("-w", home, *args)

    assert (result.code, result.out, result.err) == (
        3,
        "",
        f'error: no run with id "{missing}"; see `modelyard runs ls`\n',
    )


# ----------------------------------------------------------------------------- db


def test_db_current_and_upgrade_on_an_initialised_workspace(
    cli: Cli, home: Path, backend_url: str | None
) -> None:
    url = _shown_db_url(home, backend_url)

    current = cli("-w", home, "db", "current")
    current_json = cli("-w", home, "db", "current", "--json")
    upgraded = cli("-w", home, "db", "upgrade")
    upgraded_json = cli("-w", home, "db", "upgrade", "--json")

    assert (current.code, current.out) == (0, f"{url}: revision {HEAD}, head {HEAD} (up to date)\n")
    assert current_json.json() == {"db_url": url, "revision": HEAD, "head": HEAD}
    assert (upgraded.code, upgraded.out) == (
        0,
        f"database {url} is up to date (revision {HEAD})\n",
    )
    assert upgraded_json.json() == {"db_url": url, "from": HEAD, "to": HEAD}


def test_db_upgrade_migrates_an_empty_database(cli: Cli, tmp_path: Path, db_url: str) -> None:
    directory = tmp_path / "fresh"
    directory.mkdir()
    (directory / "modelyard.toml").write_text(f'db_url = "{db_url}"\n', encoding="utf-8")

    before = cli("-w", directory, "db", "current")
    before_json = cli("-w", directory, "db", "current", "--json")
    upgraded = cli("-w", directory, "db", "upgrade")
    after_json = cli("-w", directory, "db", "current", "--json")

    assert (before.code, before.out) == (
        0,
        f"{db_url}: revision none, head {HEAD} (run `modelyard db upgrade`)\n",
    )
    assert before_json.json() == {"db_url": db_url, "revision": None, "head": HEAD}
    assert (upgraded.code, upgraded.out) == (0, f"✓ migrated {db_url} from empty to {HEAD}\n")
    assert after_json.json() == {"db_url": db_url, "revision": HEAD, "head": HEAD}


def test_db_upgrade_json_from_an_empty_database(cli: Cli, tmp_path: Path, db_url: str) -> None:
    directory = tmp_path / "fresh"
    directory.mkdir()
    (directory / "modelyard.toml").write_text(f'db_url = "{db_url}"\n', encoding="utf-8")

    result = cli("-w", directory, "db", "upgrade", "--json")

    assert (result.code, result.json()) == (0, {"db_url": db_url, "from": None, "to": HEAD})


@pytest.mark.parametrize(
    "command",
    [["runs", "ls"], ["experiments", "ls"], ["db", "current"], ["db", "upgrade"]],
    ids=" ".join,
)
def test_an_unreachable_database_exits_6_without_the_password(
    cli: Cli, tmp_path: Path, command: list[str]
) -> None:
    directory = tmp_path / "ws"
    directory.mkdir()
    (directory / "modelyard.toml").write_text(f'db_url = "{UNREACHABLE_URL}"\n', encoding="utf-8")

    result = cli("-w", directory, *command)

    assert (result.code, result.out) == (6, "")
    assert result.err.startswith(f"error: cannot use the metadata database {UNREACHABLE_SHOWN}: ")
    assert result.err.endswith(
        "; check that the server is running and the URL (db_url / MODELYARD_DB_URL) is right\n"
    )
    assert result.err.count("\n") == 1
    assert "secret" not in result.err


# ----------------------------------------------------------------------------- usage, --debug


@pytest.mark.parametrize(
    ("command", "message"),
    [
        pytest.param(command, message, id=" ".join(command))
        for command, message in [
            (["runs", "ls", "--bogus"], "No such option: --bogus"),
            (["experiments", "create"], "Missing argument 'name'"),
            (["runs", "compare"], "Missing argument 'run_ids'"),
            (["runs", "ls", "--limit", "many"], "Invalid value for '--limit'"),
            (["runs", "ls", "--status", "DONE"], "Invalid value for '--status'"),
            (["demo", "--rows", "10"], "Invalid value for '--rows'"),
            (["nonsense", "ls"], "No such command 'nonsense'"),
        ]
    ],
)
def test_bad_flags_or_arguments_exit_2(
    cli: Cli, tmp_path: Path, command: list[str], message: str
) -> None:
    result = cli("-w", tmp_path / "ws", *command)

    assert (result.code, result.out) == (2, "")
    assert message in result.err
    assert "Traceback" not in result.err
    assert not (tmp_path / "ws").exists()  # rejected before any workspace is opened


def test_help_exits_0(cli: Cli) -> None:
    result = cli("runs", "--help")

    assert (result.code, result.err) == (0, "")
    assert "Tracked runs: params, metrics, artifacts, lineage." in result.out


def test_an_expected_error_has_no_traceback_unless_debug(cli: Cli, home: Path) -> None:
    quiet = cli("-w", home, "experiments", "show", "fraud")
    debug = cli("--debug", "-w", home, "experiments", "show", "fraud")

    line = 'error: no experiment "fraud"; see `modelyard experiments ls`'
    assert (quiet.code, quiet.err) == (3, line + "\n")
    assert debug.code == 3
    assert debug.err.startswith("Traceback (most recent call last):\n")
    assert (
        'modelyard.errors.ExperimentNotFoundError: no experiment "fraud"; '
        "see `modelyard experiments ls`" in debug.err.splitlines()
    )
    assert debug.err.splitlines()[-1] == line


# ----------------------------------------------------------------------------- demo


def test_demo_trains_two_models_and_picks_the_best(cli: Cli) -> None:
    result = cli("demo", "--rows", "20000", "--json")

    assert (result.code, result.err) == (0, "")
    shown = result.json()
    demo = shown["result"]
    assert shown["workspace"] is None
    assert (demo["rows"], demo["train_rows"] + demo["test_rows"]) == (20_000, 20_000)
    assert sorted(model["name"] for model in demo["models"]) == [
        "gradient_boosting",
        "logistic_regression",
    ]
    for model in demo["models"]:
        assert 0.5 < model["metrics"]["roc_auc"] <= 1.0, model["name"]
    best_precision = max(model["metrics"]["average_precision"] for model in demo["models"])
    assert demo["best"]["metrics"]["average_precision"] == best_precision
    assert demo["best"] in demo["models"]
    assert sorted(model["version"] for model in demo["models"]) == ["fraud/1", "fraud/2"]
    promotion = demo["promotion"]
    assert (promotion["version"]["version"], promotion["version"]["stage"]) == (
        int(demo["best"]["version"].split("/")[1]),
        "Production",
    )
    assert all(result["is_passed"] for result in promotion["report"]["results"])
    assert demo["broken_version"] == "fraud/3"
    blocked = {r["gate"]: r["is_passed"] for r in demo["blocked_report"]["results"]}
    assert blocked["signature"] is False
    assert blocked["smoke: known-transactions"] is False
    assert demo["lineage"]["label"] == f"fraud/{promotion['version']['version']}"
    # The data behind it: a contract-checked dataset version the runs read (#4).
    assert (demo["dataset"], demo["validation"]["passed"]) == ("transactions/1", True)
    warned = [r["rule_id"] for r in demo["validation"]["results"] if not r["passed"]]
    assert warned == ["rules[1].freshness"]  # a backfill of a past quarter: stale, a warning
    inputs = [
        node["label"]
        for node in _walk_lineage(demo["lineage"])
        if node["kind"] == "input" and node["label"].startswith("dataset ")
    ]
    assert len(inputs) >= 1
    assert set(inputs) == {"dataset transactions/1"}
    # The upstream change is stopped by the contract before training, with the column named.
    assert demo["changed_dataset"] == "transactions/2"
    assert demo["changed_validation"]["passed"] is False
    failed = {r["rule_id"] for r in demo["changed_validation"]["results"] if not r["passed"]}
    assert {"columns.amount.type", "columns.country.nullable"} <= failed
    renamed = [c for c in demo["dataset_diff"]["schema_changes"] if c["kind"] == "renamed"]
    assert [(c["column"], c["new_column"]) for c in renamed] == [("amount", "amount_usd")]
    assert demo["contract_changes"]["is_compatible"] is False
    # Point-in-time features from one definition: trained on, materialized, in parity (#5).
    assert [ref.split(":")[0] for ref in demo["feature_refs"]] == [
        "customer_activity",
        "customer_activity",
        "customer_activity",
        "customer_activity",
        "merchant_activity",
    ]
    assert {node["label"] for node in _walk_lineage(demo["lineage"])} >= {
        "feature_view customer_activity/1",
        "feature_view merchant_activity/1",
    }
    assert [m["view"] for m in demo["materializations"]] == [
        "customer_activity",
        "merchant_activity",
    ]
    assert demo["parity"]["mismatches"] == []
    assert demo["parity"]["entities"] > 0
    statuses = demo["online"]["entities"][0]
    assert statuses["customer_txn_count_7d"]["status"] == "PRESENT"
    assert statuses["merchant_txn_count_1h"]["status"] == "EXPIRED"  # a 1-day TTL, old data
    # The champion behind the real server: every request answered, batched, bad ones named (#6).
    serving = demo["serving"]
    assert serving["reference"] == demo["best"]["version"]
    assert (serving["requests"], serving["failed"]) == (600, 0)
    assert serving["batches"] < 600
    assert [(bad["status"], bad["code"]) for bad in serving["bad_requests"]] == [
        (422, "request_contract_violation"),
        (422, "request_contract_violation"),
        (422, "request_contract_violation"),
        (400, "malformed_request"),
    ]
    outage = serving["outage"]
    assert [step["status"] for step in outage] == [200] * 10
    assert [step["reason"] for step in outage[:4]] == [
        "unavailable",
        "unavailable",
        "unavailable",
        "circuit_open",
    ]
    assert [step["circuit"] for step in outage[2:8]] == ["open"] * 6
    assert [step["circuit"] for step in outage[8:]] == ["closed", "closed"]
    assert serving["logged_predictions"] == 610
    assert serving["scoring"]["rows"] > 0
    assert serving["scoring"]["model"] == serving["reference"]


def _walk_lineage(node: dict[str, Any]) -> list[dict[str, Any]]:
    found = [node]
    for child in node.get("children", []):
        found.extend(_walk_lineage(child))
    return found
