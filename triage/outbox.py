"""Outgoing Telegram messages as rows: written in the same transaction as the change they report.

The web process sends them (`bot/sender.py`). A row moves `pending → sending → sent` (or `failed`):
- Each chat's rows go out in order, one at a time: a patient never reads an answer before "being analysed", and a
  row waiting for its retry holds back the rows queued after it in that chat (not other chats). In a group chat
  (the clinicians') the most urgent row goes first.
- A row is claimed just before it is sent, with a conditional UPDATE that adds one to `attempts`: that number is
  the claim's fencing token, so two senders never send the same claim and a sender records only its own attempt.
- A claim is a lease: a `sending` row whose `next_attempt_at` has passed belongs to a sender that died, and is
  taken up again (`LEASE_S` after the claim, not minutes later). Telegram may already have that message, so the
  row is marked `delivery_uncertain`: the one case where a message can arrive twice, rather than never.
- `dedupe_key` is unique, so the same message is never queued twice.
- On PostgreSQL a queued row also sends `NOTIFY outbox_due` (delivered at commit): the web process listens
  (`bot.sender.listen_for_due_rows`) and sends a worker's answer at once rather than at its next poll.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from triage.db import transaction
from triage.models import Outbox, OutboxStatus, utcnow

MAX_ATTEMPTS = 12
# A claim lapses this long after it was made, or after its last renewal: the sender renews it every LEASE_S / 3 while
# a send lasts (a photo upload may take 20 s), so only a sender that died lets it lapse. Short, since a row claimed by
# a web process that was killed waits this long before another sends it (tests/fault_suite.py, web-kill).
LEASE_S = 15.0
_UNSENT = (OutboxStatus.PENDING, OutboxStatus.SENDING)
CHANNEL = "outbox_due"  # PostgreSQL's NOTIFY channel for "a row was queued"


def enqueue(
    session: Session,
    *,
    kind: str,
    chat_id: int,
    dedupe_key: str,
    payload: dict[str, Any],
    case_id: int | None = None,
    priority: int = 5,
    uncertain: bool = False,
) -> bool:
    """Queue a message unless one with the same `dedupe_key` exists. Returns whether a row was added. `uncertain`:
    Telegram may already have it (a direct send that timed out after the request was written)."""
    values = {
        "kind": kind,
        "chat_id": chat_id,
        "dedupe_key": dedupe_key,
        "payload": payload,
        "case_id": case_id,
        "priority": priority,
        "status": OutboxStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": utcnow(),
        "created_at": utcnow(),
        "delivery_uncertain": uncertain,
    }
    postgres = session.get_bind().dialect.name == "postgresql"
    insert = pg_insert if postgres else sqlite_insert
    stmt = insert(Outbox).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Outbox.id)
    added = session.execute(stmt).scalar() is not None
    if added and postgres:  # sent at commit, once per transaction however many rows it queued
        session.execute(select(func.pg_notify(CHANNEL, "")))
    return added


def due_chats(session: Session, *, limit: int, now: dt.datetime | None = None) -> list[int]:
    """Chats with a row whose time has come (pending, or a lapsed claim), the chat of the most urgent row first."""
    now = now or utcnow()
    rows = session.execute(
        select(Outbox.chat_id)
        .where(Outbox.status.in_(_UNSENT), Outbox.next_attempt_at <= now)
        .group_by(Outbox.chat_id)
        .order_by(func.min(Outbox.priority), func.min(Outbox.id))
        .limit(limit)
    )
    return [int(chat_id) for (chat_id,) in rows]


def _in_chat_order(chat_id: int) -> tuple[Any, ...]:
    """A conversation goes in the order it was written; a group chat's alerts most urgent first."""
    return (Outbox.priority, Outbox.id) if chat_id < 0 else (Outbox.id,)


def claim_next(session: Session, chat_id: int, *, now: dt.datetime | None = None) -> Outbox | None:
    """Claim the chat's next unsent row if its time has come; None when the chat has nothing due (or its first
    row waits for a retry, which holds back the rows after it) or another sender claimed it first.

    The returned row's `attempts` is this claim's token; `delivery_uncertain` says whether Telegram may already
    have it (this claim takes over a lapsed one).
    """
    now = now or utcnow()
    head = session.scalar(
        select(Outbox).where(Outbox.chat_id == chat_id, Outbox.status.in_(_UNSENT))
        .order_by(*_in_chat_order(chat_id)).limit(1)
    )
    if head is None or head.next_attempt_at > now:
        return None
    taking_over = head.status == OutboxStatus.SENDING
    claimed = session.execute(
        update(Outbox)
        .where(Outbox.id == head.id, Outbox.status == head.status, Outbox.attempts == head.attempts)
        .values(status=OutboxStatus.SENDING, attempts=head.attempts + 1,
                next_attempt_at=now + dt.timedelta(seconds=LEASE_S),
                delivery_uncertain=head.delivery_uncertain or taking_over)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return None
    session.refresh(head)
    return head


def claim_alerts(session: Session, chat_id: int, *, limit: int, now: dt.datetime | None = None) -> list[Outbox]:
    """Claim up to `limit` due non-emergency alerts of a group chat at once (for one summary message)."""
    now = now or utcnow()
    rows = list(session.scalars(
        select(Outbox).where(Outbox.chat_id == chat_id, Outbox.kind == "clinician_alert", Outbox.priority > 0,
                             Outbox.status == OutboxStatus.PENDING, Outbox.next_attempt_at <= now)
        .order_by(Outbox.priority, Outbox.id).limit(limit)
    ))
    claimed = []
    for row in rows:
        done = session.execute(
            update(Outbox).where(Outbox.id == row.id, Outbox.status == OutboxStatus.PENDING,
                                 Outbox.attempts == row.attempts)
            .values(status=OutboxStatus.SENDING, attempts=row.attempts + 1,
                    next_attempt_at=now + dt.timedelta(seconds=LEASE_S))
            .execution_options(synchronize_session=False)
        )
        if done.rowcount == 1:  # type: ignore[attr-defined]
            session.refresh(row)
            claimed.append(row)
    return claimed


def count_due_alerts(session: Session, chat_id: int, *, now: dt.datetime | None = None) -> int:
    """How many non-emergency alerts wait for a group chat now."""
    now = now or utcnow()
    return int(session.scalar(
        select(func.count()).select_from(Outbox).where(
            Outbox.chat_id == chat_id, Outbox.kind == "clinician_alert", Outbox.priority > 0,
            Outbox.status == OutboxStatus.PENDING, Outbox.next_attempt_at <= now)
    ) or 0)


def mark_sent(session: Session, row_id: int, attempt: int, message_id: int | None) -> bool:
    """Record that claim `attempt` of the row was delivered. False when the row is gone (erased meanwhile) or
    the claim lapsed and another sender holds it now."""
    result = session.execute(
        update(Outbox)
        .where(Outbox.id == row_id, Outbox.attempts == attempt, Outbox.status == OutboxStatus.SENDING)
        .values(status=OutboxStatus.SENT, sent_at=utcnow(), telegram_message_id=message_id, last_error=None)
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def mark_retry(
    session: Session, row_id: int, attempt: int, *, delay_s: float, error: str, permanent: bool = False,
    uncertain: bool = False,
) -> None:
    """Put claim `attempt`'s row back for another try after `delay_s`, or give up on it (a permanent refusal, or
    MAX_ATTEMPTS tries). `uncertain`: the request may have reached Telegram (an ambiguous timeout)."""
    status = OutboxStatus.FAILED if permanent or attempt >= MAX_ATTEMPTS else OutboxStatus.PENDING
    session.execute(
        update(Outbox)
        .where(Outbox.id == row_id, Outbox.attempts == attempt, Outbox.status == OutboxStatus.SENDING)
        .values(status=status, next_attempt_at=utcnow() + dt.timedelta(seconds=delay_s), last_error=error[:500],
                delivery_uncertain=Outbox.delivery_uncertain | uncertain)
    )


# The errors of a send that did not reach Telegram or got no answer from it (bot/sender.py writes the class name
# first): a row that failed so is waiting on Telegram itself, not on anything about the row.
NETWORK_ERRORS = ("NetworkError", "TimedOut")


def wake_network_retries(session: Session, *, now: dt.datetime | None = None) -> int:
    """Telegram answers again: every pending row backing off after a network error is due now. Returns how many."""
    now = now or utcnow()
    result = session.execute(
        update(Outbox)
        .where(Outbox.status == OutboxStatus.PENDING, Outbox.next_attempt_at > now,
               or_(*(Outbox.last_error.startswith(f"{name}:") for name in NETWORK_ERRORS)))
        .values(next_attempt_at=now)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def renew(session: Session, row_id: int, attempt: int, *, now: dt.datetime | None = None) -> None:
    """Extend claim `attempt` of a row being sent by another LEASE_S."""
    now = now or utcnow()
    session.execute(
        update(Outbox)
        .where(Outbox.id == row_id, Outbox.attempts == attempt, Outbox.status == OutboxStatus.SENDING)
        .values(next_attempt_at=now + dt.timedelta(seconds=LEASE_S))
    )


def exists(session: Session, row_id: int) -> bool:
    return session.get(Outbox, row_id) is not None


def queue_text(factory: sessionmaker[Session], chat_id: int, text: str, markup: dict[str, Any] | None = None, *,
               uncertain: bool = False) -> None:
    """Queue a conversation reply that could not be sent directly (Telegram away): the sender delivers it, in
    order with the chat's other rows, once Telegram answers again. `uncertain`: the direct send timed out after
    its request was written, so Telegram may have it already (it is sent again rather than risk losing it)."""
    with transaction(factory) as session:
        enqueue(session, kind="text", chat_id=chat_id, dedupe_key=f"reply:{uuid.uuid4()}",
                payload={"text": text, "markup": markup} if markup else {"text": text}, uncertain=uncertain)


def has_unsent(factory: sessionmaker[Session], chat_id: int) -> bool:
    """Whether the chat has a row not yet delivered (a later reply must queue behind it)."""
    with factory() as session:
        return session.scalar(
            select(Outbox.id).where(Outbox.chat_id == chat_id, Outbox.status.in_(_UNSENT)).limit(1)
        ) is not None
