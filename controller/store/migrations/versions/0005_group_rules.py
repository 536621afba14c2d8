"""Group rules: the factors a group requires (its stricter mode) and the two-person rule per group (issue 13).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

DOOR_MODES = "'pin', 'finger', 'pin_or_finger', 'pin_and_finger'"


def upgrade() -> None:
    # In place (ALTER TABLE ADD COLUMN), the CHECK as a column constraint: recreating access_groups would
    # fight the users' foreign key to it. The DDL equals the models' (tests/controller/test_db.py).
    op.add_column("access_groups", sa.Column(
        "required_mode", sa.String(16),
        sa.CheckConstraint(f"required_mode IS NULL OR required_mode IN ({DOOR_MODES})",
                           name=op.f("ck_access_groups_required_mode")), nullable=True))
    op.add_column("access_groups", sa.Column("two_person", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    op.drop_column("access_groups", "two_person")
    op.drop_column("access_groups", "required_mode")
