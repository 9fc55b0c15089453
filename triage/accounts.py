"""Clinician accounts: creation, argon2 passwords, sign-in with lockout, and server-side inbox sessions.

Small synchronous functions over a session factory, like `triage.cases`; the web process calls them off the
event loop (argon2 is deliberately slow). Every change to an account writes an audit event.

Sign-in: after `MAX_FAILED_LOGINS` wrong passwords in a row an account is locked for `LOCKOUT`; a correct
password during the lock is refused too. An unknown email costs the same argon2 work as a known one, and the
caller gets the same answer, so sign-in does not tell which emails have accounts.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from triage.db import transaction
from triage.models import AuditEvent, Clinician, InboxSession, utcnow

ROLES = ("clinician", "admin")
MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024
_EMAIL_RE = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,189}\.[^@\s]{1,60}$")
_ORGANISATION_RE = re.compile(r"^[a-z0-9_-]{1,64}$")

#: The argon2id hasher (argon2-cffi's RFC 9106 low-memory defaults). Tests swap in a cheaper one.
PASSWORD_HASHER = PasswordHasher()
# Verified when the email is unknown, so that a miss costs as much as a wrong password.
_DUMMY_HASH: str | None = None


class AccountError(ValueError):
    """The request cannot be done as asked; the message says why, in words fit for the person who asked."""


@dataclass(frozen=True)
class ClinicianView:
    """A clinician account without its secrets, detached from any session."""

    id: int
    email: str
    display_name: str
    role: str
    organisation: str
    telegram_user_id: int | None
    active: bool
    locked_until: dt.datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> str:
        """How audit events name this clinician."""
        return f"clinician:{self.id}"


class LoginOutcome(StrEnum):
    OK = "ok"
    INVALID = "invalid"  # unknown email, wrong password, inactive account
    LOCKED = "locked"


@dataclass(frozen=True)
class LoginResult:
    outcome: LoginOutcome
    clinician: ClinicianView | None = None


@dataclass(frozen=True)
class SessionGrant:
    """A new inbox session: `token` goes into the browser's cookie and is stored nowhere else."""

    token: str
    csrf_token: str
    expires_at: dt.datetime


@dataclass(frozen=True)
class ActiveSession:
    clinician: ClinicianView
    csrf_token: str


def as_utc(value: dt.datetime) -> dt.datetime:
    """`value` as an aware UTC time (SQLite gives back naive timestamps, which are UTC)."""
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


def view(clinician: Clinician) -> ClinicianView:
    return ClinicianView(
        id=clinician.id,
        email=clinician.email,
        display_name=clinician.display_name,
        role=clinician.role,
        organisation=clinician.organisation,
        telegram_user_id=clinician.telegram_user_id,
        active=clinician.active,
        locked_until=as_utc(clinician.locked_until) if clinician.locked_until else None,
    )


# -- passwords ---------------------------------------------------------------------------------------------
def check_password_policy(password: str) -> None:
    """Raise `AccountError` unless the password is long enough (length beats composition rules)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AccountError(f"the password must have at most {MAX_PASSWORD_LENGTH} characters")


def hash_password(password: str) -> str:
    return PASSWORD_HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether `password` matches `password_hash`. Always does the argon2 work, even without a hash."""
    global _DUMMY_HASH
    if password_hash is None:
        if _DUMMY_HASH is None:
            _DUMMY_HASH = PASSWORD_HASHER.hash(secrets.token_hex(16))
        password_hash = _DUMMY_HASH
        password = password + "\0never"  # never matches the dummy
    try:
        return PASSWORD_HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# -- accounts ----------------------------------------------------------------------------------------------
def normalise_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL_RE.match(email) or len(email) > 254:
        raise AccountError("enter a valid email address")
    return email


def _check_fields(role: str, organisation: str, display_name: str) -> None:
    if role not in ROLES:
        raise AccountError(f"the role must be one of: {', '.join(ROLES)}")
    if not _ORGANISATION_RE.match(organisation):
        raise AccountError("the organisation must be 1-64 of a-z 0-9 _ -")
    if not display_name.strip() or len(display_name) > 128:
        raise AccountError("the name must have 1-128 characters")


def create_clinician(
    factory: sessionmaker[Session],
    *,
    email: str,
    display_name: str,
    role: str,
    organisation: str,
    password: str,
    telegram_user_id: int | None = None,
    actor: str = "cli",
) -> ClinicianView:
    """Create an active account. Raises `AccountError` for a bad field, a weak password or a taken email/id."""
    email = normalise_email(email)
    display_name = display_name.strip()
    _check_fields(role, organisation, display_name)
    check_password_policy(password)
    password_hash = hash_password(password)
    try:
        with transaction(factory) as session:
            clinician = Clinician(
                email=email,
                display_name=display_name,
                role=role,
                organisation=organisation,
                telegram_user_id=telegram_user_id,
                password_hash=password_hash,
                active=True,
                failed_logins=0,
            )
            session.add(clinician)
            session.flush()
            session.add(
                AuditEvent(
                    actor=actor,
                    action="account.created",
                    details={"clinician_id": clinician.id, "role": role, "organisation": organisation},
                )
            )
            return view(clinician)
    except IntegrityError:
        raise AccountError("an account with this email or Telegram user id exists already") from None


def list_clinicians(factory: sessionmaker[Session], *, organisation: str | None = None) -> list[ClinicianView]:
    with factory() as session:
        query = select(Clinician).order_by(Clinician.organisation, Clinician.email)
        if organisation is not None:
            query = query.where(Clinician.organisation == organisation)
        return [view(c) for c in session.scalars(query)]


def get_clinician(factory: sessionmaker[Session], clinician_id: int) -> ClinicianView | None:
    with factory() as session:
        clinician = session.get(Clinician, clinician_id)
        return view(clinician) if clinician else None


def find_by_email(factory: sessionmaker[Session], email: str) -> ClinicianView | None:
    with factory() as session:
        clinician = session.scalar(select(Clinician).where(Clinician.email == email.strip().lower()))
        return view(clinician) if clinician else None


def find_by_telegram_user(factory: sessionmaker[Session], telegram_user_id: int) -> ClinicianView | None:
    """The active clinician with this Telegram user id, or None."""
    with factory() as session:
        clinician = session.scalar(
            select(Clinician).where(Clinician.telegram_user_id == telegram_user_id, Clinician.active.is_(True))
        )
        return view(clinician) if clinician else None


def set_active(factory: sessionmaker[Session], clinician_id: int, active: bool, *, actor: str) -> ClinicianView:
    """Activate or deactivate an account; deactivation ends its inbox sessions at once."""
    with transaction(factory) as session:
        clinician = session.get(Clinician, clinician_id)
        if clinician is None:
            raise AccountError("no such account")
        clinician.active = active
        if not active:
            session.execute(delete(InboxSession).where(InboxSession.clinician_id == clinician_id))
        else:
            clinician.failed_logins = 0
            clinician.locked_until = None
        action = "account.activated" if active else "account.deactivated"
        session.add(AuditEvent(actor=actor, action=action, details={"clinician_id": clinician_id}))
        return view(clinician)


def set_password(
    factory: sessionmaker[Session], clinician_id: int, password: str, *, actor: str, keep_session: str | None = None
) -> None:
    """Set a new password, unlock the account, and end its inbox sessions (except `keep_session`, a token)."""
    check_password_policy(password)
    password_hash = hash_password(password)
    with transaction(factory) as session:
        clinician = session.get(Clinician, clinician_id)
        if clinician is None:
            raise AccountError("no such account")
        clinician.password_hash = password_hash
        clinician.failed_logins = 0
        clinician.locked_until = None
        ending = delete(InboxSession).where(InboxSession.clinician_id == clinician_id)
        if keep_session is not None:
            ending = ending.where(InboxSession.id != _session_id(keep_session))
        session.execute(ending)
        session.add(AuditEvent(actor=actor, action="account.password_set", details={"clinician_id": clinician_id}))


def authenticate(
    factory: sessionmaker[Session], email: str, password: str, *, now: dt.datetime | None = None
) -> LoginResult:
    """Check an email and password, counting failures and locking the account after `MAX_FAILED_LOGINS`."""
    now = now or utcnow()
    email = email.strip().lower()[:254]
    password = password[:MAX_PASSWORD_LENGTH]
    with factory() as session:
        clinician = session.scalar(select(Clinician).where(Clinician.email == email))
        stored = clinician.password_hash if clinician is not None else None
    matches = verify_password(stored, password)
    if clinician is None:
        with transaction(factory) as session:
            session.add(AuditEvent(actor="anonymous", action="login.failed", details={"reason": "unknown_email"}))
        return LoginResult(LoginOutcome.INVALID)
    with transaction(factory) as session:
        current = session.get_one(Clinician, clinician.id, with_for_update=True)
        details = {"clinician_id": current.id}
        if current.locked_until is not None and as_utc(current.locked_until) > now:
            session.add(AuditEvent(actor="anonymous", action="login.refused_locked", details=details))
            return LoginResult(LoginOutcome.LOCKED)
        if not matches or not current.active:
            current.failed_logins = (current.failed_logins or 0) + 1
            locked = current.failed_logins >= MAX_FAILED_LOGINS
            if locked:
                current.locked_until = now + LOCKOUT
                current.failed_logins = 0
            reason = "inactive" if matches else "wrong_password"
            session.add(AuditEvent(actor="anonymous", action="login.failed", details={**details, "reason": reason}))
            if locked:
                session.add(AuditEvent(actor="anonymous", action="account.locked", details=details))
            return LoginResult(LoginOutcome.LOCKED if locked else LoginOutcome.INVALID)
        current.failed_logins = 0
        current.locked_until = None
        if stored is not None and PASSWORD_HASHER.check_needs_rehash(stored):
            current.password_hash = hash_password(password)
        session.add(AuditEvent(actor=f"clinician:{current.id}", action="login.succeeded", details=details))
        return LoginResult(LoginOutcome.OK, view(current))


# -- inbox sessions ----------------------------------------------------------------------------------------
def _session_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    factory: sessionmaker[Session], clinician_id: int, *, max_age: dt.timedelta, now: dt.datetime | None = None
) -> SessionGrant:
    """A fresh session for a clinician who has just signed in (never reuse an earlier token: no fixation)."""
    now = now or utcnow()
    token = secrets.token_urlsafe(32)
    grant = SessionGrant(token=token, csrf_token=secrets.token_urlsafe(32), expires_at=now + max_age)
    with transaction(factory) as session:
        session.execute(delete(InboxSession).where(InboxSession.expires_at < now))
        session.add(
            InboxSession(
                id=_session_id(token),
                clinician_id=clinician_id,
                csrf_token=grant.csrf_token,
                created_at=now,
                last_seen_at=now,
                expires_at=grant.expires_at,
            )
        )
    return grant


def resolve_session(
    factory: sessionmaker[Session], token: str, *, idle: dt.timedelta, now: dt.datetime | None = None
) -> ActiveSession | None:
    """The signed-in clinician for a cookie token, or None if it is unknown, expired, idle or deactivated."""
    if not token or len(token) > 128:
        return None
    now = now or utcnow()
    session_id = _session_id(token)
    with factory() as session:
        row = session.get(InboxSession, session_id)
        if row is None:
            return None
        clinician = session.get(Clinician, row.clinician_id)
        last_seen = as_utc(row.last_seen_at)
        expired = as_utc(row.expires_at) <= now or last_seen + idle <= now
        if clinician is None or not clinician.active or expired:
            stale = True
        else:
            stale = False
            result = ActiveSession(view(clinician), row.csrf_token)
            touch = last_seen + dt.timedelta(seconds=60) <= now
    if stale:
        end_session(factory, token)
        return None
    if touch:  # at most once a minute: an idle timeout needs no write per request
        with transaction(factory) as session:
            session.execute(update(InboxSession).where(InboxSession.id == session_id).values(last_seen_at=now))
    return result


def end_session(factory: sessionmaker[Session], token: str) -> None:
    with transaction(factory) as session:
        session.execute(delete(InboxSession).where(InboxSession.id == _session_id(token)))


def sign_out(factory: sessionmaker[Session], token: str) -> bool:
    """End the session of `token` and audit `logout` for its clinician, in one transaction. Returns whether there
    was such a session (an unknown or already ended one changes nothing and is not audited)."""
    with transaction(factory) as session:
        clinician_id = session.scalar(
            delete(InboxSession).where(InboxSession.id == _session_id(token)).returning(InboxSession.clinician_id)
        )
        if clinician_id is None:
            return False
        session.add(AuditEvent(actor=f"clinician:{clinician_id}", action="logout",
                               details={"clinician_id": clinician_id}))
        return True
