"""Every CLI command has help text and an entry in docs/cli.md, and every entry a command."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer.main

from modelyard.cli.app import app

DOCS = Path(__file__).resolve().parents[3] / "docs" / "cli.md"
HEADING = re.compile(r"^### (modelyard(?: [a-z][a-z-]*)+)\s*$", re.MULTILINE)


def _walk(command: Any, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    """Return (path, command) for ``command`` and everything under it, groups included.

    A group is any command with a ``commands`` mapping (Typer's own group class no longer
    derives from click's since Typer vendors click).
    """
    found = [(path, command)]
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        if not sub.hidden:
            found.extend(_walk(sub, (*path, name)))
    return found


ROOT = typer.main.get_command(app)
ALL = _walk(ROOT, ("modelyard",))
LEAVES = {" ".join(path): command for path, command in ALL if not hasattr(command, "commands")}


def _sections() -> dict[str, str]:
    """The docs' ``### modelyard …`` headings and the text under each, up to the next one."""
    text = DOCS.read_text(encoding="utf-8")
    matches = list(HEADING.finditer(text))
    return {
        match.group(1): text[
            match.end() : (matches[i + 1].start() if i + 1 < len(matches) else len(text))
        ]
        for i, match in enumerate(matches)
    }


def test_the_walk_finds_every_command() -> None:
    assert sorted(LEAVES) == [
        "modelyard data add",
        "modelyard data checkout",
        "modelyard data contract-diff",
        "modelyard data diff",
        "modelyard data infer-contract",
        "modelyard data ls",
        "modelyard data show",
        "modelyard data tag",
        "modelyard data validate",
        "modelyard db current",
        "modelyard db upgrade",
        "modelyard demo",
        "modelyard experiments archive",
        "modelyard experiments create",
        "modelyard experiments ls",
        "modelyard experiments rename",
        "modelyard experiments restore",
        "modelyard experiments show",
        "modelyard features apply",
        "modelyard features freshness",
        "modelyard features ls",
        "modelyard features materialize",
        "modelyard features online",
        "modelyard features parity",
        "modelyard features plan",
        "modelyard init",
        "modelyard models alias",
        "modelyard models card",
        "modelyard models gates",
        "modelyard models history",
        "modelyard models lineage",
        "modelyard models ls",
        "modelyard models promote",
        "modelyard models register",
        "modelyard models rollback",
        "modelyard models show",
        "modelyard models versions",
        "modelyard runs artifacts",
        "modelyard runs compare",
        "modelyard runs download",
        "modelyard runs history",
        "modelyard runs ls",
        "modelyard runs search",
        "modelyard runs show",
        "modelyard runs verify",
        "modelyard score",
        "modelyard serve",
        "modelyard version",
    ]


@pytest.mark.parametrize(
    "command", [pytest.param(command, id=" ".join(path)) for path, command in ALL]
)
def test_every_command_and_group_has_help_text(command: Any) -> None:
    assert (command.help or "").strip() != ""


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_every_command_has_a_docs_entry(name: str) -> None:
    sections = _sections()

    assert name in sections, f"docs/cli.md has no `### {name}` heading"
    body = sections[name]
    verb = re.escape(name.removeprefix("modelyard "))
    example = re.compile(rf"^\$ modelyard(?: -w \S+)? {verb}(?: |$)", re.MULTILINE)
    assert "```console" in body, f"the `{name}` entry has no example"
    assert example.search(body) is not None, f"the `{name}` example does not run it"


@pytest.mark.parametrize("name", sorted(LEAVES))
def test_every_option_of_a_command_is_documented(name: str) -> None:
    body = _sections()[name]
    options = [
        max(param.opts, key=len)
        for param in LEAVES[name].params
        if param.param_type_name == "option" and "--help" not in param.opts
    ]

    missing = [option for option in options if f"`{option}" not in body]

    assert missing == [], f"the `{name}` entry does not document {missing}"


def test_every_docs_entry_names_an_existing_command() -> None:
    documented = list(_sections())

    assert sorted(set(documented) - set(LEAVES)) == []
    assert len(documented) == len(set(documented)), "a command is documented twice"


def test_global_options_and_exit_codes_are_documented_once() -> None:
    text = DOCS.read_text(encoding="utf-8")
    global_options = [max(param.opts, key=len) for param in ROOT.params]
    exit_rows = re.findall(r"^\| (\d+) \|", text, re.MULTILINE)

    assert [option for option in global_options if f"`{option}" not in text] == []
    assert exit_rows == ["0", "1", "2", "3", "4", "5", "6", "70"]
    assert '"NaN"' in text
    assert '"Infinity"' in text
    assert '"-Infinity"' in text
