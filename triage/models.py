"""Database models (SQLAlchemy 2.0). The schema is owned by Alembic: `migrations/versions/`.

Image bytes never live in the database: `CaseImage.storage_key` names an encrypted blob in the image store.
Telegram ids are stored because the bot must answer; names and usernames are not.
"""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from typing import Annotated, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timezone-aware UTC timestamp on every backend. SQLite keeps no zone: values go in as UTC and come back
    marked UTC; PostgreSQL stores `timestamptz`."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


intpk = Annotated[int, mapped_column(Integer, primary_key=True, autoincrement=True)]
# Every table with an integer key gives each id out once, ever. PostgreSQL's sequences already do; SQLite reuses
# the highest id after that row is deleted unless the table is AUTOINCREMENT. A reused id would let an erased
# patient's alert (still in the clinicians' chat) claim the next patient's case, and would merge two people in
# the audit trail. `tests/test_ids.py` checks every table on both databases.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}
created = Annotated[dt.datetime, mapped_column(UTCDateTime(), default=utcnow, server_default=func.now())]
tstamp = Annotated[dt.datetime | None, mapped_column(UTCDateTime())]
json_obj = Annotated[dict[str, Any], mapped_column(JSON, default=dict)]
json_list = Annotated[list[Any], mapped_column(JSON, default=list)]


def new_public_ref() -> str:
    """A random reference for a case (8 URL-safe characters), carried beside its number by every button and link
    that acts on it, so that an old alert or a guessed link can never act on another case."""
    return secrets.token_urlsafe(6)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CaseStatus(enum.StrEnum):
    COLLECTING = "collecting"
    QUEUED = "queued"
    ANALYZING = "analyzing"
    TRIAGED = "triaged"
    FORWARDED = "forwarded"
    CLAIMED = "claimed"
    CLOSED = "closed"
    FAILED_MODEL = "failed_model"
    WITHDRAWN = "withdrawn"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"


class PersonRole(enum.StrEnum):
    PATIENT = "patient"  # writes for themselves
    HEALTH_WORKER = "health_worker"  # a community health worker: submits for the patients they manage


class Patient(Base):
    """A person the bot knows: someone writing from their own Telegram account (a patient, or a community health
    worker), or a patient a health worker manages (no Telegram account: `managed_by_id`, `local_ref`).

    The row of whoever is at the keyboard holds the conversation's state; a health worker's `conversation_data`
    names the managed patient they are working on (`subject`), whose row owns the cases.
    """

    __tablename__ = "patients"
    __table_args__ = (UniqueConstraint("managed_by_id", "local_ref", name="uq_patients_managed_by_id_local_ref"),
                      NEVER_REUSE_IDS)

    id: Mapped[intpk]
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)  # for a managed patient: their health worker's chat
    role: Mapped[str] = mapped_column(String(16), default=PersonRole.PATIENT, server_default=PersonRole.PATIENT)
    organisation: Mapped[str] = mapped_column(String(64), default="default", server_default="default")
    managed_by_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    local_ref: Mapped[str | None] = mapped_column(String(64))  # the health worker's own reference, no name
    # A managed patient's facts given once (age, sex, skin type), copied into each new case's answers.
    profile: Mapped[json_obj]
    language: Mapped[str] = mapped_column(String(8), default="en")
    # Consent (a patient), the health-worker terms (a health worker), or the health worker's attestation that the
    # patient consented (a managed patient): which version, and when.
    consent_version: Mapped[str | None] = mapped_column(String(32))
    consented_at: Mapped[tstamp]
    # The person's place in the conversation, written as it changes so a restart loses nothing.
    conversation_state: Mapped[str] = mapped_column(String(32), default="new")
    conversation_data: Mapped[json_obj]
    # A random identifier that stands for the patient in exports (FHIR, letters): never the Telegram id. Given on
    # the first export and kept, so every export of the same patient names the same pseudonym.
    pseudonym: Mapped[str | None] = mapped_column(String(36), unique=True, index=True)
    created_at: Mapped[created]
    updated_at: Mapped[created]

    cases: Mapped[list[Case]] = relationship(back_populates="patient", cascade="all, delete-orphan")


class Organisation(Base):
    """A clinic or programme: its own clinicians, inbox, dashboard and clinicians' chat. `code` is what cases,
    clinicians and deep links (`?start=c-<code>`) name it by."""

    __tablename__ = "organisations"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[intpk]
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(128))
    public: Mapped[bool] = mapped_column(Boolean, default=False)  # offered to patients who arrive without a link
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    clinician_chat_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[created]


class Invite(Base):
    """A single-use invitation for a community health worker, as a Telegram deep link. Only the code's hash is
    kept, so the table alone cannot be used to join."""

    __tablename__ = "invites"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[intpk]
    code_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    organisation: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(String(128))  # who it is for, as the admin wrote it
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("clinicians.id", ondelete="SET NULL"))
    created_at: Mapped[created]
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[tstamp]
    used_by_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id", ondelete="SET NULL"))
    revoked_at: Mapped[tstamp]


class Case(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_status_updated_at", "status", "updated_at"), NEVER_REUSE_IDS)

    id: Mapped[intpk]
    public_ref: Mapped[str] = mapped_column(String(16), unique=True, default=new_public_ref)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=CaseStatus.COLLECTING)
    language: Mapped[str] = mapped_column(String(8), default="en")
    # The triage contract's `patient` and `answers` objects, as the patient gave them.
    answers: Mapped[json_obj]
    patient_text: Mapped[str] = mapped_column(Text, default="")
    tier: Mapped[str | None] = mapped_column(String(16))
    forwarded: Mapped[bool] = mapped_column(Boolean, default=False)
    # The organisation whose clinicians may see the case (one deployment can serve several programmes).
    organisation: Mapped[str] = mapped_column(String(64), default="default", index=True)
    assigned_clinician_id: Mapped[int | None] = mapped_column(ForeignKey("clinicians.id", ondelete="SET NULL"))
    claimed_at: Mapped[tstamp]
    last_alerted_at: Mapped[tstamp]
    # Set by a clinician: a tier change with its reason, the final diagnosis (a condition key), the disposition.
    tier_override_reason: Mapped[str | None] = mapped_column(Text)
    final_diagnosis: Mapped[str | None] = mapped_column(String(64))
    disposition: Mapped[str | None] = mapped_column(String(32))
    # Set on each claim by a worker: only the holder of the current token may finish the analysis.
    analysis_token: Mapped[str | None] = mapped_column(String(36))
    analysis_attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[created]
    updated_at: Mapped[created]
    submitted_at: Mapped[tstamp]
    analysis_started_at: Mapped[tstamp]
    triaged_at: Mapped[tstamp]
    closed_at: Mapped[tstamp]
    # A visit of a tracked lesion (`triage/tracking.py`): the lesion, and what the worker measured on this visit's
    # photos and how it compares with the visit before (`triage/lesion_visits.py`).
    lesion_id: Mapped[int | None] = mapped_column(ForeignKey("tracked_lesions.id", ondelete="SET NULL"), index=True)
    lesion_measurement: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    patient: Mapped[Patient] = relationship(back_populates="cases")
    images: Mapped[list[CaseImage]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseImage.id"
    )
    model_results: Mapped[list[ModelResult]] = relationship(cascade="all, delete-orphan", order_by="ModelResult.id")
    decisions: Mapped[list[TriageDecision]] = relationship(cascade="all, delete-orphan", order_by="TriageDecision.id")
    messages: Mapped[list[Message]] = relationship(cascade="all, delete-orphan", order_by="Message.id")


class LesionStatus(enum.StrEnum):
    ACTIVE = "active"  # reminders on
    PAUSED = "paused"  # the patient paused the reminders; they resume on the same schedule
    STOPPED = "stopped"  # no longer followed (by the patient's or a clinician's choice)


class TrackedLesion(Base):
    """A spot, mole or growth a patient (or a health worker for their patient) follows with a new photo now and
    then. Its visits are the cases that carry its id (`Case.lesion_id`), the first one the case it started from.

    `next_due_at` is when the next photo is due, in UTC; the beat job queues one reminder per (lesion, due time)
    (`triage/tracking.py`), and `reminded_for` is the due time it last reminded of.
    """

    __tablename__ = "tracked_lesions"
    __table_args__ = (Index("ix_tracked_lesions_status_next_due_at", "status", "next_due_at"), NEVER_REUSE_IDS)

    id: Mapped[intpk]
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), index=True)
    organisation: Mapped[str] = mapped_column(String(64), default="default")
    name: Mapped[str] = mapped_column(String(80))
    body_site: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=LesionStatus.ACTIVE)
    interval_days: Mapped[int] = mapped_column(Integer)
    # "decision" (from the latest visit's tier, `tracking.INTERVALS`) or "clinician:<id>" (set in the inbox: kept).
    interval_source: Mapped[str] = mapped_column(String(32), default="decision")
    next_due_at: Mapped[tstamp]
    reminded_for: Mapped[tstamp]
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[created]
    updated_at: Mapped[created]
    last_visit_at: Mapped[tstamp]


class CaseImage(Base):
    __tablename__ = "case_images"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[intpk]
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    storage_key: Mapped[str] = mapped_column(String(64), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    content_type: Mapped[str] = mapped_column(String(32), default="image/jpeg")
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    quality: Mapped[json_obj]
    telegram_file_unique_id: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[created]
    deleted_at: Mapped[tstamp]

    case: Mapped[Case] = relationship(back_populates="images")


class ModelResult(Base):
    __tablename__ = "model_results"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[intpk]
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    backend: Mapped[str] = mapped_column(String(32))
    model_id: Mapped[str] = mapped_column(String(256))
    model_revision: Mapped[str] = mapped_column(String(128), default="")
    differential: Mapped[json_list]
    findings: Mapped[json_list]
    image_quality: Mapped[json_list]
    answer_text: Mapped[str] = mapped_column(Text, default="")
    latency_ms: Mapped[float] = mapped_column(default=0.0)
    # The model server's identity digest (model, weights, backend, quantization): what an evidence record is for.
    model_identity: Mapped[str] = mapped_column(String(64), default="", server_default="")
    created_at: Mapped[created]


class TriageDecision(Base):
    __tablename__ = "triage_decisions"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[intpk]
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    tier: Mapped[str] = mapped_column(String(16))
    forward_to_clinician: Mapped[bool] = mapped_column(Boolean)
    reasons: Mapped[json_list]
    ruleset_version: Mapped[str] = mapped_column(String(32))
    model_used: Mapped[bool] = mapped_column(Boolean, default=True)
    # What was read from the patient's words: concept, the words and their span in `text_read` (for highlighting).
    findings: Mapped[json_list]
    text_read: Mapped[str] = mapped_column(Text, default="", server_default="")
    # The evidence record that let a benign lesion end in self-care (None: the model had none that counts).
    evidence_record_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[created]


class Message(Base):
    """The conversation about a case: the patient's questions, the model's answers, clinicians' replies."""

    __tablename__ = "messages"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[intpk]
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[created]


class Outbox(Base):
    """A message to send through the Bot API. The web process sends it; `dedupe_key` makes it exactly once."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"), NEVER_REUSE_IDS)

    id: Mapped[intpk]
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    payload: Mapped[json_obj]
    status: Mapped[str] = mapped_column(String(16), default=OutboxStatus.PENDING)
    priority: Mapped[int] = mapped_column(Integer, default=5)
    # Each claim adds one: the claim's fencing token (a sender records only the attempt it made).
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # When the row is due again; while `sending`, when its claim lapses (a crashed sender's row is taken up again).
    next_attempt_at: Mapped[created]
    # Telegram may already have this message (an ambiguous timeout, or a lapsed claim): a resend may duplicate it.
    delivery_uncertain: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    last_error: Mapped[str | None] = mapped_column(String(500))
    telegram_message_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[created]
    sent_at: Mapped[tstamp]


class DispatchStatus(enum.StrEnum):
    PENDING = "pending"  # to be sent to the broker
    PUBLISHED = "published"  # in the broker's queue (or lost with it: see `triage.dispatch.rearm_stranded`)
    RUNNING = "running"  # a worker has it and says so every few seconds
    DONE = "done"


class TaskDispatch(Base):
    """A Celery task that must run because of a committed change, written in the same transaction as the change:
    the broker being down, a web process dying after the commit or Redis restarting empty cannot lose it."""

    __tablename__ = "task_dispatches"
    __table_args__ = (Index("ix_task_dispatches_status_next_at", "status", "next_at"), NEVER_REUSE_IDS)

    id: Mapped[intpk]
    task: Mapped[str] = mapped_column(String(64))
    args: Mapped[json_list]
    dedupe_key: Mapped[str] = mapped_column(String(128), unique=True)
    status: Mapped[str] = mapped_column(String(16), default=DispatchStatus.PENDING)
    # How many times it was sent to the broker.
    sends: Mapped[int] = mapped_column(Integer, default=0)
    # How many runs failed outright (not on a passing fault): after a few, the case is triaged without the model.
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The run that holds it while `running` (a random token): only that run's heartbeat keeps it.
    runner: Mapped[str | None] = mapped_column(String(36))
    # Pending: when to send. Published: when to send again if no worker has started it. Running: when the
    # worker's heartbeat lapses (it died) and it is sent again.
    next_at: Mapped[created]
    created_at: Mapped[created]
    done_at: Mapped[tstamp]


class EvidenceRecord(Base):
    """An evaluation of one model identity on labelled lesion cases (`python -m triage.evaluate --record`).

    A record whose figures meet CLINICAL.md's thresholds ("Lesions: self-care needs evidence"), and that nobody
    revoked, lets a benign lesion assessed by that very model (same identity digest) end in self-care.
    """

    __tablename__ = "evidence_records"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[intpk]
    identity: Mapped[str] = mapped_column(String(64), index=True)
    model_id: Mapped[str] = mapped_column(String(256))
    backend: Mapped[str] = mapped_column(String(32))
    quantization: Mapped[str] = mapped_column(String(8), default="none")
    weights_sha256: Mapped[str] = mapped_column(String(64), default="")
    dataset: Mapped[str] = mapped_column(String(200))
    split: Mapped[str] = mapped_column(String(16))
    ruleset_version: Mapped[str] = mapped_column(String(32))
    figures: Mapped[json_obj]
    meets: Mapped[bool] = mapped_column(Boolean)
    recorded_by: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[created]
    revoked_at: Mapped[tstamp]
    revoked_by: Mapped[str | None] = mapped_column(String(128))
    revoke_reason: Mapped[str | None] = mapped_column(Text)


class Clinician(Base):
    __tablename__ = "clinicians"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[intpk]
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16), default="clinician")
    organisation: Mapped[str] = mapped_column(String(64), default="default")
    telegram_user_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[tstamp]
    created_at: Mapped[created]


class AuditEvent(Base):
    """Who saw or changed what. Rows are only ever inserted."""

    __tablename__ = "audit_events"
    __table_args__ = NEVER_REUSE_IDS

    id: Mapped[intpk]
    at: Mapped[created]
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    case_id: Mapped[int | None] = mapped_column(Integer, index=True)
    details: Mapped[json_obj]


class InboxSession(Base):
    """A signed-in clinician's browser session for the web inbox, kept server-side.

    `id` is the SHA-256 of the random token in the browser's cookie, so the table alone cannot be used to sign
    in. The session ends at `expires_at`, after `idle` inactivity (checked against `last_seen_at`), at sign-out,
    or when the account is deactivated or its password changed.
    """

    __tablename__ = "inbox_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("clinicians.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created]
    last_seen_at: Mapped[created]
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime())


class FhirPushStatus(enum.StrEnum):
    PENDING = "pending"  # to push (again, from `next_attempt_at`)
    PUSHING = "pushing"  # claimed by a worker; taken up again after the claim lapses
    PUSHED = "pushed"
    FAILED = "failed"  # refused by the server (4xx), or out of attempts: a person must look
    SUPERSEDED = "superseded"  # a newer version of the case came before this one was pushed


class FhirPush(Base):
    """One version of a case to push to the configured FHIR server (`triage/fhir/push.py`): one row per
    (case, version), where the version is the digest of the case's bundle, so each version goes once."""

    __tablename__ = "fhir_pushes"
    __table_args__ = (
        UniqueConstraint("case_id", "version", name="uq_fhir_pushes_case_id_version"),
        Index("ix_fhir_pushes_status_next_attempt_at", "status", "next_attempt_at"),
        NEVER_REUSE_IDS,
    )

    id: Mapped[intpk]
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    version: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default=FhirPushStatus.PENDING)
    # Each claim adds one: the claim's fencing token, as in the outbox.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[created]
    # When the scan last found this version current (a change that leaves the bundle as it was moves only this).
    seen_at: Mapped[created]
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[created]
    pushed_at: Mapped[tstamp]
