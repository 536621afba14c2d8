"""SensorService: the loop asks, the worker talks to the sensor, the answer comes back as an event.

A domain fake stands for the sensor and the watcher; results are read from the sink queue the way the
daemon's loop reads its queue (a blocking get with a generous deadline, never a sleep).
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator

import pytest

from controller.daemon.sensor_service import (
    SensorConnected,
    SensorJobFailed,
    SensorService,
    SlotsDeleted,
    SlotsRead,
)
from drivers.errors import FlashError, SensorUnavailable
from drivers.events import SensorLost

DEADLINE = 10.0


class FakeSensor:
    """Slots in a set; ``fail_open``/``fail_slots`` raise; ``refuse`` lists slots whose delete fails."""

    capacity = 300

    def __init__(self, slots: set[int] | None = None) -> None:
        self.stored = set(slots or ())
        self.fail_open = False
        self.fail_slots = False
        self.refuse: set[int] = set()
        self.opened = 0

    def open(self) -> None:
        if self.fail_open:
            raise SensorUnavailable("the sensor did not answer within 3.0 s")
        self.opened += 1

    def slots(self) -> set[int]:
        if self.fail_slots:
            raise SensorUnavailable("the sensor did not answer within 3.0 s")
        return set(self.stored)

    def delete(self, slot: int) -> None:
        if slot in self.refuse:
            raise FlashError(f"the sensor could not delete slot {slot}")
        self.stored.discard(slot)


class FakeWatcher:
    def __init__(self) -> None:
        self.started = threading.Event()
        self.pauses = 0

    def start(self) -> None:
        self.started.set()

    def stop(self) -> None:
        pass

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        self.pauses += 1
        yield


@pytest.fixture
def parts() -> Iterator[tuple[SensorService, FakeSensor, FakeWatcher, queue.SimpleQueue]]:
    sensor, watcher, sink = FakeSensor({3, 9}), FakeWatcher(), queue.SimpleQueue()
    service = SensorService(sensor, watcher, sink.put, clock=lambda: 42.0)
    service.start()
    yield service, sensor, watcher, sink
    service.close()
    service.join(DEADLINE)


def test_connect_answers_with_the_capacity_and_slots_then_starts_the_watcher(parts):
    service, sensor, watcher, sink = parts
    assert not watcher.started.is_set()
    service.connect()
    assert sink.get(timeout=DEADLINE) == SensorConnected(capacity=300, slots=frozenset({3, 9}), t=42.0)
    assert watcher.started.wait(DEADLINE) and sensor.opened == 1


def test_a_sensor_that_does_not_answer_at_start_is_reported_lost_and_the_watcher_takes_over(parts):
    service, sensor, watcher, sink = parts
    sensor.fail_open = True
    service.connect()
    lost = sink.get(timeout=DEADLINE)
    assert isinstance(lost, SensorLost) and "did not answer" in lost.reason
    assert watcher.started.wait(DEADLINE)  # it reconnects and reports SensorRestored


def test_read_and_delete_answer_with_events_and_pass_the_missing_count_through(parts):
    service, sensor, _, sink = parts
    service.read_slots()
    assert sink.get(timeout=DEADLINE) == SlotsRead(capacity=300, slots=frozenset({3, 9}), t=42.0)
    sensor.refuse = {9}
    service.delete_slots([9, 3], missing=2)
    assert sink.get(timeout=DEADLINE) == SlotsDeleted(deleted=(3,), failed=(9,), missing=2, t=42.0)
    assert sensor.stored == {9}
    sensor.fail_slots = True
    service.read_slots()
    failed = sink.get(timeout=DEADLINE)
    assert isinstance(failed, SensorJobFailed) and failed.job == "read_slots"


def test_run_returns_the_result_or_raises_the_error_and_pauses_the_watcher_only_when_exclusive(parts):
    service, sensor, watcher, sink = parts
    service.connect()
    sink.get(timeout=DEADLINE)
    assert service.run(lambda s: sorted(s.slots())) == [3, 9]
    assert watcher.pauses == 0
    sensor.refuse = {3}
    with pytest.raises(FlashError):
        service.run(lambda s: s.delete(3), exclusive=True)
    assert watcher.pauses == 1


def test_after_close_waiting_callers_get_sensor_unavailable_instead_of_hanging(parts):
    service, _, _, sink = parts
    gate = threading.Event()
    started = threading.Event()
    outcome: list[BaseException] = []

    def blocked(_sensor):
        started.set()
        gate.wait(DEADLINE)

    def second() -> None:
        try:
            service.run(lambda s: "never run")
        except SensorUnavailable as exc:
            outcome.append(exc)

    first = threading.Thread(target=service.run, args=(blocked,))
    first.start()
    assert started.wait(DEADLINE)
    waiting = threading.Thread(target=second)
    waiting.start()
    service.close()
    gate.set()  # the job in progress ends (as when the sensor is closed under it)
    waiting.join(DEADLINE)
    first.join(DEADLINE)
    assert len(outcome) == 1
    with pytest.raises(SensorUnavailable):
        service.run(lambda s: "closed")
    service.read_slots()  # asking a closed service is harmless: no answer, no hang
    assert sink.empty()
