"""The door state machine's effects applied to the hardware and the log, on the daemon loop thread.

:func:`apply_effects` turns :mod:`controller.core.door_state` effects into relay changes, sealed door events,
alarms and indicator patterns. :class:`CappedRelay` is the strike relay as the loop drives it, with the
unlock cap enforced off the loop (DESIGN §4): the door state machine already relocks at
``door.max_unlock_seconds``; this timer is the second line and drops the relay a quarter second after
the cap even if the loop were stuck. It only ever *locks*.
"""

from __future__ import annotations

import logging
import threading
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
    """``relay`` (a :class:`~drivers.door_io.StrikeRelay`, off at construction) with a cap timer.

    :param relay: the strike relay driver.
    :param max_unlock_seconds: ``door.max_unlock_seconds``; the timer fires this long plus
        :data:`CAP_SLACK_SECONDS` after an unlock.
    """

    def __init__(self, relay: StrikeRelay, max_unlock_seconds: float) -> None:
        self.relay = relay
        self._cap_seconds = max_unlock_seconds + CAP_SLACK_SECONDS
        self._timer: threading.Timer | None = None

    def unlock(self) -> None:
        """Energise the strike and arm the cap timer (once per unlock period)."""
        self.relay.unlock()
        if self._timer is None:
            self._timer = threading.Timer(self._cap_seconds, self._cap_expired)
            self._timer.daemon = True
            self._timer.start()

    def lock(self, why: str) -> None:
        """De-energise the strike (never raises: a failure is logged) and disarm the timer."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            self.relay.lock()
        except Exception:
            log.exception("relay.lock failed (%s)", why)

    def _cap_expired(self) -> None:
        if self.relay.is_unlocked:
            log.error("unlock cap reached outside the loop; relay forced off")
            self.relay.lock()
        self._timer = None


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
