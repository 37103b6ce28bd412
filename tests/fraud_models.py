"""Small, fast scikit-learn models on the synthetic fraud data, for registry tests.

The fixtures are registered through tests/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from modelyard.tracking.model_logging import LoggedModel
from modelyard.workspace import Workspace

FEATURES = ["amount", "hour", "customer_age", "card_present"]


@pytest.fixture(scope="session")
def frame() -> pd.DataFrame:
    from modelyard.workflows.fraud_data import generate_transactions

    data = generate_transactions(rows=4_000, seed=3)
    data["card_present"] = data["card_present"].astype("float64")
    data["amount"] = data["amount"].astype("float64")
    data["hour"] = data["hour"].astype("float64")
    data["customer_age"] = data["customer_age"].astype("float64")
    return data


LogFn = Callable[..., LoggedModel]


@pytest.fixture
def log_version(workspace: Workspace, frame: pd.DataFrame) -> LogFn:
    """Train a logistic regression (C varies the model) and register it as a version."""

    def log(
        c: float = 1.0,
        *,
        name: str = "fraud",
        metrics: dict[str, float] | None = None,
        features: list[str] | None = None,
        data: pd.DataFrame | None = None,
    ) -> LoggedModel:
        columns = features or FEATURES
        source = frame if data is None else data
        model = LogisticRegression(C=c, max_iter=500).fit(source[columns], source["is_fraud"])
        with workspace.start_run("registry", params={"C": c}) as run:
            run.log_metrics(metrics or {"auc": 0.8})
            return run.log_model(
                model, input_example=source[columns].head(50), registered_model_name=name
            )

    return log
