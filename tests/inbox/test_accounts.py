"""Clinician accounts: argon2 hashes, the lockout, and server-side sessions (triage/accounts.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from tests.inbox.conftest import PASSWORD, sqlite_only
from triage import accounts
from triage.accounts import AccountError, LoginOutcome
from triage.models import Clinician, InboxSession, utcnow

HOUR = dt.timedelta(hours=1)


def _make(
    sessions: sessionmaker[Session], email: str = "ana@north.example.org", **kw: object
) -> accounts.ClinicianView:
    fields: dict[str, object] = {
        "email": email,
        "display_name": "Dr Ana",
        "role": "clinician",
        "organisation": "north",
        "password": PASSWORD,
    }
    fields.update(kw)
    return accounts.create_clinician(sessions, **fields)  # type: ignore[arg-type]


def test_passwords_are_stored_as_argon2id_hashes_only() -> None:
    stored = accounts.hash_password("a long passphrase")
    assert stored.startswith("$argon2id$") and "a long passphrase" not in stored
    assert accounts.verify_password(stored, "a long passphrase")
    assert not accounts.verify_password(stored, "a long passphrasE")
    assert not accounts.verify_password("not a hash", "a long passphrase")
    assert not accounts.verify_password(None, "")


@sqlite_only
def test_accounts_are_checked_when_made(sessions: sessionmaker[Session]) -> None:
    made = _make(sessions, email="  Ana@North.Example.org ")
    assert made.email == "ana@north.example.org" and made.active and not made.is_admin
    for kwargs, message in (
        ({"email": "ana@north.example.org"}, "exists already"),
        ({"email": "not-an-email"}, "valid email"),
        ({"email": "x@north.example.org", "password": "short"}, "at least 10"),
        ({"email": "x@north.example.org", "role": "superuser"}, "role"),
        ({"email": "x@north.example.org", "organisation": "North Side"}, "organisation"),
        ({"email": "x@north.example.org", "display_name": "  "}, "name"),
    ):
        with pytest.raises(AccountError, match=message):
            _make(sessions, **kwargs)  # type: ignore[arg-type]


def test_five_failures_lock_the_account_for_fifteen_minutes(sessions: sessionmaker[Session]) -> None:
    made = _make(sessions)
    t0 = utcnow()
    for i in range(4):
        assert accounts.authenticate(sessions, made.email, "wrong", now=t0 + dt.timedelta(seconds=i)).outcome == (
            LoginOutcome.INVALID
        )
    assert accounts.authenticate(sessions, made.email, "wrong", now=t0).outcome == LoginOutcome.LOCKED
    during = t0 + dt.timedelta(minutes=14, seconds=59)
    assert accounts.authenticate(sessions, made.email, PASSWORD, now=during).outcome == LoginOutcome.LOCKED
    after = t0 + dt.timedelta(minutes=15, seconds=1)
    result = accounts.authenticate(sessions, made.email, PASSWORD, now=after)
    assert result.outcome == LoginOutcome.OK and result.clinician is not None
    with sessions() as session:
        row = session.scalars(select(Clinician)).one()
        assert (row.failed_logins, row.locked_until) == (0, None)


@sqlite_only
def test_a_deactivated_account_cannot_sign_in_and_loses_its_sessions(sessions: sessionmaker[Session]) -> None:
    made = _make(sessions)
    grant = accounts.start_session(sessions, made.id, max_age=HOUR)
    accounts.set_active(sessions, made.id, False, actor="test")
    assert accounts.authenticate(sessions, made.email, PASSWORD).outcome == LoginOutcome.INVALID
    assert accounts.resolve_session(sessions, grant.token, idle=HOUR) is None
    accounts.set_active(sessions, made.id, True, actor="test")
    assert accounts.authenticate(sessions, made.email, PASSWORD).outcome == LoginOutcome.OK


def test_sessions_end_at_their_age_or_when_idle_and_only_a_hash_is_stored(sessions: sessionmaker[Session]) -> None:
    made = _make(sessions)
    t0 = utcnow()
    grant = accounts.start_session(sessions, made.id, max_age=8 * HOUR, now=t0)
    with sessions() as session:
        stored = session.scalars(select(InboxSession.id)).one()
    assert grant.token not in stored and len(stored) == 64
    active = accounts.resolve_session(sessions, grant.token, idle=HOUR, now=t0 + dt.timedelta(minutes=50))
    assert active is not None and active.clinician.id == made.id and active.csrf_token == grant.csrf_token
    # Used at 0:50, so still alive at 1:40 (idle is counted from the last use) ...
    assert accounts.resolve_session(sessions, grant.token, idle=HOUR, now=t0 + dt.timedelta(minutes=100)) is not None
    # ... but gone after an idle hour, and for good.
    assert accounts.resolve_session(sessions, grant.token, idle=HOUR, now=t0 + dt.timedelta(minutes=161)) is None
    assert accounts.resolve_session(sessions, grant.token, idle=HOUR, now=t0 + dt.timedelta(minutes=101)) is None
    old = accounts.start_session(sessions, made.id, max_age=HOUR, now=t0)
    assert accounts.resolve_session(sessions, old.token, idle=2 * HOUR, now=t0 + dt.timedelta(minutes=61)) is None
    assert accounts.resolve_session(sessions, old.token[:-1] + "x", idle=HOUR, now=t0) is None
    assert accounts.resolve_session(sessions, "", idle=HOUR) is None


@sqlite_only
def test_a_new_password_ends_the_other_sessions(sessions: sessionmaker[Session]) -> None:
    made = _make(sessions)
    mine = accounts.start_session(sessions, made.id, max_age=HOUR)
    other = accounts.start_session(sessions, made.id, max_age=HOUR)
    accounts.set_password(sessions, made.id, "another long one", actor="test", keep_session=mine.token)
    assert accounts.resolve_session(sessions, mine.token, idle=HOUR) is not None
    assert accounts.resolve_session(sessions, other.token, idle=HOUR) is None
    assert accounts.authenticate(sessions, made.email, PASSWORD).outcome == LoginOutcome.INVALID
    assert accounts.authenticate(sessions, made.email, "another long one").outcome == LoginOutcome.OK


@sqlite_only
def test_a_telegram_user_is_found_only_for_an_active_account(sessions: sessionmaker[Session]) -> None:
    made = _make(sessions, telegram_user_id=123456789012)
    found = accounts.find_by_telegram_user(sessions, 123456789012)
    assert found is not None and found.id == made.id
    assert accounts.find_by_telegram_user(sessions, 1) is None
    accounts.set_active(sessions, made.id, False, actor="test")
    assert accounts.find_by_telegram_user(sessions, 123456789012) is None


def test_the_cli_says_clearly_when_the_database_is_not_migrated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import io

    from inbox.cli import main

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    code = main(["create-user", "--email", "a@example.org", "--name", "A", "--role", "admin",
                 "--organisation", "north"], stdin=io.StringIO("a-long-password\n"))
    assert code == 2
    assert "alembic upgrade head" in capsys.readouterr().err
