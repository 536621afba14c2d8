"""The door daemon end to end on simulated hardware: keypad PINs, lockouts, door supervision, fail-secure.

Each test runs a real :class:`controller.daemon.loop.Daemon` (see ``daemon_harness``) and asserts what a
person at the door or an auditor reading the log would notice: the strike relay's pin history, the
event rows, the ``status`` answer.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select

from controller.control import changes
from controller.store import models
from controller.control.client import DaemonError
from controller.daemon.hardware import build_hardware
from tests.controller.daemon_harness import (
    DaemonRunner,
    fast_config,
    add_person,
    events,
    last_event_id,
    matching,
    open_session,
    prepare_datadir,
    relay_periods,
    wait_event,
    wait_for,
)


def test_pin_grant_energises_the_relay_for_unlock_seconds_and_logs_it(start_daemon, daemon_datadir):
    daemon = start_daemon()
    person = add_person(daemon_datadir, daemon.config)
    pin = daemon.relay_pin
    assert pin.state is False and relay_periods(pin) == []

    daemon.press(person.pin + "#")
    granted = wait_event(daemon_datadir, "access.granted")
    assert (granted["method"], granted["user"]) == ("pin", person.code)
    wait_event(daemon_datadir, "door.not_opened", after_id=granted["id"])
    wait_for(lambda: not pin.state, what="relay off")

    (start, duration), = relay_periods(pin)
    # Never shorter than the unlock time; its exact length is checked on the stepped daemon
    # (test_daemon_stepped.py), where a loaded machine cannot make the loop late.
    assert duration >= daemon.config.door.unlock_seconds - 0.05
    assert not daemon.status()["relay"]


WRONG = "000000"  # all-same-digit PINs are blocklisted, so nobody ever holds this one


def test_wrong_pin_is_denied_and_never_energises_the_relay(start_daemon, daemon_datadir):
    daemon = start_daemon()
    add_person(daemon_datadir, daemon.config)
    daemon.press(WRONG + "#")
    denied = wait_event(daemon_datadir, "access.denied")
    assert (denied["reason"], denied["method"], denied["user"]) == ("unknown_credential", "pin", None)
    daemon.drain()
    assert relay_periods(daemon.relay_pin) == []
    assert matching(events(daemon_datadir), "access.granted") == []


@pytest.mark.faults
def test_a_keypad_lockout_survives_a_daemon_restart(start_daemon, daemon_datadir):
    config = fast_config(pin={"lockout_base_seconds": 120.0, "lockout_max_seconds": 240.0})
    first = start_daemon(config)
    person = add_person(daemon_datadir, config)
    first.press(f"{WRONG}#{WRONG}#{WRONG}#")
    wait_event(daemon_datadir, "lockout.started")
    first.stop()
    assert events(daemon_datadir)[-1]["type"] == "daemon.stopped"

    second = start_daemon(config)
    assert second.status()["lockout"]["active"] is True
    mark = last_event_id(daemon_datadir)
    second.press(person.pin + "#")
    refused = wait_event(daemon_datadir, "access.denied", after_id=mark)
    assert refused["reason"] == "locked_out"
    assert relay_periods(second.relay_pin) == []


def alarm_kinds(status: dict) -> set[str]:
    return {a["kind"] for a in status["alarms"] if not a["cleared"]}


def test_door_opened_without_a_grant_is_forced_and_raises_an_alarm(start_daemon, daemon_datadir):
    daemon = start_daemon()
    daemon.call("sim.door", open=True)
    wait_event(daemon_datadir, "door.forced")
    status = wait_for(lambda: (s := daemon.status())["door"] == "forced_open" and s, what="forced_open status")
    assert "door_forced" in alarm_kinds(status)
    assert status["relay"] is False
    assert relay_periods(daemon.relay_pin) == []


def test_relock_as_soon_as_the_door_closes_after_a_grant(start_daemon, daemon_datadir):
    daemon = start_daemon(fast_config(door={"unlock_seconds": 6.0, "max_unlock_seconds": 10.0,
                                            "extended_unlock_seconds": 6.0}))
    person = add_person(daemon_datadir, daemon.config)
    daemon.press(person.pin + "#")
    granted = wait_event(daemon_datadir, "access.granted")
    wait_for(lambda: daemon.relay_pin.state, what="relay on")
    daemon.call("sim.door", open=True)
    wait_event(daemon_datadir, "door.opened", after_id=granted["id"])
    assert daemon.relay_pin.state is True  # still unlocked while the door is open
    daemon.call("sim.door", open=False)
    closed = wait_event(daemon_datadir, "door.closed", after_id=granted["id"])
    wait_for(lambda: not daemon.relay_pin.state, timeout=2.0, what="relay off on close")

    (_, duration), = relay_periods(daemon.relay_pin)
    assert duration < 4.0  # well before the 6 s unlock time
    after = events(daemon_datadir, granted["id"])
    assert matching(after, "door.forced") == [] and matching(after, "door.not_opened") == []
    assert closed["id"] > matching(after, "door.opened")[0]["id"]


def test_exit_button_is_logged_and_shunts_the_forced_alarm(start_daemon, daemon_datadir):
    daemon = start_daemon()
    daemon.call("sim.exit")
    request = wait_event(daemon_datadir, "exit.request")
    daemon.call("sim.door", open=True)
    wait_event(daemon_datadir, "door.opened", after_id=request["id"])
    daemon.call("sim.door", open=False)
    wait_event(daemon_datadir, "door.closed", after_id=request["id"])
    assert matching(events(daemon_datadir), "door.forced") == []
    assert "door_forced" not in alarm_kinds(daemon.status())


def test_tamper_switch_logs_an_event_and_raises_an_alarm(start_daemon, daemon_datadir):
    daemon = start_daemon()
    daemon.call("sim.tamper", active=True)
    tamper = wait_event(daemon_datadir, "tamper")
    assert tamper["detail"] == {"phase": "active"}
    assert "tamper" in alarm_kinds(daemon.status())
    assert relay_periods(daemon.relay_pin) == []
    daemon.call("sim.tamper", active=False)
    wait_event(daemon_datadir, "tamper", after_id=tamper["id"])
    assert "tamper" not in alarm_kinds(daemon.status())


def test_revoking_a_person_elsewhere_refuses_their_pin_at_once(start_daemon, daemon_datadir):
    """T1.7: the web revokes in its own session; the daemon holds no stale copy of the person."""
    daemon = start_daemon()
    person = add_person(daemon_datadir, daemon.config)
    daemon.press(person.pin + "#")  # the daemon has now looked this person up once
    granted = wait_event(daemon_datadir, "access.granted", user=person.code)
    wait_for(lambda: not daemon.relay_pin.state, what="relay off")

    changes.apply(daemon_datadir, "user.set_status", {"user": person.code, "status": "revoked"})
    daemon.press(person.pin + "#")
    refused = wait_event(daemon_datadir, "access.denied", after_id=granted["id"])
    assert (refused["reason"], refused["user"]) == ("revoked", person.code)
    assert len(relay_periods(daemon.relay_pin)) == 1


LONG_UNLOCK = {"unlock_seconds": 6.0, "extended_unlock_seconds": 6.0, "max_unlock_seconds": 10.0}


@pytest.mark.faults
def test_a_handler_exception_during_an_unlock_drops_the_relay_and_the_loop_keeps_serving(start_daemon,
                                                                                        daemon_datadir):
    daemon = start_daemon(fast_config(door=LONG_UNLOCK))
    person = add_person(daemon_datadir, daemon.config)
    indicators = daemon.hw.indicators
    real_granted = indicators.granted
    failures: list[str] = []

    def granted_once_broken() -> None:  # runs on the loop thread right after the relay went on
        if not failures:
            failures.append("boom")
            raise RuntimeError("indicator driver failed")
        real_granted()

    indicators.granted = granted_once_broken
    daemon.press(person.pin + "#")
    wait_for(lambda: failures, what="the broken handler to run")
    status = wait_for(lambda: (s := daemon.status()) and "daemon_error" in alarm_kinds(s) and s,
                      what="daemon_error alarm")
    assert status["relay"] is False and daemon.relay_pin.state is False
    (_, duration), = relay_periods(daemon.relay_pin)
    assert duration < 3.0  # forced off by the failure, not by the 6 s unlock timer

    mark = last_event_id(daemon_datadir)
    daemon.press(person.pin + "#")  # still serving the keypad
    wait_event(daemon_datadir, "access.granted", after_id=mark, user=person.code)
    wait_for(lambda: len(relay_periods(daemon.relay_pin)) == 2, what="second unlock")


@pytest.mark.faults
def test_stopping_the_daemon_during_an_unlock_leaves_the_relay_off(start_daemon, daemon_datadir):
    daemon = start_daemon(fast_config(door=LONG_UNLOCK))
    person = add_person(daemon_datadir, daemon.config)
    daemon.press(person.pin + "#")
    wait_for(lambda: daemon.status()["relay"], what="relay on")
    daemon.stop()
    assert daemon.relay_pin.state is False
    (_, duration), = relay_periods(daemon.relay_pin)
    assert duration < 5.0
    rows = events(daemon_datadir)
    assert rows[-1]["type"] == "daemon.stopped"


@pytest.fixture(scope="module")
def shared_daemon(tmp_path_factory) -> Iterator[DaemonRunner]:
    """One daemon for tests that only ask questions and must leave it untouched."""
    datadir = prepare_datadir(tmp_path_factory.mktemp("shared") / "data")
    runner = DaemonRunner(datadir, fast_config()).start()
    add_person(datadir, runner.config)
    try:
        yield runner
    finally:
        runner.stop()


@pytest.mark.parametrize(
    ("cmd", "params", "message"),
    [
        ("reboot", {}, "unknown command"),
        ("pin.issue", {"user": "bob"}, "person code"),
        ("pin.issue", {"user": "U9999"}, "no person with code U9999"),
        ("finger.begin", {"user": "U0001"}, "unknown command"),  # enrolment's internal step
        ("finger.commit", {"user": "U0001", "slot": 0}, "unknown command"),
        ("finger.forget", {"user": "U0001"}, "unknown command"),
        ("finger.enroll", {"user": "U9999"}, "no person with code U9999"),
        ("sim.press", {"keys": "12x#"}, "keys must be"),
        ("sim.self_destruct", {}, "unknown simulation command"),
        ("alarm.ack", {"id": 2**63, "actor": "alice"}, "alarm id must be a whole number from 1 to 9223372036854775807"),
        ("alarm.ack", {"id": 10**40, "actor": "alice"}, "alarm id must be a whole number"),
        ("alarm.ack", {"id": "x", "actor": "alice"}, "alarm id must be a number"),
    ],
)
def test_control_socket_refuses_bad_requests_with_a_clear_error(shared_daemon, cmd, params, message):
    daemon = shared_daemon
    with pytest.raises(DaemonError, match=message):
        daemon.call(cmd, **params)
    assert relay_periods(daemon.relay_pin) == []
    assert matching(events(daemon.datadir), "admin.finger_enrolled") == []
    with open_session(daemon.datadir) as session:
        assert session.scalars(select(models.FingerCredential)).all() == []
        session.bind.dispose()
    status = daemon.status()
    assert status["door"] == "locked"  # still serving
    assert "daemon_error" not in alarm_kinds(status)  # a refusal, not a failure of the daemon


def test_sim_commands_are_refused_without_simulated_hardware(start_daemon, daemon_datadir):
    """Real hardware has no ``sim.*``: a daemon whose hardware carries no simulation refuses them."""

    def hardware_without_simulation(config, datadir, sink):
        hw = build_hardware(config, datadir, sink)
        hw.real_sim, hw.sim = hw.sim, None  # keep it to close the simulator; the daemon sees real hardware
        return hw

    daemon = start_daemon(hardware_factory=hardware_without_simulation)
    for cmd, params in [("sim.press", {"keys": "1#"}), ("sim.door", {"open": True}), ("sim.exit", {}),
                        ("sim.finger", {"label": "L"}), ("sim.tamper", {"active": True})]:
        with pytest.raises(DaemonError, match="only when the hardware is simulated"):
            daemon.call(cmd, **params)
    assert matching(events(daemon_datadir), "door.forced") == []
    assert matching(events(daemon_datadir), "tamper") == []
    daemon.stop()
    daemon.hw.real_sim.close()


@pytest.mark.faults
def test_a_command_failing_during_a_remote_unlock_drops_the_relay(start_daemon, daemon_datadir):
    """Fail-secure covers control commands too: an exception after the relay went on ends with it off."""
    daemon = start_daemon(fast_config(door=LONG_UNLOCK))
    indicators = daemon.hw.indicators
    real_granted = indicators.granted
    failures: list[str] = []

    def granted_once_broken() -> None:
        if not failures:
            failures.append("boom")
            raise RuntimeError("indicator driver failed")
        real_granted()

    indicators.granted = granted_once_broken
    with pytest.raises(DaemonError, match="internal error"):
        daemon.call("unlock", actor="tester")
    status = daemon.status()
    assert status["relay"] is False and daemon.relay_pin.state is False
    assert "daemon_error" in alarm_kinds(status)
    (_, duration), = relay_periods(daemon.relay_pin)
    assert duration < 3.0  # forced off at once, not after the 6 s unlock time

    daemon.call("unlock", actor="tester")  # and the daemon still serves
    wait_for(lambda: len(relay_periods(daemon.relay_pin)) == 2, what="second unlock")


def test_a_person_given_a_new_pin_by_the_daemon_then_revoked_elsewhere_is_refused(start_daemon, daemon_datadir):
    """T1.7 after ``pin.issue`` (the web's "reset PIN"): the daemon must not answer from a cached person."""
    daemon = start_daemon()
    person = add_person(daemon_datadir, daemon.config)
    new_pin = daemon.call("pin.issue", user=person.code, actor="web-admin")["pin"]
    assert new_pin != person.pin
    daemon.press(new_pin + "#")
    granted = wait_event(daemon_datadir, "access.granted", user=person.code)
    wait_for(lambda: not daemon.relay_pin.state, what="relay off")

    changes.apply(daemon_datadir, "user.set_status", {"user": person.code, "status": "revoked"})
    daemon.press(new_pin + "#")
    refused = wait_event(daemon_datadir, "access.denied", after_id=granted["id"])
    assert (refused["reason"], refused["user"]) == ("revoked", person.code)
    assert len(relay_periods(daemon.relay_pin)) == 1


def lockdown(datadir, on: bool) -> dict:
    """``kunci lockdown on|off --reason ...`` as the CLI does it (through the running daemon)."""
    return changes.apply(datadir, "door.lockdown", {"on": on, "reason": "drill"}, actor="cli:tester")


def test_a_lockdown_refuses_every_unlock_the_exit_button_included_and_is_logged(start_daemon, daemon_datadir):
    """A door in lockdown energises the strike for nothing; egress is mechanical."""
    daemon = start_daemon()
    person = add_person(daemon_datadir, daemon.config)
    assert lockdown(daemon_datadir, True)["changed"] is True
    started, = matching(events(daemon_datadir), "lockdown.started")
    assert (started["actor"], started["detail"]) == (changes.local_account(), {"reason": "drill"})  # who, from the kernel
    assert daemon.status()["lockdown"] is True and daemon.status()["entry_blocked"] == "lockdown"
    daemon.press(person.pin + "#")
    denied = wait_event(daemon_datadir, "access.denied")
    assert (denied["reason"], denied["user"]) == ("lockdown", person.code)
    with pytest.raises(DaemonError, match="lockdown"):
        daemon.call("unlock", actor="tester")
    daemon.call("sim.exit")
    wait_event(daemon_datadir, "exit.request")
    daemon.drain()
    assert relay_periods(daemon.relay_pin) == []

    assert lockdown(daemon_datadir, False)["changed"] is True
    assert matching(events(daemon_datadir), "lockdown.ended")
    mark = last_event_id(daemon_datadir)
    daemon.press(person.pin + "#")
    wait_event(daemon_datadir, "access.granted", after_id=mark, user=person.code)
    wait_for(lambda: len(relay_periods(daemon.relay_pin)) == 1, what="unlock after the lockdown")


def test_lockdown_set_during_an_unlock_relocks_at_once(start_daemon, daemon_datadir):
    daemon = start_daemon(fast_config(door=LONG_UNLOCK))
    daemon.call("unlock", actor="tester")
    wait_for(lambda: daemon.relay_pin.state, what="relay on")
    lockdown(daemon_datadir, True)
    assert not daemon.relay_pin.state  # relocked before the command answered, not at the end of the 6 s
    (_, duration), = relay_periods(daemon.relay_pin)
    assert duration is not None
