"""WAL checkpoints off the door loop (controller/daemon/checkpointer.py): the daemon's connections never
checkpoint inside a commit, and the checkpoint thread copies the WAL into the database file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from controller.daemon.checkpointer import Checkpointer
from tests import polling
from tests.controller.stepped import SteppedDaemon


def test_the_daemons_connections_leave_checkpoints_to_the_thread(daemon_datadir) -> None:
    with SteppedDaemon(daemon_datadir) as door:
        journal = door.daemon.journal
        assert journal.direct.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        session_conn = journal.session.connection().connection.driver_connection
        assert session_conn.execute("PRAGMA wal_autocheckpoint").fetchone() == (0,)
        checkpointer = door.daemon._checkpointer
        for _ in range(110):  # enough stored events for a checkpoint
            door.exit_button()
        polling.wait_for(lambda: checkpointer.checkpoints > 0, 30, "a checkpoint by the thread")


def test_checkpoints_wait_for_enough_writes_or_half_a_minute() -> None:
    stored, now = [0], [0.0]
    checkpointer = Checkpointer(Path("unused.db"), stored=lambda: stored[0], clock=lambda: now[0])
    assert not checkpointer.due()
    stored[0] = 5
    assert not checkpointer.due()
    now[0] = 30.0
    assert checkpointer.due()
    now[0], stored[0] = 1.0, 100
    assert checkpointer.due()


def test_a_checkpoint_copies_every_committed_frame(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("PRAGMA journal_mode = WAL")
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE t (v BLOB)")
    for _ in range(50):
        writer.execute("INSERT INTO t VALUES (randomblob(3000))")
    checkpointer = Checkpointer(path)
    conn = sqlite3.connect(path, isolation_level=None)
    checkpointer.checkpoint(conn)
    busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    assert busy == 0 and frames == copied > 0 and checkpointer.checkpoints == 1 and not checkpointer.failing
    conn.close()
    writer.close()
    checkpointer.close()  # never started: closing is fine
