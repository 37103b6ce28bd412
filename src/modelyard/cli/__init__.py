"""The command line: ``modelyard <noun> <verb>``, Rich tables, ``--json`` for scripts."""

from modelyard.cli.app import app, main

__all__ = ["app", "main"]
