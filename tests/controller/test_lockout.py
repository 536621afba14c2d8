"""Keypad lockout (T2.1-T2.6): growth, alarms, 24 h suspension, persistence, clock set back."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from controller.core.lockout import (
    FailureAlarm,
    KeypadLockout,
    LockoutEnded,
    LockoutStarted,
    LockoutState,
    Suspended,
)

T0 = datetime(2026, 11, 29, 10, 0, 0, tzinfo=timezone.utc)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Clocks:
    """A wall clock and a monotonic clock that move together unless a test makes the wall jump."""

    def __init__(self) -> None:
        self.mono = 1000.0
        self.wall = T0

    def advance(self, seconds: float) -> None:
        self.mono += seconds
        self.wall += timedelta(seconds=seconds)

    def __iter__(self):  # unpack as (now_utc, t_mono)
        return iter((self.wall, self.mono))


def fail_until_unlocked(lock: KeypadLockout, c: Clocks) -> list[object]:
    """One wrong PIN, then wait out any lockout it starts (as a patient attacker would)."""
    effects = lock.failure(*c)
    remaining = lock.remaining_seconds(*c)
    if remaining:
        c.advance(remaining)
        assert lock.poll(*c) == [LockoutEnded()]
    return effects


def test_three_failures_lock_for_thirty_seconds() -> None:
    lock, c = KeypadLockout(), Clocks()
    assert lock.failure(*c) == []
    c.advance(2)
    assert lock.failure(*c) == []
    assert not lock.is_locked(*c)
    c.advance(2)
    assert lock.failure(*c) == [LockoutStarted(30.0, c.wall + timedelta(seconds=30))]
    assert lock.is_locked(*c)
    assert lock.remaining_seconds(*c) == pytest.approx(30.0)
    c.advance(29.9)
    assert lock.is_locked(*c) and lock.poll(*c) == []
    c.advance(0.1)
    assert not lock.is_locked(*c)
    assert lock.poll(*c) == [LockoutEnded()]
    assert lock.poll(*c) == []  # once


def test_lockouts_double_up_to_the_cap() -> None:
    lock, c = KeypadLockout(), Clocks()
    seconds = []
    for _ in range(12):
        for effect in fail_until_unlocked(lock, c):
            if isinstance(effect, LockoutStarted):
                seconds.append(effect.seconds)
        c.advance(1)
    assert seconds[:8] == [30.0, 60.0, 120.0, 240.0, 480.0, 900.0, 900.0, 900.0]
    assert max(seconds) == 900.0


def test_huge_number_of_lockouts_stays_capped() -> None:
    lock, c = KeypadLockout(suspend_after_failures_24h=10_000, alarm_after_failures=10_000), Clocks()
    for _ in range(300):
        effects = lock.failure(*c)
        c.advance(1)
    assert effects[-1] == LockoutStarted(900.0, c.wall - timedelta(seconds=1) + timedelta(seconds=900))


def test_success_resets_the_doubling() -> None:
    lock, c = KeypadLockout(), Clocks()
    for _ in range(4):
        fail_until_unlocked(lock, c)
    lock.success(*c)
    assert lock.failures == 0
    assert fail_until_unlocked(lock, c) == []
    assert fail_until_unlocked(lock, c) == []
    effects = fail_until_unlocked(lock, c)
    assert effects == [LockoutStarted(30.0, c.wall)]  # back to the first, 30 s lockout (c.wall is now its end)


def test_success_does_not_shorten_a_running_lockout() -> None:
    lock, c = KeypadLockout(), Clocks()
    for _ in range(3):
        lock.failure(*c)
    lock.success(*c)
    assert lock.is_locked(*c)


def test_ten_failures_in_ten_minutes_raise_an_alarm() -> None:
    lock, c = KeypadLockout(), Clocks()
    alarms = []
    for i in range(10):
        alarms += [e for e in fail_until_unlocked(lock, c) if isinstance(e, FailureAlarm)]
        if i < 9:
            assert alarms == []
        # a success between guesses (T2.4 insider) must not hide them
        lock.success(*c)
    assert alarms == [FailureAlarm(10, 600.0)]


def test_spread_out_failures_do_not_alarm() -> None:
    lock, c = KeypadLockout(lockout_after_failures=100), Clocks()
    for _ in range(15):
        assert not any(isinstance(e, FailureAlarm) for e in lock.failure(*c))
        c.advance(67)  # any ten failures span 603 s, more than the 600 s window


def test_twenty_failures_in_a_day_suspend_until_admin_clears() -> None:
    lock, c = KeypadLockout(), Clocks()
    effects: list[object] = []
    for _ in range(20):
        effects += lock.failure(*c)
        lock.success(*c)  # interleaved valid PINs (T2.4) do not reset the day's count
        c.advance(600)  # slow attacker: never two alarms' worth in ten minutes
    assert effects.count(Suspended()) == 1
    assert lock.suspended and lock.is_locked(*c)
    c.advance(3 * 86400)
    assert lock.is_locked(*c)  # no expiry: an admin has to clear it
    assert lock.poll(*c) == []
    assert lock.remaining_seconds(*c) == float("inf")
    assert lock.clear() == [LockoutEnded()]
    assert not lock.is_locked(*c) and lock.failures == 0
    assert lock.failure(*c) == []  # the day's count starts again


def test_failures_older_than_a_day_do_not_count() -> None:
    lock, c = KeypadLockout(lockout_after_failures=100), Clocks()
    for _ in range(19):
        lock.failure(*c)
        c.advance(60)
    c.advance(86400)
    assert Suspended() not in lock.failure(*c)
    assert not lock.suspended


def test_restart_during_lockout_stays_locked() -> None:
    # T2.5: persist, "restart" (new object, new monotonic epoch), still locked for the remainder.
    lock, c = KeypadLockout(), Clocks()
    for _ in range(3):
        lock.failure(*c)
    c.advance(10)
    state = lock.to_state()
    assert state == LockoutState(3, 1, T0 + timedelta(seconds=30), (T0, T0, T0), False)

    restored = KeypadLockout.from_state(state)
    boot_mono = 5.0  # the monotonic clock restarts after a power cycle
    assert restored.is_locked(c.wall, boot_mono)
    assert restored.remaining_seconds(c.wall, boot_mono) == pytest.approx(20.0)
    assert restored.poll(c.wall + timedelta(seconds=19.9), boot_mono + 19.9) == []
    assert restored.poll(c.wall + timedelta(seconds=20), boot_mono + 20) == [LockoutEnded()]
    # the count carries on: the next failure is the second lockout (60 s)
    assert restored.failure(c.wall + timedelta(seconds=21), boot_mono + 21)[0].seconds == 60.0


def test_restart_keeps_suspension_and_window() -> None:
    lock, c = KeypadLockout(lockout_after_failures=100), Clocks()
    for _ in range(20):
        lock.failure(*c)
        c.advance(1)
    restored = KeypadLockout.from_state(lock.to_state(), lockout_after_failures=100)
    assert restored.suspended and restored.is_locked(c.wall, 0.0)


def test_clock_set_back_one_hour_does_not_shorten() -> None:
    # T2.6: monotonic deadline keeps the lock although the wall clock now says it ended long ago.
    lock, c = KeypadLockout(), Clocks()
    for _ in range(3):
        lock.failure(*c)
    c.wall -= timedelta(hours=1)
    c.advance(29)
    assert lock.is_locked(*c)
    assert lock.poll(*c) == []


def test_clock_set_forward_does_not_end_a_running_lockout_early() -> None:
    lock, c = KeypadLockout(), Clocks()
    for _ in range(3):
        lock.failure(*c)
    c.wall += timedelta(days=1)
    c.advance(10)
    assert lock.is_locked(*c)  # monotonic deadline still 20 s ahead
    c.advance(20)
    assert not lock.is_locked(*c)


def test_after_restart_a_clock_behind_the_deadline_stays_locked() -> None:
    lock, c = KeypadLockout(), Clocks()
    for _ in range(3):
        lock.failure(*c)
    restored = KeypadLockout.from_state(lock.to_state())
    behind = c.wall - timedelta(minutes=5)
    assert restored.is_locked(behind, 0.0)
    assert restored.is_locked(behind + timedelta(seconds=300 + 29), 329.0)
    assert not restored.is_locked(behind + timedelta(seconds=300 + 30), 330.0)


def test_after_restart_a_clock_jumped_forward_is_accepted() -> None:
    lock, c = KeypadLockout(), Clocks()
    for _ in range(3):
        lock.failure(*c)
    restored = KeypadLockout.from_state(lock.to_state())
    assert not restored.is_locked(c.wall + timedelta(hours=2), 0.0)
    assert restored.poll(c.wall + timedelta(hours=2), 0.0) == [LockoutEnded()]


def test_clock_set_back_days_is_bounded_by_the_longest_lockout() -> None:
    # A dead RTC must not lock the keypad for days: no lockout is longer than lockout_max_seconds.
    lock, c = KeypadLockout(), Clocks()
    for _ in range(3):
        lock.failure(*c)
    restored = KeypadLockout.from_state(lock.to_state())
    years_ago = c.wall - timedelta(days=3650)
    assert restored.is_locked(years_ago, 0.0)
    assert restored.remaining_seconds(years_ago, 0.0) == pytest.approx(900.0)
    assert restored.is_locked(years_ago + timedelta(seconds=899), 899.0)
    assert not restored.is_locked(years_ago + timedelta(seconds=900), 900.0)


def test_failure_times_are_bounded() -> None:
    lock, c = KeypadLockout(lockout_after_failures=1000, suspend_after_failures_24h=20, alarm_after_failures=10), Clocks()
    for _ in range(500):
        lock.failure(*c)
        c.advance(1)
    assert len(lock.to_state().failure_times) == 20


def test_finger_parameters() -> None:
    # Same class for fingers (N7): after 5 failures, a 30 s delay before each further try.
    lock, c = KeypadLockout(lockout_after_failures=5, lockout_base_seconds=30, lockout_max_seconds=30,
                            suspend_after_failures_24h=50), Clocks()
    started = [e for _ in range(8) for e in fail_until_unlocked(lock, c) if isinstance(e, LockoutStarted)]
    assert [e.seconds for e in started] == [30.0, 30.0, 30.0, 30.0]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError):
        KeypadLockout().failure(datetime(2026, 1, 1), 0.0)
    with pytest.raises(ValueError):
        KeypadLockout.from_state(LockoutState(locked_until_utc=datetime(2026, 1, 1)))
