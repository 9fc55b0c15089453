"""Dynamic batching with a fake backend: coalescing, limits, withdrawal, failure isolation."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from model_server.api import AnalyzeRequest
from model_server.batching import Batcher
from model_server.errors import ModelError, QueueFull
from model_server.prepared import PreparedRequest

from .helpers import FakeBackend


def item(question: str) -> PreparedRequest:
    return PreparedRequest(request=AnalyzeRequest(question=question), images=[], image_quality=[])


@pytest.fixture
async def model_thread() -> AsyncIterator[ThreadPoolExecutor]:
    executor = ThreadPoolExecutor(max_workers=1)
    yield executor
    executor.shutdown(wait=True, cancel_futures=True)


async def started(backend: FakeBackend) -> None:
    await asyncio.get_running_loop().run_in_executor(None, backend.started.wait, 5)


async def test_concurrent_requests_share_one_batch(model_thread: ThreadPoolExecutor) -> None:
    backend = FakeBackend()
    batcher = Batcher(backend, model_thread, max_batch_size=8, max_wait_ms=200)
    batcher.start()
    results = await asyncio.gather(*(batcher.submit(item(f"q{i}")) for i in range(5)))
    await batcher.stop()
    assert backend.batches == [["q0", "q1", "q2", "q3", "q4"]]
    assert [r.answer for r in results] == [f"echo: q{i}" for i in range(5)]
    assert all(r.timings.batch_size == 5 for r in results)


async def test_a_full_batch_does_not_wait_for_the_timer(model_thread: ThreadPoolExecutor) -> None:
    backend = FakeBackend()
    batcher = Batcher(backend, model_thread, max_batch_size=2, max_wait_ms=10_000)
    batcher.start()
    results = await asyncio.wait_for(asyncio.gather(*(batcher.submit(item(f"q{i}")) for i in range(4))), 5)
    await batcher.stop()
    assert backend.batches == [["q0", "q1"], ["q2", "q3"]]
    assert len(results) == 4


async def test_requests_arriving_while_the_model_works_form_the_next_batch(model_thread: ThreadPoolExecutor) -> None:
    gate = threading.Event()
    backend = FakeBackend(gate)
    batcher = Batcher(backend, model_thread, max_batch_size=8, max_wait_ms=0)
    batcher.start()
    first = batcher.submit(item("first"))
    await started(backend)
    later = [batcher.submit(item(f"later{i}")) for i in range(3)]
    assert batcher.depth == 3
    gate.set()
    await asyncio.gather(first, *later)
    await batcher.stop()
    assert backend.batches == [["first"], ["later0", "later1", "later2"]]


async def test_a_full_queue_refuses_with_a_retry_hint(model_thread: ThreadPoolExecutor) -> None:
    gate = threading.Event()
    backend = FakeBackend(gate)
    batcher = Batcher(backend, model_thread, max_batch_size=1, max_wait_ms=0, max_queue=2)
    batcher.start()
    running = batcher.submit(item("running"))
    await started(backend)
    waiting = [batcher.submit(item("a")), batcher.submit(item("b"))]
    with pytest.raises(QueueFull) as caught:
        batcher.submit(item("c"))
    assert caught.value.status == 503 and caught.value.retry_after and caught.value.retry_after >= 1
    gate.set()
    await asyncio.gather(running, *waiting)
    await batcher.stop()


async def test_a_withdrawn_request_frees_its_place_and_never_runs(model_thread: ThreadPoolExecutor) -> None:
    gate = threading.Event()
    backend = FakeBackend(gate)
    batcher = Batcher(backend, model_thread, max_batch_size=4, max_wait_ms=0, max_queue=1)
    batcher.start()
    running = batcher.submit(item("running"))
    await started(backend)
    gone = batcher.submit(item("gone"))
    assert batcher.depth == 1
    gone.cancel()
    await asyncio.sleep(0)  # done callbacks run on the next loop iteration
    assert batcher.depth == 0
    kept = batcher.submit(item("kept"))  # the freed place is usable at once
    gate.set()
    await asyncio.gather(running, kept)
    await batcher.stop()
    assert backend.batches == [["running"], ["kept"]]


async def test_a_failing_item_fails_only_itself(model_thread: ThreadPoolExecutor) -> None:
    backend = FakeBackend()
    batcher = Batcher(backend, model_thread, max_batch_size=8, max_wait_ms=100)
    batcher.start()
    results = await asyncio.gather(
        batcher.submit(item("ok1")), batcher.submit(item("fail")), batcher.submit(item("ok2")), return_exceptions=True
    )
    await batcher.stop()
    assert backend.batches == [["ok1", "fail", "ok2"]]
    assert isinstance(results[1], ModelError) and "breaks the model" in results[1].message
    assert [getattr(r, "answer", None) for r in (results[0], results[2])] == ["echo: ok1", "echo: ok2"]


async def test_a_crashing_batch_fails_its_requests_and_the_batcher_goes_on(model_thread: ThreadPoolExecutor) -> None:
    backend = FakeBackend()
    batcher = Batcher(backend, model_thread, max_batch_size=8, max_wait_ms=0)
    batcher.start()
    original = backend.analyze_batch
    backend.analyze_batch = lambda items: (_ for _ in ()).throw(RuntimeError("CUDA out of memory"))  # type: ignore[method-assign]
    with pytest.raises(ModelError, match="CUDA out of memory"):
        await batcher.submit(item("doomed"))
    backend.analyze_batch = original  # type: ignore[method-assign]
    assert (await batcher.submit(item("after"))).answer == "echo: after"
    await batcher.stop()


async def test_a_request_arriving_just_after_a_batch_joins_the_next_one(model_thread: ThreadPoolExecutor) -> None:
    gate = threading.Event()
    backend = FakeBackend(gate)
    batcher = Batcher(backend, model_thread, max_batch_size=4, max_wait_ms=150)
    batcher.start()
    first = batcher.submit(item("first"))
    await started(backend)
    waiting = batcher.submit(item("waiting"))
    await asyncio.sleep(0.2)  # it has now waited longer than max_wait_ms
    gate.set()
    await first
    rejoining = batcher.submit(item("rejoining"))  # like a client sending its next request at once
    await asyncio.gather(waiting, rejoining)
    await batcher.stop()
    assert backend.batches == [["first"], ["waiting", "rejoining"]]
