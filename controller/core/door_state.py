"""Pure door supervision: strike relay timing, door contact, held-open, forced-open, tamper. One cohesive
state machine: its states, effects and transitions are read together (over 400 lines on purpose).

Wiring: the daemon owns one :class:`DoorStateMachine`, calls one input method per
event (``grant`` after a granted decision, ``door_opened``/``door_closed`` from the
door contact, ``exit_request`` from the REX button, ``tick`` on every loop pass) and
carries out the returned effects in order: :class:`RelayOn` / :class:`RelayOff`
drive the strike (``RelayOn.until_t`` is also handed to the self-relocking relay
driver), :class:`DoorEvent` becomes an event row, :class:`AlarmRaised` /
:class:`AlarmCleared` update the ``alarms`` table and the buzzer. Every input takes
``t``, a ``time.monotonic()`` reading in seconds; this module reads no clock. A
``t`` older than one already seen is treated as the latest one seen.

Safety rules that hold whatever the inputs:

* The relay turns on only through :meth:`~DoorStateMachine.grant`,
  :meth:`~DoorStateMachine.remote_unlock` or :meth:`~DoorStateMachine.exit_request`
  (with ``exit_unlocks``), never during lockdown.
* It is never on longer than ``max_unlock_seconds`` from the moment it was turned
  on (the cap is absolute). **Grant while unlocked (T1.8):** a new grant restarts
  the timer (``now + seconds``) but the end is capped at ``on_since +
  max_unlock_seconds``, and a shorter grant never cuts a longer one already
  running. So repeated PINs cannot keep the door unlocked past the cap; once the
  relay has dropped, the next grant starts a new period.
* Relock on close (``relock_on_close``): when the door goes open -> shut while the
  relay is on, the remaining unlock time is cancelled.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from controller.core.vocabulary import AlarmKind, EventType

__all__ = [
    "DoorState",
    "DOOR_OPEN_STATES",
    "ALARM_STATES",
    "HeldPhase",
    "RelayOffReason",
    "RelayOn",
    "RelayOff",
    "DoorEvent",
    "AlarmRaised",
    "AlarmCleared",
    "Effect",
    "DoorStateMachine",
]


class DoorState(StrEnum):
    """Door supervision state; values are the ``door`` field of the daemon's ``status``."""

    LOCKED = "locked"  # relay off, door shut
    UNLOCKED = "unlocked"  # relay on, door still shut
    OPEN_AUTHORIZED = "open"  # door open within an authorised opening
    HELD_OPEN = "held_open"  # authorised opening past the permitted time (pre-alarm, then alarm)
    FORCED_OPEN = "forced_open"  # door opened with no grant and no exit request


#: States in which the door contact reports the door open.
DOOR_OPEN_STATES = frozenset({DoorState.OPEN_AUTHORIZED, DoorState.HELD_OPEN, DoorState.FORCED_OPEN})
#: States that call for security staff.
ALARM_STATES = frozenset({DoorState.HELD_OPEN, DoorState.FORCED_OPEN})


class HeldPhase(StrEnum):
    """``detail`` of a ``door.held`` event."""

    PREALARM = "prealarm"
    ALARM = "alarm"


class RelayOffReason(StrEnum):
    """Why the relay was switched off."""

    TIMEOUT = "timeout"  # unlock time (or the absolute cap) ran out
    DOOR_CLOSED = "door_closed"  # relock on close
    LOCKDOWN = "lockdown"


@dataclass(frozen=True, slots=True)
class RelayOn:
    """Energise the strike (or keep it energised) until monotonic time ``until_t`` (seconds)."""

    until_t: float


@dataclass(frozen=True, slots=True)
class RelayOff:
    """De-energise the strike (locked)."""

    reason: RelayOffReason


@dataclass(frozen=True, slots=True)
class DoorEvent:
    """An event to log. ``detail``: ``prealarm``/``alarm`` for ``door.held``, ``active``/``cleared`` for ``tamper``."""

    type: EventType
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    """Raise an alarm of ``kind`` (buzzer, alarms table)."""

    kind: AlarmKind


@dataclass(frozen=True, slots=True)
class AlarmCleared:
    """The condition behind an alarm of ``kind`` has ended (it may still await acknowledgement)."""

    kind: AlarmKind


Effect = RelayOn | RelayOff | DoorEvent | AlarmRaised | AlarmCleared


class DoorStateMachine:
    """Supervises one door. Timing values are the ``[door]`` config keys (seconds).

    ``unlock_seconds`` (5.0): unlock time for an exit request with ``exit_unlocks``.
    ``max_unlock_seconds`` (30.0): absolute cap on one continuous relay-on period.
    ``relock_on_close`` (True): cancel the remaining unlock time when the door shuts.
    ``held_open_seconds`` (30.0): an authorised opening longer than this raises the held alarm.
    ``held_open_prealarm_seconds`` (10.0): the pre-alarm starts this long before the alarm (0 = none).
    ``forced_open_grace_seconds`` (1.0): an opening within this time after an exit request or after
    the relay dropped is not "forced" (REX shunt, strike still releasing, door bounce).
    ``exit_unlocks`` (True): an exit request also energises the strike for ``unlock_seconds``.
    """

    def __init__(
        self,
        *,
        unlock_seconds: float = 5.0,
        max_unlock_seconds: float = 30.0,
        relock_on_close: bool = True,
        held_open_seconds: float = 30.0,
        held_open_prealarm_seconds: float = 10.0,
        forced_open_grace_seconds: float = 1.0,
        exit_unlocks: bool = True,
    ) -> None:
        if not 0 < unlock_seconds <= max_unlock_seconds or not math.isfinite(max_unlock_seconds):
            raise ValueError("need 0 < unlock_seconds <= max_unlock_seconds (finite)")
        if not 0 <= held_open_prealarm_seconds < held_open_seconds:
            raise ValueError("need 0 <= held_open_prealarm_seconds < held_open_seconds")
        if not forced_open_grace_seconds >= 0:
            raise ValueError("forced_open_grace_seconds must be >= 0")
        self.unlock_seconds = float(unlock_seconds)
        self.max_unlock_seconds = float(max_unlock_seconds)
        self.relock_on_close = relock_on_close
        self.held_open_seconds = float(held_open_seconds)
        self.held_open_prealarm_seconds = float(held_open_prealarm_seconds)
        self.forced_open_grace_seconds = float(forced_open_grace_seconds)
        self.exit_unlocks = exit_unlocks

        self._t = -math.inf  # latest time seen
        self._on_since: float | None = None  # relay on since (None = off)
        self._until: float | None = None  # scheduled relay off
        self._off_at: float | None = None  # when the relay last dropped (grace for a late opening)
        self._exit_at: float | None = None  # last exit request
        self._awaiting_open = False  # a grant is waiting for the door to open (door.not_opened)
        self._door_open = False
        self._opened_at: float | None = None
        self._forced = False
        self._held: HeldPhase | None = None
        self._tamper = False
        self._lockdown = False

    # ---- queries -----------------------------------------------------------------

    @property
    def state(self) -> DoorState:
        """The current :class:`DoorState`, derived from the contact, the relay and the alarms."""
        if self._door_open:
            if self._forced:
                return DoorState.FORCED_OPEN
            if self._held is not None:
                return DoorState.HELD_OPEN
            return DoorState.OPEN_AUTHORIZED
        return DoorState.UNLOCKED if self.relay_on else DoorState.LOCKED

    @property
    def relay_on(self) -> bool:
        """True while the strike should be energised (unlocked)."""
        return self._on_since is not None

    @property
    def relay_until(self) -> float | None:
        """Monotonic time the relay drops at the latest (None when off)."""
        return self._until

    @property
    def door_open(self) -> bool:
        """The door contact's last reported position."""
        return self._door_open

    @property
    def held_phase(self) -> HeldPhase | None:
        """``prealarm``/``alarm`` while the door is held open, else None."""
        return self._held

    @property
    def tamper_active(self) -> bool:
        """True while the enclosure tamper switch is open."""
        return self._tamper

    @property
    def lockdown_active(self) -> bool:
        """True while lockdown refuses every unlock."""
        return self._lockdown

    def next_deadline(self) -> float | None:
        """Monotonic time of the next timer (relay drop, pre-alarm, alarm), for the loop's wait; None if none."""
        due = [d for d, _ in self._deadlines()]
        return min(due) if due else None

    # ---- timers ------------------------------------------------------------------

    def _deadlines(self) -> list[tuple[float, str]]:
        due: list[tuple[float, str]] = []
        if self._until is not None:
            due.append((self._until, "relay"))
        if self._door_open and not self._forced and self._opened_at is not None:
            if self._held is None and self.held_open_prealarm_seconds > 0:
                due.append((self._opened_at + self.held_open_seconds - self.held_open_prealarm_seconds, "prealarm"))
            elif self._held is not HeldPhase.ALARM:
                due.append((self._opened_at + self.held_open_seconds, "alarm"))
        return due

    def _now(self, t: float) -> float:
        if not math.isfinite(t):
            raise ValueError("t must be a finite monotonic time in seconds")
        if t > self._t:
            self._t = float(t)
        return self._t

    def _advance(self, t: float) -> list[Effect]:
        """Fire every timer due at or before ``t``, earliest first."""
        effects: list[Effect] = []
        while True:
            due = [(d, k) for d, k in self._deadlines() if d <= t]
            if not due:
                return effects
            when, kind = min(due)
            if kind == "relay":
                effects.extend(self._relay_off(when, RelayOffReason.TIMEOUT))
                if self._awaiting_open:
                    self._awaiting_open = False
                    effects.append(DoorEvent(EventType.DOOR_NOT_OPENED))
            elif kind == "prealarm":
                self._held = HeldPhase.PREALARM
                effects.append(DoorEvent(EventType.DOOR_HELD, HeldPhase.PREALARM))
            else:
                self._held = HeldPhase.ALARM
                effects.append(DoorEvent(EventType.DOOR_HELD, HeldPhase.ALARM))
                effects.append(AlarmRaised(AlarmKind.DOOR_HELD))

    def _relay_off(self, t: float, reason: RelayOffReason) -> list[Effect]:
        if self._on_since is None:
            return []
        self._on_since = None
        self._until = None
        self._off_at = t
        return [RelayOff(reason)]

    def _unlock(self, t: float, seconds: float, *, expect_open: bool, override: bool = False) -> list[Effect]:
        if not (math.isfinite(seconds) and seconds > 0):
            raise ValueError("unlock seconds must be a positive finite number")
        if self._lockdown and not override:
            return []
        seconds = min(seconds, self.max_unlock_seconds)
        effects: list[Effect] = []
        if self._on_since is None:
            self._on_since = t
            self._until = t + seconds
            effects.append(RelayOn(self._until))
        else:
            cap = self._on_since + self.max_unlock_seconds
            until = min(t + seconds, cap)
            if self._until is None or until > self._until:
                self._until = until
                effects.append(RelayOn(until))
        if expect_open and not self._door_open:
            self._awaiting_open = True
        return effects

    # ---- inputs ------------------------------------------------------------------

    def tick(self, t: float) -> list[Effect]:
        """Let time pass to ``t``: relay drop, ``door.not_opened``, held pre-alarm and alarm."""
        return self._advance(self._now(t))

    def grant(self, t: float, seconds: float, *, override_lockdown: bool = False) -> list[Effect]:
        """A granted decision: unlock for ``seconds`` (clamped to ``max_unlock_seconds``).

        While already unlocked the timer restarts from ``t`` but never past the absolute
        cap of the current relay-on period (T1.8). Refused (no effect) during lockdown, unless
        ``override_lockdown``: the policy granted a member of the door's lockdown override group.
        """
        t = self._now(t)
        return self._advance(t) + self._unlock(t, seconds, expect_open=True, override=override_lockdown)

    def remote_unlock(self, t: float, seconds: float) -> list[Effect]:
        """An admin's remote unlock: same rules as :meth:`grant`."""
        t = self._now(t)
        return self._advance(t) + self._unlock(t, seconds, expect_open=True)

    def exit_request(self, t: float) -> list[Effect]:
        """Request-to-exit: shunt forced-open for ``forced_open_grace_seconds``; with
        ``exit_unlocks`` also unlock for ``unlock_seconds`` (not during lockdown: egress is mechanical)."""
        t = self._now(t)
        effects = self._advance(t)
        self._exit_at = t
        if self.exit_unlocks:
            effects += self._unlock(t, self.unlock_seconds, expect_open=False)
        return effects

    def door_opened(self, t: float) -> list[Effect]:
        """Door contact went open. Forced when the relay is off and neither an exit request
        nor the relay dropping happened within ``forced_open_grace_seconds`` before."""
        t = self._now(t)
        effects = self._advance(t)
        if self._door_open:
            return effects
        grace = self.forced_open_grace_seconds
        authorised = (
            self.relay_on
            or (self._off_at is not None and t - self._off_at <= grace)
            or (self._exit_at is not None and t - self._exit_at <= grace)
        )
        self._door_open = True
        self._opened_at = t
        self._held = None
        self._awaiting_open = False
        effects.append(DoorEvent(EventType.DOOR_OPENED))
        if not authorised:
            self._forced = True
            effects.append(DoorEvent(EventType.DOOR_FORCED))
            effects.append(AlarmRaised(AlarmKind.DOOR_FORCED))
        return effects

    def door_closed(self, t: float) -> list[Effect]:
        """Door contact went shut: clear held/forced alarms; relock if ``relock_on_close``."""
        t = self._now(t)
        effects = self._advance(t)
        if not self._door_open:
            return effects
        self._door_open = False
        self._opened_at = None
        effects.append(DoorEvent(EventType.DOOR_CLOSED))
        if self._held is HeldPhase.ALARM:
            effects.append(AlarmCleared(AlarmKind.DOOR_HELD))
        self._held = None
        if self._forced:
            self._forced = False
            effects.append(AlarmCleared(AlarmKind.DOOR_FORCED))
        if self.relock_on_close:
            effects += self._relay_off(t, RelayOffReason.DOOR_CLOSED)
        return effects

    def tamper(self, active: bool, t: float) -> list[Effect]:
        """Enclosure tamper switch changed: ``tamper`` event plus alarm raise/clear. The relay is untouched."""
        t = self._now(t)
        effects = self._advance(t)
        if active != self._tamper:
            self._tamper = active
            effects.append(DoorEvent(EventType.TAMPER, "active" if active else "cleared"))
            effects.append(AlarmRaised(AlarmKind.TAMPER) if active else AlarmCleared(AlarmKind.TAMPER))
        return effects

    def lockdown(self, on: bool, t: float | None = None) -> list[Effect]:
        """Enter or leave lockdown. Entering cancels any unlock at once; while on, no input energises the relay.

        ``t`` (optional): when given, timers due by then fire first.
        """
        effects = self._advance(self._now(t)) if t is not None else []
        if on and not self._lockdown:
            self._lockdown = True
            self._awaiting_open = False
            effects += self._relay_off(self._t, RelayOffReason.LOCKDOWN)
            self._off_at = None  # no forced-open grace after a cancelled unlock
        elif not on:
            self._lockdown = False
        return effects
