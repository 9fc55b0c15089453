"""The clinician side of the case workflow, as small synchronous functions over a session factory.

Used by the web inbox (`inbox/`) and the Telegram buttons (`bot/clinician.py`), always off the event loop.
Every function takes the acting clinician and checks the organisation here, in one place: a case of another
organisation raises `CaseNotFound`, exactly as a case that does not exist, so ids do not leak. Every read of a
case and every change writes an `AuditEvent` in the same transaction as what it records.

Changes need the case claimed by the acting clinician: claim first (`claim`), then reply, change the tier,
record the outcome, close. An admin may take over a case another clinician holds.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, Select, case, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from triage import outreach
from triage.accounts import ClinicianView, as_utc
from triage.db import transaction
from triage.models import (
    AuditEvent,
    Case,
    CaseImage,
    CaseStatus,
    Clinician,
    Message,
    ModelResult,
    Patient,
    TriageDecision,
    utcnow,
)
from triage.outbox import enqueue
from triage.rules import CONDITION_TIERS, TIERS

DISPOSITIONS: dict[str, str] = {
    "seen_in_clinic": "seen in clinic",
    "referred": "referred",
    "advice_given": "advice given",
    "no_action": "no action needed",
}
CLAIMABLE = (CaseStatus.TRIAGED, CaseStatus.FORWARDED, CaseStatus.FAILED_MODEL)
#: The queue's status filter: which case statuses each choice shows.
STATUS_FILTERS: dict[str, tuple[str, ...]] = {
    "open": (CaseStatus.FORWARDED, CaseStatus.FAILED_MODEL, CaseStatus.CLAIMED),
    "closed": (CaseStatus.CLOSED,),
    "all": tuple(s for s in CaseStatus if s != CaseStatus.COLLECTING),
}
SCOPES = ("all", "mine", "unclaimed")
SOURCES = ("all", "patients", "health_workers")  # who sent the case: the patient, or a health worker for them
REALERT_TIERS = ("emergency", "urgent")
ALERT_PRIORITY = {"emergency": 0, "urgent": 1}
MAX_REPLY_CHARS = 3000
MAX_REASON_CHARS = 1000
QUEUE_LIMIT = 200
MAX_ID = 2**31 - 1  # ids are 32-bit integers; a larger one cannot exist (and PostgreSQL would refuse it)


class CaseNotFound(LookupError):
    """No such case for this clinician: it does not exist or belongs to another organisation."""


class StaleReference(LookupError):
    """A button or link names the case by number and a reference that is not the case's own: it was made for a
    case that is no longer there (erased), so it must not act on whatever case now has that number."""


class ReviewConflict(Exception):
    """The case's state does not allow this now (closed, claimed by someone else); the message says why."""


class InvalidReview(ValueError):
    """A field is missing or not in its vocabulary; the message says which and what is allowed."""


# -- views ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueFilter:
    tier: str | None = None
    status: str = "open"
    scope: str = "all"
    source: str = "all"

    @classmethod
    def parse(cls, tier: str | None, status: str | None, scope: str | None, source: str | None = None
              ) -> QueueFilter:
        """A filter from query parameters; unknown values fall back to the defaults."""
        return cls(
            tier=tier if tier in TIERS else None,
            status=status if status in STATUS_FILTERS else "open",
            scope=scope if scope in SCOPES else "all",
            source=source if source in SOURCES else "all",
        )


@dataclass(frozen=True)
class QueueItem:
    id: int
    tier: str | None
    status: str
    submitted_at: dt.datetime
    waiting: dt.timedelta
    claimed_by: str | None
    mine: bool
    preview: str
    model_used: bool
    submitted_by: str = ""  # "" for the patient; "<health worker> · patient <ref>" for a health worker's patient


@dataclass(frozen=True)
class Queue:
    items: list[QueueItem]
    counts: dict[str, int]
    filter: QueueFilter
    truncated: bool


@dataclass(frozen=True)
class DecisionView:
    tier: str
    forwarded: bool
    reasons: list[dict[str, Any]]
    ruleset_version: str
    model_used: bool
    at: dt.datetime
    findings: list[dict[str, Any]] = field(default_factory=list)  # read from the words: concept, text, start, end
    text_read: str = ""
    evidence_record_id: int | None = None


@dataclass(frozen=True)
class ModelView:
    backend: str
    model_id: str
    model_revision: str
    differential: list[dict[str, Any]]
    findings: list[Any]
    image_quality: list[Any]
    answer_text: str
    latency_ms: float


@dataclass(frozen=True)
class CaseDetail:
    id: int
    status: str
    tier: str | None
    triage_tier: str | None
    language: str
    submitted_at: dt.datetime
    waiting: dt.timedelta
    claimed_at: dt.datetime | None
    closed_at: dt.datetime | None
    assigned_id: int | None
    assigned_name: str | None
    patient: dict[str, Any]
    answers: dict[str, Any]
    patient_text: str
    image_ids: list[int]
    deleted_images: int
    decision: DecisionView | None
    model: ModelView | None
    messages: list[tuple[str, str, dt.datetime]]
    tier_override_reason: str | None
    final_diagnosis: str | None
    disposition: str | None
    history: list[tuple[dt.datetime, str, str, dict[str, Any]]] = field(default_factory=list)
    submitted_by: str = ""  # "" for the patient; "<health worker> · patient <ref>" for a health worker's patient

    def held_by(self, clinician: ClinicianView) -> bool:
        return self.assigned_id == clinician.id

    @property
    def closed(self) -> bool:
        return self.status == CaseStatus.CLOSED

    @property
    def claimable(self) -> bool:
        return self.status in CLAIMABLE and self.assigned_id is None


@dataclass(frozen=True)
class ClaimResult:
    case_id: int
    claimed_by: str
    newly_claimed: bool


# -- helpers --------------------------------------------------------------------------------------------
def audit(session: Session, actor: str, action: str, case_id: int | None = None, **details: Any) -> None:
    """Add one audit row (audit rows are only ever inserted)."""
    session.add(AuditEvent(actor=actor, action=action, case_id=case_id, details=details))


def condition_label(key: str) -> str:
    """The readable name of a condition key of CLINICAL.md (the key itself if it has none)."""
    from triage.rules import vocabulary

    info = getattr(vocabulary, "CONDITIONS_BY_KEY", {}).get(key)
    return str(getattr(info, "label", key)) if info is not None else key


def condition_choices() -> list[tuple[str, str, str]]:
    """(key, label, default tier) of every condition key, most urgent tier first, then by label."""
    rank = {tier: i for i, tier in enumerate(TIERS)}
    rows = [(key, condition_label(key), tier) for key, tier in CONDITION_TIERS.items()]
    return sorted(rows, key=lambda r: (rank.get(r[2], 99), r[0] == "other", r[1].lower()))


def _tier_order() -> Any:
    return case({tier: i for i, tier in enumerate(TIERS)}, value=Case.tier, else_=len(TIERS))


def _submitted(case_row: Case) -> dt.datetime:
    return as_utc(case_row.submitted_at or case_row.created_at)


def _maybe_utc(value: dt.datetime | None) -> dt.datetime | None:
    return as_utc(value) if value is not None else None


def _case_for(
    session: Session, actor: ClinicianView, case_id: int, *, lock: bool = False, ref: str | None = None
) -> Case:
    """The case if `actor` may see it; `CaseNotFound` for a missing case, another organisation's, or one the
    patient never sent (being collected, or withdrawn before sending: the words typed so far are theirs alone).
    With `ref` (from a button or link), `StaleReference` when it is not this case's reference."""
    if not 0 < case_id <= MAX_ID:
        raise CaseNotFound(case_id)
    query: Select[Case] = select(Case).where(Case.id == case_id, Case.organisation == actor.organisation)
    if lock:
        query = query.with_for_update()
    found = session.scalar(query)
    if found is None or found.submitted_at is None or found.status == CaseStatus.COLLECTING:
        raise CaseNotFound(case_id)
    if ref is not None and not hmac.compare_digest(ref.encode(), found.public_ref.encode()):
        raise StaleReference(case_id)
    return found


def _names(session: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = session.execute(select(Clinician.id, Clinician.display_name).where(Clinician.id.in_(ids)))
    return {row.id: row.display_name for row in rows}


def _held(session: Session, actor: ClinicianView, case_id: int) -> Case:
    """The case, locked, if `actor` holds it and it is open; otherwise `ReviewConflict` saying why."""
    found = _case_for(session, actor, case_id, lock=True)
    if found.status == CaseStatus.CLOSED:
        raise ReviewConflict("the case is closed")
    if found.status == CaseStatus.WITHDRAWN:
        raise ReviewConflict("the patient withdrew the case")
    if found.assigned_clinician_id != actor.id:
        if found.assigned_clinician_id is None:
            raise ReviewConflict("claim the case first")
        holder = _names(session, {found.assigned_clinician_id}).get(found.assigned_clinician_id, "someone else")
        raise ReviewConflict(f"the case is claimed by {holder}")
    return found


def _text(value: str, *, name: str, limit: int) -> str:
    value = value.replace("\r\n", "\n").strip()
    if not value:
        raise InvalidReview(f"the {name} is empty")
    if len(value) > limit:
        raise InvalidReview(f"the {name} is longer than {limit} characters")
    return value


# -- reading --------------------------------------------------------------------------------------------
def queue(
    factory: sessionmaker[Session], actor: ClinicianView, flt: QueueFilter, *, now: dt.datetime | None = None
) -> Queue:
    """The organisation's cases for the filter: most urgent tier first, then longest waiting; counts per tier."""
    now = now or utcnow()
    base = select(Case).where(Case.organisation == actor.organisation, Case.status.in_(STATUS_FILTERS[flt.status]),
                              Case.submitted_at.is_not(None))
    if flt.scope == "mine":
        base = base.where(Case.assigned_clinician_id == actor.id)
    elif flt.scope == "unclaimed":
        base = base.where(Case.assigned_clinician_id.is_(None))
    if flt.source != "all":
        managed = select(Patient.id).where(Patient.managed_by_id.is_not(None))
        base = base.where(Case.patient_id.in_(managed) if flt.source == "health_workers"
                          else Case.patient_id.not_in(managed))
    with transaction(factory) as session:
        counts = dict.fromkeys(TIERS, 0)
        sub = base.subquery()
        for tier, n in session.execute(select(sub.c.tier, func.count()).group_by(sub.c.tier)):
            if tier in counts:
                counts[tier] = int(n)
        listed = base.where(Case.tier == flt.tier) if flt.tier else base
        rows = list(
            session.scalars(
                listed.order_by(_tier_order(), func.coalesce(Case.submitted_at, Case.created_at), Case.id).limit(
                    QUEUE_LIMIT + 1
                )
            )
        )
        truncated = len(rows) > QUEUE_LIMIT
        rows = rows[:QUEUE_LIMIT]
        names = _names(session, {r.assigned_clinician_id for r in rows if r.assigned_clinician_id is not None})
        model_used = _model_used(session, [r.id for r in rows])
        senders = _senders(session, [r.patient_id for r in rows])
        items = [
            QueueItem(
                id=r.id,
                tier=r.tier,
                status=r.status,
                submitted_at=_submitted(r),
                waiting=(_maybe_utc(r.claimed_at or r.closed_at) or now) - _submitted(r),
                claimed_by=names.get(r.assigned_clinician_id) if r.assigned_clinician_id else None,
                mine=r.assigned_clinician_id == actor.id,
                preview=(r.patient_text or "")[:140],
                model_used=model_used.get(r.id, True),
                submitted_by=senders.get(r.patient_id, ""),
            )
            for r in rows
        ]
        audit(
            session,
            actor.actor,
            "queue.viewed",
            tier=flt.tier,
            status=flt.status,
            scope=flt.scope,
            shown=[i.id for i in items],
        )
    return Queue(items=items, counts=counts, filter=flt, truncated=truncated)


def _senders(session: Session, patient_ids: Sequence[int]) -> dict[int, str]:
    """For each of these patients a health worker manages: "<health worker> · patient <their reference>"."""
    rows = list(session.execute(select(Patient.id, Patient.managed_by_id, Patient.local_ref)
                                .where(Patient.id.in_(set(patient_ids)), Patient.managed_by_id.is_not(None))))
    labels = outreach.worker_labels(session, {r.managed_by_id for r in rows})
    return {r.id: f"{labels.get(r.managed_by_id, 'a health worker')} · patient {r.local_ref}" for r in rows}


def _model_used(session: Session, case_ids: Sequence[int]) -> dict[int, bool]:
    if not case_ids:
        return {}
    rows = session.execute(
        select(TriageDecision.case_id, TriageDecision.model_used)
        .where(TriageDecision.case_id.in_(case_ids))
        .order_by(TriageDecision.id)
    )
    return {row.case_id: bool(row.model_used) for row in rows}


def case_detail(
    factory: sessionmaker[Session], actor: ClinicianView, case_id: int, *, now: dt.datetime | None = None,
    ref: str | None = None,
) -> CaseDetail:
    """Everything a clinician needs to decide, and an audit row `case.viewed`. Raises `CaseNotFound`, and
    `StaleReference` when `ref` (from a link) is given and is not the case's."""
    now = now or utcnow()
    with transaction(factory) as session:
        found = _case_for(session, actor, case_id, ref=ref)
        decisions = list(found.decisions)
        results = list(found.model_results)
        images = list(found.images)
        history_rows = list(
            session.scalars(
                select(AuditEvent)
                .where(AuditEvent.case_id == case_id, AuditEvent.action.not_in(("case.viewed", "image.viewed")))
                .order_by(AuditEvent.id.desc())
                .limit(50)
            )
        )
        ids = {found.assigned_clinician_id} if found.assigned_clinician_id else set()
        ids |= {int(e.actor.split(":", 1)[1]) for e in history_rows if _is_clinician_actor(e.actor)}
        names = _names(session, ids)
        decision = decisions[-1] if decisions else None
        result = results[-1] if results else None
        detail = CaseDetail(
            id=found.id,
            status=found.status,
            tier=found.tier,
            triage_tier=decisions[0].tier if decisions else None,
            language=found.language,
            submitted_at=_submitted(found),
            waiting=(_maybe_utc(found.claimed_at or found.closed_at) or now) - _submitted(found),
            claimed_at=_maybe_utc(found.claimed_at),
            closed_at=_maybe_utc(found.closed_at),
            assigned_id=found.assigned_clinician_id,
            assigned_name=names.get(found.assigned_clinician_id) if found.assigned_clinician_id else None,
            patient=dict((found.answers or {}).get("patient") or {}),
            answers=dict((found.answers or {}).get("answers") or {}),
            patient_text=found.patient_text or "",
            image_ids=[img.id for img in images if img.deleted_at is None],
            deleted_images=sum(1 for img in images if img.deleted_at is not None),
            decision=_decision_view(decision) if decision else None,
            model=_model_view(result) if result else None,
            messages=[(m.role, m.text, m.created_at) for m in found.messages],
            tier_override_reason=found.tier_override_reason,
            final_diagnosis=found.final_diagnosis,
            disposition=found.disposition,
            history=[(e.at, _actor_name(e.actor, names), e.action, dict(e.details or {})) for e in history_rows],
            submitted_by=_senders(session, [found.patient_id]).get(found.patient_id, ""),
        )
        audit(session, actor.actor, "case.viewed", case_id)
    return detail


def _is_clinician_actor(actor: str) -> bool:
    kind, _, rest = actor.partition(":")
    return kind == "clinician" and rest.isdigit()


def _actor_name(actor: str, names: dict[int, str]) -> str:
    if _is_clinician_actor(actor):
        return names.get(int(actor.split(":", 1)[1]), actor)
    return actor.split(":", 1)[0]


def _decision_view(d: TriageDecision) -> DecisionView:
    return DecisionView(d.tier, d.forward_to_clinician, list(d.reasons), d.ruleset_version, d.model_used, d.created_at,
                        list(d.findings or []), d.text_read or "", d.evidence_record_id)


def _model_view(r: ModelResult) -> ModelView:
    return ModelView(
        backend=r.backend,
        model_id=r.model_id,
        model_revision=r.model_revision,
        differential=list(r.differential),
        findings=list(r.findings),
        image_quality=list(r.image_quality),
        answer_text=r.answer_text,
        latency_ms=r.latency_ms,
    )


def image_key(factory: sessionmaker[Session], actor: ClinicianView, case_id: int, image_id: int) -> str:
    """The storage key of one of the case's photos, with an audit row `image.viewed`. Raises `CaseNotFound`."""
    with transaction(factory) as session:
        _case_for(session, actor, case_id)
        if not 0 < image_id <= MAX_ID:
            raise CaseNotFound(case_id)
        key = session.scalar(
            select(CaseImage.storage_key).where(
                CaseImage.id == image_id, CaseImage.case_id == case_id, CaseImage.deleted_at.is_(None)
            )
        )
        if key is None:
            raise CaseNotFound(case_id)
        audit(session, actor.actor, "image.viewed", case_id, image_id=image_id)
        return key


# -- changing -------------------------------------------------------------------------------------------
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
        found = _case_for(session, actor, case_id, ref=ref)
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
        found = _case_for(session, actor, case_id)
        if found.assigned_clinician_id == actor.id and found.status == CaseStatus.CLAIMED:
            return ClaimResult(case_id, actor.display_name, newly_claimed=False)
        if found.assigned_clinician_id is not None and found.status == CaseStatus.CLAIMED:
            holder = _names(session, {found.assigned_clinician_id}).get(found.assigned_clinician_id, "someone else")
            raise ReviewConflict(f"the case is claimed by {holder}")
        raise ReviewConflict(f"a case that is {found.status} cannot be claimed")


def reply(factory: sessionmaker[Session], actor: ClinicianView, case_id: int, text: str) -> int:
    """Send `text` to the patient through the bot (an outbox row) and keep it in the conversation.

    Returns the new message's id. Raises `CaseNotFound`, `ReviewConflict`, `InvalidReview`.
    """
    text = _text(text, name="reply", limit=MAX_REPLY_CHARS)
    with transaction(factory) as session:
        found = _held(session, actor, case_id)
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
    reason = _text(reason, name="reason", limit=MAX_REASON_CHARS)
    with transaction(factory) as session:
        found = _held(session, actor, case_id)
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
        found = _held(session, actor, case_id)
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
        found = _held(session, actor, case_id)
        if not found.disposition:
            raise ReviewConflict("record the diagnosis and disposition before closing")
        now = utcnow()
        found.status = CaseStatus.CLOSED
        found.closed_at = now
        found.updated_at = now
        audit(session, actor.actor, "case.closed", case_id, disposition=found.disposition)


# -- re-alerts (beat) -----------------------------------------------------------------------------------
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
                .order_by(_tier_order(), Case.id)
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
