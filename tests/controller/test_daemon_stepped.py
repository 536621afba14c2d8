"""The door daemon's timed rules on an injected clock (tests/controller/stepped.py): no sleeps, no real time.

Each test runs the real daemon (database, journal, access controller, door state machine, gpiozero relay
on the MockFactory) turn by turn, moves the clock itself and asserts the exact moment a rule acts: the
relay off at the end of the unlock time and not a tick before, the lockout ending when its seconds are
up, the held-open prealarm and alarm at their thresholds. People are added before the daemon starts (a
change while it runs goes through it, and a stepped daemon answers only when stepped).
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.controller.daemon_harness import add_person, events, last_event_id, matching
from tests.controller.stepped import TICK_SECONDS, SteppedDaemon, stepped_config

WRONG = "000000"  # all-same-digit PINs are blocklisted, so nobody ever holds this one


def types_since(datadir, mark: int) -> list[str]:
    return [row["type"] for row in events(datadir, mark)]


def test_a_grant_energises_the_relay_at_once_for_exactly_the_unlock_time(daemon_datadir):
    config = stepped_config()
    person = add_person(daemon_datadir, config)
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type(person.pin + "#", gap=0.1)
        granted, = matching(events(daemon_datadir), "access.granted")
        assert (granted["method"], granted["user"]) == ("pin", person.code)
        assert door.relay_on
        door.advance(config.door.unlock_seconds - 0.1 - 2 * TICK_SECONDS)  # the '#' key's gap already passed
        assert door.relay_on
        door.advance(3 * TICK_SECONDS)
        assert not door.relay_on
        assert types_since(daemon_datadir, granted["id"]) == ["door.not_opened"]


def test_three_wrong_pins_lock_the_keypad_until_its_seconds_are_up(daemon_datadir):
    config = stepped_config(pin={"lockout_base_seconds": 30.0, "lockout_max_seconds": 60.0})
    person = add_person(daemon_datadir, config)
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type(f"{WRONG}#" * 3)
        started, = matching(events(daemon_datadir), "lockout.started")
        assert started["detail"]["channel"] == "keypad" and started["detail"]["seconds"] == 30
        assert len(matching(events(daemon_datadir), "access.denied", reason="unknown_credential")) == 3

        door.advance(25.0)  # typing the right PIN takes 1.4 s more: still inside the 30 s
        mark = last_event_id(daemon_datadir)
        door.type(person.pin + "#")
        refused, = matching(events(daemon_datadir, mark), "access.denied")
        assert (refused["reason"], refused["method"]) == ("locked_out", "pin")
        assert not door.relay_on and door.status()["lockout"]["active"]

        door.advance(5.0)
        assert matching(events(daemon_datadir, mark), "lockout.ended")
        mark = last_event_id(daemon_datadir)
        door.type(person.pin + "#", gap=0.1)
        assert matching(events(daemon_datadir, mark), "access.granted", user=person.code)
        assert door.relay_on


def test_the_wall_clock_set_forward_a_day_does_not_end_a_keypad_lockout(daemon_datadir):
    config = stepped_config(pin={"lockout_base_seconds": 30.0, "lockout_max_seconds": 60.0})
    person = add_person(daemon_datadir, config)
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type(f"{WRONG}#" * 3)
        door.clock.jump_wall(timedelta(days=1))
        door.advance(1.0)
        mark = last_event_id(daemon_datadir)
        door.type(person.pin + "#")
        refused, = matching(events(daemon_datadir, mark), "access.denied")
        assert refused["reason"] == "locked_out" and not door.relay_on


def test_digits_left_longer_than_the_inter_digit_timeout_are_dropped(daemon_datadir):
    config = stepped_config()
    person = add_person(daemon_datadir, config)
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type("98")
        door.advance(config.pin.inter_digit_timeout_seconds + TICK_SECONDS)
        door.type(person.pin + "#", gap=0.1)  # the stale "98" is not in front of it
        assert matching(events(daemon_datadir), "access.granted", user=person.code)
        assert matching(events(daemon_datadir), "access.denied") == []


def test_a_door_held_open_gives_a_prealarm_then_an_alarm_at_their_thresholds_cleared_on_close(daemon_datadir):
    config = stepped_config(door={"held_open_seconds": 20.0, "held_open_prealarm_seconds": 5.0})
    person = add_person(daemon_datadir, config)
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type(person.pin + "#", gap=0.1)
        door.door(True)
        opened, = matching(events(daemon_datadir), "door.opened")
        door.advance(15.0 - 2 * TICK_SECONDS)  # the prealarm comes 5 s before the 20 s
        assert matching(events(daemon_datadir, opened["id"]), "door.held") == []
        door.advance(3 * TICK_SECONDS)
        prealarm, = matching(events(daemon_datadir, opened["id"]), "door.held")
        assert prealarm["detail"] == {"phase": "prealarm"}
        door.advance(5.0)
        alarm = matching(events(daemon_datadir, prealarm["id"]), "door.held")
        assert [a["detail"] for a in alarm] == [{"phase": "alarm"}]
        status = door.status()
        assert status["door"] == "held_open" and status["relay"] is False
        assert "door_held" in {a["kind"] for a in status["alarms"] if not a["cleared"]}
        door.door(False)
        status = door.status()
        assert status["door"] == "locked"
        assert "door_held" not in {a["kind"] for a in status["alarms"] if not a["cleared"]}


def test_a_door_opened_with_no_grant_is_forced_and_the_relay_never_moves(daemon_datadir):
    with SteppedDaemon(daemon_datadir) as door:
        door.door(True)
        door.advance(1.0)
        assert matching(events(daemon_datadir), "door.forced")
        assert "door_forced" in {a["kind"] for a in door.status()["alarms"]}
        assert not door.relay_on and [s.state for s in door.relay_pin.states if s.state] == []


@pytest.mark.faults
@pytest.mark.parametrize("every", [0.25, 1.0])
def test_unlocks_repeated_while_unlocked_never_hold_the_strike_past_the_cap(daemon_datadir, every):
    """T1.8: re-granting while unlocked cannot keep the strike energised past ``max_unlock_seconds``."""
    config = stepped_config(door={"unlock_seconds": 1.5, "extended_unlock_seconds": 1.5, "max_unlock_seconds": 2.0})
    with SteppedDaemon(daemon_datadir, config) as door:
        on_for = 0.0
        longest = 0.0
        elapsed = 0.0
        while elapsed < 6.0:
            door.command("unlock", actor="tester")
            for _ in range(round(every / TICK_SECONDS)):
                door.advance(TICK_SECONDS)
                elapsed += TICK_SECONDS
                on_for = on_for + TICK_SECONDS if door.relay_on else 0.0
                longest = max(longest, on_for)
        assert longest <= config.door.max_unlock_seconds + TICK_SECONDS
        assert longest >= config.door.unlock_seconds - TICK_SECONDS


def test_an_extended_unlock_longer_than_the_cap_stops_at_the_cap(daemon_datadir):
    """A person's extended unlock above ``max_unlock_seconds`` (a bad config) still stops at the cap."""
    config = stepped_config(door={"unlock_seconds": 1.0, "extended_unlock_seconds": 8.0, "max_unlock_seconds": 2.0})
    person = add_person(daemon_datadir, config, extended_unlock=True)
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type(person.pin + "#", gap=TICK_SECONDS)
        assert door.relay_on
        door.advance(2.0 - 3 * TICK_SECONDS)
        assert door.relay_on
        door.advance(3 * TICK_SECONDS)
        assert not door.relay_on
