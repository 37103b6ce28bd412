"""Workflows that close the loop across domains: the demo today; train, deploy, retrain next."""

__all__: list[str] = []
