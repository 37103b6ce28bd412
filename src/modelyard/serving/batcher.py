"""Dynamic batching: requests for one model coalesced into one model call, answered one by one.

A request joins its model's queue; the batcher's task takes the oldest request and waits at most
``max_wait_ms`` (from that request's arrival) for others until ``max_batch_size`` rows are
gathered, then runs the batch on a worker thread (the model call never blocks the event loop)
and hands each request its own slice of the answer. Requests that arrive while a batch runs
form the next one, so under load batches fill without waiting. The queue is bounded: a request
arriving when ``max_queue`` are waiting is refused at once with :class:`QueueFullError`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from modelyard.errors import BatchAnswerError, ModelNotReadyError, QueueFullError

log = logging.getLogger("modelyard.server")
Item = TypeVar("Item")
Result = TypeVar("Result")


class BatchObserver(Protocol):
    """Told about each batch (the server feeds its metrics from it)."""

    def on_batch(self, rows: int, requests: int, queue_waits_s: Sequence[float]) -> None:
        """A batch of ``requests`` holding ``rows`` rows starts; each request waited so long."""
        ...


@dataclass(slots=True)
class _Pending(Generic[Item, Result]):
    item: Item
    rows: int
    future: asyncio.Future[Result]
    enqueued: float = field(default_factory=time.perf_counter)


class DynamicBatcher(Generic[Item, Result]):
    """Coalesces requests for one model into batches run off the event loop.

    Args:
        name: the model (for errors).
        run: called on a worker thread with the items of one batch; returns one result per
            item, in order. An exception fails every request of the batch.
        max_batch_size: the most rows per batch (1: every request runs alone).
        max_wait_ms: how long the oldest request waits for company.
        max_queue: the most requests waiting; beyond it :meth:`submit` raises.
        observer: told about each batch.
    """

    def __init__(
        self,
        name: str,
        run: Callable[[list[Item]], list[Result]],
        *,
        max_batch_size: int,
        max_wait_ms: float,
        max_queue: int,
        observer: BatchObserver | None = None,
    ) -> None:
        self.name = name
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self._run = run
        self._observer = observer
        self._queue: deque[_Pending[Item, Result]] = deque()
        self._queued_rows = 0
        self._waiter: asyncio.Future[None] | None = None
        self._wanted_rows = 1
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._is_closing = False
        self.batches = 0

    @property
    def queued(self) -> int:
        """Requests waiting for a batch."""
        return len(self._queue)

    def start(self) -> None:
        """Start the batching task on the running event loop."""
        if self._task is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"model-{self.name}")
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def close(self) -> None:
        """Answer what is queued, then stop; later submissions raise ModelNotReadyError."""
        self._is_closing = True
        self._wake()
        if self._task is not None:
            # A task cancelled at shutdown (uvicorn cancels what is left) has nothing to answer.
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._executor is not None:
            self._executor.shutdown(wait=True)
            self._executor = None

    async def submit(self, item: Item, rows: int) -> Result:
        """Queue ``item`` (``rows`` rows) and wait for its answer.

        Raises:
            QueueFullError: ``max_queue`` requests are already waiting; nothing was queued.
            ModelNotReadyError: the batcher is not running.
        """
        if self._task is None or self._is_closing:
            raise ModelNotReadyError([self.name])
        if len(self._queue) >= self.max_queue:
            raise QueueFullError(self.name, self.max_queue)
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append(_Pending(item, rows, future))
        self._queued_rows += rows
        if self._waiter is not None and self._queued_rows >= self._wanted_rows:
            self._wake()
        return await future

    # ------------------------------------------------------------------ internals

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _wait(self, rows: int, timeout_s: float | None) -> None:
        """Wait until ``rows`` rows are queued, ``timeout_s`` passes, or close()."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        self._waiter, self._wanted_rows = waiter, rows
        handle = None if timeout_s is None else loop.call_later(timeout_s, self._wake)
        try:
            await waiter
        finally:
            self._waiter = None
            if handle is not None:
                handle.cancel()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self._queue:
                if self._is_closing:
                    return
                await self._wait(1, None)
                continue
            batch = self._take_batch(self.max_batch_size)
            rows = sum(pending.rows for pending in batch)
            if (
                batch
                and rows < self.max_batch_size
                and not self._queue
                and self.max_wait_s > 0
                and not self._is_closing
            ):
                remaining = batch[0].enqueued + self.max_wait_s - time.perf_counter()
                if remaining > 0:
                    await self._wait(self.max_batch_size - rows, remaining)
                    batch.extend(self._take_batch(self.max_batch_size - rows))
            await self._execute(loop, batch)

    def _take_batch(self, room: int) -> list[_Pending[Item, Result]]:
        """Take queued requests up to ``room`` rows (a first request larger than the batch size
        runs alone)."""
        taken: list[_Pending[Item, Result]] = []
        while self._queue:
            pending = self._queue[0]
            if pending.future.done():  # its caller went away
                self._queue.popleft()
                self._queued_rows -= pending.rows
                continue
            if taken and pending.rows > room:
                break
            if not taken and room < self.max_batch_size and pending.rows > room:
                break
            self._queue.popleft()
            self._queued_rows -= pending.rows
            taken.append(pending)
            room -= pending.rows
            if room <= 0:
                break
        return taken

    async def _execute(
        self, loop: asyncio.AbstractEventLoop, batch: list[_Pending[Item, Result]]
    ) -> None:
        batch = [pending for pending in batch if not pending.future.done()]
        if not batch:
            return
        self.batches += 1
        if self._observer is not None:
            started = time.perf_counter()
            try:
                self._observer.on_batch(
                    sum(pending.rows for pending in batch),
                    len(batch),
                    [started - pending.enqueued for pending in batch],
                )
            except Exception:
                # Metrics must never stop answers: the batching task would die with it, and
                # every later request would wait forever.
                log.exception("the batch observer of model %s failed", self.name)
        items = [pending.item for pending in batch]
        try:
            results = await loop.run_in_executor(self._executor, self._run, items)
            if len(results) != len(batch):
                raise BatchAnswerError(self.name, len(batch), len(results))
        except Exception as exc:
            # Not swallowed: every caller of the batch re-raises it (the interface maps it).
            for pending in batch:
                if not pending.future.done():
                    pending.future.set_exception(exc)
            return
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)
