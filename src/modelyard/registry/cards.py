"""Model cards: a markdown page per version, generated from the registry and tracking records,
with a few fields a person writes (intended use, limitations, …)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from modelyard.errors import InvalidInputError
from modelyard.registry.gates import GateReport
from modelyard.registry.versions import ModelVersion
from modelyard.tracking.runs import Run, RunInput

EDITABLE_FIELDS = ("intended_use", "limitations", "ethical_considerations", "owners", "notes")
_PLACEHOLDER = '_Not written yet: `modelyard models card {ref} --set {field}="…"`._'


def check_fields(fields: Mapping[str, str]) -> dict[str, str]:
    """Return the fields when every name is editable.

    Raises:
        InvalidInputError: naming the unknown field and the editable ones.
    """
    for name in fields:
        if name not in EDITABLE_FIELDS:
            raise InvalidInputError(
                f"card field {name!r} is not editable: use one of {', '.join(EDITABLE_FIELDS)}"
            )
    return dict(fields)


def render_card(
    version: ModelVersion,
    run: Run,
    inputs: Sequence[RunInput],
    report: GateReport | None,
) -> str:
    """Render the model card of a version as markdown."""
    card = version.card
    package = version.package
    conversion = package.get("conversion", {})
    signature = package.get("signature", {})
    lines = [
        f"# Model card: {version.reference}",
        "",
        f"- **Stage**: {version.stage.value}; aliases: {', '.join(version.aliases) or 'none'}",
        f"- **Flavor**: {version.flavor} (`{version.model_type}`)",
        "- **Serving format**: "
        + (
            f"ONNX, verified against the native model (max |diff| "
            f"{conversion.get('max_abs_diff')}, tolerance {conversion.get('tolerance')})"
            if version.is_onnx
            else f"native {version.flavor}"
            + (
                f" — ONNX conversion failed: {conversion['error']}"
                if conversion.get("error")
                else ""
            )
        ),
        f"- **Artifact digest**: `{version.artifact_digest}`",
        f"- **Registered**: {version.created_at.isoformat()} by {version.created_by or 'unknown'}",
    ]
    if version.is_pickle_trusted:
        lines.append("- **Warning**: stored as a trusted pickle; loading it runs code.")
    if version.description:
        lines += ["", version.description]
    for title, name in (("Intended use", "intended_use"), ("Owners", "owners")):
        lines += ["", f"## {title}", "", card.get(name) or _placeholder(version, name)]
    lines += ["", "## Training data", ""]
    if inputs:
        lines += [
            f"- {item.kind} **{item.name}** version `{item.version}`"
            + (f" (`{item.digest}`)" if item.digest else "")
            for item in inputs
        ]
    else:
        lines.append("_The training run recorded no inputs._")
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {key} | {value:.6g} |" for key, value in sorted(run.metrics.items())]
    lines += [
        "",
        "## Lineage",
        "",
        f"- Run `{run.run_id}` ({run.name}) in experiment **{run.experiment}**, "
        f"status {run.status.value}",
        f"- Code: {('git ' + run.git_commit) if run.git_commit else 'not in a git repository'}"
        + (" (uncommitted changes)" if run.git_is_dirty else ""),
        f"- Seed: {run.seed if run.seed is not None else 'not recorded'}",
        "- Params: " + (", ".join(f"{k}={v}" for k, v in run.params.items()) or "none"),
        "",
        "## Inputs",
        "",
        "| column | type | nullable |",
        "|---|---|---|",
    ]
    lines += [
        f"| {column['name']} | {column['dtype']} | {'yes' if column.get('nullable') else 'no'} |"
        for column in signature.get("inputs", [])
    ]
    lines += ["", "## Promotion gates", ""]
    if report is None:
        lines.append("_No gates evaluated yet._")
    else:
        verdict = "passed" if report.is_passed else "failed"
        lines += [
            f"Last evaluated for **{report.target}**: {verdict}.",
            "",
            "| gate | result | observed | expected |",
            "|---|---|---|---|",
        ]
        lines += [
            f"| {r.gate} | {'pass' if r.is_passed else 'FAIL'} | {r.observed} | {r.expected} |"
            for r in report.results
        ]
    for title, name in (
        ("Limitations", "limitations"),
        ("Ethical considerations", "ethical_considerations"),
        ("Notes", "notes"),
    ):
        lines += ["", f"## {title}", "", card.get(name) or _placeholder(version, name)]
    return "\n".join(lines) + "\n"


def _placeholder(version: ModelVersion, name: str) -> str:
    return _PLACEHOLDER.format(ref=version.reference, field=name)
