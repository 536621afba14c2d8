"""The feed: the only way changes reach controllers (docs/site.md "The feed and revisions").

A site write runs in one transaction that first takes ``pg_advisory_xact_lock(16016)`` (writers serialised, so
revisions commit in order), changes the tables, then for each controller whose view changed inserts feed rows
numbered from ``kunci.revisions`` and finally NOTIFYs ``kunci_feed`` with ``"<controller_id>:<revision>"`` (sent
by PostgreSQL at commit). :class:`Feed` collects the rows of one write; the functions below compute what a
controller sees: payloads carry codes, door and group names, dates and the PIN digest, never a person's name.

What a controller sees: every schedule and holiday; the groups granting at least one of its doors (with only
its door names); the people in those groups; its own doors' modes.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from controller.site.schema import FEED_CHANNEL, WRITE_LOCK


class Feed:
    """The feed rows of one site write, on its connection; :meth:`notify` once the tables are changed."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.newest: dict[int, int] = {}
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITE_LOCK})

    def emit(self, controller_id: int, op: str, key: str, payload: dict[str, Any]) -> int:
        """Append one row for ``controller_id``; its revision."""
        revision = self.conn.execute(text(
            "INSERT INTO kunci.feed (revision, controller_id, op, key, payload) "
            "VALUES (nextval('kunci.revisions'), :c, :op, :key, CAST(:payload AS jsonb)) RETURNING revision"),
            {"c": controller_id, "op": op, "key": key, "payload": json.dumps(payload, sort_keys=True)}).scalar_one()
        self.newest[controller_id] = int(revision)
        return int(revision)

    def emit_many(self, controller_ids: Any, op: str, key: str, payload: dict[str, Any]) -> None:
        """The same row for each of ``controller_ids``, in one statement (one round trip for a revocation that
        reaches 50 controllers, not 50: docs/performance.md W13); revisions follow the controllers' ids."""
        ids = sorted(int(c) for c in controller_ids)
        if not ids:
            return
        rows = self.conn.execute(text(
            "INSERT INTO kunci.feed (revision, controller_id, op, key, payload) "
            "SELECT nextval('kunci.revisions'), c, :op, :key, CAST(:payload AS jsonb) "
            "FROM unnest(CAST(:ids AS int[])) WITH ORDINALITY AS t(c, n) ORDER BY n "
            "RETURNING controller_id, revision"),
            {"ids": ids, "op": op, "key": key, "payload": json.dumps(payload, sort_keys=True)}).all()
        for cid, revision in rows:
            self.newest[int(cid)] = max(int(revision), self.newest.get(int(cid), 0))

    def emit_all(self, op: str, key: str, payload: dict[str, Any]) -> None:
        """Append one row for every controller (schedules and holidays)."""
        self.emit_many(all_controllers(self.conn), op, key, payload)

    def notify(self) -> None:
        """NOTIFY each controller that got rows of its newest revision (delivered at commit), in one statement."""
        if self.newest:
            self.conn.execute(text("SELECT pg_notify(:ch, p) FROM unnest(CAST(:ps AS text[])) AS t(p)"),
                              {"ch": FEED_CHANNEL, "ps": [f"{c}:{r}" for c, r in sorted(self.newest.items())]})


def all_controllers(conn: Connection) -> list[int]:
    return list(conn.execute(text("SELECT id FROM kunci.controllers ORDER BY id")).scalars())


def group_reach(conn: Connection, group_id: int | None) -> dict[int, list[str]]:
    """The controllers a group grants a door of, each with those door names (sorted)."""
    if group_id is None:
        return {}
    reach: dict[int, list[str]] = {}
    for cid, door in conn.execute(text(
            "SELECT d.controller_id, d.name FROM kunci.group_doors gd JOIN kunci.doors d ON d.id = gd.door_id "
            "WHERE gd.group_id = :g ORDER BY d.controller_id, d.name"), {"g": group_id}):
        reach.setdefault(int(cid), []).append(door)
    return reach


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def person_payload(conn: Connection, person_id: int) -> tuple[str, dict[str, Any]]:
    """``(code, payload)`` of a person as a controller gets it (no name)."""
    row = conn.execute(text(
        "SELECT p.code, p.status, p.kind, p.valid_from, p.valid_until, g.name, pd.digest FROM kunci.people p "
        "LEFT JOIN kunci.groups g ON g.id = p.group_id LEFT JOIN kunci.pin_digests pd ON pd.person_id = p.id "
        "WHERE p.id = :id"), {"id": person_id}).one()
    return row[0], {"code": row[0], "status": row[1], "kind": row[2], "valid_from": _iso(row[3]),
                    "valid_until": _iso(row[4]), "group": row[5],
                    "pin_digest": bytes(row[6]).hex() if row[6] is not None else None}


def group_payload(conn: Connection, group_id: int, doors: list[str]) -> tuple[str, dict[str, Any]]:
    """``(name, payload)`` of a group for a controller whose doors of it are ``doors``."""
    row = conn.execute(text(
        "SELECT g.name, s.name, g.required_mode, g.two_person FROM kunci.groups g "
        "LEFT JOIN kunci.schedules s ON s.id = g.schedule_id WHERE g.id = :g"), {"g": group_id}).one()
    return row[0], {"name": row[0], "schedule": row[1], "required_mode": row[2], "two_person": bool(row[3]),
                    "doors": list(doors)}


def schedule_payload(conn: Connection, schedule_id: int) -> tuple[str, dict[str, Any]]:
    name, allow = conn.execute(text("SELECT name, allow_on_holidays FROM kunci.schedules WHERE id = :s"),
                               {"s": schedule_id}).one()
    windows = [list(w) for w in conn.execute(text(
        "SELECT weekday, start_minute, end_minute FROM kunci.schedule_windows WHERE schedule_id = :s "
        "ORDER BY weekday, start_minute, end_minute"), {"s": schedule_id})]
    return name, {"name": name, "allow_on_holidays": bool(allow), "windows": windows}


def people_of_group(conn: Connection, group_id: int) -> list[int]:
    return list(conn.execute(text("SELECT id FROM kunci.people WHERE group_id = :g ORDER BY code"),
                             {"g": group_id}).scalars())


def send_person(feed: Feed, person_id: int, controllers: Any) -> None:
    code, payload = person_payload(feed.conn, person_id)
    feed.emit_many(controllers, "person", code, payload)


def remove_person(feed: Feed, person_id: int, controllers: Any) -> None:
    code = feed.conn.execute(text("SELECT code FROM kunci.people WHERE id = :id"), {"id": person_id}).scalar_one()
    feed.emit_many(controllers, "person.remove", code, {})


def regroup(feed: Feed, group_id: int, before: dict[int, list[str]], *, changed: bool = False) -> None:
    """After a group's doors (or settings) changed from reaching ``before``: tell every controller concerned.

    Controllers it no longer reaches lose its people, then the group; those it reaches get the group (its doors
    there) when its doors there differ or ``changed`` (its settings changed), and the ones it newly reaches its
    people too (group first: a person names their group).
    """
    after = group_reach(feed.conn, group_id)
    people = people_of_group(feed.conn, group_id)
    name = feed.conn.execute(text("SELECT name FROM kunci.groups WHERE id = :g"), {"g": group_id}).scalar_one()
    for cid in sorted(set(before) - set(after)):
        for pid in people:
            remove_person(feed, pid, [cid])
        feed.emit(cid, "group.remove", name, {})
    for cid, doors in sorted(after.items()):
        if not changed and before.get(cid) == doors:
            continue
        key, payload = group_payload(feed.conn, group_id, doors)
        feed.emit(cid, "group", key, payload)
        if cid not in before:
            for pid in people:
                send_person(feed, pid, [cid])


def snapshot(feed: Feed, controller_id: int) -> None:
    """Everything controller ``controller_id`` sees, as feed rows (a new controller starts from these):
    holidays, schedules, its doors' modes, the groups reaching it, their people."""
    conn = feed.conn
    for day in conn.execute(text("SELECT day FROM kunci.holidays ORDER BY day")).scalars():
        feed.emit(controller_id, "holiday", day.isoformat(), {"day": day.isoformat(), "name": ""})
    for sid in conn.execute(text("SELECT id FROM kunci.schedules ORDER BY name")).scalars().all():
        key, payload = schedule_payload(conn, sid)
        feed.emit(controller_id, "schedule", key, payload)
    for name, mode in conn.execute(text("SELECT name, mode FROM kunci.doors WHERE controller_id = :c "
                                        "AND mode IS NOT NULL ORDER BY name"), {"c": controller_id}).all():
        feed.emit(controller_id, "door", name, {"name": name, "mode": mode})
    groups = conn.execute(text("SELECT DISTINCT gd.group_id FROM kunci.group_doors gd JOIN kunci.doors d "
                               "ON d.id = gd.door_id WHERE d.controller_id = :c ORDER BY 1"),
                          {"c": controller_id}).scalars().all()
    for gid in groups:
        key, payload = group_payload(conn, gid, group_reach(conn, gid)[controller_id])
        feed.emit(controller_id, "group", key, payload)
    for gid in groups:
        for pid in people_of_group(conn, gid):
            send_person(feed, pid, [controller_id])
