"""task_dispatches.failures: how many runs of a task failed outright

A case whose analysis fails every time (a bug, not a passing fault) is then triaged on the patient's answers alone
instead of waiting for a fix (`triage.tasks.analyze_case`).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTOINCREMENT = {"sqlite_autoincrement": True}  # kept if SQLite's batch mode rebuilds the table


def upgrade() -> None:
    with op.batch_alter_table("task_dispatches", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.add_column(sa.Column("failures", sa.Integer(), server_default="0", nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("task_dispatches", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_column("failures")
