"""The outbox sender under faults: a database that fails after a send, a slow clinicians' group, many alerts at
once, and alerts taken back after an erasure. Real rows on both databases, the real sender and PTB `Bot`, the
fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from cryptography.fernet import Fernet
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker
from telegram import Bot

from bot.sender import OutboxSender
from bot.services import Services
from bot.telegram_http import AiohttpRequest
from tests.factories import make_case
from tests.fake_telegram import FakeBotAPI
from triage import cases, outbox
from triage.config import load_settings
from triage.db import transaction
from triage.images import ImageStore
from triage.models import Outbox, OutboxStatus

GROUP = -1001


@pytest.fixture
async def sender(sessions: sessionmaker[Session], telegram: FakeBotAPI, tmp_path: Path) -> AsyncIterator[OutboxSender]:
    settings = load_settings({"DATA_DIR": str(tmp_path), "INBOX_BASE_URL": "https://x.example/inbox"})
    services = Services(settings=settings, sessions=sessions, images=ImageStore(tmp_path, [Fernet.generate_key()]),
                        celery=Celery("unused"), executor=ThreadPoolExecutor(4))
    bot = Bot("1:T", base_url=telegram.base_url, base_file_url=telegram.file_url,
              request=AiohttpRequest(8), get_updates_request=AiohttpRequest(1))
    async with bot:
        yield OutboxSender(services, bot)
    services.executor.shutdown()


def _enqueue(sessions: sessionmaker[Session], key: str, *, chat: int, kind: str = "text", priority: int = 5,
             payload: dict[str, Any] | None = None, case_id: int | None = None) -> None:
    with transaction(sessions) as session:
        outbox.enqueue(session, kind=kind, chat_id=chat, dedupe_key=key, payload=payload or {"text": key},
                       priority=priority, case_id=case_id)


def _rows(sessions: sessionmaker[Session]) -> list[Outbox]:
    with sessions() as session:
        return list(session.scalars(select(Outbox).order_by(Outbox.id)))


async def test_a_database_fault_after_a_send_records_it_later_and_never_sends_it_again(
    sender: OutboxSender, sessions: sessionmaker[Session], telegram: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = outbox.mark_sent
    failures = {"left": 3}

    def flaky(session: Session, row_id: int, attempt: int, message_id: int | None) -> bool:
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("UPDATE outbox", {}, Exception("server closed the connection"))
        return real(session, row_id, attempt, message_id)

    monkeypatch.setattr(outbox, "mark_sent", flaky)
    _enqueue(sessions, "first", chat=7)
    _enqueue(sessions, "second", chat=7)
    await sender.tick()
    assert [c.params["text"] for c in telegram.sent("sendMessage")] == ["first", "second"]  # once each, in order
    assert [r.status for r in _rows(sessions)] == [OutboxStatus.SENT, OutboxStatus.SENT]
    assert failures["left"] == 0


async def test_a_slow_clinicians_group_does_not_hold_up_patients_answers(
    sender: OutboxSender, sessions: sessionmaker[Session], telegram: FakeBotAPI
) -> None:
    released = asyncio.Event()
    telegram.hold("sendMessage", lambda params: int(params["chat_id"]) == GROUP, released.wait)
    _enqueue(sessions, "alert", chat=GROUP, priority=1)
    for n in range(5):
        _enqueue(sessions, f"result {n}", chat=100 + n, priority=3)
    sending = asyncio.create_task(sender.tick())
    # The group's send hangs (Telegram's group limit, a slow upload); every patient's answer goes out meanwhile.
    await telegram.wait_for(lambda _: len(telegram.sent("sendMessage")) >= 5, timeout=10)
    assert {int(c.params["chat_id"]) for c in telegram.sent("sendMessage")} == {100, 101, 102, 103, 104}
    released.set()
    assert await asyncio.wait_for(sending, timeout=10) == 6
    assert int(telegram.sent("sendMessage")[-1].params["chat_id"]) == GROUP


async def test_many_alerts_at_once_go_as_one_summary_and_emergencies_one_by_one(
    sender: OutboxSender, sessions: sessionmaker[Session], telegram: FakeBotAPI, tmp_path: Path
) -> None:
    store = sender.services.images
    ids = [make_case(sessions, store, user=300 + n) for n in range(7)]
    _enqueue(sessions, "alert:e", chat=GROUP, kind="clinician_alert", priority=0, case_id=ids[0],
             payload={"tier": "emergency", "reasons": [{"text": "Fever with a rash"}]})
    for n, case_id in enumerate(ids[1:]):
        _enqueue(sessions, f"alert:{n}", chat=GROUP, kind="clinician_alert", priority=1, case_id=case_id,
                 payload={"tier": "urgent", "reasons": [{"text": f"reason {n}"}]})
    await sender.tick()
    photos = telegram.sent("sendPhoto", GROUP)
    texts = telegram.sent("sendMessage", GROUP)
    assert len(photos) == 1 and f"case #{ids[0]}" in str(photos[0].params["caption"])  # the emergency, first
    assert len(texts) == 1 and "6 new cases need a clinician" in str(texts[0].params["text"])
    buttons = [b for row in _keyboard(texts[0]) for b in row]
    refs = _refs(sessions)
    assert [b["callback_data"] for b in buttons if "callback_data" in b] == [
        f"claim:{case_id}:{refs[case_id]}" for case_id in ids[1:]]
    assert all(r.status == OutboxStatus.SENT for r in _rows(sessions))


def _keyboard(call: Any) -> list[list[dict[str, Any]]]:
    import json

    markup = call.params["reply_markup"]
    return list((json.loads(markup) if isinstance(markup, str) else markup)["inline_keyboard"])


def _refs(sessions: sessionmaker[Session]) -> dict[int, str]:
    from triage.models import Case

    with sessions() as session:
        return {case_id: ref for case_id, ref in session.execute(select(Case.id, Case.public_ref))}


async def test_an_erased_patients_alert_is_taken_back_and_an_old_one_is_blanked(
    sender: OutboxSender, sessions: sessionmaker[Session], telegram: FakeBotAPI
) -> None:
    store = sender.services.images
    case_id = make_case(sessions, store, user=410, text="my private words")
    _enqueue(sessions, "alert", chat=GROUP, kind="clinician_alert", priority=1, case_id=case_id,
             payload={"tier": "urgent", "reasons": []})
    await sender.tick()
    alert = telegram.sent("sendPhoto", GROUP)[0]
    message_id = _rows(sessions)[0].telegram_message_id
    assert "my private words" in str(alert.params["caption"]) and message_id
    telegram.fail("deleteMessage", 400)  # older than 48 hours: Telegram no longer lets the bot delete it
    assert cases.erase_patient(sessions, store, 410) == 1
    await sender.tick()
    edited = telegram.sent("editMessageMedia", GROUP)
    assert len(edited) == 1 and int(edited[0].params["message_id"]) == message_id
    assert "erased" in str(edited[0].params["media"]) and "my private words" not in str(edited[0].params)
    case_two = make_case(sessions, store, user=411)
    _enqueue(sessions, "alert2", chat=GROUP, kind="clinician_alert", priority=1, case_id=case_two,
             payload={"tier": "urgent", "reasons": []})
    await sender.tick()
    second_id = next(r.telegram_message_id for r in _rows(sessions) if r.dedupe_key == "alert2")
    cases.erase_patient(sessions, store, 411)
    await sender.tick()
    deleted = telegram.sent("deleteMessage", GROUP)  # a recent alert: deleted outright
    assert [int(c.params["message_id"]) for c in deleted] == [second_id]
    assert len(telegram.sent("editMessageMedia", GROUP)) == 1  # only the first one was blanked


async def test_an_alert_in_flight_when_its_patient_erases_is_taken_back_once_delivered(
    sender: OutboxSender, sessions: sessionmaker[Session], telegram: FakeBotAPI
) -> None:
    store = sender.services.images
    case_id = make_case(sessions, store, user=420)
    _enqueue(sessions, "alert", chat=GROUP, kind="clinician_alert", priority=1, case_id=case_id,
             payload={"tier": "urgent", "reasons": []})

    async def erase_meanwhile() -> None:  # the patient erases while the alert is being sent
        await asyncio.get_running_loop().run_in_executor(None, cases.erase_patient, sessions, store, 420)

    telegram.hold("sendPhoto", lambda _params: True, erase_meanwhile)
    await sender.tick()
    assert len(telegram.sent("sendPhoto", GROUP)) == 1
    deleted = telegram.sent("deleteMessage", GROUP)
    assert len(deleted) == 1
    assert [r.kind for r in _rows(sessions)] == ["retract_alert"]


async def test_rows_backing_off_through_an_outage_go_out_as_soon_as_telegram_is_back(
    sender: OutboxSender, sessions: sessionmaker[Session], telegram: FakeBotAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long outage has pushed a row's next try minutes away (backoff doubles to 300 s); the sender's probe finds
    Telegram back and the row goes at once, not at the end of its backoff."""
    monkeypatch.setattr("bot.sender.PROBE_S", 0.0)
    _enqueue(sessions, "answer", chat=8)
    _enqueue(sessions, "refused", chat=9)
    telegram.outage = (502, 0)
    await sender.tick()  # both fail on the network
    with transaction(sessions) as session:  # as after many failed tries: the next one is 256 s away
        for row in session.scalars(select(Outbox)):
            row.next_attempt_at = row.next_attempt_at.replace(year=row.next_attempt_at.year + 1)
            if row.dedupe_key == "refused":
                row.last_error = "Forbidden: bot was blocked by the user"
    await sender._probe()  # Telegram still away: nothing changes
    assert all(r.status == OutboxStatus.PENDING for r in _rows(sessions))
    telegram.outage = None
    await sender._probe()  # Telegram answers getMe: the row waiting on the network is due now
    await sender.tick()
    assert [c.params["text"] for c in telegram.sent("sendMessage")] == ["answer"]
    assert [r.status for r in _rows(sessions)] == [OutboxStatus.SENT, OutboxStatus.PENDING]  # not a network wait
    assert [c.method for c in telegram.calls if c.method.startswith("getMe")][-2:] == ["getMe!502", "getMe"]
