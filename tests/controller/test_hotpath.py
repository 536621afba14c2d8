"""The decision's store access without ORM objects: person by digest/slot, cached site facts, sealed insert."""

from __future__ import annotations

from datetime import UTC, date, datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from controller.core import policy
from controller.store import audit, hotpath
from controller.store.audit_verify import verify
from controller.store.db import make_engine, session_factory, upgrade_database
from controller.store.models import (
    AccessGroup,
    Event,
    FingerCredential,
    GroupDoor,
    Holiday,
    LockoutState,
    PinCredential,
    Schedule,
    ScheduleWindow,
    User,
)
from controller.store.pins import pin_digest

PEPPER = bytes(range(32))
KEY = bytes(range(32, 64))
NOON = datetime(2026, 6, 17, 12, 0, tzinfo=UTC)


@pytest.fixture
def session(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'kunci.db'}")
    upgrade_database(engine)
    s = session_factory(engine)()
    office = Schedule(name="office", allow_on_holidays=True,
                      windows=[ScheduleWindow(weekday=0, start_minute=480, end_minute=1080),
                               ScheduleWindow(weekday=2, start_minute=540, end_minute=600)])
    s.add_all([office, AccessGroup(name="day", schedule=office), AccessGroup(name="any"),
               Holiday(day=date(2026, 12, 25), name="Christmas")])
    s.flush()
    day = s.scalar(select(AccessGroup).where(AccessGroup.name == "day"))
    ann = User(code="U0001", status="active", group_id=day.id, valid_until=date(2026, 12, 31), extended_unlock=True)
    bob = User(code="U0002", status="suspended", mode_override="pin_and_finger")
    s.add_all([ann, bob])
    s.flush()
    s.add_all([PinCredential(user_id=ann.id, digest=pin_digest(PEPPER, "482913")),
               PinCredential(user_id=bob.id, digest=pin_digest(PEPPER, "771204")),
               FingerCredential(user_id=ann.id, slot=3, state="active"),
               FingerCredential(user_id=bob.id, slot=4, state="pending")])
    s.commit()
    yield s
    s.close()
    engine.dispose()


def test_a_pin_digest_finds_the_persons_decision_fields(session) -> None:
    ann = hotpath.person_by_digest(session, pin_digest(PEPPER, "482913"))
    day_id = session.scalar(select(AccessGroup.id).where(AccessGroup.name == "day"))
    assert ann == hotpath.Person("U0001", "active", None, date(2026, 12, 31), day_id, None, True)
    bob = hotpath.person_by_digest(session, pin_digest(PEPPER, "771204"))
    assert (bob.code, bob.status, bob.mode_override, bob.extended_unlock) == ("U0002", "suspended", "pin_and_finger",
                                                                              False)
    assert hotpath.person_by_digest(session, pin_digest(PEPPER, "000111")) is None


@pytest.mark.parametrize(("slot", "code"), [(3, "U0001"), (4, None), (9, None)],
                         ids=["active_finger", "pending_finger_matches_nobody", "empty_slot"])
def test_a_sensor_slot_finds_only_an_active_finger(session, slot, code) -> None:
    person = hotpath.person_by_slot(session, slot)
    assert (person.code if person else None) == code


def test_site_facts_give_each_group_its_schedule_and_every_holiday(session) -> None:
    site = hotpath.load_site(session, "main")
    assert site.door == policy.DoorView("main", policy.DoorMode.PIN_OR_FINGER, False)
    assert site.holidays == frozenset({date(2026, 12, 25)})
    ann = site.subject(hotpath.person_by_digest(session, pin_digest(PEPPER, "482913")))
    assert ann.schedule == policy.Schedule((policy.Window(0, 480, 1080), policy.Window(2, 540, 600)), True)
    bob = site.subject(hotpath.person_by_digest(session, pin_digest(PEPPER, "771204")))
    assert (bob.schedule, bob.mode_override) == (None, policy.DoorMode.PIN_AND_FINGER)
    assert site.subject(None) is None


def test_an_unknown_door_name_falls_back_to_the_seeded_door(session) -> None:
    assert hotpath.load_door(session, "side").name == "main"


def test_sealed_inserts_chain_like_audit_append_and_verify(session) -> None:
    audit.append(session, KEY, "daemon.started", actor="daemon", time=NOON)
    seq, mac = hotpath.append_sealed(session, KEY, "access.granted", time=NOON, method="pin", user="U0001",
                                     door="main", score=None, detail={"b": 1, "a": "x"})
    assert session.info[audit.SEALED_HEAD_INFO] == (seq, mac)
    audit.append(session, KEY, "access.denied", reason="unknown_credential", method="pin", door="main", time=NOON)
    session.commit()
    row = session.scalar(select(Event).where(Event.seq == seq))
    assert (row.type, row.user_code, row.detail, bytes(row.mac)) == ("access.granted", "U0001", '{"a":"x","b":1}', mac)
    result = verify(session, KEY)
    assert (result.ok, result.head_seq) == (True, seq + 1)


def test_the_lockout_row_is_inserted_then_updated(session) -> None:
    hotpath.save_lockout(session, hotpath.LockoutRow("keypad", 2, 0, None, "[]", False))
    hotpath.save_lockout(session, hotpath.LockoutRow("keypad", 3, 1, "2026-06-17T12:00:30.000000Z", "[]", False))
    session.commit()
    row = session.get(LockoutState, "keypad")
    assert (row.failures, row.level, row.locked_until) == (3, 1, "2026-06-17T12:00:30.000000Z")


def test_a_refused_insert_is_a_store_error_like_any_other(session) -> None:
    """The driver's own error surfaces as SQLAlchemy's, so the journal turns it into "log unavailable"."""
    from sqlalchemy import text
    from sqlalchemy.exc import SQLAlchemyError

    session.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'refused'); END"))
    session.commit()
    with pytest.raises(SQLAlchemyError, match="refused"):
        hotpath.append_sealed(session, KEY, "access.granted", time=NOON, method="pin", user="U0001", door="main")
    session.rollback()
    assert session.scalar(select(Event.id).limit(1)) is None


# --- Several doors (issue 16)


def test_a_slot_is_looked_up_on_that_doors_sensor(session) -> None:
    ann = session.scalar(select(User).where(User.code == "U0001"))
    session.add(FingerCredential(user_id=ann.id, slot=4, state="active", door="vault"))  # slot 4 of main is bob's
    session.commit()
    assert hotpath.person_by_slot(session, 4, "vault").code == "U0001"
    assert hotpath.person_by_slot(session, 3, "vault") is None  # ann's slot 3 is on the first door's sensor
    assert hotpath.person_by_slot(session, 3).code == "U0001"
    assert hotpath.person_by_slot(session, 4) is None  # bob's finger there is still pending


def test_the_slot_lookup_probes_the_unique_door_slot_index(session) -> None:
    plan = " ".join(str(r[-1]) for r in session.connection().exec_driver_sql(
        "EXPLAIN QUERY PLAN " + hotpath._BY_SLOT_SQL.replace("?", "0")))  # noqa: SLF001
    assert "sqlite_autoindex_finger_credentials" in plan or "uq_finger_credentials_door_slot" in plan, plan


def test_site_facts_give_each_group_its_doors(session) -> None:
    day = session.scalar(select(AccessGroup).where(AccessGroup.name == "day"))
    session.add_all([GroupDoor(group_id=day.id, door="vault"), GroupDoor(group_id=day.id, door="side")])
    session.commit()
    site = hotpath.load_site(session, "main")
    ann = site.subject(hotpath.person_by_digest(session, pin_digest(PEPPER, "482913")))
    assert ann.doors == frozenset({"vault", "side"})
    bob = site.subject(hotpath.person_by_digest(session, pin_digest(PEPPER, "771204")))  # no group: every door
    assert bob.doors is None
    any_id = session.scalar(select(AccessGroup.id).where(AccessGroup.name == "any"))
    assert any_id not in site.group_doors  # a group with no rows grants every door
    decision = policy.decide(policy.Facts(policy.Method.PIN, ann, site.door, NOON, policy.Context(timezone.utc)))
    assert decision.reason == policy.Reason.DOOR_NOT_ALLOWED
