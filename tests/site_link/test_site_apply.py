"""A batch of the site feed applied to a real door database built by the migrations: what a controller then
knows of the site's people, groups, schedules, holidays and door modes, and what it refuses."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from controller.core.vocabulary import EventType
from controller.errors import InvalidInput
from controller.store import hotpath, site_apply
from controller.store.audit import seal_as_written
from controller.store.audit_verify import verify
from controller.store.db import make_engine, session_factory, upgrade_database
from controller.store.models import (
    AccessGroup,
    Door,
    Event,
    GroupDoor,
    Holiday,
    PinCredential,
    Schedule,
    SiteSync,
    User,
)
from controller.store.pins import pin_digest

KEY = bytes(range(32, 64))
PEPPER = bytes(range(32))
NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
DOORS = ("main", "vault")


@pytest.fixture
def session(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'kunci.db'}")
    upgrade_database(engine)
    s = session_factory(engine)()
    seal_as_written(s, KEY)  # as in the daemon: the admin.site_sync event is sealed as it is written
    yield s
    s.close()
    engine.dispose()


def _row(revision: int, op: str, key: str, **payload) -> dict:
    return {"revision": revision, "op": op, "key": key, "payload": payload}


def _person(revision: int, code: str, group: str | None = "vault-staff", *, status: str = "active",
            pin: str | None = "482913", **more) -> dict:
    digest = pin_digest(PEPPER, pin).hex() if pin else None
    return _row(revision, "person", code, code=code, status=status, kind="staff", valid_from=None,
                valid_until=None, group=group, pin_digest=digest, **more)


def _group(revision: int, name: str, doors: list[str], schedule: str | None = None, **more) -> dict:
    return _row(revision, "group", name, name=name, schedule=schedule, required_mode=None, two_person=False,
                doors=doors, **more)


def _apply(session, rows: list[dict], revision: int | None = None) -> site_apply.Applied:
    revision = revision if revision is not None else (rows[-1]["revision"] if rows else 0)
    applied = site_apply.apply_batch(session, rows, revision, DOORS, NOW)
    session.commit()
    return applied


def _sync_events(session) -> list[dict]:
    return [json.loads(e.detail) for e in session.scalars(
        select(Event).where(Event.type == EventType.ADMIN_SITE_SYNC).order_by(Event.seq))]


def test_a_site_person_reaches_only_the_doors_of_their_group(session) -> None:
    applied = _apply(session, [
        _row(3, "schedule", "office", name="office", allow_on_holidays=False, windows=[[0, 480, 1080]]),
        _group(4, "vault-staff", ["vault"], schedule="office"),
        _person(5, "U0100"),
    ])
    assert (applied.before, applied.after, applied.changes) == (0, 5, 3)
    user = session.scalar(select(User).where(User.code == "U0100"))
    assert user.origin == "site" and user.display_name is None and user.status == "active"
    person = hotpath.person_by_digest(session, pin_digest(PEPPER, "482913"))
    assert person is not None and person.code == "U0100"
    group = session.scalar(select(AccessGroup).where(AccessGroup.name == "vault-staff"))
    assert group.schedule.name == "office" and [w.start_minute for w in group.schedule.windows] == [480]
    assert session.scalars(select(GroupDoor.door).where(GroupDoor.group_id == group.id)).all() == ["vault"]
    assert session.get(SiteSync, 1).revision == 5
    assert _sync_events(session) == [{"from": 0, "to": 5, "changes": 3}]
    assert verify(session, KEY).ok  # the sync event is sealed in the chain like any other


def test_a_batch_applied_twice_changes_nothing_the_second_time(session) -> None:
    rows = [_group(1, "vault-staff", ["vault"]), _person(2, "U0100")]
    _apply(session, rows)
    again = _apply(session, rows)
    assert (again.before, again.after, again.changes) == (2, 2, 0)
    assert len(_sync_events(session)) == 1
    # an overlapping batch applies only what is new
    more = _apply(session, [*rows, _person(7, "U0100", status="revoked")])
    assert (more.before, more.after, more.changes) == (2, 7, 1)
    assert session.scalar(select(User.status).where(User.code == "U0100")) == "revoked"


def test_revocation_removal_and_group_change(session) -> None:
    _apply(session, [_group(1, "vault-staff", ["vault"]), _group(2, "all", ["main", "vault"]),
                     _person(3, "U0100"), _person(4, "U0101", group="all", pin="771204")])
    _apply(session, [_person(5, "U0100", status="suspended", pin=None), _row(6, "person.remove", "U0101")])
    user = session.scalar(select(User).where(User.code == "U0100"))
    assert user.status == "suspended"
    assert session.scalar(select(PinCredential).where(PinCredential.user_id == user.id)) is None
    assert session.scalar(select(User).where(User.code == "U0101")) is None
    assert hotpath.person_by_digest(session, pin_digest(PEPPER, "771204")) is None


def test_doors_of_other_controllers_are_ignored_and_a_group_with_none_here_grants_nothing(session) -> None:
    applied = _apply(session, [_group(1, "mixed", ["vault", "lobby"]), _group(2, "elsewhere", ["lobby"])])
    doors = {g.name: sorted(session.scalars(select(GroupDoor.door).where(GroupDoor.group_id == g.id)))
             for g in session.scalars(select(AccessGroup))}
    assert doors == {"mixed": ["vault"], "elsewhere": [site_apply.NO_DOOR]}
    assert applied.detail()["ignored_doors"] == ["lobby"]


def test_a_local_person_with_the_same_code_is_left_alone(session) -> None:
    session.add(User(code="U0100", status="active", display_name="Local Ann"))
    session.commit()
    applied = _apply(session, [_group(1, "vault-staff", ["vault"]), _person(2, "U0100", status="revoked")])
    user = session.scalar(select(User).where(User.code == "U0100"))
    assert (user.origin, user.status, user.display_name) == ("local", "active", "Local Ann")
    assert applied.conflicts == ["U0100"] and _sync_events(session)[0]["conflicts"] == ["U0100"]


def test_schedules_holidays_and_door_modes(session) -> None:
    _apply(session, [
        _row(1, "schedule", "office", name="office", allow_on_holidays=True, windows=[[0, 480, 1080]]),
        _group(2, "day", ["main"], schedule="office"),
        _row(3, "holiday", "2026-12-25", day="2026-12-25", name=""),
        _row(4, "door", "vault", name="vault", mode="pin_and_finger"),
        _row(5, "door", "lobby", name="lobby", mode="pin"),
    ])
    assert session.scalar(select(Holiday.day)) == date(2026, 12, 25)
    assert session.scalar(select(Door.mode).where(Door.name == "vault")) == "pin_and_finger"
    assert session.scalar(select(Door).where(Door.name == "lobby")) is None
    # a schedule removed while a group here uses it keeps no window (never open) instead of "any time"
    _apply(session, [_row(6, "schedule.remove", "office"), _row(7, "holiday.remove", "2026-12-25")])
    office = session.scalar(select(Schedule).where(Schedule.name == "office"))
    assert office is not None and office.windows == []
    assert session.scalar(select(Holiday)) is None
    _apply(session, [_row(8, "group.remove", "day"), _row(9, "schedule.remove", "office")])
    assert session.scalar(select(Schedule)) is None and session.scalar(select(AccessGroup)) is None


def test_removing_a_group_removes_its_site_people(session) -> None:
    _apply(session, [_group(1, "vault-staff", ["vault"]), _person(2, "U0100")])
    _apply(session, [_row(3, "group.remove", "vault-staff")])
    assert session.scalar(select(User)) is None and session.scalar(select(GroupDoor)) is None


@pytest.mark.parametrize("bad, needle", [
    ([{"revision": 1, "op": "person"}], "key must be text"),
    ([_row(1, "people", "U0100")], "unknown operation"),
    ([_person(1, "U0100", group=None, status="gone")], "bad status"),
    ([_person(1, "bad-code", group=None)], "bad key"),
    ([_row(1, "person", "U0100", code="U0100", status="active", group=None, pin_digest="zz")], "bad pin_digest"),
    ([_group(2, "g", ["main"]), _group(1, "h", ["main"])], "revisions must increase"),
    ([_row(1, "schedule", "s", name="s", windows=[[7, 0, 60]])], "bad windows"),
    ([_row(1, "holiday", "2026-13-01", day="2026-13-01")], "bad key"),
    ([_person(1, "U0100", group="nobody")], "group 'nobody' is not known here"),
    ([_person(1, "U0100", group=None)], "bad group"),  # without a group a person would open every door
    ([_group(1, "g", ["main"], schedule="never")], "schedule 'never' is not known here"),
])
def test_a_malformed_batch_changes_nothing(session, bad: list[dict], needle: str) -> None:
    good = [_group(1, "vault-staff", ["vault"])]
    _apply(session, good)
    shifted = [{**row, "revision": row.get("revision", 0) + 10} for row in bad]
    with pytest.raises(InvalidInput) as caught:
        site_apply.apply_batch(session, shifted, 20, DOORS, NOW)
    session.rollback()
    assert needle in str(caught.value)
    assert session.get(SiteSync, 1).revision == 1 and len(_sync_events(session)) == 1
    assert session.scalar(select(User)) is None


def test_a_revision_below_the_last_row_is_refused(session) -> None:
    with pytest.raises(InvalidInput, match="at least its last row's"):
        site_apply.apply_batch(session, [_group(5, "g", ["main"])], 4, DOORS, NOW)
