"""The web process's loop that sends queued tasks (`triage.dispatch`) to the broker.

A handler commits a change with its task row and wakes this loop, which sends the task at once; when the broker is
down it keeps trying, and beat does the same every few seconds as a backstop, so a committed case always reaches a
worker without waiting for a recovery timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from bot.services import Services
from triage import dispatch, logs

log = logging.getLogger(__name__)


class TaskDispatcher:
    def __init__(self, services: Services) -> None:
        self.services = services
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    def _publish(self, task: str, args: list[Any]) -> None:
        self.services.celery.send_task(task, args=args)

    def publish_due(self) -> int:
        """Send every due task (blocking: run it off the event loop). Returns how many were sent."""
        return dispatch.publish_due(self.services.sessions, self._publish)

    async def run(self) -> None:
        interval = max(self.services.settings.outbox_poll_interval_s, 0.5)
        while True:
            try:
                await self.services.run(self.publish_due)
            except Exception as exc:  # the database away for a moment: the rows wait, nothing is lost
                log.warning("task dispatcher: a round failed (%s); trying again", logs.describe(exc))
            with contextlib.suppress(TimeoutError):  # not wait_for: on 3.11 it can swallow a cancellation
                async with asyncio.timeout(interval):
                    await self._wake.wait()
            self._wake.clear()
