"""Concurrency across patients, order within one patient's updates, and the per-patient rate limit."""

from __future__ import annotations

import asyncio

from telegram import Bot, Update

from bot.app import PerUserUpdateProcessor
from bot.ratelimit import RateLimiter
from tests.fake_telegram import FakeBotAPI


def _update(api: FakeBotAPI, user: int, n: int) -> Update:
    return Update.de_json(api.text_update(user, f"m{n}"), Bot("1:T"))


async def test_one_users_updates_run_in_order_while_users_run_concurrently() -> None:
    api = FakeBotAPI()
    processor = PerUserUpdateProcessor(16)
    log: list[tuple[int, int, str]] = []
    running: set[int] = set()
    overlap = {"max": 0}

    async def handle(user: int, n: int) -> None:
        log.append((user, n, "start"))
        running.add(n)
        overlap["max"] = max(overlap["max"], len(running))
        await asyncio.sleep(0.02 if n % 2 else 0.005)
        running.discard(n)
        log.append((user, n, "end"))

    jobs = []
    for n in range(12):
        user = 1 if n < 6 else 2
        jobs.append(processor.process_update(_update(api, user, n), handle(user, n)))
    await asyncio.gather(*jobs)
    for user in (1, 2):
        events = [(n, what) for u, n, what in log if u == user]
        expected = [(n, what) for n in sorted({n for n, _ in events}) for what in ("start", "end")]
        assert events == expected  # strictly one after another, in arrival order
    assert overlap["max"] >= 2  # the two users' updates did overlap
    assert processor._locks == {}  # nothing kept for users with no update in flight


def test_rate_limiter_allows_a_burst_then_the_sustained_rate_and_warns_once() -> None:
    now = [0.0]
    limiter = RateLimiter(burst=3, per_second=1.0, clock=lambda: now[0])
    assert [limiter.allow(1) for _ in range(5)] == [(True, False)] * 3 + [(False, True), (False, False)]
    assert limiter.allow(2) == (True, False)  # another user has their own bucket
    now[0] = 1.0
    assert limiter.allow(1) == (True, False)
    assert limiter.allow(1) == (False, True)  # a new burst gets a new warning
