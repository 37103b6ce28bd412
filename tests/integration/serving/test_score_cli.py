"""``modelyard score``: summaries, --json, resumption, a serving config, and exit codes with one
``error:`` line for bad input (2) and failed partitions (1)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard
from cli_harness import Cli
from fraud_models import FEATURES
from modelyard.features import Aggregation, DatasetSource, Entity, FeatureView

COUNT = "customer_activity:customer_txn_count_1h"


@dataclass
class Setup:
    home: Path
    data: pd.DataFrame
    source: Path


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Setup:
    """A workspace with fraud/1 and fraud/2, the transactions dataset and a feature view; a
    Parquet file of 2,000 transactions in row groups of 500."""
    root = tmp_path_factory.mktemp("score-cli")
    data = frame.head(2_000).reset_index(drop=True)
    with modelyard.open(root / "ws") as ws:
        for c in (1.0, 0.01):
            model = LogisticRegression(C=c, max_iter=500).fit(data[FEATURES], data["is_fraud"])
            with ws.start_run("scoring") as run:
                run.log_model(
                    model, input_example=data[FEATURES].head(50), registered_model_name="fraud"
                )
        ws.datasets.add("transactions", data)
        ws.features.apply(
            [
                Entity("customer", ("customer_id",)),
                FeatureView(
                    "customer_activity",
                    entities=("customer",),
                    source=DatasetSource("transactions"),
                    timestamp_field="event_time",
                    aggregations=(
                        Aggregation("amount", "count", "1h", name="customer_txn_count_1h"),
                    ),
                ),
            ]
        )
    source = root / "tx.parquet"
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), source, row_group_size=500)
    return Setup(root / "ws", data, source)


def _error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_score_prints_a_summary_then_resumes_with_a_json_summary(
    cli: Cli, setup: Setup, tmp_path: Path
) -> None:
    out = tmp_path / "out"

    first = cli("-w", setup.home, "score", "fraud/1", "--input", setup.source, "--output", out)
    second = cli("-w", setup.home, "score", "fraud/1", "-i", setup.source, "-o", out, "--json")

    assert (first.code, first.err) == (0, "")
    assert f"✓ scored 2,000 rows into {out.resolve()}" in first.out
    assert "fraud/1 (sha256:" in first.out
    assert second.code == 0
    summary = second.json()
    with modelyard.open(setup.home) as ws:
        digest = ws.models.version("fraud/1").artifact_digest
    assert {key: summary[key] for key in summary if key not in ("seconds", "rows_per_s")} == {
        "model": "fraud/1",
        "model_digest": digest,
        "input": str(setup.source),
        "output": str(out.resolve()),
        "engine": "local",
        "partitions": 1,
        "scored": 0,
        "skipped": 1,
        "rows": 0,
    }
    scored = pq.read_table(out / "part-00000.parquet")
    assert scored.num_rows == 2_000
    assert set(scored.column("model_digest").to_pylist()) == {digest}


def test_a_serving_config_names_the_features_to_look_up(
    cli: Cli, setup: Setup, tmp_path: Path
) -> None:
    config = tmp_path / "serving.yaml"
    config.write_text(
        f"models:\n  - ref: fraud@champion\n  - ref: fraud/1\n    features: [{COUNT}]\n"
    )
    out = tmp_path / "out"

    result = cli(
        "-w",
        setup.home,
        "score",
        "fraud/1",
        "-i",
        setup.source,
        "-o",
        out,
        "--config",
        config,
        "--timestamp-column",
        "event_time",
        "--batch-rows",
        "400",
        "--json",
    )

    assert result.code == 0, result.err
    assert result.json()["rows"] == 2_000
    with modelyard.open(setup.home) as ws:
        expected = ws.features.historical(
            setup.data, [COUNT], timestamp_column="event_time", output="pandas"
        )
    scored = pq.read_table(out / "part-00000.parquet").to_pandas()
    np.testing.assert_array_equal(
        scored["customer_txn_count_1h"].to_numpy(), expected["customer_txn_count_1h"].to_numpy()
    )


def test_failed_partitions_exit_1_with_one_error_line(
    cli: Cli, setup: Setup, tmp_path: Path
) -> None:
    data = setup.data.copy()
    data.loc[1_200, "hour"] = np.nan
    source = tmp_path / "tx.parquet"
    pq.write_table(pa.Table.from_pandas(data, preserve_index=False), source, row_group_size=1_000)
    out = tmp_path / "out"

    result = cli(
        "-w", setup.home, "score", "fraud/1", "-i", source, "-o", out, "--batch-rows", "500"
    )

    assert result.code == 1
    assert _error_line(result.err) == (
        "error: 1 partition(s) failed: part-00000: tx.parquet: input does not match the model "
        "signature: hour: 1 null value in a non-nullable column; the completed partitions are "
        f"in {out.resolve()}, and running the same command again scores only the failed ones"
    )
    assert json.loads((out / "_scoring.json").read_text())["partitions"][0]["status"] == "failed"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        pytest.param(
            "missing.parquet",
            "error: batch scoring input: missing.parquet is neither a file or directory nor a "
            "dataset: ",
            id="missing-path",
        ),
        pytest.param(
            "nothing@validated",
            "error: batch scoring input: nothing@validated is neither a file or directory nor a "
            'dataset: no dataset "nothing"',
            id="unknown-dataset",
        ),
        pytest.param(
            "notes.json",
            "error: batch scoring input: notes.json is not a Parquet or CSV file (by its name)",
            id="not-parquet",
        ),
        pytest.param(
            "broken.parquet",
            "error: batch scoring input: broken.parquet is not a readable parquet file: ",
            id="unreadable-parquet",
        ),
    ],
)
def test_bad_input_exits_2_with_one_error_line(
    cli: Cli,
    setup: Setup,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    message: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.json").write_text('{"amount": 1}')
    (tmp_path / "broken.parquet").write_text("not parquet")

    result = cli("-w", setup.home, "score", "fraud/1", "-i", source, "-o", tmp_path / "out")

    assert result.code == 2
    assert _error_line(result.err).startswith(message)
    assert not (tmp_path / "out").exists()


def test_another_model_on_the_same_output_exits_2(cli: Cli, setup: Setup, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli("-w", setup.home, "score", "fraud/1", "-i", setup.source, "-o", out).code == 0

    result = cli("-w", setup.home, "score", "fraud/2", "-i", setup.source, "-o", out)

    assert result.code == 2
    line = _error_line(result.err)
    assert line.startswith(
        f"error: batch scoring output: {out.resolve()} holds the scores of model fraud/1"
    )
    assert line.endswith("score into a new output directory")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--engine", "spark"], "error: batch scoring engine: 'spark' is not one of local, ray"),
        (
            ["--batch-rows", "0"],
            "error: batch scoring batch_rows: must be a whole number of at least 1: 0",
        ),
    ],
)
def test_bad_options_exit_2(
    cli: Cli, setup: Setup, tmp_path: Path, options: list[str], message: str
) -> None:
    result = cli(
        "-w", setup.home, "score", "fraud/1", "-i", setup.source, "-o", tmp_path / "out", *options
    )

    assert result.code == 2
    assert _error_line(result.err) == message
