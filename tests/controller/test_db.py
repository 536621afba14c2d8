"""Database engine, pragmas, migrations and refusal of non-database files (real SQLite files)."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError

from controller.store.db import (
    check_integrity,
    database_revision,
    head_revision,
    make_engine,
    open_database,
    session_factory,
    upgrade_database,
)
from controller.errors import StoreError
from controller.store.models import Base, Door, Event, User
from controller.paths import DataDir
from controller.timefmt import ISO_UTC_LENGTH, iso_utc, parse_iso_utc, utcnow


@pytest.fixture
def engine(tmp_path: Path):
    eng = make_engine(f"sqlite:///{tmp_path / 'kunci.db'}")
    upgrade_database(eng)
    yield eng
    eng.dispose()


def test_pragmas_are_set_on_every_connection(engine) -> None:
    for _ in range(2):
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
        engine.dispose()  # next loop gets a brand-new DBAPI connection


def test_busy_timeout_is_configurable(tmp_path: Path) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'x.db'}", busy_timeout_ms=1234)
    with eng.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
    eng.dispose()


def test_upgrade_from_empty_matches_models_exactly(engine) -> None:
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        assert compare_metadata(ctx, Base.metadata) == []
    assert database_revision(engine) == head_revision() == "0007"


def _ddl(url: str) -> dict[str, list[str]]:
    """Every table and index definition, as sorted clause lists (clause order is not meaningful)."""
    con = sqlite3.connect(url)
    rows = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND name != 'alembic_version'"
    ).fetchall()
    con.close()
    flat = {name: re.sub(r"\s+", " ", sql or "").strip() for name, sql in rows}
    return {name: sorted(re.sub(r" ?\)$", "", sql).split(", ")) for name, sql in flat.items()}


def test_migration_ddl_equals_create_all_including_checks(tmp_path: Path, engine) -> None:
    """compare_metadata ignores CHECK constraints; the DDL text does not."""
    other = make_engine(f"sqlite:///{tmp_path / 'create_all.db'}")
    Base.metadata.create_all(other)
    other.dispose()
    assert _ddl(str(tmp_path / "kunci.db")) == _ddl(str(tmp_path / "create_all.db"))


def test_baseline_seeds_the_main_door(engine) -> None:
    with session_factory(engine)() as s:
        doors = s.scalars(select(Door)).all()
    assert [(d.name, d.mode, d.lockdown) for d in doors] == [("main", "pin_or_finger", False)]


def test_upgrade_is_idempotent(engine) -> None:
    assert upgrade_database(engine) == ("0007", "0007")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM doors").scalar() == 1


def test_upgrade_accepts_a_url(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'by_url.db'}"
    assert upgrade_database(url) == (None, "0007")


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE users SET status = 'deleted'",
        "UPDATE users SET mode_override = 'any'",
        "UPDATE doors SET mode = 'open'",
        "INSERT INTO events (time, type, seq) VALUES ('2026-01-01T00:00:00.000000Z', 'x', 1)",
        "INSERT INTO pin_credentials (user_id, digest, created_at) VALUES (1, x'00', 't')",
        "INSERT INTO schedule_windows (schedule_id, weekday, start_minute, end_minute) VALUES (1, 7, 0, 10)",
        "INSERT INTO finger_credentials (user_id, slot, state, created_at) VALUES (999, 1, 'active', 't')",
    ],
)
def test_constraints_refuse_bad_values(engine, sql: str) -> None:
    with session_factory(engine)() as s, s.begin():
        s.add(User(code="U0001", status="active"))
    with pytest.raises(IntegrityError):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO schedules (name) VALUES ('s')"))
            conn.execute(text(sql))


def test_hot_lookups_use_indexes(engine) -> None:
    plans = {
        "SELECT id FROM pin_credentials WHERE digest = x'00'": "ix_pin_credentials_digest",
        "SELECT id FROM events WHERE user_code = 'U0001' ORDER BY id DESC LIMIT 50": "ix_events_user_code_id",
        "SELECT id FROM events WHERE type = 'access.denied' ORDER BY id DESC LIMIT 50": "ix_events_type_id",
        "SELECT id FROM events WHERE time >= '2026' ORDER BY time LIMIT 50": "ix_events_time",
        "SELECT seq FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1": "ix_events_seq",
    }
    with engine.connect() as conn:
        for sql, index in plans.items():
            plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))
            assert index in plan, (sql, plan)


def test_write_transactions_begin_immediate(tmp_path: Path, engine) -> None:
    """A second writer waits for the first (busy timeout) instead of failing mid-transaction."""
    short = make_engine(f"sqlite:///{tmp_path / 'kunci.db'}", busy_timeout_ms=100)
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT 1")  # holds the write lock from BEGIN on
        with pytest.raises(Exception, match="locked"):
            with short.begin() as other:
                other.exec_driver_sql("SELECT 1")
        # readers are never blocked in WAL mode
        with session_factory(short, readonly=True)() as s:
            assert s.scalar(text("SELECT count(*) FROM doors")) == 1
    short.dispose()


def test_open_database_creates_private_file_and_returns_engine(tmp_path: Path) -> None:
    dd = DataDir(tmp_path)
    eng = open_database(dd, create=True)
    upgrade_database(eng)
    assert dd.db_file.stat().st_mode & 0o777 == 0o640
    assert check_integrity(eng) == "ok"
    eng.dispose()


@pytest.mark.parametrize("content", [b"not a database, just text\n" * 50, b"\x00\x01garbage" * 500])
def test_open_database_refuses_non_database_and_never_overwrites(tmp_path: Path, content: bytes) -> None:
    dd = DataDir(tmp_path)
    dd.db_file.write_bytes(content)
    with pytest.raises(StoreError, match="not a SQLite database"):
        open_database(dd)
    assert dd.db_file.read_bytes() == content
    assert not Path(str(dd.db_file) + "-wal").exists()


def test_open_database_refuses_damaged_database(tmp_path: Path) -> None:
    dd = DataDir(tmp_path)
    eng = open_database(dd, create=True)
    upgrade_database(eng)
    with eng.begin() as conn:
        for i in range(3000):
            conn.exec_driver_sql(f"INSERT INTO events (time, type) VALUES ('2026-01-01T00:00:00.000000Z', 'e{i}')")
    eng.dispose()
    raw = bytearray(dd.db_file.read_bytes())
    raw[4096 * 3 : 4096 * 6] = b"\xff" * (4096 * 3)  # smash pages after the header
    dd.db_file.write_bytes(bytes(raw))
    with pytest.raises(StoreError):
        open_database(dd, quick_check=True)
    assert dd.db_file.read_bytes() == bytes(raw)


def test_open_database_never_creates_unless_asked(tmp_path: Path) -> None:
    dd = DataDir(tmp_path)
    with pytest.raises(StoreError, match="run 'kunci init' first"):
        open_database(dd)
    assert not dd.db_file.exists()


@pytest.mark.parametrize("marker", ["secrets", "anchor"])
@pytest.mark.parametrize("empty", [True, False])
def test_a_lost_database_under_an_initialised_data_directory_is_refused(tmp_path: Path, marker: str,
                                                                        empty: bool) -> None:
    dd = DataDir(tmp_path)
    if marker == "secrets":
        dd.secrets_dir.mkdir()
    else:
        dd.anchor_dir.mkdir()
        dd.anchor_file.write_text(f"seq=5 mac={'ab' * 32} time=2026-01-01T00:00:00.000000Z\n")
    if empty:
        dd.db_file.write_bytes(b"")
    with pytest.raises(StoreError, match="initialised data directory.*Restore the newest backup.*docs/backup.md"):
        open_database(dd)
    assert dd.db_file.exists() == empty and (not empty or dd.db_file.stat().st_size == 0)
    assert not Path(f"{dd.db_file}-wal").exists()


def test_time_format_is_fixed_width_and_round_trips() -> None:
    now = utcnow()
    assert now.tzinfo is not None
    text_now = iso_utc(now)
    assert len(text_now) == ISO_UTC_LENGTH and text_now.endswith("Z")
    assert parse_iso_utc(text_now) == now
    whole = datetime(2026, 11, 29, 10, 2, 16, tzinfo=timezone.utc)
    assert iso_utc(whole) == "2026-11-29T10:02:16.000000Z"
    plus7 = datetime(2026, 11, 29, 17, 2, 16, 123456, tzinfo=timezone(timedelta(hours=7)))
    assert iso_utc(plus7) == "2026-11-29T10:02:16.123456Z"
    assert iso_utc(whole) < iso_utc(whole + timedelta(microseconds=1))
    with pytest.raises(ValueError):
        iso_utc(datetime(2026, 1, 1))
    with pytest.raises(ValueError):
        parse_iso_utc("2026-01-01T00:00:00")


def test_event_time_column_holds_iso_text(engine) -> None:
    with session_factory(engine)() as s, s.begin():
        s.add(Event(time=iso_utc(utcnow()), type="daemon.started"))
    with engine.connect() as conn:
        assert len(conn.exec_driver_sql("SELECT time FROM events").scalar()) == ISO_UTC_LENGTH


def test_shipped_head_read_from_source_matches_alembic() -> None:
    from controller.store.db import head_revision, shipped_head

    assert shipped_head() == head_revision()


def test_upgrade_at_head_does_not_import_alembic(tmp_path) -> None:
    import subprocess
    import sys

    from controller.store.db import make_engine, upgrade_database

    url = f"sqlite:///{tmp_path / 'k.db'}"
    upgrade_database(url)
    code = (
        "import sys; from controller.store.db import upgrade_database; "
        f"before, after = upgrade_database({url!r}); "
        "assert before == after, (before, after); "
        "print('alembic' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    make_engine(url).dispose()


def test_require_existing_database_for_processes_that_open_it_their_own_way(tmp_path: Path) -> None:
    from controller.store.db import require_existing_database

    dd = DataDir(tmp_path)
    with pytest.raises(StoreError, match="run 'kunci init' first"):
        require_existing_database(dd, dd.db_file)
    dd.secrets_dir.mkdir()
    dd.db_file.write_bytes(b"")
    with pytest.raises(StoreError, match="empty .0 bytes.*docs/backup.md"):
        require_existing_database(dd, dd.db_file)
    eng = open_database(dd, create=True)
    upgrade_database(eng)
    eng.dispose()
    require_existing_database(dd, dd.db_file)


def test_a_database_of_the_first_release_upgrades_to_duress_credentials_keeping_its_people(tmp_path) -> None:
    """0001 -> 0002 (issue 13): the new table appears, nothing else changes."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'old.db'}"
    assert upgrade_database(url, "0001") == (None, "0001")
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute("INSERT INTO users (code, status, extended_unlock, created_at, updated_at) "
                "VALUES ('U0001', 'active', 0, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
    con.commit()
    con.close()
    assert upgrade_database(url, "0002") == ("0001", "0002")
    con = sqlite3.connect(tmp_path / "old.db")
    tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "duress_credentials" in tables
    assert con.execute("SELECT code FROM users").fetchall() == [("U0001",)]
    con.close()


def test_a_database_with_duress_credentials_upgrades_to_visitors_keeping_its_people(tmp_path) -> None:
    """0002 -> 0003 (issue 13 item 5): users gain kind (staff for everyone already there), valid_until_at and
    escort_group; the people, their PINs and the CHECK on kind are kept."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'old.db'}"
    assert upgrade_database(url, "0002") == (None, "0002")
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute("INSERT INTO users (code, status, extended_unlock, created_at, updated_at) "
                "VALUES ('U0001', 'active', 0, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
    con.execute("INSERT INTO pin_credentials (user_id, digest, created_at) VALUES (1, ?, '2026-01-01T00:00:00Z')",
                (b"\x01" * 32,))
    con.commit()
    con.close()
    assert upgrade_database(url, "0003") == ("0002", "0003")
    con = sqlite3.connect(tmp_path / "old.db")
    assert con.execute("SELECT code, kind, valid_until_at, escort_group FROM users").fetchall() == [
        ("U0001", "staff", None, None)]
    assert con.execute("SELECT user_id FROM pin_credentials").fetchall() == [(1,)]
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("UPDATE users SET kind = 'guest'")
    con.close()


def test_the_last_use_index_serves_the_access_review(engine) -> None:
    """0004: a credential's last use is one probe of the covering index, not a walk over every grant."""
    with engine.connect() as conn:
        plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(
            "EXPLAIN QUERY PLAN SELECT max(time) FROM events "
            "WHERE user_code = 'U0001' AND type = 'access.granted' AND method = 'pin'"))
    assert "ix_events_user_code_type_method_time" in plan


def test_a_database_of_0006_upgrades_to_several_doors_keeping_fingers_and_people(tmp_path) -> None:
    """0006 -> 0007 (issue 16): fingers keep their slots on the first door (''), people become 'local',
    group_doors and site_sync appear empty; UNIQUE(slot) becomes UNIQUE(door, slot)."""
    import sqlite3

    url = f"sqlite:///{tmp_path / 'old.db'}"
    assert upgrade_database(url, "0006") == (None, "0006")
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute("INSERT INTO users (code, status, extended_unlock, created_at, updated_at) "
                "VALUES ('U0001', 'active', 0, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')")
    con.execute("INSERT INTO pin_credentials (user_id, digest, created_at) VALUES (1, ?, '2026-01-01T00:00:00Z')",
                (b"\x01" * 32,))
    for slot, state in ((3, "active"), (7, "pending")):
        con.execute("INSERT INTO finger_credentials (user_id, slot, state, created_at) "
                    "VALUES (1, ?, ?, '2026-01-01T00:00:00Z')", (slot, state))
    con.execute("INSERT INTO access_groups (name, two_person) VALUES ('staff', 0)")
    con.commit()
    con.close()
    assert upgrade_database(url, "0007") == ("0006", "0007")
    con = sqlite3.connect(tmp_path / "old.db")
    con.execute("PRAGMA foreign_keys = ON")
    assert con.execute("SELECT user_id, slot, state, door FROM finger_credentials ORDER BY slot").fetchall() == [
        (1, 3, "active", ""), (1, 7, "pending", "")]
    assert con.execute("SELECT code, origin FROM users").fetchall() == [("U0001", "local")]
    assert con.execute("SELECT user_id FROM pin_credentials").fetchall() == [(1,)]
    assert con.execute("SELECT count(*) FROM group_doors").fetchone() == (0,)
    assert con.execute("SELECT count(*) FROM site_sync").fetchone() == (0,)
    con.execute("INSERT INTO finger_credentials (user_id, slot, state, created_at, door) "
                "VALUES (1, 3, 'active', 't', 'vault')")  # the same slot on another door's sensor
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("INSERT INTO finger_credentials (user_id, slot, state, created_at) VALUES (1, 3, 'active', 't')")
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("UPDATE users SET origin = 'elsewhere'")
    with pytest.raises(sqlite3.IntegrityError):
        con.execute("INSERT INTO site_sync (id) VALUES (2)")
    con.execute("INSERT INTO group_doors (group_id, door) VALUES (1, 'vault')")
    con.execute("DELETE FROM access_groups")
    assert con.execute("SELECT count(*) FROM group_doors").fetchone() == (0,)  # ON DELETE CASCADE
    con.close()
