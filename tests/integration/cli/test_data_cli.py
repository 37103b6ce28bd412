"""``modelyard data ...`` driven in-process against real workspaces on SQLite and PostgreSQL.

Data goes in through the CLI (files written by the test) and is read back through the SDK (the
``workspace`` fixture) to check exit codes, JSON documents and ``error:`` lines exactly.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from cli_harness import Cli, Result
from modelyard.cli import render
from modelyard.contracts import load_contract
from modelyard.settings import write_config
from modelyard.workspace import Workspace

CONTRACT = """\
name: payments
columns:
  payment_id: {type: int64, nullable: false, unique: true}
  amount: {type: float64, nullable: false, min: 0}
  country: {type: string, allowed: [US, GB, DE]}
rules:
  - row_count: {min: 3}
"""


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render.console, "width", 200)


@pytest.fixture
def home(workspace: Workspace, db_url: str) -> Path:
    """The ``workspace`` fixture's directory, whose modelyard.toml names its database."""
    assert workspace.home is not None
    write_config(workspace.home, {"db_url": db_url})
    return workspace.home


@pytest.fixture
def data(cli: Cli, home: Path) -> Cli:
    """Run ``modelyard -w HOME data ARGS...``."""

    def run(*args: str | Path) -> Result:
        return cli("-w", home, "data", *args)

    return run


def _parquet(path: Path, **columns: list[object]) -> Path:
    pq.write_table(pa.table(columns), path)
    return path


def _good(tmp_path: Path) -> Path:
    return _parquet(
        tmp_path / "good.parquet",
        payment_id=[1, 2, 3, 4],
        amount=[10.0, 20.5, 3.25, 7.0],
        country=["US", "GB", "DE", "US"],
    )


def _renamed(tmp_path: Path) -> Path:
    return _parquet(
        tmp_path / "renamed.parquet",
        payment_id=[1, 2, 3, 4],
        amount_usd=[10.0, 20.5, 3.25, 7.0],
        country=["US", None, "FR", "US"],
    )


def test_add_stores_a_version_and_the_same_content_again_returns_it(
    data: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    first = data("add", "payments", _good(tmp_path), "-d", "nightly export", "--json")
    again = data("add", "payments", _good(tmp_path))

    assert (first.code, first.err) == (0, "")
    shown = first.json()
    stored = workspace.datasets.get("payments")
    assert shown["is_new"] is True
    assert (shown["version"]["version"], shown["version"]["digest"]) == (1, stored.digest)
    assert (stored.num_rows, stored.num_columns, stored.description) == (4, 3, "nightly export")
    assert (again.code, again.err) == (0, "")
    assert again.out.startswith("unchanged: same content as payments/1")
    assert [v.version for v in workspace.datasets.versions("payments")] == [1]


def test_ls_show_tag_and_checkout(data: Cli, workspace: Workspace, tmp_path: Path) -> None:
    data("add", "payments", _good(tmp_path))
    data("add", "payments", _renamed(tmp_path))

    listed = data("ls", "--json")
    tagged = data("tag", "payments/1", "prod")
    shown = data("show", "payments@prod", "--json")
    out_dir = tmp_path / "out"
    checked = data("checkout", "payments@prod", out_dir, "--json")

    assert listed.code == 0
    [entry] = listed.json()
    assert (entry["name"], entry["latest_version"], entry["num_versions"]) == ("payments", 2, 2)
    assert (tagged.code, tagged.out) == (0, "✓ payments@prod → payments/1\n")
    assert shown.code == 0
    version = shown.json()["version"]
    assert (version["version"], version["tags"]) == (1, ["prod"])
    assert [column["name"] for column in version["schema"]] == ["payment_id", "amount", "country"]
    assert checked.code == 0
    path = Path(checked.json()["path"])
    assert path == out_dir / "payments-v1.parquet"
    digest = "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == workspace.datasets.get("payments/1").digest
    assert pq.read_table(path).column("amount").to_pylist() == [10.0, 20.5, 3.25, 7.0]


def test_diff_names_the_renamed_column(data: Cli, tmp_path: Path) -> None:
    data("add", "payments", _good(tmp_path))
    data("add", "payments", _renamed(tmp_path))

    shown = data("diff", "payments/1", "payments/2", "--json")
    table = data("diff", "payments")

    assert shown.code == 0
    changes = {(c["kind"], c["column"]) for c in shown.json()["schema_changes"]}
    assert ("renamed", "amount") in changes
    assert table.code == 0
    assert "payments/1 → payments/2" in table.out
    assert "amount_usd" in table.out


def test_validate_passes_fails_with_exit_5_and_stores_reports(
    data: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    contract = tmp_path / "payments.yaml"
    contract.write_text(CONTRACT)
    data("add", "payments", _good(tmp_path))
    data("add", "payments", _renamed(tmp_path))
    html = tmp_path / "report.html"

    passed = data("validate", "payments/1", "--contract", contract, "--json")
    failed = data("validate", "payments/2", "-c", contract, "--html", html)

    assert (passed.code, passed.err) == (0, "")
    assert passed.json()["passed"] is True
    assert failed.code == 5
    assert failed.err.startswith('error: payments/2 breaks contract "payments": ')
    assert "columns.amount" in failed.err
    assert "columns.country.allowed" in failed.out
    page = html.read_text()
    assert page.startswith("<!doctype html>")
    assert "columns.country.allowed" in page
    reports = workspace.contracts.reports(dataset_ref="payments/2")
    assert [(r.contract, r.is_passed) for r in reports] == [("payments", False)]
    shown = data("show", "payments/1", "--json").json()
    assert [r["is_passed"] for r in shown["reports"]] == [True]


def test_contract_diff_is_compatible_for_a_nullable_column_and_not_for_a_rename(
    data: Cli, tmp_path: Path
) -> None:
    old = tmp_path / "old.yaml"
    old.write_text(CONTRACT)
    added = tmp_path / "added.yaml"
    added.write_text(CONTRACT.replace("rules:", "  note: {type: string, nullable: true}\nrules:"))
    renamed = tmp_path / "renamed.yaml"
    renamed.write_text(CONTRACT.replace("  amount:", "  amount_usd:"))

    compatible = data("contract-diff", old, added, "--json")
    breaking = data("contract-diff", old, renamed)

    assert compatible.code == 0
    assert compatible.json()["is_compatible"] is True
    assert breaking.code == 5
    assert breaking.err.startswith(f"error: {renamed} is not backward compatible with {old}: ")
    assert "amount" in breaking.err
    assert "amount_usd" in breaking.err


def test_infer_contract_drafts_one_the_data_passes(
    data: Cli, workspace: Workspace, tmp_path: Path
) -> None:
    data("add", "payments", _good(tmp_path))
    draft = tmp_path / "draft.yaml"

    inferred = data("infer-contract", "payments", "-o", draft)

    assert inferred.code == 0
    assert f"wrote a draft contract for payments/1 to {draft}" in inferred.err
    contract = load_contract(draft)
    assert contract.name == "payments"
    assert set(contract.columns) == {"payment_id", "amount", "country"}
    assert contract.validate(workspace.datasets.get("payments")).passed is True


def test_bad_input_exits_with_the_documented_codes(data: Cli, tmp_path: Path) -> None:
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("name: payments\ncolumns:\n  amount: {type: float64, minn: 0}\n")
    data("add", "payments", _good(tmp_path))

    missing = data("add", "payments", tmp_path / "nope.parquet")
    corrupt_file = tmp_path / "corrupt.parquet"
    corrupt_file.write_bytes(b"PAR1 this is not parquet")
    corrupt = data("add", "payments", corrupt_file)
    unknown = data("show", "paymnts")
    no_version = data("show", "payments/9")
    bad_contract = data("validate", "payments", "--contract", bad_yaml)

    assert missing.code == 2
    assert missing.err.startswith("error: cannot add dataset from ")
    assert corrupt.code == 2
    assert str(corrupt_file) in corrupt.err
    assert (unknown.code, unknown.err) == (
        3,
        'error: no dataset "paymnts" (did you mean "payments"?); see `modelyard data ls`\n',
    )
    assert no_version.code == 3
    assert "has no version 9 (latest is 1)" in no_version.err
    assert bad_contract.code == 2
    assert "line 3" in bad_contract.err
    assert "minn" in bad_contract.err
    for result in (missing, corrupt, unknown, no_version, bad_contract):
        assert "Traceback" not in result.err
        assert len(result.err.splitlines()) == 1, result.err


def test_json_output_is_one_document(data: Cli, tmp_path: Path) -> None:
    added = data("add", "payments", _good(tmp_path), "--json")

    assert json.loads(added.out)["version"]["num_rows"] == 4


def test_show_prints_arrow_types_verbatim(data: Cli, tmp_path: Path) -> None:
    from datetime import UTC, datetime

    when = pa.array([datetime(2026, 1, 1, tzinfo=UTC)] * 2, pa.timestamp("us", tz="UTC"))
    pq.write_table(pa.table({"event_time": when, "n": [1, 2]}), tmp_path / "t.parquet")
    data("add", "events", tmp_path / "t.parquet")

    shown = data("show", "events")
    listed = data("ls")

    assert shown.code == 0
    assert "│ event_time │ timestamp[us, tz=UTC] │" in shown.out
    assert "events/1: 2 rows, 2 columns" in shown.out
    assert listed.code == 0
    assert "│ events │ 1      │ 1        │ 2    │ 2    │" in listed.out
