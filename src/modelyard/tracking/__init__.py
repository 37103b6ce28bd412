"""Experiment tracking: experiments, runs, params, metrics, artifacts, environment, search."""

from modelyard.tracking.active import ActiveRun
from modelyard.tracking.artifacts import ArtifactRecord
from modelyard.tracking.compare import Comparison, ComparisonRow
from modelyard.tracking.environment import Environment, GitState
from modelyard.tracking.experiments import Experiment
from modelyard.tracking.metrics import MetricPoint
from modelyard.tracking.model_logging import LoggedModel, ModelLogger
from modelyard.tracking.runs import Run, RunInput, RunStatus
from modelyard.tracking.tracker import Tracker

__all__ = [
    "ActiveRun",
    "ArtifactRecord",
    "Comparison",
    "ComparisonRow",
    "Environment",
    "Experiment",
    "GitState",
    "LoggedModel",
    "MetricPoint",
    "ModelLogger",
    "Run",
    "RunInput",
    "RunStatus",
    "Tracker",
]
