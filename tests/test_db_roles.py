"""Least privilege on PostgreSQL (docs/operations.md): migrations as an owner role, web, worker and beat as a runtime
role set up by `python -m triage.admin grant-runtime-role`. The audit is append-only against the application
itself: the runtime role can add and read audit rows, and cannot change, delete, truncate or unprotect them,
while everything the application really does (a patient's case, the worker's outcome, the outbox and dispatch
rows, an inbox claim, reply and close, sign-in, erasure) works as that role.

Roles are cluster-wide: the test makes its own with unique names and drops them, with its database, afterwards.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from cryptography.fernet import Fernet
from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from model_server.api import AnalyzeResponse
from tests.conftest import PG_ADMIN_URL, ROOT, migrate
from tests.factories import make_case
from tests.processes import python
from triage import accounts, cases, dispatch, outbox, pipeline, review
from triage.db import make_engine, make_sessionmaker, transaction
from triage.images import ImageStore
from triage.models import AuditEvent, Case, Outbox, Patient
from triage.rules import assess, parse_case

pytestmark = pytest.mark.services
INSUFFICIENT_PRIVILEGE = "42501"


@dataclass
class Roles:
    owner: str
    runtime: str
    member: str  # a role that is a member of the owner: it must be refused as a runtime role
    owner_url: str
    runtime_url: str


def _url(user: str, database: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgres@", f"{user}@", 1)
    return f"{base}/{database}"


@pytest.fixture
def roles(postgres_admin: Engine) -> Iterator[Roles]:
    suffix = uuid.uuid4().hex[:10]
    owner, runtime, member = f"derma_owner_{suffix}", f"derma_app_{suffix}", f"derma_member_{suffix}"
    database = f"derma_roles_{suffix}"
    with postgres_admin.connect() as conn:
        for role in (owner, runtime, member):
            conn.execute(text(f'CREATE ROLE "{role}" LOGIN'))
        conn.execute(text(f'GRANT "{owner}" TO "{member}"'))
        conn.execute(text(f'CREATE DATABASE "{database}" OWNER "{owner}"'))
    try:
        yield Roles(owner, runtime, member, _url(owner, database), _url(runtime, database))
    finally:
        with postgres_admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            for role in (member, runtime, owner):
                conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))


def grant(owner_url: str, role: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`python -m triage.admin grant-runtime-role ROLE`, as the release step runs it (as the owner)."""
    env = {**os.environ, "DATABASE_URL": owner_url, "DATA_DIR": str(tmp_path)}
    return subprocess.run(python("-m", "triage.admin", "grant-runtime-role", role), env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def _refused(engine: Engine, statement: str) -> None:
    with pytest.raises(DBAPIError) as caught, engine.begin() as conn:
        conn.execute(text(statement))
    assert getattr(caught.value.orig, "sqlstate", None) == INSUFFICIENT_PRIVILEGE, (statement, caught.value.orig)


@pytest.fixture
def runtime(roles: Roles, tmp_path: Path) -> Iterator[Engine]:
    """The database migrated as the owner and granted to the runtime role; an engine connected as the latter."""
    migrate(roles.owner_url)
    for _ in range(2):  # idempotent: the release step runs it after every migration
        done = grant(roles.owner_url, roles.runtime, tmp_path)
        assert done.returncode == 0, done.stderr
        assert "SELECT and INSERT only on audit_events" in done.stdout
    engine = make_engine(roles.runtime_url, pool_size=2)
    yield engine
    engine.dispose()


def test_the_runtime_role_can_add_to_the_audit_and_nothing_else(roles: Roles, runtime: Engine) -> None:
    with runtime.begin() as conn:
        conn.execute(text("INSERT INTO audit_events (actor, action, details) VALUES ('test', 'test.added', '{}')"))
        assert conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'test.added'")).scalar() == 1
        owned = conn.execute(text("SELECT tablename FROM pg_tables WHERE tableowner = current_user")).all()
        assert owned == []
        assert conn.execute(text("SELECT count(*) FROM alembic_version")).scalar() == 1
    for statement in (
        "UPDATE audit_events SET actor = 'someone else'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only",
        "DROP TRIGGER audit_events_no_truncate ON audit_events",
        "DROP TABLE audit_events",
        "SET session_replication_role = replica",  # would skip every trigger: superusers only
        "UPDATE alembic_version SET version_num = '0001'",
        "TRUNCATE cases",
        "CREATE TRIGGER sneaky BEFORE INSERT ON cases FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
    ):
        _refused(runtime, statement)
    with runtime.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM audit_events WHERE action = 'test.added'")).scalar() == 1


def _response() -> AnalyzeResponse:
    return AnalyzeResponse.model_validate({
        "differential": [{"condition": "eczema", "likelihood": 0.7}, {"condition": "psoriasis", "likelihood": 0.3}],
        "findings": ["scaly patches"], "image_quality": ["good"], "answer": "This looks like eczema.",
        "language": "en", "backend": "hf", "model_id": "tiny", "model_revision": "r1",
        "timings": {"queue_ms": 1, "inference_ms": 10, "total_ms": 11, "batch_size": 1},
    })


def test_the_applications_work_succeeds_as_the_runtime_role(
    roles: Roles, runtime: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(accounts, "PASSWORD_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    factory: sessionmaker[Session] = make_sessionmaker(runtime)
    store = ImageStore(tmp_path / "images", [Fernet.generate_key()])
    # The patient's side (web process): consent, a photo, the answers, submit (which queues the task's row).
    case_id = make_case(factory, store, user=4242, text="red scaly patches on my elbows")
    published: list[tuple[str, list[object]]] = []
    assert dispatch.publish_due(factory, lambda task, args: published.append((task, args))) == 1
    assert published == [("triage.analyze_case", [case_id])]
    # The worker: claim, then the outcome, the decision and the outgoing messages in one transaction.
    config = pipeline.PipelineConfig(clinician_chat_id=-100123, stuck_after_s=600)
    token = pipeline.claim_case(factory, case_id, stuck_after_s=600)
    assert token is not None
    snapshot = pipeline.load_snapshot(factory, case_id)
    decision = assess(parse_case(pipeline.triage_input(snapshot, _response())))
    assert pipeline.store_outcome(factory, config, snapshot, token, _response(), decision, "")
    # The outbox sender (web process) claims and records a message.
    with transaction(factory) as session:
        row = outbox.claim_next(session, 4242)
        assert row is not None
        assert outbox.mark_sent(session, row.id, row.attempts, 555)
    # A clinician: account, sign-in, session; then claim, reply, outcome and close in the inbox.
    made = accounts.create_clinician(factory, email="ana@default.example.org", display_name="Dr Ana",
                                     role="admin", organisation="default", password="a long password")
    assert accounts.authenticate(factory, made.email, "a long password").outcome == accounts.LoginOutcome.OK
    grant_ = accounts.start_session(factory, made.id, max_age=dt.timedelta(hours=1))
    assert accounts.resolve_session(factory, grant_.token, idle=dt.timedelta(hours=1)) is not None
    with transaction(factory) as session:  # the case is forwarded so that the inbox has it
        session.get_one(Case, case_id).status = "forwarded"
    review.claim(factory, made, case_id)
    review.reply(factory, made, case_id, "Please send a photo in daylight.")
    review.change_tier(factory, made, case_id, "soon", "spreading")
    review.record_outcome(factory, made, case_id, "psoriasis", "referred")
    review.close(factory, made, case_id)
    assert accounts.sign_out(factory, grant_.token)
    # /delete: the patient's erasure, with its one audit row.
    assert cases.erase_patient(factory, store, 4242) == 1
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0
        assert session.scalar(select(func.count()).select_from(Outbox).where(Outbox.chat_id == 4242)) == 0
        actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
    for action in ("case.triaged", "case.claimed", "case.replied", "case.outcome", "case.closed", "logout",
                   "patient.erased"):
        assert any(a.startswith(action) for a in actions), (action, actions)


@pytest.mark.parametrize("who", ["missing", "owner", "member", "superuser"])
def test_the_grant_is_refused_for_a_role_that_could_get_round_it(
    roles: Roles, tmp_path: Path, who: str
) -> None:
    migrate(roles.owner_url)
    role = {"missing": f"derma_nobody_{uuid.uuid4().hex[:8]}", "owner": roles.owner, "member": roles.member,
            "superuser": "postgres"}[who]
    done = grant(roles.owner_url, role, tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    expected = {"missing": "there is no role", "owner": "is the role running this command",
                "member": "a member of a role that owns", "superuser": "is a superuser"}[who]
    assert expected in done.stderr
    assert "Traceback" not in done.stderr


def test_the_grant_needs_postgresql_and_a_migrated_database(roles: Roles, tmp_path: Path) -> None:
    done = grant(roles.owner_url, roles.runtime, tmp_path)  # not migrated yet
    assert done.returncode == 1 and "run the migrations" in done.stderr
    done = grant(f"sqlite:///{tmp_path / 'x.sqlite3'}", roles.runtime, tmp_path)
    assert done.returncode == 1 and "PostgreSQL" in done.stderr


def test_tables_the_owner_adds_later_are_granted_by_default(roles: Roles, runtime: Engine) -> None:
    owner = make_engine(roles.owner_url, pool_size=1)
    try:
        with owner.begin() as conn:
            conn.execute(text("CREATE TABLE later_table (id serial PRIMARY KEY, note text)"))
    finally:
        owner.dispose()
    with runtime.begin() as conn:
        conn.execute(text("INSERT INTO later_table (note) VALUES ('x')"))
        conn.execute(text("UPDATE later_table SET note = 'y'"))
        conn.execute(text("DELETE FROM later_table"))
    _refused(runtime, "TRUNCATE later_table")
