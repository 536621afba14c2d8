"""Pure brute-force throttle for one credential channel (keypad PINs, or fingers).

Wiring: the daemon keeps one instance per channel (``keypad`` with the ``[pin]``
settings; ``finger`` with the sensor's settings, e.g. ``lockout_after_failures=5``,
``lockout_base_seconds=lockout_max_seconds=30``, ``suspend_after_failures_24h=50``),
calls :meth:`failure` for every credential that was actually checked and refused,
whatever the reason (unknown, suspended, revoked, outside schedule ...: the lockout
must not tell a valid PIN from a guess; never for ``#`` on an empty entry, nor
for attempts refused *because* of the lockout or a door lockdown), :meth:`success`
after a grant, :meth:`poll` on every tick, and passes ``is_locked(...)`` to the
policy as ``Context.locked_out``. It persists :meth:`to_state` in the ``lockout_state``
table after every change and restores it with :meth:`from_state` at start-up (T2.5).

Rules (T2.1-T2.6):

* ``lockout_after_failures`` consecutive failures start a lockout of
  ``lockout_base_seconds``; every further consecutive failure starts the next one,
  doubling (30, 60, 120 ... s) up to ``lockout_max_seconds``.
* ``alarm_after_failures`` failures within ``alarm_window_seconds`` (sliding)
  raise :class:`FailureAlarm` when the count reaches the threshold.
* ``suspend_after_failures_24h`` failures within 24 h (sliding) set ``suspended``:
  locked until an admin calls :meth:`clear`.
* :meth:`success` resets the consecutive count and the doubling, but not the
  sliding-window failure times (an insider's own PIN does not hide guesses, T2.4),
  and it never shortens a running lockout.

Two clocks (T2.6): a lockout has a monotonic deadline (in memory only) and a UTC
deadline (persisted). It is locked while *either* says so, so setting the wall
clock back cannot shorten it. After a restart only the UTC deadline exists: a
clock behind it keeps the lock until the clock passes it; a clock that jumped
forward is accepted. A UTC deadline more than ``lockout_max_seconds`` ahead of
the wall clock cannot come from a lockout we issued with a correct clock (no
lockout is longer), so it is pulled in to ``now + lockout_max_seconds``: a clock
set back by days (dead RTC) cannot lock the keypad for days, and no real lockout
is shortened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

__all__ = [
    "KeypadLockout",
    "LockoutState",
    "LockoutEffect",
    "LockoutStarted",
    "LockoutEnded",
    "FailureAlarm",
    "Suspended",
]

SECONDS_PER_DAY = 86400.0
_MAX_DOUBLINGS = 60  # 2**60 * base is far beyond any cap; keeps the float finite


@dataclass(frozen=True, slots=True)
class LockoutState:
    """What the daemon persists (table ``lockout_state``); all datetimes aware UTC.

    ``failures``: consecutive failures since the last success/clear. ``level``: lockouts
    started in this run of failures (sets the next duration). ``locked_until_utc``: wall
    deadline of the current lockout, or None. ``failure_times``: recent failures, oldest
    first (sliding windows). ``suspended``: locked until an admin clears it.
    """

    failures: int = 0
    level: int = 0
    locked_until_utc: datetime | None = None
    failure_times: tuple[datetime, ...] = ()
    suspended: bool = False


@dataclass(frozen=True, slots=True)
class LockoutStarted:
    """A lockout of ``seconds`` began; it lasts at least until ``until_utc`` (wall clock)."""

    seconds: float
    until_utc: datetime


@dataclass(frozen=True, slots=True)
class LockoutEnded:
    """The lockout has expired (emitted once by :meth:`KeypadLockout.poll`) or was cleared."""


@dataclass(frozen=True, slots=True)
class FailureAlarm:
    """``count`` failures within ``window_seconds``: raise an alarm for security staff (T2.2)."""

    count: int
    window_seconds: float


@dataclass(frozen=True, slots=True)
class Suspended:
    """The 24-hour failure cap was reached: locked until an admin clears it (T2.3)."""


LockoutEffect = LockoutStarted | LockoutEnded | FailureAlarm | Suspended


def _require_aware(dt: datetime, name: str) -> None:
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError(f"{name} must be an aware datetime (UTC)")


class KeypadLockout:
    """Failure counter and lockout for one credential channel (see the module docstring).

    Parameters (defaults are the ``[pin]`` config defaults):
    ``lockout_after_failures`` (3) consecutive failures before the first lockout;
    ``lockout_base_seconds`` (30.0) first lockout, doubled for each further failure;
    ``lockout_max_seconds`` (900.0) cap on one lockout;
    ``alarm_after_failures`` (10) failures within ``alarm_window_seconds`` (600.0) that raise an alarm;
    ``suspend_after_failures_24h`` (20) failures within ``suspend_window_seconds`` (86400.0) that suspend
    the channel until :meth:`clear`; ``state``: restored :class:`LockoutState` (default: fresh).
    """

    def __init__(
        self,
        *,
        lockout_after_failures: int = 3,
        lockout_base_seconds: float = 30.0,
        lockout_max_seconds: float = 900.0,
        alarm_after_failures: int = 10,
        alarm_window_seconds: float = 600.0,
        suspend_after_failures_24h: int = 20,
        suspend_window_seconds: float = SECONDS_PER_DAY,
        state: LockoutState | None = None,
    ) -> None:
        if lockout_after_failures < 1 or alarm_after_failures < 1 or suspend_after_failures_24h < 1:
            raise ValueError("failure thresholds must be at least 1")
        if not 0 < lockout_base_seconds <= lockout_max_seconds:
            raise ValueError("need 0 < lockout_base_seconds <= lockout_max_seconds")
        if not (alarm_window_seconds > 0 and suspend_window_seconds > 0):
            raise ValueError("windows must be positive")
        self.lockout_after_failures = lockout_after_failures
        self.lockout_base_seconds = float(lockout_base_seconds)
        self.lockout_max_seconds = float(lockout_max_seconds)
        self.alarm_after_failures = alarm_after_failures
        self.alarm_window_seconds = float(alarm_window_seconds)
        self.suspend_after_failures_24h = suspend_after_failures_24h
        self.suspend_window_seconds = float(suspend_window_seconds)
        # Enough entries to decide both thresholds; bounds the persisted list.
        self._keep = max(alarm_after_failures, suspend_after_failures_24h)
        self._keep_seconds = max(self.alarm_window_seconds, self.suspend_window_seconds)
        self._deadline_mono: float | None = None
        self._load(state or LockoutState())

    # ---- persistence -------------------------------------------------------------

    @classmethod
    def from_state(cls, state: LockoutState, **params: Any) -> KeypadLockout:
        """Rebuild after a restart: only the UTC deadline survives (see the module docstring)."""
        return cls(state=state, **params)

    def to_state(self) -> LockoutState:
        """The persistable state (write it after every failure, success, poll effect and clear)."""
        return LockoutState(
            failures=self._failures,
            level=self._level,
            locked_until_utc=self._deadline_utc,
            failure_times=self._times,
            suspended=self._suspended,
        )

    def _load(self, state: LockoutState) -> None:
        if state.locked_until_utc is not None:
            _require_aware(state.locked_until_utc, "locked_until_utc")
        for ft in state.failure_times:
            _require_aware(ft, "failure_times")
        self._failures = max(0, int(state.failures))
        self._level = max(0, int(state.level))
        self._deadline_utc = state.locked_until_utc
        self._times = tuple(state.failure_times)[-self._keep :]
        self._suspended = bool(state.suspended)
        self._deadline_mono = None
        # A deadline restored from storage still owes its LockoutEnded.
        self._lock_open = self._deadline_utc is not None

    # ---- queries -----------------------------------------------------------------

    @property
    def failures(self) -> int:
        """Consecutive failures since the last success or clear."""
        return self._failures

    @property
    def suspended(self) -> bool:
        """True when the 24-hour cap was reached; only :meth:`clear` lifts it."""
        return self._suspended

    @property
    def locked_until_utc(self) -> datetime | None:
        """Wall-clock deadline of the current lockout (None when none is running)."""
        return self._deadline_utc

    def _normalise(self, now_utc: datetime) -> None:
        _require_aware(now_utc, "now_utc")
        if self._deadline_utc is not None:
            latest = now_utc + timedelta(seconds=self.lockout_max_seconds)
            if self._deadline_utc > latest:
                self._deadline_utc = latest

    def _timed_lock(self, now_utc: datetime, t_mono: float) -> bool:
        by_mono = self._deadline_mono is not None and t_mono < self._deadline_mono
        by_wall = self._deadline_utc is not None and now_utc < self._deadline_utc
        return by_mono or by_wall

    def is_locked(self, now_utc: datetime, t_mono: float) -> bool:
        """True while suspended, or while the monotonic or the UTC deadline is still ahead."""
        self._normalise(now_utc)
        return self._suspended or self._timed_lock(now_utc, t_mono)

    def remaining_seconds(self, now_utc: datetime, t_mono: float) -> float:
        """Seconds until the lockout ends (the longer of both clocks); 0.0 when unlocked, ``inf`` when suspended."""
        self._normalise(now_utc)
        if self._suspended:
            return math.inf
        remaining = 0.0
        if self._deadline_mono is not None:
            remaining = max(remaining, self._deadline_mono - t_mono)
        if self._deadline_utc is not None:
            remaining = max(remaining, (self._deadline_utc - now_utc).total_seconds())
        return remaining

    def _count_within(self, now_utc: datetime, window_seconds: float) -> int:
        # Times "in the future" (clock set back since) are counted: the stricter reading.
        start = now_utc - timedelta(seconds=window_seconds)
        return sum(1 for ft in self._times if ft > start)

    # ---- inputs ------------------------------------------------------------------

    def failure(self, now_utc: datetime, t_mono: float) -> list[LockoutEffect]:
        """Record one refused credential at ``now_utc`` / ``t_mono`` (monotonic seconds); return the effects."""
        self._normalise(now_utc)
        effects: list[LockoutEffect] = []
        alarm_before = self._count_within(now_utc, self.alarm_window_seconds)
        oldest_kept = now_utc - timedelta(seconds=self._keep_seconds)
        kept = tuple(ft for ft in self._times if ft > oldest_kept) + (now_utc,)
        self._times = kept[-self._keep :]
        self._failures += 1

        alarm_count = self._count_within(now_utc, self.alarm_window_seconds)
        if alarm_before < self.alarm_after_failures <= alarm_count:
            effects.append(FailureAlarm(alarm_count, self.alarm_window_seconds))
        if not self._suspended and self._count_within(now_utc, self.suspend_window_seconds) >= self.suspend_after_failures_24h:
            self._suspended = True
            effects.append(Suspended())

        if self._failures >= self.lockout_after_failures:
            self._level = min(self._level + 1, _MAX_DOUBLINGS + 1)
            seconds = min(self.lockout_base_seconds * 2.0 ** (self._level - 1), self.lockout_max_seconds)
            until_mono = t_mono + seconds
            until_utc = now_utc + timedelta(seconds=seconds)
            # Never shorten a lockout that is already running.
            if self._deadline_mono is None or until_mono > self._deadline_mono:
                self._deadline_mono = until_mono
            if self._deadline_utc is None or until_utc > self._deadline_utc:
                self._deadline_utc = until_utc
            self._lock_open = True
            effects.append(LockoutStarted(seconds, self._deadline_utc))
        return effects

    def success(self, now_utc: datetime, t_mono: float) -> None:
        """A credential was accepted: reset the consecutive count and the doubling.

        The sliding-window failure times, a running lockout and a suspension stay.
        """
        self._normalise(now_utc)
        self._failures = 0
        self._level = 0

    def poll(self, now_utc: datetime, t_mono: float) -> list[LockoutEffect]:
        """Call on every tick: returns ``[LockoutEnded()]`` once when a timed lockout has run out (not while suspended)."""
        self._normalise(now_utc)
        if self._suspended:
            return []  # still locked: LockoutEnded comes with clear()
        if self._lock_open and not self._timed_lock(now_utc, t_mono):
            self._lock_open = False
            self._deadline_mono = None
            self._deadline_utc = None
            return [LockoutEnded()]
        return []

    def clear(self) -> list[LockoutEffect]:
        """Admin reset: end any lockout and suspension and forget every failure.

        Returns ``[LockoutEnded()]`` when a lockout or suspension was active.
        """
        was_active = self._lock_open or self._suspended
        self._load(LockoutState())
        return [LockoutEnded()] if was_active else []
