"""Admin changes as named operations: the one code path for every write of people, groups,
schedules, holidays, the door's mode and lockdown, and staff accounts (issue 10; docs/internals.md "One writer, one sealer").

An operation takes JSON-safe parameters (what a control-socket request carries), validates them,
makes its change through :mod:`controller.store.people` / :mod:`controller.store.staff` in the caller's
session and records its ``admin.*`` event there, unsealed. It never commits: the door daemon runs
it on its loop thread and seals and commits with :meth:`controller.daemon.journal.Journal.commit_change`;
when no daemon runs, :func:`controller.control.changes.apply` holds the same single-writer lock and does
the same in process. So a change and its event land together or not at all, and nothing but the
sealer writes the door database.

Parameters: person codes ``"U0042"``; dates ``"YYYY-MM-DD"`` or ``null``; in ``user.update`` an
omitted key means unchanged and ``null`` clears. Results are JSON objects; a PIN in a result goes
only to the requester (the control socket answers one connection) and never into a log.
Passwords never reach the daemon: the web or CLI checks the rules and hashes them with argon2id
outside any transaction (:func:`controller.store.staff.hash_new_password`), and the operation stores the
hash, so a slow hash never stalls the door loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from controller.config import Config
from controller.core.vocabulary import RECORDABLE_EVENTS, EventType, PersonOrigin, PersonStatus
from controller.errors import InvalidInput, PolicyRefused
from controller.i18n import T
from controller.store import audit, door_settings, people, people_import, pins, staff, validation, visitors
from controller.store import review as access_review

#: Events a client may record through ``event.record``: what happens in the web or the CLI itself
#: (logins, exports, backups). Every change of the door's data goes through a named operation,
#: whose event the operation writes itself.
RECORDABLE_EVENT_TYPES = RECORDABLE_EVENTS

#: Keys of a person's fields, as ``user.add`` and ``user.update`` take them.
PERSON_FIELDS = ("name", "agreement_signed_on", "group", "valid_from", "valid_until", "extended_unlock",
                 "mode_override")


@dataclass(frozen=True)
class OpContext:
    """What an operation may use besides the session.

    :param actor: who asked: a staff login (verified by the web), ``cli:<account>``, ``demo``.
    :param config: the effective configuration (agreement rule, PIN length).
    :param pepper: the PIN pepper (only the daemon's account can read it; ``None`` elsewhere).
    :param today: the site's date (validity and "agreement not in the future" checks).
    :param now: aware UTC time (password change timestamps).
    """

    actor: str
    config: Config
    pepper: bytes | None
    today: date
    now: datetime


Operation = Callable[[Session, OpContext, dict[str, Any]], dict[str, Any]]
OPERATIONS: dict[str, Operation] = {}


def operation(name: str) -> Callable[[Operation], Operation]:
    def register(fn: Operation) -> Operation:
        OPERATIONS[name] = fn
        return fn

    return register


def run(session: Session, name: str, params: Any, ctx: OpContext) -> dict[str, Any]:
    """Validate and apply operation ``name`` in ``session`` (uncommitted); returns its result.

    Raises :class:`InvalidInput` for an unknown operation or bad parameters, and whatever the
    service refuses with (:class:`~controller.errors.NotFound`, :class:`PolicyRefused`); the
    caller then rolls back, so a refused change leaves nothing behind.
    """
    if not isinstance(name, str) or name not in OPERATIONS:
        raise InvalidInput(T("unknown admin operation {name}", name=repr(str(name)[:40])))
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidInput(T("the parameters of an admin operation are a JSON object"))
    return OPERATIONS[name](session, ctx, params)


# --- parameter parsing ---------------------------------------------------------------------------


def _text(params: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = params.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise InvalidInput(T("{key} must be text", key=key))
    return value


def _day(params: dict[str, Any], key: str) -> date | None:
    value = params.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidInput(T("{key} must be a date like 2026-03-01", key=key))
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(T("{key} must be a date like 2026-03-01", key=key)) from None


def _flag(params: dict[str, Any], key: str) -> bool:
    value = params.get(key, False)
    if not isinstance(value, bool):
        raise InvalidInput(T("{key} must be true or false", key=key))
    return value


def _person_fields(params: dict[str, Any], *, only_given: bool) -> dict[str, Any]:
    unknown = set(params) - set(PERSON_FIELDS) - {"user"}
    if unknown:
        raise InvalidInput(T("unknown field {field}", field=repr(sorted(unknown)[0][:40])))
    parsers: dict[str, Callable[[dict[str, Any], str], Any]] = {
        "name": lambda p, k: _text(p, k, required=False),
        "agreement_signed_on": _day,
        "group": lambda p, k: _text(p, k, required=False) or None,
        "valid_from": _day,
        "valid_until": _day,
        "extended_unlock": _flag,
        "mode_override": lambda p, k: _text(p, k, required=False) or None,
    }
    return {k: parse(params, k) for k, parse in parsers.items() if not only_given or k in params}


def _pepper(ctx: OpContext) -> bytes:
    if ctx.pepper is None:
        raise PolicyRefused(T("issuing a PIN needs the PIN pepper: run this as the door daemon's account"))
    return ctx.pepper


# --- people ---------------------------------------------------------------------------------------


@operation("user.add")
def _user_add(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    fields = _person_fields(params, only_given=False)
    user = people.add_user(session, agreement_signed_on=fields.pop("agreement_signed_on"), **fields,
                           require_agreement=ctx.config.site.require_agreement, actor=ctx.actor, today=ctx.today)
    pin = pins.issue_pin(session, _pepper(ctx), user, ctx.config.pin.length_digits)
    return {"code": user.code, "pin": pin}


@operation("user.import")
def _user_import(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """Every row of a CSV file, all or nothing (:mod:`controller.store.people_import`)."""
    return people_import.import_rows(session, _pepper(ctx), params.get("rows"),
                                     require_agreement=ctx.config.site.require_agreement, today=ctx.today,
                                     actor=ctx.actor, pin_length=ctx.config.pin.length_digits)


@operation("user.update")
def _user_update(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    code = validation.validate_code(_text(params, "user"))
    user = people.update_user(session, code, **_person_fields(params, only_given=True),
                              require_agreement=ctx.config.site.require_agreement, actor=ctx.actor, today=ctx.today)
    return {"code": user.code}


@operation("user.set_status")
def _user_status(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    user = people.set_status(session, _text(params, "user"), _text(params, "status"), ctx.actor,
                             require_agreement=ctx.config.site.require_agreement)
    return {"code": user.code, "status": user.status, "fingers": len(user.fingers)}


@operation("user.reset_pin")
def _user_reset_pin(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    code = validation.validate_code(_text(params, "user"))
    pin = people.reset_pin(session, _pepper(ctx), code, ctx.config.pin.length_digits, ctx.actor)
    return {"code": code, "user": code, "pin": pin}


@operation("user.issue_duress_pin")
def _user_duress_pin(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    if not ctx.config.pin.duress_pins:
        raise PolicyRefused(T("duress PINs are off: set [pin] duress_pins = true in the configuration first"))
    code = validation.validate_code(_text(params, "user"))
    user = people.local_user(session, code)
    if user.status == "revoked":
        raise PolicyRefused(T("{code} is revoked: a revoked person gets no new credential", code=code))
    pin = pins.issue_duress_pin(session, _pepper(ctx), user, ctx.config.pin.length_digits)
    audit.record(session, EventType.ADMIN_DURESS_PIN_ISSUED, actor=ctx.actor, user=code)
    return {"code": code, "duress_pin": pin}


@operation("visitor.add")
def _visitor_add(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """A visitor until now + hours or days, with a one-off PIN (:mod:`controller.store.visitors`)."""
    unknown = set(params) - {"name", "hours", "days", "escort_group", "group"}
    if unknown:
        raise InvalidInput(T("unknown field {field}", field=repr(sorted(unknown)[0][:40])))
    user, pin = visitors.add_visitor(
        session, _pepper(ctx), name=_text(params, "name", required=False),
        visit=visitors.parse_length(params.get("hours"), params.get("days")), now=ctx.now, actor=ctx.actor,
        pin_length=ctx.config.pin.length_digits, escort_group=_text(params, "escort_group", required=False) or None,
        group=_text(params, "group", required=False) or None)
    return {"code": user.code, "pin": pin, "valid_until_at": user.valid_until_at, "escort_group": user.escort_group}


# --- staff accounts -------------------------------------------------------------------------------


@operation("staff.add")
def _staff_add(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    account = staff.store_account(session, _text(params, "username"), _text(params, "password_hash"),
                                  _text(params, "role"), ctx.actor)
    return {"username": account.username, "role": account.role}


@operation("staff.set_role")
def _staff_role(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    account = staff.set_role(session, _text(params, "username"), _text(params, "role"), ctx.actor)
    return {"username": account.username, "role": account.role}


@operation("staff.set_active")
def _staff_active(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    account = staff.set_active(session, _text(params, "username"), _flag(params, "active"), ctx.actor)
    return {"username": account.username, "active": account.active}


@operation("staff.set_password")
def _staff_password(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    account = staff.store_password(session, _text(params, "username"), _text(params, "password_hash"),
                                   ctx.actor, ctx.now)
    return {"username": account.username}


# --- the door ---------------------------------------------------------------------------------------


def _doors_named(ctx: OpContext, params: dict[str, Any], *, every: bool) -> list[str]:
    """The doors a door change names (``door``, optional): that one, else the first (``every``: every door)."""
    names, name = list(ctx.config.door_names), params.get("door")
    if name is None or name == "":
        return names if every else names[:1]
    if name not in names:
        raise InvalidInput(T("no door named {door} on this controller (doors: {doors})", door=str(name)[:40],
                             doors=", ".join(names)))
    return [name]


@operation("door.set_mode")
def _door_mode(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    (name,) = _doors_named(ctx, params, every=False)
    change = door_settings.set_mode(session, name, _text(params, "mode"), ctx.actor)
    return {"door": change.door, "mode": params["mode"], "changed": change.changed}


@operation("door.lockdown")
def _door_lockdown(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """A lockdown of the named door; without ``door``, of every door of the controller."""
    on = _flag(params, "on")
    changes = [door_settings.set_lockdown(session, name, on, _text(params, "reason", required=False), ctx.actor)
               for name in _doors_named(ctx, params, every=True)]
    return {"door": ", ".join(c.door for c in changes), "lockdown": on, "changed": any(c.changed for c in changes)}


# --- the access review (controller/store/review.py) ----------------------------------------------

#: Longest sign-off note.
REVIEW_NOTE_MAX_LENGTH = 500


@operation("review.sign_off")
def _review_sign_off(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """Record that an access review was done: the counts of the lists the reviewer saw, and a note.

    The counts come from the requester (the lists it showed), so the door loop never computes a
    review; each must be a whole number >= 0.
    """
    note = (_text(params, "note", required=False) or "").strip()
    if len(note) > REVIEW_NOTE_MAX_LENGTH or not all(ch.isprintable() for ch in note):
        raise InvalidInput(T("the note must be printable text of at most {max_length} characters",
                                 max_length=REVIEW_NOTE_MAX_LENGTH))
    counts = params.get("counts")
    keys = ("dormant_credentials", "old_agreements", "expired_active")
    if not isinstance(counts, dict) or set(counts) != set(keys) or not all(
            isinstance(counts[k], int) and not isinstance(counts[k], bool) and counts[k] >= 0 for k in keys):
        raise InvalidInput(T("counts must give {keys} as whole numbers", keys=", ".join(keys)))
    settings = ctx.config.review
    detail = {**{k: counts[k] for k in keys}, "note": note, "dormant_days": settings.dormant_days,
              "agreement_max_age_days": settings.agreement_max_age_days}
    audit.record(session, EventType.ADMIN_REVIEW_SIGNED_OFF, actor=ctx.actor, detail=detail)
    return detail


@operation("review.apply_suspensions")
def _review_suspend(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    """Suspend each listed person whose every credential is dormant past ``review.auto_suspend_dormant_days``
    (checked again here, one person at a time); each is a normal ``admin.user_suspended``, reason ``dormant``.
    People who no longer qualify are skipped and returned as such."""
    days = ctx.config.review.auto_suspend_dormant_days
    if days <= 0:
        raise PolicyRefused(T("automatic suspension is off (set review.auto_suspend_dormant_days above 0)"))
    codes = params.get("users")
    if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
        raise InvalidInput(T("users must be a list of person codes"))
    tz = ZoneInfo(ctx.config.site.timezone)
    suspended, skipped = [], []
    for code in dict.fromkeys(validation.validate_code(c) for c in codes):
        person = access_review.person_usage(session, code)
        if (person is None or not access_review.all_dormant(person, days, ctx.today, tz)
                or people.get_user(session, code).origin == PersonOrigin.SITE):  # the site suspends its people
            skipped.append(code)
            continue
        people.set_status(session, code, PersonStatus.SUSPENDED, ctx.actor,
                          require_agreement=ctx.config.site.require_agreement, reason="dormant")
        suspended.append(code)
    return {"suspended": suspended, "skipped": skipped}


# --- the web's own events -------------------------------------------------------------------------


@operation("event.record")
def _event_record(session: Session, ctx: OpContext, params: dict[str, Any]) -> dict[str, Any]:
    kind = _text(params, "type")
    if kind not in RECORDABLE_EVENT_TYPES:
        raise InvalidInput(T("that event type cannot be recorded from outside the daemon"))
    detail = params.get("detail")
    if detail is not None and not isinstance(detail, dict):
        raise InvalidInput(T("detail must be a JSON object"))
    audit.record(session, kind, actor=ctx.actor, detail=detail)
    return {}


from controller.store import admin_ops_access as _access  # noqa: F401 - registers group.*, schedule.*, holiday.*
