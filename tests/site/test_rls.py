"""Rooms kept apart: what a controller's own PostgreSQL role can and cannot do (migration s0001's grants and RLS)."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text

from controller.site import roles
from tests.site.conftest import SiteDb


@pytest.fixture
def two_controllers(site_db: SiteDb) -> dict[str, tuple[int, str]]:
    """Controllers ``a`` and ``b`` with roles, a feed row each, an event each and one person with a PIN digest."""
    made: dict[str, tuple[int, str]] = {}
    with site_db.engine.begin() as conn:
        for name in ("a", "b"):
            role, password = roles.create_controller_role(conn, name)
            cid = conn.execute(text("INSERT INTO kunci.controllers (name, role) VALUES (:n, :r) RETURNING id"),
                               {"n": name, "r": role}).scalar_one()
            conn.execute(text("INSERT INTO kunci.feed (controller_id, op, key, payload) "
                              "VALUES (:c, 'holiday', '2027-01-01', '{}')"), {"c": cid})
            conn.execute(text("INSERT INTO kunci.events (controller_id, seq, time, type, mac) "
                              "VALUES (:c, 1, '2026-12-02T10:00:00.000000Z', 'daemon.started', :m)"),
                         {"c": cid, "m": bytes(32)})
            made[name] = (cid, password)
        conn.execute(text("INSERT INTO kunci.people (code, display_name) VALUES ('U0001', 'Secret Name')"))
        conn.execute(text("INSERT INTO kunci.pin_digests (person_id, digest) "
                          "SELECT id, '\\x01'::bytea FROM kunci.people"))
    return made


def _connect(site_db: SiteDb, name: str, password: str) -> psycopg.Connection:
    return psycopg.connect(site_db.server.dsn(roles.role_name(name), password, site_db.dbname), autocommit=True)


@pytest.mark.parametrize("table", ["people", "pin_digests", "staff", "groups", "group_doors", "doors", "rooms",
                                   "schedules", "holidays", "controllers", "controller_keys"])
def test_a_controller_cannot_select_site_tables(site_db: SiteDb, two_controllers: dict, table: str) -> None:
    with _connect(site_db, "a", two_controllers["a"][1]) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(f"SELECT * FROM kunci.{table}")


def test_a_controller_sees_only_its_own_feed_and_events(site_db: SiteDb, two_controllers: dict) -> None:
    a_id = two_controllers["a"][0]
    with _connect(site_db, "a", two_controllers["a"][1]) as conn:
        assert conn.execute("SELECT kunci.my_controller_id()").fetchone() == (a_id,)
        assert {r[0] for r in conn.execute("SELECT controller_id FROM kunci.feed")} == {a_id}
        assert {r[0] for r in conn.execute("SELECT controller_id FROM kunci.events")} == {a_id}


def test_a_controller_cannot_insert_events_for_another(site_db: SiteDb, two_controllers: dict) -> None:
    a_id, b_id = two_controllers["a"][0], two_controllers["b"][0]
    with _connect(site_db, "a", two_controllers["a"][1]) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO kunci.events (controller_id, seq, time, type, mac) "
                         "VALUES (%s, 2, 't', 'x', %s)", (b_id, bytes(32)))
        conn.execute("INSERT INTO kunci.events (controller_id, seq, time, type, mac) VALUES (%s, 2, 't', 'x', %s) "
                     "ON CONFLICT (controller_id, seq) DO NOTHING", (a_id, bytes(32)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("UPDATE kunci.events SET type = 'y'")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("DELETE FROM kunci.feed")
    with site_db.engine.connect() as conn:
        assert conn.execute(text("SELECT controller_id, seq FROM kunci.events ORDER BY 1, 2")).all() == [
            (a_id, 1), (a_id, 2), (b_id, 1)]


def test_a_controller_inserts_its_own_audit_key_once_and_cannot_read_it(site_db: SiteDb,
                                                                        two_controllers: dict) -> None:
    a_id, b_id = two_controllers["a"][0], two_controllers["b"][0]
    with _connect(site_db, "a", two_controllers["a"][1]) as conn:
        with pytest.raises(psycopg.errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO kunci.controller_keys VALUES (%s, %s)", (b_id, bytes(32)))
        conn.execute("INSERT INTO kunci.controller_keys VALUES (%s, %s)", (a_id, b"k" * 32))
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("INSERT INTO kunci.controller_keys VALUES (%s, %s)", (a_id, bytes(32)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT audit_key FROM kunci.controller_keys")


def test_checkin_records_only_the_callers_contact(site_db: SiteDb, two_controllers: dict) -> None:
    with _connect(site_db, "a", two_controllers["a"][1]) as conn:
        assert conn.execute("SELECT kunci.controller_checkin(7, 3)").fetchone() == (two_controllers["a"][0],)
    with site_db.engine.connect() as conn:
        rows = conn.execute(text("SELECT name, revision_seen, uploaded_seq, last_seen_at IS NOT NULL "
                                 "FROM kunci.controllers ORDER BY name")).all()
    assert rows == [("a", 7, 3, True), ("b", 0, 0, False)]


def test_a_wrong_password_is_refused(site_db: SiteDb, two_controllers: dict) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _connect(site_db, "a", two_controllers["b"][1])
