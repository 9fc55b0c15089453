"""What the handlers of the web process share, made once in the process's wiring and closed at shutdown."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from celery import Celery
from sqlalchemy.orm import Session, sessionmaker
from telegram.ext import ContextTypes

from bot.metrics import WebCounters
from triage.config import Settings
from triage.images import ImageStore

T = TypeVar("T")


@dataclass
class Services:
    settings: Settings
    sessions: sessionmaker[Session]
    images: ImageStore
    celery: Celery
    executor: ThreadPoolExecutor
    counters: WebCounters = field(default_factory=WebCounters)

    async def run(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking work (database, image decoding, broker) off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(func, *args, **kwargs))

    def send_analysis(self, case_id: int) -> None:
        """Queue `analyze_case`; call only after the case is committed. Blocking: use `run`."""
        self.celery.send_task("triage.analyze_case", args=[case_id])

    def send_followup(self, case_id: int, message_id: int) -> None:
        """Queue `answer_question` for a stored follow-up question. Blocking: use `run`."""
        self.celery.send_task("triage.answer_question", args=[case_id, message_id])


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    services = context.bot_data["services"]
    assert isinstance(services, Services)
    return services
