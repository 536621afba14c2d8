"""Groups, schedules, holidays, staff accounts, audit status and settings pages."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select

from controller.store import audit, people, schedules, staff
from controller.config import SensorConfig
from controller.store.db import session_factory
from controller.store.models import AccessGroup, AdminAccount, Event, Holiday, Schedule

from web_support import AUDITOR, PASSWORD, events, get, login, new_client, post

KEY = bytes(32)


def _all(engine: Any, model: Any) -> list[Any]:
    with session_factory(engine)() as db:
        rows = list(db.scalars(select(model)))
        for row in rows:
            for rel in ("windows", "schedule"):
                getattr(row, rel, None)
        return rows


# --- groups --------------------------------------------------------------------------------------------


def test_groups_add_bind_schedule_delete(admin: Any, engine: Any) -> None:
    with session_factory(engine)() as db:
        schedules.add_schedule(db, "Office hours", [(0, 480, 1020)], actor="cli")
        db.commit()
    assert post(admin, "/groups/new", {"name": "Archivists", "schedule": "Office hours"}).status_code == 303
    (group,) = _all(engine, AccessGroup)
    assert group.name == "Archivists" and group.schedule.name == "Office hours"
    post(admin, "/groups/schedule", {"name": "Archivists", "schedule": ""})
    assert _all(engine, AccessGroup)[0].schedule is None
    page = get(admin, "/groups").get_data(as_text=True)
    assert "Archivists" in page and "any time" in page
    post(admin, "/groups/delete", {"name": "Archivists", "confirm": "yes"})
    assert _all(engine, AccessGroup) == []
    assert [e.type for e in events(engine, "admin.group")] == ["admin.group_added", "admin.group_updated", "admin.group_deleted"]


def test_group_rules_from_the_groups_page(admin: Any, engine: Any) -> None:
    assert post(admin, "/groups/new", {"name": "Vault", "schedule": ""}).status_code == 303
    r = post(admin, "/groups/rules", {"name": "Vault", "required_mode": "pin_and_finger", "two_person": "yes"})
    assert r.status_code == 303
    (group,) = _all(engine, AccessGroup)
    assert (group.required_mode, group.two_person) == ("pin_and_finger", True)
    page = get(admin, "/groups").get_data(as_text=True)
    assert "PIN and fingerprint of the same person" in page
    bad = post(admin, "/groups/rules", {"name": "Vault", "required_mode": "open_sesame"})
    assert bad.status_code == 400 and "must be one of" in bad.get_data(as_text=True)
    post(admin, "/groups/rules", {"name": "Vault", "required_mode": ""})
    group = _all(engine, AccessGroup)[0]
    assert (group.required_mode, group.two_person) == (None, False)
    updates = [e for e in events(engine, "admin.group") if e.type == "admin.group_updated"]
    assert len(updates) == 2


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": ""}, "Group name is required"),
        ({"name": "<b>x</b>"}, "must not contain"),
        ({"name": "A\nB"}, "control characters"),
        ({"name": "x" * 81}, "too long"),
        ({"name": "Night", "schedule": "missing"}, "No schedule with that name"),
    ],
)
def test_group_refusals(admin: Any, engine: Any, form: dict[str, str], message: str) -> None:
    r = post(admin, "/groups/new", form)
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert _all(engine, AccessGroup) == []


def test_group_with_members_cannot_be_deleted(admin: Any, engine: Any) -> None:
    with session_factory(engine)() as db:
        schedules.add_group(db, "Day", actor="cli")
        people.add_user(db, name=None, agreement_signed_on=date(2026, 1, 1), group="Day", actor="cli")
        db.commit()
    r = post(admin, "/groups/delete", {"name": "Day", "confirm": "yes"})
    assert r.status_code == 400 and "still has 1 member" in r.get_data(as_text=True)


def test_group_names_render_inert(admin: Any, engine: Any) -> None:
    post(admin, "/groups/new", {"name": '{{7*7}} " onmouseover="x'})
    page = get(admin, "/groups").get_data(as_text=True)
    assert "{{7*7}} &#34; onmouseover=&#34;x" in page and 'onmouseover="x' not in page


# --- schedules -----------------------------------------------------------------------------------------


def test_schedule_add_with_windows_and_delete(admin: Any, engine: Any) -> None:
    r = post(admin, "/schedules/new", {
        "name": "Weekdays", "start_0_0": "08:00", "end_0_0": "12:00", "start_0_1": "13:00", "end_0_1": "17:30",
        "start_4_0": "08:00", "end_4_0": "24:00", "allow_on_holidays": "on",
    })
    assert r.status_code == 303
    (sched,) = _all(engine, Schedule)
    assert sorted((w.weekday, w.start_minute, w.end_minute) for w in sched.windows) == [
        (0, 480, 720), (0, 780, 1050), (4, 480, 1440)]
    assert sched.allow_on_holidays
    page = get(admin, "/schedules").get_data(as_text=True)
    assert "Monday 08:00–12:00" in page and "Friday 08:00–24:00" in page
    post(admin, "/schedules/delete", {"name": "Weekdays", "confirm": "yes"})
    assert _all(engine, Schedule) == []


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"name": "S"}, "at least one time window"),
        ({"name": "S", "start_1_0": "25:00", "end_1_0": "26:00"}, "Tuesday start must be a time"),
        ({"name": "S", "start_1_0": "10:00", "end_1_0": "09:00"}, "end time must be after"),
        ({"name": "S", "start_1_0": "10:00"}, "Tuesday end must be a time"),
        ({"name": "", "start_1_0": "10:00", "end_1_0": "11:00"}, "Schedule name is required"),
    ],
)
def test_schedule_refusals(admin: Any, engine: Any, form: dict[str, str], message: str) -> None:
    r = post(admin, "/schedules/new", form)
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert _all(engine, Schedule) == []


def test_schedule_in_use_cannot_be_deleted(admin: Any, engine: Any) -> None:
    with session_factory(engine)() as db:
        schedules.add_schedule(db, "Nights", [(1, 0, 360)], actor="cli")
        schedules.add_group(db, "Guards", schedule="Nights", actor="cli")
        db.commit()
    r = post(admin, "/schedules/delete", {"name": "Nights", "confirm": "yes"})
    assert r.status_code == 400 and "still use this schedule" in r.get_data(as_text=True)


# --- holidays ------------------------------------------------------------------------------------------


def test_holidays(admin: Any, engine: Any) -> None:
    assert post(admin, "/holidays/new", {"day": "2026-12-25", "name": "Christmas"}).status_code == 303
    assert [(h.day, h.name) for h in _all(engine, Holiday)] == [(date(2026, 12, 25), "Christmas")]
    r = post(admin, "/holidays/new", {"day": "2026-12-25", "name": "Again"})
    assert r.status_code == 400 and "already a holiday" in r.get_data(as_text=True)
    r = post(admin, "/holidays/new", {"day": "25/12/2026", "name": "X"})
    assert r.status_code == 400 and "must be a date" in r.get_data(as_text=True)
    assert "Christmas" in get(admin, "/holidays").get_data(as_text=True)
    post(admin, "/holidays/delete", {"day": "2026-12-25", "confirm": "yes"})
    assert _all(engine, Holiday) == []
    r = post(admin, "/holidays/delete", {"day": "2026-12-26", "confirm": "yes"})
    assert r.status_code == 400 and "not a holiday" in r.get_data(as_text=True)


# --- staff accounts ------------------------------------------------------------------------------------


def _account(engine: Any, username: str) -> AdminAccount | None:
    with session_factory(engine)() as db:
        return staff.get_account_or_none(db, username)


ME = {"current_password": PASSWORD}


def test_add_account_and_log_in(app: Any, admin: Any, engine: Any) -> None:
    r = post(admin, "/staff/new", {"username": "dora", "role": "auditor", "password": PASSWORD,
                                   "confirm_password": PASSWORD, **ME})
    assert r.status_code == 303
    assert _account(engine, "dora").role == "auditor"
    assert login(new_client(app), "dora", PASSWORD).status_code == 303
    assert events(engine, "admin.account_added")[-1].actor == "alice"


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"username": "dora", "role": "admin", "password": "short", "confirm_password": "short"}, "at least 12 characters"),
        ({"username": "dora", "role": "admin", "password": "password1234", "confirm_password": "password1234"}, "common passwords"),
        ({"username": "Dora Smith", "role": "admin", "password": PASSWORD, "confirm_password": PASSWORD}, "A username must be"),
        ({"username": "dora", "role": "root", "password": PASSWORD, "confirm_password": PASSWORD}, "Role must be one of"),
        ({"username": "dora", "role": "admin", "password": PASSWORD, "confirm_password": "other"}, "differ"),
        ({"username": "alice", "role": "admin", "password": PASSWORD, "confirm_password": PASSWORD}, "already exists"),
    ],
)
def test_add_account_refusals(admin: Any, engine: Any, form: dict[str, str], message: str) -> None:
    r = post(admin, "/staff/new", {**form, **ME})
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert _account(engine, "dora") is None
    assert PASSWORD not in r.get_data(as_text=True)


@pytest.mark.parametrize("current", [None, "", "not my password at all"])
def test_adding_an_admin_needs_the_admins_own_password(admin: Any, engine: Any, current: str | None) -> None:
    form = {"username": "dora", "role": "admin", "password": PASSWORD, "confirm_password": PASSWORD}
    if current is not None:
        form["current_password"] = current
    r = post(admin, "/staff/new", form)
    assert r.status_code == 400 and "Your own password is wrong" in r.get_data(as_text=True)
    assert _account(engine, "dora") is None


def test_changing_a_role_needs_the_admins_own_password(admin: Any, engine: Any) -> None:
    r = post(admin, f"/staff/{AUDITOR}/role", {"role": "admin", "current_password": "not my password at all"})
    assert r.status_code == 400 and "Your own password is wrong" in r.get_data(as_text=True)
    assert _account(engine, AUDITOR).role == "auditor"
    failed = events(engine, "admin.password_check_failed")
    assert [(e.actor, "staff.role" in e.detail) for e in failed] == [("alice", True)]
    assert post(admin, f"/staff/{AUDITOR}/role", {"role": "admin", **ME}).status_code == 303
    assert _account(engine, AUDITOR).role == "admin"
    assert events(engine, "admin.role_changed")[-1].actor == "alice"


def test_re_authentication_guesses_are_throttled_per_address(app: Any, admin: Any, engine: Any) -> None:
    from webadmin.security import AddressLimiter

    app.extensions["kunci"].login_limiter = AddressLimiter(max_failures=3, window_seconds=600)
    for _ in range(3):
        r = post(admin, f"/staff/{AUDITOR}/role", {"role": "admin", "current_password": "a wrong guess 12345"})
        assert r.status_code == 400
    r = post(admin, f"/staff/{AUDITOR}/role", {"role": "admin", **ME})
    assert r.status_code == 429 and "Too many failed password attempts" in r.get_data(as_text=True)
    assert _account(engine, AUDITOR).role == "auditor", "even the right password waits"


def test_admin_cannot_demote_or_disable_self(admin: Any, engine: Any) -> None:
    r = post(admin, "/staff/alice/role", {"role": "auditor", **ME})
    assert "cannot change your own role" in get(admin, r.headers["Location"]).get_data(as_text=True)
    post(admin, "/staff/alice/disable")
    account = _account(engine, "alice")
    assert account.role == "admin" and account.active


def test_disable_enable_unlocks(app: Any, admin: Any, engine: Any) -> None:
    store = app.extensions["kunci"].web_store
    for _ in range(10):
        login(new_client(app), AUDITOR, "wrong password but long")
    assert store.locked_until(AUDITOR) is not None
    assert "locked until" in get(admin, "/staff").get_data(as_text=True)
    post(admin, f"/staff/{AUDITOR}/disable")
    assert not _account(engine, AUDITOR).active
    assert "disabled" in get(admin, "/staff").get_data(as_text=True)
    post(admin, f"/staff/{AUDITOR}/enable")
    assert _account(engine, AUDITOR).active and store.locked_until(AUDITOR) is None
    assert login(new_client(app), AUDITOR, PASSWORD).status_code == 303
    assert [e.actor for e in events(engine, "admin.account_")][-2:] == ["alice", "alice"]


def test_end_sessions_of_another_account(admin: Any, auditor: Any, engine: Any) -> None:
    assert get(auditor, "/log").status_code == 200
    post(admin, f"/staff/{AUDITOR}/logout")
    assert get(auditor, "/log").status_code == 303
    ended = events(engine, "admin.sessions_ended")
    assert ended and ended[-1].actor == "alice" and AUDITOR in ended[-1].detail


def test_unknown_account_is_404(admin: Any) -> None:
    assert post(admin, "/staff/nobody/role", {"role": "admin", **ME}).status_code == 404
    assert post(admin, "/staff/NOT VALID/disable").status_code == 404


# --- audit ---------------------------------------------------------------------------------------------


def test_audit_page_shows_head_and_pending(auditor: Any, engine: Any) -> None:
    with session_factory(engine)() as db:
        audit.seal_pending(db, KEY)
        audit.record(db, "door.opened", door="main")
        db.commit()
        seq, mac = audit.head(db)
    page = get(auditor, "/audit").get_data(as_text=True)
    assert f"<code>{seq}</code>" in page and mac in page
    assert f"gap-free (1 to {seq})" in page
    assert "no access to the audit key" in page and "kunci audit verify" in page
    assert "Waiting to be sealed</dt><dd>" in page


def test_audit_page_flags_a_gap(auditor: Any, engine: Any) -> None:
    with session_factory(engine)() as db:
        audit.seal_pending(db, KEY)
        for i in range(3):
            audit.record(db, "door.closed", door="main")
        audit.seal_pending(db, KEY)
        db.commit()
        middle = db.scalars(select(Event).where(Event.seq.is_not(None)).order_by(Event.seq.desc()).offset(1)).first()
        db.delete(middle)
        db.commit()
    page = get(auditor, "/audit").get_data(as_text=True)
    assert "NOT gap-free" in page


def test_audit_page_with_empty_chain(app: Any, daemon: Any) -> None:
    daemon.close()  # so not even the login is logged
    c = new_client(app)
    assert login(c, AUDITOR).status_code == 303
    assert "No event has been sealed yet" in get(c, "/audit").get_data(as_text=True)


# --- settings ------------------------------------------------------------------------------------------


def test_settings_show_effective_values_and_hide_secrets(app: Any, admin: Any) -> None:
    state = app.extensions["kunci"]
    state.config = replace(state.config, sensor=replace(state.config.sensor or SensorConfig(), password=123456789))
    page = get(admin, "/settings").get_data(as_text=True)
    assert "Records room 2" in page and "door.unlock_seconds" in page and "web.session_idle_minutes" in page
    assert "123456789" not in page and "(hidden)" in page
    assert 'class="changed"' in page
