"""The outbox is the sealed log itself, read in order from a cursor (docs/alerts.md "The outbox").

Every event the daemon seals (an alarm raised or cleared, a forced door, a granted PIN) is already durable, in
order and numbered (``seq``) the moment its transaction commits: that row *is* the queued message, so an
alarm is "in the outbox" in the very transaction that seals it and a door decision writes nothing more. Each
destination keeps a cursor (``outbox_cursors.seq``: everything up to it was delivered or skipped); its worker
reads the rows after the cursor on a read-only connection of its own and turns them into :class:`Message`\\ s.

``types``: the event types a destination receives (``ALARM_EVENTS`` for ``outbox.events = "alarms"``, None for
all). The backlog is bounded: past ``max_rows`` waiting messages the oldest routine events are skipped (never an
alarm), counted, and the caller raises the ``outbox_overflow`` alarm.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controller.alerts.message import Message
from controller.core.vocabulary import ALARM_EVENTS, EventType

__all__ = ["Backlog", "Reader", "message_of"]

_COLUMNS = "seq, mac, time, type, reason, method, user_code, door, score, detail"


def _kind(type: str) -> str:
    if type == EventType.ALERT_TEST:
        return "test"
    return "alarm" if type in ALARM_EVENTS else "event"


def message_of(row: tuple, door: str) -> Message:
    """A sealed ``events`` row (``_COLUMNS``) as a message: codes only (never an actor's login or a name)."""
    seq, mac, time, type, reason, method, user, row_door, score, detail_text = row
    body: dict[str, Any] = {}
    for key, value in (("reason", reason), ("method", method), ("user", user), ("score", score)):
        if value is not None:
            body[key] = value
    if detail_text:
        detail = json.loads(detail_text)
        body["detail"] = detail
        if type in (EventType.ALARM_RAISED, EventType.ALARM_CLEARED) and "alarm" in detail:
            body["alarm"] = detail["alarm"]
    return Message(id=int(seq), kind=_kind(type), type=type, time=time, door=row_door or door, seq=int(seq),
                   head=(int(seq), bytes(mac).hex()), body=body)


@dataclass(frozen=True)
class Backlog:
    """What waits for one destination: how many messages and the time of the oldest (UTC ISO text or None)."""

    depth: int
    oldest: str | None


class Reader:
    """A read-only connection to the door database for one delivery worker (used by that thread only).

    :param db_file: the SQLite file (``DATA/kunci.db``).
    :param types: the event types to deliver (None = every sealed event).
    :param door: the door name for rows without one.
    """

    def __init__(self, db_file: Path, types: Collection[str] | None, door: str) -> None:
        self._conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, check_same_thread=False)
        self._types = None if types is None else tuple(sorted(types))
        self._where = "" if types is None else f" AND type IN ({', '.join('?' * len(self._types))})"
        self.door = door

    def _params(self, *first: Any) -> tuple:
        return (*first, *(self._types or ()))

    def head(self) -> tuple[int, str] | None:
        """The log's newest sealed event as ``(seq, mac hex)``, or None for an empty log."""
        row = self._conn.execute("SELECT seq, mac FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
                                 ).fetchone()
        return None if row is None else (int(row[0]), bytes(row[1]).hex())

    def after(self, cursor: int, limit: int) -> list[Message]:
        """Up to ``limit`` messages after ``cursor``, in seq order."""
        rows = self._conn.execute(f"SELECT {_COLUMNS} FROM events WHERE seq > ?{self._where} ORDER BY seq LIMIT ?",
                                  (*self._params(cursor), limit)).fetchall()
        return [message_of(row, self.door) for row in rows]

    def backlog(self, cursor: int) -> Backlog:
        """How many messages wait after ``cursor`` and when the oldest was sealed."""
        depth, oldest = self._conn.execute(f"SELECT count(*), min(time) FROM events WHERE seq > ?{self._where}",
                                           self._params(cursor)).fetchone()
        return Backlog(int(depth), oldest)

    def overflow(self, cursor: int, max_rows: int) -> tuple[int, int, list[Message]]:
        """When more than ``max_rows`` wait: ``(new cursor, routine messages skipped, alarms kept)``.

        The routine (non-alarm) messages older than the newest ``max_rows`` are skipped; the alarms among
        them are returned to be delivered first. ``(cursor, 0, [])`` when the backlog fits.
        """
        row = self._conn.execute(f"SELECT seq FROM events WHERE seq > ?{self._where} ORDER BY seq DESC "
                                 "LIMIT 1 OFFSET ?", (*self._params(cursor), max_rows)).fetchone()
        if row is None:
            return cursor, 0, []
        cut = int(row[0])  # this one and everything before it (after the cursor) is over the bound
        alarms = tuple(sorted(ALARM_EVENTS))
        marks = ", ".join("?" * len(alarms))
        kept = [message_of(r, self.door) for r in self._conn.execute(
            f"SELECT {_COLUMNS} FROM events WHERE seq > ? AND seq <= ?{self._where} AND type IN ({marks}) "
            "ORDER BY seq", (*self._params(cursor, cut), *alarms))]
        total = self._conn.execute(f"SELECT count(*) FROM events WHERE seq > ? AND seq <= ?{self._where}",
                                   self._params(cursor, cut)).fetchone()[0]
        return cut, int(total) - len(kept), kept

    def close(self) -> None:
        self._conn.close()
