"""Per-user rate limiting of incoming updates: a token bucket per Telegram user, in this web process.

A patient who sends more than `burst` updates at once, or more than `per_second` on average, gets one "please
slow down" reply per burst and the rest is dropped before any handler, database or model work. An album of three
photos fits well inside the default burst. Each web process keeps its own buckets.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from telegram import Update
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot.texts import pick_language, t


@dataclass
class _Bucket:
    tokens: float
    updated: float
    warned: bool = False


class RateLimiter:
    def __init__(self, *, burst: int = 20, per_second: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 max_users: int = 100_000) -> None:
        self.burst = burst
        self.per_second = per_second
        self.clock = clock
        self.max_users = max_users
        self._buckets: dict[int, _Bucket] = {}

    def allow(self, user_id: int) -> tuple[bool, bool]:
        """(allowed, warn): whether to handle this update, and whether to tell the user to slow down."""
        now = self.clock()
        bucket = self._buckets.get(user_id)
        if bucket is None:
            if len(self._buckets) >= self.max_users:
                self._buckets.clear()  # bounded memory; forgetting buckets only makes the limit more lenient
            bucket = self._buckets[user_id] = _Bucket(float(self.burst), now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.per_second)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            bucket.warned = False
            return True, False
        warn = not bucket.warned
        bucket.warned = True
        return False, warn

    async def __call__(self, update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        user = update.effective_user
        if user is None:
            return
        allowed, warn = self.allow(user.id)
        if allowed:
            return
        if warn and update.effective_chat is not None:
            await update.effective_chat.send_message(t(pick_language(user.language_code), "slow_down"))
        raise ApplicationHandlerStop
