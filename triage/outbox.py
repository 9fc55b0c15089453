"""Outgoing Telegram messages as rows: written in the same transaction as the change they report.

The web process sends them (`bot/sender.py`). A row is claimed with a conditional UPDATE before it is sent,
so two senders never send the same row, and `dedupe_key` is unique, so the same message is never queued twice.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from triage.models import Outbox, OutboxStatus, utcnow

MAX_ATTEMPTS = 12


def enqueue(
    session: Session,
    *,
    kind: str,
    chat_id: int,
    dedupe_key: str,
    payload: dict[str, Any],
    case_id: int | None = None,
    priority: int = 5,
) -> bool:
    """Queue a message unless one with the same `dedupe_key` exists. Returns whether a row was added."""
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
    }
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(Outbox).values(**values).on_conflict_do_nothing(index_elements=["dedupe_key"]).returning(Outbox.id)
    return session.execute(stmt).scalar() is not None


def due(session: Session, *, limit: int, now: dt.datetime | None = None) -> list[Outbox]:
    """Pending rows whose time has come, most urgent first."""
    now = now or utcnow()
    rows = session.scalars(
        select(Outbox)
        .where(Outbox.status == OutboxStatus.PENDING, Outbox.next_attempt_at <= now)
        .order_by(Outbox.priority, Outbox.id)
        .limit(limit)
    )
    return list(rows)


def claim(session: Session, row_id: int) -> bool:
    """Mark a pending row as being sent. False if another sender got it first."""
    result = session.execute(
        update(Outbox)
        .where(Outbox.id == row_id, Outbox.status == OutboxStatus.PENDING)
        .values(status=OutboxStatus.SENDING, attempts=Outbox.attempts + 1, next_attempt_at=utcnow())
    )
    return result.rowcount == 1  # type: ignore[attr-defined]


def mark_sent(session: Session, row_id: int, message_id: int | None) -> None:
    session.execute(
        update(Outbox)
        .where(Outbox.id == row_id)
        .values(status=OutboxStatus.SENT, sent_at=utcnow(), telegram_message_id=message_id, last_error=None)
    )


def mark_retry(session: Session, row_id: int, *, delay_s: float, error: str, attempts: int) -> None:
    """Put a row back for another try after `delay_s`, or give up on it after MAX_ATTEMPTS."""
    status = OutboxStatus.FAILED if attempts >= MAX_ATTEMPTS else OutboxStatus.PENDING
    session.execute(
        update(Outbox)
        .where(Outbox.id == row_id)
        .values(status=status, next_attempt_at=utcnow() + dt.timedelta(seconds=delay_s), last_error=error[:500])
    )


def release_stale_sending(session: Session, *, older_than_s: float = 300) -> int:
    """Rows left `sending` by a crashed sender go back to pending. Returns how many."""
    # A crash between the API call and mark_sent may mean the message went out: Telegram has no idempotency
    # key, so this trades a rare duplicate for never losing a message.
    cutoff = utcnow() - dt.timedelta(seconds=older_than_s)
    result = session.execute(
        update(Outbox)
        .where(Outbox.status == OutboxStatus.SENDING, Outbox.next_attempt_at < cutoff)
        .values(status=OutboxStatus.PENDING)
    )
    return result.rowcount  # type: ignore[attr-defined]
