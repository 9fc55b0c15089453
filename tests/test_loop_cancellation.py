"""The web process's background loops end when cancelled, even when a wake-up lands in the same moment.

On Python 3.11 `asyncio.wait_for` swallows a cancellation that arrives in the same event-loop step as the awaited
event (python/cpython#86296): the loop then runs on, and the web process's shutdown (and a test's teardown) waits for
it forever. This hung CI once the outbox listener made such wake-ups common at shutdown."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from bot.dispatcher import TaskDispatcher
from bot.sender import OutboxSender


async def _nothing(*_: Any, **__: Any) -> int:
    return 0


def _sender() -> OutboxSender:
    sender = OutboxSender(SimpleNamespace(settings=SimpleNamespace(outbox_poll_interval_s=30)), bot=None)  # type: ignore[arg-type]
    sender._probe = _nothing  # type: ignore[method-assign]
    sender._dispatch = _nothing  # type: ignore[method-assign]
    return sender


def _dispatcher() -> TaskDispatcher:
    return TaskDispatcher(SimpleNamespace(settings=SimpleNamespace(outbox_poll_interval_s=30), run=_nothing))  # type: ignore[arg-type]


@pytest.mark.parametrize("make", [_sender, _dispatcher], ids=["outbox sender", "task dispatcher"])
@pytest.mark.parametrize("steps_between", range(6))
async def test_a_loop_woken_as_it_is_cancelled_still_ends(make: Any, steps_between: int) -> None:
    loop = make()
    task = asyncio.create_task(loop.run())
    for _ in range(5):  # into its wait for the next wake-up
        await asyncio.sleep(0)
    loop.wake()
    for _ in range(steps_between):
        await asyncio.sleep(0)
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert done == {task}, "the loop ran on after it was cancelled"
    assert task.cancelled()
