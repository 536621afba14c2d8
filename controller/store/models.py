"""SQLAlchemy 2.0 typed ORM models: every table of docs/internals.md "Database tables" (one cohesive module:
the whole schema in one place, as the migrations must match it, so it runs past 400 lines).

Conventions:

* Timestamps are UTC ISO text ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in ``String(27)``
  columns (see :mod:`controller.timefmt`); calendar days are ``Date``.
* Status, mode, role and state values are short strings guarded by CHECK
  constraints, so a raw SQL edit cannot store a value the code does not know.
* Constraint names follow :data:`NAMING_CONVENTION`, which Alembic batch mode on
  SQLite needs to alter tables later.
* Indexes serve the hot paths: PIN lookup by digest (UNIQUE), events by
  ``(user_code, id)``, ``(type, id)``, ``time`` and the UNIQUE ``seq`` of the chain.

The schema is created by the Alembic baseline ``migrations/versions/0001_baseline.py``;
a test keeps the two identical.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Optional

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from controller.core.policy import DoorMode
from controller.core.vocabulary import (
    AdminRole,
    FingerState,
    LockoutChannel,
    PersonKind,
    PersonOrigin,
    PersonStatus,
    values,
)
from controller.timefmt import iso_utc, utcnow

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Width of every stored timestamp (``controller.timefmt.iso_utc``).
TIME_LEN = 27
#: Largest integer primary key the database stores (SQLite INTEGER is signed 64-bit); a larger id
#: given by a person cannot name a row, and SQLite refuses even to look it up (OverflowError).
MAX_ROW_ID = 2**63 - 1

#: The values each vocabulary column accepts, as plain text (the enums are in :mod:`controller.core`).
USER_STATUSES = values(PersonStatus)
DOOR_MODES = values(DoorMode)
FINGER_STATES = values(FingerState)
ADMIN_ROLES = values(AdminRole)
LOCKOUT_NAMES = values(LockoutChannel)
USER_KINDS = values(PersonKind)
USER_ORIGINS = values(PersonOrigin)

#: Mode of a door row created without one (the baseline migration seeds the door ``main`` with it).
DEFAULT_DOOR_MODE = DoorMode.PIN_OR_FINGER.value


def _in(column: str, values: tuple[str, ...]) -> str:
    """SQL text ``column IN ('a', 'b')`` for a CHECK constraint."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _now_text() -> str:
    """Default value of ``created_at``-style columns: now, as UTC ISO text."""
    return iso_utc(utcnow())


class Base(DeclarativeBase):
    """Declarative base; its ``metadata`` is what the migrations must match."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Schedule(Base):
    """A named weekly schedule made of windows; holidays deny unless ``allow_on_holidays``."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    allow_on_holidays: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    windows: Mapped[list[ScheduleWindow]] = relationship(
        back_populates="schedule", cascade="all, delete-orphan", order_by="ScheduleWindow.id"
    )


class ScheduleWindow(Base):
    """One weekly window: ``weekday`` 0=Mon..6=Sun, minutes since midnight, end exclusive."""

    __tablename__ = "schedule_windows"
    __table_args__ = (
        CheckConstraint("weekday BETWEEN 0 AND 6", name="weekday"),
        CheckConstraint("start_minute BETWEEN 0 AND 1439", name="start_minute"),
        CheckConstraint("end_minute BETWEEN 1 AND 1440", name="end_minute"),
        CheckConstraint("start_minute < end_minute", name="start_before_end"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"), index=True)
    weekday: Mapped[int] = mapped_column(Integer)
    start_minute: Mapped[int] = mapped_column(Integer)
    end_minute: Mapped[int] = mapped_column(Integer)

    schedule: Mapped[Schedule] = relationship(back_populates="windows")


class AccessGroup(Base):
    """A group of people sharing a schedule (none = any time), the factors it requires (``required_mode``:
    the stricter of it and the door's mode applies; none = the door's) and the two-person rule (migration 0005)."""

    __tablename__ = "access_groups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    schedule_id: Mapped[Optional[int]] = mapped_column(ForeignKey("schedules.id"), index=True)
    required_mode: Mapped[Optional[str]] = mapped_column(
        String(16), CheckConstraint(f"required_mode IS NULL OR {_in('required_mode', DOOR_MODES)}",
                                    name="required_mode"))
    two_person: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    schedule: Mapped[Optional[Schedule]] = relationship()


class Holiday(Base):
    """A public holiday (a day on which schedules deny unless they allow holidays)."""

    __tablename__ = "holidays"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[date] = mapped_column(Date, unique=True)
    name: Mapped[str] = mapped_column(String(120))


class User(Base):
    """A person who may open the door. ``code`` (``U0001``) is the only identity that leaves the admin pages."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(_in("status", USER_STATUSES), name="status"),
        CheckConstraint(f"mode_override IS NULL OR {_in('mode_override', DOOR_MODES)}", name="mode_override"),
        CheckConstraint("length(code) BETWEEN 5 AND 16 AND substr(code, 1, 1) = 'U'", name="code"),
        CheckConstraint(
            "valid_from IS NULL OR valid_until IS NULL OR valid_from <= valid_until", name="validity"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    display_name: Mapped[Optional[str]] = mapped_column(String(120))
    status: Mapped[str] = mapped_column(
        String(16), default=PersonStatus.ACTIVE.value, server_default=text(f"'{PersonStatus.ACTIVE.value}'")
    )
    group_id: Mapped[Optional[int]] = mapped_column(ForeignKey("access_groups.id"), index=True)
    valid_from: Mapped[Optional[date]] = mapped_column(Date)
    valid_until: Mapped[Optional[date]] = mapped_column(Date)
    agreement_signed_on: Mapped[Optional[date]] = mapped_column(Date)
    extended_unlock: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    mode_override: Mapped[Optional[str]] = mapped_column(String(16))
    created_at: Mapped[str] = mapped_column(String(TIME_LEN), default=_now_text)
    updated_at: Mapped[str] = mapped_column(String(TIME_LEN), default=_now_text, onupdate=_now_text)
    # Visitors (migration 0003): ``kind`` staff|visitor; a visitor's validity ends at the instant
    # ``valid_until_at`` (UTC ISO text); ``escort_group``: a member of this access group must present first.
    kind: Mapped[str] = mapped_column(  # a column CHECK: migration 0003 adds the column with it in place
        String(16), CheckConstraint(_in("kind", USER_KINDS), name="kind"), default=PersonKind.STAFF.value,
        server_default=text(f"'{PersonKind.STAFF.value}'"),
    )
    valid_until_at: Mapped[Optional[str]] = mapped_column(String(TIME_LEN))
    escort_group: Mapped[Optional[str]] = mapped_column(String(80))
    # Where the person comes from (migration 0007): ``local`` or ``site`` (copied down by the site link; the
    # local CLI and web refuse to edit them).
    origin: Mapped[str] = mapped_column(
        String(8), CheckConstraint(_in("origin", USER_ORIGINS), name="origin"), default=PersonOrigin.LOCAL.value,
        server_default=text(f"'{PersonOrigin.LOCAL.value}'"),
    )

    group: Mapped[Optional[AccessGroup]] = relationship()
    pin: Mapped[Optional[PinCredential]] = relationship(back_populates="user", cascade="all, delete-orphan")
    fingers: Mapped[list[FingerCredential]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="FingerCredential.slot"
    )


class PinCredential(Base):
    """A person's PIN, stored only as ``HMAC-SHA256(pepper, pin)`` (32 bytes, UNIQUE index)."""

    __tablename__ = "pin_credentials"
    __table_args__ = (
        CheckConstraint("length(digest) = 32", name="digest_length"),
        Index("ix_pin_credentials_digest", "digest", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[str] = mapped_column(String(TIME_LEN), default=_now_text)

    user: Mapped[User] = relationship(back_populates="pin")


class DuressCredential(Base):
    """A person's duress PIN (``HMAC-SHA256(pepper, pin)``): it opens like their PIN and raises a silent
    duress alarm (docs/security.md "Duress"). At most one per person; digests are unique across both
    credential tables (:func:`controller.store.pins.digest_taken`)."""

    __tablename__ = "duress_credentials"
    __table_args__ = (
        CheckConstraint("length(digest) = 32", name="digest_length"),
        Index("ix_duress_credentials_digest", "digest", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    digest: Mapped[bytes] = mapped_column(LargeBinary(32))
    created_at: Mapped[str] = mapped_column(String(TIME_LEN), default=_now_text)


class FingerCredential(Base):
    """Maps a template slot of one door's sensor to a person; enrolment is ``pending`` until the sensor stored
    it. ``door`` (migration 0007) names the door whose sensor holds it, ``''`` = the first door."""

    __tablename__ = "finger_credentials"
    __table_args__ = (
        CheckConstraint(_in("state", FINGER_STATES), name="state"),
        CheckConstraint("slot >= 0", name="slot"),
        UniqueConstraint("door", "slot"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    slot: Mapped[int] = mapped_column(Integer)
    door: Mapped[str] = mapped_column(String(40), default="", server_default=text("''"))
    state: Mapped[str] = mapped_column(String(16), default="pending", server_default=text("'pending'"))
    created_at: Mapped[str] = mapped_column(String(TIME_LEN), default=_now_text)

    user: Mapped[User] = relationship(back_populates="fingers")


class Door(Base):
    """A door and its access mode (one row, ``main``, seeded by the baseline migration)."""

    __tablename__ = "doors"
    __table_args__ = (CheckConstraint(_in("mode", DOOR_MODES), name="mode"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    mode: Mapped[str] = mapped_column(
        String(16), default=DEFAULT_DOOR_MODE, server_default=text(f"'{DEFAULT_DOOR_MODE}'")
    )
    lockdown: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class GroupDoor(Base):
    """A door a group grants (migration 0007): a group with no rows grants every door of the controller."""

    __tablename__ = "group_doors"

    group_id: Mapped[int] = mapped_column(ForeignKey("access_groups.id", ondelete="CASCADE"), primary_key=True)
    door: Mapped[str] = mapped_column(String(40), primary_key=True)


class Event(Base):
    """One audit event. ``seq``/``mac`` are NULL until the sealer chains the row (see ``controller.store.audit``).

    ``user_code`` holds the person's code (never a name); ``detail`` is a JSON object
    as text, never containing names or PINs.
    """

    __tablename__ = "events"
    __table_args__ = (
        CheckConstraint(
            "(seq IS NULL AND mac IS NULL) OR (seq IS NOT NULL AND mac IS NOT NULL)", name="sealed_pair"
        ),
        CheckConstraint("seq IS NULL OR seq >= 1", name="seq_positive"),
        Index("ix_events_seq", "seq", unique=True),
        Index("ix_events_user_code_id", "user_code", "id"),
        Index("ix_events_type_id", "type", "id"),
        Index("ix_events_time", "time"),
        Index("ix_events_user_code_type_method_time", "user_code", "type", "method", "time"),  # last use (0004)
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    seq: Mapped[Optional[int]] = mapped_column(Integer)
    mac: Mapped[Optional[bytes]] = mapped_column(LargeBinary(32))
    time: Mapped[str] = mapped_column(String(TIME_LEN))
    type: Mapped[str] = mapped_column(String(64))
    reason: Mapped[Optional[str]] = mapped_column(String(64))
    method: Mapped[Optional[str]] = mapped_column(String(32))
    user_code: Mapped[Optional[str]] = mapped_column(String(16))
    door: Mapped[Optional[str]] = mapped_column(String(40))
    actor: Mapped[Optional[str]] = mapped_column(String(64))
    score: Mapped[Optional[int]] = mapped_column(Integer)
    detail: Mapped[Optional[str]] = mapped_column(Text)


class AdminAccount(Base):
    """A staff login for the admin web page; ``password_hash`` is argon2id."""

    __tablename__ = "admin_accounts"
    __table_args__ = (
        CheckConstraint(_in("role", ADMIN_ROLES), name="role"),
        CheckConstraint("failed_logins >= 0", name="failed_logins"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    failed_logins: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    locked_until: Mapped[Optional[str]] = mapped_column(String(TIME_LEN))
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default=text("1"))
    created_at: Mapped[str] = mapped_column(String(TIME_LEN), default=_now_text)
    password_changed_at: Mapped[str] = mapped_column(String(TIME_LEN), default=_now_text)

    sessions: Mapped[list[WebSession]] = relationship(back_populates="account", cascade="all, delete-orphan")


class WebSession(Base):
    """A server-side admin web session; the cookie holds a token whose SHA-256 is ``token_hash``."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("admin_accounts.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[str] = mapped_column(String(TIME_LEN), default=_now_text)
    last_seen_at: Mapped[str] = mapped_column(String(TIME_LEN), default=_now_text)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    remote_addr: Mapped[Optional[str]] = mapped_column(String(64))

    account: Mapped[AdminAccount] = relationship(back_populates="sessions")


class LockoutState(Base):
    """Persisted lockout counters (``keypad`` and ``finger``), so a restart does not reset them."""

    __tablename__ = "lockout_state"
    __table_args__ = (
        CheckConstraint(_in("name", LOCKOUT_NAMES), name="name"),
        CheckConstraint("failures >= 0 AND level >= 0", name="counters"),
    )

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    level: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    locked_until: Mapped[Optional[str]] = mapped_column(String(TIME_LEN))
    failure_times: Mapped[str] = mapped_column(Text, default="[]", server_default=text("'[]'"))
    suspended: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class OutboxCursor(Base):
    """How far one alert destination has got (docs/alerts.md "The outbox"): every sealed event up to ``seq``
    was delivered to it (or skipped as routine when it overflowed). Written by the daemon only."""

    __tablename__ = "outbox_cursors"
    __table_args__ = (CheckConstraint("seq >= 0 AND failures >= 0 AND dropped >= 0", name="counters"),)

    destination: Mapped[str] = mapped_column(String(32), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[str] = mapped_column(String(TIME_LEN), default=_now_text)
    last_success_at: Mapped[Optional[str]] = mapped_column(String(TIME_LEN))
    last_error: Mapped[Optional[str]] = mapped_column(String(200))
    last_error_at: Mapped[Optional[str]] = mapped_column(String(TIME_LEN))
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    dropped: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))


class SiteSync(Base):
    """The site link's cursors (one row, id 1; migration 0007): the last feed revision applied and the last
    sealed event uploaded to the site (docs/site.md). Written by the daemon only."""

    __tablename__ = "site_sync"
    __table_args__ = (CheckConstraint("id = 1", name="singleton"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    synced_at: Mapped[Optional[str]] = mapped_column(String(TIME_LEN))
    uploaded_seq: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    uploaded_at: Mapped[Optional[str]] = mapped_column(String(TIME_LEN))


class Alarm(Base):
    """An alarm (forced door, held open, tamper, ...). Active while not cleared or not acknowledged."""

    __tablename__ = "alarms"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    raised_at: Mapped[str] = mapped_column(String(TIME_LEN), default=_now_text)
    cleared_at: Mapped[Optional[str]] = mapped_column(String(TIME_LEN))
    acknowledged_by: Mapped[Optional[str]] = mapped_column(String(64))
    acknowledged_at: Mapped[Optional[str]] = mapped_column(String(TIME_LEN))
    detail: Mapped[Optional[str]] = mapped_column(Text)
