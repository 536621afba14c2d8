"""The admin web and the door daemon writing at once (docs/reliability.md T5.3; issue 6).

A thread plays the web process: its own engine and sessions, people added, suspended and resumed, each
change committed with its admin event (unsealed, for the daemon to seal). Meanwhile the daemon handles
more than 10 events a second (remote unlocks over the control socket and exit-button presses). Every
event must be stored, no "database is locked" may reach the web side or the daemon's log, the log stays
available throughout, and the chain verifies at the end.
"""

from __future__ import annotations

import logging
import threading
import time

import pytest

from controller.control import changes
from controller.control.client import ControlClient
from controller.errors import KunciError
from drivers import events as ev
from tests.controller.daemon_harness import events, fast_config, last_event_id, matching, relay_periods, wait_for
from tests.faults.fault_helpers import count, report, verify_chain

pytestmark = pytest.mark.faults

SECONDS = count("KUNCI_CONCURRENCY_SECONDS", full=10, quick=4)


class WebWriter(threading.Thread):
    """People changes like the admin web makes them: each one a request to the daemon (the one writer)."""

    def __init__(self, datadir, stop: threading.Event) -> None:
        super().__init__(name="fake-web", daemon=True)
        self.datadir = datadir
        self.stop_event = stop
        self.changes = 0
        self.errors: list[BaseException] = []

    def run(self) -> None:
        from datetime import date

        n = 0
        try:
            while not self.stop_event.is_set():
                n += 1
                code = changes.apply(self.datadir, "user.add", {
                    "name": f"Web {n}", "agreement_signed_on": date.today().isoformat()})["code"]
                self.changes += 1
                for status in ("suspended", "active"):
                    changes.apply(self.datadir, "user.set_status", {"user": code, "status": status})
                    self.changes += 1
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)


def test_web_people_changes_and_daemon_events_at_once_lose_nothing(start_daemon, daemon_datadir, caplog):
    caplog.set_level(logging.WARNING)
    config = fast_config(door={"exit_unlocks": False}, sensor={"enabled": False})
    daemon = start_daemon(config)
    mark = last_event_id(daemon_datadir)
    stop = threading.Event()
    web = WebWriter(daemon_datadir, stop)
    client = ControlClient(daemon_datadir.socket_path, timeout=10)
    unlocks = exits = 0
    refused: list[str] = []
    unavailable = 0

    web.start()
    began = time.monotonic()
    tick = began
    while time.monotonic() - began < SECONDS:
        try:
            client.call("unlock", actor="load")
            unlocks += 1
        except KunciError as exc:
            refused.append(str(exc))
        daemon.daemon.queue.put(ev.ExitPressed(t=time.monotonic()))
        exits += 1
        if unlocks % 10 == 0 and not daemon.status()["log_available"]:
            unavailable += 1
        tick += 0.08  # 12.5 unlocks and 12.5 exit presses a second
        time.sleep(max(0.0, tick - time.monotonic()))
    elapsed = time.monotonic() - began
    stop.set()
    web.join(30)
    assert not web.errors, web.errors
    assert refused == [] and unavailable == 0
    daemon.drain()
    status = wait_for(lambda: (s := daemon.status())["pending_events"] == 0 and s, what="admin events sealed")
    assert status["log_available"] and status["buffered_events"] == 0
    wait_for(lambda: not daemon.relay_pin.state, what="relay off")
    daemon.stop()

    rows = events(daemon_datadir, mark)
    assert len(matching(rows, "access.granted", actor=changes.local_account(), method="remote")) == unlocks
    assert len(matching(rows, "exit.request")) == exits
    admin = [r for r in rows if r["type"] in ("admin.user_added", "admin.user_suspended", "admin.user_resumed")]
    assert len(admin) == web.changes
    assert all(r["seq"] is not None for r in rows)
    assert all(d is not None and d <= config.door.max_unlock_seconds + 0.3 for _, d in relay_periods(daemon.relay_pin))
    locked = [r.getMessage() for r in caplog.records if "locked" in r.getMessage().lower() and "database" in r.getMessage()]
    assert locked == []
    result = verify_chain(daemon_datadir)
    assert result.ok and result.pending == 0, result.problem
    rate = (unlocks + exits) / elapsed
    report(f"web + daemon at once for {elapsed:.1f} s: daemon events={unlocks + exits} ({rate:.1f}/s: {unlocks} remote "
           f"unlocks, {exits} exit presses), web people changes={web.changes}, all stored and sealed, "
           f"'database is locked' seen=0, chain events={result.checked}, lost=0")
