"""The real WiegandKeypad fed by WiegandSender pulses on gpiozero's MockFactory."""

from __future__ import annotations

import gc
import threading
import time

import pytest

from drivers.events import DriverEvent, KeyPressed
from drivers.keypad_logic import WiegandCard
from drivers.keypad_wiegand import WiegandKeypad
from drivers.sim_gpio import WiegandSender, encode_key_frame

D0, D1 = 23, 24


class FakeClock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def build(mock_factory, clock, **kwargs):
    events: list[DriverEvent] = []
    sender = WiegandSender(mock_factory, D0, D1)
    keypad = WiegandKeypad(D0, D1, events.append, pin_factory=mock_factory, clock=clock, **kwargs)
    return sender, keypad, events


@pytest.mark.parametrize("bits", [4, 8])
def test_each_key_frame_becomes_one_key_press(mock_factory, clock, bits) -> None:
    sender, keypad, events = build(mock_factory, clock, bits=bits)
    with keypad:
        for key in "1234567890*#":
            sender.send_key(key, bits=bits)
            clock.now += 0.010
            assert keypad.poll() == []  # still inside the 25 ms gap
            clock.now += 0.020
            assert keypad.poll() == [key]
    assert all(isinstance(e, KeyPressed) for e in events)
    assert [e.key for e in events] == list("1234567890*#")
    assert [e.t for e in events] == pytest.approx([50.0 + 0.03 * (i + 1) for i in range(12)])
    assert not keypad.decoder.rejected


def test_bad_complement_is_rejected_and_counted(mock_factory, clock) -> None:
    sender, keypad, events = build(mock_factory, clock, bits=8)
    with keypad:
        frame = encode_key_frame("5", bits=8)
        frame[0] ^= 1
        sender.send_bits(frame)
        clock.now += 0.05
        assert keypad.poll() == []
    assert events == []
    assert keypad.decoder.rejected == {"bad_complement": 1}


def test_wrong_bit_count_is_rejected(mock_factory, clock) -> None:
    sender, keypad, events = build(mock_factory, clock, bits=4)
    with keypad:
        sender.send_bits([1, 0, 1])
        clock.now += 0.05
        keypad.poll()
    assert events == []
    assert keypad.decoder.rejected == {"bad_length": 1}


def test_two_frames_queued_before_a_poll_decode_separately(mock_factory, clock) -> None:
    sender, keypad, events = build(mock_factory, clock, gap_ms=25)
    with keypad:
        sender.send_key("4")
        time.sleep(0.040)  # real silence between frames: the edge ticks are MockPin's monotonic stamps
        sender.send_key("2")
        clock.now += 0.05
        assert keypad.poll() == ["4", "2"]
    assert [e.key for e in events] == ["4", "2"]


def test_card_frame_is_decoded_but_never_a_key(mock_factory, clock) -> None:
    sender, keypad, events = build(mock_factory, clock)
    with keypad:
        sender.send_card(123, 45678)
        clock.now += 0.05
        assert keypad.poll() == []
    assert events == []
    assert list(keypad.decoder.cards) == [WiegandCard(123, 45678, 26)]


def test_callbacks_survive_garbage_collection(mock_factory, clock) -> None:
    # Pin.when_changed holds weak references; the keypad must keep working after a collection.
    sender, keypad, events = build(mock_factory, clock)
    with keypad:
        gc.collect()
        assert mock_factory.pin(D0).when_changed is not None
        sender.send_key("7")
        clock.now += 0.05
        keypad.poll()
    assert [e.key for e in events] == ["7"]


def test_poll_thread_reports_keys_without_explicit_polls(mock_factory) -> None:
    got: list[str] = []
    done = threading.Event()

    def sink(event: DriverEvent) -> None:
        got.append(event.key)  # type: ignore[union-attr]
        if len(got) == 3:
            done.set()

    sender = WiegandSender(mock_factory, D0, D1)
    with WiegandKeypad(D0, D1, sink, pin_factory=mock_factory) as keypad:
        keypad.start()
        sender.type_keys("90#", gap_ms=60)
        assert done.wait(5.0)
    assert got == ["9", "0", "#"]


def test_close_is_idempotent_and_stops_listening(mock_factory, clock) -> None:
    sender, keypad, events = build(mock_factory, clock)
    keypad.start()
    keypad.close()
    keypad.close()
    assert keypad.closed
    assert mock_factory.pin(D0).when_changed is None
    sender.send_key("1")
    assert keypad.decoder.pending == 0
    # The pins are free again.
    WiegandKeypad(D0, D1, events.append, pin_factory=mock_factory).close()


def test_same_pin_twice_is_refused(mock_factory) -> None:
    with pytest.raises(ValueError):
        WiegandKeypad(D0, D0, lambda e: None, pin_factory=mock_factory)
