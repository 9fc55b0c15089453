"""One case as it stands, read once, for the exports: the FHIR bundle (`triage/fhir/`) and the letter
(`triage/letters/`) are pure functions of a `CaseSnapshot`.

Loading checks who may see the case the same way as the case page (`triage.review`): a case of another
organisation, one the patient never sent, or one whose patient was erased is `CaseNotFound`. Every load writes an
audit row in the same transaction as the read. The patient is named by a random pseudonym (given on the first
export and kept), never by the Telegram id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from triage import review
from triage.accounts import ClinicianView, as_utc
from triage.db import transaction
from triage.images import ImageStore
from triage.models import Case, CaseStatus, Clinician, Message, Patient, utcnow


@dataclass(frozen=True)
class Photo:
    image_id: int
    sha256: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    quality: dict[str, Any]
    created_at: dt.datetime
    storage_key: str
    data: bytes | None = None  # None: not loaded (a bundle without photos), or gone from the store


#: The rules' latest decision on the case: the case page's own view of it.
Decision = review.DecisionView


@dataclass(frozen=True)
class ModelOutput:
    backend: str
    model_id: str
    model_revision: str
    differential: list[dict[str, Any]]
    findings: list[Any]
    image_quality: list[Any]
    at: dt.datetime


@dataclass(frozen=True)
class ClinicianNote:
    text: str
    at: dt.datetime


@dataclass(frozen=True)
class CaseSnapshot:
    case_id: int
    case_ref: str  # the case's random reference: only ever hashed into exported ids, never shown
    organisation: str
    language: str
    status: str
    tier: str | None  # the case's tier now (the clinician's, if changed)
    triage_tier: str | None  # the tier the rules gave first
    submitted_at: dt.datetime
    closed_at: dt.datetime | None
    pseudonym: str
    consent_version: str | None
    consented_at: dt.datetime | None
    patient: dict[str, Any]
    answers: dict[str, Any]
    patient_text: str
    photos: tuple[Photo, ...]
    deleted_photos: int
    decision: Decision | None
    model: ModelOutput | None
    clinician_id: int | None
    clinician_name: str | None
    final_diagnosis: str | None
    disposition: str | None
    tier_override_reason: str | None
    latest_reply: ClinicianNote | None
    exported_at: dt.datetime

    @property
    def closed(self) -> bool:
        return self.status == CaseStatus.CLOSED


def _find(session: Session, case_id: int, organisation: str | None) -> Case:
    """The case for a system export (command line, worker): the same refusals as `review.case_for`, with the
    organisation given by the caller (None: any, for the worker's pushes)."""
    if not 0 < case_id <= review.MAX_ID:
        raise review.CaseNotFound(case_id)
    query = select(Case).where(Case.id == case_id)
    if organisation is not None:
        query = query.where(Case.organisation == organisation)
    found = session.scalar(query)
    if found is None or found.submitted_at is None or found.status == CaseStatus.COLLECTING:
        raise review.CaseNotFound(case_id)
    return found


def _pseudonym(session: Session, patient: Patient) -> str:
    """The patient's pseudonym, given now if it has none (a conditional UPDATE: two exports at once agree)."""
    if patient.pseudonym is None:
        session.execute(
            update(Patient).where(Patient.id == patient.id, Patient.pseudonym.is_(None))
            .values(pseudonym=str(uuid.uuid4())).execution_options(synchronize_session=False)
        )
        session.refresh(patient, ["pseudonym"])
    assert patient.pseudonym is not None
    return patient.pseudonym


def _snapshot(session: Session, found: Case, now: dt.datetime) -> CaseSnapshot:
    decisions = list(found.decisions)
    results = list(found.model_results)
    images = list(found.images)
    clinician_name = None
    if found.assigned_clinician_id is not None:
        clinician_name = session.scalar(
            select(Clinician.display_name).where(Clinician.id == found.assigned_clinician_id))
    reply = session.scalar(
        select(Message).where(Message.case_id == found.id, Message.role == "clinician")
        .order_by(Message.id.desc()).limit(1))
    latest = decisions[-1] if decisions else None
    result = results[-1] if results else None
    answers = found.answers or {}
    return CaseSnapshot(
        case_id=found.id,
        case_ref=found.public_ref,
        organisation=found.organisation,
        language=found.language,
        status=found.status,
        tier=found.tier,
        triage_tier=decisions[0].tier if decisions else None,
        submitted_at=as_utc(found.submitted_at or found.created_at),
        closed_at=as_utc(found.closed_at) if found.closed_at else None,
        pseudonym=_pseudonym(session, found.patient),
        consent_version=found.patient.consent_version,
        consented_at=as_utc(found.patient.consented_at) if found.patient.consented_at else None,
        patient=dict(answers.get("patient") or {}),
        answers=dict(answers.get("answers") or {}),
        patient_text=found.patient_text or "",
        photos=tuple(
            Photo(img.id, img.sha256, img.content_type, img.width, img.height, img.size_bytes, dict(img.quality or {}),
                  as_utc(img.created_at), img.storage_key)
            for img in images if img.deleted_at is None
        ),
        deleted_photos=sum(1 for img in images if img.deleted_at is not None),
        decision=Decision(latest.tier, latest.forward_to_clinician, list(latest.reasons), latest.ruleset_version,
                          latest.model_used, as_utc(latest.created_at)) if latest else None,
        model=ModelOutput(result.backend, result.model_id, result.model_revision, list(result.differential),
                          list(result.findings), list(result.image_quality), as_utc(result.created_at))
        if result else None,
        clinician_id=found.assigned_clinician_id,
        clinician_name=clinician_name,
        final_diagnosis=found.final_diagnosis,
        disposition=found.disposition,
        tier_override_reason=found.tier_override_reason,
        latest_reply=ClinicianNote(reply.text, as_utc(reply.created_at)) if reply else None,
        exported_at=now,
    )


def with_photo_data(snapshot: CaseSnapshot, images: ImageStore) -> CaseSnapshot:
    """The snapshot with each photo's bytes decrypted from the store; a photo deleted meanwhile is left without."""
    loaded = []
    for photo in snapshot.photos:
        try:
            data: bytes | None = images.get(photo.storage_key)
        except (FileNotFoundError, ValueError):
            data = None
        loaded.append(replace(photo, data=data))
    return replace(snapshot, photos=tuple(loaded))


def snapshot_of(session: Session, case_id: int, *, now: dt.datetime | None = None) -> CaseSnapshot:
    """The case read in the caller's transaction with no audit row: to compute its version, not to show it."""
    return _snapshot(session, _find(session, case_id, None), now or utcnow())


def for_clinician(
    factory: sessionmaker[Session], actor: ClinicianView, case_id: int, *, action: str,
    now: dt.datetime | None = None, **details: Any,
) -> CaseSnapshot:
    """The case for a clinician of its organisation, with an audit row `action` (e.g. `case.exported`).
    Raises `review.CaseNotFound` exactly where the case page would."""
    now = now or utcnow()
    with transaction(factory) as session:
        found = review.case_for(session, actor, case_id)  # the case page's own check, in one place
        snapshot = _snapshot(session, found, now)
        review.audit(session, actor.actor, action, case_id, **details)
    return snapshot


def for_system(
    factory: sessionmaker[Session], case_id: int, *, actor: str, action: str, organisation: str | None = None,
    now: dt.datetime | None = None, **details: Any,
) -> CaseSnapshot:
    """The case for the command line (`organisation` given) or the worker (any organisation), audited as
    `actor`. Raises `review.CaseNotFound`."""
    now = now or utcnow()
    with transaction(factory) as session:
        snapshot = _snapshot(session, _find(session, case_id, organisation), now)
        review.audit(session, actor, action, case_id, **details)
    return snapshot


def closed_since(factory: sessionmaker[Session], organisation: str, since: dt.datetime) -> list[int]:
    """The ids of the organisation's cases closed at or after `since`, oldest first (a case closed by an older
    release without a closing time counts from its last change)."""
    closed_at = func.coalesce(Case.closed_at, Case.updated_at)
    with factory() as session:
        return list(session.scalars(
            select(Case.id).where(Case.organisation == organisation, Case.status == CaseStatus.CLOSED,
                                  closed_at >= since).order_by(closed_at, Case.id)))
