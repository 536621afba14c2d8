"""Records-room rules on the real daemon, stepped on an injected clock (tests/controller/stepped.py): the
lockdown override group, duress PINs, the two-person rule and the holiday reason (issue 13).

People, groups, schedules, holidays, duress PINs and the lockdown flag are set before the daemon starts,
through the same admin operations as ``kunci ...`` (the writer lock, no daemon running): a lockdown set
then is in force when the daemon starts, as after a restart.
"""

from __future__ import annotations

from controller.control import changes
from tests.controller.daemon_harness import add_person, events, last_event_id, matching
from tests.controller.stepped import START_WALL, TICK_SECONDS, SteppedDaemon, stepped_config


def apply(datadir, config, op: str, **params) -> dict:
    return changes.apply(datadir, op, params, actor="cli:test", config=config)


def active_alarms(door: SteppedDaemon) -> set[str]:
    return {a["kind"] for a in door.status()["alarms"] if not a["cleared"]}


def test_a_lockdown_survives_a_restart_and_admits_only_the_override_group(daemon_datadir):
    config = stepped_config(door={"lockdown_override_group": "guards"})
    apply(daemon_datadir, config, "group.add", name="guards")
    guard = add_person(daemon_datadir, config, name="Guard", group="guards")
    clerk = add_person(daemon_datadir, config, name="Clerk")
    apply(daemon_datadir, config, "door.lockdown", on=True, reason="audit in progress")
    with SteppedDaemon(daemon_datadir, config) as door:  # started after the lockdown: as after a restart
        assert door.status()["lockdown"] is True
        door.type(clerk.pin + "#", gap=TICK_SECONDS)
        refused, = matching(events(daemon_datadir), "access.denied", user=clerk.code)
        assert refused["reason"] == "lockdown" and not door.relay_on
        door.advance(1.0)
        door.type(guard.pin + "#", gap=TICK_SECONDS)
        assert matching(events(daemon_datadir), "access.granted", user=guard.code)
        assert door.relay_on  # the strike moves for the override group, lockdown or not
        door.advance(door.config.door.unlock_seconds + TICK_SECONDS)
        assert not door.relay_on
        door.exit_button()
        assert not door.relay_on  # egress during a lockdown stays mechanical


def test_a_duress_pin_opens_like_the_pin_with_the_same_feedback_and_a_silent_sealed_alarm(daemon_datadir):
    config = stepped_config(pin={"duress_pins": True})
    person = add_person(daemon_datadir, config)
    duress_pin = apply(daemon_datadir, config, "user.issue_duress_pin", user=person.code)["duress_pin"]
    assert duress_pin != person.pin and len(duress_pin) == len(person.pin)
    with SteppedDaemon(daemon_datadir, config) as door:
        indicators = door.daemon.hw.indicators
        door.type(person.pin + "#", gap=TICK_SECONDS)
        normal = (door.relay_on, indicators.pattern, indicators.state)
        door.advance(door.config.door.unlock_seconds + 1.0)
        mark = last_event_id(daemon_datadir)
        door.type(duress_pin + "#", gap=TICK_SECONDS)
        assert (door.relay_on, indicators.pattern, indicators.state) == normal  # nothing tells them apart
        rows = events(daemon_datadir, mark)
        assert [r["type"] for r in rows] == ["duress", "alarm.raised", "access.granted"]  # sealed first, in the same step
        assert rows[0]["user"] == rows[2]["user"] == person.code and rows[0]["seq"] < rows[2]["seq"]
        assert rows[1]["detail"]["alarm"] == "duress" and rows[1]["user"] is None  # what leaves the room: codes
        assert rows[2]["detail"] == {"duress": True}
        assert "duress" in active_alarms(door)
        assert indicators.pattern != "alarm"  # silent: the door shows no alarm


def test_duress_pins_are_refused_while_the_rule_is_off(daemon_datadir):
    config = stepped_config()
    person = add_person(daemon_datadir, config)
    try:
        apply(daemon_datadir, config, "user.issue_duress_pin", user=person.code)
    except Exception as exc:  # noqa: BLE001 - the refusal is the point
        assert "duress_pins = true" in str(exc)
    else:
        raise AssertionError("a duress PIN was issued with duress_pins off")


def test_two_people_within_the_window_open_one_alone_or_twice_does_not(daemon_datadir):
    config = stepped_config(door={"two_person_rule": True, "two_person_window_seconds": 30.0})
    first = add_person(daemon_datadir, config, name="First")
    second = add_person(daemon_datadir, config, name="Second")
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type(first.pin + "#", gap=TICK_SECONDS)
        door.advance(2.0)
        door.type(first.pin + "#", gap=TICK_SECONDS)  # the same person twice is still one person
        refused = matching(events(daemon_datadir), "access.denied", user=first.code)
        assert [r["reason"] for r in refused] == ["second_person_required"] * 2 and not door.relay_on
        assert not matching(events(daemon_datadir), "lockout.started")  # a valid credential is no failure
        door.advance(10.0)
        door.type(second.pin + "#", gap=TICK_SECONDS)
        granted, = matching(events(daemon_datadir), "access.granted", user=second.code)
        assert granted["detail"] == {"second_person_of": first.code} and door.relay_on

        door.advance(door.config.door.unlock_seconds + 1.0)
        mark = last_event_id(daemon_datadir)
        door.type(first.pin + "#", gap=TICK_SECONDS)
        door.advance(31.0)  # the window ends
        door.type(second.pin + "#", gap=TICK_SECONDS)
        assert [r["reason"] for r in matching(events(daemon_datadir, mark), "access.denied")] == [
            "second_person_required", "second_person_required"]
        assert not door.relay_on


def test_a_holiday_refusal_says_holiday_not_outside_schedule(daemon_datadir):
    config = stepped_config()
    every_day = [[day, 0, 1440] for day in range(7)]
    apply(daemon_datadir, config, "schedule.add", name="always", windows=every_day, allow_on_holidays=False)
    apply(daemon_datadir, config, "group.add", name="office", schedule="always")
    apply(daemon_datadir, config, "holiday.add", day=START_WALL.date().isoformat(), name="Nyepi")
    person = add_person(daemon_datadir, config, group="office")
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type(person.pin + "#", gap=TICK_SECONDS)
        refused, = matching(events(daemon_datadir), "access.denied", user=person.code)
        assert refused["reason"] == "holiday"


def test_a_burst_of_wrong_pins_is_a_sealed_guessing_event_as_well_as_an_alarm(daemon_datadir):
    config = stepped_config(pin={"alarm_after_failures": 3, "alarm_window_seconds": 600.0,
                                 "lockout_after_failures": 50})
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type("000000#" * 3, gap=TICK_SECONDS)
        guessing, = matching(events(daemon_datadir), "lockout.guessing")
        assert guessing["seq"] is not None
        assert guessing["detail"] == {"channel": "keypad", "failures": 3, "window_seconds": 600}
        assert "keypad_guessing" in active_alarms(door)


def test_a_group_that_requires_two_factors_or_two_persons_is_held_to_it_at_a_laxer_door(daemon_datadir):
    config = stepped_config()  # the door: pin_or_finger, no two-person rule
    apply(daemon_datadir, config, "group.add", name="vault")
    apply(daemon_datadir, config, "group.set_rules", group="vault", required_mode="pin_and_finger", two_person=False)
    apply(daemon_datadir, config, "group.add", name="pairs")
    apply(daemon_datadir, config, "group.set_rules", group="pairs", required_mode=None, two_person=True)
    vault = add_person(daemon_datadir, config, name="Vault", group="vault")
    pair_a = add_person(daemon_datadir, config, name="Pair A", group="pairs")
    pair_b = add_person(daemon_datadir, config, name="Pair B", group="pairs")
    plain = add_person(daemon_datadir, config, name="Plain")
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type(plain.pin + "#", gap=TICK_SECONDS)
        assert matching(events(daemon_datadir), "access.granted", user=plain.code)  # the door's mode for others
        door.advance(config.door.unlock_seconds + 1.0)
        door.type(vault.pin + "#", gap=TICK_SECONDS)
        assert not door.relay_on  # the PIN alone waits for the finger
        door.advance(config.door.second_factor_timeout_seconds + 1.0)
        refused, = matching(events(daemon_datadir), "access.denied", user=vault.code)
        assert refused["reason"] == "second_factor_required"
        door.type(pair_a.pin + "#", gap=TICK_SECONDS)
        assert matching(events(daemon_datadir), "access.denied", user=pair_a.code, reason="second_person_required")
        door.type(pair_b.pin + "#", gap=TICK_SECONDS)
        assert matching(events(daemon_datadir), "access.granted", user=pair_b.code) and door.relay_on
