"""The daemon's loop-thread command handlers (controller/daemon/commands.py), one by one, on a stepped daemon.

Each command runs exactly as the control socket runs it (queued, handled on the loop's turn) but with no
socket, no loop thread and an injected clock (tests/controller/stepped.py). What is checked is what the
caller and the log see: the answer or the refusal, the event sealed with the caller's actor, and that a
refusal changes nothing.
"""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from controller.errors import InvalidInput, KunciError, NotFound, PolicyRefused
from drivers import events as ev
from tests.controller.daemon_harness import add_person, events, execute, last_event_id, matching
from tests.controller.stepped import SteppedDaemon, stepped_config

ROOT = "cli:root"


@pytest.fixture
def door(daemon_datadir):
    with SteppedDaemon(daemon_datadir) as stepped:
        yield stepped


def add_staff(door: SteppedDaemon, username: str, role: str) -> None:
    digest = PasswordHasher().hash("a long enough passphrase for tests")
    door.command("admin", op="staff.add", actor=ROOT,
                 params={"username": username, "role": role, "password_hash": digest})


def test_status_answers_with_the_door_locked_and_no_alarms(door):
    status = door.command("status")
    assert (status["door"], status["relay"], status["alarms"]) == ("locked", False, [])


def test_admin_user_add_is_sealed_with_the_actor_and_the_pin_opens_on_the_next_key(door, daemon_datadir):
    added = door.command("admin", op="user.add", actor=ROOT,
                         params={"name": "Rina", "agreement_signed_on": "2020-01-02"})
    event, = matching(events(daemon_datadir), "admin.user_added")
    assert (event["user"], event["actor"]) == (added["code"], ROOT) and event["seq"] is not None
    door.type(added["pin"] + "#", gap=0.1)
    assert matching(events(daemon_datadir), "access.granted", user=added["code"]) and door.relay_on


@pytest.mark.parametrize(("op", "params", "error"), [
    ("user.add", {"name": "<script>", "agreement_signed_on": "2020-01-02"}, InvalidInput),
    ("user.add", {"name": "Rina", "agreement_signed_on": "2020-01-02", "is_admin": True}, InvalidInput),
    ("user.set_status", {"user": "U0999", "status": "suspended"}, NotFound),
    ("holiday.add", {"day": "2026-02-30", "name": "x"}, InvalidInput),
    ("no.such_op", {}, InvalidInput),
])
def test_a_refused_admin_op_raises_and_writes_nothing(door, daemon_datadir, op, params, error):
    mark = last_event_id(daemon_datadir)
    with pytest.raises(error):
        door.command("admin", op=op, actor=ROOT, params=params)
    assert events(daemon_datadir, mark) == []


def test_pin_issue_gives_a_new_pin_the_old_one_stops_working(daemon_datadir):
    with SteppedDaemon(daemon_datadir) as door:
        added = door.command("admin", op="user.add", actor=ROOT,
                             params={"name": "Budi", "agreement_signed_on": "2020-01-02"})
        issued = door.command("pin.issue", user=added["code"], actor=ROOT)
        assert issued["pin"] != added["pin"]
        door.type(added["pin"] + "#", gap=0.1)
        assert matching(events(daemon_datadir), "access.denied", reason="unknown_credential")
        door.advance(2.0)
        door.type(issued["pin"] + "#", gap=0.1)
        assert matching(events(daemon_datadir), "access.granted", user=added["code"])


def test_pin_issue_for_a_malformed_code_is_refused(door):
    with pytest.raises(InvalidInput, match="person code"):
        door.command("pin.issue", user="bob", actor=ROOT)


def test_remote_unlock_energises_the_strike_and_is_logged_with_the_actor(door, daemon_datadir):
    answer = door.command("unlock", actor=ROOT)
    assert answer == {"unlocked_seconds": door.config.door.unlock_seconds} and door.relay_on
    granted, = matching(events(daemon_datadir), "access.granted", method="remote")
    assert granted["actor"] == ROOT
    door.advance(door.config.door.unlock_seconds + 0.1)
    assert not door.relay_on


def test_remote_unlock_in_lockdown_is_refused_logged_and_the_strike_never_moves(door, daemon_datadir):
    execute(daemon_datadir, "UPDATE doors SET lockdown = 1")
    door.advance(1.0)  # the loop follows the door row's lockdown flag
    with pytest.raises(KunciError, match="lockdown"):
        door.command("unlock", actor=ROOT)
    assert matching(events(daemon_datadir), "access.denied", method="remote", reason="lockdown")
    assert not door.relay_on and not any(s.state for s in door.relay_pin.states)


@pytest.mark.parametrize(("alarm_id", "error", "message"), [
    ("x", InvalidInput, "must be a number"), (0, InvalidInput, "from 1"), (2**70, InvalidInput, "from 1"),
    (4242, NotFound, "no alarm #4242"),
])
def test_alarm_ack_of_a_bad_or_missing_id_is_refused(door, daemon_datadir, alarm_id, error, message):
    mark = last_event_id(daemon_datadir)
    with pytest.raises(error, match=message):
        door.command("alarm.ack", id=alarm_id, actor=ROOT)
    assert events(daemon_datadir, mark) == []


def test_a_tamper_alarm_cannot_be_acknowledged_while_the_enclosure_is_open(door, daemon_datadir):
    door.put(ev.TamperChanged(True, door.clock.t))
    alarm = next(a for a in door.status()["alarms"] if a["kind"] == "tamper")
    with pytest.raises(KunciError, match="still open"):
        door.command("alarm.ack", id=alarm["id"], actor=ROOT)
    assert door.status()["entry_blocked"] == "tamper"
    door.put(ev.TamperChanged(False, door.clock.t))
    door.command("alarm.ack", id=alarm["id"], actor=ROOT)
    assert door.status()["entry_blocked"] is None
    ack, = matching(events(daemon_datadir), "admin.alarm_acknowledged")
    assert ack["actor"] == ROOT and ack["detail"] == {"alarm": alarm["id"], "kind": "tamper"}


def test_staff_check_lets_an_active_admin_through_and_refuses_auditors_and_disabled_logins(door):
    add_staff(door, "ani", "admin")
    add_staff(door, "aud", "auditor")
    door.command("staff.check", actor="ani", cmd="admin", op="user.add")
    door.command("staff.check", actor="aud", cmd="admin", op="event.record")  # an auditor records its own events
    with pytest.raises(PolicyRefused, match="auditor"):
        door.command("staff.check", actor="aud", cmd="admin", op="user.add")
    with pytest.raises(PolicyRefused, match="auditor"):
        door.command("staff.check", actor="aud", cmd="unlock")
    door.command("admin", op="staff.set_active", actor=ROOT, params={"username": "ani", "active": False})
    with pytest.raises(PolicyRefused, match="not an active account"):
        door.command("staff.check", actor="ani", cmd="admin", op="user.add")
    with pytest.raises(PolicyRefused, match="not an active account"):
        door.command("staff.check", actor="nobody", cmd="admin", op="user.add")


def test_a_person_added_before_start_and_one_added_through_the_loop_are_both_known(daemon_datadir):
    first = add_person(daemon_datadir, stepped_config())
    with SteppedDaemon(daemon_datadir) as door:
        second = door.command("admin", op="user.add", actor=ROOT,
                              params={"name": "Dewi", "agreement_signed_on": "2020-01-02"})
        for person_pin, code in ((first.pin, first.code), (second["pin"], second["code"])):
            door.type(person_pin + "#", gap=0.1)
            assert matching(events(daemon_datadir), "access.granted", user=code)
            door.advance(2.0)
