"""Several doors and a whole site (issue 16): the doors a group grants, the door whose sensor holds a finger,
where a person comes from (local or the site) and the site link's cursors.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_FINGER_COLUMNS = "id, user_id, slot, state, created_at"


def _create_finger_credentials(name: str, *, with_door: bool) -> None:
    """finger_credentials as the models have it (with ``door`` and UNIQUE(door, slot)) or as before."""
    columns = [
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("created_at", sa.String(27), nullable=False),
    ]
    if with_door:
        columns.append(sa.Column("door", sa.String(40), server_default=sa.text("''"), nullable=False))
    unique = ("door", "slot") if with_door else ("slot",)
    op.create_table(
        name,
        *columns,
        sa.CheckConstraint("state IN ('pending', 'active')", name=op.f("ck_finger_credentials_state")),
        sa.CheckConstraint("slot >= 0", name=op.f("ck_finger_credentials_slot")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_finger_credentials_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_finger_credentials"),
        sa.UniqueConstraint(*unique, name=f"uq_finger_credentials_{'_'.join(unique)}"),
    )


def _rebuild_finger_credentials(*, with_door: bool) -> None:
    """Recreate finger_credentials under its own name (so its DDL equals the models', unquoted), keeping every
    row: nothing refers to it, so renaming the old table away and dropping it cascades nothing."""
    op.drop_index("ix_finger_credentials_user_id", table_name="finger_credentials")
    op.rename_table("finger_credentials", "_old_finger_credentials")
    _create_finger_credentials("finger_credentials", with_door=with_door)
    if with_door:
        op.execute(f"INSERT INTO finger_credentials ({_FINGER_COLUMNS}, door) "
                   f"SELECT {_FINGER_COLUMNS}, '' FROM _old_finger_credentials")
    else:  # down: only the first door's fingers fit UNIQUE(slot)
        op.execute(f"INSERT INTO finger_credentials ({_FINGER_COLUMNS}) "
                   f"SELECT {_FINGER_COLUMNS} FROM _old_finger_credentials WHERE door = ''")
    op.drop_table("_old_finger_credentials")
    op.create_index("ix_finger_credentials_user_id", "finger_credentials", ["user_id"])


def upgrade() -> None:
    op.create_table(
        "group_doors",
        sa.Column("group_id", sa.Integer(), nullable=False),
        sa.Column("door", sa.String(40), nullable=False),
        sa.ForeignKeyConstraint(
            ["group_id"], ["access_groups.id"], name="fk_group_doors_group_id_access_groups", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("group_id", "door", name="pk_group_doors"),
    )
    _rebuild_finger_credentials(with_door=True)
    # In place (ALTER TABLE ADD COLUMN) with a column CHECK, like users.kind (0003): recreating users would
    # cascade the deletion of every credential.
    op.add_column("users", sa.Column("origin", sa.String(8), sa.CheckConstraint(
        "origin IN ('local', 'site')", name=op.f("ck_users_origin")),
        server_default=sa.text("'local'"), nullable=False))
    op.create_table(
        "site_sync",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("synced_at", sa.String(27), nullable=True),
        sa.Column("uploaded_seq", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("uploaded_at", sa.String(27), nullable=True),
        sa.CheckConstraint("id = 1", name=op.f("ck_site_sync_singleton")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_site_sync")),
    )


def downgrade() -> None:
    op.drop_table("site_sync")
    op.drop_column("users", "origin")
    _rebuild_finger_credentials(with_door=False)
    op.drop_table("group_doors")
