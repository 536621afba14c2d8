"""The person service: add, suspend, resume, revoke, update, look up and list people. Their input rules are in
:mod:`controller.store.validation`; groups, schedules and holidays in :mod:`controller.store.schedules`.

Every mutating function works in the caller's session, validates everything
before it writes anything, and records its ``admin.*`` event with
:func:`controller.store.audit.record` (unsealed; the sealer chains it). The caller
commits, so a change and its event land in one transaction or not at all.

Events name the person by code only (``U0042``); ``detail`` carries
non-identifying fields (group name, validity dates, which fields changed),
never a display name or a PIN. Exceptions never quote a display name either.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from sqlalchemy import Integer, cast, func, or_, select
from sqlalchemy.orm import Session, selectinload

from controller.core.vocabulary import EventType, PersonOrigin, PersonStatus
from controller.errors import InvalidInput, NotFound, PolicyRefused
from controller.i18n import T, Text
from controller.store import audit
from controller.store.models import USER_STATUSES, AccessGroup, Event, User
from controller.store.schedules import find_group, schedule_view
from controller.store.validation import (
    CODE_DIGITS,
    CODE_PATTERN,
    CODE_PREFIX,
    NAME_MAX_LENGTH,
    UNSET,
    check_dates,
    check_mode,
    iso_date,
    validate_code,
    validate_label,
    validate_name,
)

if TYPE_CHECKING:
    from controller.core.policy import Subject

logger = logging.getLogger(__name__)

AGREEMENT_REQUIRED = T(
    "a confidentiality agreement date is required before a person can be activated (site.require_agreement)"
)
#: "Already in that status", one message per status (each reads whole in every language).
_ALREADY = {
    PersonStatus.ACTIVE: T("{code} is already active"),
    PersonStatus.SUSPENDED: T("{code} is already suspended"),
    PersonStatus.REVOKED: T("{code} is already revoked"),
}
#: What ``set_status`` does for each target status, named as the admin event.
STATUS_EVENTS = {
    PersonStatus.ACTIVE: EventType.ADMIN_USER_RESUMED,
    PersonStatus.SUSPENDED: EventType.ADMIN_USER_SUSPENDED,
    PersonStatus.REVOKED: EventType.ADMIN_USER_REVOKED,
}


# --- people -----------------------------------------------------------------------------------


def _code_number(code: str | None) -> int:
    if code and CODE_PATTERN.fullmatch(code):
        return int(code[1:])
    return 0


def next_code(session: Session) -> str:
    """The next free person code: one more than the highest ever issued (``U0001`` first).

    Codes are never reused: revoked people keep theirs, and the newest
    ``admin.user_added`` event is consulted too, in case a row was ever removed. People copied down from a
    site are not counted: their codes start above ``validation.SITE_CODE_FLOOR``, a range of their own.
    """
    highest_row = session.scalar(select(func.max(cast(func.substr(User.code, 2), Integer)))
                                 .where(User.origin == PersonOrigin.LOCAL.value))
    last_added = session.scalar(
        select(Event.user_code).where(Event.type == EventType.ADMIN_USER_ADDED).order_by(Event.id.desc()).limit(1)
    )
    n = max(int(highest_row or 0), _code_number(last_added)) + 1
    return f"{CODE_PREFIX}{n:0{CODE_DIGITS}d}"


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
    check_dates(valid_from, valid_until, agreement_signed_on, today or date.today())
    check_mode(mode_override)
    if require_agreement and agreement_signed_on is None:
        raise PolicyRefused(AGREEMENT_REQUIRED)
    group_row = find_group(session, validate_label(group, "group")) if group is not None else None
    user = User(
        code=next_code(session),
        display_name=clean_name,
        status=PersonStatus.ACTIVE,
        group=group_row,
        valid_from=valid_from,
        valid_until=valid_until,
        agreement_signed_on=agreement_signed_on,
        extended_unlock=bool(extended_unlock),
        mode_override=mode_override,
    )
    session.add(user)
    session.flush()
    detail: dict[str, Any] = {"agreement_signed_on": iso_date(agreement_signed_on)}
    if group_row is not None:
        detail["group"] = group_row.name
    if valid_from is not None:
        detail["valid_from"] = iso_date(valid_from)
    if valid_until is not None:
        detail["valid_until"] = iso_date(valid_until)
    if extended_unlock:
        detail["extended_unlock"] = True
    if mode_override is not None:
        detail["mode_override"] = mode_override
    audit.record(session, EventType.ADMIN_USER_ADDED, user=user.code, actor=actor, detail=detail)
    logger.info("person %s added by %s", user.code, actor)
    return user


def get_user(session: Session, code: str) -> User:
    """The person with ``code`` (case-insensitive); :class:`NotFound` if none."""
    clean = validate_code(code)
    user = session.scalars(select(User).where(User.code == clean)).one_or_none()
    if user is None:
        raise NotFound(T("no person with code {code}", code=clean))
    return user


def local_user(session: Session, code: str) -> User:
    """The person with ``code`` for a local change: :class:`PolicyRefused` for one copied down from the site
    (``users.origin = 'site'``: the site's admin page is where they change; a local edit would be undone)."""
    user = get_user(session, code)
    if user.origin == PersonOrigin.SITE:
        raise PolicyRefused(T("{code} is managed by the site; change them on the site's admin page", code=user.code))
    return user


def set_status(
    session: Session, code: str, status: str, actor: str, *, require_agreement: bool = True,
    reason: str | None = None,
) -> User:
    """Suspend (``suspended``), resume (``active``) or revoke (``revoked``) a person.

    Revocation is final: resuming or suspending a revoked person is refused with
    :class:`PolicyRefused` (add them again; they get a new code). Resuming needs an
    agreement date when ``require_agreement``. Setting the status a person already
    has is refused with :class:`InvalidInput`. Records ``admin.user_suspended``,
    ``admin.user_resumed`` or ``admin.user_revoked``.
    """
    if status not in USER_STATUSES:
        raise InvalidInput(T("the status must be one of: {statuses}", statuses=", ".join(USER_STATUSES)))
    user = local_user(session, code)
    if user.status == status:
        raise InvalidInput(Text(_ALREADY[status].msgid, code=user.code))
    if user.status == PersonStatus.REVOKED:
        raise PolicyRefused(T("{code} is revoked; revocation is final (add the person again for a new code)",
                              code=user.code))
    if status == PersonStatus.ACTIVE and require_agreement and user.agreement_signed_on is None:
        raise PolicyRefused(AGREEMENT_REQUIRED)
    previous = user.status
    user.status = status
    session.flush()
    detail = {"from": previous, **({"reason": reason} if reason else {})}  # reason: "dormant" (access review)
    audit.record(session, STATUS_EVENTS[status], user=user.code, actor=actor, detail=detail)
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
    user = local_user(session, code)
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
        new["mode_override"] = check_mode(mode_override)
    group_row: AccessGroup | None = None
    if group is not UNSET:
        group_row = find_group(session, validate_label(group, "group")) if group is not None else None
        new["group_id"] = group_row.id if group_row is not None else None
    check_dates(
        new.get("valid_from", user.valid_from),
        new.get("valid_until", user.valid_until),
        new.get("agreement_signed_on", user.agreement_signed_on),
        today or date.today(),
    )
    if (
        require_agreement
        and user.status == PersonStatus.ACTIVE
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
            detail[key] = iso_date(new[key])
        elif key in ("extended_unlock", "mode_override"):
            detail[key] = new[key]
    audit.record(session, EventType.ADMIN_USER_UPDATED, user=user.code, actor=actor, detail=detail)
    return user


def reset_pin(session: Session, pepper: bytes, code: str, length: int, actor: str) -> str:
    """Give the person a new PIN (replacing any old one) and return it, to be shown once.

    The one PIN-issuing service (CLI, web and daemon all come here through
    :mod:`controller.store.admin_ops`). Refused for revoked people. Records ``admin.pin_reset``
    (or ``admin.pin_issued`` when the person had no PIN), code only. Needs the pepper, so
    only the daemon or a CLI run by its owner can do it.
    """
    from controller.store import pins

    user = local_user(session, code)
    if user.status == PersonStatus.REVOKED:
        raise PolicyRefused(T("{code} is revoked; a revoked person cannot get a PIN", code=user.code))
    kind = EventType.ADMIN_PIN_RESET if user.pin is not None else EventType.ADMIN_PIN_ISSUED
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
    kind: str | None = None,
) -> list[User]:
    """A page of people in code order (keyset: pass the last code shown as ``after_code``).

    ``search`` matches a code prefix (``U00``) or a case-insensitive substring of the
    name (``%`` and ``_`` are literal). ``status`` filters by status. ``limit``
    (default 50) must be 1..1000. ``kind``: only ``staff`` or only ``visitor`` (default both).
    """
    if not 1 <= limit <= 1000:
        raise InvalidInput(T("limit must be between 1 and {max}", max=1000))
    stmt = select(User)
    if kind is not None:
        stmt = stmt.where(User.kind == kind)
    if status is not None:
        if status not in USER_STATUSES:
            raise InvalidInput(T("the status must be one of: {statuses}", statuses=", ".join(USER_STATUSES)))
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
        "valid_from": iso_date(user.valid_from),
        "valid_until": iso_date(user.valid_until),
        "agreement_signed_on": iso_date(user.agreement_signed_on),
        "extended_unlock": bool(user.extended_unlock),
        "mode_override": user.mode_override,
        "kind": user.kind,
        "origin": user.origin,
        "valid_until_at": user.valid_until_at,
        "escort_group": user.escort_group,
        "has_pin": user.pin is not None,
        "fingers": [{"slot": f.slot, "state": f.state, "door": f.door} for f in user.fingers],
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
