"""Site page schedules and holidays (webadmin/site/views/rules.py) and a group's schedule on the groups page:
add, list, delete through a confirmation; every refusal changes nothing; rooms (site-wide rules: only a login
for every room changes them); the schedule reaches the feed in the group's row."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import text

OFFICE = {"name": "office", "start_0_0": "08:00", "end_0_0": "17:00", "start_2_1": "18:00", "end_2_1": "24:00"}


def lists(seeded: Any) -> tuple[Any, Any, Any]:
    service = seeded.service
    return service.list_schedules(), service.list_holidays(), service.list_groups()


def group_feed(seeded: Any, group: str) -> list[tuple[str, str, dict]]:
    with seeded.db.engine.begin() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT c.name, f.op, f.payload FROM kunci.feed f JOIN kunci.controllers c ON c.id = f.controller_id "
            "WHERE f.key = :k ORDER BY f.revision"), {"k": group}).all()]


def test_an_admin_adds_lists_and_deletes_a_schedule(seeded: Any, login_as: Any) -> None:
    boss = login_as("boss")
    page = boss.get("/rules/").get_data(as_text=True)
    assert "No schedules yet." in page and "No holidays." in page and 'name="start_0_0"' in page
    assert 'href="/rules/"' in boss.get("/people/").get_data(as_text=True)  # in the admin's navigation
    response = boss.post("/rules/schedules/new", {**OFFICE, "allow_on_holidays": "on"}, token_from="/rules/")
    assert response.status_code == 303, response.get_data(as_text=True)
    [office] = seeded.service.list_schedules()
    assert (office.name, office.allow_on_holidays, office.groups) == ("office", True, ())
    assert [(w.weekday, w.start_minute, w.end_minute) for w in office.windows] == [(0, 480, 1020), (2, 1080, 1440)]
    page = boss.get("/rules/").get_data(as_text=True)
    assert "Monday 08:00–17:00, Wednesday 18:00–24:00" in page and "Holidays: allowed" in page
    assert "No group uses it." in page

    confirm = boss.get("/rules/schedules/delete?name=office").get_data(as_text=True)
    assert "Delete schedule &#39;office&#39;?" in confirm and "Monday 08:00–17:00" in confirm
    # without confirm nothing is deleted
    assert boss.post("/rules/schedules/delete", {"name": "office"}, token_from="/rules/").status_code == 303
    assert [s.name for s in seeded.service.list_schedules()] == ["office"]
    assert boss.post("/rules/schedules/delete", {"name": "office", "confirm": "yes"},
                     token_from="/rules/").status_code == 303
    assert seeded.service.list_schedules() == []
    with seeded.db.engine.begin() as conn:
        ops = conn.execute(text("SELECT c.name, f.op FROM kunci.feed f JOIN kunci.controllers c "
                                "ON c.id = f.controller_id WHERE f.key = 'office' ORDER BY f.revision")).all()
    assert sorted(tuple(o) for o in ops) == [("c1", "schedule"), ("c1", "schedule.remove"), ("c2", "schedule"),
                                             ("c2", "schedule.remove")]


def test_an_admin_adds_lists_and_removes_a_holiday(seeded: Any, login_as: Any) -> None:
    boss = login_as("boss")
    assert boss.post("/rules/holidays/new", {"day": "2027-01-01", "name": "New Year"},
                     token_from="/rules/").status_code == 303
    assert [(h.day, h.name) for h in seeded.service.list_holidays()] == [(date(2027, 1, 1), "New Year")]
    page = boss.get("/rules/").get_data(as_text=True)
    assert "2027-01-01" in page and "New Year" in page and "/rules/holidays/delete?day=2027-01-01" in page
    confirm = boss.get("/rules/holidays/delete?day=2027-01-01").get_data(as_text=True)
    assert "Remove the holiday on 2027-01-01?" in confirm
    assert boss.post("/rules/holidays/delete", {"day": "2027-01-01"}, token_from="/rules/").status_code == 303
    assert len(seeded.service.list_holidays()) == 1
    assert boss.post("/rules/holidays/delete", {"day": "2027-01-01", "confirm": "yes"},
                     token_from="/rules/").status_code == 303
    assert seeded.service.list_holidays() == []
    assert boss.get("/rules/holidays/delete?day=2027-01-01").status_code == 404


def test_every_bad_schedule_or_holiday_is_refused_with_400_and_changes_nothing(seeded: Any, login_as: Any) -> None:
    boss = login_as("boss")
    assert boss.post("/rules/schedules/new", OFFICE, token_from="/rules/").status_code == 303
    assert boss.post("/rules/holidays/new", {"day": "2027-01-01", "name": "New Year"},
                     token_from="/rules/").status_code == 303
    seeded.service.set_group_schedule("clerks", "office", actor="test")
    before = lists(seeded)
    bad_schedules = [
        ({"name": "x", "start_0_0": "25:00", "end_0_0": "26:00"}, "Monday start"),
        ({"name": "x", "start_0_0": "8am", "end_0_0": "17:00"}, "Monday start"),
        ({"name": "x", "start_1_0": "17:00", "end_1_0": "08:00"}, "Tuesday: the end time must be after the start"),
        ({"name": "x", "start_1_0": "08:00"}, "Tuesday end"),
        ({"name": "x"}, "Give at least one time window."),
        ({"name": "", "start_0_0": "08:00", "end_0_0": "09:00"}, "Schedule name is required."),
        ({**OFFICE}, "A schedule office exists already."),
        ({"name": "evil\x1b[31m", "start_0_0": "08:00", "end_0_0": "09:00"}, "without control characters"),
        ({"name": "<script>alert(1)</script>", "start_0_0": "08:00", "end_0_0": "09:00"}, ""),
        ({"name": "x" * 500, "start_0_0": "08:00", "end_0_0": "09:00"}, "too long"),
    ]
    for data, words in bad_schedules:
        response = boss.post("/rules/schedules/new", data, token_from="/rules/")
        body = response.get_data(as_text=True)
        assert response.status_code == 400, data
        assert words in body, (data, body)
        assert "<script>alert(1)" not in body
    bad_holidays = [({"day": "2027-02-30", "name": "x"}, "Date must be a date like"),
                    ({"day": "tomorrow", "name": "x"}, "Date must be a date like"),
                    ({"day": "", "name": "x"}, "Date is required."),
                    ({"day": "2027-03-01", "name": ""}, "Holiday name is required."),
                    ({"day": "2027-03-01", "name": "a\nb"}, "without control characters")]
    for data, words in bad_holidays:
        response = boss.post("/rules/holidays/new", data, token_from="/rules/")
        assert response.status_code == 400, data
        assert words in response.get_data(as_text=True), data
    # a schedule a group uses: the confirmation says why, the POST is refused with the service's reason
    confirm = boss.get("/rules/schedules/delete?name=office").get_data(as_text=True)
    assert "1 group(s) use it (clerks)" in confirm and 'name="confirm"' not in confirm
    response = boss.post("/rules/schedules/delete", {"name": "office", "confirm": "yes"}, token_from="/rules/")
    assert response.status_code == 400
    assert "Schedule office is used by a group: give the group another schedule first." in response.get_data(
        as_text=True)
    for path, data in (("/rules/schedules/delete", {"name": "nothing", "confirm": "yes"}),
                       ("/rules/schedules/delete", {"name": "", "confirm": "yes"}),
                       ("/rules/holidays/delete", {"day": "2027-05-05", "confirm": "yes"}),
                       ("/rules/holidays/delete", {"day": "not-a-day", "confirm": "yes"})):
        assert boss.post(path, data, token_from="/rules/").status_code == 400, (path, data)
    assert boss.get("/rules/schedules/delete?name=nothing").status_code == 404
    # unknown or hostile schedule for a group
    for group, data in (("clerks", {"schedule": "nothing"}), ("clerks", {"schedule": "<b>x</b>"})):
        assert boss.post(f"/groups/{group}/schedule", data, token_from="/groups/").status_code == 400
    assert boss.post("/groups/new", {"name": "late", "schedule": "nothing", "door": [str(seeded.doors["main"])]},
                     token_from="/groups/").status_code == 400
    assert boss.post("/groups/nothing/schedule", {"schedule": ""}, token_from="/groups/").status_code == 404
    assert lists(seeded) == before


def test_a_room_limited_admin_sees_the_lists_without_forms_and_gets_403(seeded: Any, login_as: Any) -> None:
    seeded.service.add_schedule("office", [(0, 480, 1020)], actor="test")
    seeded.service.add_holiday(date(2027, 1, 1), "New Year", actor="test")
    before = lists(seeded)
    ra = login_as("ra")
    page = ra.get("/rules/").get_data(as_text=True)
    assert "office" in page and "Monday 08:00–17:00" in page and "New Year" in page
    assert "only a login for every room may add or delete them" in page
    assert 'name="start_0_0"' not in page and "/rules/schedules/new" not in page and "/rules/holidays/new" not in page
    assert "/rules/schedules/delete" not in page and "/rules/holidays/delete" not in page
    for path, data in (("/rules/schedules/new", {**OFFICE, "name": "mine"}),
                       ("/rules/schedules/delete", {"name": "office", "confirm": "yes"}),
                       ("/rules/holidays/new", {"day": "2027-05-05", "name": "x"}),
                       ("/rules/holidays/delete", {"day": "2027-01-01", "confirm": "yes"})):
        assert ra.post(path, data, token_from="/rules/").status_code == 403, path
    confirm = ra.get("/rules/schedules/delete?name=office").get_data(as_text=True)
    assert "only a login for every room" in confirm and 'name="confirm"' not in confirm
    # a group's schedule: only for a group whose doors are all in its rooms
    groups_page = ra.get("/groups/").get_data(as_text=True)
    assert "/groups/clerks/schedule" in groups_page and "/groups/both/schedule" not in groups_page
    assert ra.post("/groups/both/schedule", {"schedule": "office"}, token_from="/groups/").status_code == 403
    assert ra.post("/groups/vaulters/schedule", {"schedule": "office"}, token_from="/groups/").status_code == 404
    assert lists(seeded) == before
    assert ra.post("/groups/clerks/schedule", {"schedule": "office"}, token_from="/groups/").status_code == 303
    assert {g.name: g.schedule for g in seeded.service.list_groups()}["clerks"] == "office"
    # auditors: no access at all
    for who in ("aud", "aud_r"):
        auditor = login_as(who)
        assert auditor.get("/rules/").status_code == 403
        assert auditor.post("/rules/holidays/new", {"day": "2027-05-05", "name": "x"},
                            token_from="/doors/").status_code == 403
        assert "/rules/" not in auditor.get("/doors/").get_data(as_text=True)


def test_a_groups_schedule_set_on_the_groups_page_is_listed_and_fed(seeded: Any, login_as: Any) -> None:
    boss = login_as("boss")
    assert boss.post("/rules/schedules/new", OFFICE, token_from="/rules/").status_code == 303
    main = seeded.doors["main"]
    page = boss.get("/groups/").get_data(as_text=True)
    assert '<option value="office">office</option>' in page and "any time" in page
    assert boss.post("/groups/new", {"name": "late", "schedule": "office", "door": [str(main)]},
                     token_from="/groups/").status_code == 303
    assert {g.name: g.schedule for g in seeded.service.list_groups()}["late"] == "office"
    assert group_feed(seeded, "late")[-1][:2] == ("c1", "group")
    assert group_feed(seeded, "late")[-1][2]["schedule"] == "office"

    assert boss.post("/groups/clerks/schedule", {"schedule": "office"}, token_from="/groups/").status_code == 303
    assert {g.name: g.schedule for g in seeded.service.list_groups()}["clerks"] == "office"
    last = group_feed(seeded, "clerks")[-1]
    assert last[:2] == ("c1", "group") and last[2]["schedule"] == "office"
    page = boss.get("/groups/").get_data(as_text=True)
    assert '<option value="office" selected>office</option>' in page
    assert "Used by: clerks, late" in boss.get("/rules/").get_data(as_text=True)

    assert boss.post("/groups/clerks/schedule", {"schedule": ""}, token_from="/groups/").status_code == 303
    assert {g.name: g.schedule for g in seeded.service.list_groups()}["clerks"] is None
    last = group_feed(seeded, "clerks")[-1]
    assert last[:2] == ("c1", "group") and last[2]["schedule"] is None


def test_the_rules_page_reads_in_indonesian(seeded: Any, login_as: Any) -> None:
    boss = login_as("boss")
    assert boss.post("/account/language", {"language": "id"}, token_from="/rules/").status_code in (302, 303)
    page = boss.get("/rules/").get_data(as_text=True)
    assert "Schedules and holidays" not in page and "Senin" in page
