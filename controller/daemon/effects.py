"""The door state machine's effects applied to the hardware and the log, on the daemon loop thread.

:func:`apply_effects` turns :mod:`controller.core.door_state` effects into relay changes, sealed door events,
alarms and indicator patterns. :class:`CappedRelay` is the strike relay as the loop drives it, with the
unlock cap enforced off the loop (DESIGN §4): the door state machine already relocks at
``door.max_unlock_seconds``; this watchdog is the second line and drops the relay a quarter second after
the cap even if the loop were stuck. It only ever *locks*.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from controller.core.door_state import (
    AlarmCleared,
    AlarmRaised,
    DoorEvent,
    HeldPhase,
    RelayOff,
    RelayOn,
)
from controller.core.vocabulary import EventType
from controller.daemon.journal import Journal
from drivers.door_io import StrikeRelay
from drivers.indicators import Indicators

log = logging.getLogger(__name__)

#: Slack after the cap before the independent timer forces the relay off (seconds).
CAP_SLACK_SECONDS = 0.25


class CappedRelay:
    """``relay`` (a :class:`~drivers.door_io.StrikeRelay`, off at construction) with a cap watchdog.

    One watchdog thread, started here and never on the decision path, waits for the cap of the current
    unlock period (``max_unlock_seconds`` plus :data:`CAP_SLACK_SECONDS` after the period began) and
    drops the relay if it is still energised then; :meth:`unlock` only records the deadline.

    :param relay: the strike relay driver.
    :param max_unlock_seconds: ``door.max_unlock_seconds``.
    :param clock: monotonic clock of the watchdog (real time: it guards against a stuck loop).
    """

    def __init__(self, relay: StrikeRelay, max_unlock_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.relay = relay
        self._cap_seconds = max_unlock_seconds + CAP_SLACK_SECONDS
        self._clock = clock
        self._deadline: float | None = None
        self._closed = False
        self._changed = threading.Condition()
        self._watchdog = threading.Thread(target=self._watch, name="kunci-relay-cap", daemon=True)
        self._watchdog.start()

    def unlock(self) -> None:
        """Energise the strike and arm the cap (once per unlock period: a re-grant keeps the first cap)."""
        self.relay.unlock()
        with self._changed:
            if self._deadline is None:
                self._deadline = self._clock() + self._cap_seconds
                self._changed.notify()

    def lock(self, why: str) -> None:
        """De-energise the strike (never raises: a failure is logged) and disarm the cap."""
        with self._changed:
            self._deadline = None
        try:
            self.relay.lock()
        except Exception:
            log.exception("relay.lock failed (%s)", why)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the watchdog (after the relay was locked at shutdown) and wait for its thread to end."""
        with self._changed:
            self._closed = True
            self._changed.notify()
        if self._watchdog is not threading.current_thread():
            self._watchdog.join(timeout)

    @property
    def watching(self) -> bool:
        """True while the watchdog thread runs (until :meth:`close`)."""
        return self._watchdog.is_alive()

    def _watch(self) -> None:
        with self._changed:
            while not self._closed:
                if self._deadline is None:
                    self._changed.wait()
                    continue
                left = self._deadline - self._clock()
                if left > 0:
                    self._changed.wait(left)
                    continue
                self._deadline = None
                if self.relay.is_unlocked:
                    log.error("unlock cap reached outside the loop; relay forced off")
                    self.relay.lock()


def apply_effects(effects: list, relay: CappedRelay, journal: Journal, indicators: Indicators, now: datetime) -> None:
    """Apply door-state-machine ``effects`` in order (relay first when it is first: a grant's RelayOn)."""
    for effect in effects:
        if isinstance(effect, RelayOn):
            relay.unlock()
        elif isinstance(effect, RelayOff):
            relay.lock(str(effect.reason))
        elif isinstance(effect, DoorEvent):
            journal.write(effect.type, time=now, detail={"phase": str(effect.detail)} if effect.detail else None)
            if effect.type == EventType.DOOR_HELD and effect.detail == HeldPhase.PREALARM:
                indicators.prealarm()
        elif isinstance(effect, AlarmRaised):
            journal.raise_alarm(effect.kind)
            indicators.alarm(True)
        elif isinstance(effect, AlarmCleared):
            journal.clear_alarm(effect.kind)
            indicators.alarm(False)
