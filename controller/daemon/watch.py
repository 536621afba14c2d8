"""What the daemon loop watches between decisions: the wall clock and the health of its own log.

Both run on the loop thread from :meth:`controller.daemon.loop.Daemon._tick`, off the decision path.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from controller.core.door_state import DoorState, DoorStateMachine
from controller.core.vocabulary import AlarmKind, EventType
from controller.daemon.clock import JumpDetector, clock_trusted
from controller.daemon.journal import Journal
from controller.timefmt import iso_utc

log = logging.getLogger(__name__)

#: How often the clock's trust is re-evaluated (seconds).
CLOCK_CHECK_SECONDS = 10.0


class ClockWatch:
    """Logs ``clock.jumped`` and ``clock.trust_changed``; :attr:`trusted` is a fact of every decision.

    :param policy: ``site.clock_trust`` (``auto`` asks the kernel whether NTP synchronised the clock).
    :param simulated: simulated hardware: ``auto`` means ``always`` (a simulated bench has no NTP to ask;
        documented in docs/security.md). Default False.
    :param probe: the trust probe (default :func:`controller.daemon.clock.clock_trusted`).
    """

    def __init__(self, policy: str, *, simulated: bool = False, probe: Callable[[str], bool] = clock_trusted) -> None:
        self._policy = "always" if simulated and policy == "auto" else policy
        self._probe = probe
        self._jumps = JumpDetector()
        self._next_check = 0.0
        self.trusted = probe(policy)

    def recheck(self, policy: str) -> None:
        """Use trust ``policy`` from now on and ask again at the next :meth:`check` (a reload)."""
        self._policy = policy
        self._next_check = 0.0

    def check(self, journal: Journal, now: datetime, t: float) -> None:
        """Compare the wall clock with the monotonic one; every CLOCK_CHECK_SECONDS ask for trust again."""
        jump = self._jumps.check(now, t)
        if jump is not None:
            journal.write(EventType.CLOCK_JUMPED, time=now,
                          detail={"expected": iso_utc(jump[0]), "actual": iso_utc(jump[1])})
        if t >= self._next_check:
            self._next_check = t + CLOCK_CHECK_SECONDS
            trusted = self._probe(self._policy)
            if trusted != self.trusted:
                self.trusted = trusted
                journal.write(EventType.CLOCK_TRUST_CHANGED, time=now, detail={"trusted": trusted})


class LogWatch:
    """The log's health: rows the daemon did not write, and the local alarm while the log refuses writes."""

    def __init__(self) -> None:
        self.down = False

    @staticmethod
    def foreign_rows(journal: Journal) -> None:
        """Rows in ``events`` that the daemon did not write are never sealed: they raise an alarm (once),
        and ``kunci audit verify`` names them. Only the daemon writes the door database (issue 10)."""
        found = journal.unsealed_rows()
        if found and journal.raise_alarm(AlarmKind.FOREIGN_EVENTS, f"{found} rows in the event log were not "
                                         "written by the door daemon; run 'kunci audit verify'"):
            log.error("%d rows in the event log were not written by the door daemon (never sealed)", found)

    def availability(self, journal: Journal, indicators, door: DoorStateMachine, more: tuple = ()) -> None:
        """T5.4: while the log refuses writes, the local alarm sounds (re-asserted after other feedback) at every
        door (``more``: the other doors' ``(indicators, door)``); once writes work again the outage is recorded
        as a ``log_unavailable`` alarm (raised and cleared)."""
        doors = ((indicators, door), *more)
        if not journal.available:
            if not self.down:
                self.down = True
                log.error("event log unavailable: local alarm on, events kept in RAM (%d)", journal.buffered)
                journal.raise_alarm(AlarmKind.LOG_UNAVAILABLE, "the event log refused writes")  # may fail too
            for ind, _door in doors:
                if ind.pattern != "alarm":
                    ind.alarm(True)
        elif self.down:
            self.down = False
            log.warning("event log available again; buffered events stored")
            journal.raise_alarm(AlarmKind.LOG_UNAVAILABLE, "the event log refused writes")  # no-op if it got in
            journal.clear_alarm(AlarmKind.LOG_UNAVAILABLE)
            for ind, each in doors:
                door_alarm = each.state in (DoorState.HELD_OPEN, DoorState.FORCED_OPEN) or each.tamper_active
                if ind.pattern == "alarm" and not door_alarm:
                    ind.alarm(False)
