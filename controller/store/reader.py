"""Read-only queries for the CLI's short read commands, on the standard ``sqlite3`` module.

Why this exists: a short command such as ``kunci log`` or ``kunci user list`` spent 0.5-0.8 s of its
0.6-0.9 s importing SQLAlchemy, its ORM and the models (``python -X importtime``; the query itself
took 30-50 ms on a demo-sized directory), and at 10,000 people ``user list`` spent another 1.7 s
building ORM objects. This module imports nothing heavier than ``sqlite3``, so those commands start
in about the interpreter's own time (docs/performance.md, W10).

It answers the same questions as :mod:`controller.store.eventlog` (newest events matching the
filters, with the same ``since`` id bound) and :func:`controller.store.people.list_users` (people in
id order, code prefix or name substring), with the same SQL conditions; ``tests/controller/test_reader.py``
checks both against those modules. Only a SQLite database (the default ``DATA/kunci.db``) is read
here: :func:`connect` returns ``None`` for another ``store.url`` and the caller uses the SQLAlchemy
path. Anything unexpected while opening (a missing, empty or foreign file) is handed to
:func:`controller.store.db.open_database`, which raises the usual error.

Connections are plain read-write handles on which only ``BEGIN`` (deferred) and ``SELECT`` run, so a
reader never takes the write lock and never blocks the daemon (WAL).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.core.vocabulary import EventType
from controller.errors import InvalidInput, StoreError
from controller.i18n import T
from controller.paths import DataDir

#: ``result`` filter values and the event type each one selects (as :data:`controller.store.eventlog.RESULT_TYPES`).
RESULT_TYPES = {"granted": EventType.ACCESS_GRANTED, "denied": EventType.ACCESS_DENIED}
#: Most ``time`` index entries the ``since`` id bound reads (as :data:`controller.store.eventlog.SINCE_BOUND_SCAN`).
SINCE_BOUND_SCAN = 20_000
#: Longest name search term (as :data:`controller.store.validation.NAME_MAX_LENGTH`).
NAME_MAX_LENGTH = 120
#: Columns of an event row, in this order.
EVENT_COLUMNS = ("id", "seq", "time", "type", "reason", "method", "user_code", "door", "actor")
#: LIKE escape character (SQLAlchemy's ``autoescape`` uses the same).
_ESCAPE = "/"


def sqlite_path(datadir: DataDir, store_url: str) -> Path | None:
    """The SQLite file of ``store_url`` (empty = ``DATA/kunci.db``), or None for anything else."""
    url = store_url or datadir.default_db_url
    prefix = "sqlite:///"
    if not url.startswith(prefix) or "?" in url:
        return None
    database = url[len(prefix):]
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


@contextmanager
def connect(datadir: DataDir, store_url: str = "", *, busy_timeout_ms: int = 5000, readonly: bool = False
            ) -> Iterator[sqlite3.Connection | None]:
    """A connection inside one read transaction (one consistent snapshot), or None if not SQLite.

    ``readonly``: open the file with ``mode=ro`` (``kunci audit verify``: the connection cannot write
    even by mistake). Refusals (no database, a zero-length file, a file that is not a database) come
    from :func:`controller.store.db.open_database` with its messages.
    """
    path = sqlite_path(datadir, store_url)
    if path is None:
        yield None
        return
    conn = None
    try:
        if path.stat().st_size == 0:
            raise OSError("empty")
        target, uri = (f"{path.resolve().as_uri()}?mode=ro", True) if readonly else (str(path), False)
        conn = sqlite3.connect(target, timeout=busy_timeout_ms / 1000.0, isolation_level=None, uri=uri)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except (OSError, sqlite3.Error) as exc:
        if conn is not None:
            conn.close()
        _refuse(datadir, store_url, busy_timeout_ms, exc)
    assert conn is not None
    try:
        yield conn
    finally:
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            pass
        conn.close()


def _refuse(datadir: DataDir, store_url: str, busy_timeout_ms: int, exc: BaseException) -> None:
    """Let the SQLAlchemy opener name the problem; if it opens fine after all, report ``exc``."""
    from controller.store import db

    engine = db.open_database(datadir, store_url, busy_timeout_ms=busy_timeout_ms)
    engine.dispose()
    raise StoreError(T("cannot read the database: {reason}", reason=exc)) from exc


def _like_escape(term: str) -> str:
    return term.replace(_ESCAPE, _ESCAPE * 2).replace("%", _ESCAPE + "%").replace("_", _ESCAPE + "_")


@dataclass(frozen=True)
class EventQuery:
    """Filters of :func:`newest_events`, as text (times are ISO UTC strings as stored); None = any."""

    since: str | None = None
    until: str | None = None
    user: str | None = None
    result: str | None = None
    reason: str | None = None
    method: str | None = None
    type: str | None = None
    door: str | None = None


def _event_where(q: EventQuery) -> tuple[list[str], list[Any]]:
    """SQL conditions and parameters of ``q`` (the same as :func:`controller.store.eventlog._apply`)."""
    where: list[str] = []
    params: list[Any] = []
    if q.since is not None:
        where.append("time >= ?")
        where.append(
            "id >= (SELECT CASE WHEN count(*) < ? THEN min(w.id) ELSE 0 END "
            "FROM (SELECT id FROM events WHERE time >= ? LIMIT ?) AS w)"
        )
        params += [q.since, SINCE_BOUND_SCAN, q.since, SINCE_BOUND_SCAN]
    if q.until is not None:
        where.append("time < ?")
        params.append(q.until)
    if q.user is not None:
        where.append("user_code = ?")
        params.append(q.user)
    if q.result is not None:
        if q.result not in RESULT_TYPES:
            raise InvalidInput(T("result must be 'granted' or 'denied'"))
        where.append("type = ?")
        params.append(RESULT_TYPES[q.result])
    if q.reason is not None:
        where.append("reason = ?")
        params.append(q.reason)
    if q.method is not None:
        where.append("method = ?")
        params.append(q.method)
    if q.type is not None:
        if q.type.endswith("*"):
            prefix = q.type[:-1]
            if not prefix:
                raise InvalidInput(T("type '*' matches everything; leave the type filter out instead"))
            where.append("type >= ? AND type < ?")
            params += [prefix, prefix[:-1] + chr(ord(prefix[-1]) + 1)]
        else:
            where.append("type = ?")
            params.append(q.type)
    if q.door is not None:
        where.append("door = ?")
        params.append(q.door)
    return where, params


def newest_events(conn: sqlite3.Connection, q: EventQuery, limit: int) -> list[tuple[Any, ...]]:
    """Up to ``limit`` events matching ``q``, newest first, as tuples of :data:`EVENT_COLUMNS`."""
    where, params = _event_where(q)
    sql = f"SELECT {', '.join(EVENT_COLUMNS)} FROM events"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC LIMIT ?"
    return conn.execute(sql, [*params, int(limit)]).fetchall()


#: Columns of a person row from :func:`people`, in this order.
PEOPLE_COLUMNS = ("code", "display_name", "status", "group", "valid_until", "has_pin", "fingers")


def people(conn: sqlite3.Connection, *, search: str | None = None, status: str | None = None,
           statuses: Sequence[str] = (), kind: str | None = None) -> Iterator[tuple[Any, ...]]:
    """Every matching person in id order (as :func:`controller.store.people.list_users`), as tuples of
    :data:`PEOPLE_COLUMNS`. ``statuses``: the allowed values of ``status`` (checked when given).
    ``kind``: only staff or only visitors (``users.kind``), else both."""
    where: list[str] = []
    params: list[Any] = []
    if kind is not None:
        where.append("u.kind = ?")
        params.append(kind)
    if status is not None:
        if statuses and status not in statuses:
            raise InvalidInput(T("the status must be one of: {statuses}", statuses=", ".join(statuses)))
        where.append("u.status = ?")
        params.append(status)
    if search:
        term = search.strip()[:NAME_MAX_LENGTH]
        where.append(f"(u.code LIKE ? || '%' ESCAPE '{_ESCAPE}' "
                     f"OR lower(u.display_name) LIKE '%' || lower(?) || '%' ESCAPE '{_ESCAPE}')")
        params += [_like_escape(term.upper()), _like_escape(term)]
    sql = ("SELECT u.code, u.display_name, u.status, g.name, u.valid_until, "
           "EXISTS (SELECT 1 FROM pin_credentials p WHERE p.user_id = u.id), "
           "(SELECT count(*) FROM finger_credentials f WHERE f.user_id = u.id) "
           "FROM users u LEFT JOIN access_groups g ON g.id = u.group_id")
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY u.id"
    cursor = conn.execute(sql, params)
    while True:
        rows = cursor.fetchmany(1000)
        if not rows:
            return
        yield from rows
