"""Lineage as a graph walked both ways: version → run → code, environment, seeds, inputs, and
back from a run or an input to the model versions that came from it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from modelyard.errors import InvalidReferenceError
from modelyard.ids import is_run_id, parse_reference
from modelyard.registry.versions import ModelVersion, VersionStore
from modelyard.tracking.catalog import RunCatalog
from modelyard.tracking.runs import Run, RunInput

_PARAMS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class LineageNode:
    """One node of a lineage tree: what it is, a label, facts about it, and what hangs off it."""

    kind: str  # model_version | run | code | environment | seed | params | metrics | input
    label: str
    details: Mapping[str, str] = field(default_factory=dict)
    children: tuple[LineageNode, ...] = ()

    def find(self, kind: str) -> list[LineageNode]:
        """Every node of this kind in the tree (depth first)."""
        found = [self] if self.kind == kind else []
        for child in self.children:
            found += child.find(kind)
        return found


class LineageGraph:
    """Builds lineage trees from the registry and tracking records."""

    def __init__(self, versions: VersionStore, runs: RunCatalog) -> None:
        self._versions = versions
        self._runs = runs

    def of(self, subject: str) -> LineageNode:
        """Lineage of ``subject``: a model reference (``fraud/3``, ``fraud@champion``), a run id,
        or an input as ``KIND:NAME[/VERSION]`` (``dataset:transactions/3``).

        Raises:
            InvalidReferenceError: the subject is none of these.
            RegisteredModelNotFoundError, ModelVersionNotFoundError, AliasNotFoundError,
            RunNotFoundError: it names nothing.
        """
        if is_run_id(subject):
            return self.of_run(self._runs.get(subject), with_versions=True)
        if ":" in subject:
            kind, _, rest = subject.partition(":")
            name, _, version = rest.partition("/")
            if not kind or not name:
                raise InvalidReferenceError(subject, "an input reads KIND:NAME[/VERSION]")
            return self.of_input(kind, name, version or None)
        return self.of_version(self._versions.resolve(parse_reference(subject)))

    def of_version(self, version: ModelVersion) -> LineageNode:
        """Upstream of a model version: its run and everything the run recorded."""
        package = version.package
        conversion = package.get("conversion", {})
        details = {
            "digest": version.artifact_digest,
            "flavor": version.flavor,
            "model type": version.model_type,
            "stage": version.stage.value,
            "aliases": ", ".join(version.aliases) or "—",
            "serving format": "onnx" if version.is_onnx else f"native ({version.flavor})",
            "onnx max |diff|": _shown(conversion.get("max_abs_diff")),
            "pickle trusted": "yes" if version.is_pickle_trusted else "no",
        }
        run = self._runs.get(version.run_id)
        return LineageNode(
            "model_version", version.reference, details, (self.of_run(run, with_versions=False),)
        )

    def of_run(self, run: Run, *, with_versions: bool) -> LineageNode:
        """A run with its code, environment, seed, params, metrics and inputs; with
        ``with_versions``, also the model versions registered from it (downstream)."""
        children: list[LineageNode] = []
        if run.git_commit:
            dirty = " (dirty)" if run.git_is_dirty else ""
            children.append(
                LineageNode(
                    "code",
                    f"git {run.git_commit[:12]}{dirty}",
                    {"commit": run.git_commit, "branch": run.git_branch or "—"},
                )
            )
        environment = self._runs.environment(run.run_id)
        if environment is not None:
            children.append(
                LineageNode(
                    "environment",
                    f"python {environment.python_version}, {len(environment.packages)} packages",
                    {"digest": environment.digest, "platform": environment.platform},
                )
            )
        if run.seed is not None:
            children.append(LineageNode("seed", f"seed {run.seed}"))
        if run.params:
            shown = dict(list(run.params.items())[:_PARAMS_SHOWN])
            children.append(LineageNode("params", f"{len(run.params)} params", shown))
        if run.metrics:
            values = {key: f"{value:.6g}" for key, value in run.metrics.items()}
            children.append(LineageNode("metrics", f"{len(run.metrics)} metrics", values))
        children += [_input_node(item) for item in self._runs.inputs(run.run_id)]
        if run.parent_run_id:
            # What a parent run read (a sweep's dataset, say) is an input of its children too.
            parent_inputs = tuple(
                _input_node(item) for item in self._runs.inputs(run.parent_run_id)
            )
            children.append(
                LineageNode(
                    "parent_run",
                    f"parent run {run.parent_run_id[:8]}",
                    {"run id": run.parent_run_id},
                    parent_inputs,
                )
            )
        if with_versions:
            for version in self._versions.versions_of_run(run.run_id):
                children.append(
                    LineageNode(
                        "model_version",
                        version.reference,
                        {"digest": version.artifact_digest, "stage": version.stage.value},
                    )
                )
        details = {
            "run id": run.run_id,
            "experiment": run.experiment,
            "status": run.status.value,
            "user": run.user or "—",
            "started": run.start_time.isoformat(),
        }
        return LineageNode("run", f"{run.name} ({run.run_id[:8]})", details, tuple(children))

    def of_input(self, kind: str, name: str, version: str | None) -> LineageNode:
        """Downstream of an input: the runs that read it and the versions they produced."""
        readers = self._runs.get_many(self._runs_reading(kind, name, version))
        children = tuple(self.of_run(run, with_versions=True) for run in readers)
        label = f"{kind} {name}" + (f"/{version}" if version else " (every version)")
        return LineageNode("input", label, {"runs": str(len(readers))}, children)

    def _runs_reading(self, kind: str, name: str, version: str | None) -> list[str]:
        return [str(run_id) for run_id in self._runs.readers(kind, name, version)]


def _input_node(item: RunInput) -> LineageNode:
    details = {"version": item.version, "digest": item.digest or "—", **item.details}
    return LineageNode("input", f"{item.kind} {item.name}/{item.version}", details)


def _shown(value: object) -> str:
    return "—" if value is None else str(value)
