"""Batch scoring (serving/batch.py): scores, digests, partitions, resumption, failures, inputs
and point-in-time feature lookups, on a real SQLite workspace and real Parquet and CSV files."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LinearRegression, LogisticRegression

import modelyard
from fraud_models import FEATURES
from modelyard.errors import InvalidScoringInputError, ScoringFailedError, SignatureMismatchError
from modelyard.features import Aggregation, DatasetSource, Entity, FeatureView
from modelyard.serving._scoring_input import MANIFEST_FILE, row_group_runs
from modelyard.serving.batch import ScoringResult, score
from modelyard.serving.config import ModelServingConfig
from modelyard.workspace import Workspace

COUNT = "customer_activity:customer_txn_count_1h"
SUM = "customer_activity:customer_amount_sum_1h"
FEATURE_COLUMNS = ["customer_txn_count_1h", "customer_amount_sum_1h"]
SCORES = ["prediction", "probability", "model_version", "model_digest"]


@dataclass
class Setup:
    ws: Workspace
    data: pd.DataFrame
    root: Path


def _register(ws: Workspace, model: object, frame: pd.DataFrame, name: str) -> None:
    with ws.start_run("scoring") as run:
        run.log_model(model, input_example=frame.head(50), registered_model_name=name)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory, frame: pd.DataFrame) -> Iterator[Setup]:
    """One SQLite workspace: fraud/1 and fraud/2 (two logistic regressions), classes/1 (three
    classes), amount/1 (a regressor), fraudfx/1 (with two looked-up features) and the
    transactions dataset the features are computed from."""
    root = tmp_path_factory.mktemp("scoring")
    ws = modelyard.open(root / "ws")
    data = frame.head(2_000).reset_index(drop=True)
    target = data["is_fraud"]
    _register(
        ws, LogisticRegression(max_iter=500).fit(data[FEATURES], target), data[FEATURES], "fraud"
    )
    _register(
        ws,
        LogisticRegression(C=0.01, max_iter=500).fit(data[FEATURES], target),
        data[FEATURES],
        "fraud",
    )
    buckets = (data["hour"] // 8).astype("int64")
    _register(
        ws, LogisticRegression(max_iter=500).fit(data[FEATURES], buckets), data[FEATURES], "classes"
    )
    others = ["hour", "customer_age", "card_present"]
    _register(ws, LinearRegression().fit(data[others], data["amount"]), data[others], "amount")
    ws.datasets.add("transactions", data)
    customer = Entity("customer", ("customer_id",))
    view = FeatureView(
        "customer_activity",
        entities=("customer",),
        source=DatasetSource("transactions"),
        timestamp_field="event_time",
        aggregations=(
            Aggregation("amount", "count", "1h", name="customer_txn_count_1h"),
            Aggregation("amount", "sum", "1h", name="customer_amount_sum_1h"),
        ),
    )
    ws.features.apply([customer, view])
    training = ws.features.historical(
        data, [COUNT, SUM], timestamp_column="event_time", output="pandas"
    )
    training["customer_amount_sum_1h"] = training["customer_amount_sum_1h"].fillna(0.0)
    columns = [*FEATURES, *FEATURE_COLUMNS]
    _register(
        ws,
        LogisticRegression(max_iter=500).fit(training[columns], target),
        training[columns],
        "fraudfx",
    )
    try:
        yield Setup(ws, data, root)
    finally:
        ws.close()


def _parquet(path: Path, data: pd.DataFrame, row_group_size: int = 500) -> Path:
    pq.write_table(
        pa.Table.from_pandas(data, preserve_index=False), path, row_group_size=row_group_size
    )
    return path


def _read(output: Path) -> pd.DataFrame:
    files = sorted(output.glob("part-*.parquet"))
    scored: pd.DataFrame = pa.concat_tables([pq.read_table(file) for file in files]).to_pandas()
    return scored


def _mtimes(output: Path) -> dict[str, int]:
    return {file.name: file.stat().st_mtime_ns for file in sorted(output.glob("part-*.parquet"))}


def _statuses(output: Path) -> list[str]:
    manifest = json.loads((output / MANIFEST_FILE).read_text())
    return [entry["status"] for entry in manifest["partitions"]]


# ---------------------------------------------------------------------- scores


def test_scores_equal_the_predictor_with_the_version_and_digest_on_every_row(
    setup: Setup, tmp_path: Path
) -> None:
    source = _parquet(tmp_path / "tx.parquet", setup.data)
    progress: list[tuple[int, int | None]] = []

    result = score(
        "fraud/1",
        source,
        tmp_path / "out",
        registry=setup.ws.models,
        partition_rows=1_000,
        batch_rows=300,
        progress=lambda done, total: progress.append((done, total)),
    )

    digest = setup.ws.models.version("fraud/1").artifact_digest
    assert result == ScoringResult(
        model="fraud/1",
        model_digest=digest,
        input=str(source),
        output=str((tmp_path / "out").resolve()),
        engine="local",
        partitions=2,
        scored=2,
        skipped=0,
        rows=2_000,
        seconds=result.seconds,
    )
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == [
        MANIFEST_FILE,
        "part-00000.parquet",
        "part-00001.parquet",
    ]
    scored = _read(tmp_path / "out")
    assert list(scored.columns) == [*setup.data.columns, *SCORES]
    predictor = setup.ws.models.load("fraud/1")
    np.testing.assert_array_equal(
        scored["probability"].to_numpy(), predictor.predict_proba(setup.data[FEATURES])[:, 1]
    )
    np.testing.assert_array_equal(
        scored["prediction"].to_numpy(), predictor.predict(setup.data[FEATURES])
    )
    assert set(scored["model_version"]) == {"fraud/1"}
    assert set(scored["model_digest"]) == {digest}
    assert scored["transaction_id"].tolist() == setup.data["transaction_id"].tolist()
    assert progress[-1] == (2_000, 2_000)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


def test_a_multiclass_classifier_gets_one_probability_column_per_class(
    setup: Setup, tmp_path: Path
) -> None:
    source = _parquet(tmp_path / "tx.parquet", setup.data)

    score("classes/1", source, tmp_path / "out", registry=setup.ws.models, batch_rows=700)

    scored = _read(tmp_path / "out")
    predictor = setup.ws.models.load("classes/1")
    proba = predictor.predict_proba(setup.data[FEATURES])
    assert list(scored.columns)[-6:] == [
        "prediction",
        "probability_0",
        "probability_1",
        "probability_2",
        "model_version",
        "model_digest",
    ]
    for k in range(3):
        np.testing.assert_array_equal(scored[f"probability_{k}"].to_numpy(), proba[:, k])
    np.testing.assert_array_equal(
        scored["prediction"].to_numpy(), predictor.predict(setup.data[FEATURES])
    )


def test_a_regressor_gets_its_predictions(setup: Setup, tmp_path: Path) -> None:
    source = _parquet(tmp_path / "tx.parquet", setup.data)

    score("amount", source, tmp_path / "out", registry=setup.ws.models)

    scored = _read(tmp_path / "out")
    expected = setup.ws.models.load("amount/1").predict(
        setup.data[["hour", "customer_age", "card_present"]]
    )
    assert list(scored.columns)[-3:] == ["prediction", "model_version", "model_digest"]
    np.testing.assert_array_equal(scored["prediction"].to_numpy(), expected)


def test_a_dataset_reference_and_a_csv_file_are_inputs(setup: Setup, tmp_path: Path) -> None:
    csv = tmp_path / "tx.csv"
    setup.data.head(300).to_csv(csv, index=False)

    from_dataset = score(
        "fraud/1",
        "transactions/1",
        tmp_path / "a",
        registry=setup.ws.models,
        datasets=setup.ws.datasets,
    )
    from_csv = score("fraud/1", csv, tmp_path / "b", registry=setup.ws.models)

    predictor = setup.ws.models.load("fraud/1")
    assert (from_dataset.input, from_dataset.rows) == ("dataset transactions/1", 2_000)
    np.testing.assert_array_equal(
        _read(tmp_path / "a")["probability"].to_numpy(),
        predictor.predict_proba(setup.data[FEATURES])[:, 1],
    )
    assert (from_csv.partitions, from_csv.rows) == (1, 300)
    np.testing.assert_allclose(
        _read(tmp_path / "b")["probability"].to_numpy(),
        np.asarray(predictor.predict_proba(pd.read_csv(csv)[FEATURES])[:, 1], dtype=np.float64),
        rtol=0,
        atol=1e-12,
    )


# ---------------------------------------------------------------------- resumption and failures


def test_a_rerun_skips_done_partitions_and_rescores_a_missing_one(
    setup: Setup, tmp_path: Path
) -> None:
    source = _parquet(tmp_path / "tx.parquet", setup.data)
    out = tmp_path / "out"
    score("fraud/1", source, out, registry=setup.ws.models, partition_rows=500)
    first = _read(out)
    (out / "part-00002.parquet").unlink()
    before = _mtimes(out)

    result = score("fraud/1", source, out, registry=setup.ws.models, partition_rows=500)

    assert (result.partitions, result.scored, result.skipped, result.rows) == (4, 1, 3, 500)
    after = _mtimes(out)
    assert {name: after[name] for name in before} == before
    pd.testing.assert_frame_equal(_read(out), first)
    again = score("fraud/1", source, out, registry=setup.ws.models, partition_rows=500)
    assert (again.scored, again.skipped, again.rows) == (0, 4, 0)


def test_rows_breaking_the_signature_fail_their_partition_only(
    setup: Setup, tmp_path: Path
) -> None:
    data = setup.data.head(1_500).copy()
    data.loc[700, "amount"] = np.nan
    source = _parquet(tmp_path / "tx.parquet", data)
    out = tmp_path / "out"

    with pytest.raises(ScoringFailedError) as failed:
        score("fraud/1", source, out, registry=setup.ws.models, partition_rows=500)

    assert failed.value.failed == ["part-00001"]
    assert failed.value.reasons[0].startswith(
        "tx.parquet: input does not match the model signature"
    )
    assert "amount: 1 null value in a non-nullable column" in failed.value.reasons[0]
    assert failed.value.output == str(out.resolve())
    assert _statuses(out) == ["done", "failed", "done"]
    assert sorted(_mtimes(out)) == ["part-00000.parquet", "part-00002.parquet"]
    before = _mtimes(out)

    with pytest.raises(ScoringFailedError) as again:
        score("fraud/1", source, out, registry=setup.ws.models, partition_rows=500)

    assert again.value.failed == ["part-00001"]
    assert _mtimes(out) == before


def test_a_failed_partition_is_scored_by_the_next_run(setup: Setup, tmp_path: Path) -> None:
    source = _parquet(tmp_path / "tx.parquet", setup.data)
    out = tmp_path / "out"
    score("fraud/1", source, out, registry=setup.ws.models, partition_rows=1_000)
    (out / "part-00001.parquet").unlink()
    (out / "part-00001.parquet").mkdir()  # the rename into place fails

    with pytest.raises(ScoringFailedError) as failed:
        score("fraud/1", source, out, registry=setup.ws.models, partition_rows=1_000)

    assert failed.value.failed == ["part-00001"]
    assert _statuses(out) == ["done", "failed"]
    (out / "part-00001.parquet").rmdir()
    result = score("fraud/1", source, out, registry=setup.ws.models, partition_rows=1_000)
    assert (result.scored, result.skipped, result.rows) == (1, 1, 1_000)
    assert _statuses(out) == ["done", "done"]
    assert len(_read(out)) == 2_000
    assert [path.name for path in out.iterdir() if path.name.startswith(".")] == []


def test_a_corrupt_file_of_a_directory_fails_alone(setup: Setup, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _parquet(folder / "a.parquet", setup.data.head(400))
    (folder / "b.parquet").write_bytes(b"PAR1 not really parquet")
    setup.data.iloc[400:700].to_csv(folder / "c.csv", index=False)
    (folder / "_SUCCESS").write_text("")

    with pytest.raises(ScoringFailedError) as failed:
        score("fraud/1", folder, tmp_path / "out", registry=setup.ws.models)

    assert failed.value.failed == ["part-00001"]
    assert failed.value.reasons[0].startswith("b.parquet: ")
    assert _statuses(tmp_path / "out") == ["done", "failed", "done"]
    parts = sorted((tmp_path / "out").glob("part-*.parquet"))
    assert [pq.read_metadata(part).num_rows for part in parts] == [400, 300]


def test_another_model_digest_on_the_same_output_is_refused_and_nothing_changes(
    setup: Setup, tmp_path: Path
) -> None:
    source = _parquet(tmp_path / "tx.parquet", setup.data)
    out = tmp_path / "out"
    score("fraud/1", source, out, registry=setup.ws.models)
    before = {path.name: path.read_bytes() for path in out.iterdir()}

    with pytest.raises(InvalidScoringInputError) as refused:
        score("fraud/2", source, out, registry=setup.ws.models)

    digests = [setup.ws.models.version(ref).artifact_digest for ref in ("fraud/1", "fraud/2")]
    assert str(refused.value) == (
        f"batch scoring output: {out.resolve()} holds the scores of model fraud/1 "
        f"({digests[0]}), not fraud/2 ({digests[1]}); score into a new output directory"
    )
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


def test_another_input_on_the_same_output_is_refused(setup: Setup, tmp_path: Path) -> None:
    out = tmp_path / "out"
    score("fraud/1", _parquet(tmp_path / "a.parquet", setup.data), out, registry=setup.ws.models)

    with pytest.raises(InvalidScoringInputError, match=r"holds the scores of input .*a\.parquet"):
        score(
            "fraud/1",
            _parquet(tmp_path / "b.parquet", setup.data.head(10)),
            out,
            registry=setup.ws.models,
        )


# ---------------------------------------------------------------------- feature lookups


def test_features_are_looked_up_point_in_time_with_declared_defaults(
    setup: Setup, tmp_path: Path
) -> None:
    rows = setup.data[["transaction_id", "customer_id", "event_time", *FEATURES]].iloc[::3]
    # Scored a second before each transaction: customers idle for the hour before get no
    # amount sum (null offline), which the declared default replaces.
    rows = rows.assign(event_time=rows["event_time"] - pd.Timedelta(seconds=1))
    source = _parquet(tmp_path / "tx.parquet", rows, row_group_size=200)
    config = ModelServingConfig(
        "fraudfx/1", features=(COUNT, SUM), defaults={"customer_amount_sum_1h": 0.0}
    )

    result = score(
        "fraudfx/1",
        source,
        tmp_path / "out",
        registry=setup.ws.models,
        feature_store=setup.ws.features,
        serving=config,
        timestamp_column="event_time",
        batch_rows=250,
    )

    expected = setup.ws.features.historical(
        rows, [COUNT, SUM], timestamp_column="event_time", output="pandas"
    )
    assert expected["customer_amount_sum_1h"].isna().any()  # the default is exercised
    expected["customer_amount_sum_1h"] = expected["customer_amount_sum_1h"].fillna(0.0)
    scored = _read(tmp_path / "out")
    assert result.rows == len(rows)
    assert list(scored.columns) == [*rows.columns, *FEATURE_COLUMNS, *SCORES]
    pd.testing.assert_frame_equal(
        scored[FEATURE_COLUMNS].reset_index(drop=True),
        expected[FEATURE_COLUMNS].reset_index(drop=True),
    )
    predictor = setup.ws.models.load("fraudfx/1")
    np.testing.assert_array_equal(
        scored["probability"].to_numpy(),
        predictor.predict_proba(expected[[*FEATURES, *FEATURE_COLUMNS]])[:, 1],
    )


def test_a_needed_feature_without_its_entity_key_is_refused(setup: Setup, tmp_path: Path) -> None:
    rows = setup.data[["event_time", *FEATURES]]
    source = _parquet(tmp_path / "tx.parquet", rows)

    with pytest.raises(InvalidScoringInputError) as refused:
        score(
            "fraudfx/1",
            source,
            tmp_path / "out",
            registry=setup.ws.models,
            feature_store=setup.ws.features,
            features=[COUNT, SUM],
            timestamp_column="event_time",
        )

    assert str(refused.value) == (
        'batch scoring input: column "customer_id" is missing: the model needs '
        "customer_txn_count_1h, customer_amount_sum_1h, looked up by entity key and point in "
        'time ("event_time")'
    )
    assert not (tmp_path / "out").exists()


def test_an_input_without_a_model_column_is_refused(setup: Setup, tmp_path: Path) -> None:
    source = _parquet(tmp_path / "tx.parquet", setup.data.drop(columns=["hour"]))

    with pytest.raises(SignatureMismatchError, match="hour: missing column of type float64"):
        score("fraud/1", source, tmp_path / "out", registry=setup.ws.models)

    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------- bad inputs and options


@pytest.mark.parametrize(
    ("make", "message"),
    [
        pytest.param(
            lambda root: root / "missing.parquet",
            "is neither a file or directory nor a dataset",
            id="missing",
        ),
        pytest.param(
            lambda root: "nothing/3",
            'is neither a file or directory nor a dataset: no dataset "nothing"',
            id="unknown-dataset",
        ),
        pytest.param(
            lambda root: _text(root / "notes.txt"), "is not a Parquet or CSV file", id="text-file"
        ),
        pytest.param(
            lambda root: _text(root / "fake.parquet"),
            "is not a readable parquet file",
            id="not-parquet",
        ),
        pytest.param(lambda root: root, "holds no Parquet or CSV files", id="empty-directory"),
    ],
)
def test_bad_inputs_are_refused_before_anything_is_written(
    setup: Setup, tmp_path: Path, make: Callable[[Path], Path | str], message: str
) -> None:
    source = make(_folder(tmp_path / "in"))

    with pytest.raises(InvalidScoringInputError, match="batch scoring input: ") as refused:
        score(
            "fraud/1",
            source,
            tmp_path / "out",
            registry=setup.ws.models,
            datasets=setup.ws.datasets,
        )

    assert message in str(refused.value)
    assert not (tmp_path / "out").exists()


def _folder(path: Path) -> Path:
    path.mkdir()
    return path


def _text(path: Path) -> Path:
    path.write_text("not a table\n")
    return path


def test_an_output_directory_with_other_files_is_refused(setup: Setup, tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "mine.txt").write_text("keep me")

    with pytest.raises(InvalidScoringInputError, match=r"holds files but no _scoring\.json"):
        score(
            "fraud/1",
            "transactions",
            tmp_path / "out",
            registry=setup.ws.models,
            datasets=setup.ws.datasets,
        )

    assert [path.name for path in (tmp_path / "out").iterdir()] == ["mine.txt"]


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"engine": "spark"}, "engine"),
        ({"batch_rows": 0}, "batch_rows"),
        ({"partition_rows": -1}, "partition_rows"),
    ],
)
def test_bad_options_are_refused(
    setup: Setup, tmp_path: Path, options: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidScoringInputError) as refused:
        score("fraud/1", "transactions", tmp_path / "out", registry=setup.ws.models, **options)  # type: ignore[arg-type]

    assert refused.value.field == field


# ---------------------------------------------------------------------- partitions


@given(
    sizes=st.lists(st.integers(min_value=0, max_value=50), max_size=30),
    partition_rows=st.integers(min_value=1, max_value=120),
)
def test_row_group_runs_cover_every_row_group_once_within_the_bound(
    sizes: list[int], partition_rows: int
) -> None:
    runs = row_group_runs(sizes, partition_rows)

    assert runs[0][0] == 0
    assert runs[-1][1] == len(sizes)
    assert all(stop == start for (_, stop), (start, _) in itertools.pairwise(runs))
    for start, stop in runs:
        assert stop - start == 1 or sum(sizes[start:stop]) <= partition_rows
        if stop < len(sizes):  # a run stops only where the next row group would not fit
            assert sum(sizes[start : stop + 1]) > partition_rows


def test_partitions_are_deterministic(setup: Setup, tmp_path: Path) -> None:
    source = _parquet(tmp_path / "tx.parquet", setup.data, row_group_size=300)

    score("fraud/1", source, tmp_path / "out", registry=setup.ws.models, partition_rows=700)

    manifest = json.loads((tmp_path / "out" / MANIFEST_FILE).read_text())
    assert [(p["row_groups"], p["rows"]) for p in manifest["partitions"]] == [
        ([0, 2], 600),
        ([2, 4], 600),
        ([4, 6], 600),
        ([6, 7], 200),
    ]
