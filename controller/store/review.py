"""The access review (issue 13 item 6; docs/install-pi.md "Access review"): which credentials
have gone unused, whose confidentiality agreement is old, who is still active past their validity.

A credential's last use is read from the sealed entry log, never stored beside it: the newest
``access.granted`` event of the person with a method that used that credential (a PIN: ``pin`` or
``pin+finger``; a finger: ``finger`` or ``pin+finger``). The door's decision path writes nothing
more for it. Each person costs one probe per method on ``ix_events_user_code_type_method_time``
(migration 0004), whatever the size of the log.

Only active staff are reviewed (a suspended or revoked person's credentials open nothing; a visitor's
visit ends by itself at ``valid_until_at`` and is listed on the visitors page, not here). Days are
counted in the site's time zone from ``today``, which the caller passes (the site's date; tests
inject one): a credential last used (or, never used, a person added) ``dormant_days`` or more days
before ``today`` is dormant; an agreement signed more than ``agreement_max_age_days`` days before
``today`` (or never recorded) is old; a ``valid_until`` before ``today`` has ended.

Plain SQL text on a SQLAlchemy session (the CLI's read-only session, the web's read-only
session, the daemon's loop session for :func:`person_usage`); it never writes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.orm import Session

from controller.core.vocabulary import EventType, FingerState, PersonStatus
from controller.timefmt import parse_iso_utc

#: Access methods that used a PIN, and those that used a finger (controller.core.policy.Method values).
PIN_METHODS = ("pin", "pin+finger")
FINGER_METHODS = ("finger", "pin+finger")

_USAGE_SQL = """
SELECT u.code, u.display_name, u.created_at, u.agreement_signed_on, u.valid_until,
  EXISTS (SELECT 1 FROM pin_credentials p WHERE p.user_id = u.id),
  (SELECT count(*) FROM finger_credentials f WHERE f.user_id = u.id AND f.state = :active_finger),
  (SELECT max(e.time) FROM events e WHERE e.user_code = u.code AND e.type = :granted AND e.method = 'pin'),
  (SELECT max(e.time) FROM events e WHERE e.user_code = u.code AND e.type = :granted AND e.method = 'finger'),
  (SELECT max(e.time) FROM events e WHERE e.user_code = u.code AND e.type = :granted AND e.method = 'pin+finger')
FROM users u WHERE u.status = :active AND u.kind = 'staff'"""


@dataclass(frozen=True)
class PersonUsage:
    """One active person's credentials and when each was last used (ISO UTC text, None = never)."""

    code: str
    name: str | None
    added: str
    agreement_signed_on: date | None
    valid_until: date | None
    has_pin: bool
    fingers: int
    pin_last_used: str | None
    finger_last_used: str | None

    def credentials(self) -> list[tuple[str, str | None]]:
        """``(credential, last used)`` for each credential the person holds: ``pin``, ``finger``."""
        held = [("pin", self.pin_last_used)] if self.has_pin else []
        return held + ([("finger", self.finger_last_used)] if self.fingers else [])


def _newest(*times: str | None) -> str | None:
    known = [t for t in times if t]
    return max(known) if known else None  # fixed-width ISO text: text order == time order


def _day(value: Any) -> date | None:
    if value is None or value == "":
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _usage(row: Any) -> PersonUsage:
    code, name, added, agreement, until, has_pin, fingers, pin_t, finger_t, both_t = row
    return PersonUsage(code=code, name=name, added=added, agreement_signed_on=_day(agreement),
                       valid_until=_day(until), has_pin=bool(has_pin), fingers=int(fingers or 0),
                       pin_last_used=_newest(pin_t, both_t), finger_last_used=_newest(finger_t, both_t))


def _params() -> dict[str, str]:
    return {"granted": EventType.ACCESS_GRANTED.value, "active": PersonStatus.ACTIVE.value,
            "active_finger": FingerState.ACTIVE.value}


def usage(session: Session) -> list[PersonUsage]:
    """Every active person's credentials and last uses, in id order."""
    rows = session.execute(text(_USAGE_SQL + " ORDER BY u.id"), _params())
    return [_usage(r) for r in rows]


def person_usage(session: Session, code: str) -> PersonUsage | None:
    """One person's, or None when the person is not active (or unknown)."""
    row = session.execute(text(_USAGE_SQL + " AND u.code = :code"), {**_params(), "code": code}).first()
    return _usage(row) if row is not None else None


def idle_days(last_used: str | None, added: str, today: date, tz: ZoneInfo) -> int:
    """Whole days from the last use (never used: the day the person was added) to ``today``, site time."""
    since = parse_iso_utc(last_used or added).astimezone(tz).date()
    return (today - since).days


def all_dormant(person: PersonUsage, days: int, today: date, tz: ZoneInfo) -> bool:
    """True when the person holds a credential and every one has been unused ``days`` or more days."""
    held = person.credentials()
    return bool(held) and all(idle_days(t, person.added, today, tz) >= days for _c, t in held)


@dataclass(frozen=True)
class Review:
    """The three lists (rows are JSON-safe dicts: ``code``, optional ``name``, the facts) and the thresholds."""

    today: date
    dormant_days: int
    agreement_max_age_days: int
    auto_suspend_dormant_days: int
    dormant: list[dict[str, Any]] = field(default_factory=list)
    old_agreements: list[dict[str, Any]] = field(default_factory=list)
    expired: list[dict[str, Any]] = field(default_factory=list)
    suspension_candidates: list[str] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """What a sign-off records: how long each list was."""
        return {"dormant_credentials": len(self.dormant), "old_agreements": len(self.old_agreements),
                "expired_active": len(self.expired)}

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["today"] = self.today.isoformat()
        return out


def build(people: Iterable[PersonUsage], settings: Any, today: date, tz: ZoneInfo, *,
          with_names: bool = False) -> Review:
    """The review of ``people`` (from :func:`usage`) under ``settings`` (a ``ReviewConfig``)."""
    review = Review(today=today, dormant_days=settings.dormant_days,
                    agreement_max_age_days=settings.agreement_max_age_days,
                    auto_suspend_dormant_days=settings.auto_suspend_dormant_days)
    for p in people:
        who: dict[str, Any] = {"code": p.code, **({"name": p.name} if with_names else {})}
        for credential, last in p.credentials():
            idle = idle_days(last, p.added, today, tz)
            if idle >= settings.dormant_days:
                review.dormant.append({**who, "credential": credential, "last_used": last,
                                       "never_used": last is None, "idle_days": idle})
        signed = p.agreement_signed_on
        age = (today - signed).days if signed is not None else None
        if age is None or age > settings.agreement_max_age_days:
            review.old_agreements.append({**who, "agreement_signed_on": signed.isoformat() if signed else None,
                                          "age_days": age})
        if p.valid_until is not None and p.valid_until < today:
            review.expired.append({**who, "valid_until": p.valid_until.isoformat(),
                                   "days_past": (today - p.valid_until).days})
        days = settings.auto_suspend_dormant_days
        if days > 0 and all_dormant(p, days, today, tz):
            review.suspension_candidates.append(p.code)
    return review


def last_sign_off(session: Session) -> dict[str, Any] | None:
    """The newest ``admin.review_signed_off`` event (``time``, ``actor``, ``seq``, ``detail``), or None."""
    row = session.execute(
        text("SELECT time, actor, seq, detail FROM events WHERE type = :t ORDER BY id DESC LIMIT 1"),
        {"t": EventType.ADMIN_REVIEW_SIGNED_OFF.value},
    ).first()
    if row is None:
        return None
    return {"time": row[0], "actor": row[1], "seq": row[2], "detail": json.loads(row[3]) if row[3] else {}}
