"""Copies the write-ahead log into the database file on a thread of its own, never in a door decision.

SQLite in WAL mode checkpoints automatically: the commit that finds the WAL past 1,000 pages copies it into the
database file and fsyncs it, inside that commit. On the bench VM such a commit took up to 190 ms (measured:
400 event inserts, autocheckpoint on: max 190 ms; off: max 5 ms), and with the door's connections that commit is a
decision. So the daemon's connections run with ``wal_autocheckpoint = 0`` (:func:`no_autocheckpoint`) and this
thread runs ``PRAGMA wal_checkpoint(PASSIVE)`` on a connection of its own once enough was written: a passive
checkpoint takes no writer lock, so a decision committing meanwhile does not wait for it. A checkpoint that fails
(disk full, read-only file system) is logged once and tried again; the committed events are in the WAL either way.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

#: Seconds between two looks at how much was written.
INTERVAL_SECONDS = 0.5
#: Checkpoint once this many events were stored since the last one (about 700 WAL pages: SQLite's own
#: threshold is 1,000), or when anything was stored and this many seconds passed.
EVENTS_PER_CHECKPOINT = 100
MAX_WAIT_SECONDS = 30.0


def no_autocheckpoint(engine: Any) -> None:
    """Turn SQLite's in-commit checkpoints off for every connection of ``engine`` (SQLite only); connections
    opened before are closed, so the pool only holds connections with the setting."""
    if engine.dialect.name != "sqlite":
        return
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _off(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.execute("PRAGMA wal_autocheckpoint = 0")

    engine.dispose()


class Checkpointer:
    """The checkpoint thread of one database file. ``start()``, then ``close()`` at the daemon's stop."""

    def __init__(self, db_file: Path, stored: Callable[[], int] = lambda: 1, interval: float = INTERVAL_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        """``stored()``: events stored so far (the journal's count, read from this thread): a checkpoint runs
        after :data:`EVENTS_PER_CHECKPOINT` of them, or :data:`MAX_WAIT_SECONDS` after the first one."""
        self._db_file = db_file
        self._stored = stored
        self._clock = clock
        self._done_at_count = 0
        self._done_at_time = clock()
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="kunci-checkpoint", daemon=True)
        self.checkpoints = 0
        self.failing = False

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (a checkpoint in progress finishes first). Safe twice."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self._db_file, timeout=5.0, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            log.error("the checkpoint thread cannot open %s: %s; SQLite's own checkpoints stay off", self._db_file,
                      exc)
            return
        try:
            while not self._stop.wait(self._interval):
                if self.due():
                    self.checkpoint(conn)
        finally:
            conn.close()

    def due(self) -> bool:
        """Whether enough was written since the last checkpoint (fewer, larger checkpoints: fewer fsyncs)."""
        written = self._stored() - self._done_at_count
        return written >= EVENTS_PER_CHECKPOINT or (
            written > 0 and self._clock() - self._done_at_time >= MAX_WAIT_SECONDS)

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        count = self._stored()
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:
            if not self.failing:
                log.warning("WAL checkpoint failed (will retry): %s", exc)
            self.failing = True
            return
        if self.failing:
            log.info("WAL checkpoints work again")
        self.failing = False
        self.checkpoints += 1
        self._done_at_count, self._done_at_time = count, self._clock()
