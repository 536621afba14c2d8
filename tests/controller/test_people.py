"""Person service: validation (T6.11, T6.14), agreement policy, codes, status transitions, admin events."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from controller.core import policy

from controller.store import people, schedules
from controller.store.db import make_engine, session_factory, upgrade_database
from controller.errors import InvalidInput, NotFound, PolicyRefused
from controller.store.models import Event, User

SIGNED = date(2026, 1, 5)
TODAY = date(2026, 3, 1)


@pytest.fixture
def session(tmp_path: Path):
    engine = make_engine(f"sqlite:///{tmp_path / 'kunci.db'}")
    upgrade_database(engine)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def add(session, name: str | None = "A. Staff", **kw) -> User:
    kw.setdefault("agreement_signed_on", SIGNED)
    kw.setdefault("actor", "cli")
    kw.setdefault("today", TODAY)
    return people.add_user(session, name=name, **kw)


def admin_events(session) -> list[Event]:
    return list(session.scalars(select(Event).where(Event.type.startswith("admin.")).order_by(Event.id)))


def test_add_user_gets_first_code_and_event_without_name(session) -> None:
    user = add(session, "Siti Rahma")
    session.commit()
    assert user.code == "U0001" and user.status == "active" and user.display_name == "Siti Rahma"
    [ev] = admin_events(session)
    assert (ev.type, ev.user_code, ev.actor, ev.seq) == ("admin.user_added", "U0001", "cli", None)
    assert "Siti" not in (ev.detail or "") and json.loads(ev.detail)["agreement_signed_on"] == "2026-01-05"


def test_add_without_agreement_refused_naming_the_policy(session) -> None:
    with pytest.raises(PolicyRefused, match=r"confidentiality agreement.*site\.require_agreement"):
        add(session, agreement_signed_on=None)
    assert session.scalar(select(func.count()).select_from(User)) == 0
    assert admin_events(session) == []


def test_add_without_agreement_allowed_when_site_does_not_require_it(session) -> None:
    assert add(session, agreement_signed_on=None, require_agreement=False).agreement_signed_on is None


HOSTILE_NAMES = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "\n2025-01-01 GRANT admin",
    "Eve\r\n2025-01-01T00:00:00Z access.granted U0001",
    "\x1b[31mred\x1b[0m",
    "\x1b]0;title\x07",
    "nul\x00byte",
    "tab\there",
    "bidi\u202eevil",
    "line\u2028sep",
    "bad utf-8 \udcff",  # what argv gives for invalid UTF-8 bytes (surrogateescape)
    "x" * 100_000,
    "y" * 121,
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_hostile_names_refused_and_nothing_stored(session, name: str) -> None:
    with pytest.raises(InvalidInput) as info:
        add(session, name)
    message = str(info.value)
    assert "\n" not in message and "\x1b" not in message and len(message) < 200
    assert session.scalar(select(func.count()).select_from(User)) == 0
    assert admin_events(session) == []


@pytest.mark.parametrize(
    "name, stored",
    [("  Ana Lúcia  ", "Ana Lúcia"), ("O'Brien & Sons", "O'Brien & Sons"), ("李小龍", "李小龍"), ("", None),
     (None, None), ("z" * 120, "z" * 120)],
)
def test_ordinary_names_stored(session, name, stored) -> None:
    assert add(session, name).display_name == stored


def test_date_rules(session) -> None:
    with pytest.raises(InvalidInput, match="valid-from"):
        add(session, valid_from=date(2026, 5, 1), valid_until=date(2026, 4, 30))
    with pytest.raises(InvalidInput, match="future"):
        add(session, agreement_signed_on=date(2026, 3, 2))
    user = add(session, valid_from=date(2026, 4, 1), valid_until=date(2026, 4, 1))
    assert user.valid_from == user.valid_until


def test_unknown_group_and_mode_refused(session) -> None:
    with pytest.raises(NotFound):
        add(session, group="Night shift")
    with pytest.raises(InvalidInput, match="door mode"):
        add(session, mode_override="open_sesame")
    assert session.scalar(select(func.count()).select_from(User)) == 0


def test_codes_are_monotonic_and_never_reused(session) -> None:
    codes = [add(session).code for _ in range(3)]
    assert codes == ["U0001", "U0002", "U0003"]
    people.set_status(session, "U0003", "revoked", "cli")
    assert add(session).code == "U0004"
    # Even if the newest row disappeared (e.g. a manual cleanup), the event keeps its code taken.
    session.delete(people.get_user(session, "U0004"))
    session.flush()
    assert add(session).code == "U0005"


def test_code_width_grows_past_9999(session) -> None:
    session.add(User(code="U9999", status="active", agreement_signed_on=SIGNED))
    session.flush()
    assert people.next_code(session) == "U10000"
    add(session)
    assert people.next_code(session) == "U10001"
    assert [u.code for u in people.list_users(session)] == ["U9999", "U10000"]


def test_status_transitions_and_events(session) -> None:
    add(session)
    people.set_status(session, "u0001", "suspended", "alice")
    with pytest.raises(InvalidInput, match="already suspended"):
        people.set_status(session, "U0001", "suspended", "alice")
    people.set_status(session, "U0001", "active", "alice")
    people.set_status(session, "U0001", "revoked", "alice")
    for status in ("active", "suspended"):
        with pytest.raises(PolicyRefused, match="revoked"):
            people.set_status(session, "U0001", status, "alice")
    kinds = [(e.type, e.user_code, e.actor) for e in admin_events(session)]
    assert kinds == [
        ("admin.user_added", "U0001", "cli"),
        ("admin.user_suspended", "U0001", "alice"),
        ("admin.user_resumed", "U0001", "alice"),
        ("admin.user_revoked", "U0001", "alice"),
    ]


def test_resume_needs_agreement(session) -> None:
    add(session, agreement_signed_on=None, require_agreement=False)
    people.set_status(session, "U0001", "suspended", "cli")
    with pytest.raises(PolicyRefused, match="agreement"):
        people.set_status(session, "U0001", "active", "cli")
    assert people.get_user(session, "U0001").status == "suspended"


def test_get_user_not_found_and_bad_code(session) -> None:
    with pytest.raises(NotFound, match="U0042"):
        people.get_user(session, "U0042")
    with pytest.raises(InvalidInput):
        people.get_user(session, "' OR 1=1--")


def test_update_user_records_changed_fields_not_the_name(session) -> None:
    schedules.add_group(session, "Day staff", actor="cli")
    add(session, "Old Name")
    people.update_user(
        session, "U0001", name="New Name", group="Day staff", valid_until=date(2026, 12, 31), actor="alice", today=TODAY
    )
    user = people.get_user(session, "U0001")
    assert (user.display_name, user.group.name, user.valid_until) == ("New Name", "Day staff", date(2026, 12, 31))
    ev = admin_events(session)[-1]
    assert ev.type == "admin.user_updated" and ev.user_code == "U0001"
    detail = json.loads(ev.detail)
    assert detail["changed"] == ["name", "group", "valid_until"]
    assert detail["group"] == "Day staff" and detail["valid_until"] == "2026-12-31"
    assert "Name" not in ev.detail
    # Nothing changed: nothing recorded.
    count = len(admin_events(session))
    people.update_user(session, "U0001", name="New Name", actor="alice")
    assert len(admin_events(session)) == count
    with pytest.raises(PolicyRefused):
        people.update_user(session, "U0001", agreement_signed_on=None, actor="alice")
    with pytest.raises(InvalidInput):
        people.update_user(session, "U0001", name="bad\x1bname", actor="alice")


def test_list_users_search_status_and_keyset_pages(session) -> None:
    for name in ["Ana", "Budi", "Citra", "50% Dewi", "Eko_x"]:
        add(session, name)
    people.set_status(session, "U0002", "suspended", "cli")
    page1 = people.list_users(session, limit=2)
    page2 = people.list_users(session, limit=2, after_code=page1[-1].code)
    page3 = people.list_users(session, limit=2, after_code=page2[-1].code)
    assert [u.code for u in page1 + page2 + page3] == ["U0001", "U0002", "U0003", "U0004", "U0005"]
    assert [u.code for u in people.list_users(session, status="suspended")] == ["U0002"]
    assert [u.code for u in people.list_users(session, search="cit")] == ["U0003"]
    assert [u.code for u in people.list_users(session, search="u000")] == [f"U000{i}" for i in range(1, 6)]
    # LIKE wildcards and SQL are data, not syntax (T6.10).
    assert [u.code for u in people.list_users(session, search="%")] == ["U0004"]
    assert [u.code for u in people.list_users(session, search="_")] == ["U0005"]
    assert people.list_users(session, search="' OR 1=1--") == []
    with pytest.raises(InvalidInput):
        people.list_users(session, status="deleted")


def test_user_summary_name_only_for_admins(session) -> None:
    user = add(session, "Siti")
    assert "name" not in people.user_summary(user, include_name=False)
    summary = people.user_summary(user, include_name=True)
    assert summary["name"] == "Siti" and summary["code"] == "U0001" and summary["has_pin"] is False
    json.dumps(summary)


def test_groups_schedules_holidays_and_subject(session) -> None:
    schedules.add_schedule(session, "Office hours", [(0, 480, 1080), policy.Window(4, 480, 720)], actor="alice")
    schedules.add_group(session, "Day staff", schedule="Office hours", actor="alice")
    schedules.add_holiday(session, date(2026, 12, 25), "Christmas", actor="alice")
    user = add(session, group="Day staff", mode_override="pin_and_finger")
    subject = people.subject_for(user, session)
    assert subject == policy.Subject(
        code="U0001", status="active", valid_from=None, valid_until=None,
        schedule=policy.Schedule(windows=(policy.Window(0, 480, 1080), policy.Window(4, 480, 720))),
        mode_override=policy.DoorMode.PIN_AND_FINGER,
    )
    assert people.subject_for(None) is None
    with pytest.raises(PolicyRefused):
        schedules.delete_group(session, "Day staff", actor="alice")
    with pytest.raises(PolicyRefused):
        schedules.delete_schedule(session, "Office hours", actor="alice")
    schedules.set_group_schedule(session, "Day staff", None, actor="alice")
    assert people.subject_for(user).schedule is None
    schedules.delete_schedule(session, "Office hours", actor="alice")
    schedules.delete_holiday(session, date(2026, 12, 25), actor="alice")
    with pytest.raises(InvalidInput):
        schedules.add_schedule(session, "Bad", [(7, 0, 10)], actor="alice")
    with pytest.raises(InvalidInput):
        schedules.add_schedule(session, "Bad", [(1, 600, 600)], actor="alice")
    with pytest.raises(InvalidInput):
        schedules.add_group(session, "Day staff", actor="alice")
    kinds = [e.type for e in admin_events(session)]
    for kind in ("admin.schedule_added", "admin.group_added", "admin.holiday_added", "admin.group_updated",
                 "admin.schedule_deleted", "admin.holiday_deleted"):
        assert kind in kinds
    assert all(e.actor == "alice" or e.type == "admin.user_added" for e in admin_events(session))


def test_reset_pin_records_event_and_refuses_revoked(session) -> None:
    add(session)
    pepper = b"p" * 32
    pin = people.reset_pin(session, pepper, "U0001", 6, "alice")
    assert len(pin) == 6 and pin.isdigit()
    ev = admin_events(session)[-1]
    assert (ev.type, ev.user_code) == ("admin.pin_issued", "U0001") and pin not in (ev.detail or "")
    second = people.reset_pin(session, pepper, "U0001", 6, "alice")
    ev = admin_events(session)[-1]
    assert (ev.type, ev.user_code) == ("admin.pin_reset", "U0001") and second not in (ev.detail or "")
    people.set_status(session, "U0001", "revoked", "alice")
    with pytest.raises(PolicyRefused):
        people.reset_pin(session, pepper, "U0001", 6, "alice")


def test_people_copied_from_a_site_do_not_move_the_local_codes(session) -> None:
    """A site person (origin 'site', code U100001 and up) leaves the next local code at U0001."""
    session.add(User(code="U100001", status="active", origin="site"))
    session.flush()
    assert add(session, "Local Person").code == "U0001"
