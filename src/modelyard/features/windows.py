"""Durations written as "30s", "15m", "1h", "7d": feature-view TTLs and aggregation windows."""

from __future__ import annotations

import re
from datetime import timedelta

_DURATION = re.compile(r"([1-9][0-9]{0,8})([smhdw])")
_UNIT_MS = {"s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
DURATION_RULE = 'write a positive whole number and a unit s, m, h, d or w, e.g. "24h" or "7d"'


def duration_ms(text: str) -> int | None:
    """Return the milliseconds a duration such as ``"24h"`` spans, or None when it is malformed."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    return int(match.group(1)) * _UNIT_MS[match.group(2)]


def format_duration(delta: timedelta) -> str | None:
    """Return ``delta`` in the largest unit that divides it exactly, or None below a second."""
    total_ms = delta // timedelta(milliseconds=1)
    if total_ms <= 0 or total_ms % 1_000:
        return None
    for unit in ("w", "d", "h", "m", "s"):
        if total_ms % _UNIT_MS[unit] == 0:
            return f"{total_ms // _UNIT_MS[unit]}{unit}"
    return None  # pragma: no cover -- every whole number of seconds divides by "s"
