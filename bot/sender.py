"""The outbox sender: the web process's one loop that sends queued messages through the Bot API.

Rows are claimed before sending (a conditional UPDATE), so several web processes never send the same row.
Telegram's 429 (`RetryAfter`) is honoured, timeouts and network errors are retried with backoff, and a
permanent refusal (the patient blocked the bot, a bad request) is recorded and not retried.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from telegram import Bot, InputFile
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot import clinician, render
from bot.services import Services
from triage import cases, outbox
from triage.db import transaction

log = logging.getLogger(__name__)

BATCH = 25
STALE_CHECK_INTERVAL_S = 60.0


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    chat_id: int
    case_id: int | None
    payload: dict[str, Any]
    attempts: int


class OutboxSender:
    def __init__(self, services: Services, bot: Bot) -> None:
        self.services = services
        self.bot = bot
        self._next_stale_check = 0.0

    def _claim_due(self) -> list[Job]:
        jobs = []
        with transaction(self.services.sessions) as session:
            if time.monotonic() >= self._next_stale_check:  # a crash leftover: looking once a minute is plenty
                outbox.release_stale_sending(session)
                self._next_stale_check = time.monotonic() + STALE_CHECK_INTERVAL_S
            for row in outbox.due(session, limit=BATCH):
                if outbox.claim(session, row.id):
                    jobs.append(Job(row.id, row.kind, row.chat_id, row.case_id, dict(row.payload), row.attempts + 1))
        return jobs

    def _finish(self, job: Job, message_id: int | None) -> None:
        with transaction(self.services.sessions) as session:
            outbox.mark_sent(session, job.id, message_id)

    def _retry(self, job: Job, delay_s: float, error: str, *, permanent: bool = False) -> None:
        attempts = outbox.MAX_ATTEMPTS if permanent else job.attempts
        with transaction(self.services.sessions) as session:
            outbox.mark_retry(session, job.id, delay_s=delay_s, error=error, attempts=attempts)

    async def tick(self) -> int:
        """Send what is due now. Returns how many rows were attempted."""
        jobs = await self.services.run(self._claim_due)
        by_chat: dict[int, list[Job]] = defaultdict(list)
        for job in jobs:
            by_chat[job.chat_id].append(job)
        await asyncio.gather(*(self._send_in_order(chat_jobs) for chat_jobs in by_chat.values()))
        return len(jobs)

    async def run(self) -> None:
        interval = self.services.settings.outbox_poll_interval_s
        while True:
            try:
                sent = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox sender tick failed; trying again")
                sent = 0
            if not sent:
                await asyncio.sleep(interval)

    async def _send_in_order(self, jobs: list[Job]) -> None:
        for job in jobs:
            await self._send(job)

    async def _send(self, job: Job) -> None:
        failures = self.services.counters.send_failures
        try:
            message_id = await self._deliver(job)
        except RetryAfter as exc:
            failures["retry_after"] += 1
            delay = exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds") else exc.retry_after
            await self.services.run(self._retry, job, float(delay), "429 retry_after")
        except (Forbidden, BadRequest) as exc:
            failures[exc.__class__.__name__] += 1
            log.warning("outbox %s (%s): refused permanently: %s", job.id, job.kind, exc.__class__.__name__)
            await self.services.run(self._retry, job, 0, f"{exc.__class__.__name__}: {exc}", permanent=True)
        except (NetworkError, TelegramError) as exc:
            failures[exc.__class__.__name__] += 1
            delay = min(300.0, 2.0**job.attempts)
            await self.services.run(self._retry, job, delay, f"{exc.__class__.__name__}: {exc}")
        else:
            self.services.counters.sent[job.kind] += 1
            await self.services.run(self._finish, job, message_id)

    async def _deliver(self, job: Job) -> int | None:
        if job.kind == "patient_result":
            message = await self.bot.send_message(
                job.chat_id, render.patient_result(job.payload), parse_mode=ParseMode.HTML
            )
            return message.message_id
        if job.kind == "clinician_alert" and job.case_id is not None:
            return await self._deliver_alert(job, job.case_id)
        if job.kind == "followup_answer":
            message = await self.bot.send_message(job.chat_id, render.followup_answer(job.payload),
                                                  parse_mode=ParseMode.HTML)
            return message.message_id
        if job.kind == "clinician_reply":
            text = clinician.render_reply(job.payload)
            message = await self.bot.send_message(job.chat_id, text, parse_mode=ParseMode.HTML)
            return message.message_id
        if job.kind == "text":
            message = await self.bot.send_message(job.chat_id, str(job.payload["text"]), parse_mode=ParseMode.HTML)
            return message.message_id
        raise BadRequest(f"unknown outbox kind {job.kind!r}")

    async def _deliver_alert(self, job: Job, case_id: int) -> int:
        services = self.services
        summary = await services.run(cases.case_summary, services.sessions, case_id)
        key = await services.run(cases.first_image_key, services.sessions, case_id)
        markup = clinician.alert_markup(case_id, services.settings)
        prefix = clinician.alert_prefix(job.payload)
        if key is not None:
            data = await services.run(services.images.get, key)
            caption = prefix + render.clinician_alert(
                case_id, job.payload, summary, limit=render.CAPTION_LIMIT - len(prefix)
            )
            message = await self.bot.send_photo(
                job.chat_id,
                InputFile(data, filename=f"case-{case_id}.jpg"),
                caption=caption,
                parse_mode=ParseMode.HTML,
                reply_markup=markup,
            )
        else:
            text = prefix + render.clinician_alert(
                case_id, job.payload, summary, limit=render.MESSAGE_LIMIT - len(prefix)
            )
            message = await self.bot.send_message(job.chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)
        return message.message_id
