"""Tests of modelyard/lineage.py: reporting inputs to the recorder of the current run."""

from __future__ import annotations

import contextvars
import dataclasses
import threading

import pytest

from modelyard.lineage import (
    LineageInput,
    current_recorder,
    current_run_id,
    recording,
    report_input,
)

DATASET = LineageInput(
    kind="dataset", name="transactions", version="3", digest="sha256:" + "a" * 64
)
FEATURES = LineageInput(kind="feature_view", name="card_stats", version="1")


class ListRecorder:
    """A recorder that keeps what it is told, in order."""

    def __init__(self, run_id: str = "r1") -> None:
        self.run_id = run_id
        self.items: list[LineageInput] = []

    def record_input(self, item: LineageInput) -> None:
        self.items.append(item)


def test_lineage_input_defaults_and_is_frozen() -> None:
    assert (FEATURES.digest, dict(FEATURES.details)) == (None, {})

    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'name'"):
        FEATURES.name = "other"  # type: ignore[misc]


def test_without_a_recorder_a_report_goes_nowhere() -> None:
    assert current_recorder() is None
    assert current_run_id() is None
    assert report_input(DATASET) is False


def test_the_recording_run_is_named_for_writers() -> None:
    with recording(ListRecorder("run-7")):
        assert current_run_id() == "run-7"
    assert current_run_id() is None


def test_the_installed_recorder_gets_each_report() -> None:
    recorder = ListRecorder()

    with recording(recorder) as installed:
        assert installed is recorder
        assert current_recorder() is recorder
        assert report_input(DATASET) is True
        assert report_input(FEATURES) is True

    assert recorder.items == [DATASET, FEATURES]


def test_the_recorder_is_removed_after_the_block() -> None:
    recorder = ListRecorder()

    with recording(recorder):
        pass

    assert current_recorder() is None
    assert report_input(DATASET) is False
    assert recorder.items == []


def test_nested_recording_reports_to_the_innermost_and_restores_the_outer() -> None:
    outer, inner = ListRecorder(), ListRecorder()

    with recording(outer):
        report_input(DATASET)
        with recording(inner):
            assert current_recorder() is inner
            report_input(FEATURES)
        assert current_recorder() is outer
        report_input(FEATURES)

    assert outer.items == [DATASET, FEATURES]
    assert inner.items == [FEATURES]
    assert current_recorder() is None


def test_the_recorder_is_reset_when_the_block_raises() -> None:
    outer, inner = ListRecorder(), ListRecorder()

    with recording(outer):
        with pytest.raises(KeyError, match="boom"), recording(inner):
            raise KeyError("boom")
        assert current_recorder() is outer

    assert current_recorder() is None


def test_another_thread_does_not_see_the_recorder() -> None:
    recorder = ListRecorder()
    seen: list[bool] = []

    with recording(recorder):
        thread = threading.Thread(target=lambda: seen.append(report_input(DATASET)))
        thread.start()
        thread.join()

    assert seen == [False]
    assert recorder.items == []


def test_a_copied_context_carries_the_recorder() -> None:
    recorder = ListRecorder()

    with recording(recorder):
        context = contextvars.copy_context()

    assert context.run(report_input, DATASET) is True
    assert recorder.items == [DATASET]
    assert current_recorder() is None
