"""Bounded concurrency for remote backends: many calls in flight at once, the remote server batches.

A remote backend (`openai`) needs no model thread: each request is one awaited HTTP call. Up to
`max_concurrency` calls run at once on the event loop; further requests wait in a bounded FIFO queue
(`max_queue`), beyond which `submit` raises `QueueFull` (503 with Retry-After), as the local batcher does. One
slow call holds only its own request. A request whose future is cancelled (its client left, or it timed out)
leaves the queue, or, when its call is in flight, the call is cancelled and its place goes to the next.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from model_server.api import AnalyzeResponse, ConceptsRequest, ConceptsResponse, Timings
from model_server.backends.base import RemoteBackend
from model_server.batching import JobKind, as_api_error
from model_server.errors import ApiError, QueueFull
from model_server.metrics import Metrics
from model_server.prepared import PreparedRequest

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Call:
    kind: JobKind
    item: Any
    future: asyncio.Future[Any]
    enqueued: float = field(default_factory=time.perf_counter)
    task: asyncio.Task[None] | None = None


class RemoteDispatcher:
    """Runs a `RemoteBackend`'s calls concurrently, at most `max_concurrency` at a time; same interface as
    `batching.Batcher` (`submit`, `submit_concepts`, `ensure_capacity`, `check_health`, `depth`, `running`)."""

    def __init__(
        self,
        backend: RemoteBackend,
        *,
        max_concurrency: int = 32,
        max_queue: int = 64,
        metrics: Metrics | None = None,
    ) -> None:
        if max_concurrency < 1 or max_queue < 1:
            raise ValueError("max_concurrency and max_queue must be >= 1")
        self.backend = backend
        self.max_concurrency = max_concurrency
        self.max_queue = max_queue
        self.metrics = metrics or Metrics()
        self._waiting: collections.deque[_Call] = collections.deque()
        self._in_flight: set[_Call] = set()
        self._call_seconds = 0.0  # moving average, for Retry-After
        self._stopped = False

    @property
    def depth(self) -> int:
        """Requests waiting for a free place."""
        return len(self._waiting)

    @property
    def running(self) -> int:
        """Calls in flight now."""
        return len(self._in_flight)

    def start(self) -> None:
        """Nothing to start (calls are launched as they come); kept for the batcher's interface."""
        self._stopped = False

    async def stop(self) -> None:
        """Cancel the calls in flight; requests still waiting fail with a retryable 503."""
        self._stopped = True
        calls = list(self._in_flight)
        for call in calls:
            if call.task is not None:
                call.task.cancel()
        await asyncio.gather(*(call.task for call in calls if call.task is not None), return_exceptions=True)
        while self._waiting:
            call = self._waiting.popleft()
            if not call.future.done():
                call.future.set_exception(ApiError("the server is shutting down", status=503, code="shutting_down"))

    def ensure_capacity(self) -> None:
        """Raise `QueueFull` now if a new request could neither start nor wait (checked before reading a body)."""
        if len(self._in_flight) >= self.max_concurrency and len(self._waiting) >= self.max_queue:
            raise QueueFull(
                f"{self.max_concurrency} model calls are in flight and {self.max_queue} wait; retry shortly",
                retry_after=self._retry_after(),
            )

    def submit(self, item: PreparedRequest) -> asyncio.Future[AnalyzeResponse]:
        """Start (or queue) an analysis; the future resolves to its response or exception. Raises `QueueFull`."""
        return self._enqueue("analyze", item)

    def submit_concepts(self, request: ConceptsRequest) -> asyncio.Future[ConceptsResponse]:
        """Start (or queue) a concept reading; like `submit`."""
        return self._enqueue("concepts", request)

    async def check_health(self) -> None:
        """The remote model's health check; raises when it fails."""
        await self.backend.check_health()

    def _enqueue(self, kind: JobKind, item: Any) -> asyncio.Future[Any]:
        if self._stopped:
            raise ApiError("the server is shutting down", status=503, code="shutting_down")
        self.ensure_capacity()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        call = _Call(kind, item, future)
        future.add_done_callback(lambda _f: self._withdraw(call))
        if len(self._in_flight) < self.max_concurrency:
            self._launch(call)
        else:
            self._waiting.append(call)
        return future

    def _launch(self, call: _Call) -> None:
        self._in_flight.add(call)
        call.task = asyncio.get_running_loop().create_task(self._run(call), name=f"remote-{call.kind}")
        call.task.add_done_callback(lambda _t: self._finished(call))

    def _withdraw(self, call: _Call) -> None:
        if not call.future.cancelled():
            return
        if call in self._in_flight:
            if call.task is not None:
                call.task.cancel()  # the HTTP call is abandoned; its place goes to the next request
        else:
            try:
                self._waiting.remove(call)
            except ValueError:
                pass

    def _finished(self, call: _Call) -> None:
        self._in_flight.discard(call)
        while self._waiting and len(self._in_flight) < self.max_concurrency and not self._stopped:
            waiting = self._waiting.popleft()
            if not waiting.future.done():
                self._launch(waiting)

    async def _run(self, call: _Call) -> None:
        started = time.perf_counter()
        self.metrics.queue_seconds.observe(started - call.enqueued)
        self.metrics.batch_size.observe(1)
        try:
            if call.kind == "analyze":
                result: Any = await self.backend.analyze_one(call.item)
            else:
                result = await self.backend.concepts_one(call.item)
        except asyncio.CancelledError:
            if not call.future.done():
                call.future.cancel()
            raise
        except Exception as exc:
            log.warning("remote %s call failed: %s", call.kind, type(exc).__name__)
            if not call.future.done():
                call.future.set_exception(as_api_error(exc))
            return
        finally:
            elapsed = time.perf_counter() - started
            self.metrics.inference_seconds.observe(elapsed)
            self._call_seconds = elapsed if not self._call_seconds else 0.8 * self._call_seconds + 0.2 * elapsed
        if not call.future.done():
            timings = Timings(
                queue_ms=round((started - call.enqueued) * 1000, 3), inference_ms=round(elapsed * 1000, 3)
            )
            call.future.set_result(result.model_copy(update={"timings": timings}))

    def _retry_after(self) -> int:
        rounds = math.ceil((len(self._waiting) + 1) / self.max_concurrency)
        return max(1, math.ceil(rounds * max(self._call_seconds, 0.1)))
