"""The alarms table as the daemon's journal keeps it (controller/daemon/journal.py): raising, reopening and
clearing an alarm row seals ``alarm.raised`` / ``alarm.cleared`` in the same transaction (the sealed event is
what the alert destinations receive, docs/alerts.md); acknowledging, and the active list."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from controller.core.vocabulary import AlarmKind, EventType
from controller.store.models import Alarm
from controller.timefmt import iso_utc, utcnow


class AlarmRows:
    """Mixed into :class:`controller.daemon.journal.Journal` (uses its ``session``, ``write`` and ``_failed``)."""

    session: Any

    def write(self, type: EventType, **fields: Any) -> bool:  # pragma: no cover - Journal's
        raise NotImplementedError

    def _failed(self, exc: BaseException) -> None:  # pragma: no cover - Journal's
        raise NotImplementedError

    def raise_alarm(self, kind: AlarmKind, detail: str | None = None) -> bool:
        """Open an alarm of ``kind`` unless one is still active (open, or cleared but not acknowledged).

        A condition that comes back before anyone acknowledged its alarm (a flapping sensor: lost,
        restored, lost ...) reopens that alarm (``cleared_at`` back to NULL) instead of opening one per
        cycle; the event log keeps every occurrence. Returns True only when a new alarm was opened.
        """
        try:
            active = self.session.scalar(
                select(Alarm)
                .where(Alarm.kind == kind, or_(Alarm.cleared_at.is_(None), Alarm.acknowledged_at.is_(None)))
                .order_by(Alarm.id.desc())
                .limit(1)
            )
            if active is not None:
                if active.cleared_at is not None:
                    active.cleared_at = None
                    self._seal_alarm(EventType.ALARM_RAISED, kind, detail, reopened=True)
                return False
            self.session.add(Alarm(kind=kind, raised_at=iso_utc(utcnow()), detail=detail))
            return self._seal_alarm(EventType.ALARM_RAISED, kind, detail)
        except (SQLAlchemyError, OSError) as exc:
            self._failed(exc)
            return False

    def _seal_alarm(self, type: EventType, kind: AlarmKind, detail: str | None = None, *,
                    reopened: bool = False) -> bool:
        """Seal ``alarm.raised``/``alarm.cleared`` in the transaction of the alarm row's change (the row and its
        event commit together: the sealed event is what the alert destinations receive). When the database
        refuses, the event waits in RAM like any other and the row change is rolled back (False)."""
        fields: dict[str, Any] = {"alarm": str(kind)}
        if detail:
            fields["detail"] = detail[:200]
        if reopened:
            fields["reopened"] = True
        return self.write(type, detail=fields)

    def clear_alarm(self, kind: AlarmKind) -> None:
        """Mark open alarms of ``kind`` as cleared (the condition ended; acknowledgement is separate)."""
        try:
            cleared = 0
            for alarm in self.session.scalars(select(Alarm).where(Alarm.kind == kind, Alarm.cleared_at.is_(None))):
                alarm.cleared_at = iso_utc(utcnow())
                cleared += 1
            if cleared:
                self._seal_alarm(EventType.ALARM_CLEARED, kind)
            else:
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
