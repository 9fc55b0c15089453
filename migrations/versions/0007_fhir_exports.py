"""FHIR exports: a pseudonym per patient, and one push row per version of a case

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A unique index, not a constraint: on SQLite a constraint would rebuild the table, and with it lose the
    # AUTOINCREMENT counter that keeps erased patients' ids from being given out again (tests/test_ids.py).
    op.add_column("patients", sa.Column("pseudonym", sa.String(length=36), nullable=True))
    op.create_index(op.f("ix_patients_pseudonym"), "patients", ["pseudonym"], unique=True)
    op.create_table(
        "fhir_pushes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("pushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_fhir_pushes_case_id_cases"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_pushes")),
        sa.UniqueConstraint("case_id", "version", name="uq_fhir_pushes_case_id_version"),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_fhir_pushes_case_id"), "fhir_pushes", ["case_id"], unique=False)
    op.create_index("ix_fhir_pushes_status_next_attempt_at", "fhir_pushes", ["status", "next_attempt_at"],
                    unique=False)


def downgrade() -> None:
    op.drop_index("ix_fhir_pushes_status_next_attempt_at", table_name="fhir_pushes")
    op.drop_index(op.f("ix_fhir_pushes_case_id"), table_name="fhir_pushes")
    op.drop_table("fhir_pushes")
    op.drop_index(op.f("ix_patients_pseudonym"), table_name="patients")
    with op.batch_alter_table("patients", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("pseudonym")
