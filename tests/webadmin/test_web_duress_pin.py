"""Issuing a duress PIN from a person's page against a real door daemon (issue 13): shown once, the
daemon seals who issued it, and the PIN opens the door with a silent duress alarm."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from web_support import ADMIN, get, login, new_client, post, real_daemon_web

from tests.controller.daemon_harness import DaemonRunner, add_person, events, fast_config, wait_event


@pytest.fixture
def system(mock_factory: Any) -> Iterator[tuple[Any, DaemonRunner]]:
    yield from real_daemon_web(fast_config(pin={"duress_pins": True}))


@pytest.fixture
def system_off(mock_factory: Any) -> Iterator[tuple[Any, DaemonRunner]]:
    yield from real_daemon_web(fast_config(pin={"duress_pins": False}))


def test_a_duress_pin_is_shown_once_and_opens_with_a_silent_alarm(system: Any) -> None:
    app, runner = system
    person = add_person(runner.datadir, runner.config)
    admin = new_client(app)
    assert login(admin, ADMIN).status_code == 303
    assert "Issue duress PIN" in get(admin, f"/people/{person.code}").get_data(as_text=True)
    r = post(admin, f"/people/{person.code}/duress-pin", {})
    assert r.status_code == 303
    shown_at = r.headers["Location"]
    page = get(admin, shown_at).get_data(as_text=True)
    assert f"Duress PIN for {person.code}" in page
    duress_pin = re.search(r'class="pin"[^>]*>(\d+)<', page).group(1)
    assert duress_pin != person.pin
    assert get(admin, shown_at).status_code == 410  # never shown again
    issued = [e for e in events(runner.datadir) if e["type"] == "admin.duress_pin_issued"]
    assert [(e["user"], e["actor"]) for e in issued] == [(person.code, ADMIN)]

    runner.press(duress_pin + "#")
    granted = wait_event(runner.datadir, "access.granted", user=person.code)
    assert granted["detail"] == {"duress": True}
    assert [e for e in events(runner.datadir) if e["type"] == "duress"]
    assert "duress" in {a["kind"] for a in runner.status()["alarms"]}


def test_with_duress_pins_off_the_button_is_absent_and_a_post_changes_nothing(system_off: Any) -> None:
    app, runner = system_off
    person = add_person(runner.datadir, runner.config)
    admin = new_client(app)
    assert login(admin, ADMIN).status_code == 303
    assert "Issue duress PIN" not in get(admin, f"/people/{person.code}").get_data(as_text=True)
    r = post(admin, f"/people/{person.code}/duress-pin", {})
    assert r.status_code == 303 and r.headers["Location"].endswith(f"/people/{person.code}")
    assert "duress_pins = true" in get(admin, f"/people/{person.code}").get_data(as_text=True)
    assert not [e for e in events(runner.datadir) if e["type"] == "admin.duress_pin_issued"]
