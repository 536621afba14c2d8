"""The daemon's durable log: sealed events, alarms, and what happens when the disk says no.

The daemon is the sealer (it holds :class:`controller.audit.SealerLock`), so every event it
writes goes through :func:`controller.audit.append` and is committed before the caller acts on
it ("no log, no entry", DESIGN §6). When the database refuses a write (disk full, read-only
file system, I/O error), :meth:`Journal.write` returns ``False``, keeps the event in a RAM ring
buffer and marks the log unavailable; :meth:`Journal.flush` retries the buffer later, so events
are written late rather than lost while the process lives.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from controller import audit
from controller.models import Alarm
from controller.timefmt import iso_utc, utcnow

log = logging.getLogger(__name__)

#: Events kept in memory while the database refuses writes.
RAM_BUFFER_EVENTS = 10_000
#: Event types logged at WARNING rather than INFO (alarms a technician should see in the journal).
_WARN_EVENTS = frozenset({"door.forced", "door.held", "tamper", "duress", "lockout.started", "sensor.lost"})


@dataclass
class _Pending:
    type: str
    fields: dict[str, Any] = field(default_factory=dict)


class Journal:
    """Writes sealed events and alarms through one session owned by the daemon loop thread.

    :param session: the loop thread's session (never shared with another thread).
    :param audit_key: the 32-byte chain key.
    :param door: door name put on every event.
    """

    def __init__(self, session: Session, audit_key: bytes, door: str) -> None:
        self.session = session
        self._key = audit_key
        self.door = door
        self._buffer: deque[_Pending] = deque(maxlen=RAM_BUFFER_EVENTS)
        self.dropped = 0
        self.available = True
        #: Called after every rollback (e.g. the access controller's record of saved lockout rows).
        self.rollback_listeners: list[Callable[[], None]] = []

    @property
    def buffered(self) -> int:
        """Events waiting in RAM for the database to accept writes again."""
        return len(self._buffer)

    def write(self, type: str, *, time: datetime | None = None, **fields: Any) -> bool:
        """Append one sealed event and commit. ``False`` when it could not be stored (buffered in RAM)."""
        fields.setdefault("door", self.door)
        fields["time"] = time or utcnow()
        if self._buffer and not self.flush():
            self._keep(type, fields)
            return False
        try:
            audit.append(self.session, self._key, type, **fields)
            self.session.commit()
        except (SQLAlchemyError, OSError) as exc:
            self._failed(exc)
            self._keep(type, fields)
            return False
        self.available = True
        # One journal line per event: codes only (type, reason, method, person code), never names or PINs.
        log.log(logging.WARNING if type in _WARN_EVENTS else logging.INFO, "event %s reason=%s method=%s user=%s",
                type, fields.get("reason") or "-", fields.get("method") or "-",
                getattr(fields.get("user"), "code", fields.get("user")) or "-")
        return True

    def flush(self) -> bool:
        """Try to store the RAM-buffered events (oldest first); True when none are left."""
        while self._buffer:
            item = self._buffer[0]
            try:
                audit.append(self.session, self._key, item.type, **item.fields)
                self.session.commit()
            except (SQLAlchemyError, OSError) as exc:
                self._failed(exc)
                return False
            self._buffer.popleft()
        if not self.available:
            log.warning("event log writable again; buffered events stored")
        self.available = True
        return True

    def retract(self, type: str) -> bool:
        """Drop the newest RAM-buffered event if it is of ``type`` (it was never stored); True if dropped.

        For a decision that was reversed because its event could not be stored ("no log, no entry"):
        the caller then writes what really happened, so the log never shows a grant that did not open.
        """
        if self._buffer and self._buffer[-1].type == type:
            self._buffer.pop()
            return True
        return False

    def commit_change(self) -> None:
        """Seal the admin events the current transaction recorded and commit them with the change.

        For admin commands (:mod:`controller.admin_ops`): the change and its ``admin.*`` event land
        in one transaction or not at all. Raises what the database raised, after a rollback; the
        caller reports the refusal (an admin change is never buffered in RAM).
        """
        try:
            audit.seal_pending(self.session, self._key)
            self.session.commit()
        except BaseException:
            self.rollback()
            raise

    def seal_pending(self) -> int:
        """Seal events other processes recorded (admin events from the web); returns how many."""
        try:
            sealed = audit.seal_pending(self.session, self._key)
            if sealed:
                self.session.commit()
            return sealed
        except (SQLAlchemyError, OSError) as exc:
            self._failed(exc)
            return 0

    def _keep(self, type: str, fields: dict[str, Any]) -> None:
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
        self._buffer.append(_Pending(type, fields))

    def rollback(self) -> None:
        """Roll the session back and tell the listeners (caches of what was written) to forget."""
        try:
            self.session.rollback()
        except SQLAlchemyError:
            log.debug("rollback failed too", exc_info=True)
        for listener in self.rollback_listeners:
            listener()

    def _failed(self, exc: BaseException) -> None:
        self.rollback()
        if self.available:
            log.error("cannot write the event log: %s", str(exc).splitlines()[0])
        self.available = False

    # -- alarms ---------------------------------------------------------------------------

    def raise_alarm(self, kind: str, detail: str | None = None) -> bool:
        """Open an alarm of ``kind`` unless one is already open (not cleared). Returns True if new."""
        try:
            open_alarm = self.session.scalar(
                select(Alarm).where(Alarm.kind == kind, Alarm.cleared_at.is_(None)).limit(1)
            )
            if open_alarm is not None:
                return False
            self.session.add(Alarm(kind=kind, raised_at=iso_utc(utcnow()), detail=detail))
            self.session.commit()
            return True
        except (SQLAlchemyError, OSError) as exc:
            self._failed(exc)
            return False

    def clear_alarm(self, kind: str) -> None:
        """Mark open alarms of ``kind`` as cleared (the condition ended; acknowledgement is separate)."""
        try:
            for alarm in self.session.scalars(select(Alarm).where(Alarm.kind == kind, Alarm.cleared_at.is_(None))):
                alarm.cleared_at = iso_utc(utcnow())
            self.session.commit()
        except (SQLAlchemyError, OSError) as exc:
            self._failed(exc)

    def acknowledge(self, alarm_id: int, actor: str) -> Alarm | None:
        """Record that ``actor`` acknowledged alarm ``alarm_id``; None if there is no such alarm."""
        alarm = self.session.get(Alarm, alarm_id)
        if alarm is None:
            return None
        alarm.acknowledged_by = actor
        alarm.acknowledged_at = iso_utc(utcnow())
        self.session.commit()
        return alarm

    def active_alarms(self, limit: int = 50) -> list[Alarm]:
        """Alarms still open or not yet acknowledged, newest first."""
        return list(
            self.session.scalars(
                select(Alarm)
                .where(or_(Alarm.cleared_at.is_(None), Alarm.acknowledged_at.is_(None)))
                .order_by(Alarm.id.desc())
                .limit(limit)
            )
        )
