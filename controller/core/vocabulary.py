"""Stored vocabularies shared by every layer, as ``StrEnum``: the one list of each set of values.

Each member *is* its string (``PersonStatus.ACTIVE == "active"``), so database columns, control-socket
JSON and event fields hold exactly the public values of docs/internals.md ("Database tables") whether
code passes a member or the plain text. The database's CHECK constraints are built from these
(:mod:`controller.store.models`). The door modes, access methods and reason codes are
:class:`controller.core.policy.DoorMode`, ``Method`` and ``Reason``; the door's states, event types and
alarm kinds are in :mod:`controller.core.door_state`.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "PRE_SESSION_EVENTS",
    "AdminRole",
    "FingerState",
    "LockoutChannel",
    "PersonStatus",
    "RecordableEvent",
    "values",
]


class PersonStatus(StrEnum):
    """``users.status``: whether a person's credentials work."""

    ACTIVE = "active"
    SUSPENDED = "suspended"  # until resumed
    REVOKED = "revoked"  # for good: never active again, the code is never reused


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


class RecordableEvent(StrEnum):
    """Event types the admin web or a CLI records itself (control command ``admin`` op ``event.record``);
    the daemon refuses every other type from outside (docs/internals.md "Control socket")."""

    LOGIN = "admin.login"
    LOGIN_FAILED = "admin.login_failed"
    ACCOUNT_LOCKED = "admin.account_locked"
    LOGOUT = "admin.logout"
    LOG_EXPORTED = "admin.log_exported"
    PEOPLE_EXPORTED = "admin.people_exported"
    UNLOCK_REFUSED = "admin.unlock_refused"
    SESSIONS_ENDED = "admin.sessions_ended"
    PASSWORD_CHECK_FAILED = "admin.password_check_failed"
    FORBIDDEN = "admin.forbidden"
    BACKUP_CREATED = "admin.backup_created"


#: Recorded before any session exists (the actor is the username tried), so they need no live session.
PRE_SESSION_EVENTS = frozenset({RecordableEvent.LOGIN, RecordableEvent.LOGIN_FAILED, RecordableEvent.ACCOUNT_LOCKED})


def values(vocabulary: type[StrEnum]) -> tuple[str, ...]:
    """The plain string values of a vocabulary, in definition order (for CHECK constraints, argparse
    choices and form fields, which show and compare plain text)."""
    return tuple(member.value for member in vocabulary)
