"""Tracked lesions: a spot followed with new photos over months, its visits (cases) and their measurements

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    op.create_table(
        "tracked_lesions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("patient_id", sa.Integer(), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("body_site", sa.String(length=16), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("interval_days", sa.Integer(), nullable=False),
        sa.Column("interval_source", sa.String(length=32), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reminded_for", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_visit_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], name=op.f("fk_tracked_lesions_patient_id_patients"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracked_lesions")),
        **AUTOINCREMENT,
    )
    op.create_index(op.f("ix_tracked_lesions_patient_id"), "tracked_lesions", ["patient_id"], unique=False)
    op.create_index("ix_tracked_lesions_status_next_due_at", "tracked_lesions", ["status", "next_due_at"],
                    unique=False)
    # A foreign key on SQLite needs the table rebuilt (batch mode); env.py keeps its AUTOINCREMENT counter.
    with op.batch_alter_table("cases", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("lesion_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("lesion_measurement", sa.JSON(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_cases_lesion_id_tracked_lesions"), "tracked_lesions",
                                    ["lesion_id"], ["id"], ondelete="SET NULL")
        batch_op.create_index(batch_op.f("ix_cases_lesion_id"), ["lesion_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cases", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cases_lesion_id"))
        batch_op.drop_constraint(batch_op.f("fk_cases_lesion_id_tracked_lesions"), type_="foreignkey")
        batch_op.drop_column("lesion_measurement")
        batch_op.drop_column("lesion_id")
    op.drop_index("ix_tracked_lesions_status_next_due_at", table_name="tracked_lesions")
    op.drop_index(op.f("ix_tracked_lesions_patient_id"), table_name="tracked_lesions")
    op.drop_table("tracked_lesions")
