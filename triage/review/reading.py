"""Reading cases: the queue and the case page (each read audited in the same transaction)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from triage import outreach
from triage.accounts import ClinicianView
from triage.db import transaction
from triage.models import AuditEvent, Case, CaseImage, CaseStatus, ModelResult, Patient, TriageDecision, utcnow
from triage.review.access import (
    CLAIMABLE,
    MAX_ID,
    QUEUE_LIMIT,
    SCOPES,
    SOURCES,
    STATUS_FILTERS,
    CaseNotFound,
    audit,
    case_for,
    clinician_names,
    maybe_utc,
    submitted,
    tier_order,
)
from triage.rules import TIERS


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
                listed.order_by(tier_order(), func.coalesce(Case.submitted_at, Case.created_at), Case.id).limit(
                    QUEUE_LIMIT + 1
                )
            )
        )
        truncated = len(rows) > QUEUE_LIMIT
        rows = rows[:QUEUE_LIMIT]
        names = clinician_names(session, {r.assigned_clinician_id for r in rows
                                          if r.assigned_clinician_id is not None})
        model_used = _model_used(session, [r.id for r in rows])
        senders = _senders(session, [r.patient_id for r in rows])
        items = [
            QueueItem(
                id=r.id,
                tier=r.tier,
                status=r.status,
                submitted_at=submitted(r),
                waiting=(maybe_utc(r.claimed_at or r.closed_at) or now) - submitted(r),
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
        found = case_for(session, actor, case_id, ref=ref)
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
        names = clinician_names(session, ids)
        decision = decisions[-1] if decisions else None
        result = results[-1] if results else None
        detail = CaseDetail(
            id=found.id,
            status=found.status,
            tier=found.tier,
            triage_tier=decisions[0].tier if decisions else None,
            language=found.language,
            submitted_at=submitted(found),
            waiting=(maybe_utc(found.claimed_at or found.closed_at) or now) - submitted(found),
            claimed_at=maybe_utc(found.claimed_at),
            closed_at=maybe_utc(found.closed_at),
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
        case_for(session, actor, case_id)
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

