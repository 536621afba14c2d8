"""The keypad never waits for the fingerprint sensor (issue 11): sensor calls run on the sensor service.

Two real daemons on simulated hardware: one whose sensor does not answer its first call at start-up
(the call stays blocked until the test lets it go), one busy enrolling (the sensor waits for a finger).
In both, a PIN typed on the keypad is decided and logged meanwhile. Every wait is a poll with a
generous deadline; nothing is timed.
"""

from __future__ import annotations

import threading
from typing import Any

from controller.daemon.hardware import build_hardware
from tests.controller.daemon_harness import (
    add_person,
    fast_config,
    last_event_id,
    wait_event,
    wait_for,
)


class MuteUntilReleased:
    """The real sensor adapter, except that ``open`` does not answer until :attr:`release` is set."""

    def __init__(self, sensor: Any) -> None:
        self._sensor = sensor
        self.calling = threading.Event()
        self.release = threading.Event()

    def open(self) -> None:
        self.calling.set()
        self.release.wait()
        self._sensor.open()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sensor, name)


def test_a_pin_is_decided_and_logged_while_the_sensor_does_not_answer(start_daemon, daemon_datadir):
    gated: list[MuteUntilReleased] = []

    def hardware(config, datadir, sink):
        hw = build_hardware(config, datadir, sink)
        gated.append(MuteUntilReleased(hw.sensor_service.sensor))
        hw.sensor_service.sensor = gated[0]
        return hw

    daemon = start_daemon(hardware_factory=hardware)  # ready although the sensor has not answered
    sensor = gated[0]
    try:
        assert sensor.calling.wait(10), "the sensor service never called the sensor"
        person = add_person(daemon_datadir, daemon.config)
        mark = last_event_id(daemon_datadir)
        daemon.press(person.pin + "#")
        granted = wait_event(daemon_datadir, "access.granted", after_id=mark, method="pin")
        assert granted["user"] == person.code
        assert not sensor.release.is_set()
        assert daemon.status()["sensor"]["state"] == "starting"  # the sensor call is still blocked
    finally:
        sensor.release.set()
    wait_for(lambda: daemon.status()["sensor"]["state"] == "ok", what="the sensor connected once it answered")


def test_a_pin_is_decided_while_an_enrolment_waits_for_a_finger(start_daemon, daemon_datadir):
    daemon = start_daemon(fast_config(sensor={"enroll_step_timeout_seconds": 120.0}))
    wait_for(lambda: daemon.status()["sensor"]["state"] == "ok", what="sensor ok")
    enrolling = add_person(daemon_datadir, daemon.config, name="Enrolling")
    typing = add_person(daemon_datadir, daemon.config, name="Typing")
    asked = threading.Event()
    outcome: dict[str, Any] = {}

    def on_progress(line: dict[str, Any]) -> None:
        if line["progress"] == "place_finger":
            asked.set()
        elif line["progress"] == "place_again":
            daemon.call("sim.finger", label="E", hold_seconds=0.5)

    def enrol() -> None:
        outcome["result"] = daemon.client(timeout=180).stream("finger.enroll", on_progress, user=enrolling.code,
                                                              actor="tester")

    thread = threading.Thread(target=enrol)
    thread.start()
    assert asked.wait(30), "the enrolment never asked for a finger"
    mark = last_event_id(daemon_datadir)
    daemon.press(typing.pin + "#")  # the sensor is busy polling for the enrolment's finger
    granted = wait_event(daemon_datadir, "access.granted", after_id=mark, method="pin")
    assert granted["user"] == typing.code
    assert thread.is_alive()  # the enrolment still waits for the person
    daemon.call("sim.finger", label="E", hold_seconds=0.5)
    thread.join(60)
    assert "slot" in outcome.get("result", {})
    wait_event(daemon_datadir, "admin.finger_enrolled", user=enrolling.code)


def test_a_pin_is_decided_while_reload_waits_for_a_mute_sensor(start_daemon, daemon_datadir):
    """The simulator goes mute (reads commands, never answers; each call waits out a 30 s deadline)."""
    daemon = start_daemon(fast_config(sensor={"command_timeout_seconds": 30.0}))
    wait_for(lambda: daemon.status()["sensor"]["state"] == "ok", what="sensor ok")
    person = add_person(daemon_datadir, daemon.config)
    sim = daemon.hw.sim.sensor
    sim.clear_log()
    sim.mute = True
    answer: dict[str, Any] = {}
    reload = threading.Thread(target=lambda: answer.update(daemon.client(timeout=120).call("reload")))
    reload.start()
    try:
        wait_for(lambda: any(c.code is None for c in sim.commands), what="a sensor command left unanswered")
        mark = last_event_id(daemon_datadir)
        daemon.press(person.pin + "#")
        granted = wait_event(daemon_datadir, "access.granted", after_id=mark, method="pin")
        assert granted["user"] == person.code
        daemon.drain()  # and the loop answers commands meanwhile
    finally:
        sim.unplug()  # the pending calls fail at once instead of waiting out their deadline
    reload.join(60)
    assert answer == {"orphans_removed": 0}  # a sensor that does not answer removes nothing
    wait_event(daemon_datadir, "sensor.lost")
