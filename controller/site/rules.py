"""The site's access rules as operations of :class:`controller.site.service.SiteService`: groups and the doors
they grant, schedules, holidays, door modes. Each method is one site write (:meth:`SiteService._write`: the
advisory lock, the feed rows of every controller whose view changed, NOTIFY); bad input changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextlib import AbstractContextManager
from datetime import date

from sqlalchemy import text
from sqlalchemy.engine import Connection

from controller.errors import InvalidInput, NotFound, PolicyRefused
from controller.i18n import T
from controller.site import feed as feeds
from controller.store.validation import check_mode, validate_label

logger = logging.getLogger(__name__)


class RulesOps:
    """Groups, schedules, holidays and door modes (mixed into :class:`~controller.site.service.SiteService`)."""

    def _write(self) -> AbstractContextManager[feeds.Feed]:  # pragma: no cover - SiteService's
        raise NotImplementedError

    def _group_id(self, conn: Connection, group: str | None) -> int | None:  # pragma: no cover - SiteService's
        raise NotImplementedError

    def _door_ids(self, conn: Connection, door_ids: Iterable[int]) -> list[int]:
        ids = sorted({int(d) for d in door_ids})
        known = set(conn.execute(text("SELECT id FROM kunci.doors WHERE id = ANY(:ids)"), {"ids": ids}).scalars())
        unknown = [d for d in ids if d not in known]
        if unknown:
            raise NotFound(T("no door with id {ids}", ids=", ".join(map(str, unknown))))
        return ids

    def _schedule_id(self, conn: Connection, schedule: str | None) -> int | None:
        if schedule is None or schedule == "":
            return None
        sid = conn.execute(text("SELECT id FROM kunci.schedules WHERE name = :n"), {"n": schedule}).scalar()
        if sid is None:
            raise NotFound(T("no schedule {name}", name=schedule))
        return int(sid)

    def add_group(self, name: str, doors: Iterable[int], schedule: str | None = None, *, actor: str,
                  required_mode: str | None = None, two_person: bool = False) -> None:
        """A new group granting the doors with ids ``doors`` (on any controllers)."""
        name = validate_label(name, "group")
        check_mode(required_mode)
        with self._write() as feed:
            conn = feed.conn
            if conn.execute(text("SELECT 1 FROM kunci.groups WHERE name = :n"), {"n": name}).first():
                raise InvalidInput(T("a group {name} exists already", name=name))
            ids = self._door_ids(conn, doors)
            gid = conn.execute(text("INSERT INTO kunci.groups (name, schedule_id, required_mode, two_person) "
                                    "VALUES (:n, :s, :m, :t) RETURNING id"),
                               {"n": name, "s": self._schedule_id(conn, schedule), "m": required_mode,
                                "t": bool(two_person)}).scalar_one()
            for door in ids:
                conn.execute(text("INSERT INTO kunci.group_doors VALUES (:g, :d)"), {"g": gid, "d": door})
            feeds.regroup(feed, gid, {})
        logger.info("site: %s added group %s", actor, name)

    def set_group_doors(self, name: str, door_ids: Iterable[int], *, actor: str) -> None:
        """The group ``name`` grants exactly ``door_ids`` from now on."""
        with self._write() as feed:
            conn = feed.conn
            gid = self._group_id(conn, name)
            ids = self._door_ids(conn, door_ids)
            before = feeds.group_reach(conn, gid)
            conn.execute(text("DELETE FROM kunci.group_doors WHERE group_id = :g"), {"g": gid})
            for door in ids:
                conn.execute(text("INSERT INTO kunci.group_doors VALUES (:g, :d)"), {"g": gid, "d": door})
            feeds.regroup(feed, gid, before)
        logger.info("site: %s set the doors of group %s", actor, name)

    def set_group_schedule(self, name: str, schedule: str | None, *, actor: str) -> None:
        with self._write() as feed:
            gid = self._group_id(feed.conn, name)
            feed.conn.execute(text("UPDATE kunci.groups SET schedule_id = :s WHERE id = :g"),
                              {"s": self._schedule_id(feed.conn, schedule), "g": gid})
            feeds.regroup(feed, gid, feeds.group_reach(feed.conn, gid), changed=True)
        logger.info("site: %s set the schedule of group %s", actor, name)

    def add_schedule(self, name: str, windows: Iterable[tuple[int, int, int]], allow_on_holidays: bool = False,
                     *, actor: str) -> None:
        """A schedule: ``windows`` of ``(weekday 0=Monday..6, start_minute, end_minute)``; sent to every controller."""
        name = validate_label(name, "schedule")
        rows = [tuple(int(v) for v in w) for w in windows]
        for weekday, start, end in rows:
            if not (0 <= weekday <= 6 and 0 <= start < end <= 1440):
                raise InvalidInput(T("a schedule window is weekday 0-6, start minute < end minute, within 0..1440"))
        with self._write() as feed:
            if feed.conn.execute(text("SELECT 1 FROM kunci.schedules WHERE name = :n"), {"n": name}).first():
                raise InvalidInput(T("a schedule {name} exists already", name=name))
            sid = feed.conn.execute(text("INSERT INTO kunci.schedules (name, allow_on_holidays) VALUES (:n, :a) "
                                         "RETURNING id"), {"n": name, "a": bool(allow_on_holidays)}).scalar_one()
            for weekday, start, end in rows:
                feed.conn.execute(text("INSERT INTO kunci.schedule_windows VALUES (:s, :w, :a, :b)"),
                                  {"s": sid, "w": weekday, "a": start, "b": end})
            key, payload = feeds.schedule_payload(feed.conn, sid)
            feed.emit_all("schedule", key, payload)
        logger.info("site: %s added schedule %s", actor, name)

    def add_holiday(self, day: date, name: str, *, actor: str) -> None:
        """A holiday (its name stays at the site); sent to every controller."""
        if not isinstance(day, date):
            raise InvalidInput(T("a holiday is a date (YYYY-MM-DD)"))
        label = validate_label(name, "holiday")
        with self._write() as feed:
            feed.conn.execute(text("INSERT INTO kunci.holidays (day, name) VALUES (:d, :n) "
                                   "ON CONFLICT (day) DO UPDATE SET name = EXCLUDED.name"), {"d": day, "n": label})
            feed.emit_all("holiday", day.isoformat(), {"day": day.isoformat(), "name": ""})
        logger.info("site: %s added holiday %s", actor, day)

    def set_door_mode(self, door_id: int, mode: str | None, *, actor: str) -> None:
        """The mode door ``door_id`` runs in, set at the site (None: its controller's configured mode)."""
        check_mode(mode)
        with self._write() as feed:
            row = feed.conn.execute(text("UPDATE kunci.doors SET mode = :m WHERE id = :d "
                                         "RETURNING controller_id, name"), {"m": mode, "d": int(door_id)}).first()
            if row is None:
                raise NotFound(T("no door with id {ids}", ids=door_id))
            feed.emit(int(row[0]), "door", row[1], {"name": row[1], "mode": mode})
        logger.info("site: %s set door %s to %s", actor, door_id, mode)

    def delete_group(self, name: str, *, actor: str) -> None:
        """Delete a group nobody belongs to (move its people first); every controller it reached is told."""
        with self._write() as feed:
            gid = self._group_id(feed.conn, name)
            used = feed.conn.execute(text("SELECT count(*) FROM kunci.people WHERE group_id = :g AND "
                                          "status <> 'revoked'"), {"g": gid}).scalar_one()
            if used:
                raise PolicyRefused(T("group {name} still has {n} people: move them to another group first",
                                      name=name, n=used))
            before = feeds.group_reach(feed.conn, gid)
            feed.conn.execute(text("UPDATE kunci.people SET group_id = NULL WHERE group_id = :g"), {"g": gid})
            feed.conn.execute(text("DELETE FROM kunci.groups WHERE id = :g"), {"g": gid})
            for cid in sorted(before):
                feed.emit(cid, "group.remove", name, {})
        logger.info("site: %s deleted group %s", actor, name)

    def delete_schedule(self, name: str, *, actor: str) -> None:
        """Delete a schedule no group uses; every controller is told."""
        with self._write() as feed:
            sid = self._schedule_id(feed.conn, name)
            if feed.conn.execute(text("SELECT 1 FROM kunci.groups WHERE schedule_id = :s"), {"s": sid}).first():
                raise PolicyRefused(T("schedule {name} is used by a group: give the group another schedule first",
                                      name=name))
            feed.conn.execute(text("DELETE FROM kunci.schedules WHERE id = :s"), {"s": sid})
            feed.emit_all("schedule.remove", name, {})
        logger.info("site: %s deleted schedule %s", actor, name)

    def remove_holiday(self, day: date, *, actor: str) -> None:
        """Remove a holiday; every controller is told."""
        with self._write() as feed:
            gone = feed.conn.execute(text("DELETE FROM kunci.holidays WHERE day = :d RETURNING day"),
                                     {"d": day}).first()
            if gone is None:
                raise NotFound(T("no holiday on {day}", day=day))
            feed.emit_all("holiday.remove", day.isoformat(), {})
        logger.info("site: %s removed holiday %s", actor, day)
