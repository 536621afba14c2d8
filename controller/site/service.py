"""The site service: every read and change of the site database (docs/site.md), used by ``kunci site`` and the
site web. Each method is one transaction; each change takes the feed's advisory lock first and writes feed rows
for every controller whose view changed, then NOTIFYs them (:mod:`controller.site.feed`).

``SiteService(conn_factory, pepper)``: ``conn_factory()`` is a context manager giving a SQLAlchemy connection
inside a transaction that commits on success (``engine.begin``); ``pepper`` the site's PIN pepper (32 bytes;
needed to issue PINs). :meth:`SiteService.for_site` builds one from a SITE DIR. Bad input raises
:class:`InvalidInput` / :class:`NotFound` / :class:`PolicyRefused` with a translatable text and changes nothing.
``actor`` names who asked (a staff username or ``cli``); it goes to the log, never into the feed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager, contextmanager
from datetime import date
from pathlib import Path
from typing import Any, Iterator

from sqlalchemy import text
from sqlalchemy.engine import Connection

from controller.errors import InvalidInput, NotFound, PolicyRefused
from controller.i18n import T
from controller.site import feed as feeds
from controller.site import records
from controller.site.records import (
    ControllerRow,
    DoorRow,
    EventRow,
    GroupRow,
    HolidayRow,
    PersonRow,
    ScheduleRow,
    StaffRow,
)
from controller.site.rules import RulesOps
from controller.site.schema import STAFF_ROLES
from controller.site.staffauth import StaffAuth
from controller.store.pins import DigitSource, generate_pin, pin_digest
from controller.store.validation import SITE_CODE_FLOOR, check_dates, validate_code, validate_label, validate_name

logger = logging.getLogger(__name__)

ConnFactory = Callable[[], AbstractContextManager[Connection]]
#: Draws of a PIN whose digest is taken before giving up (only reachable with a broken random source).
MAX_PIN_DRAWS = 1000


class SiteService(RulesOps):
    """The site's operations over ``conn_factory`` (see the module docstring); the access rules (groups,
    schedules, holidays, door modes) are :class:`~controller.site.rules.RulesOps`."""

    def __init__(self, conn_factory: ConnFactory, pepper: bytes | None = None, *, pin_length: int = 6,
                 rng: DigitSource | None = None, hasher: Any = None) -> None:
        self._begin = conn_factory
        self._pepper = pepper
        self.pin_length = pin_length
        self._rng = rng
        self._auth = StaffAuth(hasher)

    @classmethod
    def for_site(cls, directory: Path, **kwargs: Any) -> SiteService:
        """The service of the site in SITE DIR ``directory`` (its database and pepper)."""
        from controller.site.siteconf import load_site

        site = load_site(Path(directory))
        engine = site.engine()
        return cls(engine.begin, site.pepper(), **kwargs)

    @contextmanager
    def _write(self) -> Iterator[feeds.Feed]:
        """One site write: transaction, advisory lock, feed rows, NOTIFY at the end."""
        with self._begin() as conn:
            feed = feeds.Feed(conn)
            yield feed
            feed.notify()

    # -- people -------------------------------------------------------------------------------------------

    def _draw_pin(self, conn: Connection) -> tuple[str, bytes]:
        if self._pepper is None:
            raise PolicyRefused(T("this site service has no pepper: it cannot issue PINs"))
        for _ in range(MAX_PIN_DRAWS):
            pin = generate_pin(self.pin_length, self._rng)
            digest = pin_digest(self._pepper, pin)
            if conn.execute(text("SELECT 1 FROM kunci.pin_digests WHERE digest = :d"), {"d": digest}).first() is None:
                return pin, digest
        raise PolicyRefused(T("no free PIN found: the random source is broken"))

    def _group_id(self, conn: Connection, group: str | None) -> int | None:
        if group is None or group == "":
            return None
        gid = conn.execute(text("SELECT id FROM kunci.groups WHERE name = :n"), {"n": group}).scalar()
        if gid is None:
            raise NotFound(T("no group {name}", name=group))
        return int(gid)

    def _person(self, conn: Connection, code: str) -> tuple[int, str, int | None]:
        code = validate_code(code)
        row = conn.execute(text("SELECT id, status, group_id FROM kunci.people WHERE code = :c FOR UPDATE"),
                           {"c": code}).first()
        if row is None:
            raise NotFound(T("no person {code}", code=code))
        return int(row[0]), row[1], row[2]

    def add_person(self, name: str | None, group: str | None, valid_from: date | None = None,
                   valid_until: date | None = None, *, actor: str) -> tuple[str, str]:
        """Add a person with a new PIN; ``(code, pin)`` (the PIN is shown once, never stored)."""
        display = validate_name(name) or ""
        check_dates(valid_from, valid_until, None, date.today())
        with self._write() as feed:
            conn = feed.conn
            gid = self._group_id(conn, group)
            last = conn.execute(text("SELECT max(substring(code from 2)::bigint) FROM kunci.people")).scalar() or 0
            code = f"U{max(int(last), SITE_CODE_FLOOR) + 1}"  # a range of its own: never a controller's code
            pid = conn.execute(text(
                "INSERT INTO kunci.people (code, display_name, valid_from, valid_until, group_id) "
                "VALUES (:c, :n, :f, :u, :g) RETURNING id"),
                {"c": code, "n": display, "f": valid_from, "u": valid_until, "g": gid}).scalar_one()
            pin, digest = self._draw_pin(conn)
            conn.execute(text("INSERT INTO kunci.pin_digests (person_id, digest) VALUES (:p, :d)"),
                         {"p": pid, "d": digest})
            feeds.send_person(feed, pid, feeds.group_reach(conn, gid))
        logger.info("site: %s added person %s", actor, code)
        return code, pin

    def _set_status(self, code: str, wanted: str, allowed_from: tuple[str, ...], actor: str) -> None:
        with self._write() as feed:
            pid, status, gid = self._person(feed.conn, code)
            if status not in allowed_from:
                raise PolicyRefused(T("{code} is {status}: it cannot become {wanted}", code=code.upper(),
                                      status=status, wanted=wanted))
            feed.conn.execute(text("UPDATE kunci.people SET status = :s, updated_at = now() WHERE id = :p"),
                              {"s": wanted, "p": pid})
            if wanted == "revoked":
                feed.conn.execute(text("DELETE FROM kunci.pin_digests WHERE person_id = :p"), {"p": pid})
            feeds.send_person(feed, pid, feeds.group_reach(feed.conn, gid))
        logger.info("site: %s set %s %s", actor, code, wanted)

    def revoke(self, code: str, *, actor: str) -> None:
        """Revoke for good: the PIN digest is deleted and every controller the person reaches is told."""
        self._set_status(code, "revoked", ("active", "suspended"), actor)

    def suspend(self, code: str, *, actor: str) -> None:
        self._set_status(code, "suspended", ("active",), actor)

    def resume(self, code: str, *, actor: str) -> None:
        self._set_status(code, "active", ("suspended",), actor)

    def reset_pin(self, code: str, *, actor: str) -> str:
        """A new PIN for ``code`` (returned once); the old one stops working everywhere."""
        with self._write() as feed:
            pid, status, gid = self._person(feed.conn, code)
            if status == "revoked":
                raise PolicyRefused(T("{code} is revoked: nothing more can be done", code=code.upper()))
            pin, digest = self._draw_pin(feed.conn)
            feed.conn.execute(text(
                "INSERT INTO kunci.pin_digests (person_id, digest) VALUES (:p, :d) "
                "ON CONFLICT (person_id) DO UPDATE SET digest = EXCLUDED.digest"), {"p": pid, "d": digest})
            feeds.send_person(feed, pid, feeds.group_reach(feed.conn, gid))
        logger.info("site: %s reset the PIN of %s", actor, code)
        return pin

    def set_group(self, code: str, group: str | None, *, actor: str) -> None:
        """Move a person to ``group`` (None: no group, so no controller): removed where they no longer reach."""
        with self._write() as feed:
            pid, status, old = self._person(feed.conn, code)
            new = self._group_id(feed.conn, group)
            before = feeds.group_reach(feed.conn, old)
            feed.conn.execute(text("UPDATE kunci.people SET group_id = :g, updated_at = now() WHERE id = :p"),
                              {"g": new, "p": pid})
            after = feeds.group_reach(feed.conn, new)
            feeds.remove_person(feed, pid, set(before) - set(after))
            feeds.send_person(feed, pid, after)
        logger.info("site: %s moved %s to group %s", actor, code, group)

    # -- controllers ----------------------------------------------------------------------------------------

    def add_controller(self, name: str, doors: list[tuple[str, str]], *, actor: str) -> tuple[int, str, str]:
        """A new controller with its role and ``doors`` as ``(door name, room name)`` (rooms made as needed),
        then its snapshot as feed rows. Returns ``(controller_id, role, password)``."""
        from controller.site import roles

        roles.check_name(name)
        if not doors:
            raise InvalidInput(T("a controller needs at least one door (--door NAME[@ROOM])"))
        names = [roles.check_name(door) for door, _ in doors]
        if len(set(names)) != len(names):
            raise InvalidInput(T("door names of one controller must be different"))
        with self._write() as feed:
            conn = feed.conn
            if conn.execute(text("SELECT 1 FROM kunci.controllers WHERE name = :n"), {"n": name}).first():
                raise InvalidInput(T("a controller {name} exists already", name=name))
            role, password = roles.create_controller_role(conn, name)
            cid = conn.execute(text("INSERT INTO kunci.controllers (name, role, joined_at) VALUES (:n, :r, now()) "
                                    "RETURNING id"), {"n": name, "r": role}).scalar_one()
            for door, room in doors:
                room = validate_label(room, "room")
                rid = conn.execute(text("INSERT INTO kunci.rooms (name) VALUES (:n) ON CONFLICT (name) "
                                        "DO UPDATE SET name = EXCLUDED.name RETURNING id"), {"n": room}).scalar_one()
                conn.execute(text("INSERT INTO kunci.doors (controller_id, name, room_id) VALUES (:c, :d, :r)"),
                             {"c": cid, "d": door, "r": rid})
            feeds.snapshot(feed, cid)
        logger.info("site: %s added controller %s", actor, name)
        return int(cid), role, password

    # -- staff logins of the site page --------------------------------------------------------------------

    def add_staff(self, username: str, password: str, role: str, rooms: Iterable[str | int] | None) -> None:
        """A staff login (argon2id); ``rooms`` room names or ids it manages (None: every room)."""
        if role not in STAFF_ROLES:
            raise InvalidInput(T("the role must be one of: {roles}", roles=", ".join(STAFF_ROLES)))
        password_hash = self._auth.hash_new(password, username)
        with self._begin() as conn:
            room_ids = None if rooms is None else self._room_ids(conn, rooms)
            if conn.execute(text("SELECT 1 FROM kunci.staff WHERE username = :u"), {"u": username}).first():
                raise InvalidInput(T("a staff login {name} exists already", name=username))
            conn.execute(text("INSERT INTO kunci.staff (username, password_hash, role, rooms) VALUES (:u, :h, :r, :m)"),
                         {"u": username, "h": password_hash, "r": role, "m": room_ids})

    def _room_ids(self, conn: Connection, rooms: Iterable[str | int]) -> list[int]:
        ids = []
        for room in rooms:
            rid = conn.execute(text("SELECT id FROM kunci.rooms WHERE name = :n OR CAST(id AS text) = :n"),
                               {"n": str(room)}).scalar()
            if rid is None:
                raise NotFound(T("no room {name}", name=room))
            ids.append(int(rid))
        return sorted(set(ids))

    def verify_staff(self, username: str, password: str) -> StaffRow | None:
        """The active staff row if the password is right, else None (the same work for an unknown login)."""
        with self._begin() as conn:
            found = records.staff_row(conn, username)
        return self._auth.check(found, password)

    def get_staff(self, username: str) -> StaffRow | None:
        with self._begin() as conn:
            found = records.staff_row(conn, username)
        return found[0] if found else None

    # -- lists ----------------------------------------------------------------------------------------------

    def list_people(self, rooms: Iterable[int] | None = None) -> list[PersonRow]:
        with self._begin() as conn:
            return records.list_people(conn, rooms)

    def list_groups(self) -> list[GroupRow]:
        with self._begin() as conn:
            return records.list_groups(conn)

    def list_schedules(self) -> list[ScheduleRow]:
        """Every schedule with its windows ``(weekday 0=Monday, start_minute, end_minute)`` and the groups using it."""
        with self._begin() as conn:
            return records.list_schedules(conn)

    def list_holidays(self) -> list[HolidayRow]:
        with self._begin() as conn:
            return records.list_holidays(conn)

    def list_doors(self, rooms: Iterable[int] | None = None) -> list[DoorRow]:
        with self._begin() as conn:
            return records.list_doors(conn, rooms)

    def controllers(self) -> list[ControllerRow]:
        with self._begin() as conn:
            return records.controllers(conn)

    def recent_events(self, limit: int, rooms: Iterable[int] | None = None) -> list[EventRow]:
        with self._begin() as conn:
            return records.recent_events(conn, limit, rooms)
