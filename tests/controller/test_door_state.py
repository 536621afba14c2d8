"""Door state machine: relay timing, relock on close, held/forced open, exit shunt, not opened, the cap."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.door_state import (
    AlarmCleared,
    AlarmRaised,
    DoorEvent,
    DoorState,
    DoorStateMachine,
    HeldPhase,
    RelayOff,
    RelayOffReason,
    RelayOn,
)
from controller.core.vocabulary import AlarmKind, EventType

OPENED = DoorEvent(EventType.DOOR_OPENED)
CLOSED = DoorEvent(EventType.DOOR_CLOSED)
FORCED = DoorEvent(EventType.DOOR_FORCED)
NOT_OPENED = DoorEvent(EventType.DOOR_NOT_OPENED)
PREALARM = DoorEvent(EventType.DOOR_HELD, HeldPhase.PREALARM)
HELD_ALARM = DoorEvent(EventType.DOOR_HELD, HeldPhase.ALARM)
OFF_TIMEOUT = RelayOff(RelayOffReason.TIMEOUT)
OFF_CLOSED = RelayOff(RelayOffReason.DOOR_CLOSED)


def machine(**kw: object) -> DoorStateMachine:
    return DoorStateMachine(**kw)  # type: ignore[arg-type]


def test_grant_energises_relay_for_exactly_the_unlock_time() -> None:
    door = machine()
    assert door.state is DoorState.LOCKED and not door.relay_on
    assert door.grant(100.0, 5.0) == [RelayOn(105.0)]
    assert door.state is DoorState.UNLOCKED and door.relay_on
    assert door.next_deadline() == 105.0
    assert door.tick(104.999) == []
    assert door.relay_on
    assert door.tick(105.0) == [OFF_TIMEOUT, NOT_OPENED]  # T4.10 granted but never opened
    assert door.state is DoorState.LOCKED and not door.relay_on


def test_relock_on_close() -> None:
    door = machine()
    door.grant(0.0, 5.0)
    assert door.door_opened(1.0) == [OPENED]
    assert door.state is DoorState.OPEN_AUTHORIZED and door.relay_on
    assert door.door_closed(2.5) == [CLOSED, OFF_CLOSED]
    assert door.state is DoorState.LOCKED
    assert door.tick(5.0) == []  # nothing left to time out, no "not opened"


def test_without_relock_on_close_the_unlock_time_runs_out() -> None:
    door = machine(relock_on_close=False)
    door.grant(0.0, 5.0)
    door.door_opened(1.0)
    assert door.door_closed(2.0) == [CLOSED]
    assert door.state is DoorState.UNLOCKED
    assert door.tick(5.0) == [OFF_TIMEOUT]


def test_door_stays_open_after_relay_drops_without_alarm_until_held_time() -> None:
    door = machine(held_open_seconds=30.0, held_open_prealarm_seconds=10.0)
    door.grant(0.0, 5.0)
    door.door_opened(1.0)
    assert door.tick(5.0) == [OFF_TIMEOUT]
    assert door.state is DoorState.OPEN_AUTHORIZED
    assert door.tick(20.999) == []
    assert door.tick(21.0) == [PREALARM]
    assert door.state is DoorState.HELD_OPEN and door.held_phase is HeldPhase.PREALARM
    assert door.tick(30.999) == []
    assert door.tick(31.0) == [HELD_ALARM, AlarmRaised(AlarmKind.DOOR_HELD)]
    assert door.held_phase is HeldPhase.ALARM
    assert door.tick(500.0) == []  # raised once
    assert door.door_closed(600.0) == [CLOSED, AlarmCleared(AlarmKind.DOOR_HELD)]
    assert door.state is DoorState.LOCKED and door.held_phase is None


def test_closing_during_prealarm_clears_it_without_an_alarm() -> None:
    door = machine()
    door.grant(0.0, 5.0)
    door.door_opened(1.0)
    door.tick(25.0)
    assert door.state is DoorState.HELD_OPEN
    assert door.door_closed(26.0) == [CLOSED]
    assert door.tick(100.0) == []


def test_late_tick_fires_timers_in_order() -> None:
    door = machine(relock_on_close=False)
    door.grant(0.0, 5.0)
    door.door_opened(1.0)
    assert door.tick(1000.0) == [OFF_TIMEOUT, PREALARM, HELD_ALARM, AlarmRaised(AlarmKind.DOOR_HELD)]


def test_no_prealarm_when_configured_zero() -> None:
    door = machine(held_open_seconds=10.0, held_open_prealarm_seconds=0.0)
    door.grant(0.0, 5.0)
    door.door_opened(0.5)
    assert door.tick(10.499) == [OFF_TIMEOUT]
    assert door.tick(10.5) == [HELD_ALARM, AlarmRaised(AlarmKind.DOOR_HELD)]
    assert door.held_phase is HeldPhase.ALARM


def test_forced_open() -> None:
    door = machine()
    assert door.door_opened(50.0) == [OPENED, FORCED, AlarmRaised(AlarmKind.DOOR_FORCED)]
    assert door.state is DoorState.FORCED_OPEN
    assert door.tick(500.0) == []  # no held-open on top of forced
    assert door.door_closed(501.0) == [CLOSED, AlarmCleared(AlarmKind.DOOR_FORCED)]
    assert door.state is DoorState.LOCKED


@pytest.mark.parametrize(("opened_at", "forced"), [(6.0, False), (6.99, False), (7.01, True)])
def test_opening_just_after_relock_is_within_grace(opened_at: float, forced: bool) -> None:
    # Strike and contact lag: relay dropped at 6.0, grace 1.0 s.
    door = machine(forced_open_grace_seconds=1.0)
    door.grant(1.0, 5.0)
    door.tick(6.0)
    effects = door.door_opened(opened_at)
    assert (FORCED in effects) is forced


@pytest.mark.parametrize(("opened_after", "forced"), [(0.0, False), (1.0, False), (1.5, True)])
def test_exit_request_shunts_forced_open(opened_after: float, forced: bool) -> None:
    door = machine(exit_unlocks=False, forced_open_grace_seconds=1.0)
    assert door.exit_request(10.0) == []  # shunt only: relay stays off
    assert not door.relay_on
    effects = door.door_opened(10.0 + opened_after)
    assert (FORCED in effects) is forced
    assert door.state is (DoorState.FORCED_OPEN if forced else DoorState.OPEN_AUTHORIZED)


def test_exit_request_unlocks_when_configured() -> None:
    door = machine(exit_unlocks=True, unlock_seconds=5.0)
    assert door.exit_request(10.0) == [RelayOn(15.0)]
    assert door.door_opened(12.0) == [OPENED]
    assert door.door_closed(13.0) == [CLOSED, OFF_CLOSED]


def test_exit_unlock_not_used_is_not_reported() -> None:
    door = machine(exit_unlocks=True, unlock_seconds=5.0)
    door.exit_request(10.0)
    assert door.tick(15.0) == [OFF_TIMEOUT]


def test_grant_is_clamped_to_the_cap() -> None:
    door = machine(max_unlock_seconds=30.0)
    assert door.grant(0.0, 300.0) == [RelayOn(30.0)]


def test_grant_while_unlocked_restarts_timer_but_never_past_the_cap() -> None:
    # T1.8: repeated PINs cannot hold the door unlocked past max_unlock_seconds.
    door = machine(max_unlock_seconds=12.0)
    assert door.grant(0.0, 5.0) == [RelayOn(5.0)]
    assert door.grant(4.0, 5.0) == [RelayOn(9.0)]  # timer restarted from the new grant
    assert door.grant(8.0, 5.0) == [RelayOn(12.0)]  # capped: on since 0.0
    assert door.grant(11.0, 5.0) == []  # nothing left to give
    assert door.tick(12.0) == [OFF_TIMEOUT, NOT_OPENED]


def test_shorter_grant_does_not_cut_a_longer_one() -> None:
    door = machine()
    door.grant(0.0, 15.0)
    assert door.grant(1.0, 5.0) == []
    assert door.relay_until == 15.0


def test_grant_after_cap_starts_a_new_period() -> None:
    door = machine(max_unlock_seconds=10.0)
    door.grant(0.0, 10.0)
    assert door.grant(10.5, 5.0) == [OFF_TIMEOUT, NOT_OPENED, RelayOn(15.5)]


def test_remote_unlock_and_not_opened() -> None:
    door = machine()
    assert door.remote_unlock(0.0, 8.0) == [RelayOn(8.0)]
    assert door.tick(8.0) == [OFF_TIMEOUT, NOT_OPENED]


def test_lockdown_cancels_unlock_and_refuses_new_ones() -> None:
    door = machine()
    door.grant(0.0, 5.0)
    assert door.lockdown(True) == [RelayOff(RelayOffReason.LOCKDOWN)]
    assert door.grant(1.0, 5.0) == []
    assert door.remote_unlock(1.0, 5.0) == []
    assert door.exit_request(1.0) == []  # egress is mechanical; the strike stays locked
    assert not door.relay_on and door.lockdown_active
    assert door.tick(10.0) == []  # no "not opened" for a cancelled unlock
    door.lockdown(False)
    assert door.grant(11.0, 5.0) == [RelayOn(16.0)]


def test_door_opened_after_lockdown_cancel_is_forced() -> None:
    door = machine()
    door.grant(0.0, 5.0)
    door.lockdown(True, 1.0)
    assert FORCED in door.door_opened(1.2)


def test_tamper_raises_and_clears() -> None:
    door = machine()
    assert door.tamper(True, 1.0) == [DoorEvent(EventType.TAMPER, "active"), AlarmRaised(AlarmKind.TAMPER)]
    assert door.tamper_active
    assert door.tamper(True, 2.0) == []
    assert door.tamper(False, 3.0) == [DoorEvent(EventType.TAMPER, "cleared"), AlarmCleared(AlarmKind.TAMPER)]


def test_duplicate_contact_reports_are_ignored() -> None:
    door = machine()
    door.grant(0.0, 5.0)
    door.door_opened(1.0)
    assert door.door_opened(1.1) == []
    door.door_closed(2.0)
    assert door.door_closed(2.1) == []


def test_time_going_backwards_is_treated_as_now() -> None:
    door = machine(max_unlock_seconds=10.0)
    door.grant(100.0, 10.0)
    assert door.grant(50.0, 10.0) == []  # an old t cannot move the end past the cap
    assert door.tick(110.0) == [OFF_TIMEOUT, NOT_OPENED]


@pytest.mark.parametrize("kw", [
    dict(unlock_seconds=0.0), dict(unlock_seconds=40.0, max_unlock_seconds=30.0),
    dict(held_open_seconds=10.0, held_open_prealarm_seconds=10.0), dict(forced_open_grace_seconds=-1.0),
])
def test_bad_timings_are_refused(kw: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        machine(**kw)


@pytest.mark.parametrize("seconds", [0.0, -1.0, float("nan"), float("inf")])
def test_bad_grant_lengths_are_refused(seconds: float) -> None:
    door = machine()
    with pytest.raises(ValueError):
        door.grant(0.0, seconds)
    assert not door.relay_on


# ---- property: the relay is only ever on because of an unlock input, and never past the cap ----

UNLOCK_INPUTS = {"grant", "remote", "exit"}

step = st.tuples(
    st.sampled_from(["grant", "remote", "exit", "opened", "closed", "tick", "tamper_on", "tamper_off",
                     "lockdown_on", "lockdown_off"]),
    st.floats(min_value=0.0, max_value=40.0, allow_nan=False),  # time since the previous input
    st.floats(min_value=0.001, max_value=500.0, allow_nan=False),  # requested unlock seconds
)


@settings(max_examples=400, deadline=None)
@given(
    steps=st.lists(step, max_size=60),
    max_unlock=st.floats(min_value=1.0, max_value=60.0),
    unlock=st.floats(min_value=0.5, max_value=1.0),
    relock=st.booleans(),
    exit_unlocks=st.booleans(),
)
def test_relay_only_on_after_unlock_and_never_past_cap(steps, max_unlock, unlock, relock, exit_unlocks) -> None:
    door = DoorStateMachine(unlock_seconds=unlock * max_unlock, max_unlock_seconds=max_unlock,
                            relock_on_close=relock, exit_unlocks=exit_unlocks)
    t = 0.0
    on_since: float | None = None  # from the effects, as the relay driver sees them
    until: float | None = None
    lockdown = False
    for op, dt, seconds in steps:
        t += dt
        if op == "grant":
            effects = door.grant(t, seconds)
        elif op == "remote":
            effects = door.remote_unlock(t, seconds)
        elif op == "exit":
            effects = door.exit_request(t)
        elif op == "opened":
            effects = door.door_opened(t)
        elif op == "closed":
            effects = door.door_closed(t)
        elif op == "tick":
            effects = door.tick(t)
        elif op.startswith("tamper"):
            effects = door.tamper(op == "tamper_on", t)
        else:
            lockdown = op == "lockdown_on"
            effects = door.lockdown(lockdown, t)
        for effect in effects:
            if isinstance(effect, RelayOn):
                assert op in UNLOCK_INPUTS and not lockdown, f"relay energised by {op}"
                if op == "exit":
                    assert exit_unlocks
                if on_since is None:
                    on_since = t
                assert effect.until_t >= t
                assert effect.until_t <= on_since + max_unlock + 1e-9
                until = effect.until_t
            elif isinstance(effect, RelayOff):
                assert on_since is not None, "RelayOff while off"
                on_since = until = None
        # The machine agrees with the effects it emitted, and nothing is on past its time.
        assert door.relay_on == (on_since is not None)
        if on_since is not None:
            assert until is not None and t < until <= on_since + max_unlock + 1e-9
            assert door.state in (DoorState.UNLOCKED, DoorState.OPEN_AUTHORIZED, DoorState.HELD_OPEN,
                                  DoorState.FORCED_OPEN)
        else:
            assert door.state is not DoorState.UNLOCKED
        if lockdown:
            assert not door.relay_on
