"""Batch scoring on Ray Data (serving/_ray_scoring.py), on a local Ray started for the test: the
same scores and feature values as the local engine, and resumption across engines."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sklearn.linear_model import LogisticRegression

import modelyard
from fraud_models import FEATURES
from modelyard.cli.score import open_feature_store
from modelyard.features import Aggregation, DatasetSource, Entity, FeatureView
from modelyard.serving.batch import score
from modelyard.workspace import Workspace

COUNT = "customer_activity:customer_txn_count_1h"

pytestmark = [
    pytest.mark.slow,
    # Ray Data's own DataContext sets options it has deprecated (ray 2.60).
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    with modelyard.open(tmp_path / "ws") as workspace:
        yield workspace


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield
    finally:
        ray.shutdown()


def test_ray_scores_like_the_local_engine_and_resumes_across_engines(
    local_ray: None, ws: Workspace, tmp_path: Path, frame: pd.DataFrame
) -> None:
    data = frame.head(1_200).reset_index(drop=True)
    ws.datasets.add("transactions", data)
    ws.features.apply(
        [
            Entity("customer", ("customer_id",)),
            FeatureView(
                "customer_activity",
                entities=("customer",),
                source=DatasetSource("transactions"),
                timestamp_field="event_time",
                aggregations=(Aggregation("amount", "count", "1h", name="customer_txn_count_1h"),),
            ),
        ]
    )
    training = ws.features.historical(data, [COUNT], timestamp_column="event_time", output="pandas")
    columns = [*FEATURES, "customer_txn_count_1h"]
    model = LogisticRegression(max_iter=500).fit(training[columns], training["is_fraud"])
    with ws.start_run("scoring") as run:
        run.log_model(model, input_example=training[columns].head(50), registered_model_name="fx")
    folder = tmp_path / "in"
    folder.mkdir()
    rows = data[["transaction_id", "customer_id", "event_time", *FEATURES]]
    for name, part in (("a.parquet", rows.iloc[:700]), ("b.parquet", rows.iloc[700:])):
        pq.write_table(
            pa.Table.from_pandas(part, preserve_index=False), folder / name, row_group_size=350
        )
    options = {
        "registry": ws.models,
        "feature_store": ws.features,
        "features": [COUNT],
        "timestamp_column": "event_time",
        "partition_rows": 350,
    }

    on_ray = score(
        "fx/1",
        folder,
        tmp_path / "ray",
        engine="ray",
        open_feature_store=functools.partial(open_feature_store, (tmp_path / "ws").resolve()),
        **options,  # type: ignore[arg-type]
    )
    (tmp_path / "ray" / "part-00001.parquet").unlink()
    resumed = score("fx/1", folder, tmp_path / "ray", **options)  # type: ignore[arg-type]
    score("fx/1", folder, tmp_path / "local", **options)  # type: ignore[arg-type]

    assert (on_ray.engine, on_ray.partitions, on_ray.scored, on_ray.rows) == ("ray", 4, 4, 1_200)
    assert (resumed.engine, resumed.scored, resumed.skipped, resumed.rows) == ("local", 1, 3, 350)
    for name in sorted(path.name for path in (tmp_path / "local").glob("part-*.parquet")):
        assert pq.read_table(tmp_path / "ray" / name).equals(
            pq.read_table(tmp_path / "local" / name)
        )
    scored = pa.concat_tables(
        [pq.read_table(path) for path in sorted((tmp_path / "ray").glob("part-*.parquet"))]
    ).to_pandas()
    expected = ws.features.historical(rows, [COUNT], timestamp_column="event_time", output="pandas")
    np.testing.assert_array_equal(
        scored["customer_txn_count_1h"].to_numpy(), expected["customer_txn_count_1h"].to_numpy()
    )
    np.testing.assert_array_equal(
        scored["probability"].to_numpy(),
        ws.models.load("fx/1").predict_proba(expected[columns])[:, 1],
    )
    assert set(scored["model_digest"]) == {ws.models.version("fx/1").artifact_digest}
