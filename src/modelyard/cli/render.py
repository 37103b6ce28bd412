"""Output for people (Rich tables) and for scripts (JSON) from the same values."""

from __future__ import annotations

import dataclasses
import enum
import json
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

# Piped output is read by people in logs and CI pages too: give it a comfortable width
# instead of Rich's 80 columns ($COLUMNS still wins).
_PIPED_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 140
# emoji=False: ":warning:" in a user's note or reason is printed as written.
console = Console(highlight=False, soft_wrap=True, width=_PIPED_WIDTH, emoji=False)
errors = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)


def to_jsonable(value: Any) -> Any:
    """Turn dataclasses, datetimes, enums, paths and non-finite floats into JSON values.

    An object with a ``to_dict()`` method is printed as that (its canonical JSON form, with
    computed fields such as ``passed``); a dataclass's private fields (``_store``: a handle, not
    data) are left out.

    NaN and ±inf become the strings "NaN", "Infinity" and "-Infinity" so nothing is lost.
    """
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict) and not isinstance(value, type):
        return to_jsonable(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: to_jsonable(getattr(value, field.name))
            for field in dataclasses.fields(value)
            if not field.name.startswith("_")
        }
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(item) for item in value]
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return value


def print_json(value: Any) -> None:
    """Print ``value`` as indented JSON on stdout."""
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=False) + "\n")


def table(
    title: str | None,
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    no_wrap: Sequence[str] = (),
) -> Table:
    """Build a Rich table with these columns and rows (cells formatted with ``cell``).

    Columns named in ``no_wrap`` keep their values on one line (ids, names).
    """
    built = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        built.add_column(column, overflow="fold", no_wrap=column in no_wrap)
    for row in rows:
        built.add_row(*(Text(cell(value)) for value in row))
    return built


def cell(value: Any) -> str:
    """Format one value for a table cell."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{value:.4g}" if abs(value) < 1e5 else f"{value:,.0f}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, enum.Enum):
        return str(value.value)
    return str(value)


def duration(seconds: float | None) -> str:
    """Format a duration: 850ms, 12.3s, 4m05s, 2h03m, 3d04h."""
    if seconds is None:
        return "running"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m{int(seconds % 60):02d}s"
    if seconds < 2 * 86_400:
        return f"{int(seconds // 3600)}h{int(seconds % 3600 // 60):02d}m"
    return f"{int(seconds // 86_400)}d{int(seconds % 86_400 // 3600):02d}h"


_SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float], width: int = 60) -> str:
    """Draw ``values`` as one line of block characters (resampled to ``width``)."""
    finite = [value for value in values if math.isfinite(value)]
    if not finite:
        return ""
    if len(values) > width:
        step = len(values) / width
        values = [values[int(index * step)] for index in range(width)]
    low, high = min(finite), max(finite)
    span = high - low or 1.0
    return "".join(
        _SPARKS[int((value - low) / span * (len(_SPARKS) - 1))] if math.isfinite(value) else " "
        for value in values
    )


@contextmanager
def progress_bar(
    verb: str, unit: str, *, enabled: bool = True
) -> Iterator[Callable[[int, int | None], None] | None]:
    """A transient Rich progress bar fed (done, total or None); None for --json and pipes.

    Example:
        >>> with progress_bar("adding", "rows") as update:  # doctest: +SKIP
        ...     store.add(..., progress=update)
    """
    if not enabled or not console.is_terminal:
        yield None
        return
    with Progress(
        TextColumn(f"[bold]{verb}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(unit),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(verb, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update
