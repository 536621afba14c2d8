"""The outbox's cursors: how far each alert destination has got in the sealed events (issue 14).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_cursors",
        sa.Column("destination", sa.String(32), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.String(27), nullable=False),
        sa.Column("last_success_at", sa.String(27), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.Column("last_error_at", sa.String(27), nullable=True),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("dropped", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.CheckConstraint("seq >= 0 AND failures >= 0 AND dropped >= 0", name=op.f("ck_outbox_cursors_counters")),
        sa.PrimaryKeyConstraint("destination", name=op.f("pk_outbox_cursors")),
    )


def downgrade() -> None:
    op.drop_table("outbox_cursors")
