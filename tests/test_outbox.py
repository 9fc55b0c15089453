"""The outbox: rows on a real database, sent by the real sender through the real PTB `Bot` to the fake Bot API."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from celery import Celery
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot

from bot.sender import OutboxSender
from bot.services import Services
from bot.telegram_http import AiohttpRequest
from tests.fake_telegram import FakeBotAPI
from triage import outbox
from triage.config import load_settings
from triage.db import transaction
from triage.images import ImageStore
from triage.models import Outbox, OutboxStatus


def _enqueue(sessions: sessionmaker[Session], key: str, *, chat: int = 5, priority: int = 5, text: str = "hi") -> bool:
    with transaction(sessions) as session:
        return outbox.enqueue(
            session, kind="text", chat_id=chat, dedupe_key=key, payload={"text": text}, priority=priority
        )


def _rows(sessions: sessionmaker[Session]) -> list[Outbox]:
    with sessions() as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


def test_the_same_dedupe_key_is_queued_once(sessions: sessionmaker[Session]) -> None:
    assert _enqueue(sessions, "k1") is True
    assert _enqueue(sessions, "k1", text="again") is False
    assert [r.payload["text"] for r in _rows(sessions)] == ["hi"]


def test_the_chat_of_the_most_urgent_row_comes_first_and_a_row_is_claimed_once(
    sessions: sessionmaker[Session],
) -> None:
    _enqueue(sessions, "routine", chat=1, priority=3)
    _enqueue(sessions, "emergency", chat=2, priority=0)
    with transaction(sessions) as session:
        assert outbox.due_chats(session, limit=10) == [2, 1]
        row = outbox.claim_next(session, 2)
        assert row is not None and row.dedupe_key == "emergency" and row.attempts == 1
        assert outbox.claim_next(session, 2) is None  # claimed: nothing else due in that chat
    with transaction(sessions) as session:
        assert outbox.due_chats(session, limit=10) == [1]


def test_a_conversation_goes_in_order_and_a_row_waiting_for_its_retry_holds_back_the_next(
    sessions: sessionmaker[Session],
) -> None:
    _enqueue(sessions, "analysing", chat=9, priority=5)
    _enqueue(sessions, "result", chat=9, priority=0)  # more urgent, but written later: it must not overtake
    with transaction(sessions) as session:
        first = outbox.claim_next(session, 9)
        assert first is not None and first.dedupe_key == "analysing"
        outbox.mark_retry(session, first.id, first.attempts, delay_s=60, error="500")
    with transaction(sessions) as session:
        assert outbox.claim_next(session, 9) is None  # the result waits for "analysing"
    _enqueue(sessions, "alert-routine", chat=-100, priority=3)
    _enqueue(sessions, "alert-emergency", chat=-100, priority=0)
    with transaction(sessions) as session:  # in the clinicians' group the most urgent goes first
        head = outbox.claim_next(session, -100)
        assert head is not None and head.dedupe_key == "alert-emergency"


def test_a_lapsed_claim_is_taken_up_again_and_marked_uncertain_and_the_old_claim_cannot_record(
    sessions: sessionmaker[Session],
) -> None:
    import datetime as dt

    _enqueue(sessions, "k", chat=3)
    with transaction(sessions) as session:
        first = outbox.claim_next(session, 3)
        assert first is not None and not first.delivery_uncertain
        token = first.attempts
    with transaction(sessions) as session:
        assert outbox.claim_next(session, 3) is None  # the claim holds for LEASE_S
        later = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=outbox.LEASE_S + 1)
        second = outbox.claim_next(session, 3, now=later)  # the first sender died
        assert second is not None and second.attempts == token + 1 and second.delivery_uncertain
    with transaction(sessions) as session:
        assert outbox.mark_sent(session, first.id, token, 1) is False  # fenced out
        assert outbox.mark_sent(session, first.id, token + 1, 2) is True
    assert _rows(sessions)[0].telegram_message_id == 2


def test_a_row_gives_up_after_max_attempts(sessions: sessionmaker[Session]) -> None:
    _enqueue(sessions, "k")
    with transaction(sessions) as session:
        row = outbox.claim_next(session, 5)
        assert row is not None
        outbox.mark_retry(session, row.id, row.attempts, delay_s=0, error="boom", permanent=True)
    assert _rows(sessions)[0].status == OutboxStatus.FAILED


@pytest.fixture
async def sender(sessions: sessionmaker[Session], telegram: FakeBotAPI, tmp_path: Path) -> AsyncIterator[OutboxSender]:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    services = Services(
        settings=settings,
        sessions=sessions,
        images=ImageStore(tmp_path, [Fernet.generate_key()]),
        celery=Celery("unused"),
        executor=ThreadPoolExecutor(4),
    )
    bot = Bot(  # the web process's own transport, with a short read timeout for the timeout test
        "1:T", base_url=telegram.base_url, base_file_url=telegram.file_url,
        request=AiohttpRequest(8, read_timeout=0.5), get_updates_request=AiohttpRequest(1),
    )
    async with bot:
        yield OutboxSender(services, bot)
    services.executor.shutdown()


async def test_sender_delivers_each_row_once(
    sender: OutboxSender, sessions: sessionmaker[Session], telegram: FakeBotAPI
) -> None:
    _enqueue(sessions, "a", chat=1, text="one")
    _enqueue(sessions, "b", chat=2, text="two")
    assert await sender.tick() == 2
    assert await sender.tick() == 0
    assert sorted(c.params["text"] for c in telegram.sent("sendMessage")) == ["one", "two"]
    assert all(r.status == OutboxStatus.SENT and r.telegram_message_id for r in _rows(sessions))


async def test_sender_honours_429_retry_after(
    sender: OutboxSender, sessions: sessionmaker[Session], telegram: FakeBotAPI
) -> None:
    telegram.fail("sendMessage", 429, retry_after=7)
    _enqueue(sessions, "a", text="later")
    await sender.tick()
    row = _rows(sessions)[0]
    assert row.status == OutboxStatus.PENDING and "429" in (row.last_error or "")
    assert (row.next_attempt_at - row.created_at).total_seconds() >= 6.5
    assert await sender.tick() == 0  # not due yet
    assert telegram.sent("sendMessage") == []


async def test_sender_retries_server_errors_and_stops_on_forbidden(
    sender: OutboxSender, sessions: sessionmaker[Session], telegram: FakeBotAPI
) -> None:
    telegram.fail("sendMessage", 500)
    telegram.fail("sendMessage", 403)
    _enqueue(sessions, "a", chat=1, text="to retry")
    await sender.tick()
    _enqueue(sessions, "b", chat=2, text="blocked")
    await sender.tick()
    first, second = _rows(sessions)
    assert first.status == OutboxStatus.PENDING and first.attempts == 1 and not first.delivery_uncertain
    assert second.status == OutboxStatus.FAILED


async def test_a_send_that_times_out_is_retried_a_duplicate_rather_than_a_loss(
    sender: OutboxSender, sessions: sessionmaker[Session], telegram: FakeBotAPI
) -> None:
    from sqlalchemy import update

    _enqueue(sessions, "a", chat=1, text="your result")
    telegram.latency_s = 2.0  # Telegram gets the message but answers after our read timeout
    await sender.tick()
    row = _rows(sessions)[0]
    assert row.status == OutboxStatus.PENDING and "TimedOut" in (row.last_error or "")
    assert row.delivery_uncertain  # the row says Telegram may already have it
    telegram.latency_s = 0.0
    with sessions.begin() as session:
        session.execute(update(Outbox).values(next_attempt_at=Outbox.created_at))
    assert await sender.tick() == 1
    assert _rows(sessions)[0].status == OutboxStatus.SENT
    await asyncio.sleep(2.0)  # the first, slow request completes at the fake too
    assert [c.params["text"] for c in telegram.sent("sendMessage")] == ["your result", "your result"]


async def test_a_bot_api_failing_for_a_while_delivers_everything_once_afterwards(
    sender: OutboxSender, sessions: sessionmaker[Session], telegram: FakeBotAPI
) -> None:
    from sqlalchemy import update

    for n in range(6):
        _enqueue(sessions, f"m{n}", chat=100 + n, text=f"message {n}")
    telegram.fail("sendMessage", 500, times=4)
    telegram.fail("sendMessage", 429, times=3, retry_after=1)
    telegram.fail("sendMessage", 502, times=2)
    for _ in range(12):  # time passes between ticks: every retry becomes due
        await sender.tick()
        with sessions.begin() as session:
            session.execute(update(Outbox).values(next_attempt_at=Outbox.created_at))
    delivered = sorted(c.params["text"] for c in telegram.sent("sendMessage"))
    assert delivered == [f"message {n}" for n in range(6)]  # each exactly once
    assert all(r.status == OutboxStatus.SENT for r in _rows(sessions))
    assert sum(r.attempts for r in _rows(sessions)) == 6 + 9


@pytest.mark.services
async def test_on_postgresql_a_row_queued_elsewhere_wakes_the_sender_and_a_lost_listener_comes_back(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker queues an answer in its own process: the web process hears it through LISTEN at once rather
    than at its next poll, and a listening connection the server ended (a restart, a network fault) is opened again
    while the poll carries on."""
    from sqlalchemy import text

    from bot import sender as sender_module
    from tests.conftest import migrate
    from triage.db import make_async_engine, make_engine, make_sessionmaker

    migrate(postgres_url)
    monkeypatch.setattr(sender_module, "LISTEN_RETRY_S", 0.2)
    worker_sessions = make_sessionmaker(make_engine(postgres_url, pool_size=2))
    engine = make_async_engine(postgres_url, pool_size=2)
    assert engine is not None
    woken = asyncio.Event()
    listener = asyncio.create_task(sender_module.listen_for_due_rows(engine, woken.set))
    try:
        await asyncio.wait_for(woken.wait(), 10)  # once at the start: rows queued while nobody listened
        woken.clear()
        await asyncio.to_thread(_enqueue, worker_sessions, "from-the-worker")
        await asyncio.wait_for(woken.wait(), 10)
        woken.clear()
        await asyncio.to_thread(_enqueue, worker_sessions, "from-the-worker")  # already queued: nothing to send
        await asyncio.sleep(0.3)
        assert not woken.is_set()

        with worker_sessions() as session:  # the server ends the listening connection
            ended = session.execute(text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'")).scalar()
        assert ended == 1
        await asyncio.wait_for(woken.wait(), 10)  # listening again, and looking for what came meanwhile
        woken.clear()
        await asyncio.to_thread(_enqueue, worker_sessions, "after-the-restart")
        await asyncio.wait_for(woken.wait(), 10)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await engine.dispose()
        worker_sessions.kw["bind"].dispose()
