"""The outbox sender: the web process's loop that sends queued messages through the Bot API.

Each chat with something due gets a worker of its own that sends that chat's rows in order, one claim at a time
(`triage.outbox`): a slow chat (the clinicians' group, held to about 20 messages a minute by Telegram) never holds
up patients' answers, and a crash leaves at most the one row in flight per chat. Telegram's 429 (`RetryAfter`)
is honoured, timeouts and network errors are retried with backoff, a permanent refusal (the patient blocked the
bot, a bad request) is recorded and not retried. A delivery is recorded until the database takes it: a database
fault after a send never sends the message again.

Backoff never outlasts an outage: while sends fail on the network (Telegram down, refusing connections, 5xx,
timing out), the sender asks Telegram `getMe` every `PROBE_S`; the first send or probe that succeeds makes every
row waiting on a network retry due at once, so a long outage's rows go out within seconds of its end rather than
at the end of a backoff of up to 300 s.

A worker's rows are found at the next poll (`OUTBOX_POLL_INTERVAL_S`), or at once on PostgreSQL, where queuing a row
sends a NOTIFY that `listen_for_due_rows` turns into a wake; the poll stays as the backstop.

When many alerts wait for a group chat at once, the non-emergency ones go as one summary with a Claim button per
case, so the group's limit never builds a backlog; emergencies always go one by one, first.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Bot, InlineKeyboardMarkup, InputFile, InputMediaPhoto
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot import clinician, lesion_render, render
from bot.services import Services
from bot.telegram_http import NOT_SENT
from triage import cases, logs, outbox
from triage.db import transaction
from triage.letters import sending
from triage.letters.letter import LetterUnavailable

log = logging.getLogger(__name__)

MAX_CHATS_AT_ONCE = 64
DIGEST_AFTER = 4  # this many non-emergency alerts waiting for a group at once go as one summary
DIGEST_MAX = 20
RECORD_BACKOFF_MAX_S = 5.0
PROBE_S = 5.0  # while Telegram is unreachable, how often the sender asks whether it is back
LISTEN_RETRY_S = 5.0  # the listening connection lost: how long before it is opened again (polling meanwhile)
T = TypeVar("T")


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    chat_id: int
    case_id: int | None
    payload: dict[str, Any]
    attempt: int  # the claim's fencing token (`Outbox.attempts` after the claim)


def _job(row: Any) -> Job:
    return Job(row.id, row.kind, row.chat_id, row.case_id, dict(row.payload), row.attempts)


class OutboxSender:
    def __init__(self, services: Services, bot: Bot) -> None:
        self.services = services
        self.bot = bot
        self._chats: dict[int, asyncio.Task[int]] = {}
        self._wake = asyncio.Event()
        self._telegram_away = False  # a send failed on the network and none has succeeded since
        self._probed_at = 0.0

    def wake(self) -> None:
        """Look for due rows now rather than at the next poll (a row was just queued in this process)."""
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------------------------
    async def run(self) -> None:
        interval = self.services.settings.outbox_poll_interval_s
        try:
            while True:
                try:
                    await self._probe()
                    await self._dispatch()
                except Exception as exc:  # the database away for a moment: the rows wait, nothing is lost
                    log.warning("outbox sender: looking for due rows failed (%s); trying again", logs.describe(exc))
                with contextlib.suppress(TimeoutError):  # not wait_for: on 3.11 it can swallow a cancellation
                    async with asyncio.timeout(interval):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            for task in self._chats.values():
                task.cancel()

    async def _dispatch(self) -> None:
        """Start a worker for every chat with something due that has none yet, most urgent chat first."""
        room = MAX_CHATS_AT_ONCE - len(self._chats)
        if room <= 0:
            return
        chats = await self.services.run(self._due_chats, room + len(self._chats))
        for chat_id in chats:
            if chat_id not in self._chats and len(self._chats) < MAX_CHATS_AT_ONCE:
                task = asyncio.create_task(self._drain(chat_id), name=f"outbox-chat-{chat_id}")
                self._chats[chat_id] = task
                task.add_done_callback(functools.partial(self._finished, chat_id))

    async def _probe(self) -> None:
        """While Telegram is away, ask every PROBE_S whether it is back (the rows themselves may be backing off for
        minutes)."""
        now = asyncio.get_running_loop().time()
        if not self._telegram_away or now - self._probed_at < PROBE_S:
            return
        self._probed_at = now
        try:
            await self.bot.get_me()
        except TelegramError:
            return
        await self._telegram_back()

    async def _telegram_back(self) -> None:
        """Telegram answers again: every row waiting on a network retry is due now."""
        if not self._telegram_away:
            return
        self._telegram_away = False
        woken = await self.services.run(self._wake_network_retries)
        if woken:
            log.info("outbox: Telegram answers again; %s rows waiting on a network retry are due now", woken)
            self.wake()

    def _wake_network_retries(self) -> int:
        with transaction(self.services.sessions) as session:
            return outbox.wake_network_retries(session)

    def _finished(self, chat_id: int, _task: asyncio.Task[int]) -> None:
        self._chats.pop(chat_id, None)

    async def tick(self) -> int:
        """Send everything due now and wait until it is sent (tests, and the load test). Returns the attempts."""
        attempted = 0
        while True:
            await self._dispatch()
            running = list(self._chats.values())
            if not running:
                return attempted
            attempted += sum(await asyncio.gather(*running))

    def _due_chats(self, limit: int) -> list[int]:
        with transaction(self.services.sessions) as session:
            return outbox.due_chats(session, limit=limit)

    async def _drain(self, chat_id: int) -> int:
        """Send the chat's due rows one by one until none is due. Returns how many were attempted."""
        attempted = 0
        while True:
            try:
                jobs = await self.services.run(self._claim, chat_id)
            except Exception as exc:
                log.warning("outbox chat %s: claiming failed (%s); the next round tries again", chat_id,
                            logs.describe(exc))
                return attempted
            if not jobs:
                return attempted
            attempted += len(jobs)
            if len(jobs) > 1:
                await self._send_digest(chat_id, jobs)
            else:
                await self._send(jobs[0])

    def _claim(self, chat_id: int) -> list[Job]:
        with transaction(self.services.sessions) as session:
            if chat_id < 0 and outbox.count_due_alerts(session, chat_id) >= DIGEST_AFTER:
                head = outbox.claim_next(session, chat_id)
                if head is not None and (head.kind != "clinician_alert" or head.priority == 0):
                    return [_job(head)]
                alerts = outbox.claim_alerts(session, chat_id, limit=DIGEST_MAX - (head is not None))
                return [_job(row) for row in ([head] if head is not None else []) + alerts]
            row = outbox.claim_next(session, chat_id)
            return [_job(row)] if row is not None else []

    # -- one row --------------------------------------------------------------------------------------------
    async def _send(self, job: Job) -> None:
        failures = self.services.counters.send_failures
        try:
            message_id = await self._holding_claim([job], self._deliver(job))
        except RetryAfter as exc:
            failures["retry_after"] += 1
            delay = exc.retry_after.total_seconds() if hasattr(exc.retry_after, "total_seconds") else exc.retry_after
            await self._retry(job, float(delay), "429 retry_after")
        except (Forbidden, BadRequest) as exc:
            failures[exc.__class__.__name__] += 1
            log.warning("outbox %s (%s): refused permanently: %s", job.id, job.kind, exc.__class__.__name__)
            await self._retry(job, 0, f"{exc.__class__.__name__}: {exc}", permanent=True)
        except (NetworkError, TelegramError) as exc:
            failures[exc.__class__.__name__] += 1
            if isinstance(exc, NetworkError):
                self._telegram_away = True
            uncertain = isinstance(exc, TimedOut) and NOT_SENT not in str(exc)
            await self._retry(job, min(300.0, 2.0**job.attempt), f"{exc.__class__.__name__}: {exc}",
                              uncertain=uncertain)
        else:
            self.services.counters.sent[job.kind] += 1
            await self._record_sent([job], message_id)
            with contextlib.suppress(Exception):  # the database away: the probe tries again
                await self._telegram_back()

    async def _holding_claim(self, jobs: list[Job], sending: Awaitable[T]) -> T:
        """Await `sending`, renewing the rows' claims while it lasts (a group's rate limit can hold a send longer
        than a lease)."""
        task = asyncio.ensure_future(sending)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=outbox.LEASE_S / 3)
                if done:
                    return task.result()
                with contextlib.suppress(Exception):  # a lapsed claim only risks a duplicate, never a loss
                    await self.services.run(self._renew, jobs)
        finally:  # stopped (the process shuts down): the send stops too; its claim lapses and it is retried
            task.cancel()

    def _renew(self, jobs: list[Job]) -> None:
        with transaction(self.services.sessions) as session:
            for job in jobs:
                outbox.renew(session, job.id, job.attempt)

    async def _retry(self, job: Job, delay_s: float, error: str, *, permanent: bool = False,
                     uncertain: bool = False) -> None:
        def record() -> None:
            with transaction(self.services.sessions) as session:
                outbox.mark_retry(session, job.id, job.attempt, delay_s=delay_s, error=error, permanent=permanent,
                                  uncertain=uncertain)

        try:
            await self.services.run(record)
        except Exception as exc:  # the claim lapses and the row is tried again: nothing was delivered, nothing lost
            log.warning("outbox %s: could not record a failed attempt (%s); its claim will lapse", job.id,
                        logs.describe(exc))

    async def _record_sent(self, jobs: list[Job], message_id: int | None) -> None:
        """Record the delivery, retrying until the database takes it: a message Telegram has must not be sent
        again. A row that vanished meanwhile was erased: an alert just sent about it is taken back."""
        def record() -> list[Job]:
            gone = []
            with transaction(self.services.sessions) as session:
                for job in jobs:
                    if not outbox.mark_sent(session, job.id, job.attempt, message_id) and not outbox.exists(
                            session, job.id):
                        gone.append(job)
            return gone

        gone = await _until_done(lambda: self.services.run(record), f"outbox {jobs[0].id}: recording a delivery")
        if gone and message_id is not None and any(job.kind == "clinician_alert" for job in gone):
            await self.services.run(self._queue_retraction, jobs[0].chat_id, message_id)

    def _queue_retraction(self, chat_id: int, message_id: int) -> None:
        with transaction(self.services.sessions) as session:
            cases.queue_alert_retraction(session, chat_id, message_id)

    # -- what each kind of row sends ------------------------------------------------------------------------
    async def _deliver(self, job: Job) -> int | None:
        if job.kind == "patient_result":
            return await self._text(job.chat_id, render.patient_result(job.payload),
                                    lesion_render.result_markup(job.payload))
        if job.kind == "lesion_reminder":
            return await self._text(job.chat_id, *lesion_render.reminder(job.payload))
        if job.kind == "lesion_notice":
            return await self._text(job.chat_id, lesion_render.notice(job.payload))
        if job.kind == "clinician_alert" and job.case_id is not None:
            return await self._deliver_alert(job, job.case_id)
        if job.kind == "followup_answer":
            return await self._text(job.chat_id, render.followup_answer(job.payload))
        if job.kind == "clinician_reply":
            return await self._text(job.chat_id, clinician.render_reply(job.payload))
        if job.kind == "text":
            markup = job.payload.get("markup")
            return await self._text(job.chat_id, str(job.payload["text"]),
                                    InlineKeyboardMarkup.de_json(markup, self.bot) if markup else None)
        if job.kind == "document" and job.case_id is not None:  # a letter, made now (triage/letters/sending.py)
            try:
                doc = await self.services.run(sending.document_for, self.services.sessions, self.services.images,
                                              job.case_id, job.payload)
            except LetterUnavailable as exc:
                raise BadRequest(str(exc)) from None
            if doc is None:
                raise BadRequest("the case no longer exists")
            sent = await self.bot.send_document(job.chat_id, InputFile(doc.data, filename=doc.filename),
                                                caption=doc.caption)
            return sent.message_id
        if job.kind == "retract_alert":
            await self._retract(job.chat_id, int(job.payload["message_id"]))
            return None
        raise BadRequest(f"unknown outbox kind {job.kind!r}")

    async def _text(self, chat_id: int, text: str, markup: InlineKeyboardMarkup | None = None) -> int:
        message = await self.bot.send_message(chat_id, text, parse_mode=ParseMode.HTML, reply_markup=markup)
        return message.message_id

    async def _deliver_alert(self, job: Job, case_id: int) -> int:
        services = self.services
        summary = await services.run(cases.case_summary, services.sessions, case_id)
        if summary is None:  # erased since the alert was queued: nothing to say, nothing to show
            raise BadRequest("the case no longer exists")
        key = await services.run(cases.first_image_key, services.sessions, case_id)
        markup = clinician.alert_markup(case_id, str(summary["ref"]), services.settings)
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
            return message.message_id
        text = prefix + render.clinician_alert(case_id, job.payload, summary, limit=render.MESSAGE_LIMIT - len(prefix))
        return await self._text(job.chat_id, text, markup)

    async def _send_digest(self, chat_id: int, jobs: list[Job]) -> None:
        """Many alerts for a group at once: one message listing them, with a Claim button per case."""
        services = self.services
        summaries = [await services.run(cases.case_summary, services.sessions, job.case_id)
                     for job in jobs if job.case_id is not None]
        listed = [s for s in summaries if s is not None]
        try:
            text = render.alert_digest([(s, job.payload) for s, job in zip(summaries, jobs, strict=False)
                                        if s is not None])
            markup = clinician.digest_markup([(int(s["id"]), str(s["ref"])) for s in listed], services.settings)
            message_id = await self._holding_claim(jobs, self._text(chat_id, text, markup))
        except (RetryAfter, NetworkError, TelegramError) as exc:
            if isinstance(exc, NetworkError) and not isinstance(exc, BadRequest):
                self._telegram_away = True
            for job in jobs:  # each goes back to its own retry; the next round may summarise them again
                await self._retry(job, 5.0, f"digest: {exc.__class__.__name__}")
            return
        self.services.counters.sent["clinician_alert_digest"] += 1
        await self._record_sent(jobs, message_id)

    async def _retract(self, chat_id: int, message_id: int) -> None:
        """Take an alert back after its patient erased their data: delete it, or (Telegram lets bots delete only
        recent messages) replace its photo and words with a note that the case was erased."""
        with contextlib.suppress(BadRequest):
            await self.bot.delete_message(chat_id, message_id)
            return
        note = render.ALERT_ERASED
        try:
            await self.bot.edit_message_media(InputMediaPhoto(render.erased_placeholder(), caption=note),
                                              chat_id=chat_id, message_id=message_id, reply_markup=None)
        except BadRequest:  # a text alert, or already edited
            with contextlib.suppress(BadRequest):
                await self.bot.edit_message_text(note, chat_id=chat_id, message_id=message_id, reply_markup=None)


async def _until_done(attempt: Callable[[], Awaitable[T]], what: str) -> T:
    """`attempt()` again and again, with backoff up to RECORD_BACKOFF_MAX_S, until it succeeds."""
    delay = 0.2
    while True:
        try:
            return await attempt()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("%s failed; trying again in %.1f s", what, delay)
            await asyncio.sleep(delay)
            delay = min(RECORD_BACKOFF_MAX_S, delay * 2)


async def listen_for_due_rows(engine: AsyncEngine, wake: Callable[[], None]) -> None:
    """PostgreSQL only: hold one connection that LISTENs on `outbox.CHANNEL` and call `wake` for each notification,
    so a row queued by a worker is sent now rather than at the next poll. When the connection is lost (a restart,
    a network fault) the poll carries on alone and the connection is opened again after LISTEN_RETRY_S."""
    while True:
        try:
            await _listen_until_lost(engine, wake)
            log.warning("outbox sender: the connection listening for queued rows was lost; polling until it is back")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("outbox sender: cannot listen for queued rows (%s); polling, trying again in %.0f s",
                        logs.describe(exc), LISTEN_RETRY_S)
        await asyncio.sleep(LISTEN_RETRY_S)


async def _listen_until_lost(engine: AsyncEngine, wake: Callable[[], None]) -> None:
    lost = asyncio.Event()

    def on_notify(*_: Any) -> None:
        wake()

    async with engine.connect() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection  # asyncpg's own connection
        raw.add_termination_listener(lambda *_: lost.set())
        await raw.add_listener(outbox.CHANNEL, on_notify)
        try:
            wake()  # rows queued while nobody listened
            await lost.wait()
        finally:
            with contextlib.suppress(Exception):  # gone with the connection, or cancelled at shutdown
                await asyncio.shield(raw.remove_listener(outbox.CHANNEL, on_notify))
