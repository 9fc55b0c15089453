"""The patient side of the case workflow, as small synchronous functions over a session factory.

The bot calls these through `asyncio.to_thread`, so the event loop never waits on the database. Each function
is one transaction: a case is either stored whole (row, image, status) or not at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from triage.db import transaction
from triage.images import CleanImage, ImageStore
from triage.models import AuditEvent, Case, CaseImage, CaseStatus, Message, Outbox, Patient, utcnow

OPEN_STATUSES = (CaseStatus.COLLECTING, CaseStatus.QUEUED, CaseStatus.ANALYZING)


@dataclass(frozen=True)
class PatientView:
    """What a handler needs to know about the patient, detached from any session."""

    id: int
    language: str
    consented: bool
    state: str
    data: dict[str, Any]


def _view(patient: Patient) -> PatientView:
    return PatientView(
        patient.id,
        patient.language,
        patient.consented_at is not None,
        patient.conversation_state,
        dict(patient.conversation_data or {}),
    )


def get_patient(factory: sessionmaker[Session], telegram_user_id: int) -> PatientView | None:
    with factory() as session:
        patient = session.scalar(select(Patient).where(Patient.telegram_user_id == telegram_user_id))
        return _view(patient) if patient else None


def record_consent(
    factory: sessionmaker[Session], *, telegram_user_id: int, chat_id: int, language: str, consent_version: str
) -> PatientView:
    """Create or update the patient with consent given now. Nothing is stored for a patient who declines."""
    with transaction(factory) as session:
        patient = session.scalar(select(Patient).where(Patient.telegram_user_id == telegram_user_id))
        if patient is None:
            patient = Patient(telegram_user_id=telegram_user_id, chat_id=chat_id, conversation_data={})
            session.add(patient)
        patient.chat_id = chat_id
        patient.language = language
        patient.consent_version = consent_version
        patient.consented_at = utcnow()
        patient.conversation_state = "awaiting_photo"
        patient.updated_at = utcnow()
        session.flush()
        session.add(
            AuditEvent(actor=f"patient:{patient.id}", action="consent.given", details={"version": consent_version})
        )
        return _view(patient)


def set_state(factory: sessionmaker[Session], patient_id: int, state: str, data: dict[str, Any] | None = None) -> None:
    with transaction(factory) as session:
        patient = session.get_one(Patient, patient_id)
        patient.conversation_state = state
        if data is not None:
            patient.conversation_data = data
        patient.updated_at = utcnow()


def submit_photo_case(
    factory: sessionmaker[Session],
    store: ImageStore,
    *,
    patient_id: int,
    image: CleanImage,
    text: str,
    answers: dict[str, Any],
    language: str,
    organisation: str = "default",
    telegram_file_unique_id: str | None = None,
) -> int:
    """Store the image (encrypted) and a queued case in one go. Returns the case id.

    The image file is written first; if the transaction then fails, the file is removed again, so nothing is
    left half stored. The caller sends `analyze_case` only after this returns (the case is committed).
    """
    key = store.put(image.data)
    try:
        with transaction(factory) as session:
            now = utcnow()
            case = Case(
                patient_id=patient_id,
                status=CaseStatus.QUEUED,
                language=language,
                answers=answers,
                patient_text=text,
                submitted_at=now,
                created_at=now,
                updated_at=now,
            )
            session.add(case)
            session.flush()
            session.add(
                CaseImage(
                    case_id=case.id,
                    storage_key=key,
                    sha256=image.sha256,
                    content_type=image.content_type,
                    width=image.width,
                    height=image.height,
                    size_bytes=len(image.data),
                    quality=dict(image.quality),
                    telegram_file_unique_id=telegram_file_unique_id,
                )
            )
            if text:
                session.add(Message(case_id=case.id, role="patient", text=text))
            patient = session.get_one(Patient, patient_id)
            patient.conversation_state = "waiting_result"
            patient.conversation_data = {"case_id": case.id}
            patient.updated_at = now
            session.add(
                AuditEvent(
                    actor=f"patient:{patient_id}", action="case.submitted", case_id=case.id, details={"images": 1}
                )
            )
            return case.id
    except BaseException:
        store.delete(key)
        raise


def first_image_key(factory: sessionmaker[Session], case_id: int) -> str | None:
    with factory() as session:
        return session.scalar(
            select(CaseImage.storage_key)
            .where(CaseImage.case_id == case_id, CaseImage.deleted_at.is_(None))
            .order_by(CaseImage.id)
            .limit(1)
        )


def case_summary(factory: sessionmaker[Session], case_id: int) -> dict[str, Any] | None:
    """The key facts of a case for a clinician alert: answers, text, status."""
    with factory() as session:
        case = session.get(Case, case_id)
        if case is None:
            return None
        return {
            "id": case.id,
            "status": case.status,
            "tier": case.tier,
            "answers": dict(case.answers),
            "text": case.patient_text,
            "language": case.language,
        }


def erase_patient(factory: sessionmaker[Session], store: ImageStore, telegram_user_id: int) -> int | None:
    """Erase everything stored about a patient: image files, cases and all that hangs off them, pending
    messages, conversation state. Returns how many cases were erased, or None if nothing was stored.

    Image files go first: if the database step then fails, the patient can ask again and nothing of the
    photos is left in between. The audit trail keeps one row saying that an erasure happened, with no content.
    """
    with factory() as session:
        patient = session.scalar(select(Patient).where(Patient.telegram_user_id == telegram_user_id))
        if patient is None:
            return None
        keys = list(session.scalars(select(CaseImage.storage_key).join(Case).where(Case.patient_id == patient.id)))
    for key in keys:
        store.delete(key)
    with transaction(factory) as session:
        patient = session.scalar(select(Patient).where(Patient.telegram_user_id == telegram_user_id))
        if patient is None:
            return 0
        count = len(patient.cases)
        session.execute(delete(Outbox).where(Outbox.chat_id == patient.chat_id))
        session.delete(patient)
        session.add(AuditEvent(actor="patient:erased", action="patient.erased", details={"cases": count}))
        return count
