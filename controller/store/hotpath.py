"""The door decision's reads and writes, without ORM object loading (docs/internals.md "Key press path").

A decision reads one person (by PIN digest or sensor slot: one probe of a UNIQUE index), takes the
rarely changing site facts from a cache (:class:`Site`: door row, holidays, each group's schedule),
and writes one sealed event (plus, when it changed, the lockout row) in one commit. Everything here
is a plain statement on the caller's session: prepared SQL on the session's own SQLite connection (inside
its transaction; the driver's errors raised as SQLAlchemy's), or the same SQLAlchemy core statement on
another database; no ORM identity map, no relationship loads, no unit-of-work flush. Only the sealer (the daemon loop) calls the writers.

On SQLite the daemon also holds one *direct* connection (:func:`open_direct`): while its loop session has no
transaction open, a decision reads the person on it in autocommit and writes its sealed event (and lockout
row) in one ``BEGIN IMMEDIATE`` ... ``COMMIT`` (:func:`seal_direct`), without SQLAlchemy's transaction and
pool machinery (0.6 ms of a 2 ms decision on the bench VM, docs/performance.md). Its write transaction never
outlives one call, so it can never wait for the session's and the session never waits for it.

The cache is the daemon's to invalidate: it is the only writer of the door database, so it calls
:func:`load_site` again after each of its own admin changes (and re-reads the door row, whose
``lockdown`` flag may be set by an operator, off the decision path).
"""

from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import bindparam, false, insert, select, true, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from controller.canonical import canonical_json
from controller.core import policy
from controller.store import audit
from controller.store.models import (
    AccessGroup,
    Door,
    DuressCredential,
    Event,
    FingerCredential,
    GroupDoor,
    Holiday,
    LockoutState,
    PinCredential,
    Schedule,
    ScheduleWindow,
    User,
)
from controller.timefmt import iso_utc, parse_iso_utc

__all__ = [
    "LockoutRow",
    "Person",
    "Site",
    "append_sealed",
    "load_door",
    "load_site",
    "open_direct",
    "person_by_digest",
    "person_by_slot",
    "save_lockout",
    "seal_direct",
]


@dataclass(frozen=True, slots=True)
class Person:
    """The columns of ``users`` a decision needs (never the name)."""

    code: str
    status: str
    valid_from: date | None
    valid_until: date | None
    group_id: int | None
    mode_override: str | None
    extended_unlock: bool
    duress: bool = False  # found by their duress PIN (docs/security.md "Duress")
    visitor: bool = False  # users.kind = 'visitor' (never counts as an escort)
    valid_until_at: datetime | None = None  # a visitor's end of visit (aware UTC)
    escort_group: str | None = None
    site: bool = False  # users.origin = 'site' (copied down by the site link)


@dataclass(frozen=True, slots=True)
class Site:
    """Cached site facts: the door, every holiday (local dates), each group's schedule (None = any time)
    and each group's name; ``group_doors``: the doors each group grants (a group absent = every door)."""

    door: policy.DoorView
    holidays: frozenset[date]
    schedules: Mapping[int, policy.Schedule | None]
    group_names: Mapping[int, str] = dataclasses.field(default_factory=dict)
    #: Each group's rules: (the mode it requires or None, the two-person rule).
    group_rules: Mapping[int, tuple[str | None, bool]] = dataclasses.field(default_factory=dict)
    group_doors: Mapping[int, frozenset[str]] = dataclasses.field(default_factory=dict)

    def subject(self, person: Person | None) -> policy.Subject | None:
        """The pure policy input for ``person`` (its group's schedule, name and rules from this cache)."""
        if person is None:
            return None
        group = person.group_id
        required, two_person = self.group_rules.get(group, (None, False)) if group is not None else (None, False)
        return policy.Subject(person.code, person.status, person.valid_from, person.valid_until,
                              self.schedules.get(group) if group is not None else None,
                              policy.DoorMode(person.mode_override) if person.mode_override else None,
                              self.group_names.get(group) if group is not None else None,
                              person.valid_until_at, person.escort_group,
                              policy.DoorMode(required) if required else None, two_person,
                              self.group_doors.get(group) if group is not None else None, person.site)


# Core statements on the tables (not the mapped classes): no ORM compilation or loading at run time.
_users, _pins, _fingers, _events = (User.__table__.c, PinCredential.__table__.c, FingerCredential.__table__.c,
                                    Event.__table__.c)
_PERSON = (_users.code, _users.status, _users.valid_from, _users.valid_until, _users.group_id,
           _users.mode_override, _users.extended_unlock, _users.kind, _users.valid_until_at, _users.escort_group,
           _users.origin)
_duress = DuressCredential.__table__.c
_BY_DIGEST = (select(*_PERSON, false().label("duress"))
              .select_from(User.__table__.join(PinCredential.__table__, _pins.user_id == _users.id))
              .where(_pins.digest == bindparam("digest"))
              .union_all(select(*_PERSON, true().label("duress"))
                         .select_from(User.__table__.join(DuressCredential.__table__, _duress.user_id == _users.id))
                         .where(_duress.digest == bindparam("digest"))))
_BY_SLOT = (select(*_PERSON).select_from(User.__table__.join(FingerCredential.__table__,
                                                             _fingers.user_id == _users.id))
            .where(_fingers.door == bindparam("door"), _fingers.slot == bindparam("slot"), _fingers.state == "active"))
_HEAD = select(_events.seq, _events.mac).where(_events.seq.is_not(None)).order_by(_events.seq.desc()).limit(1)
_INSERT_EVENT = insert(Event.__table__)
_LOCKOUT = LockoutState.__table__


# The same statements as plain SQL for SQLite's own driver (prepared once, cached by sqlite3), run on the
# session's connection inside its transaction (SQLAlchemy has already sent BEGIN IMMEDIATE, db.py).
_PERSON_SQL = ("SELECT u.code, u.status, u.valid_from, u.valid_until, u.group_id, u.mode_override, "
               "u.extended_unlock, u.kind, u.valid_until_at, u.escort_group, u.origin FROM users u ")
# One statement, two UNIQUE index probes: a PIN and a duress PIN cost the same (no timing difference).
_BY_DIGEST_SQL = (_PERSON_SQL.replace("FROM", ", 0 FROM") + "JOIN pin_credentials p ON p.user_id = u.id WHERE p.digest = ? "
                  "UNION ALL " + _PERSON_SQL.replace("FROM", ", 1 FROM")
                  + "JOIN duress_credentials d ON d.user_id = u.id WHERE d.digest = ?")
_BY_SLOT_SQL = (_PERSON_SQL + "JOIN finger_credentials f ON f.user_id = u.id "
                "WHERE f.door = ? AND f.slot = ? AND f.state = 'active'")
_HEAD_SQL = "SELECT seq, mac FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
_INSERT_SQL = ("INSERT INTO events (seq, mac, time, type, reason, method, user_code, door, actor, score, detail) "
               "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


def _sqlite(session: Session) -> Any:
    """The session's DB-API connection when it is SQLite's own driver (in the session's transaction), else None."""
    connection = session.connection()
    return connection.connection.driver_connection if connection.dialect.name == "sqlite" else None


def _raw(connection: Any, sql: str, params: tuple) -> Any:
    """Run ``sql`` on the driver connection; its errors become SQLAlchemy's, as on every other store path."""
    try:
        return connection.execute(sql, params)
    except sqlite3.Error as exc:
        raise DBAPIError.instance(sql, params, exc, sqlite3.Error) from exc


def _day(value: Any) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else value


def _person(row: Any) -> Person | None:
    if row is None:
        return None
    return Person(row[0], row[1], _day(row[2]), _day(row[3]), row[4], row[5], bool(row[6]),
                  bool(row[11]) if len(row) > 11 else False, row[7] == "visitor",
                  parse_iso_utc(row[8]) if row[8] else None, row[9], row[10] == "site")


def _driver(source: Session | sqlite3.Connection) -> Any:
    """The SQLite driver connection to run on: ``source`` itself (a direct connection), the session's own, or None."""
    return source if isinstance(source, sqlite3.Connection) else _sqlite(source)


def person_by_digest(source: Session | sqlite3.Connection, digest: bytes) -> Person | None:
    """The person whose PIN or duress PIN digest is ``digest`` (any status; ``duress`` says which), or None:
    one statement probing the two UNIQUE digest indexes. ``source``: the loop session or the direct connection."""
    raw = _driver(source)
    if raw is not None:
        return _person(_raw(raw, _BY_DIGEST_SQL, (digest, digest)).fetchone())
    return _person(source.execute(_BY_DIGEST, {"digest": digest}).first())


def person_by_slot(source: Session | sqlite3.Connection, slot: int, door: str = "") -> Person | None:
    """The person whose *active* finger is in ``slot`` of door ``door``'s sensor (``''`` = the first door's),
    or None: one probe of the UNIQUE (door, slot) index."""
    raw = _driver(source)
    if raw is not None:
        return _person(_raw(raw, _BY_SLOT_SQL, (door, slot)).fetchone())
    return _person(source.execute(_BY_SLOT, {"door": door, "slot": slot}).first())


def load_door(session: Session, name: str) -> policy.DoorView:
    """The door row ``name`` as policy sees it; the first door if that name has no row; in lockdown if none."""
    row = session.execute(select(Door.name, Door.mode, Door.lockdown).where(Door.name == name)).first()
    if row is None:  # the configured name has no row: fall back to the seeded one, never crash
        row = session.execute(select(Door.name, Door.mode, Door.lockdown).order_by(Door.id).limit(1)).first()
    if row is None:
        return policy.DoorView(name=name, mode=policy.DoorMode.PIN_OR_FINGER, lockdown=True)
    return policy.DoorView(name=row[0], mode=policy.DoorMode(row[1]), lockdown=bool(row[2]))


def load_site(session: Session, door_name: str) -> Site:
    """Read the door, the holidays, the groups, their doors, schedules and windows (five small queries)."""
    windows: dict[int, list[policy.Window]] = {}
    for sid, weekday, start, end in session.execute(
            select(ScheduleWindow.schedule_id, ScheduleWindow.weekday, ScheduleWindow.start_minute,
                   ScheduleWindow.end_minute).order_by(ScheduleWindow.id)):
        windows.setdefault(sid, []).append(policy.Window(weekday, start, end))
    schedules = {sid: policy.Schedule(tuple(windows.get(sid, ())), bool(allow))
                 for sid, allow in session.execute(select(Schedule.id, Schedule.allow_on_holidays))}
    groups: dict[int, policy.Schedule | None] = {}
    names: dict[int, str] = {}
    rules: dict[int, tuple[str | None, bool]] = {}
    for gid, name, sid, required, two_person in session.execute(
            select(AccessGroup.id, AccessGroup.name, AccessGroup.schedule_id, AccessGroup.required_mode,
                   AccessGroup.two_person)):
        groups[gid] = schedules.get(sid) if sid is not None else None
        names[gid] = name
        rules[gid] = (required, bool(two_person))
    doors: dict[int, set[str]] = {}
    for gid, door in session.execute(select(GroupDoor.group_id, GroupDoor.door)):
        doors.setdefault(gid, set()).add(door)
    holidays = frozenset(session.scalars(select(Holiday.day)).all())
    return Site(load_door(session, door_name), holidays, groups, names, rules,
                {gid: frozenset(names_) for gid, names_ in doors.items()})


def _sealed(key: bytes, head: Any, type: str, time: datetime, reason: str | None, method: str | None,
            user: str | None, door: str | None, actor: str | None, score: int | None,
            detail: Mapping[str, Any] | None) -> tuple[int, bytes, tuple]:
    """The next row after ``head`` (a ``(seq, mac)`` row or None): ``(seq, mac, INSERT parameters)``."""
    seq, prev = (0, audit.GENESIS_MAC) if head is None else (int(head[0]), bytes(head[1]))
    values = {"seq": seq + 1, "time": iso_utc(time), "type": type, "reason": reason, "method": method,
              "user": user, "door": door, "actor": actor, "score": score,
              "detail": None if detail is None else canonical_json(dict(detail))}
    mac = audit.chain_mac(key, prev, values)
    return seq + 1, mac, (seq + 1, mac, values["time"], type, reason, method, user, door, actor, score,
                          values["detail"])


def append_sealed(session: Session, key: bytes, type: str, *, time: datetime, reason: str | None = None,
                  method: str | None = None, user: str | None = None, door: str | None = None,
                  actor: str | None = None, score: int | None = None,
                  detail: Mapping[str, Any] | None = None) -> tuple[int, bytes]:
    """Insert one event sealed after the head (core INSERT; same row and MAC as :func:`audit.append`).

    Returns ``(seq, mac)`` and leaves it in ``session.info`` for the anchor writer; the caller commits.
    """
    raw = _sqlite(session)
    head = _raw(raw, _HEAD_SQL, ()).fetchone() if raw is not None else session.execute(_HEAD).first()
    seq, mac, row = _sealed(key, head, type, time, reason, method, user, door, actor, score, detail)
    if raw is not None:
        _raw(raw, _INSERT_SQL, row)
    else:
        session.execute(_INSERT_EVENT, dict(zip(("seq", "mac", "time", "type", "reason", "method", "user_code",
                                                 "door", "actor", "score", "detail"), row)))
    session.info[audit.SEALED_HEAD_INFO] = (seq, mac)
    return seq, mac


@dataclass(frozen=True, slots=True)
class LockoutRow:
    """One ``lockout_state`` row as written (times already UTC ISO text, ``failure_times`` a JSON list)."""

    name: str
    failures: int
    level: int
    locked_until: str | None
    failure_times: str
    suspended: bool


def open_direct(session: Session) -> Any | None:
    """A connection of the session's engine for the daemon to hold (SQLite only: None on another database).

    It comes from the engine's pool, so it has the same pragmas (WAL, ``synchronous=FULL``, ``busy_timeout``,
    no implicit transactions); the caller closes it (back to the pool) at its stop. Use its
    ``driver_connection`` with :func:`person_by_digest`, :func:`person_by_slot` and :func:`seal_direct`.
    """
    engine = session.get_bind()
    return engine.raw_connection() if engine.dialect.name == "sqlite" else None


_UPDATE_LOCKOUT_SQL = ("UPDATE lockout_state SET failures = ?, level = ?, locked_until = ?, failure_times = ?, "
                       "suspended = ? WHERE name = ?")
_INSERT_LOCKOUT_SQL = ("INSERT INTO lockout_state (failures, level, locked_until, failure_times, suspended, name) "
                       "VALUES (?, ?, ?, ?, ?, ?)")


def seal_direct(conn: sqlite3.Connection, key: bytes, type: str, *, lockouts: Sequence[LockoutRow] = (),
                time: datetime, reason: str | None = None, method: str | None = None, user: str | None = None,
                door: str | None = None, actor: str | None = None, score: int | None = None,
                detail: Mapping[str, Any] | None = None) -> tuple[int, bytes]:
    """One durable transaction on a direct connection: ``lockouts`` rows, then one event sealed after the head.

    With lockout rows: ``BEGIN IMMEDIATE``, the rows, the head probe, the INSERT, ``COMMIT``. Without (most
    decisions): the head probe, then the INSERT as a transaction of its own (SQLite's autocommit: the same
    journal write and fsync, two statements fewer). The daemon is the only writer, so the head cannot move
    in between; were it to, the UNIQUE ``seq`` refuses the row (an error, never a fork of the chain).
    ``synchronous=FULL``: durable when it returns. Returns ``(seq, mac)``. On any error the transaction is
    rolled back and SQLAlchemy's ``DBAPIError`` raised (as every store path raises), so nothing is stored.
    """
    if not lockouts:
        seq, mac, params = _sealed(key, _raw(conn, _HEAD_SQL, ()).fetchone(), type, time, reason, method, user,
                                   door, actor, score, detail)
        _raw(conn, _INSERT_SQL, params)
        return seq, mac
    try:
        _raw(conn, "BEGIN IMMEDIATE", ())
        for row in lockouts:
            params = (row.failures, row.level, row.locked_until, row.failure_times, row.suspended, row.name)
            if _raw(conn, _UPDATE_LOCKOUT_SQL, params).rowcount == 0:
                _raw(conn, _INSERT_LOCKOUT_SQL, params)
        seq, mac, params = _sealed(key, _raw(conn, _HEAD_SQL, ()).fetchone(), type, time, reason, method, user,
                                   door, actor, score, detail)
        _raw(conn, _INSERT_SQL, params)
        _raw(conn, "COMMIT", ())
    except BaseException:
        if conn.in_transaction:
            try:
                conn.rollback()
            except sqlite3.Error:
                pass  # the connection is unusable; the next BEGIN reports it
        raise
    return seq, mac


def save_lockout(session: Session, row: LockoutRow) -> None:
    """Write lockout row ``row.name`` (update, else insert) in the session's transaction."""
    values = {"failures": row.failures, "level": row.level, "locked_until": row.locked_until,
              "failure_times": row.failure_times, "suspended": row.suspended}
    done = session.execute(update(_LOCKOUT).where(_LOCKOUT.c.name == row.name).values(**values))
    if done.rowcount == 0:
        session.execute(insert(_LOCKOUT).values(name=row.name, **values))
