"""The daemon's durable log (controller/daemon/journal.py) on a real SQLite file: sealed writes, the RAM
buffer while the database refuses writes, retracting a reversed grant, spilling at a stop and restoring at
the next start, and alarms. A trigger that aborts every insert stands in for a database that refuses writes
(the fault suite does it with a full disk and a read-only file: tests/faults/test_storage_faults.py)."""

from __future__ import annotations

import json
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.core.vocabulary import AlarmKind, EventType
from controller.daemon.journal import Journal
from controller.store.audit_verify import verify
from controller.store.db import make_engine, session_factory, upgrade_database

KEY = b"j" * 32
REFUSE = "CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END"


@pytest.fixture(params=[False, True], ids=["session", "direct"])
def db(tmp_path: Path, request) -> Iterator[tuple[Path, object]]:
    """The database, and whether journals on it write through the session or a direct connection (the
    daemon's way on SQLite): every test here runs both ways."""
    path = tmp_path / "kunci.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade_database(engine)
    engine.kunci_direct = request.param  # read by journal_on
    yield path, engine
    engine.dispose()


def journal_on(engine) -> Journal:
    return Journal(session_factory(engine)(), KEY, "main", direct=engine.kunci_direct)


def sql(path: Path, statement: str) -> None:
    con = sqlite3.connect(path)
    con.execute(statement)
    con.commit()
    con.close()


def stored_types(path: Path) -> list[str]:
    con = sqlite3.connect(path)
    rows = [r[0] for r in con.execute("SELECT type FROM events ORDER BY seq")]
    con.close()
    return rows


def chain_ok(engine) -> bool:
    with session_factory(engine)() as session:
        return verify(session, KEY).ok


def test_each_write_is_sealed_and_committed_in_order(db) -> None:
    path, engine = db
    journal = journal_on(engine)
    assert journal.write(EventType.DOOR_OPENED) and journal.write(EventType.DOOR_CLOSED)
    assert stored_types(path) == ["door.opened", "door.closed"]
    assert chain_ok(engine)


def test_while_the_database_refuses_events_wait_in_ram_and_are_stored_in_order_after(db) -> None:
    path, engine = db
    journal = journal_on(engine)
    journal.write(EventType.DAEMON_STARTED)
    sql(path, REFUSE)
    assert journal.write(EventType.EXIT_REQUEST) is False
    assert journal.write(EventType.DOOR_OPENED) is False
    assert (journal.buffered, journal.available, journal.writable()) == (2, False, False)
    sql(path, "DROP TRIGGER refuse")
    assert journal.writable() is True  # a fact of the next decision: stores the buffer first
    assert journal.buffered == 0 and journal.available
    assert stored_types(path) == ["daemon.started", "exit.request", "door.opened"]
    assert chain_ok(engine)


def test_a_grant_whose_event_could_not_be_stored_is_retracted_from_the_buffer(db) -> None:
    path, engine = db
    journal = journal_on(engine)
    sql(path, REFUSE)
    assert journal.write(EventType.ACCESS_GRANTED, method="pin", user="U0001") is False
    assert journal.retract(EventType.DOOR_OPENED) is False  # only the newest, only of that type
    assert journal.retract(EventType.ACCESS_GRANTED) is True
    assert journal.buffered == 0


def test_a_stop_spills_what_waits_and_the_next_start_stores_it_first_marked_recovered(db, tmp_path: Path) -> None:
    path, engine = db
    spill = tmp_path / "run" / "unstored-events.jsonl"
    first = journal_on(engine)
    sql(path, REFUSE)
    first.write(EventType.EXIT_REQUEST)
    first.write(EventType.DAEMON_STOPPED, actor="daemon")
    assert first.spill(spill) == 2
    assert stat.S_IMODE(spill.stat().st_mode) == 0o640
    assert [json.loads(line)["type"] for line in spill.read_text().splitlines()] == ["exit.request", "daemon.stopped"]
    sql(path, "DROP TRIGGER refuse")

    second = journal_on(engine)
    assert second.restore_spilled(spill) == 2
    second.write(EventType.DAEMON_STARTED)
    assert stored_types(path) == ["exit.request", "daemon.stopped", "daemon.started"]
    assert not spill.exists()
    con = sqlite3.connect(path)
    details = [json.loads(d) if d else None for (d,) in con.execute("SELECT detail FROM events ORDER BY seq")]
    con.close()
    assert details[0]["recovered"] is True and details[1]["recovered"] is True and details[2] is None
    assert chain_ok(engine)


def test_a_damaged_spill_line_is_skipped_and_the_rest_is_stored(db, tmp_path: Path) -> None:
    path, engine = db
    spill = tmp_path / "unstored-events.jsonl"
    spill.write_text('{"type": "exit.request", "time": "2026-03-04T09:00:00Z"}\nnot json\n')
    journal = journal_on(engine)
    assert journal.restore_spilled(spill) == 1
    journal.flush()
    assert stored_types(path) == ["exit.request"]


def test_an_alarm_is_raised_once_until_cleared_and_acknowledged(db) -> None:
    _path, engine = db
    journal = journal_on(engine)
    assert journal.raise_alarm(AlarmKind.SENSOR_LOST, "no answer")
    assert not journal.raise_alarm(AlarmKind.SENSOR_LOST, "still no answer")  # one alarm per condition
    (alarm,) = journal.active_alarms()
    journal.clear_alarm(AlarmKind.SENSOR_LOST)
    assert [a.cleared_at is not None for a in journal.active_alarms()] == [True]  # cleared, not yet seen
    journal.acknowledge(alarm.id, "ani")
    assert journal.active_alarms() == []


def test_a_decision_writes_its_lockout_row_and_event_in_one_transaction(db) -> None:
    """The staged lockout row lands with the event, or (the event refused) not at all."""
    from controller.store import hotpath

    path, engine = db
    journal = journal_on(engine)
    journal.stage_lockout(hotpath.LockoutRow("keypad", 1, 0, None, "[]", False))
    assert journal.write(EventType.ACCESS_DENIED, reason="unknown_credential", method="pin")
    sql(path, REFUSE)
    journal.stage_lockout(hotpath.LockoutRow("keypad", 2, 0, None, "[]", False))
    assert not journal.write(EventType.ACCESS_DENIED, reason="unknown_credential", method="pin")
    con = sqlite3.connect(path)
    assert con.execute("SELECT failures FROM lockout_state WHERE name = 'keypad'").fetchone() == (1,)
    con.close()
    assert stored_types(path) == ["access.denied"]
    journal.close()
    journal.close()


def test_inside_an_admin_transaction_the_event_commits_with_the_change(db) -> None:
    """An open session transaction (an admin command) takes the event: change and event commit together."""
    from sqlalchemy import text

    path, engine = db
    journal = journal_on(engine)
    journal.session.execute(text("INSERT INTO holidays (day, name) VALUES ('2026-12-25', 'Christmas')"))
    assert journal.reader() is journal.session
    assert journal.write(EventType.ADMIN_HOLIDAY_ADDED, actor="admin")
    journal.session.rollback()  # nothing left to roll back: both were committed by the write
    con = sqlite3.connect(path)
    assert con.execute("SELECT count(*) FROM holidays").fetchone() == (1,)
    con.close()
    assert stored_types(path) == ["admin.holiday_added"] and chain_ok(engine)
