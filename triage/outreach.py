"""Outreach: several clinics in one deployment, and community health workers who submit for many patients.

Organisations have a code (`c-<code>` in a Telegram deep link routes a patient to that clinic) and their own
clinicians' chat. A health worker joins through a single-use invite an admin makes in the inbox (a deep link,
`chw-<code>`; only the code's hash is stored), accepts the terms, and then creates patients under a local reference
of their own choosing (no name), attesting that each patient consented. A health worker sees only their own
patients; everything that reads or changes a managed patient checks that it is theirs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from triage.cases import erase_person
from triage.db import transaction
from triage.images import ImageStore
from triage.models import (
    AuditEvent,
    Case,
    CaseStatus,
    Invite,
    Organisation,
    Patient,
    PersonRole,
    utcnow,
)

CODE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{1,31}$")
INVITE_PREFIX = "chw-"
CLINIC_PREFIX = "c-"
INVITE_TTL = dt.timedelta(days=7)
REF_RE = re.compile(r"^[\w .#/-]{1,32}$")
CHW_TERMS_VERSION = "chw-2026-12"


class OutreachError(ValueError):
    """Refused, with a stable `code` the bot and the inbox turn into words, and a message for logs and admins."""

    def __init__(self, code: str, message: str = "") -> None:
        super().__init__(message or code)
        self.code = code


@dataclass(frozen=True)
class OrganisationView:
    id: int
    code: str
    name: str
    public: bool
    active: bool
    clinician_chat_id: int | None


@dataclass(frozen=True)
class ManagedPatient:
    id: int
    ref: str
    profile: dict[str, Any]
    open_cases: int
    last_case: int | None


def _org_view(row: Organisation) -> OrganisationView:
    return OrganisationView(row.id, row.code, row.name, row.public, row.active, row.clinician_chat_id)


# -- organisations --------------------------------------------------------------------------------------------
def ensure_organisation(factory: sessionmaker[Session], code: str, *, name: str | None = None,
                        public: bool = False) -> OrganisationView:
    """The organisation `code`, created (active, not public) if it does not exist yet."""
    if not CODE_RE.match(code):
        raise OutreachError("bad_code", "an organisation code is 2-32 of a-z, 0-9, _ and -, starting with a letter "
                                        "or digit")
    with transaction(factory) as session:
        row = session.scalar(select(Organisation).where(Organisation.code == code))
        if row is None:
            row = Organisation(code=code, name=name or code, public=public, active=True)
            session.add(row)
            session.flush()
        return _org_view(row)


def organisation(factory: sessionmaker[Session], code: str) -> OrganisationView | None:
    with factory() as session:
        row = session.scalar(select(Organisation).where(Organisation.code == code))
        return _org_view(row) if row is not None else None


def organisations(factory: sessionmaker[Session], *, public_only: bool = False) -> list[OrganisationView]:
    with factory() as session:
        query = select(Organisation).where(Organisation.active.is_(True)).order_by(Organisation.name)
        if public_only:
            query = query.where(Organisation.public.is_(True))
        return [_org_view(row) for row in session.scalars(query)]


def update_organisation(factory: sessionmaker[Session], code: str, *, actor: str, name: str | None = None,
                        public: bool | None = None, clinician_chat_id: int | str | None = "keep") -> OrganisationView:
    """Change an organisation's name, whether patients see it in the list, or its clinicians' chat (None: the
    deployment's `CLINICIAN_CHAT_ID`). Audited."""
    with transaction(factory) as session:
        row = session.scalar(select(Organisation).where(Organisation.code == code))
        if row is None:
            raise OutreachError("no_organisation", f"there is no organisation {code[:32]!r}")
        changes: dict[str, Any] = {}
        if name is not None and name.strip():
            row.name, changes["name"] = name.strip()[:128], True
        if public is not None:
            row.public, changes["public"] = public, public
        if clinician_chat_id != "keep":
            row.clinician_chat_id = clinician_chat_id if isinstance(clinician_chat_id, int) else None
            changes["clinician_chat"] = row.clinician_chat_id is not None
        session.add(AuditEvent(actor=actor, action="organisation.changed", details={"code": code, **changes}))
        return _org_view(row)


def clinician_chat(session: Session, organisation_code: str, fallback: int | None) -> int | None:
    """The chat a case's alerts go to: its organisation's, else the deployment's `CLINICIAN_CHAT_ID`."""
    chat = session.scalar(select(Organisation.clinician_chat_id).where(Organisation.code == organisation_code))
    return chat if chat is not None else fallback


def join_organisation(factory: sessionmaker[Session], patient_id: int, code: str) -> OrganisationView:
    """Route a patient to the organisation `code` (a clinic's deep link or their choice). Raises OutreachError."""
    with transaction(factory) as session:
        org = session.scalar(select(Organisation).where(Organisation.code == code, Organisation.active.is_(True)))
        if org is None:
            raise OutreachError("no_organisation")
        session.get_one(Patient, patient_id).organisation = code
        return _org_view(org)


# -- invites --------------------------------------------------------------------------------------------------
def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def create_invite(factory: sessionmaker[Session], *, organisation_code: str, label: str, created_by: int,
                  actor: str, ttl: dt.timedelta = INVITE_TTL, now: dt.datetime | None = None) -> tuple[int, str]:
    """A single-use invite for a health worker of `organisation_code`: (its id, the deep-link code `chw-...`).
    The code is shown once; only its hash is stored. Audited."""
    label = " ".join(label.split())[:128]
    if not label:
        raise OutreachError("no_label", "say who the invite is for")
    now = now or utcnow()
    code = INVITE_PREFIX + secrets.token_urlsafe(18)  # 24 characters of A-Z a-z 0-9 _ -: a valid start payload
    with transaction(factory) as session:
        row = Invite(code_sha256=_digest(code), organisation=organisation_code, label=label,
                     created_by_id=created_by, created_at=now, expires_at=now + ttl)
        session.add(row)
        session.flush()
        session.add(AuditEvent(actor=actor, action="invite.created",
                               details={"invite": row.id, "organisation": organisation_code}))
        return row.id, code


def revoke_invite(factory: sessionmaker[Session], invite_id: int, *, organisation_code: str, actor: str) -> None:
    with transaction(factory) as session:
        row = session.get(Invite, invite_id)
        if row is None or row.organisation != organisation_code:
            raise OutreachError("no_invite", "there is no such invite")
        if row.used_at is None and row.revoked_at is None:
            row.revoked_at = utcnow()
            session.add(AuditEvent(actor=actor, action="invite.revoked", details={"invite": invite_id}))


def invites(factory: sessionmaker[Session], organisation_code: str) -> list[Invite]:
    with factory() as session:
        rows = list(session.scalars(select(Invite).where(Invite.organisation == organisation_code)
                                    .order_by(Invite.id.desc()).limit(200)))
        session.expunge_all()
        return rows


def check_invite(factory: sessionmaker[Session], code: str, *, now: dt.datetime | None = None) -> Invite:
    """The invite behind a deep-link code, if it can still be used. Raises OutreachError with code
    `invite_unknown` (forged, mistyped), `invite_used`, `invite_expired` or `invite_revoked`."""
    now = now or utcnow()
    with factory() as session:
        row = session.scalar(select(Invite).where(Invite.code_sha256 == _digest(code)))
        if row is None:
            raise OutreachError("invite_unknown")
        session.expunge(row)
    if row.revoked_at is not None:
        raise OutreachError("invite_revoked")
    if row.used_at is not None:
        raise OutreachError("invite_used")
    if row.expires_at <= now:
        raise OutreachError("invite_expired")
    return row


def become_health_worker(factory: sessionmaker[Session], code: str, *, telegram_user_id: int, chat_id: int,
                         language: str, now: dt.datetime | None = None) -> str:
    """Use the invite `code` for this Telegram account, whose person accepted the health-worker terms: the
    account becomes a health worker of the invite's organisation. Returns the organisation's code.

    The invite is used with a conditional UPDATE (of two accounts opening it at once, one wins). Refused
    (OutreachError) for an invite that cannot be used, and for an account that is already a health worker of
    another organisation (`other_organisation`) or a patient with cases of their own (`has_own_cases`: a health
    worker uses an account of their own for the work).
    """
    now = now or utcnow()
    invite = check_invite(factory, code, now=now)
    with transaction(factory) as session:
        person = session.scalar(select(Patient).where(Patient.telegram_user_id == telegram_user_id))
        if person is not None and person.role == PersonRole.HEALTH_WORKER:
            if person.organisation != invite.organisation:
                raise OutreachError("other_organisation")
        elif person is not None and session.scalar(select(func.count()).select_from(Case).where(
                Case.patient_id == person.id, Case.status != CaseStatus.WITHDRAWN)):
            raise OutreachError("has_own_cases")
        used = session.execute(
            update(Invite).where(Invite.id == invite.id, Invite.used_at.is_(None), Invite.revoked_at.is_(None))
            .values(used_at=now)
        )
        if used.rowcount != 1:  # type: ignore[attr-defined]
            raise OutreachError("invite_used")
        if person is None:
            person = Patient(telegram_user_id=telegram_user_id, chat_id=chat_id, conversation_data={}, profile={})
            session.add(person)
        person.role, person.organisation, person.chat_id, person.language = (
            PersonRole.HEALTH_WORKER, invite.organisation, chat_id, language)
        person.consent_version, person.consented_at = CHW_TERMS_VERSION, now
        person.conversation_state, person.conversation_data = "idle", {}
        session.flush()
        session.execute(update(Invite).where(Invite.id == invite.id).values(used_by_id=person.id))
        session.add(AuditEvent(actor=f"patient:{person.id}", action="health_worker.joined",
                               details={"invite": invite.id, "organisation": invite.organisation,
                                        "terms": CHW_TERMS_VERSION}))
        return invite.organisation


# -- managed patients -----------------------------------------------------------------------------------------
def clean_ref(text: str) -> str:
    """A health worker's reference for a patient, tidied; raises OutreachError(`bad_ref`) when it is not one."""
    ref = " ".join(text.split())
    if not REF_RE.match(ref):
        raise OutreachError("bad_ref")
    return ref


def add_patient(factory: sessionmaker[Session], *, worker_id: int, ref: str, profile: dict[str, Any],
                consent_version: str, now: dt.datetime | None = None) -> int:
    """A new patient managed by the health worker, who attests now that the patient consented (recorded with who,
    when and the consent version). Returns the patient's id. Raises OutreachError(`ref_taken`)."""
    now = now or utcnow()
    ref = clean_ref(ref)
    with transaction(factory) as session:
        worker = session.get_one(Patient, worker_id)
        if worker.role != PersonRole.HEALTH_WORKER:
            raise OutreachError("not_health_worker")
        taken = session.scalar(select(Patient.id).where(Patient.managed_by_id == worker_id, Patient.local_ref == ref))
        if taken is not None:
            raise OutreachError("ref_taken")
        patient = Patient(telegram_user_id=None, chat_id=worker.chat_id, role=PersonRole.PATIENT,
                          organisation=worker.organisation, managed_by_id=worker_id, local_ref=ref, profile=profile,
                          language=worker.language, consent_version=consent_version, consented_at=now,
                          conversation_state="managed", conversation_data={})
        session.add(patient)
        session.flush()
        session.add(AuditEvent(actor=f"patient:{worker_id}", action="consent.attested",
                               details={"patient": patient.id, "version": consent_version}))
        return patient.id


def managed_patient(factory: sessionmaker[Session], worker_id: int, patient_id: int) -> ManagedPatient | None:
    """The health worker's own patient; None for anybody else's (or none)."""
    found = [p for p in my_patients(factory, worker_id) if p.id == patient_id]
    return found[0] if found else None


def my_patients(factory: sessionmaker[Session], worker_id: int, limit: int = 50) -> list[ManagedPatient]:
    """The health worker's patients, the most recent first, with their open cases."""
    open_states = (CaseStatus.QUEUED, CaseStatus.ANALYZING, CaseStatus.FORWARDED, CaseStatus.CLAIMED,
                   CaseStatus.FAILED_MODEL)
    with factory() as session:
        rows = list(session.execute(
            select(Patient.id, Patient.local_ref, Patient.profile,
                   select(func.count()).select_from(Case).where(Case.patient_id == Patient.id,
                                                                Case.status.in_(open_states))
                   .scalar_subquery().label("open"),
                   select(func.max(Case.id)).where(Case.patient_id == Patient.id,
                                                   Case.status.not_in((CaseStatus.COLLECTING, CaseStatus.WITHDRAWN)))
                   .scalar_subquery().label("last"))
            .where(Patient.managed_by_id == worker_id).order_by(Patient.id.desc()).limit(limit)
        ))
    return [ManagedPatient(r.id, r.local_ref or "", dict(r.profile or {}), int(r.open or 0), r.last) for r in rows]


def choose_patient(factory: sessionmaker[Session], worker_id: int, patient_id: int, nonce: int) -> bool:
    """Make `patient_id` the patient the health worker is working on. False if it is not theirs."""
    with transaction(factory) as session:
        patient = session.get(Patient, patient_id)
        if patient is None or patient.managed_by_id != worker_id:
            return False
        worker = session.get_one(Patient, worker_id)
        worker.conversation_state = "patient"
        worker.conversation_data = {"subject": patient_id, "ref": patient.local_ref or "", "nonce": nonce}
        worker.updated_at = utcnow()
        return True


def erase_managed_patient(factory: sessionmaker[Session], store: ImageStore, worker_id: int, patient_id: int) -> bool:
    """Erase one of the health worker's patients (`triage.cases.erase_person`: photos, cases and everything hanging
    off them; the alerts sent about them taken back). False if the patient is not theirs."""
    mine = (Patient.id == patient_id) & (Patient.managed_by_id == worker_id)
    erased = erase_person(factory, store, mine, actor=f"patient:{worker_id}", own_chat=False)
    if erased is None:
        return False
    with transaction(factory) as session:
        worker = session.get_one(Patient, worker_id)
        if (worker.conversation_data or {}).get("subject") == patient_id:
            worker.conversation_state, worker.conversation_data = "idle", {}
    return True


# -- for the inbox ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class WorkerActivity:
    """A health worker of an organisation and how their patients are served."""

    id: int
    label: str  # who the invite was for, as the admin wrote it
    joined_at: dt.datetime | None
    patients: int
    cases_per_week: tuple[int, ...]  # the last WEEKS weeks, oldest first
    open_cases: int
    median_answer: dt.timedelta | None  # submitted → claimed by a clinician, over their claimed cases


WEEKS = 4
OPEN = (CaseStatus.QUEUED, CaseStatus.ANALYZING, CaseStatus.FORWARDED, CaseStatus.CLAIMED, CaseStatus.FAILED_MODEL)


def worker_labels(session: Session, worker_ids: set[int]) -> dict[int, str]:
    """Each health worker's label (their invite's), by id."""
    if not worker_ids:
        return {}
    rows = session.execute(select(Invite.used_by_id, Invite.label).where(Invite.used_by_id.in_(worker_ids)))
    return {int(worker): label for worker, label in rows if worker is not None}


def health_workers(factory: sessionmaker[Session], organisation_code: str,
                   now: dt.datetime | None = None) -> list[WorkerActivity]:
    """The organisation's health workers with their activity: cases per week, open cases, how fast answered."""
    import statistics

    now = now or utcnow()
    start = now - dt.timedelta(weeks=WEEKS)
    with factory() as session:
        workers = list(session.execute(
            select(Patient.id, Patient.consented_at).where(Patient.role == PersonRole.HEALTH_WORKER,
                                                           Patient.organisation == organisation_code)
        ))
        ids = {w.id for w in workers}
        labels = worker_labels(session, ids)
        rows = list(session.execute(
            select(Patient.managed_by_id, Case.status, Case.submitted_at, Case.claimed_at)
            .join(Case, Case.patient_id == Patient.id)
            .where(Patient.managed_by_id.in_(ids), Case.submitted_at.is_not(None))
        )) if ids else []
        counts = dict(session.execute(
            select(Patient.managed_by_id, func.count()).where(Patient.managed_by_id.in_(ids))
            .group_by(Patient.managed_by_id)
        ).all()) if ids else {}
    result = []
    for worker in workers:
        mine = [r for r in rows if r.managed_by_id == worker.id]
        weeks = [0] * WEEKS
        for r in mine:
            submitted = _utc(r.submitted_at)
            if submitted >= start:
                weeks[min(WEEKS - 1, int((submitted - start) / dt.timedelta(weeks=1)))] += 1
        waits = [(_utc(r.claimed_at) - _utc(r.submitted_at)).total_seconds() for r in mine if r.claimed_at]
        result.append(WorkerActivity(
            id=worker.id, label=labels.get(worker.id, f"health worker {worker.id}"),
            joined_at=_utc(worker.consented_at) if worker.consented_at else None,
            patients=int(counts.get(worker.id, 0)), cases_per_week=tuple(weeks),
            open_cases=sum(r.status in OPEN for r in mine),
            median_answer=dt.timedelta(seconds=statistics.median(waits)) if waits else None,
        ))
    return sorted(result, key=lambda w: w.label.lower())


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
