"""evidence before autonomy: model identity on results, evidence records, findings kept with decisions

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("model_results") as batch_op:
        batch_op.add_column(sa.Column("model_identity", sa.String(length=64), server_default="", nullable=False))
    with op.batch_alter_table("triage_decisions") as batch_op:
        batch_op.add_column(sa.Column("findings", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("text_read", sa.Text(), server_default="", nullable=False))
        batch_op.add_column(sa.Column("evidence_record_id", sa.Integer(), nullable=True))
    op.execute("UPDATE triage_decisions SET findings = '[]'")
    with op.batch_alter_table("triage_decisions", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.alter_column("findings", existing_type=sa.JSON(), nullable=False)
    op.create_table(
        "evidence_records",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("identity", sa.String(length=64), nullable=False),
        sa.Column("model_id", sa.String(length=256), nullable=False),
        sa.Column("backend", sa.String(length=32), nullable=False),
        sa.Column("quantization", sa.String(length=8), nullable=False),
        sa.Column("weights_sha256", sa.String(length=64), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=False),
        sa.Column("split", sa.String(length=16), nullable=False),
        sa.Column("ruleset_version", sa.String(length=32), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.Column("meets", sa.Boolean(), nullable=False),
        sa.Column("recorded_by", sa.String(length=128), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_by", sa.String(length=128), nullable=True),
        sa.Column("revoke_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evidence_records")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_evidence_records_identity"), "evidence_records", ["identity"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_evidence_records_identity"), table_name="evidence_records")
    op.drop_table("evidence_records")
    with op.batch_alter_table("triage_decisions", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("evidence_record_id")
        batch_op.drop_column("text_read")
        batch_op.drop_column("findings")
    with op.batch_alter_table("model_results", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        batch_op.drop_column("model_identity")
