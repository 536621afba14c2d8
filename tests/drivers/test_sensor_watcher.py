"""SensorWatcher: the daemon's identify loop over the real adapter and the pty simulator."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from drivers.errors import SensorProtocolError
from drivers.events import DriverEvent, FingerMatched, FingerUnknown, SensorLost, SensorRestored
from drivers.fingerprint import Match, PyFingerprintSensor
from drivers.sensor_watcher import SensorWatcher
from drivers.sim_sensor import PtySensorSimulator


class Recorder:
    """An EventSink that records events and lets a test wait for one."""

    def __init__(self) -> None:
        self.events: list[DriverEvent] = []
        self._q: queue.Queue[DriverEvent] = queue.Queue()

    def __call__(self, event: DriverEvent) -> None:
        self.events.append(event)
        self._q.put(event)

    def wait_for(self, kind: type, timeout: float = 5.0) -> DriverEvent:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no {kind.__name__} within {timeout} s; got {self.events}")
            try:
                event = self._q.get(timeout=remaining)
            except queue.Empty:
                continue
            if isinstance(event, kind):
                return event

    def of(self, kind: type) -> list[DriverEvent]:
        return [e for e in self.events if isinstance(e, kind)]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[tuple[PtySensorSimulator, PyFingerprintSensor, Recorder, SensorWatcher]]:
    sim = PtySensorSimulator(flash_dir=tmp_path / "flash").start()
    sensor = PyFingerprintSensor(sim.port, command_timeout_seconds=0.3)
    sensor.open()
    events = Recorder()
    watcher = SensorWatcher(
        sensor, events, poll_interval_ms=10, reconnect_initial_seconds=0.05, reconnect_max_seconds=0.2
    )
    watcher.start()
    try:
        yield sim, sensor, events, watcher
    finally:
        watcher.stop()
        sensor.close()
        sim.stop()


def test_enrolled_finger_emits_one_match_until_lifted(rig) -> None:
    sim, _, events, _ = rig
    sim.store(4, "alice")
    sim.place_finger("alice")
    matched = events.wait_for(FingerMatched)
    assert (matched.slot, matched.score) == (4, sim.expected_score("alice"))
    time.sleep(0.15)  # finger still on the glass: no second read
    assert len(events.of(FingerMatched)) == 1
    sim.remove_finger()
    time.sleep(0.1)
    sim.place_finger("alice")
    events.wait_for(FingerMatched)
    assert len(events.of(FingerMatched)) == 2


def test_unknown_finger_and_poor_image_emit_finger_unknown(rig) -> None:
    sim, _, events, _ = rig
    sim.place_finger("mallory")
    assert events.wait_for(FingerUnknown).reason == "no_match"
    sim.remove_finger()
    time.sleep(0.1)
    sim.place_finger("alice", quality="messy")
    assert events.wait_for(FingerUnknown).reason == "poor_image"


def test_mute_mid_session_gives_exactly_one_lost_then_restored(rig) -> None:
    sim, _, events, watcher = rig
    sim.mute = True
    lost = events.wait_for(SensorLost, timeout=3)
    assert "did not answer" in lost.reason
    assert watcher.lost
    time.sleep(1.5)  # several reconnect attempts fail meanwhile
    sim.mute = False
    restored = events.wait_for(SensorRestored, timeout=3)
    assert restored.capacity == 300
    assert not watcher.lost
    assert len(events.of(SensorLost)) == 1 and len(events.of(SensorRestored)) == 1
    sim.store(0, "alice")
    sim.place_finger("alice")
    assert events.wait_for(FingerMatched).slot == 0  # identifying again


def test_unplug_then_replug_is_lost_then_restored(rig) -> None:
    sim, _, events, _ = rig
    sim.unplug()
    events.wait_for(SensorLost, timeout=3)
    time.sleep(0.5)
    sim.replug()
    events.wait_for(SensorRestored, timeout=3)
    assert [type(e) for e in events.events] == [SensorLost, SensorRestored]


def test_paused_watcher_leaves_the_sensor_to_an_enrolment(rig) -> None:
    sim, sensor, events, watcher = rig

    def on_step(step: str) -> None:
        if step in ("place_finger", "place_again"):
            sim.place_finger("alice")
        else:
            sim.remove_finger()

    with watcher.paused():
        slot = sensor.enroll(on_step, timeout_seconds=2.0)
        sim.place_finger("alice")
        time.sleep(0.1)
        assert events.events == []  # nothing read while paused
    sim.remove_finger()
    time.sleep(0.05)
    sim.place_finger("alice")
    assert events.wait_for(FingerMatched).slot == slot


class FlakySensor:
    """A domain fake whose behaviour a test scripts (no pty): each poll pops the next outcome."""

    def __init__(self, outcomes: list[object]) -> None:
        self.outcomes = outcomes
        self.opens = 0
        self.capacity = 162

    def open(self) -> None:
        self.opens += 1

    def finger_present(self) -> bool:
        outcome = self.outcomes.pop(0) if self.outcomes else False
        if isinstance(outcome, BaseException):
            raise outcome
        return bool(outcome)

    def identify(self) -> Match | None:
        return Match(1, 99)


def run_until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.01)


def test_no_exception_escapes_the_thread() -> None:
    sensor = FlakySensor([ZeroDivisionError("bug"), RuntimeError("bug"), True])
    seen: list[DriverEvent] = []

    def sink(event: DriverEvent) -> None:
        seen.append(event)
        raise ValueError("the sink is broken too")

    crashed: list[object] = []
    old_hook = threading.excepthook
    threading.excepthook = lambda args: crashed.append(args)
    try:
        watcher = SensorWatcher(sensor, sink, poll_interval_ms=5)
        watcher.start()
        run_until(lambda: any(isinstance(e, FingerMatched) for e in seen))
        assert watcher._thread is not None and watcher._thread.is_alive()
        watcher.stop()
    finally:
        threading.excepthook = old_hook
    assert crashed == []


def test_a_few_garbled_replies_are_not_a_lost_sensor_but_a_storm_is() -> None:
    sensor = FlakySensor([SensorProtocolError("x"), SensorProtocolError("x"), False, True])
    events = Recorder()
    with SensorWatcher(sensor, events, poll_interval_ms=5, protocol_errors_before_lost=3):
        events.wait_for(FingerMatched)
    assert events.of(SensorLost) == []

    sensor = FlakySensor([SensorProtocolError("x")] * 3)
    events = Recorder()
    with SensorWatcher(sensor, events, poll_interval_ms=5, reconnect_initial_seconds=0.01, protocol_errors_before_lost=3):
        assert "garbled" in events.wait_for(SensorLost).reason
        assert events.wait_for(SensorRestored).capacity == 162
    assert sensor.opens == 1
