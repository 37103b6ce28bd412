"""``modelyard serve``: resolution and config errors as exit codes, and the real command serving
over HTTP with several worker processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard
from cli_harness import Cli

FEATURES = ["amount", "hour"]


@pytest.fixture
def served_workspace(tmp_path: Path) -> Path:
    home = tmp_path / "ws"
    frame = pd.DataFrame(
        {"amount": [1.0, 5.0, 50.0, 3.0] * 25, "hour": [1.0, 3.0, 23.0, 12.0] * 25}
    )
    label = (frame["amount"] > 10).astype(int)
    with modelyard.open(home) as ws, ws.start_run("serve") as run:
        model = LogisticRegression().fit(frame[FEATURES], label)
        run.log_model(model, input_example=frame.head(10), registered_model_name="fraud")
    return home


def test_dry_run_prints_what_would_be_served(cli: Cli, served_workspace: Path) -> None:
    result = cli("-w", served_workspace, "serve", "fraud/1", "--max-batch-size", "8", "--dry-run")

    assert (result.code, result.err) == (0, "")
    assert "fraud/1" in result.out
    assert "sha256:" in result.out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["fraud/9"], 3, 'model "fraud" has no version 9'),
        (["fruad/1"], 3, 'no registered model "fruad"'),
        ([], 2, "name a model to serve"),
        (["fraud/1", "--max-batch-size", "0"], 2, "max_batch_size: must be a whole number"),
        (["fraud/1", "--on-feature-failure", "ignore"], 2, "on_feature_failure: 'ignore'"),
        (["fraud/1", "--feature", "nope:x"], 3, 'no feature "nope:x"'),
    ],
)
def test_bad_references_and_settings_exit_with_one_line(
    cli: Cli, served_workspace: Path, args: list[str], code: int, message: str
) -> None:
    result = cli("-w", served_workspace, "serve", *args, "--dry-run")

    assert result.code == code, result.err
    assert result.err.startswith("error: ")
    assert message in result.err
    assert result.err.count("\n") == 1


def test_a_bad_config_file_names_the_key(cli: Cli, served_workspace: Path, tmp_path: Path) -> None:
    config = tmp_path / "serving.yaml"
    config.write_text("models:\n  - ref: fraud/1\n    max_wait: 5\n", encoding="utf-8")

    result = cli("-w", served_workspace, "serve", "--config", config, "--dry-run")

    assert result.code == 2
    assert "models[0].max_wait: unknown key (did you mean 'max_wait_ms'?)" in result.err


@pytest.mark.slow
def test_serve_with_two_workers_answers_and_aggregates_metrics(served_workspace: Path) -> None:
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("modelyard")),
            "-w",
            str(served_workspace),
            "serve",
            "fraud/1",
            "--port",
            "0",
            "--workers",
            "2",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        assert process.stdout is not None
        base = None
        deadline = time.monotonic() + 60
        while base is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            found = re.search(r"listening on (http://127\.0\.0\.1:\d+)", line)
            base = found.group(1) if found else None
        assert base is not None, "the server did not say where it listens"
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        answers = [
            httpx.post(
                f"{base}/v1/models/fraud/predict",
                json={"records": [{"amount": 50.0, "hour": 23.0}]},
            )
            for _ in range(20)
        ]
        assert [answer.status_code for answer in answers] == [200] * 20
        assert {answer.json()["version"] for answer in answers} == {1}
        metrics = httpx.get(f"{base}/metrics").text
        counted = re.search(
            r'^modelyard_requests_total\{model="fraud",status="200",version="1"\} (\S+)$',
            metrics,
            re.MULTILINE,
        )
        assert counted is not None
        assert float(counted.group(1)) == 20.0  # both workers' requests, whichever answers
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()
