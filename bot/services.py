"""What the handlers of the web process share, made once in the process's wiring and closed at shutdown."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from celery import Celery
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, sessionmaker
from telegram.ext import ContextTypes

from bot.metrics import WebCounters
from triage import cases
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
    db: AsyncEngine | None = None  # PostgreSQL: the per-update statements run on the event loop (asyncpg)
    # Set by the process's wiring once its loops run (bot/app.py).
    wake_dispatcher: Callable[[], None] | None = None
    wake_sender: Callable[[], None] | None = None
    # Chats whose replies went to the outbox while Telegram was away: later replies queue behind them.
    queued_chats: set[int] = field(default_factory=set)

    async def run(self, func: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run blocking work (database, image decoding, broker) off the event loop."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(func, *args, **kwargs))

    # The statements every update makes: on the asyncio engine where there is one, else through a thread.
    async def get_patient(self, telegram_user_id: int) -> cases.PatientView | None:
        if self.db is not None:
            return await cases.get_patient_async(self.db, telegram_user_id)
        return await self.run(cases.get_patient, self.sessions, telegram_user_id)

    async def step_context(self, telegram_user_id: int) -> cases.StepContext | None:
        if self.db is not None:
            return await cases.step_context_async(self.db, telegram_user_id)
        return await self.run(cases.step_context, self.sessions, telegram_user_id)

    async def save_progress(self, *, patient_id: int, case_id: int, state: str, data: dict[str, Any],
                            answers: dict[str, Any] | None = None, text: str | None = None,
                            subject_id: int | None = None) -> None:
        if self.db is not None:
            await cases.save_progress_async(self.db, patient_id=patient_id, case_id=case_id, state=state, data=data,
                                            answers=answers, text=text, subject_id=subject_id)
        else:
            await self.run(cases.save_progress, self.sessions, patient_id=patient_id, case_id=case_id, state=state,
                           data=data, answers=answers, text=text, subject_id=subject_id)

    def dispatch_now(self) -> None:
        """Send the tasks just committed to the broker now rather than at the dispatcher's next round."""
        if self.wake_dispatcher is not None:
            self.wake_dispatcher()

    def send_outbox_now(self) -> None:
        """Send the messages just queued now rather than at the sender's next round."""
        if self.wake_sender is not None:
            self.wake_sender()


def services_of(context: ContextTypes.DEFAULT_TYPE) -> Services:
    services = context.bot_data["services"]
    assert isinstance(services, Services)
    return services
