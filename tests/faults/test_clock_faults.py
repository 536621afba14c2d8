"""Wall-clock faults (docs/reliability.md T2.6, T5.6, T5.7; issue 6): jumps during an unlock and a lockout, untrusted time.

The daemon gets an injected wall clock that a test moves by +1 day or -1 hour: on the stepped daemon
(tests/controller/stepped.py) for the unlock and the lockout, whose timing is then exact, and on the
threaded one (``MovableWall``) for the rest. Relay timing and lockouts run on the monotonic clock, so a jump changes
neither; the jump itself is logged as ``clock.jumped`` with the expected and the new time. With the
clock untrusted, people restricted by a schedule are refused (``clock_untrusted``), others are admitted.
"""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime, timedelta

import pytest

from controller.config import SiteConfig
from controller.control import changes
from controller.timefmt import parse_iso_utc, utcnow
from tests.controller.daemon_harness import (
    DaemonRunner,
    add_person,
    events,
    fast_config,
    last_event_id,
    matching,
    relay_periods,
    wait_event,
    wait_for,
)
from tests.controller.stepped import TICK_SECONDS, SteppedDaemon, stepped_config
from tests.faults.fault_helpers import on_loop

pytestmark = pytest.mark.faults

WRONG = "000000"  # blocklisted: nobody holds it
DAY, HOUR = 86400.0, 3600.0


class MovableWall:
    """A UTC wall clock a test can set forward or back (thread-safe)."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return utcnow() + timedelta(seconds=self._offset)

    def jump(self, seconds: float) -> None:
        with self._lock:
            self._offset += seconds


def start_with_wall(start_daemon, config) -> tuple[DaemonRunner, MovableWall]:
    wall = MovableWall()
    original = DaemonRunner.start

    def start(self: DaemonRunner, timeout: float = 30.0) -> DaemonRunner:
        self.daemon.wall = wall
        return original(self, timeout)

    DaemonRunner.start = start  # type: ignore[method-assign]
    try:
        return start_daemon(config), wall
    finally:
        DaemonRunner.start = original  # type: ignore[method-assign]


UNLOCK = {"unlock_seconds": 2.0, "extended_unlock_seconds": 2.0, "max_unlock_seconds": 3.0}


@pytest.mark.parametrize("jump", [DAY, -HOUR], ids=["plus-1-day", "minus-1-hour"])
def test_a_wall_clock_jump_during_an_unlock_changes_no_relay_timing_and_is_logged(daemon_datadir, jump):
    config = stepped_config(door=UNLOCK)
    person = add_person(daemon_datadir, config)
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type(person.pin + "#", gap=TICK_SECONDS)
        granted, = matching(events(daemon_datadir), "access.granted", user=person.code)
        assert door.relay_on
        door.advance(0.5)
        door.clock.jump_wall(timedelta(seconds=jump))
        door.advance(UNLOCK["unlock_seconds"] - 0.5 - 3 * TICK_SECONDS)
        assert door.relay_on  # the unlock runs on the monotonic clock: neither cut short nor stretched
        door.advance(3 * TICK_SECONDS)
        assert not door.relay_on
        jumped, = matching(events(daemon_datadir, granted["id"]), "clock.jumped")
        moved = parse_iso_utc(jumped["detail"]["actual"]) - parse_iso_utc(jumped["detail"]["expected"])
        assert moved.total_seconds() == pytest.approx(jump, abs=1)
        assert matching(events(daemon_datadir, granted["id"]), "door.not_opened")


@pytest.mark.parametrize("jump", [-HOUR, DAY], ids=["minus-1-hour", "plus-1-day"])
def test_a_wall_clock_jump_during_a_keypad_lockout_never_shortens_it_nor_stretches_it_past_the_longest(
        daemon_datadir, jump):
    """T2.6 (controller/core/lockout.py "Two clocks"): the lockout holds while either its monotonic or its
    UTC deadline says so. +1 day: the monotonic deadline rules, the lockout lasts its 4 s. -1 hour: the UTC
    deadline is now an hour ahead, further than any lockout we issue, so it is pulled in to now + the
    longest lockout (8 s): stretched to that bound, never to an hour."""
    config = stepped_config(pin={"lockout_base_seconds": 4.0, "lockout_max_seconds": 8.0})
    person = add_person(daemon_datadir, config)
    with SteppedDaemon(daemon_datadir, config) as door:
        door.type(f"{WRONG}#" * 3, gap=TICK_SECONDS)
        started, = matching(events(daemon_datadir), "lockout.started")
        began = door.clock.t
        door.clock.jump_wall(timedelta(seconds=jump))
        door.type(person.pin + "#", gap=TICK_SECONDS)  # during the lockout: refused
        refused, = matching(events(daemon_datadir, started["id"]), "access.denied", user=person.code)
        assert refused["reason"] == "locked_out"
        while not matching(events(daemon_datadir, started["id"]), "lockout.ended"):
            assert door.clock.t - began < 60, "the lockout never ended"
            door.advance(TICK_SECONDS)
        lasted = door.clock.t - began
        expected = config.pin.lockout_base_seconds if jump > 0 else config.pin.lockout_max_seconds
        assert expected - TICK_SECONDS <= lasted <= expected + 2 * TICK_SECONDS
        assert matching(events(daemon_datadir, started["id"]), "clock.jumped")
        mark = last_event_id(daemon_datadir)
        door.type(person.pin + "#", gap=TICK_SECONDS)
        assert matching(events(daemon_datadir, mark), "access.granted", user=person.code) and door.relay_on


def test_with_the_clock_untrusted_scheduled_people_are_refused_and_others_admitted(start_daemon, daemon_datadir):
    config = dataclasses.replace(fast_config(sensor={"enabled": False}), site=SiteConfig(clock_trust="never"))
    every_minute = [[day, 0, 1440] for day in range(7)]
    changes.apply(daemon_datadir, "schedule.add", {"name": "always", "windows": every_minute,
                                                   "allow_on_holidays": True}, config=config)
    changes.apply(daemon_datadir, "group.add", {"name": "day-staff", "schedule": "always"}, config=config)
    daemon = start_daemon(config)
    scheduled = add_person(daemon_datadir, config, name="Scheduled", group="day-staff")
    free = add_person(daemon_datadir, config, name="Unrestricted")
    assert daemon.status()["clock_trusted"] is False

    daemon.press(scheduled.pin + "#")
    refused = wait_event(daemon_datadir, "access.denied", user=scheduled.code)
    assert refused["reason"] == "clock_untrusted"
    daemon.press(free.pin + "#")
    wait_event(daemon_datadir, "access.granted", user=free.code)
    wait_for(lambda: not daemon.relay_pin.state, what="relay off")
    assert len(relay_periods(daemon.relay_pin)) == 1

    # The trust policy flips (NTP synchronised): logged, and the scheduled person is admitted again.
    mark = last_event_id(daemon_datadir)

    def trust(d) -> None:
        d.clock_watch.recheck("always")  # what a synchronised kernel clock answers, asked now

    on_loop(daemon, trust)
    changed = wait_event(daemon_datadir, "clock.trust_changed", after_id=mark)
    assert changed["detail"] == {"trusted": True}
    daemon.press(scheduled.pin + "#")
    wait_event(daemon_datadir, "access.granted", after_id=changed["id"], user=scheduled.code)
    wait_for(lambda: len(relay_periods(daemon.relay_pin)) == 2, what="second unlock")
