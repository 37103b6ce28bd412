"""``modelyard features ...`` driven in-process against real workspaces on SQLite and PostgreSQL.

Definitions are written as a Python module by the test; the online store is the workspace's
SQLite file. Exit codes, JSON documents and ``error:`` lines are checked exactly.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from cli_harness import Cli, Result
from modelyard.cli import render
from modelyard.settings import write_config
from modelyard.workspace import Workspace

DEFINITIONS = """\
from modelyard.features import Aggregation, DatasetSource, Entity, Feature, FeatureView

CARD = Entity("card", ("card_id",))
STATS = FeatureView(
    "card_stats",
    entities=("card",),
    source=DatasetSource("tx"),
    timestamp_field="event_time",
    features=(Feature("balance", "{balance_type}"),),
    aggregations=(Aggregation("amount", "count", "1h"),),
    # The workspace's clock is the real one: a TTL long enough that 2026-01-01 is servable.
    ttl="3650d",
)
"""


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render.console, "width", 200)


@pytest.fixture
def home(workspace: Workspace, db_url: str) -> Path:
    assert workspace.home is not None
    write_config(workspace.home, {"db_url": db_url})
    workspace.datasets.add(
        "tx",
        pd.DataFrame(
            {
                "card_id": [1, 1, 2],
                "event_time": pd.to_datetime(
                    ["2026-01-01 00:00", "2026-01-01 00:30", "2026-01-01 00:10"], utc=True
                ),
                "balance": [10.0, 11.0, 20.0],
                "amount": [1.0, 2.0, 3.0],
            }
        ),
    )
    return workspace.home


@pytest.fixture
def features(cli: Cli, home: Path) -> Cli:
    def run(*args: str | Path) -> Result:
        return cli("-w", home, "features", *args)

    return run


def _module(tmp_path: Path, balance_type: str = "float64") -> Path:
    path = tmp_path / f"defs_{balance_type}.py"
    path.write_text(DEFINITIONS.replace("{balance_type}", balance_type))
    return path


def test_plan_apply_materialize_online_freshness_parity(features: Cli, tmp_path: Path) -> None:
    module = _module(tmp_path)

    planned = features("plan", module, "--json")
    applied = features("apply", module)
    again = features("plan", module, "--json")
    loaded = features("materialize", "card_stats", "--end", "2026-01-01T01:00:00", "--json")
    online = features(
        "online",
        "card_stats:balance",
        "card_stats:amount_count_1h",
        "-e",
        '{"card_id": 1}',
        "-e",
        '{"card_id": 7}',
        "--json",
    )
    fresh = features("freshness", "card_stats", "--json")
    parity = features("parity", "card_stats", "--json")

    assert planned.code == 0
    assert [(i["name"], i["action"]) for i in planned.json()["items"]] == [
        ("card", "added"),
        ("card_stats", "added"),
    ]
    assert applied.code == 0
    assert "card_stats" in applied.out
    assert [i["action"] for i in again.json()["items"]] == ["unchanged", "unchanged"]
    assert loaded.code == 0
    assert (loaded.json()["rows"], loaded.json()["newest_event_ms"]) == (2, 1767227400000)
    assert online.code == 0
    entities = online.json()["entities"]
    assert entities[0]["balance"]["value"] == 11.0
    assert entities[0]["balance"]["status"] == "PRESENT"
    # (00:00, 01:00]: the window leaves out the event at exactly 00:00.
    assert entities[0]["amount_count_1h"]["value"] == 1
    assert entities[1]["balance"] == {"value": None, "status": "NOT_FOUND", "age_ms": None}
    assert fresh.code == 0
    assert fresh.json()[0]["newest_event_ms"] == 1767227400000
    assert parity.code == 0
    assert (parity.json()["entities"], parity.json()["mismatches"]) == (2, [])


def test_breaking_change_exits_4_unless_allowed(features: Cli, tmp_path: Path) -> None:
    features("apply", _module(tmp_path))
    retyped = _module(tmp_path, "float32")

    refused = features("apply", retyped)
    forced = features("apply", retyped, "--allow-breaking", "--json")

    assert refused.code == 4
    assert refused.err.startswith('error: applying feature view "card_stats" would break')
    assert forced.code == 0
    assert [i["action"] for i in forced.json()["items"]] == ["unchanged", "breaking"]


def test_parity_exits_5_on_skew(features: Cli, workspace: Workspace, tmp_path: Path) -> None:
    features("apply", _module(tmp_path))
    features("materialize", "card_stats", "--end", "2026-01-01T01:00:00")
    workspace.features.online_store.write(
        "card_stats",
        [(2,)],
        [1767226200000],
        pa.table({"balance": [99.0], "amount_count_1h": pa.array([1], pa.int64())}),
    )

    skewed = features("parity", "card_stats")

    assert skewed.code == 5
    assert skewed.err == (
        'error: feature view "card_stats": 1 of 4 online values differ from the offline values '
        "as of the same time (training-serving skew)\n"
    )
    assert "MISMATCH" in skewed.out
    assert '│ balance │ {"card_id": 2} │ 99' in skewed.out


def test_bad_input(features: Cli, tmp_path: Path) -> None:
    features("apply", _module(tmp_path))
    broken = tmp_path / "broken.yaml"
    broken.write_text("entities:\n  - name: card\n    join_keys: [card_id]\n    colour: red\n")

    unknown = features("online", "card_stats:balanse", "-e", '{"card_id": 1}')
    bad_json = features("online", "card_stats:balance", "-e", "{card_id: 1}")
    bad_time = features("materialize", "card_stats", "--end", "yesterday")
    bad_file = features("plan", broken)

    assert unknown.code == 3
    assert '"card_stats:balance"' in unknown.err
    assert bad_json.code == 2
    assert bad_json.err.startswith("error: --entity '{card_id: 1}' is not JSON")
    assert bad_time.code == 2
    assert bad_time.err == "error: --end 'yesterday' is not an ISO date or time\n"
    assert bad_file.code == 2
    assert "line 4 at entities[0].colour: unknown key" in bad_file.err
    for result in (unknown, bad_json, bad_time, bad_file):
        assert "Traceback" not in result.err
