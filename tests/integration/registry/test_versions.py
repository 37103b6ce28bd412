"""Registering versions, references, aliases and loading predictors (SQLite and PostgreSQL)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from fraud_models import FEATURES, LogFn
from modelyard.errors import (
    AliasNotFoundError,
    InvalidReferenceError,
    InvalidTransitionError,
    ModelVersionExistsError,
    ModelVersionNotFoundError,
    RegisteredModelNotFoundError,
    SignatureMismatchError,
    UnsupportedModelError,
    UntrustedPickleError,
)
from modelyard.registry import Stage
from modelyard.workspace import Workspace


def test_versions_are_numbered_and_pinned_to_digest_and_run(
    workspace: Workspace, log_version: LogFn
) -> None:
    first = log_version(0.5)
    second = log_version(2.0)
    assert (first.registered_version, second.registered_version) == ("fraud/1", "fraud/2")
    version = workspace.models.version("fraud/1")
    assert version.artifact_digest == first.artifact_digest
    assert version.run_id == first.run_id
    assert version.flavor == "sklearn"
    assert version.stage is Stage.NONE
    assert version.signature["inputs"][0]["name"] == "amount"
    assert [v.version for v in workspace.models.versions("fraud")] == [2, 1]
    model = workspace.models.get("fraud")
    assert (model.latest_version, model.production_version) == (2, None)
    assert workspace.models.version("fraud").version == 2


def test_registering_the_same_artifact_twice_names_the_existing_version(
    workspace: Workspace, log_version: LogFn
) -> None:
    logged = log_version()
    with pytest.raises(ModelVersionExistsError, match=r"is already version 1 of model \"fraud\""):
        workspace.models.register("fraud", logged.run_id, "model")
    assert [v.version for v in workspace.models.versions("fraud")] == [1]


def test_aliases_resolve_and_unknown_names_suggest(
    workspace: Workspace, log_version: LogFn
) -> None:
    log_version(0.5)
    log_version(2.0)
    workspace.models.set_alias("fraud", "challenger", 2, reason="try it")
    assert workspace.models.version("fraud@challenger").version == 2
    assert workspace.models.version("fraud@challenger").aliases == ("challenger",)
    with pytest.raises(AliasNotFoundError, match=r'did you mean "challenger"\?'):
        workspace.models.version("fraud@chalenger")
    with pytest.raises(RegisteredModelNotFoundError, match=r'did you mean "fraud"\?'):
        workspace.models.version("frau/1")
    with pytest.raises(ModelVersionNotFoundError, match=r"has no version 7 \(latest is 2\)"):
        workspace.models.version("fraud/7")
    with pytest.raises(InvalidReferenceError, match="version '0' is not a positive integer"):
        workspace.models.version("fraud/0")
    workspace.models.delete_alias("fraud", "challenger")
    with pytest.raises(AliasNotFoundError, match=r"\(aliases: none\)"):
        workspace.models.version("fraud@challenger")


def test_the_champion_alias_only_moves_through_promotion(
    workspace: Workspace, log_version: LogFn
) -> None:
    log_version()
    with pytest.raises(InvalidTransitionError, match="only moves through the gates"):
        workspace.models.set_alias("fraud", "champion", 1)


def test_loaded_predictor_matches_the_native_model_and_checks_its_input(
    workspace: Workspace, frame: pd.DataFrame
) -> None:
    model = LogisticRegression(max_iter=500).fit(frame[FEATURES], frame["is_fraud"])
    with workspace.start_run("registry") as run:
        run.log_model(model, input_example=frame[FEATURES].head(50), registered_model_name="m")
    predictor = workspace.models.load("m/1")
    rows = frame[FEATURES].head(200)
    served = np.asarray(predictor.predict_proba(rows), dtype=np.float64)
    np.testing.assert_allclose(served, model.predict_proba(rows), rtol=0, atol=1e-5)
    with pytest.raises(SignatureMismatchError, match="amount"):
        predictor.predict_proba(rows.drop(columns=["amount"]))
    with pytest.raises(SignatureMismatchError, match="extra"):
        predictor.predict_proba(rows.assign(extra=1.0))


class Custom:
    """A model object no flavor knows: only a trusted pickle can store it."""

    def predict(self, data: pd.DataFrame) -> np.ndarray:
        return np.zeros(len(data))


def test_unsupported_and_untrusted_objects(workspace: Workspace, frame: pd.DataFrame) -> None:
    example = frame[FEATURES].head(5)
    with workspace.start_run("registry") as run:
        with pytest.raises(UnsupportedModelError, match=r"builtins.dict"):
            run.log_model({"weights": [1, 2]}, input_example=example)
        with pytest.raises(UntrustedPickleError, match="pass trust=True"):
            run.log_model(Custom(), input_example=example)
        logged = run.log_model(
            Custom(), input_example=example, trust=True, registered_model_name="custom"
        )
    version = workspace.models.version(logged.registered_version or "")
    assert version.is_pickle_trusted is True
    assert "trusted pickle" in workspace.models.card(version.reference)
