"""task dispatches: every task a committed change needs is a row first, sent to the broker from there

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "task_dispatches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("task", sa.String(length=64), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("sends", sa.Integer(), nullable=False),
        sa.Column("runner", sa.String(length=36), nullable=True),
        sa.Column("next_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_task_dispatches")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_task_dispatches_dedupe_key")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_task_dispatches_status_next_at", "task_dispatches", ["status", "next_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_task_dispatches_status_next_at", table_name="task_dispatches")
    op.drop_table("task_dispatches")
