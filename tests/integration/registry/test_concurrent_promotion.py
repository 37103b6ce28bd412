"""Two processes promote different versions of one model at the same moment (both backends).

Afterwards exactly one version is in production, the champion alias points at it, and the
audit history is consistent: each successful promotion names the production version it replaced.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import modelyard
from fraud_models import LogFn
from modelyard.workspace import Workspace

_PROMOTER = textwrap.dedent(
    """
    import sys, time
    import modelyard
    from modelyard.errors import PromotionConflictError
    home, db_url, reference, start_at = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    ws = modelyard.open(home, db_url=db_url)
    ws.models.version(reference)  # warm the connection before the race
    while time.time() < start_at:
        time.sleep(0.002)
    try:
        ws.models.promote(reference, "production")
        print("promoted")
    except PromotionConflictError as error:
        print("conflict")
    ws.close()
    """
)


@pytest.mark.slow
def test_two_processes_promoting_at_once_leave_one_production_version(
    workspace: Workspace, log_version: LogFn, db_url: str, tmp_path: Path
) -> None:
    log_version(0.5)
    log_version(2.0)
    assert workspace.home is not None
    start_at = time.time() + 3.0
    promoters = [
        subprocess.Popen(
            [sys.executable, "-c", _PROMOTER, str(workspace.home), db_url, ref, str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ref in ("fraud/1", "fraud/2")
    ]
    outcomes = []
    for promoter in promoters:
        out, err = promoter.communicate(timeout=120)
        assert promoter.returncode == 0, err
        outcomes.append(out.strip())
    assert "promoted" in outcomes

    with modelyard.open(workspace.home, db_url=db_url) as fresh:
        versions = fresh.models.versions("fraud")
        production = [v.version for v in versions if v.stage.value == "Production"]
        assert len(production) == 1
        assert fresh.models.version("fraud@champion").version == production[0]
        promotions = [e for e in fresh.models.history("fraud") if e.action == "promote"]
        assert len(promotions) == outcomes.count("promoted")
        # Each promotion replaced exactly the version that was in production before it.
        current = None
        for event in promotions:
            assert event.details["previous_production"] == current
            current = event.version
        assert current == production[0]
