"""Feature registries for the feature-store tests: a registry and datasets over one database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dataset_stores import dataset_store, open_metastore
from modelyard.artifacts import LocalArtifactStore
from modelyard.clock import FixedClock
from modelyard.datasets import DatasetStore
from modelyard.features import Entity
from modelyard.features.registry import FeatureRegistry
from modelyard.metastore import Metastore

# The timeline of the feature tests: minutes after T0.
T0 = datetime(2026, 1, 1, tzinfo=UTC)
CARD = Entity("card", ("card_id",))


def at(minutes: float) -> datetime:
    """The instant ``minutes`` after T0 (negative: before it)."""
    return T0 + timedelta(minutes=minutes)


@dataclass
class FeatureStores:
    """What a feature test works with."""

    metastore: Metastore
    datasets: DatasetStore
    registry: FeatureRegistry
    clock: FixedClock


def feature_stores(db_url: str, home: Path) -> FeatureStores:
    """A migrated metastore on ``db_url``, a local artifact store under ``home`` and a registry."""
    metastore = open_metastore(db_url, home)
    datasets = dataset_store(metastore, LocalArtifactStore(home / "artifacts"), home)
    clock = FixedClock()
    return FeatureStores(metastore, datasets, FeatureRegistry(metastore, clock, datasets), clock)
