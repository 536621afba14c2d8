"""A batch of the site feed applied to the door database, in the caller's session (docs/site.md "The
controller's link"; issue 16, contract C6).

The site link fetches this controller's feed rows and hands them to the door daemon as the control command
``site.apply``; the daemon (the only writer) calls :func:`apply_batch` on its loop thread and commits once:
the changes, the advanced ``site_sync.revision`` and one sealed ``admin.site_sync`` event land together or
not at all. What a row does (payloads as :mod:`controller.store.site_feed` checked them):

- ``person``: the person (by code) with ``origin = 'site'``: status, kind, validity, group, PIN digest. Never a
  name (``display_name`` stays empty: names stay at the site). A code already held by a *local* person is
  left alone (logged, counted as a conflict), and so is a PIN digest another person already holds here (the
  site person gets no PIN here; logged, counted).
- ``person.remove``: the site person is deleted with their credentials (they no longer reach this controller).
- ``group``: the access group by name (schedule by name, required mode, two-person rule) and the doors it
  grants *here*: names of doors this controller does not drive are ignored (logged); a group left with none
  gets the one row ``''``, which no door matches, because a group without rows would grant every door.
- ``group.remove``: deleted with its site people; if local people are still in it, it stays and grants nothing.
- ``schedule`` / ``schedule.remove``: the schedule and its windows; a schedule still used by a group is kept
  with no windows (never open) rather than removed (a group without schedule may enter at any time).
- ``holiday`` / ``holiday.remove``: the day (holiday names are not sent to controllers).
- ``door``: the mode of one of this controller's doors, set at the site (a value that is no door mode, such as
  the site's default ``normal``, leaves the controller's own mode).

Replays are harmless: rows at or below ``site_sync.revision`` are skipped, so a batch fetched twice is applied
once. A row that names something the feed never sent (a group's unknown schedule, a person's unknown group)
refuses the whole batch, like a malformed row: nothing changes and the link retries.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from controller.core.vocabulary import EventType, PersonOrigin
from controller.errors import InvalidInput
from controller.i18n import T
from controller.store import audit
from controller.store.models import (
    AccessGroup,
    Door,
    DuressCredential,
    GroupDoor,
    Holiday,
    PinCredential,
    Schedule,
    ScheduleWindow,
    SiteSync,
    User,
)
from controller.store.site_feed import FeedRow, parse_batch
from controller.timefmt import iso_utc, utcnow

__all__ = ["NO_DOOR", "Applied", "apply_batch", "cursors"]

log = logging.getLogger(__name__)

#: The ``group_doors`` row of a site group that grants none of this controller's doors (no door has this name).
NO_DOOR = ""
#: Who the ``admin.site_sync`` event names as its actor.
SITE_ACTOR = "site"


@dataclass
class Applied:
    """What one batch did: revisions before and after, rows applied, and what was left alone (codes only)."""

    before: int
    after: int
    changes: int = 0
    conflicts: list[str] = field(default_factory=list)
    ignored_doors: list[str] = field(default_factory=list)
    group_ids: dict[str, int | None] = field(default_factory=dict)  # looked up in this batch (people name theirs)

    def detail(self) -> dict[str, Any]:
        """The sealed event's detail: ``{"from", "to", "changes"}`` and, when any, the conflicts (codes only)."""
        out: dict[str, Any] = {"from": self.before, "to": self.after, "changes": self.changes}
        if self.conflicts:
            out["conflicts"] = self.conflicts[:50]
        if self.ignored_doors:
            out["ignored_doors"] = sorted(set(self.ignored_doors))[:20]
        return out


def cursors(session: Session) -> SiteSync:
    """The ``site_sync`` row (created at 0 on first use, in the caller's transaction)."""
    row = session.get(SiteSync, 1)
    if row is None:
        row = SiteSync(id=1, revision=0, uploaded_seq=0)
        session.add(row)
        session.flush()
    return row


def apply_batch(session: Session, rows: Any, revision: Any, doors: Collection[str], now: datetime) -> Applied:
    """Apply a fetched batch (``rows`` up to feed ``revision``) for a controller whose doors are ``doors``.

    Uncommitted: the caller commits (the daemon seals the ``admin.site_sync`` event recorded here as it is
    written). Returns what was done; ``before == after`` and nothing written when the batch was already applied.
    Raises :class:`InvalidInput` for a malformed batch or one naming an unknown group or schedule (the caller
    rolls back: nothing changes).
    """
    checked, revision = parse_batch(rows, revision)
    sync = cursors(session)
    applied = Applied(before=sync.revision, after=sync.revision)
    fresh = [row for row in checked if row.revision > sync.revision]
    if revision <= sync.revision:
        return applied
    sync.revision, sync.synced_at = revision, iso_utc(now)
    applied.after = revision
    if not fresh:  # nothing new (the rows were applied by an earlier batch): only the cursor moves
        return applied
    for row in fresh:
        _APPLY[row.op](session, row, doors, applied)
        applied.changes += 1
    session.flush()
    audit.record(session, EventType.ADMIN_SITE_SYNC, actor=SITE_ACTOR, detail=applied.detail(), time=now)
    return applied


def _unknown(row: FeedRow, what: str, name: str) -> InvalidInput:
    return InvalidInput(T("site feed row {revision}: {what} {name} is not known here", revision=row.revision,
                          what=what, name=repr(name[:80])))


def _group_id(session: Session, name: str) -> int | None:
    return session.scalar(select(AccessGroup.id).where(AccessGroup.name == name))


# People are the bulk of a feed (a new controller's snapshot holds every person it admits): on SQLite they are
# written with plain SQL on the session's own connection, inside its transaction (as the hot path reads people),
# a few statements per row and no ORM objects, so a batch keeps the loop's turn short; core statements elsewhere.
_users, _pins, _duress = User.__table__, PinCredential.__table__, DuressCredential.__table__
_SQL = {
    "find": "SELECT id, origin FROM users WHERE code = ?",
    "insert": "INSERT INTO users (code, origin, status, kind, group_id, valid_from, valid_until, created_at, "
              "updated_at) VALUES (?, 'site', ?, ?, ?, ?, ?, ?, ?)",
    "update": "UPDATE users SET status = ?, kind = ?, group_id = ?, valid_from = ?, valid_until = ?, updated_at = ? "
              "WHERE id = ?",
    "pin": "SELECT digest FROM pin_credentials WHERE user_id = ?",
    "taken": "SELECT user_id FROM pin_credentials WHERE digest = ? AND user_id <> ? "
             "UNION ALL SELECT user_id FROM duress_credentials WHERE digest = ? LIMIT 1",
    "unpin": "DELETE FROM pin_credentials WHERE user_id = ?",
    "pin_insert": "INSERT INTO pin_credentials (user_id, digest, created_at) VALUES (?, ?, ?)",
}


def _driver(session: Session) -> Any:
    """The session's own sqlite3 connection (in its transaction), or None on another database."""
    connection = session.connection()
    return connection.connection.driver_connection if connection.dialect.name == "sqlite" else None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def _person(session: Session, row: FeedRow, doors: Collection[str], applied: Applied) -> None:
    v = row.value
    raw = _driver(session)
    if raw is not None:
        found = raw.execute(_SQL["find"], (row.key,)).fetchone()
    else:
        found = session.execute(select(_users.c.id, _users.c.origin).where(_users.c.code == row.key)).first()
    if found is not None and found[1] != PersonOrigin.SITE:
        log.warning("site person %s: the code belongs to a local person here; left alone", row.key)
        applied.conflicts.append(row.key)
        return
    if v["group"] not in applied.group_ids:  # always set: site_feed refuses a site person without a group
        applied.group_ids[v["group"]] = _group_id(session, v["group"])
    group_id = applied.group_ids[v["group"]]
    if group_id is None:
        raise _unknown(row, "group", v["group"])
    now = iso_utc(utcnow())
    values = (v["status"], v["kind"], group_id, _iso(v["valid_from"]), _iso(v["valid_until"]), now)
    if raw is not None:
        if found is None:
            user_id = raw.execute(_SQL["insert"], (row.key, *values, now)).lastrowid
        else:
            user_id = found[0]
            raw.execute(_SQL["update"], (*values, user_id))
    else:
        columns = {"status": v["status"], "kind": v["kind"], "group_id": group_id, "valid_from": v["valid_from"],
                   "valid_until": v["valid_until"]}
        if found is None:
            user_id = session.execute(insert(_users).values(code=row.key, origin=PersonOrigin.SITE.value, **columns)
                                      .returning(_users.c.id)).scalar_one()
        else:
            user_id = found[0]
            session.execute(update(_users).where(_users.c.id == user_id).values(**columns))
    _set_pin(session, raw, row.key, user_id, v["pin_digest"], applied)


def _set_pin(session: Session, raw: Any, code: str, user_id: int, digest: bytes | None, applied: Applied) -> None:
    if raw is not None:
        current = raw.execute(_SQL["pin"], (user_id,)).fetchone()
        current = bytes(current[0]) if current is not None else None
    else:
        current = session.scalar(select(_pins.c.digest).where(_pins.c.user_id == user_id))
    if digest is not None and digest != current:
        if raw is not None:
            taken = raw.execute(_SQL["taken"], (digest, user_id, digest)).fetchone()
        else:
            taken = session.execute(select(_pins.c.user_id).where(_pins.c.digest == digest,
                                                                  _pins.c.user_id != user_id)
                                    .union_all(select(_duress.c.user_id).where(_duress.c.digest == digest))).first()
        if taken is not None:
            log.warning("site person %s: their PIN is already another person's here; no PIN for them", code)
            applied.conflicts.append(code)
            digest = None
    if digest == current:
        return
    if raw is not None:
        if current is not None:
            raw.execute(_SQL["unpin"], (user_id,))
        if digest is not None:
            raw.execute(_SQL["pin_insert"], (user_id, digest, iso_utc(utcnow())))
        return
    if current is not None:
        session.execute(delete(_pins).where(_pins.c.user_id == user_id))
    if digest is not None:
        session.execute(insert(_pins).values(user_id=user_id, digest=digest))


def _person_remove(session: Session, row: FeedRow, doors: Collection[str], applied: Applied) -> None:
    # ON DELETE CASCADE takes the PIN and any finger rows with the person
    session.execute(delete(_users).where(_users.c.code == row.key, _users.c.origin == PersonOrigin.SITE.value))


def _group(session: Session, row: FeedRow, doors: Collection[str], applied: Applied) -> None:
    v = row.value
    applied.group_ids.pop(row.key, None)
    schedule_id = None
    if v["schedule"] is not None:
        schedule_id = session.scalar(select(Schedule.id).where(Schedule.name == v["schedule"]))
        if schedule_id is None:
            raise _unknown(row, "schedule", v["schedule"])
    group = session.scalar(select(AccessGroup).where(AccessGroup.name == row.key))
    if group is None:
        group = AccessGroup(name=row.key)
        session.add(group)
    group.schedule_id, group.required_mode, group.two_person = schedule_id, v["required_mode"], v["two_person"]
    session.flush()
    here = [d for d in v["doors"] if d in doors]
    unknown = [d for d in v["doors"] if d not in doors]
    if unknown:
        log.warning("site group %s: doors %s are not doors of this controller; ignored", row.key, unknown)
        applied.ignored_doors.extend(unknown)
    _set_doors(session, group.id, here or [NO_DOOR])


def _set_doors(session: Session, group_id: int, names: list[str]) -> None:
    session.execute(delete(GroupDoor).where(GroupDoor.group_id == group_id))
    session.add_all(GroupDoor(group_id=group_id, door=name) for name in names)
    session.flush()


def _group_remove(session: Session, row: FeedRow, doors: Collection[str], applied: Applied) -> None:
    applied.group_ids.pop(row.key, None)
    group = session.scalar(select(AccessGroup).where(AccessGroup.name == row.key))
    if group is None:
        return
    for user in session.scalars(select(User).where(User.group_id == group.id,
                                                   User.origin == PersonOrigin.SITE.value)):
        session.delete(user)
    session.flush()
    if session.scalar(select(User.id).where(User.group_id == group.id).limit(1)) is not None:
        log.warning("site group %s removed, but local people are in it here: it stays and grants no door", row.key)
        _set_doors(session, group.id, [NO_DOOR])
        return
    session.delete(group)  # its group_doors rows go with it (ON DELETE CASCADE)
    session.flush()


def _schedule(session: Session, row: FeedRow, doors: Collection[str], applied: Applied) -> None:
    v = row.value
    schedule = session.scalar(select(Schedule).where(Schedule.name == row.key))
    if schedule is None:
        schedule = Schedule(name=row.key)
        session.add(schedule)
    schedule.allow_on_holidays = v["allow_on_holidays"]
    schedule.windows = [ScheduleWindow(weekday=w, start_minute=s, end_minute=e) for w, s, e in v["windows"]]
    session.flush()


def _schedule_remove(session: Session, row: FeedRow, doors: Collection[str], applied: Applied) -> None:
    schedule = session.scalar(select(Schedule).where(Schedule.name == row.key))
    if schedule is None:
        return
    if session.scalar(select(AccessGroup.id).where(AccessGroup.schedule_id == schedule.id).limit(1)) is not None:
        log.warning("site schedule %s removed while a group here still uses it: kept with no window", row.key)
        schedule.windows = []
    else:
        session.delete(schedule)
    session.flush()


def _holiday(session: Session, row: FeedRow, doors: Collection[str], applied: Applied) -> None:
    day = row.value["day"]
    if session.scalar(select(Holiday.id).where(Holiday.day == day)) is None:
        session.add(Holiday(day=day, name=""))
        session.flush()


def _holiday_remove(session: Session, row: FeedRow, doors: Collection[str], applied: Applied) -> None:
    session.execute(delete(Holiday).where(Holiday.day == date.fromisoformat(row.key)))


def _door(session: Session, row: FeedRow, doors: Collection[str], applied: Applied) -> None:
    if row.key not in doors:
        log.warning("site door %s is not a door of this controller; its mode is ignored", row.key)
        applied.ignored_doors.append(row.key)
        return
    if row.value["mode"] is None:  # the site leaves the mode to the controller (its default 'normal')
        return
    door = session.scalar(select(Door).where(Door.name == row.key))
    if door is None:
        session.add(Door(name=row.key, mode=row.value["mode"]))
    else:
        door.mode = row.value["mode"]
    session.flush()


_APPLY = {
    "person": _person, "person.remove": _person_remove,
    "group": _group, "group.remove": _group_remove,
    "schedule": _schedule, "schedule.remove": _schedule_remove,
    "holiday": _holiday, "holiday.remove": _holiday_remove,
    "door": _door,
}
