"""The patient side of the case workflow, as small synchronous functions over a session factory.

The bot calls these through its thread pool, so the event loop never waits on the database. Each function is
one transaction, and the patient's place in the conversation (`Patient.conversation_state` and `_data`) is
written in the same transaction as the change it follows: a restart resumes exactly there.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, Update, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session, sessionmaker

from triage import dispatch, tracking
from triage.db import engine_of, one_statement, transaction, writing
from triage.images import CleanImage, ImageStore
from triage.models import (
    AuditEvent,
    Case,
    CaseImage,
    CaseStatus,
    Message,
    Outbox,
    OutboxStatus,
    Patient,
    PersonRole,
    utcnow,
)
from triage.outbox import enqueue

MAX_IMAGES = 3
SUBJECT_KEYS = ("subject", "ref")  # what a health worker's conversation carries from state to state
OPEN_STATUSES = (CaseStatus.COLLECTING, CaseStatus.QUEUED, CaseStatus.ANALYZING)


class TooManyImages(Exception):
    """The case already has `MAX_IMAGES` photos."""


class DuplicateImage(Exception):
    """This very photo (Telegram's `file_unique_id`) is already in the case: a delivery repeated."""


@dataclass(frozen=True)
class PatientView:
    """Who is at the keyboard, detached from any session: a patient, or a community health worker.

    `subject_id` is the person whose case the conversation is about: the patient themselves, or the managed patient
    a health worker has chosen (`data["subject"]`; None until they choose one).
    """

    id: int
    language: str
    consented: bool
    state: str
    data: dict[str, Any]
    role: str = PersonRole.PATIENT
    organisation: str = "default"

    @property
    def case_id(self) -> int | None:
        value = self.data.get("case_id")
        return int(value) if isinstance(value, int) else None

    @property
    def is_health_worker(self) -> bool:
        return self.role == PersonRole.HEALTH_WORKER

    @property
    def subject_ref(self) -> str:
        """The health worker's reference for the patient they are working on ('' for a patient)."""
        return str(self.data.get("ref", "")) if self.is_health_worker else ""

    @property
    def subject_id(self) -> int | None:
        if not self.is_health_worker:
            return self.id
        value = self.data.get("subject")
        return int(value) if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class CaseView:
    id: int
    status: str
    tier: str | None
    answers: dict[str, Any]
    text: str
    image_count: int
    image_verdicts: list[str]
    created_at: dt.datetime
    forwarded: bool


def _view(patient: Patient) -> PatientView:
    return PatientView(patient.id, patient.language, patient.consented_at is not None,
                       patient.conversation_state, dict(patient.conversation_data or {}), patient.role,
                       patient.organisation)


def _case_view(case: Case) -> CaseView:
    images = [img for img in case.images if img.deleted_at is None]
    return CaseView(case.id, case.status, case.tier, dict(case.answers), case.patient_text, len(images),
                    [str(img.quality.get("verdict", "good")) for img in images], case.created_at, case.forwarded)


def _set_state(patient: Patient, state: str, data: dict[str, Any] | None) -> None:
    """Move the person to `state`; a health worker keeps the patient they are working on (`subject`, `ref`)."""
    patient.conversation_state = state
    if data is not None:
        if patient.role == PersonRole.HEALTH_WORKER:
            old = patient.conversation_data or {}
            data = {**{k: old[k] for k in SUBJECT_KEYS if k in old}, **data}
        patient.conversation_data = data
    patient.updated_at = utcnow()


# The patient's view and the current case's answers as Core columns: these reads run on every update.
_PATIENTS, _CASES = cast(Table, Patient.__table__), cast(Table, Case.__table__)
_PATIENT_COLUMNS = (_PATIENTS.c.id, _PATIENTS.c.language, _PATIENTS.c.consented_at, _PATIENTS.c.conversation_state,
                    _PATIENTS.c.conversation_data, _PATIENTS.c.role, _PATIENTS.c.organisation)
_VIEW_WIDTH = len(_PATIENT_COLUMNS)


def _row_view(row: Any) -> PatientView:
    return PatientView(row[0], row[1], row[2] is not None, row[3], dict(row[4] or {}), row[5], row[6])


# The per-update statements are built once, with bound parameters: building one per call cost as much CPU as
# running it (docs/performance.md).
_PATIENT_QUERY = select(*_PATIENT_COLUMNS).where(_PATIENTS.c.telegram_user_id == bindparam("p_user"))


def get_patient(factory: sessionmaker[Session], telegram_user_id: int) -> PatientView | None:
    with one_statement(factory) as conn:
        row = conn.execute(_PATIENT_QUERY, {"p_user": telegram_user_id}).first()
        return _row_view(row) if row is not None else None


async def get_patient_async(engine: AsyncEngine, telegram_user_id: int) -> PatientView | None:
    """`get_patient` on the web process's asyncio engine (PostgreSQL): no thread hop (`triage.db.make_async_engine`)."""
    async with engine.connect() as conn:
        row = (await conn.execute(_PATIENT_QUERY, {"p_user": telegram_user_id})).first()
        return _row_view(row) if row is not None else None


def record_consent(
    factory: sessionmaker[Session], *, telegram_user_id: int, chat_id: int, language: str, consent_version: str,
    organisation: str | None = None,
) -> PatientView:
    """Create or update the patient with consent given now, for `organisation` (the clinic they chose or came
    through; None keeps theirs, or the default). Nothing is stored for a patient who declines."""
    with transaction(factory) as session:
        patient = session.scalar(select(Patient).where(Patient.telegram_user_id == telegram_user_id))
        if patient is None:
            patient = Patient(telegram_user_id=telegram_user_id, chat_id=chat_id, conversation_data={}, profile={})
            session.add(patient)
        if organisation is not None:
            patient.organisation = organisation
        patient.chat_id = chat_id
        patient.language = language
        patient.consent_version = consent_version
        patient.consented_at = utcnow()
        _set_state(patient, "idle", {})
        session.flush()
        session.add(AuditEvent(actor=f"patient:{patient.id}", action="consent.given",
                               details={"version": consent_version}))
        return _view(patient)


def set_state(factory: sessionmaker[Session], patient_id: int, state: str, data: dict[str, Any] | None = None) -> None:
    with transaction(factory) as session:
        _set_state(session.get_one(Patient, patient_id), state, data)


def set_language(factory: sessionmaker[Session], patient_id: int, language: str) -> None:
    with transaction(factory) as session:
        patient = session.get_one(Patient, patient_id)
        patient.language = language
        patient.updated_at = utcnow()


def _withdraw_collecting(session: Session, store: ImageStore, patient_id: int) -> int:
    cases = session.scalars(select(Case).where(Case.patient_id == patient_id, Case.status == CaseStatus.COLLECTING))
    count = 0
    for case in cases:
        for image in case.images:
            store.delete(image.storage_key)
            image.deleted_at = utcnow()
        case.status = CaseStatus.WITHDRAWN
        case.answers = {}  # never sent: what the patient typed so far is not kept
        case.patient_text = ""
        case.updated_at = utcnow()
        count += 1
    return count


def start_case(
    factory: sessionmaker[Session], store: ImageStore, *, patient_id: int, language: str, organisation: str,
    nonce: int = 0, subject_id: int | None = None, lesion_id: int | None = None,
) -> int:
    """A new case collecting photos for `subject_id` (default: the person at the keyboard, `patient_id`), whose
    place in the conversation moves to `photos`; an unfinished earlier case of the subject is withdrawn (its photos
    deleted). A managed patient's profile (age, sex, skin type) is copied into the case's answers, and those
    questions are not asked again (`answers.fixed`). With `lesion_id`, the case is a new visit of the subject's
    tracked lesion: the lesion's site and the facts of its latest visit are copied too (`tracking.visit_answers`).
    Raises `tracking.TrackingError("not_found")` for a lesion that is not the subject's, or is no longer followed.
    """
    subject_id = subject_id if subject_id is not None else patient_id
    with transaction(factory) as session:
        visit = tracking.visit_answers(session, lesion_id, subject_id) if lesion_id is not None else None
        if lesion_id is not None and visit is None:
            raise tracking.TrackingError("not_found")
        _withdraw_collecting(session, store, subject_id)
        now = utcnow()
        profile = dict(session.get_one(Patient, subject_id).profile or {}) if subject_id != patient_id else {}
        answers: dict[str, Any] = {"patient": profile, "answers": {"symptoms": []}}
        fixed = [step for step, key in (("age", "age_years"), ("skin_type", "skin_type")) if key in profile]
        if visit is not None:
            answers = {"patient": {**visit["patient"], **profile}, "answers": visit["answers"]}
            fixed = sorted(set(fixed) | set(visit["fixed"]))
        if fixed:
            answers["fixed"] = fixed
        case = Case(patient_id=subject_id, status=CaseStatus.COLLECTING, language=language, organisation=organisation,
                    answers=answers, created_at=now, updated_at=now, lesion_id=lesion_id)
        session.add(case)
        session.flush()
        _set_state(session.get_one(Patient, patient_id), "photos", {"case_id": case.id, "nonce": nonce})
        return case.id


def cancel_case(factory: sessionmaker[Session], store: ImageStore, patient_id: int, subject_id: int | None = None,
                ) -> bool:
    """Withdraw the subject's case being collected and go idle. Returns whether there was one."""
    with transaction(factory) as session:
        count = _withdraw_collecting(session, store, subject_id if subject_id is not None else patient_id)
        _set_state(session.get_one(Patient, patient_id), "idle", {})
        return count > 0


def add_image(
    factory: sessionmaker[Session], store: ImageStore, *, case_id: int, image: CleanImage,
    telegram_file_unique_id: str | None = None,
) -> tuple[int, bool]:
    """Add a photo to a collecting case. Returns (photos now, whether a poor earlier photo was replaced).

    A new photo replaces the latest one if that one failed the quality check: it is the retake. The encrypted
    file is written first and removed again if the transaction fails, so nothing is half stored.
    Raises `TooManyImages` at `MAX_IMAGES`, `DuplicateImage` for a photo the case already has, `ValueError` if the
    case is no longer collecting.
    """
    key = store.put(image.data)
    replaced_key: str | None = None
    try:
        with transaction(factory) as session:
            case = session.get_one(Case, case_id)
            if case.status != CaseStatus.COLLECTING:
                raise ValueError("case is not collecting photos")
            images = [img for img in case.images if img.deleted_at is None]
            if telegram_file_unique_id and any(img.telegram_file_unique_id == telegram_file_unique_id
                                               for img in images):
                raise DuplicateImage
            if images and images[-1].quality.get("verdict", "good") != "good":
                replaced_key = images[-1].storage_key
                session.delete(images[-1])
                images = images[:-1]
            if len(images) >= MAX_IMAGES:
                raise TooManyImages
            session.add(CaseImage(case_id=case_id, storage_key=key, sha256=image.sha256,
                                  content_type=image.content_type, width=image.width, height=image.height,
                                  size_bytes=len(image.data), quality=dict(image.quality),
                                  telegram_file_unique_id=telegram_file_unique_id))
            case.updated_at = utcnow()
            count = len(images) + 1
    except BaseException:
        store.delete(key)
        raise
    if replaced_key is not None:
        store.delete(replaced_key)
    return count, replaced_key is not None


def save_progress(
    factory: sessionmaker[Session], *, patient_id: int, case_id: int, state: str, data: dict[str, Any],
    answers: dict[str, Any] | None = None, text: str | None = None, subject_id: int | None = None,
) -> None:
    """Store the answers (and free text) given so far to the case of `subject_id` (default: `patient_id`) together
    with the place in the conversation of the person at the keyboard (`patient_id`).

    This runs on every button a patient taps. On PostgreSQL it is one statement (the case's UPDATE as a
    data-modifying CTE of the patient's), so one round trip; elsewhere two UPDATEs in one transaction.
    """
    params = _progress_params(patient_id, case_id, state, data, answers, text, subject_id)
    if engine_of(factory).dialect.name == "postgresql":
        with one_statement(factory) as conn:
            conn.execute(_progress_statements(answers is not None, text is not None)[2], params)
        return
    case_update, patient_update, _ = _progress_statements(answers is not None, text is not None)
    with writing(factory) as conn:
        conn.execute(case_update, params)
        conn.execute(patient_update, params)


async def save_progress_async(
    engine: AsyncEngine, *, patient_id: int, case_id: int, state: str, data: dict[str, Any],
    answers: dict[str, Any] | None = None, text: str | None = None, subject_id: int | None = None,
) -> None:
    """`save_progress` on the web process's asyncio engine (PostgreSQL, autocommit): one statement."""
    params = _progress_params(patient_id, case_id, state, data, answers, text, subject_id)
    async with engine.connect() as conn:
        await conn.execute(_progress_statements(answers is not None, text is not None)[2], params)


def _progress_params(
    patient_id: int, case_id: int, state: str, data: dict[str, Any], answers: dict[str, Any] | None, text: str | None,
    subject_id: int | None,
) -> dict[str, Any]:
    return {"p_patient": patient_id, "p_case": case_id, "p_state": state, "p_data": data, "p_now": utcnow(),
            "p_answers": answers, "p_text": text, "p_subject": subject_id if subject_id is not None else patient_id}


@functools.cache
def _progress_statements(with_answers: bool, with_text: bool) -> tuple[Update, Update, Update]:
    """The case's UPDATE, the patient's UPDATE, and both as one statement (PostgreSQL), built once per shape."""
    values: dict[str, Any] = {"updated_at": bindparam("p_now")}
    if with_answers:
        values["answers"] = bindparam("p_answers")
    if with_text:
        values["patient_text"] = bindparam("p_text")
    case_update = (update(_CASES).where(_CASES.c.id == bindparam("p_case"),
                                        _CASES.c.patient_id == bindparam("p_subject")).values(**values))
    patient_update = (update(_PATIENTS).where(_PATIENTS.c.id == bindparam("p_patient"))
                      .values(conversation_state=bindparam("p_state"), conversation_data=bindparam("p_data"),
                              updated_at=bindparam("p_now")))
    return case_update, patient_update, patient_update.add_cte(case_update.cte("case_update"))


@dataclass(frozen=True)
class StepContext:
    """Where a patient is and what their current case holds so far: what a questionnaire step needs."""

    patient: PatientView
    answers: dict[str, Any]
    text: str


def step_context(factory: sessionmaker[Session], telegram_user_id: int) -> StepContext | None:
    """The patient and their current case's answers in one round trip to the database; None if unknown."""
    with one_statement(factory) as conn:
        return _step_context(conn.execute(_STEP_CONTEXT_QUERY, {"p_user": telegram_user_id}).first())


async def step_context_async(engine: AsyncEngine, telegram_user_id: int) -> StepContext | None:
    """`step_context` on the web process's asyncio engine (PostgreSQL)."""
    async with engine.connect() as conn:
        return _step_context((await conn.execute(_STEP_CONTEXT_QUERY, {"p_user": telegram_user_id})).first())


_STEP_CONTEXT_QUERY = (select(*_PATIENT_COLUMNS, _CASES.c.answers, _CASES.c.patient_text)
                       .outerjoin(_CASES, (_CASES.c.id == _PATIENTS.c.conversation_data["case_id"].as_integer())
                                  & (_CASES.c.patient_id == func.coalesce(
                                      _PATIENTS.c.conversation_data["subject"].as_integer(), _PATIENTS.c.id)))
                       .where(_PATIENTS.c.telegram_user_id == bindparam("p_user")))


def _step_context(row: Any) -> StepContext | None:
    return None if row is None else StepContext(_row_view(row), dict(row[_VIEW_WIDTH] or {}),
                                                row[_VIEW_WIDTH + 1] or "")


def submit_case(
    factory: sessionmaker[Session], *, patient_id: int, case_id: int, notice: str | None = None,
    subject_id: int | None = None,
) -> bool:
    """Move a collecting case with at least one photo to `queued`, with its analysis task queued for dispatch and
    `notice` (the "being analysed" message, in the patient's words) queued for the patient, all in one
    transaction: the notice goes out before the answer (a chat's messages go in order), and nothing is lost
    whatever fails after the commit. False if it was already submitted or has no photo.
    """
    with transaction(factory) as session:
        now = utcnow()
        has_image = session.scalar(select(CaseImage.id).where(CaseImage.case_id == case_id).limit(1)) is not None
        if not has_image:
            return False
        result = session.execute(
            update(Case)
            .where(Case.id == case_id, Case.patient_id == (subject_id if subject_id is not None else patient_id),
                   Case.status == CaseStatus.COLLECTING)
            .values(status=CaseStatus.QUEUED, submitted_at=now, updated_at=now)
        )
        if result.rowcount != 1:  # type: ignore[attr-defined]
            return False
        case = session.get_one(Case, case_id)
        if case.patient_text:
            session.add(Message(case_id=case_id, role="patient", text=case.patient_text))
        dispatch.queue_task(session, "triage.analyze_case", [case_id], dispatch.analyze_key(case_id))
        patient = session.get_one(Patient, patient_id)
        if notice:
            enqueue(session, kind="text", chat_id=patient.chat_id, case_id=case_id,
                    dedupe_key=f"case:{case_id}:submitted", payload={"text": notice}, priority=0)
        _set_state(patient, "waiting_result", {"case_id": case_id})
        session.add(AuditEvent(actor=f"patient:{patient_id}", action="case.submitted", case_id=case_id,
                               details={"images": len(case.images)}))
        return True


def add_followup(factory: sessionmaker[Session], *, patient_id: int, case_id: int, text: str) -> int | None:
    """Store a follow-up question about the patient's own case, its answer task queued for dispatch in the same
    transaction. Returns the message id, None if not theirs."""
    with transaction(factory) as session:
        case = session.get(Case, case_id)
        if case is None or case.patient_id != patient_id:
            return None
        message = Message(case_id=case_id, role="patient", text=text)
        session.add(message)
        session.flush()
        dispatch.queue_task(session, "triage.answer_question", [case_id, message.id], dispatch.answer_key(message.id))
        return message.id


def get_case(factory: sessionmaker[Session], patient_id: int, case_id: int) -> CaseView | None:
    """The patient's own case; None for anybody else's."""
    with factory() as session:
        case = session.get(Case, case_id)
        if case is None or case.patient_id != patient_id:
            return None
        return _case_view(case)


def patient_cases(factory: sessionmaker[Session], patient_id: int, limit: int = 10) -> list[CaseView]:
    """The patient's own submitted cases, newest first."""
    with factory() as session:
        cases = session.scalars(
            select(Case)
            .where(Case.patient_id == patient_id, Case.status.not_in([CaseStatus.COLLECTING, CaseStatus.WITHDRAWN]))
            .order_by(Case.id.desc())
            .limit(limit)
        )
        return [_case_view(case) for case in cases]


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
        return {"id": case.id, "ref": case.public_ref, "status": case.status, "tier": case.tier,
                "answers": dict(case.answers), "text": case.patient_text, "language": case.language}


def queue_alert_retraction(session: Session, chat_id: int, message_id: int) -> None:
    """Queue taking back an alert the bot sent to a clinicians' chat (its case was erased)."""
    enqueue(session, kind="retract_alert", chat_id=chat_id, dedupe_key=f"retract:{chat_id}:{message_id}",
            payload={"message_id": message_id}, priority=0)


def erase_patient(factory: sessionmaker[Session], store: ImageStore, telegram_user_id: int) -> int | None:
    """Erase everything stored about a patient: image files, cases and all that hangs off them, messages
    queued or sent to them, conversation state, and what the service put elsewhere: each alert sent to the
    clinicians' chat is taken back (deleted, or its photo and words replaced; `bot/sender.py`), and an alert
    being sent at this moment is taken back as soon as its delivery is known. Returns how many cases were erased,
    or None if nothing was stored.

    Image files go first: if the database step then fails, the patient can ask again and nothing of the
    photos is left in between. The audit trail keeps one row saying that an erasure happened, with no content.
    """
    return erase_person(factory, store, Patient.telegram_user_id == telegram_user_id, actor="patient:erased")


def erase_person(
    factory: sessionmaker[Session], store: ImageStore, which: Any, *, actor: str, own_chat: bool = True,
) -> int | None:
    """Erase the one person `which` selects (a SQL condition on `Patient`) as `erase_patient` says, and the patients
    they manage with them. `own_chat`: the chat is theirs alone, so every message queued for it goes too (a managed
    patient's chat is their health worker's). Returns the number of cases erased, None if there was nobody."""
    with factory() as session:
        person = session.scalar(select(Patient).where(which))
        if person is None:
            return None
        people = [person.id, *session.scalars(select(Patient.id).where(Patient.managed_by_id == person.id))]
        keys = list(session.scalars(select(CaseImage.storage_key).join(Case).where(Case.patient_id.in_(people))))
    for key in keys:
        store.delete(key)
    with transaction(factory) as session:
        person = session.scalar(select(Patient).where(which))
        if person is None:
            return 0
        people = [person.id, *session.scalars(select(Patient.id).where(Patient.managed_by_id == person.id))]
        count = int(session.scalar(select(func.count()).select_from(Case).where(Case.patient_id.in_(people))) or 0)
        sent_alerts = session.execute(
            select(Outbox.chat_id, Outbox.telegram_message_id).join(Case, Case.id == Outbox.case_id)
            .where(Case.patient_id.in_(people), Outbox.kind == "clinician_alert",
                   Outbox.status == OutboxStatus.SENT, Outbox.telegram_message_id.is_not(None))
        ).all()
        for chat_id, message_id in sent_alerts:
            if message_id is not None:
                queue_alert_retraction(session, chat_id, message_id)
        if own_chat:
            session.execute(delete(Outbox).where(Outbox.chat_id == person.chat_id))
        session.delete(person)
        session.add(AuditEvent(actor=actor, action="patient.erased",
                               details={"cases": count, "alerts_taken_back": len(sent_alerts)}))
        return count
