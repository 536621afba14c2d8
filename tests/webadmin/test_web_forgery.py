"""Forgery (issue 10): a process with the admin web's file permissions cannot write the door database.

The installed layout (``kunci install-service``) makes ``kunci.db`` and its ``-wal``/``-shm``
0640, owned by the door daemon's account, group-readable by the web's account, in a data
directory the web may enter but not write (0750). Here the test process (root on CI) plays the
door daemon and a forked child drops to an unprivileged uid/gid (``nobody`` with the database's
group) before it tries: reading must work, through plain SQLite and through the web's own
read-only engine; every write must be refused by SQLite with "attempt to write a readonly
database". A child exec'ing a fresh interpreter is not used: the interpreter may live where an
unprivileged account cannot read it, so everything the child needs is imported before the fork.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from controller.store import audit, keys
from controller.ops.initialise import initialise
from controller.store.db import open_database, session_factory
from controller.ops.install_plan import DB_MODE
from controller.paths import DataDir
from controller.timefmt import utcnow
from controller.store.web_store import WebStore, session_is_live
from webadmin.readonly_db import open_readonly

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another account needs root")

#: The unprivileged account the child becomes (``nobody``/``nogroup`` on Debian).
WEB_UID = WEB_GID = 65534

FORGERIES = {
    "insert an event": "INSERT INTO events (time, type, actor) VALUES ('2026-01-01T00:00:00.000000Z', "
                       "'admin.user_resumed', 'auditor')",
    "resume a person": "UPDATE users SET status = 'active'",
    "delete the log": "DELETE FROM events",
    "add a staff account": "INSERT INTO admin_accounts (username, password_hash, role, active, failed_logins, "
                           "session_version, created_at) VALUES ('mallory', 'x', 'admin', 1, 0, 1, '2026')",
}


def _as_unprivileged(job: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``job`` in a forked child that has dropped to the web's uid/gid; return its JSON-able result."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        code = 0
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(WEB_GID)
            os.setuid(WEB_UID)
            result = job()
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            result, code = {"crash": repr(exc)}, 1
        with os.fdopen(write_end, "w") as out:
            out.write(json.dumps(result))
        os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as inp:
        data = inp.read()
    os.waitpid(pid, 0)
    result = json.loads(data or "{}")
    assert "crash" not in result, result["crash"]
    return result


@pytest.fixture
def installed() -> Iterator[DataDir]:
    """A data directory with the installed modes: DATA 0750 and kunci.db 0640, group = the web's group."""
    base = Path(tempfile.mkdtemp(prefix="kf", dir="/tmp"))
    os.chmod(base, 0o755)
    datadir = DataDir(base / "data")
    initialise(datadir)
    engine = open_database(datadir)
    with session_factory(engine)() as db:  # something worth forging: a suspended person and a sealed event
        db.execute(text("INSERT INTO users (code, status, extended_unlock, created_at, updated_at) "
                        "VALUES ('U0001', 'suspended', 0, '2026', '2026')"))
        audit.append(db, keys.load_audit_key(datadir), "daemon.started")
        db.commit()
    engine.dispose()
    os.chown(datadir.root, os.getuid(), WEB_GID)
    os.chmod(datadir.root, 0o750)
    os.chown(datadir.db_file, os.getuid(), WEB_GID)
    os.chmod(datadir.db_file, DB_MODE)
    yield datadir
    shutil.rmtree(base, ignore_errors=True)


def _try_everything(datadir: DataDir) -> dict[str, Any]:
    out: dict[str, Any] = {}
    conn = sqlite3.connect(f"file:{datadir.db_file}?mode=ro", uri=True, timeout=5)
    try:
        out["plain_read"] = conn.execute("SELECT count(*) FROM events").fetchone()[0]
    except sqlite3.Error as exc:  # no -wal/-shm and no right to create them
        out["plain_read"] = str(exc)
    finally:
        conn.close()
    engine = open_readonly(datadir)
    try:
        with engine.connect() as c:
            out["web_read"] = c.execute(text("SELECT status FROM users WHERE code = 'U0001'")).scalar_one()
    finally:
        engine.dispose()
    for what, sql in FORGERIES.items():
        conn = sqlite3.connect(str(datadir.db_file), timeout=5)  # read-write mode: only the OS stands in the way
        try:
            conn.execute(sql)
            conn.commit()
            out[what] = "WRITTEN"
        except sqlite3.Error as exc:
            out[what] = str(exc)
        finally:
            conn.close()
    try:
        (datadir.root / "kunci.db-wal.forged").write_bytes(b"x")
        out["create a file in DATA"] = "WRITTEN"
    except OSError as exc:
        out["create a file in DATA"] = exc.strerror
    return out


def _assert_refused(result: dict[str, Any]) -> None:
    for what in FORGERIES:
        assert result[what] == "attempt to write a readonly database", (what, result[what])
    assert result["create a file in DATA"] == "Permission denied"


def test_the_web_account_reads_but_cannot_write_while_the_daemon_holds_the_database(installed: DataDir) -> None:
    daemon_side = sqlite3.connect(str(installed.db_file))  # the daemon's open connection: -wal and -shm exist
    try:
        daemon_side.execute("PRAGMA journal_mode = WAL")
        daemon_side.execute("SELECT count(*) FROM events").fetchone()
        for suffix in ("-wal", "-shm"):
            assert Path(f"{installed.db_file}{suffix}").exists()
            assert (os.stat(f"{installed.db_file}{suffix}").st_mode & 0o777) == DB_MODE, "SQLite copies the mode"
        result = _as_unprivileged(lambda: _try_everything(installed))
        _assert_refused(result)
        assert result["plain_read"] == 1 and result["web_read"] == "suspended"
        status, events = daemon_side.execute(
            "SELECT (SELECT status FROM users WHERE code = 'U0001'), (SELECT count(*) FROM events)").fetchone()
        assert (status, events) == ("suspended", 1), "nothing changed"
    finally:
        daemon_side.close()


def test_the_web_account_reads_a_stopped_daemons_database_and_still_cannot_write(installed: DataDir) -> None:
    """No -wal/-shm (the daemon closed the database cleanly) and no right to create them: reading still works."""
    assert not Path(f"{installed.db_file}-wal").exists()
    result = _as_unprivileged(lambda: _try_everything(installed))
    for what in FORGERIES:
        assert result[what] != "WRITTEN", what
    assert result["web_read"] == "suspended"
    assert not Path(f"{installed.db_file}-wal").exists()


def test_the_daemons_account_reads_the_web_sessions_it_checks_and_cannot_write_them(installed: DataDir) -> None:
    """The other direction: DATA/web is 0750 and web.db 0640, so the daemon (the web's group) can tell a
    live session, even when the web holds no connection open, but cannot make one up."""
    from datetime import timedelta

    store = WebStore.open(installed)  # this process plays the web here; the child plays the daemon
    token = b"\x07" * 32
    store.create_session(token, "alice", 1, utcnow(), idle=timedelta(minutes=30), max_age=timedelta(hours=12))
    for path in (installed.web_dir, installed.web_db_file):
        os.chown(path, os.getuid(), WEB_GID)
    assert sorted(p.name for p in installed.web_dir.iterdir()) == ["web.db"], "no -wal/-shm the daemon would need"

    def check() -> dict[str, Any]:
        out: dict[str, Any] = {"live": session_is_live(installed, "alice", token, utcnow()),
                               "other": session_is_live(installed, "mallory", token, utcnow())}
        conn = sqlite3.connect(str(installed.web_db_file), timeout=5)
        try:
            conn.execute("INSERT INTO sessions (token_hash, username, session_version, created_at, last_seen_at, "
                         "idle_until, expires_at) VALUES (x'00', 'mallory', 1, '', '', '9999', '9999')")
            conn.commit()
            out["write"] = "WRITTEN"
        except sqlite3.Error as exc:
            out["write"] = str(exc)
        finally:
            conn.close()
        return out

    result = _as_unprivileged(check)
    assert result == {"live": True, "other": False, "write": "attempt to write a readonly database"}
