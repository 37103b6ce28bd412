"""The SDK facade: a Workspace opens the stores and exposes each domain under one object."""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from modelyard.artifacts import ArtifactStore, open_store
from modelyard.clock import SYSTEM_CLOCK, Clock
from modelyard.contracts import ContractStore
from modelyard.datasets import DatasetStore
from modelyard.errors import DatabaseUnavailableError, OnlineStoreUnavailableError
from modelyard.features.online import OnlineStore, open_online_store
from modelyard.features.registry import FeatureRegistry
from modelyard.features.store import FeatureStore
from modelyard.metastore import Metastore, connect, upgrade
from modelyard.registry import LineageNode, ModelRegistry
from modelyard.serving.config import ServingConfig
from modelyard.serving.runtime import ServingRuntime
from modelyard.settings import Settings, default_home, load_settings
from modelyard.tracking import ActiveRun, Tracker
from modelyard.tracking.catalog import RunCatalog
from modelyard.tracking.experiments import DEFAULT_EXPERIMENT, ExperimentStore

_DB_SCHEMES = ("sqlite", "postgresql", "postgres")


def _cache_dir(settings: Settings, kind: str) -> Path:
    """Where verified local copies of ``kind`` (models, datasets) are kept, by digest."""
    if settings.home is not None:
        return settings.home / "cache" / kind
    return Path(tempfile.gettempdir()) / "modelyard-cache" / kind


class Workspace:
    """One modelyard workspace: its metadata database, artifact store and domains.

    Attributes:
        settings: the settings it was opened with.
        experiments: create, list, rename, archive experiments.
        runs: get, search, compare runs; metric history; artifacts.
        datasets: dataset versions (add, get, diff, tag, check out; readers record lineage).
        contracts: data contracts (register, validate and store reports).
        features: the feature store (definitions, training data, online store, parity).
        models: the model registry (register, load, promote, roll back, lineage, cards).
        artifacts: the content-addressed blob store.
    """

    def __init__(
        self, settings: Settings, metastore: Metastore, store: ArtifactStore, clock: Clock
    ) -> None:
        self.settings = settings
        self.metastore = metastore
        self.artifacts = store
        self.clock = clock
        self._tracker = Tracker(metastore, store, settings, clock)
        self.experiments: ExperimentStore = self._tracker.experiments
        self.runs: RunCatalog = self._tracker.runs
        self.datasets = DatasetStore(metastore, store, clock, _cache_dir(settings, "datasets"))
        self.contracts = ContractStore(metastore, clock)
        self.features = FeatureStore(
            FeatureRegistry(metastore, clock, self.datasets),
            self.datasets,
            metastore,
            clock,
            online=lambda: _open_online(settings),
            pushed_dir=None if settings.home is None else settings.home / "features" / "pushed",
        )
        self.models = ModelRegistry(
            metastore,
            store,
            self.runs,
            self._tracker.artifacts,
            clock,
            _cache_dir(settings, "models"),
        )
        self._tracker.model_logger = self.models

    @property
    def home(self) -> Path | None:
        """The workspace directory (None for a server-backed workspace without one)."""
        return self.settings.home

    def start_run(
        self,
        experiment: str = DEFAULT_EXPERIMENT,
        *,
        name: str | None = None,
        params: Mapping[str, object] | None = None,
        tags: Mapping[str, object] | None = None,
        note: str = "",
        parent: ActiveRun | str | None = None,
        seed: int | None = None,
    ) -> ActiveRun:
        """Start a tracked run; use it as a context manager (see Tracker.start_run)."""
        return self._tracker.start_run(
            experiment, name=name, params=params, tags=tags, note=note, parent=parent, seed=seed
        )

    @property
    def prediction_log_dir(self) -> Path | None:
        """Where servers append the prediction log (None for a workspace without a directory)."""
        return None if self.settings.home is None else self.settings.home / "predictions"

    def serving(self, config: ServingConfig) -> ServingRuntime:
        """A serving runtime for ``config`` over this workspace's registry, feature store and
        prediction log; ``modelyard.api.create_app`` turns it into a server.

        Example:
            >>> runtime = ws.serving(serving_config(["fraud@champion"]))  # doctest: +SKIP
        """
        return ServingRuntime(
            config, self.models, features=self.features, log_root=self.prediction_log_dir
        )

    def lineage(self, subject: str) -> LineageNode:
        """Lineage of a model reference (``fraud/3``), a run id, or an input
        (``dataset:transactions/3``), walked both ways."""
        return self.models.lineage(subject)

    def close(self) -> None:
        """Write pending metrics and release database and online-store connections."""
        self._tracker.close()
        self.features.close()
        self.metastore.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Workspace(db={self.metastore.redacted_url!r}, artifacts={self.artifacts.root!r})"


def _open_online(settings: Settings) -> OnlineStore:
    """The online store of the settings: ``online_store``, else ``online.db`` in the home."""
    if settings.online_store is not None:
        return open_online_store(settings.online_store, prefix=settings.online_store_prefix)
    if settings.home is None:
        raise OnlineStoreUnavailableError(
            "(none)", "this workspace has no directory; set online_store (MODELYARD_ONLINE_STORE)"
        )
    return open_online_store(settings.home / "online.db")


def open_workspace(
    path_or_uri: str | Path | None = None,
    *,
    db_url: str | None = None,
    artifact_root: str | None = None,
    clock: Clock | None = None,
    migrate: bool = True,
    **overrides: Any,
) -> Workspace:
    """Open (creating on first use) a workspace.

    Args:
        path_or_uri: a workspace directory, or a database URL (``postgresql+psycopg://…``)
            whose artifact root comes from ``artifact_root`` / MODELYARD_ARTIFACT_ROOT.
            Default: MODELYARD_HOME, else ``./.modelyard``.
        db_url: the metadata database, overriding the directory's default SQLite file.
        artifact_root: the artifact store (``file://…``, ``s3://bucket/prefix``).
        clock: the clock (tests pass a FixedClock).
        migrate: bring the schema to the newest revision (default True).
        **overrides: any other setting (e.g. ``metrics_flush_interval_s=0.5``).

    Raises:
        InvalidSettingError: a bad setting or URL.
        DatabaseUnavailableError: the database cannot be reached (URL shown without password).
        SchemaOutdatedError: the database was migrated by a newer modelyard.
    """
    home: Path | None
    text = str(path_or_uri) if path_or_uri is not None else None
    if text is not None and text.split(":", 1)[0].split("+", 1)[0] in _DB_SCHEMES and "://" in text:
        db_url = db_url or text
        home = None
    else:
        home = Path(text) if text is not None else default_home()
    settings = load_settings(
        home, overrides={"db_url": db_url, "artifact_root": artifact_root, **overrides}
    )
    if settings.home is not None:
        try:
            settings.home.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DatabaseUnavailableError(str(settings.home), str(error)) from error
    metastore = connect(settings)
    if migrate:
        upgrade(metastore)
    store = open_store(settings.artifact_root, s3_endpoint_url=settings.s3_endpoint_url)
    return Workspace(settings, metastore, store, clock or SYSTEM_CLOCK)
