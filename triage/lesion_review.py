"""A tracked lesion as clinicians see and steer it in the inbox: its timeline (every visit side by side, with what
was measured and answered and the tier of each), asking a patient to follow a lesion, and setting or stopping
the reminders' interval.

The case a clinician acts from is checked as on the case page (`review.case_for`: another organisation's case is
`CaseNotFound`); visits of the lesion held in another organisation's inbox (the patient moved) are counted, never
shown. Every read and change writes an audit row in its transaction; a change the patient should know of is told
to them through the outbox (`lesion_notice`).
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from triage import review, tracking
from triage.accounts import ClinicianView, as_utc
from triage.db import transaction
from triage.models import Case, CaseStatus, LesionStatus, Patient, TrackedLesion, utcnow
from triage.outbox import enqueue

MOLE_QUESTIONS = ("changing_size", "changing_shape", "changing_colour", "diameter_7mm_or_more", "change_in_sensation")
INTERVAL_CHOICES = (14, 28, 56, 91, 182, 365)
_REFUSALS = {
    "bad_name": "the lesion needs a name of 1 to 60 characters",
    "bad_site": "choose the body site from the list",
    "bad_interval": f"the interval must be {tracking.MIN_DAYS} to {tracking.MAX_DAYS} days",
    "not_triaged": "the case has no result yet",
    "already_tracked": "this case's lesion is already tracked",
}


@dataclass(frozen=True)
class Visit:
    case_id: int
    number: int
    at: dt.datetime
    tier: str | None
    triage_tier: str | None
    image_ids: list[int]
    deleted_images: int
    photo: dict[str, Any] | None  # the measurement record of the visit's best photo (`triage.lesion_visits`)
    change: dict[str, Any] | None  # per feature: verdict, [change, ±band, unit], detail
    problem: str | None
    answers: dict[str, str]  # each mole question: "yes", "no" or "not sure"
    current: bool


@dataclass(frozen=True)
class Timeline:
    id: int
    name: str
    body_site: str | None
    status: str
    interval_days: int
    interval_source: str
    next_due_at: dt.datetime | None
    created_by: str
    visits: list[Visit]
    elsewhere: int  # visits in another organisation's inbox, not shown

    @property
    def set_by_clinician(self) -> bool:
        return self.interval_source.startswith("clinician:")


def _answers(case: Case) -> dict[str, str]:
    given = (case.answers or {}).get("answers") or {}
    said, skipped = set(given.get("symptoms") or []), set(given.get("skipped") or [])
    return {q: "yes" if q in said else "not sure" if q in skipped else "no" for q in MOLE_QUESTIONS}


def _visit(case: Case, number: int, current: bool) -> Visit:
    record = case.lesion_measurement or {}
    photo = record.get("photo") if isinstance(record.get("photo"), dict) else None
    change = record.get("change") if isinstance(record.get("change"), dict) else None
    images = list(case.images)
    return Visit(case.id, number, as_utc(case.submitted_at or case.created_at), case.tier,
                 case.decisions[0].tier if case.decisions else None,
                 [img.id for img in images if img.deleted_at is None],
                 sum(1 for img in images if img.deleted_at is not None), photo, change,
                 str(record["problem"]) if record.get("problem") else None, _answers(case), current)


def timeline(factory: sessionmaker[Session], actor: ClinicianView, case_id: int) -> Timeline | None:
    """The lesion of the case as a timeline, oldest visit first; None when the case's lesion is not tracked.
    Raises `review.CaseNotFound` as the case page does."""
    with transaction(factory) as session:
        found = review.case_for(session, actor, case_id)
        lesion = session.get(TrackedLesion, found.lesion_id) if found.lesion_id is not None else None
        if lesion is None:
            return None
        cases = list(session.scalars(select(Case).where(Case.lesion_id == lesion.id,
                                                        Case.status.in_(tracking.VISIT_STATUSES)).order_by(Case.id)))
        visits = [_visit(c, n, c.id == case_id) for n, c in enumerate(cases, 1) if c.organisation == actor.organisation]
        review.audit(session, actor.actor, "lesion.viewed", case_id, lesion=lesion.id,
                     visits=[v.case_id for v in visits])
        return Timeline(lesion.id, lesion.name, lesion.body_site, lesion.status, lesion.interval_days,
                        lesion.interval_source, lesion.next_due_at, lesion.created_by, visits,
                        len(cases) - len(visits))


# -- changing -------------------------------------------------------------------------------------------------------
def _notify(session: Session, lesion: TrackedLesion, case_id: int, actor: ClinicianView, event: str) -> None:
    """Tell the patient (or their health worker) what a clinician changed."""
    patient = session.get_one(Patient, lesion.patient_id)
    enqueue(session, kind="lesion_notice", chat_id=patient.chat_id, case_id=case_id,
            dedupe_key=f"lesion:{lesion.id}:notice:{uuid.uuid4()}", priority=tracking.REMINDER_PRIORITY,
            payload={"event": event, "name": lesion.name, "clinician": actor.display_name,
                     "next_due": lesion.next_due_at.isoformat() if lesion.next_due_at else "",
                     "language": patient.language, **tracking.addressing(patient)})


def _open_case(session: Session, actor: ClinicianView, case_id: int) -> Case:
    found = review.case_for(session, actor, case_id, lock=True)
    if found.status == CaseStatus.WITHDRAWN:
        raise review.ReviewConflict("the patient withdrew the case")
    return found


def _refused(error: tracking.TrackingError) -> Exception:
    message = _REFUSALS.get(error.code, "this is not possible now")
    return review.InvalidReview(message) if error.code.startswith("bad_") else review.ReviewConflict(message)


def ask_to_track(factory: sessionmaker[Session], actor: ClinicianView, case_id: int, name: str, site: str,
                 days: int, *, now: dt.datetime | None = None) -> int:
    """Follow the lesion of the case from now on, at the clinician's interval, and ask the patient to (a message
    through the bot). Returns the lesion's id. Raises `CaseNotFound`, `ReviewConflict`, `InvalidReview`."""
    now = now or utcnow()
    with transaction(factory) as session:
        found = _open_case(session, actor, case_id)
        try:
            lesion = tracking.start(session, found, name=name, site=site or None, days=days,
                                    source=f"clinician:{actor.id}", actor=actor.actor, now=now)
        except tracking.TrackingError as error:
            raise _refused(error) from None
        _notify(session, lesion, case_id, actor, "requested")
        return lesion.id


def _tracked(session: Session, actor: ClinicianView, case_id: int) -> tuple[Case, TrackedLesion]:
    found = _open_case(session, actor, case_id)
    lesion = session.get(TrackedLesion, found.lesion_id) if found.lesion_id is not None else None
    if lesion is None:
        raise review.ReviewConflict("this case's lesion is not tracked: ask the patient to track it first")
    return found, lesion


def set_interval(factory: sessionmaker[Session], actor: ClinicianView, case_id: int, days: int, *,
                 now: dt.datetime | None = None) -> None:
    """Set the lesion's interval (kept at later visits): the next photo is due `days` after the last visit, and not
    before now. Restarts stopped reminders; leaves paused ones paused (the patient paused them)."""
    now = now or utcnow()
    with transaction(factory) as session:
        _case, lesion = _tracked(session, actor, case_id)
        try:
            tracking.check_interval(days)
        except tracking.TrackingError as error:
            raise _refused(error) from None
        previous = lesion.interval_days
        if lesion.status == LesionStatus.STOPPED:
            tracking.apply_status(session, lesion, LesionStatus.ACTIVE, actor=actor.actor, now=now)
        tracking.reschedule(session, lesion, days, source=f"clinician:{actor.id}", now=now)
        review.audit(session, actor.actor, "lesion.interval_set", case_id, lesion=lesion.id, previous=previous,
                     interval_days=days)
        _notify(session, lesion, case_id, actor, "interval")


def stop_reminders(factory: sessionmaker[Session], actor: ClinicianView, case_id: int, *,
                   now: dt.datetime | None = None) -> None:
    """Stop the lesion's reminders (a reminder queued and not sent is taken back) and tell the patient."""
    now = now or utcnow()
    with transaction(factory) as session:
        _case, lesion = _tracked(session, actor, case_id)
        if lesion.status == LesionStatus.STOPPED:
            raise review.ReviewConflict("the reminders are already stopped")
        tracking.apply_status(session, lesion, LesionStatus.STOPPED, actor=actor.actor, now=now)
        _notify(session, lesion, case_id, actor, "stopped")
