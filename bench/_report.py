"""Shared plumbing of the benchmarks: peer venvs, the machine's CPU, ratios, target verdicts."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo where there is one)."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return model


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is zero."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


def verdicts(rows: Iterable[tuple[str, float | None, float, bool]]) -> list[dict[str, Any]]:
    """Judge (name, ratio, target, at_least) rows: PASS, FAIL or n/a when the ratio is missing."""
    out = []
    for name, value, target, at_least in rows:
        if value is None:
            verdict = "n/a"
        else:
            verdict = "PASS" if (value >= target if at_least else value <= target) else "FAIL"
        out.append(
            {
                "name": name,
                "ratio": value,
                "target": target,
                "at_least": at_least,
                "verdict": verdict,
            }
        )
    return out


def ensure_peer_python(
    python: Path, module: str, setup: Path, progress: Callable[[str], None], hint: str = ""
) -> Path:
    """Return ``python`` once it can import ``module``, running ``setup`` (setup-peers.sh) once
    when it cannot; exit with a readable message when that does not help."""
    check = [str(python), "-c", f"import {module}"]
    if python.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    progress(f"{python} cannot import {module}: running bash {setup} …")
    done = subprocess.run(["bash", str(setup)], check=False)
    if done.returncode != 0 or subprocess.run(check, capture_output=True).returncode != 0:
        raise SystemExit(f"could not set up {python}; run `bash bench/setup-peers.sh`{hint}")
    return python


def finish(summary: dict[str, Any], table: str, *, results: Path | None, as_json: bool) -> bool:
    """Print a benchmark's table (and PROBLEMS), write ``--results``; return whether a target
    failed or a problem was found (the caller exits 1 then).

    With ``as_json`` the table goes to stderr and the JSON summary to stdout.
    """
    problems = summary.get("problems") or []
    if problems:
        table += "\n\nPROBLEMS\n" + "\n".join(f"  {p}" for p in problems)
    if results is not None:
        results.write_text(json.dumps(summary, indent=2, default=str) + "\n")
    if as_json:
        print(table, file=sys.stderr)
        print(json.dumps(summary, default=str))
    else:
        print(table)
    return bool(problems) or any(target["verdict"] == "FAIL" for target in summary["targets"])
