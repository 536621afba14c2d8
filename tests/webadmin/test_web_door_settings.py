"""The dashboard's door settings against a real door daemon (issue 13): the mode, a lockdown's start and end,
ending a keypad lockout early. Each form posts through the daemon's socket in the staff member's name; the
daemon applies it at once and seals its event with who and why. Waits are polls with deadlines."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from web_support import ADMIN, AUDITOR, get, login, new_client, post, real_daemon_web

from tests.controller.daemon_harness import (
    DaemonRunner,
    add_person,
    events,
    fast_config,
    last_event_id,
    wait_event,
)
from tests.polling import wait_for

#: A lockout that would outlast any test: only an admin's early end lets the right PIN in.
LONG_LOCKOUT = {"lockout_after_failures": 3, "lockout_base_seconds": 3600.0, "lockout_max_seconds": 3600.0}


@pytest.fixture
def system(mock_factory: Any) -> Iterator[tuple[Any, DaemonRunner]]:
    """A data directory with an admin and an auditor, the real daemon on it, and the web app."""
    yield from real_daemon_web(fast_config(pin=LONG_LOCKOUT), ((ADMIN, "admin"), (AUDITOR, "auditor")))


def admin_client(app: Any, username: str = ADMIN) -> Any:
    client = new_client(app)
    assert login(client, username).status_code == 303
    return client


def page(client: Any, path: str = "/") -> str:
    response = get(client, path)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def typed(runner: DaemonRunner, since: int, type_: str) -> list[dict[str, Any]]:
    return [e for e in events(runner.datadir, since) if e["type"] == type_]


def test_the_mode_form_changes_the_mode_at_once_and_logs_who(system: Any) -> None:
    app, runner = system
    admin = admin_client(app)
    assert "PIN or fingerprint" in page(admin)
    r = post(admin, "/door/mode", {"mode": "pin", "confirm": "yes"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/")
    assert runner.status()["mode"] == "pin", "in effect when the answer came back"
    shown = page(admin)
    assert "The door mode is now PIN only (pin)." in shown
    assert 'id="door-mode">PIN only' in shown
    changed, = [e for e in events(runner.datadir) if e["type"] == "admin.door_mode_changed"]
    assert (changed["actor"], changed["detail"]) == (ADMIN, {"from": "pin_or_finger", "to": "pin"})
    assert changed["seq"] is not None, "sealed by the daemon"
    # The same mode again changes nothing and says so.
    post(admin, "/door/mode", {"mode": "pin", "confirm": "yes"})
    assert "already was PIN only" in page(admin)
    assert len([e for e in events(runner.datadir) if e["type"] == "admin.door_mode_changed"]) == 1


@pytest.mark.parametrize("form", [{"mode": "open", "confirm": "yes"}, {"mode": "", "confirm": "yes"},
                                  {"mode": "finger"}])
def test_a_bad_mode_or_no_confirmation_is_refused_and_nothing_changes(system: Any, form: dict[str, str]) -> None:
    app, runner = system
    admin = admin_client(app)
    mark = last_event_id(runner.datadir)
    r = post(admin, "/door/mode", form)
    assert r.status_code == 400
    assert "The door mode was not changed" in r.get_data(as_text=True)
    assert runner.status()["mode"] == "pin_or_finger"
    assert typed(runner, mark, "admin.door_mode_changed") == []


def test_a_lockdown_started_on_the_dashboard_refuses_a_pin_shows_a_banner_and_ends_with_a_reason(
        system: Any) -> None:
    app, runner = system
    person = add_person(runner.datadir, runner.config)
    admin = admin_client(app)
    r = post(admin, "/door/lockdown/start", {"reason": "water leak in the stacks", "confirm": "yes"})
    assert r.status_code == 303
    status = runner.status()
    assert (status["lockdown"], status["entry_blocked"]) == (True, "lockdown")
    shown = page(admin)
    assert "Lockdown started" in shown and 'id="lockdown-banner"' in shown
    assert "water leak in the stacks" in shown and "End lockdown" in shown
    assert 'id="lockdown-banner"' in page(admin, "/log"), "the banner is on every staff page"
    mark = last_event_id(runner.datadir)
    runner.press(person.pin + "#")
    wait_event(runner.datadir, "access.denied", after_id=mark, reason="lockdown", user=person.code)

    r = post(admin, "/door/lockdown/end", {"reason": "leak fixed"})
    assert r.status_code == 303
    assert runner.status()["lockdown"] is False
    shown = page(admin)
    assert "Lockdown ended" in shown and 'id="lockdown-banner"' not in shown
    mark = last_event_id(runner.datadir)
    runner.press(person.pin + "#")
    wait_event(runner.datadir, "access.granted", after_id=mark, user=person.code)
    started = [e for e in events(runner.datadir) if e["type"] == "lockdown.started"]
    ended = [e for e in events(runner.datadir) if e["type"] == "lockdown.ended"]
    assert [(e["actor"], e["detail"]["reason"]) for e in started] == [(ADMIN, "water leak in the stacks")]
    assert [(e["actor"], e["detail"]["reason"]) for e in ended] == [(ADMIN, "leak fixed")]


@pytest.mark.parametrize("path, form, message", [
    ("/door/lockdown/start", {"reason": "   ", "confirm": "yes"}, "The lockdown was not started: Reason is required."),
    ("/door/lockdown/start", {"reason": "drill"}, "The lockdown was not started: Tick the confirmation box"),
])
def test_a_lockdown_without_a_reason_or_confirmation_is_refused_and_nothing_changes(
        system: Any, path: str, form: dict[str, str], message: str) -> None:
    app, runner = system
    admin = admin_client(app)
    mark = last_event_id(runner.datadir)
    r = post(admin, path, form)
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    assert runner.status()["lockdown"] is False
    assert typed(runner, mark, "lockdown.started") == []


def test_ending_a_lockdown_needs_a_reason(system: Any) -> None:
    app, runner = system
    admin = admin_client(app)
    post(admin, "/door/lockdown/start", {"reason": "drill", "confirm": "yes"})
    mark = last_event_id(runner.datadir)
    r = post(admin, "/door/lockdown/end", {"reason": ""})
    assert r.status_code == 400 and "The lockdown was not ended: Reason is required." in r.get_data(as_text=True)
    assert runner.status()["lockdown"] is True
    assert typed(runner, mark, "lockdown.ended") == []


def test_an_auditor_sees_the_door_settings_but_every_door_form_is_forbidden(system: Any) -> None:
    app, runner = system
    auditor = admin_client(app, AUDITOR)
    shown = page(auditor)
    assert "PIN or fingerprint" in shown and "Start lockdown" not in shown and "Change the mode" not in shown
    mark = last_event_id(runner.datadir)
    for path, form in (("/door/mode", {"mode": "pin", "confirm": "yes"}),
                       ("/door/lockdown/start", {"reason": "x", "confirm": "yes"}),
                       ("/door/lockdown/end", {"reason": "x"}),
                       ("/door/lockout/clear", {"reason": "x"})):
        assert post(auditor, path, form).status_code == 403, path
    status = runner.status()
    assert (status["mode"], status["lockdown"]) == ("pin_or_finger", False)
    recorded = events(runner.datadir, mark)
    assert {e["type"] for e in recorded} == {"admin.forbidden"}
    assert len(recorded) == 4 and all(e["actor"] == AUDITOR for e in recorded)


def test_a_keypad_lockout_is_shown_and_an_admin_ends_it_with_a_reason(system: Any) -> None:
    app, runner = system
    person = add_person(runner.datadir, runner.config)
    admin = admin_client(app)
    mark = last_event_id(runner.datadir)
    for wrong in ("000001", "000002", "000003"):
        runner.press(wrong + "#")
    wait_event(runner.datadir, "lockout.started", after_id=mark)
    wait_for(lambda: runner.status()["lockout"]["active"], 30, "the keypad locked out")
    shown = page(admin)
    assert 'id="lockout-clear"' in shown and "End lockout" in shown
    r = post(admin, "/door/lockout/clear", {"reason": ""})
    assert r.status_code == 400 and runner.status()["lockout"]["active"] is True
    r = post(admin, "/door/lockout/clear", {"reason": "the cleaner mistyped"})
    assert r.status_code == 303
    assert runner.status()["lockout"]["active"] is False
    assert "The keypad lockout was ended" in page(admin)
    ended, = typed(runner, mark, "lockout.ended")
    assert ended["actor"] == ADMIN
    assert ended["detail"] == {"channel": "keypad", "cleared_by_admin": True, "reason": "the cleaner mistyped"}
    mark = last_event_id(runner.datadir)
    runner.press(person.pin + "#")
    wait_event(runner.datadir, "access.granted", after_id=mark, user=person.code)
    # Not locked out any more: a second clear is a clear error and logs nothing.
    r = post(admin, "/door/lockout/clear", {"reason": "again"})
    assert r.status_code == 400 and "not locked out" in r.get_data(as_text=True)
    assert typed(runner, mark, "lockout.ended") == []
