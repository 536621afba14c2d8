"""Visitors (issue 13 item 5): a person record of kind ``visitor`` whose validity ends at an instant.

A visitor is added with a one-off PIN (shown once, like any PIN), for ``hours`` or ``days`` from now
(at most :data:`MAX_DAYS`); ``users.valid_until_at`` holds the end of the visit as UTC ISO text and the
pure policy refuses the visitor as ``expired`` from that instant on. With an ``escort_group`` the
visitor's credential opens only when a member of that access group presented a valid credential within
``door.two_person_window_seconds`` (the daemon's :mod:`controller.daemon.access`); otherwise it is
refused as ``escort_required``. Visitors sign no confidentiality agreement (``site.require_agreement``
is for staff). Nothing has to run for a visit to end: the policy refuses the PIN from ``valid_until_at``
on; the person row stays ``active`` (``kunci visitor list`` shows the visit as ended).

Like every admin change, :func:`add_visitor` only records its event in the caller's session; the sealer
(daemon or :mod:`controller.control.changes`) seals and commits.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from controller.core.vocabulary import EventType, PersonKind, PersonStatus
from controller.errors import InvalidInput
from controller.i18n import T
from controller.store import audit, people, pins
from controller.store.models import User
from controller.store.schedules import find_group
from controller.store.validation import validate_label, validate_name
from controller.timefmt import iso_utc, parse_iso_utc

__all__ = ["MAX_DAYS", "MAX_HOURS", "Visit", "add_visitor", "list_visitors", "parse_length", "visitor_summary"]

logger = logging.getLogger(__name__)

#: The longest visit: a visitor who stays longer is a member of staff.
MAX_DAYS = 30
MAX_HOURS = MAX_DAYS * 24


@dataclass(frozen=True)
class Visit:
    """How long a visit lasts, as the admin gave it: ``hours`` or ``days`` (exactly one)."""

    hours: int | None = None
    days: int | None = None

    @property
    def length(self) -> timedelta:
        return timedelta(hours=self.hours) if self.hours is not None else timedelta(days=self.days or 0)

    @property
    def detail(self) -> dict[str, int]:
        return {"hours": self.hours} if self.hours is not None else {"days": int(self.days or 0)}


def _whole(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        raise InvalidInput(T("{key} must be a whole number", key=key))
    return value


def parse_length(hours: Any = None, days: Any = None) -> Visit:
    """The visit's length from ``hours`` or ``days`` (exactly one, at least 1, at most 30 days)."""
    if (hours is None) == (days is None):
        raise InvalidInput(T("give the length of the visit in hours or in days (one of them)"))
    if hours is not None:
        value = _whole(hours, "hours")
        if not 1 <= value <= MAX_HOURS:
            raise InvalidInput(T("hours must be 1..{max_hours} (a visit lasts at most {max_days} days)",
                                 max_hours=MAX_HOURS, max_days=MAX_DAYS))
        return Visit(hours=value)
    value = _whole(days, "days")
    if not 1 <= value <= MAX_DAYS:
        raise InvalidInput(T("days must be 1..{max_days}", max_days=MAX_DAYS))
    return Visit(days=value)


def add_visitor(session: Session, pepper: bytes, *, name: str | None, visit: Visit, now: datetime, actor: str,
                pin_length: int, escort_group: str | None = None, group: str | None = None) -> tuple[User, str]:
    """Add an active visitor until ``now + visit.length`` with a new PIN; records ``admin.visitor_added``.

    ``escort_group`` and ``group`` name existing access groups (:class:`~controller.errors.NotFound`
    otherwise). Returns the person and the PIN (to be shown once). The caller commits.
    """
    clean_name = validate_name(name)
    escort = find_group(session, validate_label(escort_group, "escort group")).name if escort_group else None
    group_row = find_group(session, validate_label(group, "group")) if group else None
    until = now + visit.length
    user = User(code=people.next_code(session), display_name=clean_name, status=PersonStatus.ACTIVE,
                group=group_row, kind=PersonKind.VISITOR.value, valid_until_at=iso_utc(until), escort_group=escort)
    session.add(user)
    session.flush()
    pin = pins.issue_pin(session, pepper, user, pin_length)
    detail: dict[str, Any] = {**visit.detail, "escort_group": escort}
    if group_row is not None:
        detail["group"] = group_row.name
    audit.record(session, EventType.ADMIN_VISITOR_ADDED, user=user.code, actor=actor, detail=detail)
    logger.info("visitor %s added by %s until %s", user.code, actor, iso_utc(until))
    return user, pin


def visitor_summary(user: User, now: datetime, *, include_name: bool) -> dict[str, Any]:
    """A JSON-ready view of a visitor: code, status, end of visit, escort group, whether the visit is current."""
    until = parse_iso_utc(user.valid_until_at) if user.valid_until_at else None
    out: dict[str, Any] = {
        "code": user.code,
        "status": user.status,
        "group": user.group.name if user.group is not None else None,
        "escort_group": user.escort_group,
        "valid_until_at": user.valid_until_at,
        "current": user.status == PersonStatus.ACTIVE and until is not None and now < until,
        "has_pin": user.pin is not None,
    }
    if include_name:
        out["name"] = user.display_name
    return out


def list_visitors(session: Session, now: datetime, *, include_ended: bool = True,
                  limit: int = 1000) -> list[User]:
    """Visitors, newest first: current ones (active, visit not ended) and, with ``include_ended``, the rest."""
    stmt = (select(User).where(User.kind == PersonKind.VISITOR.value)
            .options(selectinload(User.group), selectinload(User.pin)).order_by(User.id.desc()).limit(limit))
    if not include_ended:
        stmt = stmt.where(User.status == PersonStatus.ACTIVE, User.valid_until_at > iso_utc(now))
    return list(session.scalars(stmt))

