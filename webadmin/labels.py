"""Human words for the stored codes: a label and a one-line explanation for every event type, reason, door mode,
access method and alarm kind, and the sentence an admin reads for one event row.

Pure (no Flask, no database): the views pass the person's name, and only for admins
(``g.account.is_admin``; auditors get ``None`` and so read codes only). Every English string
of the log's words is in this file. Labels are marked with :func:`N_` (extracted into the gettext
catalogue, translated when shown) and the sentence templates are passed through the ``gettext``
each function takes (default: English; the web passes Flask-Babel's), explanations too. The raw codes stay in the stored rows and the exports; pages show them next to
the sentence.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Any, NamedTuple

from controller.config import Config
from controller.core.door_state import DoorState
from controller.core.policy import DoorMode, Method, Reason
from controller.core.vocabulary import AlarmKind, EventType

logger = logging.getLogger(__name__)

__all__ = ["ALERT_EVENTS", "LABELS", "N_", "Gettext", "Label", "SensorState", "english", "explain", "is_alert", "label",
           "sentence", "setting_help"]


#: A gettext function: ``gettext(msgid, **values)`` is the translated ``msgid`` with ``%(name)s`` filled in.
Gettext = Callable[..., str]


def N_(text: str) -> str:
    """Mark ``text`` for the catalogue without translating it (it is translated when shown)."""
    return text


def english(text: str, **values: Any) -> str:
    """The untranslated :data:`Gettext`: ``text`` with ``%(name)s`` filled in from ``values``."""
    return text % values if values else text


class Label(NamedTuple):
    """What a code means: ``text`` (sentence case, short) and ``explanation`` (one line)."""

    text: str
    explanation: str


_E = EventType
_EVENTS: dict[str, Label] = {
    _E.ACCESS_GRANTED: Label(N_("Access granted"), N_("The door unlocked for a PIN, a finger or a remote unlock.")),
    _E.ACCESS_DENIED: Label(N_("Access refused"), N_("Someone tried to open the door and was refused; the reason says why.")),
    _E.DOOR_OPENED: Label(N_("Door opened"), N_("The door contact reported the door open.")),
    _E.DOOR_CLOSED: Label(N_("Door closed"), N_("The door contact reported the door shut.")),
    _E.DOOR_FORCED: Label(N_("Door forced open"), N_("The door opened while the strike was locked: an alarm.")),
    _E.DOOR_HELD: Label(N_("Door held open"), N_("The door stayed open longer than allowed after an entry: an alarm.")),
    _E.DOOR_NOT_OPENED: Label(N_("Unlocked but not opened"), N_("The strike unlocked and relocked without the door opening.")),
    _E.EXIT_REQUEST: Label(N_("Exit button pressed"), N_("Someone inside pressed the exit button.")),
    _E.DURESS: Label(N_("Duress PIN entered"), N_("A person entered their duress PIN: a silent alarm, the door behaves as usual.")),
    _E.LOCKDOWN_STARTED: Label(N_("Lockdown started"), N_("An admin locked the door down: every PIN, finger and exit unlock is refused.")),
    _E.LOCKDOWN_ENDED: Label(N_("Lockdown ended"), N_("An admin ended the lockdown; the door works normally again.")),
    _E.TAMPER: Label(N_("Reader enclosure opened"), N_("The keypad or sensor enclosure was opened: an alarm.")),
    _E.LOCKOUT_STARTED: Label(N_("Reader locked out"), N_("Too many wrong attempts: the keypad or finger reader refuses for a while.")),
    _E.LOCKOUT_ENDED: Label(N_("Lockout ended"), N_("The keypad or finger reader accepts attempts again.")),
    _E.LOCKOUT_GUESSING: Label(N_("Guessing suspected"), N_("Many refused attempts in a short time: someone may be guessing PINs.")),
    _E.SENSOR_LOST: Label(N_("Fingerprint sensor lost"), N_("The daemon stopped hearing from the fingerprint sensor.")),
    _E.SENSOR_RESTORED: Label(N_("Fingerprint sensor back"), N_("The fingerprint sensor answers again.")),
    _E.SENSOR_RECONCILED: Label(N_("Sensor templates checked"), N_("The sensor's stored fingers were compared with the database.")),
    _E.DAEMON_STARTED: Label(N_("Door controller started"), N_("The door daemon started.")),
    _E.DAEMON_STOPPED: Label(N_("Door controller stopped"), N_("The door daemon stopped.")),
    _E.DAEMON_RECOVERED: Label(N_("Door controller recovered"), N_("The door daemon recovered after a failure; the relay was forced off.")),
    _E.CLOCK_JUMPED: Label(N_("Clock jumped"), N_("The wall clock moved suddenly; times near this entry may be off.")),
    _E.CLOCK_TRUST_CHANGED: Label(N_("Clock trust changed"), N_("The clock became trusted or untrusted for schedules.")),
    _E.LOG_TRUNCATED: Label(N_("Log started truncated"), N_("The daemon was started accepting a shortened entry log.")),
    _E.ALARM_RAISED: Label(N_("Alarm raised"), N_("An alarm started; it stays on the dashboard until cleared and acknowledged.")),
    _E.ALARM_CLEARED: Label(N_("Alarm cleared"), N_("The condition behind an alarm ended; it may still need acknowledging.")),
    _E.ALERT_TEST: Label(N_("Test alarm sent"), N_("A staff member sent a test alarm to the alert destinations.")),
    _E.ADMIN_ACCOUNT_ADDED: Label(N_("Staff login added"), N_("A staff login for the admin page was created.")),
    _E.ADMIN_ACCOUNT_DISABLED: Label(N_("Staff login disabled"), N_("A staff login can no longer sign in.")),
    _E.ADMIN_ACCOUNT_ENABLED: Label(N_("Staff login enabled"), N_("A disabled staff login may sign in again.")),
    _E.ADMIN_ACCOUNT_LOCKED: Label(N_("Staff login locked"), N_("Too many wrong passwords: the login is locked for a while.")),
    _E.ADMIN_ALARM_ACKNOWLEDGED: Label(N_("Alarm acknowledged"), N_("A staff member confirmed they have seen an alarm.")),
    _E.ADMIN_BACKUP_CREATED: Label(N_("Backup made"), N_("A backup of the database was written.")),
    _E.ADMIN_BACKUP_RESTORED: Label(N_("Backup restored"), N_("The database was restored from a backup.")),
    _E.ADMIN_DOOR_MODE_CHANGED: Label(N_("Door mode changed"), N_("The credentials the door accepts were changed.")),
    _E.ADMIN_DURESS_PIN_ISSUED: Label(N_("Duress PIN issued"), N_("A person was given a duress PIN.")),
    _E.ADMIN_EVENTS_ARCHIVED: Label(N_("Old entries archived"), N_("Old log entries were moved to an archive file.")),
    _E.ADMIN_FINGER_DELETED: Label(N_("Fingerprint deleted"), N_("An enrolled finger was removed.")),
    _E.ADMIN_FINGER_ENROLLED: Label(N_("Fingerprint enrolled"), N_("A finger was enrolled for a person.")),
    _E.ADMIN_FORBIDDEN: Label(N_("Action refused to staff"), N_("A staff login tried something its role does not allow.")),
    _E.ADMIN_GROUP_ADDED: Label(N_("Group added"), N_("An access group was created.")),
    _E.ADMIN_GROUP_DELETED: Label(N_("Group deleted"), N_("An access group was deleted.")),
    _E.ADMIN_GROUP_UPDATED: Label(N_("Group changed"), N_("An access group's settings were changed.")),
    _E.ADMIN_HOLIDAY_ADDED: Label(N_("Holiday added"), N_("A holiday was added; schedules may not open on it.")),
    _E.ADMIN_HOLIDAY_DELETED: Label(N_("Holiday deleted"), N_("A holiday was removed.")),
    _E.ADMIN_LOG_EXPORTED: Label(N_("Log exported"), N_("Someone downloaded entries of the log.")),
    _E.ADMIN_LOGIN: Label(N_("Staff signed in"), N_("A staff member signed in to the admin page.")),
    _E.ADMIN_LOGIN_FAILED: Label(N_("Sign-in failed"), N_("A wrong user name or password was given on the admin page.")),
    _E.ADMIN_LOGOUT: Label(N_("Staff signed out"), N_("A staff member signed out of the admin page.")),
    _E.ADMIN_PASSWORD_CHANGED: Label(N_("Password changed"), N_("A staff login's password was changed.")),
    _E.ADMIN_PASSWORD_CHECK_FAILED: Label(N_("Password re-check failed"), N_("A wrong password was given to confirm an action.")),
    _E.ADMIN_PEOPLE_EXPORTED: Label(N_("People exported"), N_("Someone downloaded the list of people.")),
    _E.ADMIN_PIN_ISSUED: Label(N_("PIN issued"), N_("A person was given their first PIN.")),
    _E.ADMIN_PIN_RESET: Label(N_("PIN reset"), N_("A person was given a new PIN; the old one no longer works.")),
    _E.ADMIN_RESTORE_REAPPLIED: Label(N_("Changes reapplied after restore"), N_("Changes made after a backup were applied again.")),
    _E.ADMIN_REVIEW_SIGNED_OFF: Label(N_("Access review signed off"), N_("A staff member signed off the periodic access review.")),
    _E.ADMIN_ROLE_CHANGED: Label(N_("Staff role changed"), N_("A staff login became admin or auditor.")),
    _E.ADMIN_SCHEDULE_ADDED: Label(N_("Schedule added"), N_("A weekly schedule was created.")),
    _E.ADMIN_SCHEDULE_DELETED: Label(N_("Schedule deleted"), N_("A weekly schedule was deleted.")),
    _E.ADMIN_SCHEDULE_UPDATED: Label(N_("Schedule changed"), N_("A weekly schedule's times, holiday rule or name were changed.")),
    _E.ADMIN_SESSIONS_ENDED: Label(N_("Sessions ended"), N_("A staff login's other sessions were signed out.")),
    _E.ADMIN_UNLOCK_REFUSED: Label(N_("Remote unlock refused"), N_("A remote unlock was refused (wrong password).")),
    _E.ADMIN_USER_ADDED: Label(N_("Person added"), N_("A person was added and may get a PIN or fingers.")),
    _E.ADMIN_USER_RESUMED: Label(N_("Person resumed"), N_("A suspended person's credentials work again.")),
    _E.ADMIN_USER_REVOKED: Label(N_("Person revoked"), N_("A person's credentials stopped working for good.")),
    _E.ADMIN_USER_SUSPENDED: Label(N_("Person suspended"), N_("A person's credentials stopped working until resumed.")),
    _E.ADMIN_USER_UPDATED: Label(N_("Person changed"), N_("A person's details were changed.")),
    _E.ADMIN_VISITOR_ADDED: Label(N_("Visitor added"), N_("A visitor was added, valid for a limited time.")),
    _E.ADMIN_SITE_SYNC: Label(N_("Site changes applied"), N_("Changes made at the site (people, groups, schedules) were copied to this controller.")),
}

_R = Reason
_REASONS: dict[Reason, Label] = {
    _R.GRANTED: Label(N_("Granted"), N_("The person may open the door now.")),
    _R.UNKNOWN_CREDENTIAL: Label(N_("Not recognised"), N_("The PIN or finger belongs to nobody.")),
    _R.SUSPENDED: Label(N_("Person suspended"), N_("The person's credentials are suspended until an admin resumes them.")),
    _R.REVOKED: Label(N_("Person revoked"), N_("The person's credentials were revoked for good.")),
    _R.NOT_YET_VALID: Label(N_("Not valid yet"), N_("The person's validity starts later.")),
    _R.EXPIRED: Label(N_("Validity ended"), N_("The person's validity (or visit) has ended.")),
    _R.OUTSIDE_SCHEDULE: Label(N_("Outside their schedule"), N_("Their group's schedule does not open the door at this time.")),
    _R.HOLIDAY: Label(N_("Closed for a holiday"), N_("Their schedule does not open on a holiday.")),
    _R.LOCKED_OUT: Label(N_("Reader locked out"), N_("Too many wrong attempts: the reader refuses everyone for a while.")),
    _R.SECOND_FACTOR_REQUIRED: Label(N_("Second factor missing"), N_("This door needs both PIN and finger.")),
    _R.SECOND_PERSON_REQUIRED: Label(N_("Second person missing"), N_("The two-person rule: nobody else presented in time.")),
    _R.ESCORT_REQUIRED: Label(N_("Escort missing"), N_("A visitor's escort did not present in time.")),
    _R.LOCKDOWN: Label(N_("Door in lockdown"), N_("An admin locked the door down.")),
    _R.CLOCK_UNTRUSTED: Label(N_("Clock not trusted"), N_("The clock is not synchronised, so schedules cannot be checked.")),
    _R.METHOD_NOT_ALLOWED: Label(N_("Method not allowed"), N_("This door or person does not accept that PIN or finger method.")),
    _R.LOG_UNAVAILABLE: Label(N_("Log unavailable"), N_("The entry could not be logged, and no log means no entry.")),
    _R.DOOR_NOT_ALLOWED: Label(N_("Not allowed at this door"), N_("The person's group grants other doors, not this one.")),
    _R.SITE_STALE: Label(N_("Site out of reach"), N_("A person of the site was refused: the controller has not heard from the site for too long.")),
}

_MODES: dict[DoorMode, Label] = {
    DoorMode.PIN: Label(N_("PIN only"), N_("The door opens for a PIN.")),
    DoorMode.FINGER: Label(N_("Fingerprint only"), N_("The door opens for an enrolled finger.")),
    DoorMode.PIN_OR_FINGER: Label(N_("PIN or fingerprint"), N_("The door opens for either a PIN or a finger.")),
    DoorMode.PIN_AND_FINGER: Label(N_("PIN and fingerprint"), N_("The door needs both, from the same person.")),
}

_METHODS: dict[Method, Label] = {
    Method.PIN: Label(N_("PIN"), N_("A PIN typed on the keypad.")),
    Method.FINGER: Label(N_("fingerprint"), N_("A finger on the sensor.")),
    Method.PIN_AND_FINGER: Label(N_("PIN and fingerprint"), N_("A PIN and a finger of the same person.")),
    Method.REMOTE: Label(N_("remote unlock"), N_("An admin unlocked the door from the admin page or the CLI.")),
}

_A = AlarmKind
_ALARMS: dict[AlarmKind, Label] = {
    _A.DOOR_FORCED: Label(N_("Door forced open"), N_("The door opened while it was locked.")),
    _A.DOOR_HELD: Label(N_("Door held open"), N_("The door stayed open too long.")),
    _A.TAMPER: Label(N_("Reader enclosure opened"), N_("Someone opened the keypad or sensor enclosure.")),
    _A.KEYPAD_SUSPENDED: Label(N_("Keypad suspended"), N_("Too many wrong PINs today: the keypad refuses until an admin acknowledges.")),
    _A.FINGER_SUSPENDED: Label(N_("Finger reader suspended"), N_("Too many unknown fingers today: the sensor refuses until an admin acknowledges.")),
    _A.KEYPAD_GUESSING: Label(N_("PIN guessing suspected"), N_("Many wrong PINs in a short time.")),
    _A.FINGER_GUESSING: Label(N_("Finger guessing suspected"), N_("Many unknown fingers in a short time.")),
    _A.SENSOR_LOST: Label(N_("Fingerprint sensor lost"), N_("The sensor stopped answering; fingers cannot open the door.")),
    _A.ORPHAN_TEMPLATE: Label(N_("Unknown finger on the sensor"), N_("A sensor slot matched that belongs to nobody.")),
    _A.TEMPLATES_MISSING: Label(N_("Fingers missing from the sensor"), N_("Enrolled fingers are no longer on the sensor.")),
    _A.LOG_UNAVAILABLE: Label(N_("Entry log unavailable"), N_("The database refused writes; entries wait in memory.")),
    _A.LOG_TRUNCATED: Label(N_("Entry log truncated"), N_("The daemon started with a shortened log.")),
    _A.FOREIGN_EVENTS: Label(N_("Unsealed entries found"), N_("The log holds rows the door controller did not write.")),
    _A.DURESS: Label(N_("Duress"), N_("Someone entered a duress PIN: they may be forced to open the door.")),
    _A.DAEMON_ERROR: Label(N_("Door controller error"), N_("A handler failed; the strike was forced locked.")),
    _A.OUTBOX_OVERFLOW: Label(N_("Alerts fell behind"), N_("A destination lagged so far that routine events were skipped.")),
    _A.SITE_STALE: Label(N_("Site out of reach"), N_("No changes could be fetched from the site for too long; the doors decide from their own copy.")),
}

_DOOR_STATES: dict[DoorState, Label] = {
    DoorState.LOCKED: Label(N_("Locked"), N_("The strike is locked and the door is shut.")),
    DoorState.UNLOCKED: Label(N_("Unlocked"), N_("The strike is unlocked; the door is still shut.")),
    DoorState.OPEN_AUTHORIZED: Label(N_("Open"), N_("The door is open after an entry or an exit.")),
    DoorState.HELD_OPEN: Label(N_("Held open"), N_("The door has stayed open longer than allowed.")),
    DoorState.FORCED_OPEN: Label(N_("Forced open"), N_("The door was opened without an entry or an exit request.")),
}


class SensorState(StrEnum):
    """The fingerprint sensor's state in the daemon's status (``sensor.state``)."""

    OK = "ok"
    LOST = "lost"
    STARTING = "starting"
    DISABLED = "disabled"


_SENSOR_STATES: dict[SensorState, Label] = {
    SensorState.OK: Label(N_("Online"), N_("The fingerprint sensor answers.")),
    SensorState.LOST: Label(N_("Offline"), N_("The fingerprint sensor does not answer; fingers cannot open the door.")),
    SensorState.STARTING: Label(N_("Starting"), N_("The door daemon is connecting to the fingerprint sensor.")),
    SensorState.DISABLED: Label(N_("Disabled"), N_("The configuration turns the fingerprint sensor off.")),
}

#: The one table: each vocabulary and the words for its members.
LABELS: dict[type[StrEnum], dict[Any, Label]] = {
    EventType: _EVENTS, Reason: _REASONS, DoorMode: _MODES, Method: _METHODS, AlarmKind: _ALARMS,
    DoorState: _DOOR_STATES, SensorState: _SENSOR_STATES,
}

#: Rows that must stand out in a list of events: alarms, forced or held doors, tamper, duress, guessing.
ALERT_EVENTS = frozenset({
    EventType.ALARM_RAISED, EventType.DOOR_FORCED, EventType.DOOR_HELD, EventType.TAMPER, EventType.DURESS,
    EventType.LOCKOUT_GUESSING,
})

#: What the reader thought an unknown credential was, by method (``Unknown PIN refused (wrong PIN)``).
_UNKNOWN = {
    Method.PIN: (N_("Unknown PIN"), N_("wrong PIN")),
    Method.FINGER: (N_("Unknown finger"), N_("finger not recognised")),
    Method.PIN_AND_FINGER: (N_("Unknown PIN and finger"), N_("not recognised")),
}


def _entry(vocabulary: type[StrEnum], value: str | None) -> Label | None:
    if not value:
        return None
    try:
        return LABELS[vocabulary].get(vocabulary(value))
    except ValueError:
        return None


def label(value: str | None, vocabulary: type[StrEnum] = EventType, *, gettext: Gettext = english) -> str:
    """The human label of ``value`` in ``vocabulary`` (default event types), through ``gettext`` (default
    English); the code itself if unknown, '' for None."""
    found = _entry(vocabulary, value)
    return gettext(found.text) if found else (value or "")


def explain(value: str | None, vocabulary: type[StrEnum] = EventType, *, gettext: Gettext = english) -> str:
    """The one-line explanation of ``value`` in ``vocabulary``, through ``gettext`` (default English); '' if
    unknown."""
    found = _entry(vocabulary, value)
    return gettext(found.explanation) if found else ""


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


def sentence(event: Any, name: str | None, door_label: str | None, *, gettext: Gettext = english) -> str:
    """The sentence an admin reads for one events row.

    :param event: an events row (``type``, ``reason``, ``method``, ``user_code``, ``actor``, ``detail``).
    :param name: the person's display name, only for admins; ``None`` shows the code alone.
    :param door_label: the door's name as shown (usually ``event.door``), or ``None``.
    :param gettext: translates the sentence templates and labels (default: English).
    """
    _ = gettext
    code = event.user_code
    who = f"{name} ({code})" if code and name else code
    someone = _("Someone")
    door = door_label or _("the door")
    method = _entry(Method, event.method)
    reason = _entry(Reason, event.reason)
    detail = _detail(event)
    kind = event.type
    if kind == EventType.ACCESS_GRANTED:
        if event.method == Method.REMOTE:
            return _("%(actor)s unlocked %(door)s remotely", actor=event.actor or someone, door=door)
        if method:
            return _("%(who)s opened %(door)s with %(method)s", who=who or someone, door=door, method=_(method.text))
        return _("%(who)s opened %(door)s", who=who or someone, door=door)
    if kind == EventType.ACCESS_DENIED:
        why = _lower(_(reason.text)) if reason else (event.reason or _("no reason given"))
        if event.reason == Reason.UNKNOWN_CREDENTIAL and not code:
            what, why = _UNKNOWN.get(event.method, (N_("Unknown credential"), N_("not recognised")))  # type: ignore[call-overload]
            return _("%(what)s refused (%(why)s)", what=_(what), why=_(why))
        return _("%(who)s refused: %(why)s", who=who or someone, why=why)
    if kind in (EventType.ALARM_RAISED, EventType.ALARM_CLEARED):
        alarm = _lower(label(detail.get("alarm"), AlarmKind, gettext=_)) or _("unknown")
        if kind == EventType.ALARM_RAISED:
            return _("Alarm: %(alarm)s", alarm=alarm)
        return _("Alarm cleared: %(alarm)s", alarm=alarm)
    if kind == EventType.ADMIN_ALARM_ACKNOWLEDGED:
        alarm = _lower(label(detail.get("kind"), AlarmKind, gettext=_)) or _("unknown")
        actor = event.actor or someone
        note = detail.get("note")
        if isinstance(note, str) and note:
            return _("%(actor)s acknowledged the alarm: %(alarm)s (note: “%(note)s”)", actor=actor, alarm=alarm, note=note)
        return _("%(actor)s acknowledged the alarm: %(alarm)s", actor=actor, alarm=alarm)
    if kind == EventType.DURESS:
        return _("Duress PIN entered by %(who)s", who=who) if who else _("Duress PIN entered")
    text = label(kind, gettext=_)
    if kind.startswith("admin.") and event.actor:
        text = _("%(what)s by %(actor)s", what=text, actor=event.actor)
    if who:
        text = f"{text}: {who}"
    if reason and kind != EventType.ACCESS_GRANTED:
        text = f"{text} ({_lower(_(reason.text))})"
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


def setting_help(section: str, key: str, *, gettext: Gettext = english) -> Label:
    """A setting's label (its key in words) and explanation (the schema's ``Spec.doc``, '' if it has none),
    through ``gettext`` (default English; a text the catalogue does not hold stays English).

    :param section: the TOML section (``door``), or ``general`` for a top-level key.
    :param key: the field name (``unlock_seconds``).
    """
    from webadmin.setting_words import SETTING_LABELS  # imports N_ from here

    doc = _setting_docs().get((section, key), "")
    return Label(gettext(SETTING_LABELS.get(key) or _words(key)), gettext(doc) if doc else "")
