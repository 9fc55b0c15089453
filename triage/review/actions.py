"""Changing a case: claim it (of two clinicians, one wins), then reply, change the tier, record the outcome,
close. Every change needs the case claimed by the acting clinician and writes an audit row with it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import ColumnElement, update
from sqlalchemy.orm import Session, sessionmaker

from triage.accounts import ClinicianView
from triage.db import transaction
from triage.models import Case, CaseStatus, Message, utcnow
from triage.outbox import enqueue
from triage.review.access import (
    ALERT_PRIORITY,
    CLAIMABLE,
    DISPOSITIONS,
    MAX_REASON_CHARS,
    MAX_REPLY_CHARS,
    InvalidReview,
    ReviewConflict,
    audit,
    case_for,
    clean_text,
    clinician_names,
    held,
)
from triage.rules import CONDITION_TIERS, TIERS


@dataclass(frozen=True)
class ClaimResult:
    case_id: int
    claimed_by: str
    newly_claimed: bool



def claim(
    factory: sessionmaker[Session],
    actor: ClinicianView,
    case_id: int,
    *,
    via: str = "inbox",
    take_over: bool = False,
    now: dt.datetime | None = None,
    ref: str | None = None,
) -> ClaimResult:
    """Claim a forwarded case for `actor` (a conditional UPDATE: of two clinicians, one wins).

    Claiming a case one already holds is a no-op. `take_over` (admins only) takes a case another holds.
    Raises `CaseNotFound`, `StaleReference` (a button's `ref` that is not the case's), or `ReviewConflict` if
    someone else holds it or it cannot be claimed.
    """
    now = now or utcnow()
    if take_over and not actor.is_admin:
        raise ReviewConflict("only an admin can take over a case")
    with transaction(factory) as session:
        found = case_for(session, actor, case_id, ref=ref)
        previous = found.assigned_clinician_id
        if previous == actor.id and found.status == CaseStatus.CLAIMED:
            return ClaimResult(case_id, actor.display_name, newly_claimed=False)
        statuses = (*CLAIMABLE, CaseStatus.CLAIMED) if take_over else CLAIMABLE
        condition: ColumnElement[bool] = Case.status.in_(statuses)
        if not take_over:
            condition = condition & Case.assigned_clinician_id.is_(None)
        changed = session.execute(
            update(Case)
            .where(Case.id == case_id, Case.organisation == actor.organisation, condition)
            .values(status=CaseStatus.CLAIMED, assigned_clinician_id=actor.id, claimed_at=now, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        won = changed.rowcount == 1  # type: ignore[attr-defined]
        if won:
            action = "case.taken_over" if take_over and previous not in (None, actor.id) else "case.claimed"
            audit(session, actor.actor, action, case_id, via=via, previous_clinician_id=previous)
    if not won:
        return _explain_claim_refusal(factory, actor, case_id)
    return ClaimResult(case_id, actor.display_name, newly_claimed=True)


def _explain_claim_refusal(factory: sessionmaker[Session], actor: ClinicianView, case_id: int) -> ClaimResult:
    with factory() as session:
        found = case_for(session, actor, case_id)
        if found.assigned_clinician_id == actor.id and found.status == CaseStatus.CLAIMED:
            return ClaimResult(case_id, actor.display_name, newly_claimed=False)
        if found.assigned_clinician_id is not None and found.status == CaseStatus.CLAIMED:
            holder = clinician_names(session, {found.assigned_clinician_id}).get(found.assigned_clinician_id,
                                                                             "someone else")
            raise ReviewConflict(f"the case is claimed by {holder}")
        raise ReviewConflict(f"a case that is {found.status} cannot be claimed")


def reply(factory: sessionmaker[Session], actor: ClinicianView, case_id: int, text: str) -> int:
    """Send `text` to the patient through the bot (an outbox row) and keep it in the conversation.

    Returns the new message's id. Raises `CaseNotFound`, `ReviewConflict`, `InvalidReview`.
    """
    text = clean_text(text, name="reply", limit=MAX_REPLY_CHARS)
    with transaction(factory) as session:
        found = held(session, actor, case_id)
        message = Message(case_id=case_id, role="clinician", text=text)
        session.add(message)
        session.flush()
        enqueue(
            session,
            kind="clinician_reply",
            chat_id=found.patient.chat_id,
            case_id=case_id,
            dedupe_key=f"case:{case_id}:reply:{message.id}",
            payload={"text": text, "language": found.language, "clinician": actor.display_name,
                     **({"audience": "chw", "patient_ref": found.patient.local_ref or ""}
                        if found.patient.managed_by_id is not None else {})},
            priority=ALERT_PRIORITY.get(found.tier or "", 2),
        )
        found.updated_at = utcnow()
        audit(session, actor.actor, "case.replied", case_id, message_id=message.id, chars=len(text))
        return message.id


def change_tier(factory: sessionmaker[Session], actor: ClinicianView, case_id: int, tier: str, reason: str) -> None:
    """Set the case's tier with the clinician's reason; the triage decision itself stays as it was."""
    if tier not in TIERS:
        raise InvalidReview(f"unknown tier {tier[:32]!r}: choose one of {', '.join(TIERS)}")
    reason = clean_text(reason, name="reason", limit=MAX_REASON_CHARS)
    with transaction(factory) as session:
        found = held(session, actor, case_id)
        if found.tier == tier:
            raise InvalidReview(f"the tier is already {tier}")
        previous = found.tier
        found.tier = tier
        found.tier_override_reason = reason
        found.updated_at = utcnow()
        audit(session, actor.actor, "case.tier_changed", case_id, previous=previous, tier=tier, reason=reason)


def record_outcome(
    factory: sessionmaker[Session], actor: ClinicianView, case_id: int, diagnosis: str, disposition: str
) -> None:
    """Record the final diagnosis (a condition key of CLINICAL.md) and the disposition."""
    if diagnosis not in CONDITION_TIERS:
        raise InvalidReview(f"unknown condition key {diagnosis[:64]!r}: choose one from CLINICAL.md")
    if disposition not in DISPOSITIONS:
        raise InvalidReview(f"unknown disposition {disposition[:32]!r}: choose one of {', '.join(DISPOSITIONS)}")
    with transaction(factory) as session:
        found = held(session, actor, case_id)
        previous = {"diagnosis": found.final_diagnosis, "disposition": found.disposition}
        found.final_diagnosis = diagnosis
        found.disposition = disposition
        found.updated_at = utcnow()
        audit(
            session,
            actor.actor,
            "case.outcome_recorded",
            case_id,
            diagnosis=diagnosis,
            disposition=disposition,
            previous=previous,
        )


def close(factory: sessionmaker[Session], actor: ClinicianView, case_id: int) -> None:
    """Close a case the clinician holds; its disposition must be recorded first."""
    with transaction(factory) as session:
        found = held(session, actor, case_id)
        if not found.disposition:
            raise ReviewConflict("record the diagnosis and disposition before closing")
        now = utcnow()
        found.status = CaseStatus.CLOSED
        found.closed_at = now
        found.updated_at = now
        audit(session, actor.actor, "case.closed", case_id, disposition=found.disposition)

