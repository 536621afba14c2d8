"""The person service: add, suspend, resume, revoke, update, look up and list people; groups,
schedules and holidays.

Every mutating function works in the caller's session, validates everything
before it writes anything, and records its ``admin.*`` event with
:func:`controller.store.audit.record` (unsealed; the sealer chains it). The caller
commits, so a change and its event land in one transaction or not at all.

Events name the person by code only (``U0042``); ``detail`` carries
non-identifying fields (group name, validity dates, which fields changed),
never a display name or a PIN. Exceptions never quote a display name either.

Display names are optional, at most :data:`NAME_MAX_LENGTH` characters, and may
not contain control characters (NUL, newlines, ANSI escapes), bidirectional
overrides or angle brackets, so a name can neither forge a log line (T6.11) nor
carry markup (T6.9, T6.14).
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, cast, func, or_, select
from sqlalchemy.orm import Session, selectinload

from controller.store import audit
from controller.errors import InvalidInput, NotFound, PolicyRefused
from controller.store.models import (
    DOOR_MODES,
    USER_STATUSES,
    AccessGroup,
    Event,
    Holiday,
    Schedule,
    ScheduleWindow,
    User,
)

if TYPE_CHECKING:
    from controller.core.policy import Subject

logger = logging.getLogger(__name__)

NAME_MAX_LENGTH = 120
LABEL_MAX_LENGTH = 80
CODE_PREFIX = "U"
CODE_DIGITS = 4
CODE_PATTERN = re.compile(r"U[0-9]{4,15}")

AGREEMENT_REQUIRED = (
    "a confidentiality agreement date is required before a person can be activated (site.require_agreement)"
)

#: What ``set_status`` does for each target status, named as the admin event.
STATUS_EVENTS = {"active": "admin.user_resumed", "suspended": "admin.user_suspended", "revoked": "admin.user_revoked"}

#: Bidirectional formatting characters that can make displayed text lie about its order.
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
#: Unicode categories refused in names and labels: controls, surrogates, private use, line/para separators.
_REFUSED_CATEGORIES = frozenset({"Cc", "Cs", "Co", "Zl", "Zp"})


class _Unset:
    """Marker for "argument not given" (``None`` means "clear the value")."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


# --- validation (pure) ------------------------------------------------------------------------


def _check_text(value: str, *, what: str, max_length: int) -> str:
    """Shared rules for names and labels; returns the stripped text. Messages never quote ``value``."""
    if not isinstance(value, str):
        raise InvalidInput(f"the {what} must be text")
    if len(value) > max_length * 4:
        # Refuse huge input before normalising it.
        raise InvalidInput(f"the {what} is too long (at most {max_length} characters)")
    text = unicodedata.normalize("NFC", value)
    # Checked before stripping: a leading newline is an attempt to forge a line, not a typo.
    for ch in text:
        if unicodedata.category(ch) in _REFUSED_CATEGORIES or ch in _BIDI_CONTROLS:
            raise InvalidInput(
                f"the {what} contains a control character (newline, tab, NUL, escape or similar); "
                "use printable characters only"
            )
        if ch in "<>":
            raise InvalidInput(f"the {what} must not contain '<' or '>'")
    text = text.strip()
    if len(text) > max_length:
        raise InvalidInput(f"the {what} is too long (at most {max_length} characters)")
    return text


def validate_name(name: str | None) -> str | None:
    """A display name fit to store: ``None``/blank give ``None``; otherwise stripped, NFC text.

    Raises :class:`InvalidInput` for more than :data:`NAME_MAX_LENGTH` (120)
    characters, any control character, bidi override, or ``<``/``>``.
    """
    if name is None:
        return None
    text = _check_text(name, what="name", max_length=NAME_MAX_LENGTH)
    return text or None


def validate_label(label: str, what: str) -> str:
    """A group, schedule or holiday name: 1..80 printable characters, no ``<``/``>``."""
    text = _check_text(label, what=f"{what} name", max_length=LABEL_MAX_LENGTH)
    if not text:
        raise InvalidInput(f"the {what} name must not be empty")
    return text


def validate_code(code: str) -> str:
    """``code`` upper-cased if it looks like a person code (``U`` + 4..15 digits), else :class:`InvalidInput`."""
    text = code.strip().upper() if isinstance(code, str) else ""
    if not CODE_PATTERN.fullmatch(text):
        raise InvalidInput("a person code looks like U0042")
    return text


def _check_dates(valid_from: date | None, valid_until: date | None, agreement: date | None, today: date) -> None:
    for value, what in ((valid_from, "valid-from"), (valid_until, "valid-until"), (agreement, "agreement")):
        if value is not None and not isinstance(value, date):
            raise InvalidInput(f"the {what} date must be a date (YYYY-MM-DD)")
    if valid_from is not None and valid_until is not None and valid_from > valid_until:
        raise InvalidInput("the valid-from date must not be after the valid-until date")
    if agreement is not None and agreement > today:
        raise InvalidInput("the agreement date must not be in the future")


def _check_mode(mode_override: str | None) -> str | None:
    if mode_override is not None and mode_override not in DOOR_MODES:
        raise InvalidInput(f"the door mode must be one of: {', '.join(DOOR_MODES)}")
    return mode_override


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


# --- people -----------------------------------------------------------------------------------


def _code_number(code: str | None) -> int:
    if code and CODE_PATTERN.fullmatch(code):
        return int(code[1:])
    return 0


def next_code(session: Session) -> str:
    """The next free person code: one more than the highest ever issued (``U0001`` first).

    Codes are never reused: revoked people keep theirs, and the newest
    ``admin.user_added`` event is consulted too, in case a row was ever removed.
    """
    highest_row = session.scalar(select(func.max(cast(func.substr(User.code, 2), Integer))))
    last_added = session.scalar(
        select(Event.user_code).where(Event.type == "admin.user_added").order_by(Event.id.desc()).limit(1)
    )
    n = max(int(highest_row or 0), _code_number(last_added)) + 1
    return f"{CODE_PREFIX}{n:0{CODE_DIGITS}d}"


def _find_group(session: Session, name: str) -> AccessGroup:
    group = session.scalars(select(AccessGroup).where(AccessGroup.name == name)).one_or_none()
    if group is None:
        raise NotFound("no access group with that name (see the group list)")
    return group


def add_user(
    session: Session,
    *,
    name: str | None,
    agreement_signed_on: date | None,
    group: str | None = None,
    valid_from: date | None = None,
    valid_until: date | None = None,
    extended_unlock: bool = False,
    mode_override: str | None = None,
    require_agreement: bool = True,
    actor: str,
    today: date | None = None,
) -> User:
    """Add an active person with a new code and record ``admin.user_added``.

    ``name`` is optional (shown to admins only). ``agreement_signed_on`` is the date
    the person signed the confidentiality agreement; with ``require_agreement``
    (config ``site.require_agreement``, default true) it is mandatory, else
    :class:`PolicyRefused`. ``group`` names an existing access group; ``valid_from``
    and ``valid_until`` bound the validity (inclusive days); ``extended_unlock``
    uses the door's longer unlock time; ``mode_override`` replaces the door's mode
    for this person. ``today`` (default: the local date) is what "not in the future"
    is checked against. Raises :class:`InvalidInput`/:class:`NotFound` before
    writing anything. The caller issues the PIN and commits.
    """
    clean_name = validate_name(name)
    _check_dates(valid_from, valid_until, agreement_signed_on, today or date.today())
    _check_mode(mode_override)
    if require_agreement and agreement_signed_on is None:
        raise PolicyRefused(AGREEMENT_REQUIRED)
    group_row = _find_group(session, validate_label(group, "group")) if group is not None else None
    user = User(
        code=next_code(session),
        display_name=clean_name,
        status="active",
        group=group_row,
        valid_from=valid_from,
        valid_until=valid_until,
        agreement_signed_on=agreement_signed_on,
        extended_unlock=bool(extended_unlock),
        mode_override=mode_override,
    )
    session.add(user)
    session.flush()
    detail: dict[str, Any] = {"agreement_signed_on": _iso(agreement_signed_on)}
    if group_row is not None:
        detail["group"] = group_row.name
    if valid_from is not None:
        detail["valid_from"] = _iso(valid_from)
    if valid_until is not None:
        detail["valid_until"] = _iso(valid_until)
    if extended_unlock:
        detail["extended_unlock"] = True
    if mode_override is not None:
        detail["mode_override"] = mode_override
    audit.record(session, "admin.user_added", user=user.code, actor=actor, detail=detail)
    logger.info("person %s added by %s", user.code, actor)
    return user


def get_user(session: Session, code: str) -> User:
    """The person with ``code`` (case-insensitive); :class:`NotFound` if none."""
    clean = validate_code(code)
    user = session.scalars(select(User).where(User.code == clean)).one_or_none()
    if user is None:
        raise NotFound(f"no person with code {clean}")
    return user


def set_status(
    session: Session, code: str, status: str, actor: str, *, require_agreement: bool = True
) -> User:
    """Suspend (``suspended``), resume (``active``) or revoke (``revoked``) a person.

    Revocation is final: resuming or suspending a revoked person is refused with
    :class:`PolicyRefused` (add them again; they get a new code). Resuming needs an
    agreement date when ``require_agreement``. Setting the status a person already
    has is refused with :class:`InvalidInput`. Records ``admin.user_suspended``,
    ``admin.user_resumed`` or ``admin.user_revoked``.
    """
    if status not in USER_STATUSES:
        raise InvalidInput(f"the status must be one of: {', '.join(USER_STATUSES)}")
    user = get_user(session, code)
    if user.status == status:
        raise InvalidInput(f"{user.code} is already {status}")
    if user.status == "revoked":
        raise PolicyRefused(f"{user.code} is revoked; revocation is final (add the person again for a new code)")
    if status == "active" and require_agreement and user.agreement_signed_on is None:
        raise PolicyRefused(AGREEMENT_REQUIRED)
    previous = user.status
    user.status = status
    session.flush()
    audit.record(session, STATUS_EVENTS[status], user=user.code, actor=actor, detail={"from": previous})
    logger.info("person %s: %s -> %s by %s", user.code, previous, status, actor)
    return user


def update_user(
    session: Session,
    code: str,
    *,
    name: str | None = UNSET,
    agreement_signed_on: date | None = UNSET,
    group: str | None = UNSET,
    valid_from: date | None = UNSET,
    valid_until: date | None = UNSET,
    extended_unlock: bool = UNSET,
    mode_override: str | None = UNSET,
    require_agreement: bool = True,
    actor: str,
    today: date | None = None,
) -> User:
    """Change the given fields of a person (``None`` clears an optional field; omitted = unchanged).

    Same rules as :func:`add_user`; an active person cannot lose the agreement date
    while ``require_agreement``. Records ``admin.user_updated`` with the names of
    the changed fields (and the new group/dates/flags, never the name). Returns the
    person; nothing is recorded when nothing changed.
    """
    user = get_user(session, code)
    new: dict[str, Any] = {}
    if name is not UNSET:
        new["display_name"] = validate_name(name)
    if agreement_signed_on is not UNSET:
        new["agreement_signed_on"] = agreement_signed_on
    if valid_from is not UNSET:
        new["valid_from"] = valid_from
    if valid_until is not UNSET:
        new["valid_until"] = valid_until
    if extended_unlock is not UNSET:
        new["extended_unlock"] = bool(extended_unlock)
    if mode_override is not UNSET:
        new["mode_override"] = _check_mode(mode_override)
    group_row: AccessGroup | None = None
    if group is not UNSET:
        group_row = _find_group(session, validate_label(group, "group")) if group is not None else None
        new["group_id"] = group_row.id if group_row is not None else None
    _check_dates(
        new.get("valid_from", user.valid_from),
        new.get("valid_until", user.valid_until),
        new.get("agreement_signed_on", user.agreement_signed_on),
        today or date.today(),
    )
    if (
        require_agreement
        and user.status == "active"
        and new.get("agreement_signed_on", user.agreement_signed_on) is None
    ):
        raise PolicyRefused(AGREEMENT_REQUIRED)
    changed = sorted(k for k, v in new.items() if getattr(user, k) != v)
    if not changed:
        return user
    for key in changed:
        setattr(user, key, new[key])
    session.flush()
    detail: dict[str, Any] = {"changed": ["name" if k == "display_name" else k.removesuffix("_id") for k in changed]}
    for key in changed:
        if key == "group_id":
            detail["group"] = group_row.name if group_row is not None else None
        elif key in ("valid_from", "valid_until", "agreement_signed_on"):
            detail[key] = _iso(new[key])
        elif key in ("extended_unlock", "mode_override"):
            detail[key] = new[key]
    audit.record(session, "admin.user_updated", user=user.code, actor=actor, detail=detail)
    return user


def reset_pin(session: Session, pepper: bytes, code: str, length: int, actor: str) -> str:
    """Give the person a new PIN (replacing any old one) and return it, to be shown once.

    The one PIN-issuing service (CLI, web and daemon all come here through
    :mod:`controller.store.admin_ops`). Refused for revoked people. Records ``admin.pin_reset``
    (or ``admin.pin_issued`` when the person had no PIN), code only. Needs the pepper, so
    only the daemon or a CLI run by its owner can do it.
    """
    from controller.store import pins

    user = get_user(session, code)
    if user.status == "revoked":
        raise PolicyRefused(f"{user.code} is revoked; a revoked person cannot get a PIN")
    kind = "admin.pin_reset" if user.pin is not None else "admin.pin_issued"
    pin = pins.issue_pin(session, pepper, user, length)
    audit.record(session, kind, user=user.code, actor=actor)
    logger.info("PIN %s for %s by %s", kind.removeprefix("admin."), user.code, actor)
    return pin


def list_users(
    session: Session,
    *,
    search: str | None = None,
    status: str | None = None,
    after_code: str | None = None,
    limit: int = 50,
) -> list[User]:
    """A page of people in code order (keyset: pass the last code shown as ``after_code``).

    ``search`` matches a code prefix (``U00``) or a case-insensitive substring of the
    name (``%`` and ``_`` are literal). ``status`` filters by status. ``limit``
    (default 50) must be 1..1000.
    """
    if not 1 <= limit <= 1000:
        raise InvalidInput("limit must be between 1 and 1000")
    stmt = select(User)
    if status is not None:
        if status not in USER_STATUSES:
            raise InvalidInput(f"the status must be one of: {', '.join(USER_STATUSES)}")
        stmt = stmt.where(User.status == status)
    if search:
        term = search.strip()[:NAME_MAX_LENGTH]
        stmt = stmt.where(
            or_(
                User.code.startswith(term.upper(), autoescape=True),
                User.display_name.icontains(term, autoescape=True),
            )
        )
    if after_code is not None:
        # Codes are issued in id order, and the id orders "U9999" before "U10000" where text would not.
        after = get_user(session, after_code)
        stmt = stmt.where(User.id > after.id)
    # Load what user_summary shows in three queries per page, not three per person.
    stmt = stmt.options(selectinload(User.group), selectinload(User.pin), selectinload(User.fingers))
    return list(session.scalars(stmt.order_by(User.id).limit(limit)))


def user_summary(user: User, *, include_name: bool) -> dict[str, Any]:
    """A JSON-ready view of ``user``; the display name only with ``include_name`` (admins)."""
    out: dict[str, Any] = {
        "code": user.code,
        "status": user.status,
        "group": user.group.name if user.group is not None else None,
        "valid_from": _iso(user.valid_from),
        "valid_until": _iso(user.valid_until),
        "agreement_signed_on": _iso(user.agreement_signed_on),
        "extended_unlock": bool(user.extended_unlock),
        "mode_override": user.mode_override,
        "has_pin": user.pin is not None,
        "fingers": [{"slot": f.slot, "state": f.state} for f in user.fingers],
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }
    if include_name:
        out["name"] = user.display_name
    return out


def subject_for(user: User | None, session: Session | None = None) -> Subject | None:
    """The pure policy input (:class:`controller.core.policy.Subject`) for ``user``; ``None`` for ``None``.

    The schedule comes from the person's group (no group or no schedule = any
    time). ``session`` is accepted for callers that hold one; relationships load
    through the user's own session.
    """
    from controller.core import policy

    if user is None:
        return None
    schedule = None
    if user.group is not None and user.group.schedule is not None:
        schedule = schedule_view(user.group.schedule)
    return policy.Subject(
        code=user.code,
        status=user.status,
        valid_from=user.valid_from,
        valid_until=user.valid_until,
        schedule=schedule,
        mode_override=policy.DoorMode(user.mode_override) if user.mode_override else None,
    )


def schedule_view(schedule: Schedule) -> Any:
    """A stored schedule as the pure :class:`controller.core.policy.Schedule`."""
    from controller.core import policy

    return policy.Schedule(
        windows=tuple(policy.Window(w.weekday, w.start_minute, w.end_minute) for w in schedule.windows),
        allow_on_holidays=bool(schedule.allow_on_holidays),
    )


# --- groups, schedules, holidays --------------------------------------------------------------


def _find_schedule(session: Session, name: str) -> Schedule:
    schedule = session.scalars(select(Schedule).where(Schedule.name == name)).one_or_none()
    if schedule is None:
        raise NotFound("no schedule with that name (see the schedule list)")
    return schedule


def add_group(session: Session, name: str, *, schedule: str | None = None, actor: str) -> AccessGroup:
    """Create an access group, optionally bound to an existing schedule. Records ``admin.group_added``."""
    clean = validate_label(name, "group")
    if session.scalar(select(AccessGroup.id).where(AccessGroup.name == clean)) is not None:
        raise InvalidInput("an access group with that name already exists")
    sched = _find_schedule(session, validate_label(schedule, "schedule")) if schedule is not None else None
    group = AccessGroup(name=clean, schedule=sched)
    session.add(group)
    session.flush()
    audit.record(
        session, "admin.group_added", actor=actor, detail={"group": clean, "schedule": sched.name if sched else None}
    )
    return group


def list_groups(session: Session) -> list[AccessGroup]:
    """Every access group, by name."""
    return list(session.scalars(select(AccessGroup).order_by(AccessGroup.name)))


def set_group_schedule(session: Session, group: str, schedule: str | None, *, actor: str) -> AccessGroup:
    """Bind ``group`` to ``schedule`` (``None``: any time). Records ``admin.group_updated``."""
    row = _find_group(session, validate_label(group, "group"))
    sched = _find_schedule(session, validate_label(schedule, "schedule")) if schedule is not None else None
    row.schedule = sched
    session.flush()
    audit.record(
        session,
        "admin.group_updated",
        actor=actor,
        detail={"group": row.name, "schedule": sched.name if sched else None},
    )
    return row


def delete_group(session: Session, name: str, *, actor: str) -> None:
    """Delete an access group nobody belongs to (else :class:`PolicyRefused`). Records ``admin.group_deleted``."""
    row = _find_group(session, validate_label(name, "group"))
    members = session.scalar(select(func.count()).select_from(User).where(User.group_id == row.id))
    if members:
        raise PolicyRefused(f"the group still has {members} member(s); move them to another group first")
    session.delete(row)
    session.flush()
    audit.record(session, "admin.group_deleted", actor=actor, detail={"group": row.name})


def _window_tuple(window: Any) -> tuple[int, int, int]:
    if isinstance(window, Sequence) and not isinstance(window, str):
        values = tuple(window)
    else:
        values = (getattr(window, "weekday", None), getattr(window, "start_minute", None), getattr(window, "end_minute", None))
    if len(values) != 3 or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise InvalidInput("a schedule window is (weekday 0-6, start minute, end minute)")
    weekday, start, end = values
    if not 0 <= weekday <= 6:
        raise InvalidInput("a window's weekday must be 0 (Monday) to 6 (Sunday)")
    if not (0 <= start <= 1439 and 1 <= end <= 1440 and start < end):
        raise InvalidInput("a window needs 0 <= start minute < end minute <= 1440")
    return weekday, start, end


def add_schedule(
    session: Session,
    name: str,
    windows: Iterable[Any],
    allow_on_holidays: bool = False,
    *,
    actor: str,
) -> Schedule:
    """Create a weekly schedule from ``windows`` (``policy.Window`` or ``(weekday, start, end)``).

    ``weekday`` 0=Monday..6=Sunday; minutes since local midnight, end exclusive.
    Records ``admin.schedule_added``.
    """
    clean = validate_label(name, "schedule")
    spans = [_window_tuple(w) for w in windows]
    if session.scalar(select(Schedule.id).where(Schedule.name == clean)) is not None:
        raise InvalidInput("a schedule with that name already exists")
    schedule = Schedule(
        name=clean,
        allow_on_holidays=bool(allow_on_holidays),
        windows=[ScheduleWindow(weekday=d, start_minute=s, end_minute=e) for d, s, e in spans],
    )
    session.add(schedule)
    session.flush()
    audit.record(
        session,
        "admin.schedule_added",
        actor=actor,
        detail={"schedule": clean, "windows": [list(s) for s in spans], "allow_on_holidays": bool(allow_on_holidays)},
    )
    return schedule


def list_schedules(session: Session) -> list[Schedule]:
    """Every schedule, by name."""
    return list(session.scalars(select(Schedule).order_by(Schedule.name)))


def delete_schedule(session: Session, name: str, *, actor: str) -> None:
    """Delete a schedule no group uses (else :class:`PolicyRefused`). Records ``admin.schedule_deleted``."""
    row = _find_schedule(session, validate_label(name, "schedule"))
    used = session.scalar(select(func.count()).select_from(AccessGroup).where(AccessGroup.schedule_id == row.id))
    if used:
        raise PolicyRefused(f"{used} group(s) still use this schedule; change them first")
    session.delete(row)
    session.flush()
    audit.record(session, "admin.schedule_deleted", actor=actor, detail={"schedule": row.name})


def add_holiday(session: Session, day: date, name: str, *, actor: str) -> Holiday:
    """Declare ``day`` a holiday called ``name``. Records ``admin.holiday_added``."""
    if not isinstance(day, date):
        raise InvalidInput("the holiday must be a date (YYYY-MM-DD)")
    clean = validate_label(name, "holiday")
    if session.scalar(select(Holiday.id).where(Holiday.day == day)) is not None:
        raise InvalidInput(f"{day.isoformat()} is already a holiday")
    holiday = Holiday(day=day, name=clean)
    session.add(holiday)
    session.flush()
    audit.record(session, "admin.holiday_added", actor=actor, detail={"day": day.isoformat(), "holiday": clean})
    return holiday


def list_holidays(session: Session, *, year: int | None = None) -> list[Holiday]:
    """Holidays by date, optionally only those of ``year``."""
    stmt = select(Holiday).order_by(Holiday.day)
    if year is not None:
        stmt = stmt.where(Holiday.day >= date(year, 1, 1), Holiday.day <= date(year, 12, 31))
    return list(session.scalars(stmt))


def holiday_days(session: Session) -> frozenset[date]:
    """Every holiday date, for :class:`controller.core.policy.Context`."""
    return frozenset(session.scalars(select(Holiday.day)))


def delete_holiday(session: Session, day: date, *, actor: str) -> None:
    """Remove the holiday on ``day`` (:class:`NotFound` if none). Records ``admin.holiday_deleted``."""
    row = session.scalars(select(Holiday).where(Holiday.day == day)).one_or_none()
    if row is None:
        raise NotFound(f"{day.isoformat()} is not a holiday")
    session.delete(row)
    session.flush()
    audit.record(session, "admin.holiday_deleted", actor=actor, detail={"day": day.isoformat()})
