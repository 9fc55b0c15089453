"""inbox: server-side sessions of the clinician web inbox

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 02:24:16.801853
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbox_sessions",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("clinician_id", sa.Integer(), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["clinician_id"],
            ["clinicians.id"],
            name=op.f("fk_inbox_sessions_clinician_id_clinicians"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbox_sessions")),
    )
    with op.batch_alter_table("inbox_sessions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_inbox_sessions_clinician_id"), ["clinician_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("inbox_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_inbox_sessions_clinician_id"))
    op.drop_table("inbox_sessions")
