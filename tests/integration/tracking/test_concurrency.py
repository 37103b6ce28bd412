"""Eight processes log runs and metrics into one workspace at once (SQLite and PostgreSQL).

The workspace does not exist when they start, so they also race to create its schema. No
"database is locked" (or any other) error may reach them, and every point must be stored.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import modelyard

PROCESSES = 8
RUNS_PER_PROCESS = 3
POINTS_PER_RUN = 2_000

_WORKER = (
    textwrap.dedent(
        """
    import json, sys, time
    import modelyard
    home, db_url, worker, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    while time.time() < start_at:
        time.sleep(0.005)
    ws = modelyard.open(home, db_url=db_url, metrics_batch_size=500)
    ids = []
    for index in range(RUNS):
        with ws.start_run("concurrent", params={"worker": worker, "index": index},
                          tags={"owner": f"w{worker}"}) as run:
            for step in range(POINTS):
                run.log_metric("loss", 1.0 / (step + 1), step=step)
                if step % 400 == 0:
                    run.set_tag("progress", str(step))
                    run.log_metrics({"acc": step / POINTS, "worker": float(worker)}, step=step)
            ids.append(run.run_id)
    ws.close()
    print(json.dumps(ids))
    """
    )
    .replace("RUNS", str(RUNS_PER_PROCESS))
    .replace("POINTS", str(POINTS_PER_RUN))
)


@pytest.mark.slow
def test_eight_processes_log_into_one_workspace(tmp_path: Path, db_url: str) -> None:
    home = tmp_path / "shared-ws"
    start_at = time.time() + 2.0  # let every interpreter import modelyard before the race
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(home), db_url, str(worker), str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(PROCESSES)
    ]
    run_ids: list[str] = []
    for worker in workers:
        out, err = worker.communicate(timeout=240)
        assert worker.returncode == 0, err
        assert "locked" not in err
        run_ids.extend(json.loads(out))
    assert len(set(run_ids)) == PROCESSES * RUNS_PER_PROCESS

    with modelyard.open(home, db_url=db_url) as ws:
        runs = ws.runs.search("concurrent", limit=1000)
        assert {run.run_id for run in runs} == set(run_ids)
        assert all(run.status.value == "FINISHED" for run in runs)
        assert all(run.metrics["loss"] == 1.0 / POINTS_PER_RUN for run in runs)
        pairs = {(run.params["worker"], run.params["index"]) for run in runs}
        assert len(pairs) == PROCESSES * RUNS_PER_PROCESS
        for run_id in run_ids:
            loss = ws.runs.metric_history(run_id, "loss")
            assert [point.step for point in loss] == list(range(POINTS_PER_RUN))
            assert len(ws.runs.metric_history(run_id, "acc")) == POINTS_PER_RUN // 400
