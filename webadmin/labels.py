"""Human words for the stored codes: a label and a one-line explanation for every event type, reason, door mode,
access method and alarm kind, and the sentence an admin reads for one event row.

Pure (no Flask, no database): the views pass the person's name, and only for admins
(``g.account.is_admin``; auditors get ``None`` and so read codes only). Every English string
of the log's words is in this file, so a later gettext pass wraps them here. The raw codes stay
in the stored rows and the exports; pages show them next to the sentence.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from enum import StrEnum
from typing import Any, NamedTuple

from controller.config import Config
from controller.core.policy import DoorMode, Method, Reason
from controller.core.vocabulary import AlarmKind, EventType

logger = logging.getLogger(__name__)

__all__ = ["ALERT_EVENTS", "LABELS", "Label", "explain", "is_alert", "label", "sentence", "setting_help"]


class Label(NamedTuple):
    """What a code means: ``text`` (sentence case, short) and ``explanation`` (one line)."""

    text: str
    explanation: str


_E = EventType
_EVENTS: dict[str, Label] = {
    _E.ACCESS_GRANTED: Label("Access granted", "The door unlocked for a PIN, a finger or a remote unlock."),
    _E.ACCESS_DENIED: Label("Access refused", "Someone tried to open the door and was refused; the reason says why."),
    _E.DOOR_OPENED: Label("Door opened", "The door contact reported the door open."),
    _E.DOOR_CLOSED: Label("Door closed", "The door contact reported the door shut."),
    _E.DOOR_FORCED: Label("Door forced open", "The door opened while the strike was locked: an alarm."),
    _E.DOOR_HELD: Label("Door held open", "The door stayed open longer than allowed after an entry: an alarm."),
    _E.DOOR_NOT_OPENED: Label("Unlocked but not opened", "The strike unlocked and relocked without the door opening."),
    _E.EXIT_REQUEST: Label("Exit button pressed", "Someone inside pressed the exit button."),
    _E.DURESS: Label("Duress PIN entered", "A person entered their duress PIN: a silent alarm, the door behaves as usual."),
    _E.LOCKDOWN_STARTED: Label("Lockdown started", "An admin locked the door down: every PIN, finger and exit unlock is refused."),
    _E.LOCKDOWN_ENDED: Label("Lockdown ended", "An admin ended the lockdown; the door works normally again."),
    _E.TAMPER: Label("Reader enclosure opened", "The keypad or sensor enclosure was opened: an alarm."),
    _E.LOCKOUT_STARTED: Label("Reader locked out", "Too many wrong attempts: the keypad or finger reader refuses for a while."),
    _E.LOCKOUT_ENDED: Label("Lockout ended", "The keypad or finger reader accepts attempts again."),
    _E.LOCKOUT_GUESSING: Label("Guessing suspected", "Many refused attempts in a short time: someone may be guessing PINs."),
    _E.SENSOR_LOST: Label("Fingerprint sensor lost", "The daemon stopped hearing from the fingerprint sensor."),
    _E.SENSOR_RESTORED: Label("Fingerprint sensor back", "The fingerprint sensor answers again."),
    _E.SENSOR_RECONCILED: Label("Sensor templates checked", "The sensor's stored fingers were compared with the database."),
    _E.DAEMON_STARTED: Label("Door controller started", "The door daemon started."),
    _E.DAEMON_STOPPED: Label("Door controller stopped", "The door daemon stopped."),
    _E.DAEMON_RECOVERED: Label("Door controller recovered", "The door daemon recovered after a failure; the relay was forced off."),
    _E.CLOCK_JUMPED: Label("Clock jumped", "The wall clock moved suddenly; times near this entry may be off."),
    _E.CLOCK_TRUST_CHANGED: Label("Clock trust changed", "The clock became trusted or untrusted for schedules."),
    _E.LOG_TRUNCATED: Label("Log started truncated", "The daemon was started accepting a shortened entry log."),
    _E.ALARM_RAISED: Label("Alarm raised", "An alarm started; it stays on the dashboard until cleared and acknowledged."),
    _E.ALARM_CLEARED: Label("Alarm cleared", "The condition behind an alarm ended; it may still need acknowledging."),
    _E.ALERT_TEST: Label("Test alarm sent", "A staff member sent a test alarm to the alert destinations."),
    _E.ADMIN_ACCOUNT_ADDED: Label("Staff login added", "A staff login for the admin page was created."),
    _E.ADMIN_ACCOUNT_DISABLED: Label("Staff login disabled", "A staff login can no longer sign in."),
    _E.ADMIN_ACCOUNT_ENABLED: Label("Staff login enabled", "A disabled staff login may sign in again."),
    _E.ADMIN_ACCOUNT_LOCKED: Label("Staff login locked", "Too many wrong passwords: the login is locked for a while."),
    _E.ADMIN_ALARM_ACKNOWLEDGED: Label("Alarm acknowledged", "A staff member confirmed they have seen an alarm."),
    _E.ADMIN_BACKUP_CREATED: Label("Backup made", "A backup of the database was written."),
    _E.ADMIN_BACKUP_RESTORED: Label("Backup restored", "The database was restored from a backup."),
    _E.ADMIN_DOOR_MODE_CHANGED: Label("Door mode changed", "The credentials the door accepts were changed."),
    _E.ADMIN_DURESS_PIN_ISSUED: Label("Duress PIN issued", "A person was given a duress PIN."),
    _E.ADMIN_EVENTS_ARCHIVED: Label("Old entries archived", "Old log entries were moved to an archive file."),
    _E.ADMIN_FINGER_DELETED: Label("Fingerprint deleted", "An enrolled finger was removed."),
    _E.ADMIN_FINGER_ENROLLED: Label("Fingerprint enrolled", "A finger was enrolled for a person."),
    _E.ADMIN_FORBIDDEN: Label("Action refused to staff", "A staff login tried something its role does not allow."),
    _E.ADMIN_GROUP_ADDED: Label("Group added", "An access group was created."),
    _E.ADMIN_GROUP_DELETED: Label("Group deleted", "An access group was deleted."),
    _E.ADMIN_GROUP_UPDATED: Label("Group changed", "An access group's settings were changed."),
    _E.ADMIN_HOLIDAY_ADDED: Label("Holiday added", "A holiday was added; schedules may not open on it."),
    _E.ADMIN_HOLIDAY_DELETED: Label("Holiday deleted", "A holiday was removed."),
    _E.ADMIN_LOG_EXPORTED: Label("Log exported", "Someone downloaded entries of the log."),
    _E.ADMIN_LOGIN: Label("Staff signed in", "A staff member signed in to the admin page."),
    _E.ADMIN_LOGIN_FAILED: Label("Sign-in failed", "A wrong user name or password was given on the admin page."),
    _E.ADMIN_LOGOUT: Label("Staff signed out", "A staff member signed out of the admin page."),
    _E.ADMIN_PASSWORD_CHANGED: Label("Password changed", "A staff login's password was changed."),
    _E.ADMIN_PASSWORD_CHECK_FAILED: Label("Password re-check failed", "A wrong password was given to confirm an action."),
    _E.ADMIN_PEOPLE_EXPORTED: Label("People exported", "Someone downloaded the list of people."),
    _E.ADMIN_PIN_ISSUED: Label("PIN issued", "A person was given their first PIN."),
    _E.ADMIN_PIN_RESET: Label("PIN reset", "A person was given a new PIN; the old one no longer works."),
    _E.ADMIN_RESTORE_REAPPLIED: Label("Changes reapplied after restore", "Changes made after a backup were applied again."),
    _E.ADMIN_REVIEW_SIGNED_OFF: Label("Access review signed off", "A staff member signed off the periodic access review."),
    _E.ADMIN_ROLE_CHANGED: Label("Staff role changed", "A staff login became admin or auditor."),
    _E.ADMIN_SCHEDULE_ADDED: Label("Schedule added", "A weekly schedule was created."),
    _E.ADMIN_SCHEDULE_DELETED: Label("Schedule deleted", "A weekly schedule was deleted."),
    _E.ADMIN_SCHEDULE_UPDATED: Label("Schedule changed", "A weekly schedule's times, holiday rule or name were changed."),
    _E.ADMIN_SESSIONS_ENDED: Label("Sessions ended", "A staff login's other sessions were signed out."),
    _E.ADMIN_UNLOCK_REFUSED: Label("Remote unlock refused", "A remote unlock was refused (wrong password)."),
    _E.ADMIN_USER_ADDED: Label("Person added", "A person was added and may get a PIN or fingers."),
    _E.ADMIN_USER_RESUMED: Label("Person resumed", "A suspended person's credentials work again."),
    _E.ADMIN_USER_REVOKED: Label("Person revoked", "A person's credentials stopped working for good."),
    _E.ADMIN_USER_SUSPENDED: Label("Person suspended", "A person's credentials stopped working until resumed."),
    _E.ADMIN_USER_UPDATED: Label("Person changed", "A person's details were changed."),
    _E.ADMIN_VISITOR_ADDED: Label("Visitor added", "A visitor was added, valid for a limited time."),
}

_R = Reason
_REASONS: dict[Reason, Label] = {
    _R.GRANTED: Label("Granted", "The person may open the door now."),
    _R.UNKNOWN_CREDENTIAL: Label("Not recognised", "The PIN or finger belongs to nobody."),
    _R.SUSPENDED: Label("Person suspended", "The person's credentials are suspended until an admin resumes them."),
    _R.REVOKED: Label("Person revoked", "The person's credentials were revoked for good."),
    _R.NOT_YET_VALID: Label("Not valid yet", "The person's validity starts later."),
    _R.EXPIRED: Label("Validity ended", "The person's validity (or visit) has ended."),
    _R.OUTSIDE_SCHEDULE: Label("Outside their schedule", "Their group's schedule does not open the door at this time."),
    _R.HOLIDAY: Label("Closed for a holiday", "Their schedule does not open on a holiday."),
    _R.LOCKED_OUT: Label("Reader locked out", "Too many wrong attempts: the reader refuses everyone for a while."),
    _R.SECOND_FACTOR_REQUIRED: Label("Second factor missing", "This door needs both PIN and finger."),
    _R.SECOND_PERSON_REQUIRED: Label("Second person missing", "The two-person rule: nobody else presented in time."),
    _R.ESCORT_REQUIRED: Label("Escort missing", "A visitor's escort did not present in time."),
    _R.LOCKDOWN: Label("Door in lockdown", "An admin locked the door down."),
    _R.CLOCK_UNTRUSTED: Label("Clock not trusted", "The clock is not synchronised, so schedules cannot be checked."),
    _R.METHOD_NOT_ALLOWED: Label("Method not allowed", "This door or person does not accept that PIN or finger method."),
    _R.LOG_UNAVAILABLE: Label("Log unavailable", "The entry could not be logged, and no log means no entry."),
}

_MODES: dict[DoorMode, Label] = {
    DoorMode.PIN: Label("PIN only", "The door opens for a PIN."),
    DoorMode.FINGER: Label("Fingerprint only", "The door opens for an enrolled finger."),
    DoorMode.PIN_OR_FINGER: Label("PIN or fingerprint", "The door opens for either a PIN or a finger."),
    DoorMode.PIN_AND_FINGER: Label("PIN and fingerprint", "The door needs both, from the same person."),
}

_METHODS: dict[Method, Label] = {
    Method.PIN: Label("PIN", "A PIN typed on the keypad."),
    Method.FINGER: Label("fingerprint", "A finger on the sensor."),
    Method.PIN_AND_FINGER: Label("PIN and fingerprint", "A PIN and a finger of the same person."),
    Method.REMOTE: Label("remote unlock", "An admin unlocked the door from the admin page or the CLI."),
}

_A = AlarmKind
_ALARMS: dict[AlarmKind, Label] = {
    _A.DOOR_FORCED: Label("Door forced open", "The door opened while it was locked."),
    _A.DOOR_HELD: Label("Door held open", "The door stayed open too long."),
    _A.TAMPER: Label("Reader enclosure opened", "Someone opened the keypad or sensor enclosure."),
    _A.KEYPAD_SUSPENDED: Label("Keypad suspended", "Too many wrong PINs today: the keypad refuses until an admin acknowledges."),
    _A.FINGER_SUSPENDED: Label("Finger reader suspended", "Too many unknown fingers today: the sensor refuses until an admin acknowledges."),
    _A.KEYPAD_GUESSING: Label("PIN guessing suspected", "Many wrong PINs in a short time."),
    _A.FINGER_GUESSING: Label("Finger guessing suspected", "Many unknown fingers in a short time."),
    _A.SENSOR_LOST: Label("Fingerprint sensor lost", "The sensor stopped answering; fingers cannot open the door."),
    _A.ORPHAN_TEMPLATE: Label("Unknown finger on the sensor", "A sensor slot matched that belongs to nobody."),
    _A.TEMPLATES_MISSING: Label("Fingers missing from the sensor", "Enrolled fingers are no longer on the sensor."),
    _A.LOG_UNAVAILABLE: Label("Entry log unavailable", "The database refused writes; entries wait in memory."),
    _A.LOG_TRUNCATED: Label("Entry log truncated", "The daemon started with a shortened log."),
    _A.FOREIGN_EVENTS: Label("Unsealed entries found", "The log holds rows the door controller did not write."),
    _A.DURESS: Label("Duress", "Someone entered a duress PIN: they may be forced to open the door."),
    _A.DAEMON_ERROR: Label("Door controller error", "A handler failed; the strike was forced locked."),
    _A.OUTBOX_OVERFLOW: Label("Alerts fell behind", "A destination lagged so far that routine events were skipped."),
}

#: The one table: each vocabulary and the words for its members.
LABELS: dict[type[StrEnum], dict[Any, Label]] = {
    EventType: _EVENTS, Reason: _REASONS, DoorMode: _MODES, Method: _METHODS, AlarmKind: _ALARMS,
}

#: Rows that must stand out in a list of events: alarms, forced or held doors, tamper, duress, guessing.
ALERT_EVENTS = frozenset({
    EventType.ALARM_RAISED, EventType.DOOR_FORCED, EventType.DOOR_HELD, EventType.TAMPER, EventType.DURESS,
    EventType.LOCKOUT_GUESSING,
})

#: What the reader thought an unknown credential was, by method (``Unknown PIN refused (wrong PIN)``).
_UNKNOWN = {
    Method.PIN: ("Unknown PIN", "wrong PIN"),
    Method.FINGER: ("Unknown finger", "finger not recognised"),
    Method.PIN_AND_FINGER: ("Unknown PIN and finger", "not recognised"),
}


def _entry(vocabulary: type[StrEnum], value: str | None) -> Label | None:
    if not value:
        return None
    try:
        return LABELS[vocabulary].get(vocabulary(value))
    except ValueError:
        return None


def label(value: str | None, vocabulary: type[StrEnum] = EventType) -> str:
    """The human label of ``value`` in ``vocabulary`` (default event types); the code itself if unknown, '' for None."""
    found = _entry(vocabulary, value)
    return found.text if found else (value or "")


def explain(value: str | None, vocabulary: type[StrEnum] = EventType) -> str:
    """The one-line explanation of ``value`` in ``vocabulary``; '' if unknown."""
    found = _entry(vocabulary, value)
    return found.explanation if found else ""


def _lower(text: str) -> str:
    """``text`` with a lower-case first letter for the middle of a sentence, acronyms kept (``PIN``)."""
    if len(text) > 1 and text[1].isupper():
        return text
    return text[:1].lower() + text[1:]


def _detail(event: Any) -> dict[str, Any]:
    try:
        value = json.loads(event.detail) if event.detail else {}
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def is_alert(event: Any) -> bool:
    """True when ``event`` (an events row) must stand out: see :data:`ALERT_EVENTS`."""
    return event.type in ALERT_EVENTS


def sentence(event: Any, name: str | None, door_label: str | None) -> str:
    """The sentence an admin reads for one events row.

    :param event: an events row (``type``, ``reason``, ``method``, ``user_code``, ``actor``, ``detail``).
    :param name: the person's display name, only for admins; ``None`` shows the code alone.
    :param door_label: the door's name as shown (usually ``event.door``), or ``None``.
    """
    code = event.user_code
    who = f"{name} ({code})" if code and name else code
    door = door_label or "the door"
    method = _entry(Method, event.method)
    reason = _entry(Reason, event.reason)
    detail = _detail(event)
    kind = event.type
    if kind == EventType.ACCESS_GRANTED:
        if event.method == Method.REMOTE:
            return f"{event.actor or 'Someone'} unlocked {door} remotely"
        how = f" with {method.text}" if method else ""
        return f"{who or 'Someone'} opened {door}{how}"
    if kind == EventType.ACCESS_DENIED:
        why = _lower(reason.text) if reason else (event.reason or "no reason given")
        if event.reason == Reason.UNKNOWN_CREDENTIAL and not code:
            what, why = _UNKNOWN.get(event.method, ("Unknown credential", "not recognised"))  # type: ignore[call-overload]
            return f"{what} refused ({why})"
        return f"{who or 'Someone'} refused: {why}"
    if kind in (EventType.ALARM_RAISED, EventType.ALARM_CLEARED):
        alarm = _lower(label(detail.get("alarm"), AlarmKind)) or "unknown"
        return f"Alarm: {alarm}" if kind == EventType.ALARM_RAISED else f"Alarm cleared: {alarm}"
    if kind == EventType.ADMIN_ALARM_ACKNOWLEDGED:
        alarm = _lower(label(detail.get("kind"), AlarmKind)) or "unknown"
        text = f"{event.actor or 'Someone'} acknowledged the alarm: {alarm}"
        note = detail.get("note")
        return f"{text} (note: “{note}”)" if isinstance(note, str) and note else text
    if kind == EventType.DURESS:
        return f"Duress PIN entered by {who}" if who else "Duress PIN entered"
    text = label(kind)
    if kind.startswith("admin.") and event.actor:
        text = f"{text} by {event.actor}"
    if who:
        text = f"{text}: {who}"
    if reason and kind != EventType.ACCESS_GRANTED:
        text = f"{text} ({_lower(reason.text)})"
    return text


def _words(key: str) -> str:
    return key.replace("_", " ").capitalize()


@functools.cache
def _setting_docs() -> dict[tuple[str, str], str]:
    """``(section, key) -> Spec.doc`` for every setting of the schema (``general`` for top-level keys)."""
    docs: dict[tuple[str, str], str] = {}
    defaults = Config()
    for section, holder in [("general", defaults)] + [
        (f.name, getattr(defaults, f.name)) for f in dataclasses.fields(defaults)
        if dataclasses.is_dataclass(getattr(defaults, f.name))
    ]:
        for f in dataclasses.fields(holder):
            spec = f.metadata.get("spec")
            if spec is not None:
                docs[(section, f.name)] = spec.doc
    return docs


def setting_help(section: str, key: str) -> Label:
    """A setting's label (its key in words) and explanation (the schema's ``Spec.doc``, '' if it has none).

    :param section: the TOML section (``door``), or ``general`` for a top-level key.
    :param key: the field name (``unlock_seconds``).
    """
    return Label(_words(key), _setting_docs().get((section, key), ""))
