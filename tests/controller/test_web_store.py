"""controller.store.web_store: the web's own database (sessions, login lock) and the daemon's live-session check."""

from __future__ import annotations

import stat
from datetime import timedelta
from pathlib import Path

from controller.paths import DataDir
from controller.timefmt import utcnow
from controller.store.web_store import WebStore, session_is_live

IDLE, MAX_AGE = timedelta(minutes=30), timedelta(hours=12)
TOKEN = b"\x01" * 32


def test_open_creates_a_directory_and_database_the_daemon_can_only_read(data_dir: Path):
    dd = DataDir(data_dir)
    WebStore.open(dd)
    assert stat.S_IMODE(dd.web_dir.stat().st_mode) == 0o750
    assert stat.S_IMODE(dd.web_db_file.stat().st_mode) == 0o640
    WebStore.open(dd)  # idempotent


def test_a_reader_needs_no_shared_memory_file(data_dir: Path):
    """Rollback journal, not WAL: the daemon's account cannot create a -shm file in DATA/web."""
    dd = DataDir(data_dir)
    store = WebStore.open(dd)
    store.create_session(TOKEN, "alice", 1, utcnow(), idle=IDLE, max_age=MAX_AGE)
    assert sorted(p.name for p in dd.web_dir.iterdir()) == ["web.db"]


def test_a_session_is_live_until_revoked_idle_or_too_old(data_dir: Path):
    dd = DataDir(data_dir)
    store = WebStore.open(dd)
    now = utcnow()
    sid = store.create_session(TOKEN, "alice", 1, now, idle=IDLE, max_age=MAX_AGE, remote_addr="127.0.0.1")
    assert session_is_live(dd, "alice", TOKEN, now)
    assert not session_is_live(dd, "mallory", TOKEN, now), "the session belongs to alice only"
    assert not session_is_live(dd, "alice", b"\x02" * 32, now)
    assert not session_is_live(dd, "alice", TOKEN, now + IDLE + timedelta(seconds=1)), "idle"
    store.touch(sid, now + timedelta(minutes=20), idle=IDLE)
    assert session_is_live(dd, "alice", TOKEN, now + IDLE + timedelta(seconds=1)), "activity moves the idle limit"
    assert not session_is_live(dd, "alice", TOKEN, now + MAX_AGE + timedelta(seconds=1)), "too old"
    store.revoke(sid)
    assert not session_is_live(dd, "alice", TOKEN, now)


def test_no_web_database_means_no_live_session(data_dir: Path):
    assert not session_is_live(DataDir(data_dir), "alice", TOKEN, utcnow())


def test_revoke_account_keeps_the_named_session(data_dir: Path):
    store = WebStore.open(DataDir(data_dir))
    now = utcnow()
    keep = store.create_session(b"a" * 32, "alice", 1, now, idle=IDLE, max_age=MAX_AGE)
    store.create_session(b"b" * 32, "alice", 1, now, idle=IDLE, max_age=MAX_AGE)
    other = store.create_session(b"c" * 32, "bob", 1, now, idle=IDLE, max_age=MAX_AGE)
    assert store.revoke_account("alice", keep_session_id=keep) == 1
    assert {s.id for s in store.sessions() if not s.revoked} == {keep, other}
    assert store.revoke_account("alice") == 1


def test_failures_lock_the_account_and_a_clear_lifts_it(data_dir: Path):
    store = WebStore.open(DataDir(data_dir))
    now = utcnow()
    assert [store.record_failure("alice", now, failures_before_lock=3, lock_minutes=30) for _ in range(3)] == [
        False, False, True]
    assert store.locked_until("alice") > now.isoformat()[:10]
    assert store.failures("alice") == 0
    store.clear_failures("alice")
    assert store.locked_until("alice") is None
