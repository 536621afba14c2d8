"""The admin web's Flask-WTF forms: every problem of a bad form is reported at once, with a 400, and nothing is sent."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import pytest
from werkzeug.datastructures import MultiDict

from webadmin.forms import FormError
from webadmin.forms.access import ScheduleForm
from webadmin.forms.log import LogPageForm
from webadmin.forms.people import PersonForm

from web_support import get, post


def test_a_bad_person_form_names_every_problem_and_sends_nothing(admin: Any, daemon: Any) -> None:
    r = post(admin, "/people/new", {"name": "Ada\nLovelace", "valid_from": "2026-02-30", "mode_override": "open"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "Name must be one line without control characters." in page
    assert "Valid from must be a date like 2026-03-31." in page
    assert "Door mode must be one of: pin, finger, pin_or_finger, pin_and_finger." in page
    assert "user.add" not in daemon.admin_ops()


def test_a_bad_schedule_form_names_every_problem_and_sends_nothing(admin: Any, daemon: Any) -> None:
    r = post(admin, "/schedules/new", {"name": "", "start_0_0": "09:00", "end_0_0": "08:00", "start_2_1": "7am"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    for message in ("Schedule name is required.", "Monday: the end time must be after the start time.",
                    "Wednesday start must be a time like 08:30.", "Wednesday end must be a time like 08:30 (or 24:00)."):
        assert message in page
    assert "schedule.add" not in daemon.admin_ops()


def test_a_bad_log_query_names_every_problem(auditor: Any) -> None:
    r = get(auditor, "/log", query_string={"user": "bob", "order": "up", "before": "-"})
    page = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "Person code must look like U0042." in page and "Order must be one of: newest, oldest." in page
    assert "Page position must be a whole number." in page


def test_the_person_form_gives_the_daemon_its_parameters(app: Any) -> None:
    data = MultiDict({"name": "  Ada  ", "agreement_signed_on": "2026-01-05", "group": "Day", "extended_unlock": "on"})
    with app.test_request_context(method="POST", data=data):
        params = PersonForm(groups=["Day", "Night"]).checked().params()
    assert params == {"name": "Ada", "agreement_signed_on": "2026-01-05", "group": "Day", "valid_from": None,
                      "valid_until": None, "mode_override": None, "extended_unlock": True}


@pytest.mark.parametrize(("query", "field"), [({"before": str(2**62 + 1)}, "before"), ({"since": "2026-01-01T25:00"}, "since")])
def test_a_form_error_names_its_field(app: Any, query: dict[str, str], field: str) -> None:
    with app.test_request_context(), pytest.raises(FormError) as refused:
        LogPageForm(formdata=MultiDict(query), tz=ZoneInfo("UTC")).checked()
    assert refused.value.field == field


def test_a_window_needs_both_times(app: Any) -> None:
    with app.test_request_context(method="POST", data={"name": "Nights", "end_6_0": "24:00"}):
        form = ScheduleForm()
        assert not form.validate()
    assert form.problems() == [("start_6_0", "Sunday start must be a time like 08:30.")]
