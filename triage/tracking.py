"""Tracked lesions: a spot, mole or growth followed with a new photo now and then, and the reminders that ask for it.

A lesion is followed from a case's result (the patient, or a health worker for their patient, taps "Follow this
spot") or because a clinician asks for it in the inbox (`triage.lesion_review`). Its first visit is that case; each
new photo is a new case carrying the lesion's id, which the worker measures against the visit before
(`triage.lesion_visits`). After every visit the next photo is due `interval_days` later (INTERVALS, unless a
clinician set the interval), in UTC.

Reminders are queued by the beat job (`queue_due_reminders`, with the clock passed in): one outbox row per
(lesion, due time), whose dedupe key is the due time itself, so a second beat run, a restarted beat or two beats at
once queue nothing more. A paused lesion gets none until it is resumed; a stopped one none at all; erasing the
patient erases their lesions (a foreign key's cascade) and the reminders queued for them (their chat's rows, or,
for a health worker's patient, the rows of the patient's cases).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from triage import dispatch
from triage.db import transaction
from triage.models import (
    AuditEvent,
    Case,
    CaseStatus,
    LesionStatus,
    Outbox,
    OutboxStatus,
    Patient,
    TrackedLesion,
    utcnow,
)
from triage.outbox import enqueue
from triage.rules import BODY_SITES
from triage.untrusted import clean_text

# The next photo is due this many days after a visit, from the visit's tier (docs: bot/README.md "Following a
# spot"). A measured change, or a clinician asking for a re-check, means four weeks.
INTERVALS: dict[str, int] = {"emergency": 28, "urgent": 28, "soon": 28, "routine": 56, "self_care": 91}
CHANGED_DAYS = 28
CLINICIAN_DEFAULT_DAYS = 28
MIN_DAYS, MAX_DAYS = 7, 365
MAX_NAME = 60
LISTED = (LesionStatus.ACTIVE, LesionStatus.PAUSED)
VISIT_STATUSES = (CaseStatus.TRIAGED, CaseStatus.FORWARDED, CaseStatus.CLAIMED, CaseStatus.CLOSED,
                  CaseStatus.FAILED_MODEL)
REMINDER_PRIORITY = 6  # after answers and alerts: a reminder can wait for a minute
MEASURE_TASK = "triage.measure_lesion_visit"


def measure_key(case_id: int) -> str:
    return f"measure:{case_id}"


class TrackingError(Exception):
    """Refused: `code` says why (`not_found`, `bad_name`, `bad_site`, `bad_interval`, `already_tracked`,
    `not_triaged`, `stopped`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class LesionView:
    id: int
    patient_id: int
    patient_ref: str  # a health worker's reference for the patient ('' for a patient writing for themselves)
    name: str
    body_site: str | None
    status: str
    interval_days: int
    interval_source: str
    next_due_at: dt.datetime | None
    last_visit_at: dt.datetime | None
    visits: int
    language: str

    @property
    def paused(self) -> bool:
        return self.status == LesionStatus.PAUSED


def interval_for(tier: str | None, *, measured_change: bool) -> int:
    """Days to the next photo after a visit of `tier` (CHANGED_DAYS when a change was measured)."""
    if measured_change:
        return CHANGED_DAYS
    return INTERVALS.get(tier or "", INTERVALS["routine"])


def clean_name(text: str) -> str:
    """A lesion's name as typed ("mole on left shoulder"), tidied; `TrackingError("bad_name")` when empty or longer
    than MAX_NAME characters."""
    name = " ".join(clean_text(text).split())
    if not name or len(name) > MAX_NAME:
        raise TrackingError("bad_name")
    return name


def check_interval(days: int) -> int:
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise TrackingError("bad_interval")
    return days


def check_site(site: str | None) -> str | None:
    if site is not None and site not in BODY_SITES:
        raise TrackingError("bad_site")
    return site


def reminder_key(lesion_id: int, due: dt.datetime) -> str:
    """The reminder's outbox dedupe key: the lesion and its due time in UTC (the same instant in any time zone)."""
    return f"lesion:{lesion_id}:reminder:{due.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}"


def addressing(patient: Patient) -> dict[str, Any]:
    """What a message about a patient needs to say who it is for (a health worker's patient: their reference)."""
    return {"audience": "chw", "patient_ref": patient.local_ref or ""} if patient.managed_by_id is not None else {}


# -- reading ----------------------------------------------------------------------------------------------------
def _visits(session: Session, lesion_id: int) -> list[Case]:
    return list(session.scalars(select(Case).where(Case.lesion_id == lesion_id, Case.status.in_(VISIT_STATUSES))
                                .order_by(Case.id)))


def _visit_count(session: Session, lesion_id: int) -> int:
    return int(session.scalar(select(func.count()).select_from(Case).where(
        Case.lesion_id == lesion_id, Case.status.in_(VISIT_STATUSES))) or 0)


def visit_number(session: Session, lesion_id: int, case_id: int) -> int:
    """Which visit of the lesion `case_id` is (1 for the first)."""
    return int(session.scalar(select(func.count()).select_from(Case).where(
        Case.lesion_id == lesion_id, Case.id <= case_id, Case.status.in_(VISIT_STATUSES))) or 0)


def _view(session: Session, lesion: TrackedLesion) -> LesionView:
    patient = session.get_one(Patient, lesion.patient_id)
    return LesionView(lesion.id, lesion.patient_id, patient.local_ref or "", lesion.name, lesion.body_site,
                      lesion.status, lesion.interval_days, lesion.interval_source, lesion.next_due_at,
                      lesion.last_visit_at, _visit_count(session, lesion.id), patient.language)


def _people(session: Session, person_id: int) -> list[int]:
    """The person and the patients they manage (a health worker's)."""
    return [person_id, *session.scalars(select(Patient.id).where(Patient.managed_by_id == person_id))]


def _own_lesion(session: Session, person_id: int, lesion_id: int) -> TrackedLesion:
    lesion = session.get(TrackedLesion, lesion_id) if 0 < lesion_id < 2**31 else None
    if lesion is None or lesion.patient_id not in _people(session, person_id):
        raise TrackingError("not_found")
    return lesion


def lesions_of(factory: sessionmaker[Session], person_id: int, limit: int = 20) -> list[LesionView]:
    """The lesions the person follows (a health worker: those of their patients), active and paused, newest
    first."""
    with factory() as session:
        rows = session.scalars(select(TrackedLesion).where(TrackedLesion.patient_id.in_(_people(session, person_id)),
                                                           TrackedLesion.status.in_(LISTED))
                               .order_by(TrackedLesion.id.desc()).limit(limit))
        return [_view(session, lesion) for lesion in rows]


def lesion_for_visit(factory: sessionmaker[Session], person_id: int, lesion_id: int) -> LesionView:
    """The person's lesion, for a new photo. Raises `TrackingError` (`not_found`, `stopped`)."""
    with factory() as session:
        lesion = _own_lesion(session, person_id, lesion_id)
        if lesion.status == LesionStatus.STOPPED:
            raise TrackingError("stopped")
        return _view(session, lesion)


def visit_answers(session: Session, lesion_id: int, subject_id: int) -> dict[str, Any] | None:
    """A new visit's answers taken from the lesion's latest visit (the patient's facts, the spot's site, a single
    spot), and the steps not asked again (`fixed`); None when `lesion_id` is not the subject's lesion to visit."""
    lesion = session.get(TrackedLesion, lesion_id)
    if lesion is None or lesion.patient_id != subject_id or lesion.status == LesionStatus.STOPPED:
        return None
    visits = _visits(session, lesion.id)
    before = dict((visits[-1].answers or {}).get("patient") or {}) if visits else {}
    patient = {k: before[k] for k in ("age_years", "age_answer", "sex", "skin_type") if k in before}
    given: dict[str, Any] = {"symptoms": [], "extent": "single_spot"}
    if lesion.body_site:
        given["body_sites"] = [lesion.body_site]
        if lesion.body_site == "near_eye":
            given["symptoms"] = ["near_eye"]
    fixed = [step for step, present in (("age", "age_years" in patient), ("body_sites", bool(lesion.body_site)),
                                        ("extent", True), ("skin_type", "skin_type" in patient)) if present]
    return {"patient": patient, "answers": given, "fixed": fixed}


# -- changing: the patient's side ---------------------------------------------------------------------------------
def _own_case(session: Session, person_id: int, case_id: int) -> Case:
    case = session.get(Case, case_id) if 0 < case_id < 2**31 else None
    if case is None or case.patient_id not in _people(session, person_id):
        raise TrackingError("not_found")
    return case


def start(session: Session, case: Case, *, name: str, site: str | None, days: int, source: str, actor: str,
          now: dt.datetime) -> TrackedLesion:
    """Follow the lesion of `case` (its first visit) from now on: the next photo is due `days` after the case's
    result. Raises `TrackingError` (`already_tracked`, `not_triaged`, and those of the name, site and interval)."""
    if case.lesion_id is not None:
        raise TrackingError("already_tracked")
    if case.status not in VISIT_STATUSES or case.tier is None:
        raise TrackingError("not_triaged")
    visited = case.triaged_at or case.submitted_at or now
    lesion = TrackedLesion(patient_id=case.patient_id, organisation=case.organisation, name=clean_name(name),
                           body_site=check_site(site), status=LesionStatus.ACTIVE, interval_days=check_interval(days),
                           interval_source=source, next_due_at=max(visited + dt.timedelta(days=days), now),
                           created_by=actor, created_at=now, updated_at=now, last_visit_at=visited)
    session.add(lesion)
    session.flush()
    case.lesion_id = lesion.id
    # The first visit's photos are measured now, by a worker, so the next photo has something to compare with.
    dispatch.queue_task(session, MEASURE_TASK, [case.id], measure_key(case.id))
    session.add(AuditEvent(actor=actor, action="lesion.followed", case_id=case.id,
                           details={"lesion": lesion.id, "interval_days": days, "source": source}))
    return lesion


def follow_case(factory: sessionmaker[Session], *, person_id: int, case_id: int, name: str, site: str | None,
                now: dt.datetime | None = None) -> LesionView:
    """Follow the lesion of one of the person's cases (or of their patient's); the interval comes from the case's
    tier. Raises `TrackingError`."""
    now = now or utcnow()
    with transaction(factory) as session:
        case = _own_case(session, person_id, case_id)
        lesion = start(session, case, name=name, site=site, days=interval_for(case.tier, measured_change=False),
                       source="decision", actor=f"patient:{person_id}", now=now)
        return _view(session, lesion)


def case_sites(factory: sessionmaker[Session], person_id: int, case_id: int) -> list[str]:
    """The body sites the person answered for their case (to ask where the spot is). Raises `TrackingError`."""
    with factory() as session:
        case = _own_case(session, person_id, case_id)
        if case.lesion_id is not None:
            raise TrackingError("already_tracked")
        return [s for s in (case.answers or {}).get("answers", {}).get("body_sites", []) if s in BODY_SITES]


def _drop_pending_reminders(session: Session, lesion: TrackedLesion) -> None:
    session.execute(delete(Outbox).where(Outbox.dedupe_key.like(f"lesion:{lesion.id}:reminder:%"),
                                         Outbox.status == OutboxStatus.PENDING))
    lesion.reminded_for = None


def set_status(factory: sessionmaker[Session], person_id: int, lesion_id: int, status: str, *,
               actor: str | None = None, now: dt.datetime | None = None) -> LesionView:
    """Pause, resume or stop the reminders of the person's lesion. Pausing or stopping also takes back a reminder
    queued and not yet sent. A resumed lesion keeps its schedule: a due time passed meanwhile is reminded of at the
    beat's next run. Raises `TrackingError` (`not_found`; `stopped` to pause or resume a stopped one)."""
    now = now or utcnow()
    with transaction(factory) as session:
        lesion = _own_lesion(session, person_id, lesion_id)
        if lesion.status == LesionStatus.STOPPED and status != LesionStatus.STOPPED:
            raise TrackingError("stopped")
        apply_status(session, lesion, status, actor=actor or f"patient:{person_id}", now=now)
        return _view(session, lesion)


def apply_status(session: Session, lesion: TrackedLesion, status: str, *, actor: str, now: dt.datetime) -> None:
    """Set the lesion's status in the caller's transaction, with its audit row."""
    if status not in LesionStatus.__members__.values():
        raise ValueError(f"unknown lesion status {status!r}")
    if status != LesionStatus.ACTIVE:
        _drop_pending_reminders(session, lesion)
    if status == LesionStatus.STOPPED:
        lesion.next_due_at = None
    previous, lesion.status, lesion.updated_at = lesion.status, status, now
    action = {"active": "lesion.resumed", "paused": "lesion.paused"}.get(str(status), "lesion.stopped")
    session.add(AuditEvent(actor=actor, action=action, case_id=latest_case_id(session, lesion.id),
                           details={"lesion": lesion.id, "previous": previous}))


def reschedule(session: Session, lesion: TrackedLesion, days: int, *, source: str, now: dt.datetime) -> None:
    """A new interval for the lesion: the next photo is due `days` after its last visit, and not before `now`; a
    reminder queued for the old due time is taken back."""
    lesion.interval_days = check_interval(days)
    lesion.interval_source = source
    _drop_pending_reminders(session, lesion)
    if lesion.status != LesionStatus.STOPPED:
        lesion.next_due_at = max((lesion.last_visit_at or now) + dt.timedelta(days=days), now)
    lesion.updated_at = now


def latest_case_id(session: Session, lesion_id: int) -> int | None:
    return session.scalar(select(func.max(Case.id)).where(Case.lesion_id == lesion_id,
                                                          Case.status.in_(VISIT_STATUSES)))


# -- the worker: a visit recorded ---------------------------------------------------------------------------------
def record_visit(session: Session, lesion_id: int, case_id: int, *, tier: str, measured_change: bool,
                 now: dt.datetime) -> dict[str, Any] | None:
    """After a visit's result (in the worker's transaction): the lesion's next photo is due again, from now, and a
    reminder of an earlier due time no longer applies. Returns what the result message says about the lesion
    (name, visit number, next due time), None when the lesion is gone."""
    lesion = session.get(TrackedLesion, lesion_id)
    if lesion is None:
        return None
    if not lesion.interval_source.startswith("clinician:"):
        lesion.interval_days = interval_for(tier, measured_change=measured_change)
    _drop_pending_reminders(session, lesion)
    lesion.last_visit_at = now
    lesion.updated_at = now
    if lesion.status != LesionStatus.STOPPED:
        lesion.next_due_at = now + dt.timedelta(days=lesion.interval_days)
    return {"id": lesion.id, "name": lesion.name, "visit": visit_number(session, lesion.id, case_id),
            "next_due": lesion.next_due_at.isoformat() if lesion.next_due_at and lesion.status == "active" else "",
            "paused": lesion.status == LesionStatus.PAUSED}


# -- the beat job -------------------------------------------------------------------------------------------------
def queue_due_reminders(factory: sessionmaker[Session], *, now: dt.datetime | None = None, limit: int = 500
                        ) -> list[int]:
    """Queue a reminder for every active lesion whose next photo is due by `now` and that has not been reminded of
    that due time. Returns the ids of the lesions reminded. Safe to run again, or twice at once: the lesion is
    marked with a conditional UPDATE, and the outbox row's key is (lesion, due time)."""
    now = (now or utcnow()).astimezone(dt.UTC)
    with factory() as session:
        due = list(session.execute(
            select(TrackedLesion.id, TrackedLesion.next_due_at)
            .where(TrackedLesion.status == LesionStatus.ACTIVE, TrackedLesion.next_due_at <= now)
            .order_by(TrackedLesion.next_due_at).limit(limit)))
    reminded = []
    for lesion_id, due_at in due:
        if due_at is not None and _remind_one(factory, lesion_id, due_at, now):
            reminded.append(lesion_id)
    return reminded


def _remind_one(factory: sessionmaker[Session], lesion_id: int, due_at: dt.datetime, now: dt.datetime) -> bool:
    with transaction(factory) as session:
        unreminded = (TrackedLesion.reminded_for.is_(None)) | (TrackedLesion.reminded_for != due_at)
        marked = session.execute(
            update(TrackedLesion)
            .where(TrackedLesion.id == lesion_id, TrackedLesion.status == LesionStatus.ACTIVE,
                   TrackedLesion.next_due_at == due_at, unreminded)
            .values(reminded_for=due_at).execution_options(synchronize_session=False))
        if marked.rowcount != 1:  # type: ignore[attr-defined]
            return False
        lesion = session.get_one(TrackedLesion, lesion_id)
        patient = session.get_one(Patient, lesion.patient_id)
        case_id = latest_case_id(session, lesion.id)
        visit = _visit_count(session, lesion.id) + 1
        added = enqueue(session, kind="lesion_reminder", chat_id=patient.chat_id, case_id=case_id,
                        dedupe_key=reminder_key(lesion.id, due_at), priority=REMINDER_PRIORITY,
                        payload={"lesion_id": lesion.id, "name": lesion.name, "visit": visit,
                                 "language": patient.language, **addressing(patient)})
        if added:
            session.add(AuditEvent(actor="beat", action="lesion.reminded", case_id=case_id,
                                   details={"lesion": lesion.id, "due": due_at.isoformat(), "visit": visit}))
        return added


def kept_photo_cases() -> Any:
    """The cases whose photos the retention job keeps: visits of a lesion still followed (active or paused), so
    that the next photo can be compared with them and a clinician can see them side by side."""
    return select(Case.id).join(TrackedLesion, TrackedLesion.id == Case.lesion_id).where(
        TrackedLesion.status.in_(LISTED))
