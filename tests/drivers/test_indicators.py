"""Buzzer and LEDs on gpiozero's MockFactory: the named feedback patterns, the same for every key."""

from __future__ import annotations

import inspect
import time

import pytest

from drivers.indicators import Indicators

BUZZER, GREEN, RED = 18, 21, 25


def wait_states(pin, count: int, timeout: float = 5.0) -> list[bool]:
    deadline = time.monotonic() + timeout
    while len(pin.states) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    return [s.state for s in pin.states]


@pytest.fixture
def indicators(mock_factory):
    ind = Indicators(BUZZER, GREEN, RED, pin_factory=mock_factory)
    yield ind
    ind.close()


def test_key_ack_is_the_same_short_beep_for_every_key(indicators, mock_factory) -> None:
    # The pattern cannot depend on the key: the method takes no argument at all (S15).
    assert list(inspect.signature(indicators.key_ack).parameters) == []
    buzzer, green, red = (mock_factory.pin(n) for n in (BUZZER, GREEN, RED))
    shapes = []
    for _key in "0123456789*#":
        buzzer.clear_states()
        indicators.key_ack()
        states = wait_states(buzzer, 3)
        shapes.append(states)
        assert 0.035 <= buzzer.states[2].timestamp < 1.0  # a short beep, roughly 40 ms
    assert shapes == [[False, True, False]] * 12
    assert [s.state for s in green.states] == [False] and [s.state for s in red.states] == [False]


def test_granted_lights_green_and_beeps_once(indicators, mock_factory) -> None:
    indicators.granted()
    assert indicators.state == {"green": True, "red": False, "buzzer": True}
    assert wait_states(mock_factory.pin(BUZZER), 3) == [False, True, False]
    assert indicators.state == {"green": True, "red": False, "buzzer": False}
    indicators.off()
    assert indicators.state == {"green": False, "red": False, "buzzer": False}


def test_denied_flashes_red_three_times_then_goes_dark(indicators, mock_factory) -> None:
    indicators.granted()
    indicators.denied()
    assert indicators.state["green"] is False
    red = mock_factory.pin(RED)
    assert wait_states(red, 7) == [False, True, False, True, False, True, False]
    assert wait_states(mock_factory.pin(BUZZER), 7)[-6:] == [True, False] * 3
    assert indicators.pattern == "denied"


def test_lockout_wait_blinks_red_until_off(indicators, mock_factory) -> None:
    indicators.WAIT_BLINK_S = 0.05  # keep the test short; the shape is what matters
    indicators.wait()
    assert indicators.state == {"green": False, "red": True, "buzzer": False}
    assert wait_states(mock_factory.pin(RED), 3)[:3] == [False, True, False]
    indicators.off()
    assert indicators.state == {"green": False, "red": False, "buzzer": False}


def test_alarm_sounds_until_switched_off(indicators) -> None:
    indicators.alarm(True)
    assert indicators.state["buzzer"] is True and indicators.pattern == "alarm"
    indicators.alarm(False)
    assert indicators.state == {"green": False, "red": False, "buzzer": False}


def test_prealarm_repeats_beeps(indicators, mock_factory) -> None:
    indicators.PREALARM_PERIOD_S = 0.2  # keep the test short; the shape is what matters
    indicators.prealarm()
    assert wait_states(mock_factory.pin(BUZZER), 4)[:4] == [False, True, False, True]
    indicators.off()
    assert indicators.state["buzzer"] is False


def test_indicators_close_switches_everything_off(mock_factory) -> None:
    ind = Indicators(BUZZER, GREEN, RED, pin_factory=mock_factory)
    ind.alarm(True)
    ind.granted()
    ind.close()
    ind.close()
    assert all(mock_factory.pin(n).state == 0 for n in (BUZZER, GREEN, RED))
    ind.key_ack()  # ignored after close, no error
    assert ind.state == {"green": False, "red": False, "buzzer": False}


def test_indicators_not_fitted(mock_factory) -> None:
    with Indicators(-1, -1, -1, pin_factory=mock_factory) as ind:
        for pattern in (ind.key_ack, ind.granted, ind.denied, ind.wait, ind.prealarm, ind.off):
            pattern()
        ind.alarm(True)
        assert ind.state == {"green": False, "red": False, "buzzer": False}


def test_a_pattern_starts_no_thread(indicators) -> None:
    """The door loop calls these on every key: one long-lived player switches the parts (docs/performance.md)."""
    import threading

    before = threading.active_count()
    for _ in range(20):
        indicators.key_ack()
        indicators.denied()
        indicators.granted()
    assert threading.active_count() <= before  # none started (a thread of an earlier test may end meanwhile)


def test_a_late_player_plays_every_flash_of_a_finite_pattern() -> None:
    """The player steps a blink one on/off at a time: waking long after the pattern should have ended (a loaded
    controller), it still shows all three denied flashes, only later; an on-time player keeps the schedule."""
    from drivers.indicators import _Blink

    late = _Blink(0.0, 0.1, 0.1, 3)
    levels, now = [late.level()], 10.0  # the first wake comes 10 s late
    while (change := late.next_change()) is not None:
        now = max(now, change)
        late.advance(now)
        levels.append(late.level())
        now += 0.05  # each later wake a little late too
    assert levels == [True, False] * 3 + [False]

    on_time = _Blink(0.0, 0.1, 0.2, 2)
    changes = []
    while (change := on_time.next_change()) is not None:
        changes.append(round(change, 6))
        on_time.advance(change)
    assert changes == [0.1, 0.3, 0.4, 0.6] and not on_time.level()
