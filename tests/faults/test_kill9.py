"""Fault: ``kill -9`` of the door daemon while events are being written (docs/reliability.md T5.1, issue 6).

Each round starts a real ``kunci run`` on simulated hardware, makes it write events as fast as
it can (remote unlocks over the control socket: each acknowledged one is a committed, sealed
``access.granted``) while a second process-like writer records admin events the way the web
does (unsealed rows, committed in its own transaction), then SIGKILLs the daemon at a random
moment. After every kill: SQLite's integrity check is ``ok``, every acknowledged event and every
committed admin row is still there. At the end a fresh daemon starts with the relay off and the
whole chain verifies.

Rounds: ``KUNCI_FAULT_ROUNDS`` (default 25 in the ordinary suite; ``make faults`` runs 200).
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from controller.control import changes

from controller.store import audit_verify, db, keys
from controller.ops.initialise import initialise
from controller.control.client import ControlClient
from controller.errors import KunciError
from controller.store.models import Event
from controller.paths import DataDir

pytestmark = [pytest.mark.faults, pytest.mark.slow]

ROUNDS = int(os.environ.get("KUNCI_FAULT_ROUNDS", "25"))
KUNCI = [sys.executable, "-m", "controller"]


def _prepare(tmp_path: Path) -> DataDir:
    datadir = DataDir(tmp_path / "data")
    initialise(datadir)
    text = datadir.config_file.read_text()
    text = text.replace("simulated = false", "simulated = true")
    datadir.config_file.write_text(text)
    return datadir


def _start(datadir: DataDir) -> subprocess.Popen:
    proc = subprocess.Popen([*KUNCI, "run", "--data", str(datadir.root)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    client = ControlClient(datadir.socket_path, timeout=2.0)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited at start: {proc.stderr.read().decode()[-2000:]}")
        try:
            client.call("status")
            return proc
        except KunciError:
            time.sleep(0.02)
    proc.kill()
    raise AssertionError("daemon did not become ready in 30 s")


class _Unlocker(threading.Thread):
    """Sends remote unlocks until the daemon dies; counts the acknowledged ones."""

    def __init__(self, datadir: DataDir) -> None:
        super().__init__(daemon=True)
        self.client = ControlClient(datadir.socket_path, timeout=2.0)
        self.acknowledged = 0

    def run(self) -> None:
        while True:
            try:
                self.client.call("unlock", actor="fault")
            except KunciError:
                return
            self.acknowledged += 1


class _AdminWriter(threading.Thread):
    """Makes admin changes as the web and CLI do (through the daemon, or in process once it is dead);
    keeps the codes of the people whose addition was acknowledged."""

    def __init__(self, datadir: DataDir, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.datadir = datadir
        self.stop = stop
        self.committed: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                result = changes.apply(self.datadir, "user.add", {"agreement_signed_on": "2026-01-02"})
            except KunciError:
                continue  # refused while the daemon was dying: not acknowledged, so not counted
            self.committed.append(result["code"])


def _events(datadir: DataDir, **where: str) -> int:
    con = sqlite3.connect(datadir.db_file)
    try:
        clauses = " AND ".join(f"{k} = ?" for k in where) or "1"
        return con.execute(f"SELECT count(*) FROM events WHERE {clauses}", tuple(where.values())).fetchone()[0]
    finally:
        con.close()


def test_kill_minus_9_while_writing_loses_nothing_and_restarts_locked(tmp_path: Path) -> None:
    datadir = _prepare(tmp_path)
    rng = random.Random(20261129)
    acknowledged_total = 0
    admin_ids: list[int] = []
    for _ in range(ROUNDS):
        proc = _start(datadir)
        stop = threading.Event()
        unlocker = _Unlocker(datadir)
        writer = _AdminWriter(datadir, stop)
        unlocker.start()
        writer.start()
        time.sleep(rng.uniform(0.05, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        unlocker.join(timeout=10)
        stop.set()
        writer.join(timeout=10)
        acknowledged_total += unlocker.acknowledged
        admin_ids += writer.committed

        con = sqlite3.connect(datadir.db_file)
        try:
            assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            present = {row[0] for row in con.execute("SELECT user_code FROM events WHERE type = 'admin.user_added'")}
            people_rows = {row[0] for row in con.execute("SELECT code FROM users")}
        finally:
            con.close()
        assert set(writer.committed) <= present & people_rows, "an acknowledged admin change vanished"
        assert _events(datadir, type="access.granted", actor=changes.local_account()) >= acknowledged_total, \
            "an acknowledged unlock event vanished"

    # A fresh daemon: relay off, everything sealed, the chain intact from seq 1.
    proc = _start(datadir)
    try:
        status = ControlClient(datadir.socket_path).call("status")
        assert status["relay"] is False and status["door"] == "locked"
        assert status["pending_events"] == 0  # nothing unsealed: only the one writer ever wrote
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    engine = db.open_database(datadir)
    with db.session_factory(engine, readonly=True)() as session:
        result = audit_verify.verify(session, keys.load_audit_key(datadir))
        probes = session.scalar(select(Event.id).where(Event.type == "admin.user_added").limit(1))
    engine.dispose()
    assert result.ok, result.problem
    assert result.pending == 0
    assert acknowledged_total > ROUNDS  # the daemon really was writing when it was killed
    assert probes is not None and len(admin_ids) > 0
    # Figures for docs/reliability.md (printed with -s).
    print(f"\nkill -9 rounds={ROUNDS} acknowledged_unlocks={acknowledged_total} admin_rows={len(admin_ids)} "
          f"chain_events={result.checked} lost=0")
