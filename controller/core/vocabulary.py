"""Stored vocabularies shared by every layer, as ``StrEnum``: the one list of each set of values.

Each member *is* its string (``PersonStatus.ACTIVE == "active"``), so database columns, control-socket
JSON and event fields hold exactly the public values of docs/internals.md ("Database tables") whether
code passes a member or the plain text. The database's CHECK constraints are built from these
(:mod:`controller.store.models`). The door modes, access methods and reason codes are
:class:`controller.core.policy.DoorMode`, ``Method`` and ``Reason``; the door's states are in
:mod:`controller.core.door_state`. Every event type and every alarm kind is here, once.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "GUESSING_ALARM",
    "PRE_SESSION_EVENTS",
    "RECORDABLE_EVENTS",
    "ALARM_EVENTS",
    "SUSPENDED_ALARM",
    "AdminRole",
    "AlarmKind",
    "EventType",
    "FingerState",
    "LockoutChannel",
    "PersonKind",
    "PersonOrigin",
    "PersonStatus",
    "values",
]


class PersonStatus(StrEnum):
    """``users.status``: whether a person's credentials work."""

    ACTIVE = "active"
    SUSPENDED = "suspended"  # until resumed
    REVOKED = "revoked"  # for good: never active again, the code is never reused


class PersonKind(StrEnum):
    """``users.kind``: a member of staff, or a visitor whose validity ends at an instant (issue 13 item 5)."""

    STAFF = "staff"
    VISITOR = "visitor"


class PersonOrigin(StrEnum):
    """``users.origin`` (migration 0007): added on this controller, or copied down from the site (issue 16);
    the local CLI and web refuse to edit a site person."""

    LOCAL = "local"
    SITE = "site"


class AdminRole(StrEnum):
    """``admin_accounts.role``: what a staff login may do in the admin web."""

    ADMIN = "admin"  # every change
    AUDITOR = "auditor"  # reads and exports, records only its own events


class FingerState(StrEnum):
    """``finger_credentials.state``: a template being enrolled, or one that opens the door."""

    PENDING = "pending"
    ACTIVE = "active"


class LockoutChannel(StrEnum):
    """``lockout_state.name`` and ``lockout.started`` ``detail.channel``: which reader is locked out."""

    KEYPAD = "keypad"
    FINGER = "finger"


class EventType(StrEnum):
    """``events.type``: every event Kunci writes (docs/internals.md "Events and the audit chain")."""

    # decisions
    ACCESS_GRANTED = "access.granted"
    ACCESS_DENIED = "access.denied"
    # the door (controller/core/door_state.py)
    DOOR_OPENED = "door.opened"
    DOOR_CLOSED = "door.closed"
    DOOR_FORCED = "door.forced"
    DOOR_HELD = "door.held"
    DOOR_NOT_OPENED = "door.not_opened"
    EXIT_REQUEST = "exit.request"
    DURESS = "duress"  # a duress PIN was entered: silent alarm (docs/security.md "Duress")
    LOCKDOWN_STARTED = "lockdown.started"  # actor and detail.reason: who locked the door down and why
    LOCKDOWN_ENDED = "lockdown.ended"
    TAMPER = "tamper"
    # keypad and finger lockouts
    LOCKOUT_STARTED = "lockout.started"
    LOCKOUT_ENDED = "lockout.ended"
    LOCKOUT_GUESSING = "lockout.guessing"  # alarm_after_failures refusals within alarm_window_seconds
    # the fingerprint sensor
    SENSOR_LOST = "sensor.lost"
    SENSOR_RESTORED = "sensor.restored"
    SENSOR_RECONCILED = "sensor.reconciled"
    # the daemon, its clock and its log
    DAEMON_STARTED = "daemon.started"
    DAEMON_STOPPED = "daemon.stopped"
    DAEMON_RECOVERED = "daemon.recovered"
    CLOCK_JUMPED = "clock.jumped"
    CLOCK_TRUST_CHANGED = "clock.trust_changed"
    LOG_TRUNCATED = "log.truncated"
    # alarms (the alarms table's rows are the dashboard's view; these sealed events are what leaves the room)
    ALARM_RAISED = "alarm.raised"  # detail.alarm: the AlarmKind; detail.detail: a short text (codes only)
    ALARM_CLEARED = "alarm.cleared"  # detail.alarm
    ALERT_TEST = "alert.test_sent"  # `kunci alert test` / the web page's "send a test alarm": actor
    # admin changes and the admin web's own events (actor = the staff login or cli:<account>)
    ADMIN_ACCOUNT_ADDED = "admin.account_added"
    ADMIN_ACCOUNT_DISABLED = "admin.account_disabled"
    ADMIN_ACCOUNT_ENABLED = "admin.account_enabled"
    ADMIN_ACCOUNT_LOCKED = "admin.account_locked"
    ADMIN_ALARM_ACKNOWLEDGED = "admin.alarm_acknowledged"
    ADMIN_BACKUP_CREATED = "admin.backup_created"
    ADMIN_BACKUP_RESTORED = "admin.backup_restored"
    ADMIN_DOOR_MODE_CHANGED = "admin.door_mode_changed"
    ADMIN_DURESS_PIN_ISSUED = "admin.duress_pin_issued"
    ADMIN_EVENTS_ARCHIVED = "admin.events_archived"
    ADMIN_FINGER_DELETED = "admin.finger_deleted"
    ADMIN_FINGER_ENROLLED = "admin.finger_enrolled"
    ADMIN_FORBIDDEN = "admin.forbidden"
    ADMIN_GROUP_ADDED = "admin.group_added"
    ADMIN_GROUP_DELETED = "admin.group_deleted"
    ADMIN_GROUP_UPDATED = "admin.group_updated"
    ADMIN_HOLIDAY_ADDED = "admin.holiday_added"
    ADMIN_HOLIDAY_DELETED = "admin.holiday_deleted"
    ADMIN_LOG_EXPORTED = "admin.log_exported"
    ADMIN_LOGIN = "admin.login"
    ADMIN_LOGIN_FAILED = "admin.login_failed"
    ADMIN_LOGOUT = "admin.logout"
    ADMIN_PASSWORD_CHANGED = "admin.password_changed"
    ADMIN_PASSWORD_CHECK_FAILED = "admin.password_check_failed"
    ADMIN_PEOPLE_EXPORTED = "admin.people_exported"
    ADMIN_PIN_ISSUED = "admin.pin_issued"
    ADMIN_PIN_RESET = "admin.pin_reset"
    ADMIN_RESTORE_REAPPLIED = "admin.restore_reapplied"
    ADMIN_REVIEW_SIGNED_OFF = "admin.review_signed_off"  # detail: the access review's counts and note
    ADMIN_ROLE_CHANGED = "admin.role_changed"
    ADMIN_SCHEDULE_ADDED = "admin.schedule_added"
    ADMIN_SCHEDULE_DELETED = "admin.schedule_deleted"
    ADMIN_SCHEDULE_UPDATED = "admin.schedule_updated"  # detail: the windows and holiday rule now, renamed_from
    ADMIN_SESSIONS_ENDED = "admin.sessions_ended"
    ADMIN_UNLOCK_REFUSED = "admin.unlock_refused"
    ADMIN_USER_ADDED = "admin.user_added"
    ADMIN_USER_RESUMED = "admin.user_resumed"
    ADMIN_USER_REVOKED = "admin.user_revoked"
    ADMIN_USER_SUSPENDED = "admin.user_suspended"
    ADMIN_USER_UPDATED = "admin.user_updated"
    ADMIN_VISITOR_ADDED = "admin.visitor_added"  # detail: hours or days, escort_group
    ADMIN_SITE_SYNC = "admin.site_sync"  # a batch of the site feed applied (actor site; detail from, to, changes)


#: Event types the admin web or a CLI records itself (control command ``admin`` op ``event.record``);
#: the daemon refuses every other type from outside (docs/internals.md "Control socket").
RECORDABLE_EVENTS = frozenset({
    EventType.ADMIN_LOGIN, EventType.ADMIN_LOGIN_FAILED, EventType.ADMIN_ACCOUNT_LOCKED, EventType.ADMIN_LOGOUT,
    EventType.ADMIN_LOG_EXPORTED, EventType.ADMIN_PEOPLE_EXPORTED, EventType.ADMIN_UNLOCK_REFUSED,
    EventType.ADMIN_SESSIONS_ENDED, EventType.ADMIN_PASSWORD_CHECK_FAILED, EventType.ADMIN_FORBIDDEN,
    EventType.ADMIN_BACKUP_CREATED,
})

#: The events that are alarms for the destinations outside the room (docs/alerts.md): with ``outbox.events =
#: "alarms"`` only these leave; the rest only with ``"all"``. An overflow never skips them.
ALARM_EVENTS = frozenset({EventType.ALARM_RAISED, EventType.ALARM_CLEARED, EventType.ALERT_TEST,
                          EventType.ADMIN_ALARM_ACKNOWLEDGED})

#: Recorded before any session exists (the actor is the username tried), so they need no live session.
PRE_SESSION_EVENTS = frozenset({EventType.ADMIN_LOGIN, EventType.ADMIN_LOGIN_FAILED, EventType.ADMIN_ACCOUNT_LOCKED})


class AlarmKind(StrEnum):
    """``alarms.kind``: every alarm the daemon raises (docs/internals.md "Database tables")."""

    # the door (controller/core/door_state.py)
    DOOR_FORCED = "door_forced"
    DOOR_HELD = "door_held"
    TAMPER = "tamper"
    # lockouts (controller/daemon/access.py): too many failures in a day, a burst of failures
    KEYPAD_SUSPENDED = "keypad_suspended"
    FINGER_SUSPENDED = "finger_suspended"
    KEYPAD_GUESSING = "keypad_guessing"
    FINGER_GUESSING = "finger_guessing"
    # the fingerprint sensor
    SENSOR_LOST = "sensor_lost"
    ORPHAN_TEMPLATE = "orphan_template"  # a slot matched that belongs to nobody
    TEMPLATES_MISSING = "templates_missing"  # enrolled fingers no longer on the sensor
    # the entry log
    LOG_UNAVAILABLE = "log_unavailable"  # the database refused writes
    LOG_TRUNCATED = "log_truncated"  # started with --accept-truncated-log
    FOREIGN_EVENTS = "foreign_events"  # rows the daemon did not seal
    # a person under duress (a duress PIN): silent, never shown at the door
    DURESS = "duress"
    # the daemon itself
    DAEMON_ERROR = "daemon_error"  # a handler failed; the relay was forced off
    # what leaves the room (controller/alerts)
    OUTBOX_OVERFLOW = "outbox_overflow"  # a destination fell so far behind that routine events were skipped
    # the site link (controller/site/link.py): no fetch from the site for longer than site_link.max_stale_seconds
    SITE_STALE = "site_stale"


#: The alarm a lockout channel raises when it is suspended until an admin clears it, and on a burst.
SUSPENDED_ALARM = {LockoutChannel.KEYPAD: AlarmKind.KEYPAD_SUSPENDED, LockoutChannel.FINGER: AlarmKind.FINGER_SUSPENDED}
GUESSING_ALARM = {LockoutChannel.KEYPAD: AlarmKind.KEYPAD_GUESSING, LockoutChannel.FINGER: AlarmKind.FINGER_GUESSING}


def values(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The plain string values of a vocabulary, in definition order (for CHECK constraints, argparse
    choices and form fields, which show and compare plain text)."""
    return tuple(member.value for member in vocabulary)
