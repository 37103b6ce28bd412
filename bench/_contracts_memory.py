"""Peak-memory helpers for bench/contracts.py's child processes (Linux /proc, no psutil)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO


def proc_status_kib(field: str) -> int | None:
    """A ``/proc/self/status`` field in KiB (``VmRSS``, ``VmHWM``), None where there is none."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def claim_stdout() -> TextIO:
    """Keep the real stdout for the JSON result and send everything else (fd 1 too) to stderr."""
    sys.stdout.flush()
    result = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return result


def emit(out: TextIO, result: dict[str, Any]) -> None:
    """Write ``result`` plus this process's peak RSS (VmHWM) as one JSON line."""
    result["vm_hwm_bytes"] = (proc_status_kib("VmHWM") or 0) * 1024
    out.write(json.dumps(result, default=str) + "\n")
    out.flush()
