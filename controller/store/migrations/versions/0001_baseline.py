"""Baseline schema: every table of docs/internals.md, plus the one door ``main``.

Revision ID: 0001
Revises:
Create Date: 2026-01-01

Hand-written to match ``controller.store.models`` exactly (a test compares them with
Alembic's ``compare_metadata``). Constraint names follow ``models.NAMING_CONVENTION``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

T = sa.String(27)  # UTC ISO timestamp text, see controller.timefmt

DOOR_MODES = "'pin', 'finger', 'pin_or_finger', 'pin_and_finger'"


def upgrade() -> None:
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("allow_on_holidays", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_schedules"),
        sa.UniqueConstraint("name", name="uq_schedules_name"),
    )
    op.create_table(
        "schedule_windows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.CheckConstraint("weekday BETWEEN 0 AND 6", name=op.f("ck_schedule_windows_weekday")),
        sa.CheckConstraint("start_minute BETWEEN 0 AND 1439", name=op.f("ck_schedule_windows_start_minute")),
        sa.CheckConstraint("end_minute BETWEEN 1 AND 1440", name=op.f("ck_schedule_windows_end_minute")),
        sa.CheckConstraint("start_minute < end_minute", name=op.f("ck_schedule_windows_start_before_end")),
        sa.ForeignKeyConstraint(
            ["schedule_id"], ["schedules.id"], name="fk_schedule_windows_schedule_id_schedules", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_schedule_windows"),
    )
    op.create_index("ix_schedule_windows_schedule_id", "schedule_windows", ["schedule_id"])
    op.create_table(
        "access_groups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(80), nullable=False),
        sa.Column("schedule_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["schedule_id"], ["schedules.id"], name="fk_access_groups_schedule_id_schedules"),
        sa.PrimaryKeyConstraint("id", name="pk_access_groups"),
        sa.UniqueConstraint("name", name="uq_access_groups_name"),
    )
    op.create_index("ix_access_groups_schedule_id", "access_groups", ["schedule_id"])
    op.create_table(
        "holidays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("name", sa.String(120), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_holidays"),
        sa.UniqueConstraint("day", name="uq_holidays_day"),
    )
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(16), nullable=False),
        sa.Column("display_name", sa.String(120), nullable=True),
        sa.Column("status", sa.String(16), server_default=sa.text("'active'"), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("agreement_signed_on", sa.Date(), nullable=True),
        sa.Column("extended_unlock", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("mode_override", sa.String(16), nullable=True),
        sa.Column("created_at", T, nullable=False),
        sa.Column("updated_at", T, nullable=False),
        sa.CheckConstraint("status IN ('active', 'suspended', 'revoked')", name=op.f("ck_users_status")),
        sa.CheckConstraint(
            f"mode_override IS NULL OR mode_override IN ({DOOR_MODES})", name=op.f("ck_users_mode_override")
        ),
        sa.CheckConstraint("length(code) BETWEEN 5 AND 16 AND substr(code, 1, 1) = 'U'", name=op.f("ck_users_code")),
        sa.CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until", name=op.f("ck_users_validity")
        ),
        sa.ForeignKeyConstraint(["group_id"], ["access_groups.id"], name="fk_users_group_id_access_groups"),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("code", name="uq_users_code"),
    )
    op.create_index("ix_users_group_id", "users", ["group_id"])
    op.create_table(
        "pin_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.LargeBinary(32), nullable=False),
        sa.Column("created_at", T, nullable=False),
        sa.CheckConstraint("length(digest) = 32", name=op.f("ck_pin_credentials_digest_length")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_pin_credentials_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_pin_credentials"),
        sa.UniqueConstraint("user_id", name="uq_pin_credentials_user_id"),
    )
    op.create_index("ix_pin_credentials_digest", "pin_credentials", ["digest"], unique=True)
    op.create_table(
        "finger_credentials",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("slot", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("created_at", T, nullable=False),
        sa.CheckConstraint("state IN ('pending', 'active')", name=op.f("ck_finger_credentials_state")),
        sa.CheckConstraint("slot >= 0", name=op.f("ck_finger_credentials_slot")),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name="fk_finger_credentials_user_id_users", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_finger_credentials"),
        sa.UniqueConstraint("slot", name="uq_finger_credentials_slot"),
    )
    op.create_index("ix_finger_credentials_user_id", "finger_credentials", ["user_id"])
    doors = op.create_table(
        "doors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(40), nullable=False),
        sa.Column("mode", sa.String(16), server_default=sa.text("'pin_or_finger'"), nullable=False),
        sa.Column("lockdown", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint(f"mode IN ({DOOR_MODES})", name=op.f("ck_doors_mode")),
        sa.PrimaryKeyConstraint("id", name="pk_doors"),
        sa.UniqueConstraint("name", name="uq_doors_name"),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("seq", sa.Integer(), nullable=True),
        sa.Column("mac", sa.LargeBinary(32), nullable=True),
        sa.Column("time", T, nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("method", sa.String(32), nullable=True),
        sa.Column("user_code", sa.String(16), nullable=True),
        sa.Column("door", sa.String(40), nullable=True),
        sa.Column("actor", sa.String(64), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(seq IS NULL AND mac IS NULL) OR (seq IS NOT NULL AND mac IS NOT NULL)", name=op.f("ck_events_sealed_pair")
        ),
        sa.CheckConstraint("seq IS NULL OR seq >= 1", name=op.f("ck_events_seq_positive")),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_events_seq", "events", ["seq"], unique=True)
    op.create_index("ix_events_user_code_id", "events", ["user_code", "id"])
    op.create_index("ix_events_type_id", "events", ["type", "id"])
    op.create_index("ix_events_time", "events", ["time"])
    op.create_table(
        "admin_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("locked_until", T, nullable=True),
        sa.Column("session_version", sa.Integer(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", T, nullable=False),
        sa.Column("password_changed_at", T, nullable=False),
        sa.CheckConstraint("role IN ('admin', 'auditor')", name=op.f("ck_admin_accounts_role")),
        sa.CheckConstraint("failed_logins >= 0", name=op.f("ck_admin_accounts_failed_logins")),
        sa.PrimaryKeyConstraint("id", name="pk_admin_accounts"),
        sa.UniqueConstraint("username", name="uq_admin_accounts_username"),
    )
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("created_at", T, nullable=False),
        sa.Column("last_seen_at", T, nullable=False),
        sa.Column("revoked", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("remote_addr", sa.String(64), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["admin_accounts.id"], name="fk_web_sessions_account_id_admin_accounts", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_web_sessions"),
        sa.UniqueConstraint("token_hash", name="uq_web_sessions_token_hash"),
    )
    op.create_index("ix_web_sessions_account_id", "web_sessions", ["account_id"])
    op.create_table(
        "lockout_state",
        sa.Column("name", sa.String(16), nullable=False),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("level", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("locked_until", T, nullable=True),
        sa.Column("failure_times", sa.Text(), server_default=sa.text("'[]'"), nullable=False),
        sa.Column("suspended", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.CheckConstraint("name IN ('keypad', 'finger')", name=op.f("ck_lockout_state_name")),
        sa.CheckConstraint("failures >= 0 AND level >= 0", name=op.f("ck_lockout_state_counters")),
        sa.PrimaryKeyConstraint("name", name="pk_lockout_state"),
    )
    op.create_table(
        "alarms",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("raised_at", T, nullable=False),
        sa.Column("cleared_at", T, nullable=True),
        sa.Column("acknowledged_by", sa.String(64), nullable=True),
        sa.Column("acknowledged_at", T, nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_alarms"),
    )
    op.bulk_insert(doors, [{"name": "main", "mode": "pin_or_finger", "lockdown": False}])


def downgrade() -> None:
    for index, table in (
        ("ix_events_time", "events"),
        ("ix_events_type_id", "events"),
        ("ix_events_user_code_id", "events"),
        ("ix_events_seq", "events"),
        ("ix_pin_credentials_digest", "pin_credentials"),
        ("ix_finger_credentials_user_id", "finger_credentials"),
        ("ix_web_sessions_account_id", "web_sessions"),
        ("ix_users_group_id", "users"),
        ("ix_access_groups_schedule_id", "access_groups"),
        ("ix_schedule_windows_schedule_id", "schedule_windows"),
    ):
        op.drop_index(index, table_name=table)
    for table in (
        "alarms",
        "lockout_state",
        "web_sessions",
        "admin_accounts",
        "events",
        "doors",
        "finger_credentials",
        "pin_credentials",
        "users",
        "holidays",
        "access_groups",
        "schedule_windows",
        "schedules",
    ):
        op.drop_table(table)
