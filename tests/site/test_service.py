"""The site service on a real PostgreSQL server: feed rows only for the controllers a change concerns, in
revision order, NOTIFY at commit, clear refusals that change nothing."""

from __future__ import annotations

import hmac
from datetime import date

import psycopg
import pytest
from argon2 import profiles
from sqlalchemy import text

from controller.errors import InvalidInput, NotFound, PolicyRefused
from controller.site.service import SiteService
from controller.store.staff import make_hasher
from tests.site.conftest import SiteDb

PEPPER = b"p" * 32


@pytest.fixture
def service(site_db: SiteDb) -> SiteService:
    svc = SiteService(site_db.engine.begin, PEPPER, hasher=make_hasher(profiles.CHEAPEST))
    svc.add_controller("alpha", [("main", "records"), ("vault", "vault-room")], actor="test")
    svc.add_controller("beta", [("main", "branch")], actor="test")
    return svc


def door_id(svc: SiteService, controller: str, name: str) -> int:
    return next(d.id for d in svc.list_doors() if d.controller == controller and d.name == name)


def feed_rows(site_db: SiteDb, after: int = 0) -> list[tuple[str, str, str, dict]]:
    with site_db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT c.name, f.op, f.key, f.payload FROM kunci.feed f "
            "JOIN kunci.controllers c ON c.id = f.controller_id WHERE f.revision > :a ORDER BY f.revision"),
            {"a": after})]


def newest_revision(site_db: SiteDb) -> int:
    with site_db.engine.connect() as conn:
        return int(conn.execute(text("SELECT coalesce(max(revision), 0) FROM kunci.feed")).scalar())


def test_a_person_reaches_only_the_controllers_their_group_grants(service: SiteService, site_db: SiteDb) -> None:
    service.add_group("vault-staff", [door_id(service, "alpha", "vault")], actor="test")
    start = newest_revision(site_db)
    code, pin = service.add_person("Ani Secret", "vault-staff", date(2026, 1, 1), None, actor="test")
    rows = feed_rows(site_db, start)
    assert [(r[0], r[1], r[2]) for r in rows] == [("alpha", "person", code)]
    payload = rows[0][3]
    assert payload == {"code": code, "status": "active", "kind": "staff", "valid_from": "2026-01-01",
                       "valid_until": None, "group": "vault-staff",
                       "pin_digest": hmac.digest(PEPPER, pin.encode(), "sha256").hex()}
    assert "Ani" not in str(rows)


def test_the_group_row_names_only_that_controllers_doors(service: SiteService, site_db: SiteDb) -> None:
    start = newest_revision(site_db)
    service.add_group("everyone", [door_id(service, "alpha", "main"), door_id(service, "alpha", "vault"),
                                   door_id(service, "beta", "main")], actor="test")
    rows = feed_rows(site_db, start)
    assert [(r[0], r[1], r[3]["doors"]) for r in rows] == [("alpha", "group", ["main", "vault"]),
                                                           ("beta", "group", ["main"])]


def test_revoke_reaches_every_controller_the_person_reaches(service: SiteService, site_db: SiteDb) -> None:
    service.add_group("both", [door_id(service, "alpha", "main"), door_id(service, "beta", "main")], actor="test")
    code, _ = service.add_person("Budi", "both", actor="test")
    start = newest_revision(site_db)
    service.revoke(code, actor="test")
    rows = feed_rows(site_db, start)
    assert [(r[0], r[1], r[3]["status"], r[3]["pin_digest"]) for r in rows] == [
        ("alpha", "person", "revoked", None), ("beta", "person", "revoked", None)]
    with pytest.raises(PolicyRefused):
        service.resume(code, actor="test")
    assert feed_rows(site_db, start) == rows


def test_a_notification_names_the_controller_and_revision(service: SiteService, site_db: SiteDb) -> None:
    service.add_group("beta-only", [door_id(service, "beta", "main")], actor="test")
    with psycopg.connect(site_db.server.dsn(site_db.owner, site_db.password, site_db.dbname),
                         autocommit=True) as listener:
        listener.execute("LISTEN kunci_feed")
        code, _ = service.add_person(None, "beta-only", actor="test")
        note = next(listener.notifies(timeout=30, stop_after=1))
    beta = next(c for c in service.controllers() if c.name == "beta")
    assert note.payload == f"{beta.id}:{newest_revision(site_db)}"


def test_moving_a_groups_doors_removes_people_where_it_no_longer_reaches(service: SiteService,
                                                                         site_db: SiteDb) -> None:
    service.add_group("g", [door_id(service, "alpha", "main"), door_id(service, "beta", "main")], actor="test")
    code, _ = service.add_person(None, "g", actor="test")
    start = newest_revision(site_db)
    service.set_group_doors("g", [door_id(service, "alpha", "vault")], actor="test")
    assert [(r[0], r[1], r[2]) for r in feed_rows(site_db, start)] == [
        ("beta", "person.remove", code), ("beta", "group.remove", "g"), ("alpha", "group", "g")]
    start = newest_revision(site_db)
    service.set_group_doors("g", [door_id(service, "beta", "main")], actor="test")
    assert [(r[0], r[1], r[2]) for r in feed_rows(site_db, start)] == [
        ("alpha", "person.remove", code), ("alpha", "group.remove", "g"), ("beta", "group", "g"),
        ("beta", "person", code)]


def test_set_group_moves_a_person_between_controllers(service: SiteService, site_db: SiteDb) -> None:
    service.add_group("a", [door_id(service, "alpha", "main")], actor="test")
    service.add_group("b", [door_id(service, "beta", "main")], actor="test")
    code, _ = service.add_person(None, "a", actor="test")
    start = newest_revision(site_db)
    service.set_group(code, "b", actor="test")
    assert [(r[0], r[1]) for r in feed_rows(site_db, start)] == [("alpha", "person.remove"), ("beta", "person")]


def test_a_new_controller_gets_a_snapshot(service: SiteService, site_db: SiteDb) -> None:
    service.add_schedule("office", [(0, 480, 1020)], actor="test")
    service.add_holiday(date(2027, 1, 1), "New Year", actor="test")
    service.add_group("all", [door_id(service, "alpha", "main")], "office", actor="test")
    code, _ = service.add_person("Citra", "all", actor="test")
    start = newest_revision(site_db)
    service.add_controller("gamma", [("main", "records")], actor="test")
    service.set_group_doors("all", [door_id(service, "alpha", "main"), door_id(service, "gamma", "main")],
                            actor="test")
    ops = [(r[0], r[1], r[2]) for r in feed_rows(site_db, start)]
    assert ops == [("gamma", "holiday", "2027-01-01"), ("gamma", "schedule", "office"),
                   ("gamma", "group", "all"), ("gamma", "person", code)]


def test_bad_input_is_refused_and_changes_nothing(service: SiteService, site_db: SiteDb) -> None:
    start = newest_revision(site_db)
    with pytest.raises(NotFound):
        service.add_person("X", "no-such-group", actor="test")
    with pytest.raises(NotFound):
        service.add_group("g", [99999], actor="test")
    with pytest.raises(InvalidInput):
        service.add_controller("alpha", [("main", "r")], actor="test")
    with pytest.raises(InvalidInput):
        service.add_controller("Bad Name", [("main", "r")], actor="test")
    with pytest.raises(InvalidInput):
        service.add_schedule("s", [(7, 0, 10)], actor="test")
    with pytest.raises(NotFound):
        service.revoke("U9999", actor="test")
    assert newest_revision(site_db) == start
    assert service.list_people() == []


def test_staff_logins(service: SiteService) -> None:
    service.add_staff("ratna", "a long staff passphrase 42", "auditor", ["records"])
    row = service.verify_staff("ratna", "a long staff passphrase 42")
    assert row is not None and row.role == "auditor" and row.rooms == (service.list_doors()[0].room_id,)
    assert service.verify_staff("ratna", "wrong") is None
    assert service.verify_staff("nobody", "a long staff passphrase 42") is None
    with pytest.raises(InvalidInput):
        service.add_staff("ratna", "a long staff passphrase 42", "admin", None)
    with pytest.raises(NotFound):
        service.add_staff("other", "a long staff passphrase 42", "admin", ["no-such-room"])


def test_lists_are_limited_to_rooms(service: SiteService) -> None:
    service.add_group("vault", [door_id(service, "alpha", "vault")], actor="test")
    service.add_group("branch", [door_id(service, "beta", "main")], actor="test")
    v, _ = service.add_person("V", "vault", actor="test")
    b, _ = service.add_person("B", "branch", actor="test")
    branch_room = next(d.room_id for d in service.list_doors() if d.controller == "beta")
    assert [p.code for p in service.list_people(rooms=[branch_room])] == [b]
    assert [d.name for d in service.list_doors(rooms=[branch_room])] == ["main"]
    assert {p.code for p in service.list_people()} == {v, b}


def test_removals_reach_the_controllers_concerned(service: SiteService, site_db: SiteDb) -> None:
    service.add_schedule("office", [(0, 480, 1020)], actor="test")
    service.add_holiday(date(2027, 1, 1), "New Year", actor="test")
    service.add_group("beta-office", [door_id(service, "beta", "main")], "office", actor="test")
    code, _ = service.add_person(None, "beta-office", actor="test")
    with pytest.raises(PolicyRefused):
        service.delete_schedule("office", actor="test")
    with pytest.raises(PolicyRefused):
        service.delete_group("beta-office", actor="test")
    start = newest_revision(site_db)
    service.revoke(code, actor="test")
    service.delete_group("beta-office", actor="test")
    service.delete_schedule("office", actor="test")
    service.remove_holiday(date(2027, 1, 1), actor="test")
    assert [(r[0], r[1], r[2]) for r in feed_rows(site_db, start)] == [
        ("beta", "person", code), ("beta", "group.remove", "beta-office"),
        ("alpha", "schedule.remove", "office"), ("beta", "schedule.remove", "office"),
        ("alpha", "holiday.remove", "2027-01-01"), ("beta", "holiday.remove", "2027-01-01")]
    with pytest.raises(NotFound):
        service.remove_holiday(date(2027, 1, 1), actor="test")


def test_site_codes_have_a_range_of_their_own(service: SiteService) -> None:
    """Site people are numbered from U100001, so they never meet a controller's own U0001, U0002, ..."""
    service.add_group("codes", [door_id(service, "alpha", "vault")], actor="test")
    first, _ = service.add_person("One", "codes", actor="test")
    second, _ = service.add_person("Two", "codes", actor="test")
    assert (first, second) == ("U100001", "U100002")
