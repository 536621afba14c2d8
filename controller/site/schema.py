"""The site database's tables (schema ``kunci``) as SQLAlchemy Core tables, the one description used by the
service, the controller's link and the site web (docs/site.md "Tables").

The migrations (``controller/site/migrations``) create them; the tables here must match migration ``s0001``
(tests/site/test_migrations.py compares them). Roles and row-level security are the migration's job alone.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

SCHEMA = "kunci"
#: The advisory lock every site write takes first (serialises writers, so revisions commit in order).
WRITE_LOCK = 16016
#: The NOTIFY channel of the feed; payload ``"<controller_id>:<revision>"``.
FEED_CHANNEL = "kunci_feed"
#: The sequence feed revisions are drawn from.
REVISIONS_SEQUENCE = "kunci.revisions"
#: Role names (cluster-wide; docs/site.md "Roles").
OWNER_ROLE = "kunci_site_owner"
ADMIN_ROLE = "kunci_site_admin"
CONTROLLER_ROLE = "kunci_controller"
CONTROLLER_ROLE_PREFIX = "kunci_ctl_"
#: Person statuses and staff roles at the site (as the controller's vocabulary).
PERSON_STATUSES = ("active", "suspended", "revoked")
STAFF_ROLES = ("admin", "auditor")

metadata = MetaData(schema=SCHEMA)

controllers = Table(
    "controllers", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("role", Text, nullable=False, unique=True),
    Column("joined_at", DateTime(timezone=True)),
    Column("last_seen_at", DateTime(timezone=True)),
    Column("revision_seen", BigInteger, nullable=False, server_default="0"),
    Column("uploaded_seq", BigInteger, nullable=False, server_default="0"),
)

controller_keys = Table(
    "controller_keys", metadata,
    Column("controller_id", Integer, ForeignKey("kunci.controllers.id", ondelete="CASCADE"), primary_key=True),
    Column("audit_key", LargeBinary, nullable=False),
)

rooms = Table(
    "rooms", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
)

doors = Table(
    "doors", metadata,
    Column("id", Integer, primary_key=True),
    Column("controller_id", Integer, ForeignKey("kunci.controllers.id", ondelete="CASCADE"), nullable=False),
    Column("name", Text, nullable=False),
    Column("room_id", Integer, ForeignKey("kunci.rooms.id"), nullable=False),
    Column("mode", Text, nullable=True),  # NULL: the mode of the controller's own configuration
    UniqueConstraint("controller_id", "name"),
)

schedules = Table(
    "schedules", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("allow_on_holidays", Boolean, nullable=False, server_default="false"),
)

schedule_windows = Table(
    "schedule_windows", metadata,
    Column("schedule_id", Integer, ForeignKey("kunci.schedules.id", ondelete="CASCADE"), nullable=False),
    Column("weekday", Integer, nullable=False),
    Column("start_minute", Integer, nullable=False),
    Column("end_minute", Integer, nullable=False),
)

holidays = Table(
    "holidays", metadata,
    Column("day", Date, primary_key=True),
    Column("name", Text, nullable=False, server_default=""),
)

groups = Table(
    "groups", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", Text, nullable=False, unique=True),
    Column("schedule_id", Integer, ForeignKey("kunci.schedules.id"), nullable=True),
    Column("required_mode", Text, nullable=True),
    Column("two_person", Boolean, nullable=False, server_default="false"),
)

group_doors = Table(
    "group_doors", metadata,
    Column("group_id", Integer, ForeignKey("kunci.groups.id", ondelete="CASCADE"), nullable=False),
    Column("door_id", Integer, ForeignKey("kunci.doors.id", ondelete="CASCADE"), nullable=False),
    PrimaryKeyConstraint("group_id", "door_id"),
)

people = Table(
    "people", metadata,
    Column("id", Integer, primary_key=True),
    Column("code", Text, nullable=False, unique=True),
    Column("display_name", Text, nullable=False, server_default=""),
    Column("status", Text, nullable=False, server_default="active"),
    Column("kind", Text, nullable=False, server_default="staff"),
    Column("valid_from", Date, nullable=True),
    Column("valid_until", Date, nullable=True),
    Column("group_id", Integer, ForeignKey("kunci.groups.id"), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("updated_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
)

pin_digests = Table(
    "pin_digests", metadata,
    Column("person_id", Integer, ForeignKey("kunci.people.id", ondelete="CASCADE"), primary_key=True),
    Column("digest", LargeBinary, nullable=False, unique=True),
)

staff = Table(
    "staff", metadata,
    Column("id", Integer, primary_key=True),
    Column("username", Text, nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("role", Text, nullable=False),
    Column("rooms", ARRAY(Integer), nullable=True),
    Column("active", Boolean, nullable=False, server_default="true"),
)

feed = Table(
    "feed", metadata,
    Column("revision", BigInteger, primary_key=True, autoincrement=False),
    Column("controller_id", Integer, ForeignKey("kunci.controllers.id", ondelete="CASCADE"), nullable=False),
    Column("op", Text, nullable=False),
    Column("key", Text, nullable=False),
    Column("payload", JSONB, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("ix_feed_controller_revision", "controller_id", "revision"),
)

events = Table(
    "events", metadata,
    Column("controller_id", Integer, nullable=False),
    Column("seq", BigInteger, nullable=False),
    Column("time", Text, nullable=False),
    Column("type", Text, nullable=False),
    Column("reason", Text),
    Column("method", Text),
    Column("user_code", Text),
    Column("door", Text),
    Column("actor", Text),
    Column("score", Integer),
    Column("detail", Text),
    Column("mac", LargeBinary, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    PrimaryKeyConstraint("controller_id", "seq"),
)
