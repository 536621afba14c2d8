"""End to end: a schedule made **on the site page** and given to a group there decides at a real controller's door.

The site and its controllers are the site e2e's (``tests/e2e/test_site_e2e.py``; controller alpha with doors main
and vault, running as its own ``kunci run`` on simulated hardware, time zone UTC as ``kunci init`` writes it).
On the page: a schedule whose only window (all day) is on a weekday that is not today, a group with it, a person
in that group; their PIN at the group's door is refused with ``outside_schedule``. The group is then set to "any
time" on the page and the same PIN is granted. Never depends on the hour: only on today's weekday, three days
away from the window's.
"""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controller.core.policy import Reason
from tests.e2e.product import wait_until
from tests.e2e.test_site_e2e import decisions, head_seq, press, site, site_status  # noqa: F401
from tests.site_web.conftest import HASHER, PASSWORD, SiteClient

# ruff: noqa: F811 (the site fixture imported above is the test's parameter)
pytestmark = [pytest.mark.e2e, pytest.mark.slow]

#: The controllers' time zone: ``kunci init`` writes the default ``site.timezone``.
CONTROLLER_ZONE = "UTC"


def applied_revision(data: Path) -> int:
    """The newest feed revision the controller in ``data`` has applied (its ``site_sync`` row)."""
    conn = sqlite3.connect(f"file:{data / 'kunci.db'}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute("SELECT revision FROM site_sync WHERE id = 1").fetchone()
        return int(row[0]) if row else 0
    finally:
        conn.close()


def feed_head(service: Any, controller: str) -> int:
    return next(c.revision_head for c in service.controllers() if c.name == controller)


def test_a_schedule_set_on_the_site_page_refuses_outside_its_window_and_any_time_grants(site: Any) -> None:
    from controller.config.load import load_config
    from controller.site.service import SiteService
    from webadmin.site import create_site_app

    alpha = site.alpha
    zone = load_config(alpha.data / "kunci.toml").site.timezone
    assert zone == CONTROLLER_ZONE, zone  # the fixture's controllers; the weekday below is computed in it
    staff = SiteService.for_site(site.dir, hasher=HASHER)
    staff.add_staff("boss", PASSWORD, "admin", None)
    wait_until(lambda: site_status(alpha.data)["state"] == "connected", what="alpha connected")
    page = SiteClient(create_site_app(site.dir, test_config={"TESTING": True}))
    assert page.login("boss").status_code == 303

    other_day = (datetime.now(ZoneInfo(zone)).weekday() + 3) % 7  # never today, even across midnight
    made = page.post("/rules/schedules/new", {"name": "not-today", f"start_{other_day}_0": "00:00",
                                              f"end_{other_day}_0": "24:00"}, token_from="/rules/")
    assert made.status_code == 303, made.get_data(as_text=True)
    vault = next(d.id for d in site.service.list_doors() if d.controller == "alpha" and d.name == "vault")
    assert page.post("/groups/new", {"name": "shift", "schedule": "not-today", "door": [str(vault)]},
                     token_from="/groups/").status_code == 303
    added = page.post("/people/new", {"name": "Sari Shift", "group": "shift"}, token_from="/people/new")
    shown = page.get(added.location).get_data(as_text=True)
    code = re.search(r"New person (U\d{4,})", shown).group(1)
    pin = re.search(r'<p class="pin" id="pin"[^>]*>(\d+)</p>', shown).group(1)
    head = feed_head(site.service, "alpha")
    wait_until(lambda: applied_revision(alpha.data) >= head, what="schedule, group and person applied on alpha")

    seq = head_seq(alpha.data)
    press(alpha.data, "vault", pin + "#")
    wait_until(lambda: decisions(alpha.data, "vault", seq), what="the PIN decided outside the schedule")
    [refused] = decisions(alpha.data, "vault", seq)
    assert (refused["type"], refused["reason"], refused["user"]) == ("access.denied", Reason.OUTSIDE_SCHEDULE.value,
                                                                     code)

    assert page.post("/groups/shift/schedule", {"schedule": ""}, token_from="/groups/").status_code == 303
    assert {g.name: g.schedule for g in site.service.list_groups()}["shift"] is None
    head = feed_head(site.service, "alpha")
    wait_until(lambda: applied_revision(alpha.data) >= head, what="'any time' applied on alpha")
    seq = head_seq(alpha.data)
    press(alpha.data, "vault", pin + "#")
    wait_until(lambda: decisions(alpha.data, "vault", seq), what="the PIN decided at any time")
    [granted] = decisions(alpha.data, "vault", seq)
    assert (granted["type"], granted["reason"], granted["user"]) == ("access.granted", None, code)
