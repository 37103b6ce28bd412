"""Batch-scoring inputs: files, partitions, the input's fingerprint, the resumable manifest."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from modelyard.datasets import DatasetStore
from modelyard.errors import InvalidInputError, InvalidScoringInputError, NotFoundError

MANIFEST_FILE = "_scoring.json"
MANIFEST_FORMAT = 1
PARQUET_SUFFIXES = (".parquet", ".pq")
CSV_SUFFIXES = (".csv",)
# What must match for a rerun to resume into an output directory.
_SETTINGS = ("model_digest", "input_fingerprint", "partition_rows", "features", "timestamp_column")


@dataclass(frozen=True, slots=True)
class PartitionOutcome:
    """How scoring one partition went: ``error`` is None when it is written."""

    name: str
    rows: int
    error: str | None = None


def _first_line(error: BaseException) -> str:
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__


@dataclass(frozen=True, slots=True)
class Partition:
    """One unit of scoring and of resumption.

    Attributes:
        name: ``part-NNNNN``, numbered in input order; its output is ``<name>.parquet``.
        source: where it comes from, as shown to people (a path relative to the input
            directory, or a dataset reference).
        path: the file read (absolute).
        file_format: ``parquet`` or ``csv``.
        row_groups: the Parquet row groups ``[start, stop)``; None for the whole file.
        rows: the rows it holds, when the file's footer says (None for CSV or an unreadable
            file).
    """

    name: str
    source: str
    path: str
    file_format: str
    row_groups: tuple[int, int] | None
    rows: int | None

    @property
    def output_file(self) -> str:
        """The file name of its scores in the output directory."""
        return f"{self.name}.parquet"


# ---------------------------------------------------------------------- input and partitions


@dataclass(frozen=True, slots=True)
class _InputFile:
    path: Path
    source: str
    file_format: str


def _resolve_input(
    source: str | Path, datasets: DatasetStore | None, output: Path
) -> tuple[str, str, list[_InputFile]]:
    """Return (description, fingerprint, files) of the input; a dataset's is its digest."""
    path = Path(source)
    if path.is_dir():
        root = path.resolve()
        if output == root or root in output.parents:
            raise InvalidScoringInputError(
                "output", f"{output} is inside the input directory {root}; write it elsewhere"
            )
        files = [
            _InputFile(item, item.relative_to(root).as_posix(), _format_of(item))
            for item in sorted(root.rglob("*"))
            if item.is_file()
            and _format_of(item) != ""
            and not any(part[0] in "._" for part in item.relative_to(root).parts)
        ]
        if not files:
            raise InvalidScoringInputError(
                "input", f"directory {path} holds no Parquet or CSV files"
            )
        return f"{path}", _fingerprint([_file_facts(item) for item in files]), files
    if path.is_file():
        file_format = _format_of(path)
        if file_format == "":
            raise InvalidScoringInputError(
                "input",
                f"{path} is not a Parquet or CSV file (by its name); give a .parquet or .csv "
                "file, a directory of them, or a dataset reference",
            )
        item = _InputFile(path.resolve(), path.name, file_format)
        _check_readable(item, str(path))
        return str(path), _fingerprint([_file_facts(item)]), [item]
    if datasets is None:
        raise InvalidScoringInputError("input", f"no such file or directory: {path}")
    try:
        version = datasets.get(str(source))
    except (NotFoundError, InvalidInputError) as exc:
        raise InvalidScoringInputError(
            "input", f"{source} is neither a file or directory nor a dataset: {exc}"
        ) from exc
    item = _InputFile(version.path, f"dataset {version.ref}", "parquet")
    return f"dataset {version.ref}", _fingerprint([["dataset", version.digest]]), [item]


def _format_of(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    return "csv" if suffix in CSV_SUFFIXES else ""


def _check_readable(item: _InputFile, shown: str) -> None:
    try:
        if item.file_format == "parquet":
            pq.read_metadata(item.path)
        else:
            pacsv.open_csv(item.path).close()
    except (pa.ArrowException, OSError) as exc:
        raise InvalidScoringInputError(
            "input", f"{shown} is not a readable {item.file_format} file: {_first_line(exc)}"
        ) from exc


def _file_facts(item: _InputFile) -> list[object]:
    # Content-derived and cheap: the name, the size and, for Parquet, the footer's counts. A
    # changed file is a different input (its partitions, too, may differ).
    facts: list[object] = [item.source, item.path.stat().st_size]
    if item.file_format == "parquet":
        with contextlib.suppress(pa.ArrowException, OSError):
            metadata = pq.read_metadata(item.path)
            facts += [metadata.num_rows, metadata.num_row_groups]
    return facts


def _fingerprint(facts: list[list[object]]) -> str:
    body = json.dumps(facts, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _plan(files: list[_InputFile], partition_rows: int) -> tuple[list[Partition], pa.Schema | None]:
    """Split the files into partitions; also return the first readable file's schema."""
    planned: list[tuple[_InputFile, tuple[int, int] | None, int | None]] = []
    schema: pa.Schema | None = None
    for item in files:
        try:
            if item.file_format == "csv":
                if schema is None:
                    with pacsv.open_csv(item.path) as reader:
                        schema = reader.schema
                planned.append((item, None, None))
                continue
            metadata = pq.read_metadata(item.path)
            if schema is None:
                schema = metadata.schema.to_arrow_schema()
        except (pa.ArrowException, OSError):
            planned.append((item, None, None))  # fails when scored, with the reader's reason
            continue
        sizes = [metadata.row_group(i).num_rows for i in range(metadata.num_row_groups)]
        for start, stop in row_group_runs(sizes, partition_rows):
            planned.append((item, (start, stop), sum(sizes[start:stop])))
    partitions = [
        Partition(f"part-{i:05d}", item.source, str(item.path), item.file_format, groups, rows)
        for i, (item, groups, rows) in enumerate(planned)
    ]
    return partitions, schema


def row_group_runs(sizes: Sequence[int], partition_rows: int) -> list[tuple[int, int]]:
    """Group consecutive row groups into runs ``[start, stop)`` of up to ``partition_rows`` rows.

    A row group larger than ``partition_rows`` is a run by itself; a file without row groups
    is one empty run, so that it still has a partition.

    Args:
        sizes: the rows of each row group, in file order.
        partition_rows: the most rows of a run of several row groups.

    Returns:
        The runs, covering every row group once, in order.
    """
    runs: list[tuple[int, int]] = []
    start, rows = 0, 0
    for index, size in enumerate(sizes):
        if index > start and rows + size > partition_rows:
            runs.append((start, index))
            start, rows = index, 0
        rows += size
    runs.append((start, len(sizes)))
    return runs


# ---------------------------------------------------------------------- the manifest


class _Manifest:
    """``_scoring.json``: the job's settings and each partition's status, rewritten atomically
    after every partition."""

    def __init__(self, output: Path, body: dict[str, Any]) -> None:
        self._output = output
        self._body = body
        self._entries: dict[str, dict[str, Any]] = {
            entry["name"]: entry for entry in body["partitions"]
        }

    @classmethod
    def open(
        cls, output: Path, settings: dict[str, object], partitions: list[Partition]
    ) -> _Manifest:
        """Read the output's manifest (checking it is the same job) or start one."""
        if output.exists() and not output.is_dir():
            raise InvalidScoringInputError("output", f"{output} is a file; give a directory")
        path = output / MANIFEST_FILE
        # JSON round trip: the stored settings and these compare as the same plain values.
        settings = json.loads(json.dumps(settings, default=str))
        if path.is_file():
            try:
                body = json.loads(path.read_text(encoding="utf-8"))
                stored = {key: body[key] for key in settings}
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise InvalidScoringInputError(
                    "output", f"{path} cannot be read ({exc}); remove it or use a new directory"
                ) from exc
            _check_same_job(output, stored, settings)
            manifest = cls(output, body)
            if sorted(manifest._entries) != [part.name for part in partitions]:
                raise InvalidScoringInputError(
                    "output",
                    f"{path} lists other partitions than this input has; score into "
                    "a new output directory",
                )
        else:
            if output.is_dir() and any(output.iterdir()):
                raise InvalidScoringInputError(
                    "output",
                    f"{output} holds files but no {MANIFEST_FILE}; give an empty or new directory",
                )
            output.mkdir(parents=True, exist_ok=True)
            entries = [
                {
                    "name": part.name,
                    "file": part.output_file,
                    "source": part.source,
                    "row_groups": None if part.row_groups is None else list(part.row_groups),
                    "rows": part.rows,
                    "status": "pending",
                    "error": None,
                }
                for part in partitions
            ]
            manifest = cls(output, {"format": MANIFEST_FORMAT, **settings, "partitions": entries})
            manifest.write()
        for stale in output.glob(".part-*.tmp"):
            stale.unlink(missing_ok=True)  # left by a run that was killed mid-partition
        return manifest

    def is_done(self, partition: Partition) -> bool:
        """Whether an earlier run wrote the partition (and its file is still there)."""
        entry = self._entries[partition.name]
        if entry["status"] != "done":
            return False
        return entry["rows"] == 0 or (self._output / partition.output_file).is_file()

    def record(self, outcome: PartitionOutcome) -> None:
        """Record how a partition went and rewrite the manifest."""
        entry = self._entries[outcome.name]
        entry["status"] = "failed" if outcome.error is not None else "done"
        entry["error"] = outcome.error
        if outcome.error is None:
            entry["rows"] = outcome.rows
        self.write()

    def write(self) -> None:
        """Write the manifest atomically."""
        path = self._output / MANIFEST_FILE
        temp = self._output / f".{MANIFEST_FILE}.{uuid.uuid4().hex}"
        temp.write_text(json.dumps(self._body, indent=2) + "\n", encoding="utf-8")
        os.replace(temp, path)


def _check_same_job(output: Path, stored: dict[str, object], settings: dict[str, object]) -> None:
    for key in _SETTINGS:
        if stored[key] == settings[key]:
            continue
        if key == "model_digest":
            what = (
                f"model {stored['model']} ({stored[key]}), not {settings['model']} "
                f"({settings[key]})"
            )
        elif key == "input_fingerprint":
            what = f"input {stored['input']}, not {settings['input']} (or the input changed)"
        else:
            what = f"{key} {stored[key]}, not {settings[key]}"
        raise InvalidScoringInputError(
            "output", f"{output} holds the scores of {what}; score into a new output directory"
        )
