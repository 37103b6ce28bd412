"""Data and model of bench/serving.py: 20 float features, a 200-tree classifier, request rows.

Everything is drawn from fixed seeds, so each run (and each contender) sees the same model, the
same request bodies in the same order and the same Parquet file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sklearn.datasets import make_classification
from sklearn.ensemble import GradientBoostingClassifier

FEATURES = [f"f{i}" for i in range(20)]
MODEL_NAME = "gbm"
MODEL_REF = f"{MODEL_NAME}/1"
ESTIMATOR = "GradientBoostingClassifier(n_estimators=200, max_depth=3, random_state=0)"
DATA_SEED = 0
SCORING_SEED = 7
SCORING_ROW_GROUP = 65_536  # rows per Parquet row group of the scoring file


def make_data(train_rows: int, request_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training features and labels, and the request rows (same distribution, held out).

    Feature values are rounded to 6 decimals: the request bodies carry them as JSON text, and
    every contender (and the expected answers) then sees the very same numbers.
    """
    features, labels = make_classification(
        n_samples=train_rows + request_rows,
        n_features=len(FEATURES),
        n_informative=12,
        n_redundant=4,
        random_state=DATA_SEED,
    )
    features = np.round(features, 6)
    return features[:train_rows], labels[:train_rows], features[train_rows:]


def fit_model(features: np.ndarray, labels: np.ndarray) -> GradientBoostingClassifier:
    """The benchmark's model, fitted on a DataFrame (so it knows the feature names)."""
    model = GradientBoostingClassifier(n_estimators=200, max_depth=3, random_state=0)
    model.fit(frame(features), labels)
    return model


def frame(features: np.ndarray) -> pd.DataFrame:
    """A float64 DataFrame with columns f0 … f19."""
    return pd.DataFrame(features, columns=FEATURES)


def write_rows(path: Path, features: np.ndarray) -> None:
    """One JSON object per line, ``{"f0": …, …, "f19": …}`` (the request rows)."""
    with path.open("w") as out:
        for row in features.tolist():
            out.write(json.dumps(dict(zip(FEATURES, row, strict=True)), separators=(",", ":")))
            out.write("\n")


def write_scoring_file(path: Path, rows: int) -> dict[str, Any]:
    """A Parquet file of ``rows`` x 20 float64 features (zstd, 64Ki-row groups)."""
    rng = np.random.default_rng(SCORING_SEED)
    schema = pa.schema([(name, pa.float64()) for name in FEATURES])
    with pq.ParquetWriter(path, schema, compression="zstd") as writer:
        for start in range(0, rows, SCORING_ROW_GROUP):
            count = min(SCORING_ROW_GROUP, rows - start)
            values = rng.standard_normal((count, len(FEATURES))) * 2.0
            columns = [pa.array(values[:, i]) for i in range(len(FEATURES))]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
    return {"rows": rows, "file_bytes": path.stat().st_size, "row_group_rows": SCORING_ROW_GROUP}
