"""The keypad at daemon level: the real matrix scanner on the simulated key matrix, through to the relay.

Keys go down and up on :class:`drivers.sim_gpio.MatrixKeypadModel` (wires and switches); the real
:class:`drivers.keypad_matrix.MatrixKeypad` scans them, the daemon decides, and the relay pin's
recorded history says whether the strike was ever energised.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.controller.daemon_harness import (
    DaemonRunner,
    Person,
    add_person,
    ever_energised_since,
    fast_config,
    last_event_id,
    prepare_datadir,
    relay_periods,
    wait_event,
    wait_for,
)

KEYS_4X4 = (("1", "2", "3", "A"), ("4", "5", "6", "B"), ("7", "8", "9", "C"), ("*", "0", "#", "D"))


def never_locks_out() -> dict[str, float]:
    """Lockout settings that no fuzz run reaches, so the property is about entry, not throttling."""
    return {"lockout_after_failures": 100, "alarm_after_failures": 1000, "suspend_after_failures_24h": 10000,
            "lockout_base_seconds": 1.0, "lockout_max_seconds": 1.0}


@pytest.fixture(scope="module")
def keypad_daemon(tmp_path_factory) -> Iterator[tuple[DaemonRunner, Person]]:
    """One daemon with a 4x4 keypad (digits, * # and A-D) shared by the fuzz examples."""
    datadir = prepare_datadir(tmp_path_factory.mktemp("keypad") / "data")
    config = fast_config(
        pin=never_locks_out(),
        keypad={"row_pins": (5, 6, 13, 19), "column_pins": (12, 16, 20, 4), "keys": KEYS_4X4},
        sensor={"enabled": False},  # keypad only: keeps each example short
    )
    runner = DaemonRunner(datadir, config).start()
    try:
        yield runner, add_person(datadir, config)
    finally:
        runner.stop()


def completes_valid_entry(keys: str, pin: str, max_digits: int) -> bool:
    """Oracle, written from the spec: digits append, ``*`` and A-D clear, ``#`` submits, too long is void."""
    digits, overflow = "", False
    for key in keys:
        if key.isdigit():
            if len(digits) >= max_digits:
                digits, overflow = "", True
            elif not overflow:
                digits += key
        elif key == "#":
            if not overflow and digits == pin:
                return True
            digits, overflow = "", False
        else:  # "*" or A-D
            digits, overflow = "", False
    return False


def test_oracle_matches_the_spec_examples() -> None:
    assert completes_valid_entry("123456#", "123456", 12)
    assert completes_valid_entry("99*123456#", "123456", 12)
    assert not completes_valid_entry("123456", "123456", 12)  # never submitted
    assert not completes_valid_entry("12A3456#", "123456", 12)
    assert not completes_valid_entry("0123456#", "123456", 12)
    assert not completes_valid_entry("1234567890123" + "123456#", "123456", 12)  # over-long entry is void to '#'
    assert completes_valid_entry("1234567890123#123456#", "123456", 12)


PIN_TOKEN = "<PIN>"
#: Single keys of the 4x4 pad, with the valid PIN's digits as one token so that completed entries occur.
key_or_pin = st.one_of(st.sampled_from([k for row in KEYS_4X4 for k in row]), st.just(PIN_TOKEN))


@pytest.mark.faults
@pytest.mark.slow
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(tokens=st.lists(key_or_pin, max_size=10).map(lambda t: t + ["#"] if t and t[-1] == PIN_TOKEN else t))
def test_no_key_sequence_energises_the_relay_without_a_completed_valid_pin(keypad_daemon, tokens):
    daemon, person = keypad_daemon
    keys = "".join(person.pin if t == PIN_TOKEN else t for t in tokens)
    wait_for(lambda: not daemon.relay_pin.state, what="relay off before the example")
    daemon.type_key("*")  # a fresh entry
    daemon.drain()
    mark = len(daemon.relay_pin.states)
    for key in keys:
        daemon.type_key(key)
    daemon.drain()
    expected = completes_valid_entry(keys, person.pin, daemon.config.pin.max_entry_digits)
    assert ever_energised_since(daemon.relay_pin, mark) == expected, keys
    for _, duration in relay_periods(daemon.relay_pin):
        assert duration is None or duration <= daemon.config.door.max_unlock_seconds + 0.3


@pytest.mark.faults
@pytest.mark.parametrize("shape", ["bounce", "ghost"])
def test_bouncing_and_ghosted_keys_add_no_keys_to_the_entry(start_daemon, daemon_datadir, shape):
    """Contact chatter collapses to one key per press; a ghosted chord yields no key at all."""
    daemon = start_daemon()
    person = add_person(daemon_datadir, daemon.config)
    model = daemon.hw.sim.keypad
    mark = last_event_id(daemon_datadir)
    if shape == "bounce":
        # Every key chatters for a few ms before settling: the PIN still arrives intact, once.
        for key in person.pin + "#":
            before = daemon.tap.count()
            for _ in range(4):
                model.press(key)
                time.sleep(0.001)
                model.release(key)
            model.press(key)
            wait_for(lambda: daemon.tap.count() > before, what="key accepted")
            model.release(key)
            wait_for(lambda: daemon.hw.keypad._debouncer._armed, what="released")  # noqa: SLF001
        wait_event(daemon_datadir, "access.granted", after_id=mark, user=person.code)
        assert daemon.tap.keys[-len(person.pin) - 1:] == list(person.pin + "#")
    else:
        # A 3-key chord in the middle of the PIN (1, 2 and 4 held also read 5 on a bare matrix) adds no key:
        # the PIN typed around it still opens, and the scanner reported exactly the typed keys.
        typed_before = daemon.tap.count()
        for key in person.pin[:-1]:
            daemon.type_key(key)
        model.hold(["1", "2", "4"])
        time.sleep(0.1)
        model.hold([])
        wait_for(lambda: daemon.hw.keypad._debouncer._armed, what="released")  # noqa: SLF001
        daemon.type_key(person.pin[-1])
        daemon.type_key("#")
        wait_event(daemon_datadir, "access.granted", after_id=mark, user=person.code)
        assert daemon.tap.keys[typed_before:] == list(person.pin + "#")
