"""Visitors: a person's kind, the instant a visitor's validity ends, the escort group (issue 13 item 5).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Added in place (ALTER TABLE ADD COLUMN), the CHECK on kind as a column constraint: recreating the table
    # would cascade the deletion of every credential (foreign keys are on). The DDL equals the models'.
    op.add_column("users", sa.Column("kind", sa.String(16), sa.CheckConstraint("kind IN ('staff', 'visitor')",
                                                                           name=op.f("ck_users_kind")),
                                     server_default=sa.text("'staff'"), nullable=False))
    op.add_column("users", sa.Column("valid_until_at", sa.String(27), nullable=True))
    op.add_column("users", sa.Column("escort_group", sa.String(80), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "escort_group")
    op.drop_column("users", "valid_until_at")
    op.drop_column("users", "kind")
