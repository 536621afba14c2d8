"""Door I/O on gpiozero's MockFactory: relay safe state, debounced inputs via DoorPanelModel."""

from __future__ import annotations

import threading
import time

import pytest

from drivers.door_io import DoorInputs, StrikeRelay
from drivers.events import DoorContact, DriverEvent, ExitPressed, TamperChanged
from drivers.sim_gpio import DoorPanelModel

RELAY, DOOR, EXIT, TAMPER = 17, 22, 27, 26


class FakeClock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------------------------------- relay

@pytest.mark.parametrize(("active_high", "off_level"), [(True, 0), (False, 1)])
def test_relay_is_off_right_after_construction(mock_factory, active_high, off_level) -> None:
    relay = StrikeRelay(RELAY, active_high=active_high, pin_factory=mock_factory)
    pin = mock_factory.pin(RELAY)
    assert pin.function == "output"
    assert pin.state == off_level
    assert not relay.is_unlocked
    relay.close()


@pytest.mark.parametrize(("active_high", "off_level"), [(True, 0), (False, 1)])
def test_relay_unlock_and_lock_drive_the_pin(mock_factory, active_high, off_level) -> None:
    pin = mock_factory.pin(RELAY)
    with StrikeRelay(RELAY, active_high=active_high, pin_factory=mock_factory) as relay:
        relay.unlock()
        assert pin.state == 1 - off_level
        assert relay.is_unlocked
        relay.lock()
        assert pin.state == off_level
        assert not relay.is_unlocked


@pytest.mark.parametrize(("active_high", "off_level"), [(True, 0), (False, 1)])
def test_relay_close_while_unlocked_leaves_it_off(mock_factory, active_high, off_level) -> None:
    pin = mock_factory.pin(RELAY)
    relay = StrikeRelay(RELAY, active_high=active_high, pin_factory=mock_factory)
    relay.unlock()
    relay.close()
    assert pin.state == off_level
    assert pin.states[-1].state == off_level  # driven off before the pin was released
    assert pin.function == "input"  # released: the external pull holds the driver off
    assert not relay.is_unlocked
    relay.close()  # idempotent
    relay.lock()  # locking a closed relay is harmless
    with pytest.raises(RuntimeError):
        relay.unlock()


def test_relay_context_manager_locks_on_error(mock_factory) -> None:
    pin = mock_factory.pin(RELAY)
    with pytest.raises(KeyError), StrikeRelay(RELAY, pin_factory=mock_factory) as relay:
        relay.unlock()
        raise KeyError("boom")
    assert pin.state == 0


def test_relay_pin_is_required(mock_factory) -> None:
    with pytest.raises(ValueError):
        StrikeRelay(-1, pin_factory=mock_factory)


# ---------------------------------------------------------------------------------------- inputs

@pytest.fixture
def panel(mock_factory):
    """(model, inputs, events, clock) with a 400 ms debounce on a fake clock."""
    clock = FakeClock()
    events: list[DriverEvent] = []
    model = DoorPanelModel(mock_factory, DOOR, EXIT, TAMPER)
    inputs = DoorInputs(events.append, DOOR, EXIT, TAMPER, debounce_ms=400, pin_factory=mock_factory, clock=clock)
    yield model, inputs, events, clock
    inputs.close()


def run_for(inputs: DoorInputs, clock: FakeClock, seconds: float, step: float = 0.01) -> None:
    for _ in range(round(seconds / step)):
        clock.now += step
        inputs.poll()


def test_inputs_start_quiet_in_the_resting_state(panel) -> None:
    model, inputs, events, clock = panel
    run_for(inputs, clock, 1.0)
    assert events == []
    assert not inputs.door_open and not inputs.tamper_active and not inputs.exit_pressed
    assert inputs.fitted == {"door", "exit", "tamper"}


@pytest.mark.parametrize(("open_s", "reported"), [(0.3, False), (0.5, True)])
def test_door_open_is_debounced(panel, open_s, reported) -> None:
    model, inputs, events, clock = panel
    start = clock.now
    model.door(open=True)
    run_for(inputs, clock, open_s)
    model.door(open=False)
    run_for(inputs, clock, 1.0)
    if reported:
        assert [type(e) for e in events] == [DoorContact, DoorContact]
        assert [e.open for e in events] == [True, False]
        assert events[0].t == pytest.approx(start + 0.4, abs=0.011)  # within one 10 ms poll
        assert events[1].t == pytest.approx(start + open_s + 0.4, abs=0.011)
    else:
        assert events == []
    assert not inputs.door_open


def test_door_state_follows_debounced_level(panel) -> None:
    model, inputs, events, clock = panel
    model.door(open=True)
    run_for(inputs, clock, 0.3)
    assert not inputs.door_open
    run_for(inputs, clock, 0.2)
    assert inputs.door_open


def test_contact_chatter_reports_one_change(panel) -> None:
    model, inputs, events, clock = panel
    for is_open in [True, False, True, False, True]:
        model.door(open=is_open)
        run_for(inputs, clock, 0.05)
    run_for(inputs, clock, 1.0)
    assert [e.open for e in events] == [True]


def test_exit_press_reports_once_and_release_is_silent(panel) -> None:
    model, inputs, events, clock = panel
    model.exit_button(pressed=True)
    run_for(inputs, clock, 1.0)
    assert inputs.exit_pressed
    model.exit_button(pressed=False)
    run_for(inputs, clock, 1.0)
    assert [type(e) for e in events] == [ExitPressed]


def test_exit_tap_shorter_than_debounce_is_ignored(panel) -> None:
    model, inputs, events, clock = panel
    model.exit_button(pressed=True)
    run_for(inputs, clock, 0.2)
    model.exit_button(pressed=False)
    run_for(inputs, clock, 1.0)
    assert events == []


def test_tamper_open_and_close(panel) -> None:
    model, inputs, events, clock = panel
    model.tamper(active=True)
    run_for(inputs, clock, 0.5)
    assert inputs.tamper_active
    model.tamper(active=False)
    run_for(inputs, clock, 0.5)
    assert [(type(e), e.active) for e in events] == [(TamperChanged, True), (TamperChanged, False)]


@pytest.mark.parametrize(
    ("line", "expected"),
    [("door", DoorContact(open=True, t=10.4)), ("tamper", TamperChanged(active=True, t=10.4))],
)
def test_cut_wire_reads_as_open(panel, line, expected) -> None:
    model, inputs, events, clock = panel
    model.cut_wire(line)
    run_for(inputs, clock, 0.5)
    assert len(events) == 1 and type(events[0]) is type(expected)
    assert events[0].t == pytest.approx(expected.t, abs=0.011)
    assert inputs.door_open is (line == "door")
    assert inputs.tamper_active is (line == "tamper")


def test_cut_exit_wire_is_not_a_press(panel) -> None:
    model, inputs, events, clock = panel
    model.cut_wire("exit")
    run_for(inputs, clock, 0.5)
    assert events == []


def test_level_at_start_is_the_initial_state_not_an_event(mock_factory) -> None:
    events: list[DriverEvent] = []
    model = DoorPanelModel(mock_factory, DOOR, EXIT, TAMPER)
    model.door(open=True)
    model.tamper(active=True)
    clock = FakeClock()
    with DoorInputs(events.append, DOOR, EXIT, TAMPER, pin_factory=mock_factory, clock=clock) as inputs:
        run_for(inputs, clock, 0.5)
        assert inputs.door_open and inputs.tamper_active
    assert events == []


def test_inputs_not_fitted(mock_factory) -> None:
    events: list[DriverEvent] = []
    with DoorInputs(events.append, -1, -1, -1, pin_factory=mock_factory) as inputs:
        inputs.poll()
        assert inputs.fitted == frozenset()
        assert not inputs.door_open and not inputs.tamper_active
    assert events == []


def test_inputs_poll_thread_reports_with_real_time(mock_factory) -> None:
    got: list[DriverEvent] = []
    arrived = threading.Event()

    def sink(event: DriverEvent) -> None:
        got.append(event)
        arrived.set()

    model = DoorPanelModel(mock_factory, DOOR, EXIT, TAMPER)
    with DoorInputs(sink, DOOR, EXIT, TAMPER, debounce_ms=50, pin_factory=mock_factory) as inputs:
        inputs.start()
        inputs.start()  # idempotent
        opened = time.monotonic()
        model.door(open=True)
        assert arrived.wait(5.0)
    assert [type(e) for e in got] == [DoorContact]
    assert got[0].open is True
    assert got[0].t - opened >= 0.05  # not before the debounce time


def test_inputs_close_is_idempotent_and_stops_reporting(panel, mock_factory) -> None:
    model, inputs, events, clock = panel
    inputs.close()
    inputs.close()
    assert mock_factory.pin(DOOR).when_changed is None
    model.door(open=True)
    run_for(inputs, clock, 1.0)
    assert events == []
