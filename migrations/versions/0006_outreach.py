"""outreach: community health workers and the patients they manage, organisations, invites

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

AUTOINCREMENT = {"sqlite_autoincrement": True}


def upgrade() -> None:
    with op.batch_alter_table("patients", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.alter_column("telegram_user_id", existing_type=sa.BigInteger(), nullable=True)
        batch_op.add_column(sa.Column("role", sa.String(length=16), server_default="patient", nullable=False))
        batch_op.add_column(sa.Column("organisation", sa.String(length=64), server_default="default",
                                      nullable=False))
        batch_op.add_column(sa.Column("managed_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("local_ref", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("profile", sa.JSON(), nullable=True))
        batch_op.create_foreign_key(batch_op.f("fk_patients_managed_by_id_patients"), "patients",
                                    ["managed_by_id"], ["id"], ondelete="CASCADE")
        batch_op.create_index(batch_op.f("ix_patients_managed_by_id"), ["managed_by_id"], unique=False)
        batch_op.create_unique_constraint("uq_patients_managed_by_id_local_ref", ["managed_by_id", "local_ref"])
    op.execute("UPDATE patients SET profile = '{}'")
    # A patient's organisation was their cases' (one deployment, one organisation until now).
    op.execute("UPDATE patients SET organisation = coalesce((SELECT cases.organisation FROM cases WHERE "
               "cases.patient_id = patients.id ORDER BY cases.id DESC LIMIT 1), 'default')")
    with op.batch_alter_table("patients", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.alter_column("profile", existing_type=sa.JSON(), nullable=False)
    op.create_table(
        "organisations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("clinician_chat_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisations")),
        sa.UniqueConstraint("code", name=op.f("uq_organisations_code")),
        **AUTOINCREMENT,
    )
    op.create_table(
        "invites",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code_sha256", sa.String(length=64), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=128), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by_id", sa.Integer(), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["clinicians.id"], name=op.f("fk_invites_created_by_id_clinicians"),
                                ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["used_by_id"], ["patients.id"], name=op.f("fk_invites_used_by_id_patients"),
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("code_sha256", name=op.f("uq_invites_code_sha256")),
        **AUTOINCREMENT,
    )
    op.create_index(op.f("ix_invites_organisation"), "invites", ["organisation"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_invites_organisation"), table_name="invites")
    op.drop_table("invites")
    op.drop_table("organisations")
    op.execute("DELETE FROM patients WHERE telegram_user_id IS NULL")  # managed patients cannot exist before this
    with op.batch_alter_table("patients", table_kwargs=AUTOINCREMENT) as batch_op:
        batch_op.drop_constraint("uq_patients_managed_by_id_local_ref", type_="unique")
        batch_op.drop_index(batch_op.f("ix_patients_managed_by_id"))
        batch_op.drop_constraint(batch_op.f("fk_patients_managed_by_id_patients"), type_="foreignkey")
        batch_op.drop_column("profile")
        batch_op.drop_column("local_ref")
        batch_op.drop_column("managed_by_id")
        batch_op.drop_column("organisation")
        batch_op.drop_column("role")
        batch_op.alter_column("telegram_user_id", existing_type=sa.BigInteger(), nullable=False)
