"""The CLI's plain-sqlite3 reads (controller.store.reader) answer exactly what the SQLAlchemy store answers.

Oracles: :func:`controller.store.eventlog.query_events` for the newest events under every filter (times
stepped back, narrow, wide and empty windows, type families), and
:func:`controller.store.people.list_users` + ``user_summary`` for people (statuses, a code prefix, name
substrings with LIKE wildcards that must stay literal, groups, PINs and fingers).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert

from controller.errors import StoreError
from controller.paths import DataDir
from controller.store import db, eventlog, people, reader
from controller.store.models import (
    AccessGroup,
    Event,
    FingerCredential,
    PinCredential,
    User,
)
from controller.timefmt import iso_utc

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NAMES = ["Ana Lima", "ana_b", "Bo 100%", "Céline", None, "x_y", "ANAN"]


@pytest.fixture()
def store(tmp_path: Path):
    datadir = DataDir(tmp_path)
    db.upgrade_database(datadir.default_db_url)
    engine = db.make_engine(datadir.default_db_url)
    rng = random.Random(5)
    with engine.begin() as conn:
        conn.execute(insert(AccessGroup.__table__), [{"id": 1, "name": "staff"}, {"id": 2, "name": "cleaners"}])
        users = []
        for i in range(1, 41):
            users.append({"id": i, "code": f"U{i:04d}" if i != 40 else "U10000", "display_name": NAMES[i % len(NAMES)],
                          "status": rng.choice(["active", "active", "suspended", "revoked"]),
                          "group_id": rng.choice([1, 2, None]),
                          "valid_until": rng.choice([None, date(2027, 3, 1)])})
        conn.execute(insert(User.__table__), users)
        conn.execute(insert(PinCredential.__table__),
                     [{"user_id": i, "digest": bytes([i]) * 32} for i in range(1, 41) if i % 3])
        conn.execute(insert(FingerCredential.__table__),
                     [{"user_id": i, "slot": i, "state": "active"} for i in range(1, 41, 4)]
                     + [{"user_id": 1, "slot": 99, "state": "pending"}])
        events = []
        for i in range(600):
            minutes = i if i % 50 else i - 120  # every 50th event is stamped two hours early
            events.append({"time": iso_utc(T0 + timedelta(minutes=minutes)), "door": "main", "seq": i + 1,
                           "mac": bytes(32),
                           "type": rng.choice(["access.granted", "access.denied", "door.opened", "admin.login",
                                               "admin.user_added"]),
                           "reason": rng.choice([None, "unknown_credential", "expired"]),
                           "method": rng.choice([None, "pin", "finger"]),
                           "user_code": rng.choice(["U0001", "U0002", None]), "actor": rng.choice([None, "cli"])})
        conn.execute(insert(Event.__table__), events)
    yield datadir, engine
    engine.dispose()


@pytest.mark.parametrize("since_min", [None, -500, 0, 100, 598, 1000])
@pytest.mark.parametrize("extra", [{}, {"result": "denied"}, {"user": "U0002"}, {"type": "admin.*"},
                                   {"type": "door.opened", "until": 300}, {"reason": "expired", "method": "pin"}])
@pytest.mark.parametrize("limit", [1, 50, 1000])
def test_newest_events_match_eventlog(store, since_min, extra, limit) -> None:
    datadir, engine = store
    until = T0 + timedelta(minutes=extra["until"]) if "until" in extra else None
    since = T0 + timedelta(minutes=since_min) if since_min is not None else None
    filters = {k: v for k, v in extra.items() if k != "until"}
    with db.session_factory(engine, readonly=True)() as session:
        want = [(e.id, e.seq, e.time, e.type, e.reason, e.method, e.user_code, e.door, e.actor)
                for e in eventlog.query_events(session, since=since, until=until, limit=limit, **filters)]
    query = reader.EventQuery(since=iso_utc(since) if since else None, until=iso_utc(until) if until else None,
                              **filters)
    with reader.connect(datadir) as conn:
        got = reader.newest_events(conn, query, limit)
    assert got == want


@pytest.mark.parametrize("status", [None, "active", "revoked"])
@pytest.mark.parametrize("search", [None, "", "u00", "U001", "ana", "_", "%", "100%", "cél", "U10000"])
def test_people_match_list_users(store, status, search) -> None:
    datadir, engine = store
    with db.session_factory(engine, readonly=True)() as session:
        summaries = [people.user_summary(u, include_name=True)
                     for u in people.list_users(session, search=search, status=status, limit=1000)]
    want = [(s["code"], s["name"], s["status"], s["group"], s["valid_until"], s["has_pin"], len(s["fingers"]))
            for s in summaries]
    with reader.connect(datadir) as conn:
        got = [(code, name, st, group, until, bool(has_pin), fingers)
               for code, name, st, group, until, has_pin, fingers in reader.people(conn, search=search, status=status)]
    assert got == want


def test_refusals_are_the_stores_own(tmp_path: Path) -> None:
    """A missing, empty or foreign database file gets the same error as the SQLAlchemy opener gives."""
    datadir = DataDir(tmp_path)
    with pytest.raises(StoreError, match="kunci init"), reader.connect(datadir):
        pass
    datadir.db_file.write_bytes(b"")
    with pytest.raises(StoreError), reader.connect(datadir):
        pass
    datadir.db_file.write_bytes(b"this is not a database at all" * 200)
    with pytest.raises(StoreError, match="not a SQLite database"), reader.connect(datadir):
        pass


def test_other_databases_are_left_to_sqlalchemy(tmp_path: Path) -> None:
    with reader.connect(DataDir(tmp_path), "postgresql://kunci@db/kunci") as conn:
        assert conn is None
