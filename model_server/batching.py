"""Dynamic batching: requests wait up to `max_wait_ms` to share a model call of up to `max_batch_size`.

One batcher task on the event loop collects requests; the model runs on ONE worker thread (the executor the
app passes in), so the event loop never blocks and the backend is never called concurrently. While a batch
runs, newcomers queue and form the next batch: under load, batches fill up by themselves. There are two kinds
of job, analyses and concept readings; a batch holds one kind, taken in arrival order.

The queue is bounded: `submit` raises `QueueFull` (503 with Retry-After) beyond `max_queue` waiting requests.
A waiting request whose future is cancelled (its client went away, or it timed out) leaves the queue at once
and is never run. A batch's exception fails only that batch's requests; a per-item exception only its item.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from model_server.api import AnalyzeResponse, ConceptsRequest, ConceptsResponse, Timings
from model_server.backends.base import Backend
from model_server.errors import ApiError, ModelError, QueueFull
from model_server.metrics import Metrics
from model_server.prepared import PreparedRequest

log = logging.getLogger(__name__)

T = TypeVar("T")
JobKind = Literal["analyze", "concepts"]


@dataclass(eq=False)
class _Entry:
    kind: JobKind
    item: Any  # a PreparedRequest (analyze) or a ConceptsRequest (concepts)
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.perf_counter)


class Batcher:
    """Queues prepared requests and feeds them to `backend.analyze_batch` on the model thread."""

    def __init__(
        self,
        backend: Backend,
        executor: Executor,
        *,
        max_batch_size: int = 8,
        max_wait_ms: float = 10.0,
        max_queue: int = 64,
        metrics: Metrics | None = None,
    ) -> None:
        if max_batch_size < 1 or max_queue < 1 or max_wait_ms < 0:
            raise ValueError("max_batch_size and max_queue must be >= 1, max_wait_ms >= 0")
        self.backend = backend
        self.executor = executor
        self.max_batch_size = max_batch_size
        self.max_wait_s = max_wait_ms / 1000.0
        self.max_queue = max_queue
        self.metrics = metrics or Metrics()
        self._pending: collections.deque[_Entry] = collections.deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running = 0  # requests in the batch the model is working on
        self._batch_seconds = 0.0  # moving average, for Retry-After
        self._model_free_since = 0.0  # perf_counter() when the last batch finished

    @property
    def depth(self) -> int:
        """Requests waiting for the model (not counting the batch being run)."""
        return len(self._pending)

    @property
    def running(self) -> int:
        """Requests in the batch the model is working on now."""
        return self._running

    def start(self) -> None:
        """Start the batching task on the running loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="model-batcher")

    async def stop(self) -> None:
        """Stop batching; requests still waiting fail with a retryable 503."""
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        while self._pending:
            entry = self._pending.popleft()
            if not entry.future.done():
                entry.future.set_exception(ApiError("the server is shutting down", status=503, code="shutting_down"))

    def ensure_capacity(self) -> None:
        """Raise `QueueFull` now if a new request could not be queued (checked before reading a body)."""
        if len(self._pending) >= self.max_queue:
            raise QueueFull(
                f"the model queue is full ({self.max_queue} waiting); retry shortly", retry_after=self._retry_after()
            )

    def submit(self, item: PreparedRequest) -> asyncio.Future[AnalyzeResponse]:
        """Queue an analysis; the returned future resolves to its response or exception.

        Cancel the future to withdraw the request (it is dropped if the model has not started it).
        Raises `QueueFull` when `max_queue` requests are already waiting.
        """
        return self._enqueue("analyze", item)

    def submit_concepts(self, request: ConceptsRequest) -> asyncio.Future[ConceptsResponse]:
        """Queue a concept reading; like `submit`."""
        return self._enqueue("concepts", request)

    async def check_health(self) -> None:
        """The backend's health check, on the model thread between batches; raises when it fails."""
        await self.run_on_model_thread(self.backend.health_check)

    def _enqueue(self, kind: JobKind, item: Any) -> asyncio.Future[Any]:
        self.ensure_capacity()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        entry = _Entry(kind, item, future)
        self._pending.append(entry)
        future.add_done_callback(lambda _f: self._withdraw(entry))
        self._wakeup.set()
        return future

    async def run_on_model_thread(self, func: Callable[[], T]) -> T:
        """Run `func` on the model thread (between batches), e.g. the health check."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, func)

    def _withdraw(self, entry: _Entry) -> None:
        if entry.future.cancelled():
            try:
                self._pending.remove(entry)
            except ValueError:
                pass  # already taken into a batch

    def _retry_after(self) -> int:
        batches_ahead = math.ceil((len(self._pending) + self._running) / self.max_batch_size)
        return max(1, math.ceil(batches_ahead * max(self._batch_seconds, 0.1)))

    async def _loop(self) -> None:
        while True:
            batch = await self._collect()
            try:
                await self._run(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let one batch stop the batcher
                log.error("batch failed unexpectedly: %s", type(exc).__name__)

    async def _collect(self) -> list[_Entry]:
        """Wait for a first request, then up to `max_wait_s` for the batch to fill.

        The wait counts from the later of the first request's arrival and the end of the previous batch. Under
        load this gives the clients just answered a moment to send their next request and join, instead of
        the queue splitting for good into alternating half-full batches; it costs at most `max_wait_s` per batch.
        """
        while not self._pending:
            self._wakeup.clear()
            await self._wakeup.wait()
        kind = self._pending[0].kind
        deadline = max(self._pending[0].enqueued, self._model_free_since) + self.max_wait_s
        while self._count(kind) < self.max_batch_size:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            self._wakeup.clear()
            try:  # not wait_for: on Python 3.11 it can swallow a cancellation that lands with the wake-up
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()
            except TimeoutError:
                break
            if not self._count(kind):  # everyone of this kind withdrew while we waited
                return await self._collect()
        batch = [entry for entry in self._pending if entry.kind == kind][: self.max_batch_size]
        for entry in batch:
            self._pending.remove(entry)
        return batch

    def _count(self, kind: JobKind) -> int:
        return sum(1 for entry in self._pending if entry.kind == kind)

    async def _run(self, batch: list[_Entry]) -> None:
        started = time.perf_counter()
        self._running = len(batch)
        self.metrics.batch_size.observe(len(batch))
        for entry in batch:
            self.metrics.queue_seconds.observe(started - entry.enqueued)
        loop = asyncio.get_running_loop()
        items = [entry.item for entry in batch]
        run = self.backend.analyze_batch if batch[0].kind == "analyze" else self.backend.concepts_batch
        try:
            results: list[Any] = await loop.run_in_executor(self.executor, run, items)
            if len(results) != len(batch):
                raise ModelError(f"the backend returned {len(results)} results for {len(batch)} requests")
        except Exception as exc:
            log.error("model batch of %d failed: %s", len(batch), type(exc).__name__)
            results = [exc] * len(batch)
        finally:
            self._running = 0
            self._model_free_since = time.perf_counter()
        elapsed = self._model_free_since - started
        self.metrics.inference_seconds.observe(elapsed)
        self._batch_seconds = elapsed if not self._batch_seconds else 0.8 * self._batch_seconds + 0.2 * elapsed
        for entry, result in zip(batch, results, strict=True):
            if entry.future.done():  # its client left or it timed out while the model worked
                continue
            if isinstance(result, Exception):
                entry.future.set_exception(as_api_error(result))
            else:
                timings = Timings(
                    queue_ms=round((started - entry.enqueued) * 1000, 3),
                    inference_ms=round(elapsed * 1000, 3),
                    batch_size=len(batch),
                )
                entry.future.set_result(result.model_copy(update={"timings": timings}))


def as_api_error(exc: BaseException) -> ApiError:
    """`exc` as the error the client gets: an `ApiError` as it is, anything else a `ModelError` naming it."""
    if isinstance(exc, ApiError):
        return exc
    return ModelError(f"the model failed on this request: {type(exc).__name__}: {exc}")
