"""The unlock cap's second line (controller/daemon/effects.py CappedRelay): a watchdog thread that drops the
strike if the loop never does, started once with the relay, never per unlock."""

from __future__ import annotations

import threading

import pytest

from controller.daemon.effects import CAP_SLACK_SECONDS, CappedRelay
from drivers.door_io import StrikeRelay
from tests import polling

RELAY_PIN = 17


@pytest.fixture
def relay(mock_factory):
    strike = StrikeRelay(RELAY_PIN, pin_factory=mock_factory)
    capped = CappedRelay(strike, max_unlock_seconds=0.1)
    yield capped
    capped.lock("test end")
    capped.close()
    strike.close()


def test_a_loop_that_never_relocks_is_overruled_by_the_watchdog(relay, mock_factory):
    relay.unlock()
    assert relay.relay.is_unlocked
    polling.wait_for(lambda: not relay.relay.is_unlocked, 10.0, "the watchdog drops the relay", 0.01)
    states = [s.state for s in mock_factory.pin(RELAY_PIN).states]
    assert states == [False, True, False]
    assert CAP_SLACK_SECONDS > 0


def test_an_unlock_does_not_start_a_thread(relay):
    before = threading.active_count()
    for _ in range(20):
        relay.unlock()
        relay.lock("relocked by the loop")
    assert threading.active_count() <= before  # none started (a thread of an earlier test may end meanwhile)


def test_a_relock_disarms_the_cap_and_the_next_unlock_gets_its_own(relay, mock_factory):
    relay.unlock()
    relay.lock("door closed")
    relay.unlock()
    polling.wait_for(lambda: not relay.relay.is_unlocked, 10.0, "the watchdog drops the second unlock", 0.01)
    assert [s.state for s in mock_factory.pin(RELAY_PIN).states] == [False, True, False, True, False]


def test_close_stops_the_watchdog(mock_factory):
    strike = StrikeRelay(RELAY_PIN, pin_factory=mock_factory)
    capped = CappedRelay(strike, max_unlock_seconds=60.0)
    assert capped.watching
    capped.close()
    assert not capped.watching
    strike.close()
