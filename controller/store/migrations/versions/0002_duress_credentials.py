"""Duress PINs: one optional duress credential per person (issue 13; docs/security.md "Duress").

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "duress_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", sa.String(27), nullable=False),
        sa.CheckConstraint("length(digest) = 32", name=op.f("ck_duress_credentials_digest_length")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_duress_credentials_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_duress_credentials"),
        sa.UniqueConstraint("user_id", name="uq_duress_credentials_user_id"),
    )
    op.create_index("ix_duress_credentials_digest", "duress_credentials", ["digest"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_duress_credentials_digest", table_name="duress_credentials")
    op.drop_table("duress_credentials")
