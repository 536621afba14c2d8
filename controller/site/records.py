"""What the site's lists return: plain frozen records read with one query each (the site web and the CLI).

``rooms`` limits a list to the rooms a staff login manages (a list of room ids; ``None`` = every room):
doors in those rooms, people whose group grants one of those doors, events of the controllers driving them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection


@dataclass(frozen=True)
class PersonRow:
    code: str
    name: str
    status: str
    kind: str
    valid_from: date | None
    valid_until: date | None
    group: str | None


@dataclass(frozen=True)
class GroupRow:
    id: int
    name: str
    schedule: str | None
    required_mode: str | None
    two_person: bool
    door_ids: tuple[int, ...]


@dataclass(frozen=True)
class WindowRow:
    weekday: int  # 0 = Monday
    start_minute: int
    end_minute: int  # exclusive; 1440 = midnight


@dataclass(frozen=True)
class ScheduleRow:
    name: str
    allow_on_holidays: bool
    windows: tuple[WindowRow, ...]  # by weekday, then start
    groups: tuple[str, ...]  # the groups following it, by name


@dataclass(frozen=True)
class HolidayRow:
    day: date
    name: str


@dataclass(frozen=True)
class DoorRow:
    id: int
    name: str
    controller: str
    room_id: int
    room: str
    mode: str | None


@dataclass(frozen=True)
class ControllerRow:
    """A controller's sync state: ``revision_head`` is its newest feed revision, ``revision_seen`` the one it
    reported; their difference is what it has not fetched yet."""

    id: int
    name: str
    role: str
    joined_at: datetime | None
    last_seen_at: datetime | None
    revision_seen: int
    revision_head: int
    uploaded_seq: int
    events: int
    doors: tuple[str, ...]

    @property
    def revision_lag(self) -> int:
        return max(0, self.revision_head - self.revision_seen)


@dataclass(frozen=True)
class EventRow:
    controller: str
    seq: int
    time: str
    type: str
    reason: str | None
    method: str | None
    user_code: str | None
    door: str | None
    actor: str | None
    score: int | None
    detail: str | None


@dataclass(frozen=True)
class StaffRow:
    id: int
    username: str
    role: str
    rooms: tuple[int, ...] | None
    active: bool


_IN_ROOMS = "d.room_id = ANY(:rooms)"


def _rooms_param(rooms: Any) -> dict[str, Any]:
    return {"rooms": [int(r) for r in rooms]} if rooms is not None else {}


def list_people(conn: Connection, rooms: Any = None) -> list[PersonRow]:
    where = ""
    if rooms is not None:
        where = ("WHERE EXISTS (SELECT 1 FROM kunci.group_doors gd JOIN kunci.doors d ON d.id = gd.door_id "
                 f"WHERE gd.group_id = p.group_id AND {_IN_ROOMS})")
    rows = conn.execute(text(
        "SELECT p.code, p.display_name, p.status, p.kind, p.valid_from, p.valid_until, g.name "
        f"FROM kunci.people p LEFT JOIN kunci.groups g ON g.id = p.group_id {where} ORDER BY p.code"),
        _rooms_param(rooms)).all()
    return [PersonRow(*r) for r in rows]


def list_groups(conn: Connection) -> list[GroupRow]:
    rows = conn.execute(text(
        "SELECT g.id, g.name, s.name, g.required_mode, g.two_person, "
        "COALESCE(array_agg(gd.door_id ORDER BY gd.door_id) FILTER (WHERE gd.door_id IS NOT NULL), '{}') "
        "FROM kunci.groups g LEFT JOIN kunci.schedules s ON s.id = g.schedule_id "
        "LEFT JOIN kunci.group_doors gd ON gd.group_id = g.id GROUP BY g.id, s.name ORDER BY g.name")).all()
    return [GroupRow(r[0], r[1], r[2], r[3], bool(r[4]), tuple(r[5])) for r in rows]


def list_schedules(conn: Connection) -> list[ScheduleRow]:
    rows = conn.execute(text(
        "SELECT s.name, s.allow_on_holidays, "
        "COALESCE((SELECT array_agg(ARRAY[w.weekday, w.start_minute, w.end_minute] "
        "ORDER BY w.weekday, w.start_minute, w.end_minute) FROM kunci.schedule_windows w "
        "WHERE w.schedule_id = s.id), '{}'), "
        "COALESCE((SELECT array_agg(g.name ORDER BY g.name) FROM kunci.groups g WHERE g.schedule_id = s.id), '{}') "
        "FROM kunci.schedules s ORDER BY s.name")).all()
    return [ScheduleRow(r[0], bool(r[1]), tuple(WindowRow(*map(int, w)) for w in r[2]), tuple(r[3])) for r in rows]


def list_holidays(conn: Connection) -> list[HolidayRow]:
    rows = conn.execute(text("SELECT day, name FROM kunci.holidays ORDER BY day")).all()
    return [HolidayRow(r[0], r[1]) for r in rows]


def list_doors(conn: Connection, rooms: Any = None) -> list[DoorRow]:
    where = f"WHERE {_IN_ROOMS}" if rooms is not None else ""
    rows = conn.execute(text(
        "SELECT d.id, d.name, c.name, d.room_id, r.name, d.mode FROM kunci.doors d "
        "JOIN kunci.controllers c ON c.id = d.controller_id JOIN kunci.rooms r ON r.id = d.room_id "
        f"{where} ORDER BY c.name, d.name"), _rooms_param(rooms)).all()
    return [DoorRow(*r) for r in rows]


def controllers(conn: Connection) -> list[ControllerRow]:
    rows = conn.execute(text(
        "SELECT c.id, c.name, c.role, c.joined_at, c.last_seen_at, c.revision_seen, "
        "COALESCE((SELECT max(f.revision) FROM kunci.feed f WHERE f.controller_id = c.id), 0), "
        "COALESCE((SELECT max(e.seq) FROM kunci.events e WHERE e.controller_id = c.id), 0), "
        "(SELECT count(*) FROM kunci.events e WHERE e.controller_id = c.id), "
        "COALESCE((SELECT array_agg(d.name ORDER BY d.name) FROM kunci.doors d WHERE d.controller_id = c.id), '{}') "
        "FROM kunci.controllers c ORDER BY c.name")).all()
    return [ControllerRow(r[0], r[1], r[2], r[3], r[4], int(r[5]), int(r[6]), int(r[7]), int(r[8]), tuple(r[9]))
            for r in rows]


def recent_events(conn: Connection, limit: int, rooms: Any = None) -> list[EventRow]:
    where = ""
    if rooms is not None:
        # events of a door in those rooms, and a controller's door-less events (start, admin) when it drives one
        where = ("WHERE EXISTS (SELECT 1 FROM kunci.doors d WHERE d.controller_id = e.controller_id AND "
                 f"{_IN_ROOMS} AND (e.door IS NULL OR e.door = '' OR e.door = d.name))")
    rows = conn.execute(text(
        "SELECT c.name, e.seq, e.time, e.type, e.reason, e.method, e.user_code, e.door, e.actor, e.score, e.detail "
        f"FROM kunci.events e JOIN kunci.controllers c ON c.id = e.controller_id {where} "
        "ORDER BY e.time DESC, c.name, e.seq DESC LIMIT :limit"), {"limit": int(limit), **_rooms_param(rooms)}).all()
    return [EventRow(*r) for r in rows]


def staff_row(conn: Connection, username: str) -> tuple[StaffRow, str] | None:
    """The staff row of ``username`` and its argon2id hash, or None."""
    row = conn.execute(text("SELECT id, username, role, rooms, active, password_hash FROM kunci.staff "
                            "WHERE username = :u"), {"u": username}).first()
    if row is None:
        return None
    return StaffRow(row[0], row[1], row[2], tuple(row[3]) if row[3] is not None else None, bool(row[4])), row[5]
