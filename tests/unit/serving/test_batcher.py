"""DynamicBatcher: each caller gets its own answer, batches respect their bounds, the queue is
bounded, failures and cancellations stay within their batch."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Sequence
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelyard.errors import BatchAnswerError, ModelNotReadyError, QueueFullError
from modelyard.serving.batcher import DynamicBatcher

T = TypeVar("T")
Item = TypeVar("Item")
Result = TypeVar("Result")
# A guard against a batcher that never answers: the test fails instead of hanging. Never
# reached by a working batcher, so it asserts nothing about speed.
GUARD_S = 10.0
# Long enough that no test ever reaches it: a batch that must wait this long means the batcher
# missed a wake-up (and the guard fails the test).
FOREVER_MS = 600_000.0


def run_async(main: Callable[[], Coroutine[object, object, T]]) -> T:
    async def guarded() -> T:
        return await asyncio.wait_for(main(), GUARD_S)

    return asyncio.run(guarded())


class Doubler:
    """A model: doubles every value of every item; records the rows of each batch it ran."""

    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.items: list[list[int]] = []

    def __call__(self, items: list[list[int]]) -> list[list[int]]:
        self.batches.append([len(item) for item in items])
        self.items.extend(items)
        return [[2 * value for value in item] for item in items]


class Gated:
    """A model that blocks on the item "block" until released; records each batch's items."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.release = threading.Event()
        self.batches: list[list[str]] = []

    def __call__(self, items: list[str]) -> list[str]:
        self.batches.append(list(items))
        if "block" in items:
            self.started.set()
            self.release.wait(GUARD_S)
        return [item.upper() for item in items]

    async def wait_started(self) -> None:
        await asyncio.to_thread(self.started.wait, GUARD_S)


class Recorder:
    """A batch observer that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int, list[float]]] = []

    def on_batch(self, rows: int, requests: int, queue_waits_s: Sequence[float]) -> None:
        self.calls.append((rows, requests, list(queue_waits_s)))


class ModelCrashError(Exception):
    """What the test model raises."""


async def until(condition: Callable[[], bool]) -> None:
    """Yield to the event loop until ``condition`` holds (the batcher's task has moved on)."""
    while not condition():
        await asyncio.sleep(0)


async def submit_all(
    batcher: DynamicBatcher[Item, Result], items: Sequence[Item], rows: int = 1
) -> list[asyncio.Task[Result]]:
    """Submit each item from its own task; return the tasks once every one is queued."""
    submitted: list[Item] = []

    async def submit(item: Item) -> Result:
        submitted.append(item)
        return await batcher.submit(item, rows)

    tasks = [asyncio.create_task(submit(item)) for item in items]
    await until(lambda: len(submitted) == len(items))
    return tasks


async def taken_alone(
    batcher: DynamicBatcher[list[int], list[int]], item: list[int]
) -> asyncio.Task[list[int]]:
    """Submit ``item`` and return once the batcher's task has taken it (and waits for company)."""
    submitted: list[bool] = []

    async def submit() -> list[int]:
        submitted.append(True)
        return await batcher.submit(item, len(item))

    task = asyncio.create_task(submit())
    await until(lambda: bool(submitted) and batcher.queued == 0 and not task.done())
    return task


def doubler_batcher(
    model: Doubler, *, max_batch_size: int, max_wait_ms: float = 1.0, max_queue: int = 1000
) -> DynamicBatcher[list[int], list[int]]:
    return DynamicBatcher(
        "fraud",
        model,
        max_batch_size=max_batch_size,
        max_wait_ms=max_wait_ms,
        max_queue=max_queue,
    )


async def gather_submits(
    batcher: DynamicBatcher[list[int], list[int]], items: list[list[int]]
) -> list[list[int]]:
    return await asyncio.gather(*(batcher.submit(item, len(item)) for item in items))


# ------------------------------------------------------------------ answers and batch bounds


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(1, 6), min_size=1, max_size=25),
    delays=st.lists(st.integers(0, 3), min_size=25, max_size=25),
    max_batch_size=st.integers(1, 8),
    max_wait_ms=st.sampled_from([0.0, 1.0]),
)
def test_concurrent_submits_each_get_their_own_answer_in_bounded_batches(
    sizes: list[int], delays: list[int], max_batch_size: int, max_wait_ms: float
) -> None:
    model = Doubler()
    # Distinct values, so a caller handed someone else's slice is caught.
    items, start = [], 0
    for size in sizes:
        items.append(list(range(start, start + size)))
        start += size

    async def caller(
        batcher: DynamicBatcher[list[int], list[int]], item: list[int], delay: int
    ) -> list[int]:
        for _ in range(delay):  # arrive spread over several loop iterations
            await asyncio.sleep(0)
        return await batcher.submit(item, len(item))

    async def main() -> list[list[int]]:
        batcher = doubler_batcher(model, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms)
        batcher.start()
        try:
            return await asyncio.gather(
                *(caller(batcher, item, delay) for item, delay in zip(items, delays, strict=False))
            )
        finally:
            await batcher.close()
            assert batcher.batches == len(model.batches)

    answers = run_async(main)

    assert answers == [[2 * value for value in item] for item in items]
    assert sorted(model.items) == sorted(items)  # each request ran exactly once
    for batch in model.batches:
        assert sum(batch) <= max_batch_size or len(batch) == 1, batch


def test_requests_queued_together_fill_batches_of_max_batch_size() -> None:
    model = Doubler()

    async def main() -> list[list[int]]:
        batcher = doubler_batcher(model, max_batch_size=4, max_wait_ms=50)
        batcher.start()
        try:
            return await gather_submits(batcher, [[n] for n in range(20)])
        finally:
            await batcher.close()

    answers = run_async(main)

    assert answers == [[2 * n] for n in range(20)]
    assert model.batches == [[1, 1, 1, 1]] * 5


def test_requests_arriving_together_coalesce_into_one_batch() -> None:
    model = Doubler()

    async def main() -> list[list[int]]:
        batcher = doubler_batcher(model, max_batch_size=64, max_wait_ms=50)
        batcher.start()
        try:
            return await gather_submits(batcher, [[n] for n in range(20)])
        finally:
            await batcher.close()

    answers = run_async(main)

    assert answers == [[2 * n] for n in range(20)]
    assert model.batches == [[1] * 20]


def test_a_request_arriving_while_the_first_waits_joins_its_batch() -> None:
    model = Doubler()

    async def main() -> list[list[int]]:
        batcher = doubler_batcher(model, max_batch_size=2, max_wait_ms=FOREVER_MS)
        batcher.start()
        try:
            first = await taken_alone(batcher, [1])
            second = await batcher.submit([2], 1)  # fills the batch: no need to wait it out
            return [await first, second]
        finally:
            await batcher.close()

    assert run_async(main) == [[2], [4]]
    assert model.batches == [[1, 1]]


def test_a_lone_request_runs_once_max_wait_ms_has_passed() -> None:
    model = Doubler()

    async def main() -> list[int]:
        batcher = doubler_batcher(model, max_batch_size=8, max_wait_ms=1)
        batcher.start()
        try:
            return await batcher.submit([5, 6], 2)
        finally:
            await batcher.close()

    assert run_async(main) == [10, 12]
    assert model.batches == [[2]]


def test_an_oversized_request_runs_alone_and_a_request_that_does_not_fit_waits() -> None:
    model = Doubler()
    items = [[1, 2], list(range(10)), [3], [4, 5, 6]]

    async def main() -> list[list[int]]:
        batcher = doubler_batcher(model, max_batch_size=4)
        batcher.start()
        try:
            return await gather_submits(batcher, items)
        finally:
            await batcher.close()

    answers = run_async(main)

    assert answers == [[2 * value for value in item] for item in items]
    # [1, 2] cannot take the 10 rows; those run alone; [3] and [4, 5, 6] fill the last batch.
    assert model.batches == [[2], [10], [1, 3]]


def test_max_batch_size_one_runs_every_request_alone() -> None:
    model = Doubler()
    items = [[1], [2, 3], [4], [5, 6, 7], [8]]

    async def main() -> list[list[int]]:
        batcher = doubler_batcher(model, max_batch_size=1, max_wait_ms=50)
        batcher.start()
        try:
            return await gather_submits(batcher, items)
        finally:
            await batcher.close()

    answers = run_async(main)

    assert answers == [[2 * value for value in item] for item in items]
    assert model.batches == [[1], [2], [1], [3], [1]]


# ------------------------------------------------------------------ the bounded queue


def test_a_full_queue_refuses_at_once_and_queues_nothing() -> None:
    model = Gated()

    async def main() -> tuple[list[str], int]:
        batcher: DynamicBatcher[str, str] = DynamicBatcher(
            "fraud", model, max_batch_size=1, max_wait_ms=0, max_queue=2
        )
        batcher.start()
        try:
            running = asyncio.create_task(batcher.submit("block", 1))
            await model.wait_started()
            waiting = await submit_all(batcher, ["b", "c"])
            with pytest.raises(
                QueueFullError, match=r'model "fraud" has 2 requests waiting'
            ) as info:
                await batcher.submit("d", 1)
            queued_after_refusal = batcher.queued
            assert (info.value.model, info.value.max_queue) == ("fraud", 2)
            assert "max_queue" in str(info.value)
            model.release.set()
            return [await running, *[await task for task in waiting]], queued_after_refusal
        finally:
            model.release.set()
            await batcher.close()

    answers, queued_after_refusal = run_async(main)

    assert queued_after_refusal == 2
    assert answers == ["BLOCK", "B", "C"]
    assert model.batches == [["block"], ["b"], ["c"]]  # "d" never ran


# ------------------------------------------------------------------ failures and cancellation


def test_an_exception_in_run_reaches_every_caller_of_the_batch_and_the_next_batch_works() -> None:
    seen: list[list[str]] = []

    def crashing(items: list[str]) -> list[str]:
        seen.append(list(items))
        if "boom" in items:
            raise ModelCrashError("the model fell over")
        return [item.upper() for item in items]

    async def main() -> tuple[list[str | BaseException], str]:
        batcher: DynamicBatcher[str, str] = DynamicBatcher(
            "fraud", crashing, max_batch_size=4, max_wait_ms=FOREVER_MS, max_queue=10
        )
        batcher.start()
        try:
            failed = await asyncio.gather(
                *(batcher.submit(item, 1) for item in ("x", "boom", "y", "z")),
                return_exceptions=True,
            )
            after = await asyncio.gather(*(batcher.submit(item, 1) for item in "abcd"))
            return failed, "".join(after)
        finally:
            await batcher.close()

    failed, after = run_async(main)

    assert all(isinstance(result, ModelCrashError) for result in failed)
    assert {str(result) for result in failed} == {"the model fell over"}
    assert after == "ABCD"
    assert seen == [["x", "boom", "y", "z"], ["a", "b", "c", "d"]]


def test_a_caller_cancelled_while_queued_is_skipped_and_others_are_answered() -> None:
    model = Gated()

    async def main() -> tuple[list[str], bool]:
        batcher: DynamicBatcher[str, str] = DynamicBatcher(
            "fraud", model, max_batch_size=4, max_wait_ms=0, max_queue=10
        )
        batcher.start()
        try:
            running = asyncio.create_task(batcher.submit("block", 1))
            await model.wait_started()
            queued = dict(zip("bcd", await submit_all(batcher, "bcd"), strict=True))
            queued["c"].cancel()
            model.release.set()
            answers = [await running, await queued["b"], await queued["d"]]
            with pytest.raises(asyncio.CancelledError):
                await queued["c"]
            return answers, queued["c"].cancelled()
        finally:
            model.release.set()
            await batcher.close()

    answers, is_cancelled = run_async(main)

    assert answers == ["BLOCK", "B", "D"]
    assert is_cancelled is True
    assert model.batches == [["block"], ["b", "d"]]


def test_a_caller_cancelled_while_its_batch_runs_does_not_break_the_others() -> None:
    model = Gated()

    async def main() -> list[str]:
        batcher: DynamicBatcher[str, str] = DynamicBatcher(
            "fraud", model, max_batch_size=4, max_wait_ms=0, max_queue=10
        )
        batcher.start()
        try:
            tasks = await submit_all(batcher, ["a", "block"])
            await model.wait_started()
            tasks[0].cancel()
            model.release.set()
            with pytest.raises(asyncio.CancelledError):
                await tasks[0]
            return [await tasks[1], await batcher.submit("e", 1)]
        finally:
            model.release.set()
            await batcher.close()

    assert run_async(main) == ["BLOCK", "E"]
    assert model.batches == [["a", "block"], ["e"]]


def test_a_caller_cancelled_while_waiting_for_company_leaves_the_batch() -> None:
    model = Doubler()

    async def main() -> list[int]:
        batcher = doubler_batcher(model, max_batch_size=2, max_wait_ms=FOREVER_MS)
        batcher.start()
        try:
            first = await taken_alone(batcher, [1])
            first.cancel()
            await until(first.done)
            return await batcher.submit([2], 1)
        finally:
            await batcher.close()

    assert run_async(main) == [4]
    assert model.batches == [[1]]  # only the live request ran


# ------------------------------------------------------------------ lifecycle


def test_submit_before_start_raises_model_not_ready() -> None:
    batcher = doubler_batcher(Doubler(), max_batch_size=4)

    async def main() -> None:
        await batcher.submit([1], 1)

    with pytest.raises(ModelNotReadyError, match="still loading or warming up: fraud") as info:
        run_async(main)
    assert info.value.pending == ["fraud"]


def test_close_answers_what_is_queued_then_refuses_new_requests() -> None:
    model = Doubler()

    async def main() -> tuple[list[list[int]], int]:
        # Nothing fills these batches: only close() can let the waiting batch run.
        batcher = doubler_batcher(model, max_batch_size=64, max_wait_ms=FOREVER_MS)
        batcher.start()
        tasks = await submit_all(batcher, [[n] for n in range(3)])
        await batcher.close()
        answers = [task.result() for task in tasks]  # done by the time close() returns
        with pytest.raises(ModelNotReadyError, match="fraud"):
            await batcher.submit([9], 1)
        return answers, batcher.batches

    answers, batches = run_async(main)

    assert answers == [[0], [2], [4]]
    assert batches == 1
    assert model.batches == [[1, 1, 1]]


def test_submit_while_closing_raises_model_not_ready_and_queued_requests_finish() -> None:
    model = Gated()

    async def main() -> list[str]:
        batcher: DynamicBatcher[str, str] = DynamicBatcher(
            "fraud", model, max_batch_size=1, max_wait_ms=0, max_queue=10
        )
        batcher.start()
        tasks = await submit_all(batcher, ["block", "b", "c"])
        await model.wait_started()
        closing = asyncio.create_task(batcher.close())
        await asyncio.sleep(0)
        with pytest.raises(ModelNotReadyError, match="fraud"):
            await batcher.submit("late", 1)
        model.release.set()
        await closing
        return [task.result() for task in tasks]

    assert run_async(main) == ["BLOCK", "B", "C"]
    assert model.batches == [["block"], ["b"], ["c"]]


# ------------------------------------------------------------------ observer


def test_observer_is_told_rows_requests_and_queue_waits_of_each_batch() -> None:
    recorder = Recorder()
    items = [[1], [2, 3], [4], [5], [6, 7, 8]]

    async def main() -> list[list[int]]:
        batcher: DynamicBatcher[list[int], list[int]] = DynamicBatcher(
            "fraud",
            Doubler(),
            max_batch_size=4,
            max_wait_ms=1,
            max_queue=10,
            observer=recorder,
        )
        batcher.start()
        try:
            return await gather_submits(batcher, items)
        finally:
            await batcher.close()

    run_async(main)

    assert [(rows, requests) for rows, requests, _ in recorder.calls] == [(4, 3), (4, 2)]
    for _, requests, waits in recorder.calls:
        assert len(waits) == requests
        assert all(wait >= 0 for wait in waits)


def test_a_wrong_number_of_answers_fails_that_batch_and_the_next_batch_works() -> None:
    def short(items: list[str]) -> list[str]:
        return [item.upper() for item in items][: 1 if "short" in items else None]

    async def main() -> tuple[list[str | BaseException], str]:
        batcher: DynamicBatcher[str, str] = DynamicBatcher(
            "fraud", short, max_batch_size=2, max_wait_ms=FOREVER_MS, max_queue=10
        )
        batcher.start()
        try:
            failed = await asyncio.gather(
                *(batcher.submit(item, 1) for item in ("short", "x")), return_exceptions=True
            )
            after = await asyncio.gather(*(batcher.submit(item, 1) for item in "ab"))
            return failed, "".join(after)
        finally:
            await batcher.close()

    failed, after = run_async(main)

    assert all(isinstance(result, BatchAnswerError) for result in failed)
    assert 'model "fraud": a batch of 2 requests got 1 answers' in str(failed[0])
    assert after == "AB"


def test_a_failing_observer_does_not_stop_the_answers() -> None:
    class Broken:
        def on_batch(self, rows: int, requests: int, queue_waits_s: Sequence[float]) -> None:
            raise ZeroDivisionError("metrics bug")

    async def main() -> list[list[int]]:
        batcher: DynamicBatcher[list[int], list[int]] = DynamicBatcher(
            "fraud", Doubler(), max_batch_size=4, max_wait_ms=0, max_queue=10, observer=Broken()
        )
        batcher.start()
        try:
            first = await gather_submits(batcher, [[1], [2]])
            second = await gather_submits(batcher, [[3]])
            return [*first, *second]
        finally:
            await batcher.close()

    assert run_async(main) == [[2], [4], [6]]
