"""Dataset stores for the dataset tests: stores over a metadata database, frames, a recorder."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from modelyard.artifacts import ArtifactStore
from modelyard.clock import FixedClock
from modelyard.datasets import DatasetStore
from modelyard.lineage import LineageInput
from modelyard.metastore import Metastore, connect, upgrade
from modelyard.settings import load_settings


def open_metastore(db_url: str, home: Path) -> Metastore:
    """Connect to ``db_url`` and migrate it to the newest schema."""
    metastore = connect(load_settings(home, overrides={"db_url": db_url}))
    upgrade(metastore)
    return metastore


def dataset_store(metastore: Metastore, artifacts: ArtifactStore, home: Path) -> DatasetStore:
    """A dataset store on ``metastore`` and ``artifacts`` with a fixed clock."""
    return DatasetStore(metastore, artifacts, FixedClock(), home / "cache" / "datasets")


def transactions(rows: int = 6, *, offset: int = 0) -> pd.DataFrame:
    """A small frame of card transactions (deterministic)."""
    categories = ["grocery", "travel", "fuel"]
    return pd.DataFrame(
        {
            "amount": [float(10 + (i + offset) % 7) for i in range(rows)],
            "merchant_category": [categories[(i + offset) % 3] for i in range(rows)],
            "is_fraud": [(i + offset) % 5 == 0 for i in range(rows)],
        }
    )


class ListRecorder:
    """A lineage recorder that keeps what it is told, in order."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.items: list[LineageInput] = []

    def record_input(self, item: LineageInput) -> None:
        """Keep ``item``."""
        self.items.append(item)
