"""T4.12: after the reader's enclosure is opened, credentials are refused until it is shut and acknowledged."""

from __future__ import annotations

import pytest

from controller.control.client import DaemonError
from tests.controller.daemon_harness import add_person, relay_periods, wait_event, wait_for


def _tamper_alarm_id(daemon) -> int:
    return next(a["id"] for a in daemon.status()["alarms"] if a["kind"] == "tamper")


def test_an_opened_enclosure_blocks_pins_until_shut_and_acknowledged(start_daemon, daemon_datadir):
    daemon = start_daemon()
    person = add_person(daemon_datadir, daemon.config)
    daemon.call("sim.tamper", active=True)
    tamper = wait_event(daemon_datadir, "tamper")
    assert daemon.status()["entry_blocked"] == "tamper"

    daemon.press(person.pin + "#")
    refused = wait_event(daemon_datadir, "access.denied", after_id=tamper["id"])
    assert (refused["reason"], refused["method"], refused["detail"]) == ("lockdown", "pin", {"tamper": True})
    assert relay_periods(daemon.relay_pin) == []

    # Acknowledging while the box is still open is refused: someone has to shut it and look.
    with pytest.raises(DaemonError, match="still open"):
        daemon.call("alarm.ack", id=_tamper_alarm_id(daemon), actor="alice")
    daemon.call("sim.tamper", active=False)
    closed = wait_event(daemon_datadir, "tamper", after_id=tamper["id"])
    assert daemon.status()["entry_blocked"] == "tamper"  # shutting it alone does not lift the block
    daemon.call("alarm.ack", id=_tamper_alarm_id(daemon), actor="alice")
    assert daemon.status()["entry_blocked"] is None

    daemon.press(person.pin + "#")
    granted = wait_event(daemon_datadir, "access.granted", after_id=closed["id"])
    assert granted["user"] == person.code
    wait_for(lambda: relay_periods(daemon.relay_pin) != [], what="relay energised")


def test_exit_still_works_while_entry_is_blocked(start_daemon, daemon_datadir):
    daemon = start_daemon()
    daemon.call("sim.tamper", active=True)
    wait_event(daemon_datadir, "tamper")
    daemon.call("sim.exit")
    wait_event(daemon_datadir, "exit.request")
    wait_for(lambda: relay_periods(daemon.relay_pin) != [], what="exit unlocks the strike")
