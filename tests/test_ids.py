"""No id is ever given out twice, on any table, on either database, including databases made by earlier revisions.

A reused id is a safety defect, not a cosmetic one: an erased patient's alert, still in the clinicians' chat, would
claim the next patient's case, and the audit trail would merge two people.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Integer, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from tests.factories import make_case
from tests.test_migrations import _config
from triage import cases
from triage.db import make_engine, make_sessionmaker
from triage.images import ImageStore
from triage.models import AuditEvent, Base, Case, Outbox, Patient


def _integer_keyed() -> list[str]:
    return sorted(
        name for name, table in Base.metadata.tables.items()
        if len(table.primary_key.columns) == 1 and isinstance(next(iter(table.primary_key.columns)).type, Integer)
    )


def test_every_integer_keyed_table_is_declared_never_to_reuse_ids() -> None:
    missing = [name for name in _integer_keyed() if not Base.metadata.tables[name].kwargs.get("sqlite_autoincrement")]
    assert missing == [], f"tables that would reuse ids on SQLite: {missing} (add NEVER_REUSE_IDS)"


def test_the_migrated_schema_never_reuses_ids(sessions: sessionmaker[Session]) -> None:
    engine = sessions.kw["bind"]
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = dict(conn.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'table'")).all())
            plain = [name for name in _integer_keyed() if "AUTOINCREMENT" not in rows[name].upper()]
        else:
            plain = [name for name in _integer_keyed()
                     if "nextval" not in str(inspect(conn).get_columns(name)[0].get("default") or "")]
    assert plain == []


def _erase_then_next_case(sessions: sessionmaker[Session], store: ImageStore) -> tuple[int, int]:
    first = make_case(sessions, store, user=501)
    assert cases.erase_patient(sessions, store, 501) == 1
    second = make_case(sessions, store, user=502)
    return first, second


def test_after_an_erasure_the_next_patient_gets_new_numbers(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images", [b"m6dcB1oA4vWBKYOYbdX9kS6ElpD3a4m9HPQVJJ6Z0Zk="])
    first, second = _erase_then_next_case(sessions, store)
    assert second > first
    with sessions() as session:
        patient_ids = session.scalars(select(Patient.id)).all()
        audit_cases = set(session.scalars(select(AuditEvent.case_id).where(AuditEvent.case_id.is_not(None))))
    assert patient_ids and min(patient_ids) > 1  # patient 1 was erased and its id not handed out again
    assert first in audit_cases and second in audit_cases  # two people, two numbers in the audit trail


def test_every_table_gives_a_deleted_highest_id_out_never_again(sessions: sessionmaker[Session],
                                                                 tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images", [b"m6dcB1oA4vWBKYOYbdX9kS6ElpD3a4m9HPQVJJ6Z0Zk="])
    make_case(sessions, store, user=601)
    engine = sessions.kw["bind"]
    with engine.begin() as conn:
        highest = {name: conn.execute(text(f"SELECT max(id) FROM {name}")).scalar()  # noqa: S608
                   for name in _integer_keyed()}
    assert highest["cases"] and highest["case_images"] and highest["patients"]
    cases.erase_patient(sessions, store, 601)  # deletes the patient's rows everywhere they cascade
    make_case(sessions, store, user=602)
    with engine.begin() as conn:
        for name in ("patients", "cases", "case_images", "messages"):
            now = conn.execute(text(f"SELECT min(id) FROM {name}")).scalar()  # noqa: S608
            assert now is not None and now > (highest[name] or 0), name


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def test_a_database_made_before_this_fix_never_reuses_an_erased_cases_number(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = str(request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url"))
    config = _config(url)
    command.upgrade(config, "0002")
    old = make_engine(url)
    with old.begin() as conn:  # what an older release did: a case, then its patient erased; only the audit remains
        conn.execute(text("INSERT INTO patients (id, telegram_user_id, chat_id, language, conversation_state, "
                          "conversation_data, created_at, updated_at) VALUES (1, 11, 11, 'en', 'idle', '{}', "
                          "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        for case_id in (1, 2, 3):
            conn.execute(text("INSERT INTO cases (id, patient_id, status, language, answers, patient_text, "
                              "forwarded, organisation, analysis_attempts, created_at, updated_at) VALUES "
                              "(:id, 1, 'queued', 'en', '{}', '', false, 'default', 0, "
                              "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"), {"id": case_id})
            conn.execute(text("INSERT INTO audit_events (at, actor, action, case_id, details) VALUES "
                              "(CURRENT_TIMESTAMP, 'patient:1', 'case.submitted', :id, '{}')"), {"id": case_id})
        conn.execute(text("DELETE FROM patients WHERE id = 1"))  # the erasure: its cases go with it
        if backend == "postgresql":  # the rows above were given explicit ids; an old release took them from here
            conn.execute(text("SELECT setval(pg_get_serial_sequence('cases', 'id'), 3)"))
            conn.execute(text("SELECT setval(pg_get_serial_sequence('patients', 'id'), 1)"))
    old.dispose()
    command.upgrade(config, "head")
    sessions = make_sessionmaker(make_engine(url))
    store = ImageStore(tmp_path / "images", [b"m6dcB1oA4vWBKYOYbdX9kS6ElpD3a4m9HPQVJJ6Z0Zk="])
    new = make_case(sessions, store, user=12)
    assert new > 3
    with sessions() as session:
        refs = session.scalars(select(Case.public_ref)).all()
    assert len(refs) == len(set(refs)) and all(len(ref) == 8 for ref in refs)
    with sessions() as session:
        assert min(session.scalars(select(Patient.id))) > 1
    sessions.kw["bind"].dispose()


def test_outbox_ids_of_an_erased_patient_are_not_reused(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "images", [b"m6dcB1oA4vWBKYOYbdX9kS6ElpD3a4m9HPQVJJ6Z0Zk="])
    case_id = make_case(sessions, store, user=701)
    from triage.outbox import enqueue

    with sessions.begin() as session:
        enqueue(session, kind="text", chat_id=701, dedupe_key="t:1", payload={"text": "x"}, case_id=case_id)
        first = session.scalar(select(Outbox.id))
    cases.erase_patient(sessions, store, 701)
    with sessions.begin() as session:
        enqueue(session, kind="text", chat_id=702, dedupe_key="t:2", payload={"text": "y"})
        second = session.scalar(select(Outbox.id))
    assert first is not None and second is not None and second > first

