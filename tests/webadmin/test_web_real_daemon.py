"""The admin web against a real door daemon (:class:`controller.daemon.loop.Daemon` on simulated hardware).

No fake here: the web's app talks to the daemon's own control socket, the daemon resolves the
actor from the peer's credentials and the web's session database, applies the change on its
loop and seals the event. The web itself only reads the door database.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from controller.store import staff
from controller.control.client import ControlClient, DaemonError
from tests.controller.daemon_harness import DaemonRunner, events, fast_config, wait_event

from web_support import ADMIN, HASHER, PASSWORD, get, login, new_client, post, real_daemon_web

PIN_ON_PAGE = re.compile(r'aria-label="PIN digits">(\d+)<')


@pytest.fixture
def system(mock_factory: Any) -> Iterator[tuple[Any, DaemonRunner]]:
    """A ``kunci init`` data directory with one admin, the real daemon on it, and the web app."""
    yield from real_daemon_web(fast_config())


def test_a_person_added_on_the_page_is_stored_by_the_daemon_and_their_pin_opens_the_door(system: Any) -> None:
    app, runner = system
    admin = new_client(app)
    assert login(admin).status_code == 303
    r = post(admin, "/people/new", {"name": "Grace Hopper", "agreement_signed_on": "2026-01-05"})
    assert r.status_code == 303, r.get_data(as_text=True)[-800:]
    page = get(admin, r.headers["Location"]).get_data(as_text=True)
    pin = PIN_ON_PAGE.search(page).group(1)
    code = re.search(r"U\d{4}", page).group(0)
    # A reload shows nothing and adds nobody.
    again = get(admin, r.headers["Location"])
    assert again.status_code == 410 and not PIN_ON_PAGE.search(again.get_data(as_text=True))
    added = [e for e in events(runner.datadir) if e["type"] == "admin.user_added"]
    assert [(e["user"], e["actor"]) for e in added] == [(code, ADMIN)]
    assert added[0]["seq"] is not None, "sealed by the daemon in the same transaction"
    assert all(pin not in str(e["detail"]) for e in events(runner.datadir))
    client = ControlClient(runner.datadir.socket_path, timeout=30)
    client.call("sim.press", keys=pin + "#")
    wait_event(runner.datadir, "access.granted", user=code)


def test_the_daemon_refuses_a_staff_login_without_a_live_web_session(system: Any) -> None:
    app, runner = system
    admin = new_client(app)
    login(admin)
    (row,) = app.extensions["kunci"].web_store.sessions()
    client = ControlClient(runner.datadir.socket_path)
    group = {"op": "group.add", "params": {"name": "Night shift"}, "actor": ADMIN}
    client.call("admin", **group, web_session=row.token_hash.hex())  # live: accepted
    post(admin, "/logout")
    with pytest.raises(DaemonError, match="not live"):
        client.call("admin", **{**group, "params": {"name": "Day shift"}}, web_session=row.token_hash.hex())
    with pytest.raises(DaemonError):
        client.call("admin", **{**group, "params": {"name": "Day shift"}}, web_session="00" * 32)
    added = [e for e in events(runner.datadir) if e["type"] == "admin.group_added"]
    assert [(e["detail"]["group"], e["actor"]) for e in added] == [("Night shift", ADMIN)]


def test_the_daemon_refuses_changes_from_an_auditor_or_a_disabled_login_even_in_a_live_session(system: Any) -> None:
    app, runner = system
    client = ControlClient(runner.datadir.socket_path)
    digest = staff.hash_new_password(PASSWORD, "reader", hasher=HASHER)
    client.call("admin", op="staff.add", params={"username": "reader", "role": "auditor", "password_hash": digest})
    auditor = new_client(app)
    assert login(auditor, "reader").status_code == 303
    admin = new_client(app)
    login(admin)
    sessions = {row.username: row.token_hash.hex() for row in app.extensions["kunci"].web_store.sessions()}
    group = {"op": "group.add", "params": {"name": "Vault"}}
    with pytest.raises(DaemonError, match="auditor"):
        client.call("admin", **group, actor="reader", web_session=sessions["reader"])
    client.call("admin", op="event.record", params={"type": "admin.log_exported", "detail": {"format": "csv"}},
                actor="reader", web_session=sessions["reader"])  # an auditor's own event is fine
    client.call("admin", op="staff.set_active", params={"username": ADMIN, "active": False})  # from the CLI
    with pytest.raises(DaemonError, match="not an active account"):
        client.call("admin", **group, actor=ADMIN, web_session=sessions[ADMIN])
    assert [e for e in events(runner.datadir) if e["type"] == "admin.group_added"] == []
    exported, = [e for e in events(runner.datadir) if e["type"] == "admin.log_exported"]
    assert exported["actor"] == "reader"
