"""ids are never reused, cases carry a random public reference, the audit refuses TRUNCATE, outbox rows say
whether Telegram may already have them

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

SQLite gives the highest id out again after that row is deleted unless a table is AUTOINCREMENT; this revision
rebuilds every table with an integer key as AUTOINCREMENT (its rows and ids kept). Ids already given out and
erased before this revision are recovered from the audit trail where it names them (case ids, patient ids), so
the next case never gets an erased case's number. PostgreSQL's sequences never reuse ids; there it only adds the
TRUNCATE trigger.

Rebuilding a table on SQLite needs foreign keys off (dropping the old table would cascade): `migrations/env.py`
turns them off for the migration's connection, and this revision checks the keys afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INTEGER_KEYED = ("patients", "clinicians", "cases", "case_images", "model_results", "triage_decisions", "messages",
                 "outbox", "audit_events")


def upgrade() -> None:
    bind = op.get_bind()
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("delivery_uncertain", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("cases") as batch_op:
        batch_op.add_column(sa.Column("public_ref", sa.String(length=16), nullable=True))
    cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("public_ref", sa.String))
    for (case_id,) in bind.execute(sa.select(cases.c.id)).all():
        bind.execute(sa.update(cases).where(cases.c.id == case_id).values(public_ref=secrets.token_urlsafe(6)))
    with op.batch_alter_table("cases") as batch_op:
        batch_op.alter_column("public_ref", existing_type=sa.String(length=16), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_cases_public_ref"), ["public_ref"])
    if bind.dialect.name == "sqlite":
        _sqlite_autoincrement(bind)
    else:
        op.execute(
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
        )


def _sqlite_autoincrement(bind: sa.Connection) -> None:
    for name in INTEGER_KEYED:
        with op.batch_alter_table(name, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
            pass
    # The rebuild dropped the audit table's triggers with the old table.
    for event in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_events_no_{event.lower()} BEFORE {event} ON audit_events "
            "BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END"
        )
    audit = sa.table("audit_events", sa.column("case_id", sa.Integer), sa.column("actor", sa.String))
    erased_case = bind.execute(sa.select(sa.func.max(audit.c.case_id))).scalar() or 0
    patient_ids = [int(actor.split(":", 1)[1]) for (actor,) in bind.execute(
        sa.select(audit.c.actor).where(audit.c.actor.like("patient:%"))) if actor.split(":", 1)[1].isdigit()]
    floors = {"cases": erased_case, "patients": max(patient_ids, default=0)}
    for name in INTEGER_KEYED:
        highest = bind.execute(sa.text(f"SELECT coalesce(max(id), 0) FROM {name}")).scalar() or 0  # noqa: S608
        seq = max(int(highest), floors.get(name, 0))
        bind.execute(sa.text("DELETE FROM sqlite_sequence WHERE name = :n"), {"n": name})
        if seq:
            bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES (:n, :s)"), {"n": name, "s": seq})
    broken = bind.execute(sa.text("PRAGMA foreign_key_check")).all()
    if broken:
        raise RuntimeError(f"foreign keys broken after rebuilding the tables: {len(broken)} rows")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events")
    # AUTOINCREMENT stays on SQLite: going back must not start reusing ids.
    with op.batch_alter_table("cases", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_cases_public_ref"), type_="unique")
        batch_op.drop_column("public_ref")
    with op.batch_alter_table("outbox", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("delivery_uncertain")
