"""The keypad reveals nothing (issue 10, item 5): a refused PIN looks and counts the same whatever the reason.

A person at the door must not learn that a PIN belongs to someone (suspended, revoked, expired, not
yet valid, outside their schedule or on a holiday) from the indicators, the buzzer or the lockout
starting or not. Only the event log, read by security staff, says the true reason.

The daemon runs with an injected wall clock that starts on a fixed Wednesday at noon UTC, so
schedules, validity dates and holidays are judged against a known date; the lockout lasts far longer
than the test, so nothing here depends on how fast the machine is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from controller.control import changes
from controller.paths import DataDir
from tests.controller.daemon_harness import (
    DaemonRunner,
    add_person,
    events,
    fast_config,
    last_event_id,
    matching,
    prepare_datadir,
    wait_event,
    wait_for,
)

#: The daemon's "now" starts here: a Wednesday (weekday 2), noon UTC (the site timezone is UTC).
START = datetime(2026, 3, 4, 12, 0, tzinfo=timezone.utc)
TODAY = START.date()
WEDNESDAY = START.weekday()  # 2
UNKNOWN = "000000"  # all-same-digit PINs are blocklisted, so nobody ever holds this one

#: The lockout starts at the third refusal and outlasts any test run.
CONFIG = fast_config(pin={"lockout_after_failures": 3, "lockout_base_seconds": 600.0, "lockout_max_seconds": 600.0},
                     sensor={"enabled": False})


def wall_from(start: datetime) -> Callable[[], datetime]:
    """A wall clock that reads ``start`` when made and then advances with the monotonic clock."""
    t0 = time.monotonic()
    return lambda: start + timedelta(seconds=time.monotonic() - t0)


def refused_pin(datadir: DataDir, kind: str) -> str:
    """A PIN the daemon will refuse for reason ``kind`` at :data:`START` (enrolled as an admin would)."""
    if kind == "unknown_credential":
        return UNKNOWN
    fields: dict = {}
    if kind == "expired":
        fields["valid_until"] = TODAY - timedelta(days=1)
    elif kind == "not_yet_valid":
        fields["valid_from"] = TODAY + timedelta(days=1)
    elif kind in ("outside_schedule", "holiday"):
        # outside_schedule: Wednesdays 00:00-01:00 only. holiday: all of Wednesday, but today is a holiday.
        window = (WEDNESDAY, 0, 60) if kind == "outside_schedule" else (WEDNESDAY, 0, 1440)
        changes.apply(datadir, "schedule.add", {"name": kind, "windows": [list(window)]}, config=CONFIG)
        changes.apply(datadir, "group.add", {"name": kind, "schedule": kind}, config=CONFIG)
        if kind == "holiday":
            changes.apply(datadir, "holiday.add", {"day": TODAY.isoformat(), "name": "Test holiday"}, config=CONFIG)
        fields["group"] = kind
    person = add_person(datadir, CONFIG, name=f"Refused {kind}", **fields)
    if kind in ("suspended", "revoked"):
        changes.apply(datadir, "user.set_status", {"user": person.code, "status": kind}, config=CONFIG)
    return person.pin


#: The reason each kind of refused PIN is logged with (a holiday says "holiday", issue 13).
LOGGED_REASON = {"unknown_credential": "unknown_credential", "suspended": "suspended", "revoked": "revoked",
                 "expired": "expired", "not_yet_valid": "not_yet_valid", "outside_schedule": "outside_schedule",
                 "holiday": "holiday"}


@pytest.fixture
def daemons(tmp_path: Path) -> Iterator[Callable[[str], tuple[DaemonRunner, DataDir]]]:
    """``daemons(name)`` prepares a fresh data directory and starts a daemon on it (stopped at the end)."""
    runners: list[DaemonRunner] = []

    def start(name: str) -> tuple[DaemonRunner, DataDir]:
        datadir = prepare_datadir(tmp_path / name)
        runner = DaemonRunner(datadir, CONFIG, wall=wall_from(START))
        runners.append(runner)
        return runner.start(), datadir

    yield start
    for runner in reversed(runners):
        runner.stop()


def status(daemon: DaemonRunner) -> dict:
    """The daemon's ``status`` answer, asked on its loop (the control socket is not what is tested here)."""
    return daemon.daemon.submit("status", {})


def indicator_pins(daemon: DaemonRunner) -> dict:
    gpio = daemon.config.gpio
    factory = daemon.hw.sim.factory
    return {"green": factory.pin(gpio.green_led_pin), "red": factory.pin(gpio.red_led_pin),
            "buzzer": factory.pin(gpio.buzzer_pin)}


def type_digits(daemon: DaemonRunner, digits: str) -> None:
    """Type digits, each once its acknowledgement beep is over (so the next pattern starts from silence)."""
    buzzer = indicator_pins(daemon)["buzzer"]
    for key in digits:
        mark = len(buzzer.states)
        daemon.type_key(key)
        wait_for(lambda: len(buzzer.states) >= mark + 2 and not buzzer.state, what=f"ack beep of {key!r}")


def submit_and_record(daemon: DaemonRunner, datadir: DataDir, pin: str) -> tuple[dict, dict]:
    """Type ``pin`` then ``#``; return (the decision's event, each indicator's levels after ``#``)."""
    type_digits(daemon, pin)
    pins = indicator_pins(daemon)
    marks = {name: len(p.states) for name, p in pins.items()}
    mark_id = last_event_id(datadir)
    daemon.type_key("#")
    decision = wait_event(datadir, "access.denied", after_id=mark_id)
    daemon.drain()
    # The denied pattern: three red flashes, each with a beep, then dark and silent.
    wait_for(lambda: daemon.hw.indicators.pattern != "denied"
             or all(len(pins[n].states) >= marks[n] + 6 and not pins[n].state for n in ("red", "buzzer")),
             what="denied pattern played to its end")
    levels = {name: [s.state for s in p.states[marks[name]:]] for name, p in pins.items()}
    return decision, levels


#: What a denied PIN looks like on the pins (levels after ``#``): three red flashes, each with a beep.
DENIED_FEEDBACK = {"green": [], "red": [True, False] * 3, "buzzer": [True, False] * 3}


def test_a_suspended_persons_pin_gives_the_same_feedback_as_an_unknown_pin(daemons):
    unknown_daemon, unknown_dir = daemons("unknown")
    unknown_event, unknown_feedback = submit_and_record(unknown_daemon, unknown_dir, UNKNOWN)

    suspended_daemon, suspended_dir = daemons("suspended")
    suspended_event, suspended_feedback = submit_and_record(suspended_daemon, suspended_dir,
                                                            refused_pin(suspended_dir, "suspended"))

    assert unknown_feedback == DENIED_FEEDBACK
    assert suspended_feedback == unknown_feedback
    assert suspended_daemon.hw.indicators.pattern == unknown_daemon.hw.indicators.pattern == "denied"
    # Both count as one failure toward the lockout...
    assert status(suspended_daemon)["lockout"]["failures"] == status(unknown_daemon)["lockout"]["failures"] == 1
    # ...and only the log tells them apart, for security staff.
    assert (unknown_event["reason"], unknown_event["user"]) == ("unknown_credential", None)
    assert suspended_event["reason"] == "suspended" and suspended_event["user"] is not None


@pytest.mark.parametrize("kinds", [
    ("suspended",) * 3,
    ("revoked",) * 3,
    ("expired",) * 3,
    ("not_yet_valid",) * 3,
    ("outside_schedule",) * 3,
    ("holiday",) * 3,
    ("unknown_credential", "suspended", "revoked"),
], ids=lambda kinds: "-".join(dict.fromkeys(kinds)))
def test_three_refused_pins_of_any_kind_start_the_keypad_lockout(daemons, kinds):
    daemon, datadir = daemons("door")
    pins = {kind: refused_pin(datadir, kind) for kind in dict.fromkeys(kinds)}
    mark = last_event_id(datadir)
    for i, kind in enumerate(kinds):
        denied, feedback = submit_and_record(daemon, datadir, pins[kind])
        assert denied["reason"] == LOGGED_REASON[kind]  # the true reason is logged
        if i < len(kinds) - 1:  # the same three flashes and beeps as an unknown PIN, no lockout yet
            assert feedback == DENIED_FEEDBACK
            assert matching(events(datadir, mark), "lockout.started") == []

    started = wait_event(datadir, "lockout.started", after_id=mark)
    assert started["detail"]["channel"] == "keypad"
    daemon.drain()
    assert status(daemon)["lockout"]["active"] is True
    assert daemon.hw.indicators.pattern == "wait"  # the slow red blink of a lockout, as for unknown PINs
    assert not any(s.state for s in daemon.relay_pin.states)
