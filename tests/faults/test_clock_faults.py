"""Wall-clock faults (docs/reliability.md T2.6, T5.6, T5.7; issue 6): jumps during an unlock and a lockout, untrusted time.

The daemon gets an injected wall clock (``Daemon.wall``) that a test moves by +1 day or -1 hour while
the real monotonic clock runs on. Relay timing and lockouts run on the monotonic clock, so a jump changes
neither; the jump itself is logged as ``clock.jumped`` with the expected and the new time. With the
clock untrusted, people restricted by a schedule are refused (``clock_untrusted``), others are admitted.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from datetime import datetime, timedelta

import pytest

from controller.control import changes
from controller.config import SiteConfig
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
from tests.faults.fault_helpers import on_loop, report

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
def test_a_wall_clock_jump_during_an_unlock_changes_no_relay_timing_and_is_logged(start_daemon, daemon_datadir,
                                                                                 jump):
    daemon, wall = start_with_wall(start_daemon, fast_config(door=UNLOCK, sensor={"enabled": False}))
    person = add_person(daemon_datadir, daemon.config)
    daemon.press(person.pin + "#")
    granted = wait_event(daemon_datadir, "access.granted", user=person.code)
    wait_for(lambda: daemon.relay_pin.state, what="relay on")
    time.sleep(0.5)
    wall.jump(jump)
    jumped = wait_event(daemon_datadir, "clock.jumped", after_id=granted["id"])
    wait_for(lambda: not daemon.relay_pin.state, what="relay off")
    (_, duration), = relay_periods(daemon.relay_pin)
    assert duration == pytest.approx(UNLOCK["unlock_seconds"], abs=0.4)
    expected = parse_iso_utc(jumped["detail"]["expected"])
    actual = parse_iso_utc(jumped["detail"]["actual"])
    assert (actual - expected).total_seconds() == pytest.approx(jump, abs=5)
    wait_event(daemon_datadir, "door.not_opened", after_id=granted["id"])
    assert len(matching(events(daemon_datadir, granted["id"]), "clock.jumped")) == 1
    report(f"clock jump {jump:+.0f} s during an unlock: relay on {duration:.2f} s "
           f"(configured {UNLOCK['unlock_seconds']} s), clock.jumped logged")


@pytest.mark.parametrize("jump", [-HOUR, DAY], ids=["minus-1-hour", "plus-1-day"])
def test_a_wall_clock_jump_during_a_keypad_lockout_neither_shortens_nor_stretches_it(start_daemon, daemon_datadir,
                                                                                    jump):
    pin = {"lockout_base_seconds": 4.0, "lockout_max_seconds": 8.0}  # outlasts typing the right PIN (~2 s)
    daemon, wall = start_with_wall(start_daemon, fast_config(pin=pin, sensor={"enabled": False}))
    person = add_person(daemon_datadir, daemon.config)
    daemon.press(f"{WRONG}#{WRONG}#{WRONG}#")
    started = wait_event(daemon_datadir, "lockout.started")
    began = time.monotonic()
    wall.jump(jump)
    daemon.press(person.pin + "#")  # during the lockout: refused
    refused = wait_event(daemon_datadir, "access.denied", after_id=started["id"], user=person.code)
    assert refused["reason"] == "locked_out"
    wait_event(daemon_datadir, "lockout.ended", after_id=started["id"], timeout=15)
    lasted = time.monotonic() - began
    # Not shortened by -1 h (monotonic deadline); not stretched to an hour or a day (a UTC deadline
    # further ahead than the longest lockout is pulled in to lockout_max_seconds).
    assert pin["lockout_base_seconds"] - 0.3 <= lasted <= pin["lockout_base_seconds"] + pin["lockout_max_seconds"] + 1.5
    wait_event(daemon_datadir, "clock.jumped", after_id=started["id"])
    mark = last_event_id(daemon_datadir)
    daemon.press(person.pin + "#")
    wait_event(daemon_datadir, "access.granted", after_id=mark, user=person.code)
    assert len(relay_periods(daemon.relay_pin)) == 1
    report(f"clock jump {jump:+.0f} s during a {pin['lockout_base_seconds']} s lockout: lockout lasted {lasted:.2f} s")


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
