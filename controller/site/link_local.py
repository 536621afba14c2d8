"""What the site link reads of the door database, on a read-only connection of its own (the daemon is the only
writer): the cursors in ``site_sync`` and the sealed events after the uploaded one, in seq order."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

__all__ = ["EVENT_COLUMNS", "LocalReader"]

#: The columns of a sealed event as the site's ``kunci.events`` stores them (the chain's fields and the MAC).
EVENT_COLUMNS = ("seq", "time", "type", "reason", "method", "user_code", "door", "actor", "score", "detail", "mac")


class LocalReader:
    """Read-only reads of ``db_file`` for the link's thread (used by that thread only).

    :param db_file: the door database (``DATA/kunci.db``).
    """

    def __init__(self, db_file: Path) -> None:
        self._conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True, check_same_thread=False)

    def cursors(self) -> tuple[int, int, str | None]:
        """``(revision, uploaded_seq, synced_at)`` of ``site_sync`` (zeros before the first sync)."""
        row = self._conn.execute("SELECT revision, uploaded_seq, synced_at FROM site_sync WHERE id = 1").fetchone()
        self._conn.commit()  # end the read transaction: the next read sees the daemon's newer commits
        return (0, 0, None) if row is None else (int(row[0]), int(row[1]), row[2])

    def head(self) -> int:
        """The newest sealed event's seq (0 for an empty log)."""
        row = self._conn.execute("SELECT max(seq) FROM events").fetchone()
        self._conn.commit()
        return int(row[0] or 0)

    def events_after(self, seq: int, limit: int) -> list[dict[str, Any]]:
        """Up to ``limit`` sealed events after ``seq``, in seq order, as ``{column: value}``."""
        rows = self._conn.execute(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
                                  (seq, limit)).fetchall()
        self._conn.commit()
        return [dict(zip(EVENT_COLUMNS, row)) for row in rows]

    def close(self) -> None:
        self._conn.close()
