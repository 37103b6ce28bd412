"""Deterministic run data and ground-truth search shared by the tracking benchmark's sides."""

from __future__ import annotations

import random
from typing import Any

MODELS: tuple[str, ...] = ("xgboost", "lightgbm", "random_forest", "logreg")
LEARNING_RATES: tuple[str, ...] = ("0.01", "0.03", "0.1", "0.3")
TEAMS: tuple[str, ...] = ("risk", "growth", "ops")
OWNERS: tuple[str, ...] = ("alice", "bob", "carol", "dave", "erin", "frank")

SEARCH_FILTER = "metrics.auc > 0.8 and params.max_depth = '6' and tags.team = 'risk'"
ORDER_BY: list[str] = ["metrics.auc DESC"]
# About 1.5 % of runs match (0.4 * 1/9 * 1/3), so the limit never truncates below ~65k runs.
SEARCH_LIMIT = 1000

Run = dict[str, Any]


def make_runs(n: int = 10_000, seed: int = 0) -> list[Run]:
    """Return ``n`` runs, identical for the same ``(n, seed)`` on any Python 3 build.

    Each run is ``{"name", "params", "metrics", "tags"}``; params and tags hold strings,
    metrics hold floats. Only the stdlib ``random.Random`` stream is used, so the data does
    not depend on the numpy version of whichever virtualenv imports this module.
    """
    rng = random.Random(seed)
    runs: list[Run] = []
    for i in range(n):
        runs.append(
            {
                "name": f"run-{i:06d}",
                "params": {
                    "max_depth": str(rng.randint(2, 10)),
                    "learning_rate": rng.choice(LEARNING_RATES),
                    "model": rng.choice(MODELS),
                },
                "metrics": {
                    "auc": rng.uniform(0.5, 1.0),
                    "loss": rng.uniform(0.05, 1.5),
                    "f1": rng.uniform(0.3, 0.95),
                },
                "tags": {
                    "team": rng.choice(TEAMS),
                    "owner": rng.choice(OWNERS),
                },
            }
        )
    return runs


def _matches(run: Run) -> bool:
    """Evaluate ``SEARCH_FILTER`` on one run in plain Python."""
    return bool(
        run["metrics"]["auc"] > 0.8
        and run["params"]["max_depth"] == "6"
        and run["tags"]["team"] == "risk"
    )


def expected_matches(runs: list[Run]) -> list[str]:
    """Return the sorted names of the runs that ``SEARCH_FILTER`` selects (ground truth)."""
    return sorted(run["name"] for run in runs if _matches(run))


def expected_ranking(runs: list[Run], limit: int = SEARCH_LIMIT) -> list[str]:
    """Return the matching run names in ``ORDER_BY`` order (auc descending), at most ``limit``."""
    hits = [run for run in runs if _matches(run)]
    hits.sort(key=lambda run: (-run["metrics"]["auc"], run["name"]))
    return [run["name"] for run in hits[:limit]]
