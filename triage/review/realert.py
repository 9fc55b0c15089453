"""Re-alerts (beat): an urgent or emergency case nobody has claimed is alerted again in its clinicians' chat."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from triage import outreach
from triage.db import transaction
from triage.models import AuditEvent, Case, CaseStatus, ModelResult, TriageDecision, utcnow
from triage.outbox import enqueue
from triage.review.access import ALERT_PRIORITY, REALERT_TIERS, audit, tier_order


def realert_unclaimed(
    factory: sessionmaker[Session], *, chat_id: int | None, after_s: int, now: dt.datetime | None = None
) -> list[int]:
    """Alert again every urgent or emergency case nobody has claimed for `after_s` seconds since its last alert, in
    its organisation's clinicians' chat (else `chat_id`, the deployment's; with neither, nothing is sent).

    One outbox row per round (`case:<id>:realert:<n>`); the alert time is moved with a conditional UPDATE, so
    two beat runs at once alert a case once. Returns the ids of the cases alerted.
    """
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=after_s)
    last_alert = func.coalesce(Case.last_alerted_at, Case.triaged_at)
    with factory() as session:
        due = list(
            session.execute(
                select(Case.id, Case.last_alerted_at)
                .where(
                    Case.status.in_((CaseStatus.FORWARDED, CaseStatus.FAILED_MODEL)),
                    Case.assigned_clinician_id.is_(None),
                    Case.tier.in_(REALERT_TIERS),
                    last_alert <= cutoff,
                )
                .order_by(tier_order(), Case.id)
            )
        )
    alerted = []
    for case_id, last_alerted_at in due:
        if _realert_one(factory, case_id, last_alerted_at, chat_id, now):
            alerted.append(case_id)
    return alerted


def _realert_one(
    factory: sessionmaker[Session], case_id: int, seen: dt.datetime | None, fallback_chat: int | None,
    now: dt.datetime,
) -> bool:
    with transaction(factory) as session:
        organisation = session.scalar(select(Case.organisation).where(Case.id == case_id)) or ""
        chat_id = outreach.clinician_chat(session, organisation, fallback_chat)
        if chat_id is None:
            return False
        unchanged = Case.last_alerted_at.is_(None) if seen is None else Case.last_alerted_at == seen
        moved = session.execute(
            update(Case)
            .where(Case.id == case_id, Case.assigned_clinician_id.is_(None), unchanged)
            .values(last_alerted_at=now)
            .execution_options(synchronize_session=False)
        )
        if moved.rowcount != 1:  # type: ignore[attr-defined]
            return False
        found = session.get_one(Case, case_id)
        rounds = session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.case_id == case_id, AuditEvent.action == "case.realerted")
        )
        n = int(rounds or 0) + 1
        enqueue(
            session,
            kind="clinician_alert",
            chat_id=chat_id,
            case_id=case_id,
            dedupe_key=f"case:{case_id}:realert:{n}",
            payload=_alert_payload(session, found, n),
            priority=ALERT_PRIORITY.get(found.tier or "", 1),
        )
        audit(session, "beat", "case.realerted", case_id, round=n)
        return True


def _alert_payload(session: Session, found: Case, round_no: int) -> dict[str, Any]:
    decision = session.scalar(
        select(TriageDecision).where(TriageDecision.case_id == found.id).order_by(TriageDecision.id.desc()).limit(1)
    )
    result = session.scalar(
        select(ModelResult).where(ModelResult.case_id == found.id).order_by(ModelResult.id.desc()).limit(1)
    )
    return {
        "tier": found.tier,
        "forwarded": True,
        "model_used": result is not None,
        "reasons": list(decision.reasons) if decision else [],
        "differential": list(result.differential)[:3] if result else [],
        "findings": list(result.findings)[:5] if result else [],
        "answer": "",
        "language": found.language,
        "realert": round_no,
    }
