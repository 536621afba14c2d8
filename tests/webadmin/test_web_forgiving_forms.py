"""Forms that forgive (issue 15 item 5), against the real door daemon: a reload never repeats a change, a
destructive action needs its confirmation (enforced by the server), schedules are edited and groups renamed
in place and the door follows at once, times are typed as 24-hour text.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from web_support import get, login, new_client, post, real_daemon_web

from tests.controller.daemon_harness import DaemonRunner, events, fast_config, last_event_id, wait_event, wait_for

PIN_ON_PAGE = re.compile(r'aria-label="PIN digits">(\d+)<')
AGREEMENT = "2020-01-02"


@pytest.fixture
def system(mock_factory: Any) -> Iterator[tuple[Any, DaemonRunner]]:
    yield from real_daemon_web(fast_config())


@pytest.fixture
def admin(system: Any) -> Any:
    client = new_client(system[0])
    assert login(client).status_code == 303
    return client


def _count(runner: DaemonRunner, table: str) -> int:
    conn = sqlite3.connect(f"file:{runner.datadir.db_file}?mode=ro", uri=True)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # table names from the tests only
    finally:
        conn.close()


def _admin_events(runner: DaemonRunner, after: int = 0) -> list[str]:
    return [e["type"] for e in events(runner.datadir, after) if e["type"].startswith("admin.")
            and e["type"] not in ("admin.login", "admin.logout")]


def _change(runner: DaemonRunner, op: str, **params: Any) -> dict[str, Any]:
    return runner.call("admin", op=op, params=params)


def _text(response: Any) -> str:
    return response.get_data(as_text=True)


# --- post/redirect/get: the PIN page ---------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "form", "table"), [
    ("/people/new", {"name": "Rina Hartono", "agreement_signed_on": AGREEMENT}, "users"),
    ("/visitors/new", {"name": "Budi", "length": "2", "unit": "hours"}, "users"),
])
def test_reloading_the_pin_page_adds_nobody_and_the_pin_is_shown_exactly_once(
        system: Any, admin: Any, path: str, form: dict[str, str], table: str) -> None:
    _app, runner = system
    before = _count(runner, table)
    r = post(admin, path, form)
    assert r.status_code == 303, _text(r)[-600:]
    pages = [get(admin, r.headers["Location"]) for _ in range(3)]  # the page, then two reloads
    assert _count(runner, table) == before + 1
    shown = [PIN_ON_PAGE.findall(_text(p)) for p in pages]
    assert len(shown[0]) == 1 and shown[1:] == [[], []]
    assert [p.status_code for p in pages] == [200, 410, 410]
    assert "Nothing was changed" in _text(pages[1])


def test_every_successful_post_of_these_pages_answers_with_a_redirect(system: Any, admin: Any) -> None:
    """A reload after any of these changes repeats nothing: each answers 303 to a GET page."""
    _app, runner = system
    _change(runner, "schedule.add", name="Office", windows=[[0, 480, 1020]], allow_on_holidays=False)
    steps = [
        ("/groups/new", {"name": "Crew", "schedule": "Office"}),
        ("/groups/schedule", {"name": "Crew", "schedule": ""}),
        ("/groups/rules", {"name": "Crew", "required_mode": ""}),
        ("/groups/rename", {"name": "Crew", "new_name": "Team"}),
        ("/schedules/new", {"name": "Late", "start_1_0": "18:00", "end_1_0": "24:00"}),
        ("/schedules/edit", {"original": "Late", "name": "Later", "start_1_0": "19:00", "end_1_0": "24:00"}),
        ("/holidays/new", {"day": "2026-12-25", "name": "Christmas"}),
        ("/holidays/delete", {"day": "2026-12-25", "confirm": "yes"}),
        ("/schedules/delete", {"name": "Later", "confirm": "yes"}),
        ("/groups/delete", {"name": "Team", "confirm": "yes"}),
    ]
    for path, form in steps:
        r = post(admin, path, form)
        assert r.status_code == 303 and not r.headers["Location"].endswith(path), (path, _text(r)[-400:])


# --- confirmations ---------------------------------------------------------------------------------------------


def _person(runner: DaemonRunner, group: str | None = None) -> tuple[str, str]:
    result = _change(runner, "user.add", name="Rina Hartono", agreement_signed_on=AGREEMENT, group=group)
    return result["code"], result["pin"]


def test_deletions_without_confirmation_change_nothing_and_with_it_work(system: Any, admin: Any) -> None:
    _app, runner = system
    _change(runner, "schedule.add", name="Office", windows=[[0, 480, 1020]], allow_on_holidays=False)
    _change(runner, "group.add", name="Crew")
    _change(runner, "holiday.add", day="2026-12-25", name="Christmas")
    cases = [  # confirmation page, posted form, what the page must say, table that shrinks on confirmation
        ("/holidays/delete?day=2026-12-25", "/holidays/delete", {"day": "2026-12-25"},
         "1 schedule(s) that deny entry on holidays will open at their usual times again: Office", "holidays"),
        ("/schedules/delete?name=Office", "/schedules/delete", {"name": "Office"},
         "This deletes the schedule &#39;Office&#39;: Monday 08:00–17:00", "schedules"),
        ("/groups/delete?name=Crew", "/groups/delete", {"name": "Crew"},
         "This deletes the access group &#39;Crew&#39;", "access_groups"),
    ]
    for page, path, form, says, table in cases:
        confirm = get(admin, page)
        assert confirm.status_code == 200 and says in _text(confirm), _text(confirm)[-800:]
        assert 'name="confirm" value="yes"' in _text(confirm)
        before, mark = _count(runner, table), last_event_id(runner.datadir)
        r = post(admin, path, form)  # the old button: no confirmation
        assert r.status_code == 303 and r.headers["Location"].endswith(page.replace(" ", "+"))
        assert "Nothing was deleted" in _text(get(admin, r.headers["Location"]))
        assert _count(runner, table) == before and _admin_events(runner, mark) == []
        r = post(admin, path, {**form, "confirm": "yes"})
        assert r.status_code == 303 and _count(runner, table) == before - 1
    assert _admin_events(runner)[-3:] == ["admin.holiday_deleted", "admin.schedule_deleted", "admin.group_deleted"]


def test_the_confirmation_says_why_a_schedule_or_group_in_use_cannot_be_deleted(system: Any, admin: Any) -> None:
    _app, runner = system
    _change(runner, "schedule.add", name="Office", windows=[[0, 480, 1020]], allow_on_holidays=False)
    for name in ("A", "B", "C"):
        _change(runner, "group.add", name=name, schedule="Office")
    _person(runner, group="A")
    page = _text(get(admin, "/schedules/delete?name=Office"))
    assert "3 group(s) use it (A, B, C)" in page and 'name="confirm"' not in page
    page = _text(get(admin, "/groups/delete?name=A"))
    assert "1 person(s) belong to it" in page and 'name="confirm"' not in page
    r = post(admin, "/schedules/delete", {"name": "Office", "confirm": "yes"})  # the server refuses it anyway
    assert r.status_code == 400 and "3 group(s) still use this schedule" in _text(r)
    assert _count(runner, "schedules") == 1


def test_reset_pin_needs_its_confirmation(system: Any, admin: Any) -> None:
    _app, runner = system
    code, old_pin = _person(runner)
    page = get(admin, f"/people/{code}/reset-pin")
    assert f"This draws a new PIN for {code} (Rina Hartono)" in _text(page)
    assert "Their current PIN stops working at once" in _text(page)
    mark = last_event_id(runner.datadir)
    r = post(admin, f"/people/{code}/reset-pin")
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/people/{code}/reset-pin")
    assert _admin_events(runner, mark) == []
    runner.press(old_pin + "#")  # the PIN they have still opens
    wait_event(runner.datadir, "access.granted", mark, user=code)
    r = post(admin, f"/people/{code}/reset-pin", {"confirm": "yes"})
    assert r.status_code == 303
    new_pin = PIN_ON_PAGE.search(_text(get(admin, r.headers["Location"]))).group(1)
    assert _admin_events(runner, mark) == ["admin.pin_reset"]
    mark = last_event_id(runner.datadir)
    runner.press(new_pin + "#")
    wait_event(runner.datadir, "access.granted", mark, user=code)


# --- editing a schedule, renaming a group: the door follows -------------------------------------------------


def _hh_mm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _press_and_wait(runner: DaemonRunner, pin: str, code: str) -> dict[str, Any]:
    """Type ``pin`` at the door and return the daemon's decision for ``code`` (granted or denied)."""
    mark = last_event_id(runner.datadir)
    runner.press(pin + "#")
    return wait_for(lambda: [e for e in events(runner.datadir, mark)
                             if e["type"] in ("access.granted", "access.denied") and e["user"] == code],
                    what=f"a decision for {code}")[0]


def test_an_edited_schedule_and_a_renamed_group_take_effect_at_the_door(system: Any, admin: Any) -> None:
    _app, runner = system
    today = datetime.now(ZoneInfo(runner.config.site.timezone)).weekday()
    other = (today + 3) % 7  # neither today nor tomorrow (a test running across midnight still holds)
    r = post(admin, "/schedules/new", {"name": "Office", f"start_{other}_0": "00:00", f"end_{other}_0": "24:00"})
    assert r.status_code == 303, _text(r)[-600:]
    assert post(admin, "/groups/new", {"name": "Crew", "schedule": "Office"}).status_code == 303
    code, pin = _person(runner, group="Crew")
    decision = _press_and_wait(runner, pin, code)
    assert (decision["type"], decision["reason"]) == ("access.denied", "outside_schedule")

    edit = _text(get(admin, "/schedules/edit?name=Office"))  # the form holds the stored 24-hour times
    assert f'name="start_{other}_0"' in edit and 'value="24:00"' in edit and 'value="Office"' in edit
    tomorrow = (today + 1) % 7
    r = post(admin, "/schedules/edit", {"original": "Office", "name": "Office",
                                        f"start_{today}_0": "00:00", f"end_{today}_0": "24:00",
                                        f"start_{tomorrow}_0": "00:00", f"end_{tomorrow}_0": "24:00"})
    assert r.status_code == 303, _text(r)[-600:]
    updated = [e for e in events(runner.datadir) if e["type"] == "admin.schedule_updated"]
    assert updated[-1]["detail"]["windows"] == sorted([[today, 0, 1440], [tomorrow, 0, 1440]])
    assert _press_and_wait(runner, pin, code)["type"] == "access.granted"

    r = post(admin, "/groups/rename", {"name": "Crew", "new_name": "Night crew"})
    assert r.status_code == 303, _text(r)[-600:]
    assert "Night crew" in _text(get(admin, "/groups"))
    rename = [e for e in events(runner.datadir) if e["type"] == "admin.group_updated"][-1]
    assert rename["detail"] == {"group": "Night crew", "renamed_from": "Crew"} and rename["seq"] is not None
    assert _press_and_wait(runner, pin, code)["type"] == "access.granted"  # still in the (renamed) group

    r = post(admin, "/schedules/edit", {"original": "Office", "name": "Office",
                                        f"start_{other}_0": "00:00", f"end_{other}_0": "24:00"})
    assert r.status_code == 303
    assert _press_and_wait(runner, pin, code)["reason"] == "outside_schedule"


@pytest.mark.parametrize(("form", "message"), [
    ({"name": "Late"}, "Give at least one time window."),
    ({"name": "Office", "start_0_0": "17:00", "end_0_0": "08:00"}, "Monday: the end time must be after the start time."),
    ({"name": "Office", "start_0_0": "8am", "end_0_0": "17:00"}, "Monday start must be a time like 08:30."),
    ({"name": "Office", "start_0_0": "24:00", "end_0_0": "24:00"}, "Monday start must be a time like 08:30."),
    ({"name": "Late", "start_0_0": "08:00", "end_0_0": "17:00"}, "A schedule with that name already exists."),
    ({"name": "", "start_0_0": "08:00", "end_0_0": "17:00"}, "Schedule name is required."),
])
def test_a_bad_schedule_edit_says_why_and_changes_nothing(system: Any, admin: Any, form: dict[str, str],
                                                        message: str) -> None:
    _app, runner = system
    _change(runner, "schedule.add", name="Office", windows=[[0, 480, 1020]], allow_on_holidays=False)
    _change(runner, "schedule.add", name="Late", windows=[[0, 1080, 1440]], allow_on_holidays=False)
    mark = last_event_id(runner.datadir)
    r = post(admin, "/schedules/edit", {"original": "Office", **form})
    assert r.status_code == 400 and message in _text(r), _text(r)[-800:]
    assert "Edit schedule 'Office'" in _text(r)  # the edit form again, with what was typed
    assert _admin_events(runner, mark) == []
    listing = _text(get(admin, "/schedules"))
    assert "Monday 08:00–17:00" in listing and "Monday 18:00–24:00" in listing


@pytest.mark.parametrize(("new_name", "message"), [
    ("Day", "An access group with that name already exists."),
    ("Night", "The new group name is the same as the old one."),
    ("", "New name is required."),
    ("a" * 81, "New name is too long"),
])
def test_a_bad_group_rename_says_why_and_changes_nothing(system: Any, admin: Any, new_name: str, message: str) -> None:
    _app, runner = system
    _change(runner, "group.add", name="Night")
    _change(runner, "group.add", name="Day")
    mark = last_event_id(runner.datadir)
    r = post(admin, "/groups/rename", {"name": "Night", "new_name": new_name})
    assert r.status_code == 400 and message in _text(r), _text(r)[-800:]
    assert _admin_events(runner, mark) == []
    conn = sqlite3.connect(f"file:{runner.datadir.db_file}?mode=ro", uri=True)
    try:
        assert [n for (n,) in conn.execute("SELECT name FROM access_groups ORDER BY name")] == ["Day", "Night"]
    finally:
        conn.close()


# --- one 24-hour time control -----------------------------------------------------------------------------------


def test_the_schedule_form_has_one_24_hour_text_control_for_every_time(system: Any, admin: Any) -> None:
    _app, runner = system
    _change(runner, "schedule.add", name="Office", windows=[[0, 480, 1050]], allow_on_holidays=False)
    for path in ("/schedules", "/schedules/edit?name=Office"):
        page = _text(get(admin, path))
        boxes = re.findall(r'<input id="f-(?:start|end)-\d-\d"[^>]*>', page)
        assert len(boxes) == 7 * 2 * 2, path
        assert 'type="time"' not in page
        assert all('type="text"' in b and 'inputmode="numeric"' in b and 'placeholder="' in b for b in boxes)
        starts = [b for b in boxes if "f-start" in b]
        assert all('pattern="([01][0-9]|2[0-3]):[0-5][0-9]"' in b for b in starts)
        assert all('pattern="([01][0-9]|2[0-3]):[0-5][0-9]|24:00"' in b for b in boxes if "f-end" in b)
    edit = _text(get(admin, "/schedules/edit?name=Office"))
    assert 'name="start_0_0" type="text"' in edit and 'value="17:30"' in edit and 'value="08:00"' in edit
