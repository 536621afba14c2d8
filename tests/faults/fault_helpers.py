"""Helpers shared by the fault tests: run code on the daemon's loop thread, refuse storage writes, counts.

Repetition counts come from the environment so that ``make test`` stays fast and ``make faults``
(``KUNCI_FAULT_ROUNDS=200``) runs the full figures quoted in docs/reliability.md.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import event

from controller.store import audit_verify, db, keys
from controller.daemon.loop import Daemon
from controller.paths import DataDir
from tests.controller.daemon_harness import DaemonRunner

#: Rounds of ``make faults`` (200) or the ordinary suite's default.
FAULT_ROUNDS = int(os.environ.get("KUNCI_FAULT_ROUNDS", "25"))
#: True under ``make faults``: the heavy counts below are used.
FULL_RUN = "KUNCI_FAULT_ROUNDS" in os.environ and FAULT_ROUNDS >= 200


def count(env: str, full: int, quick: int) -> int:
    """A repetition count: ``$env`` if set, else ``full`` under ``make faults``, else ``quick``."""
    value = os.environ.get(env)
    if value:
        return int(value)
    return full if FULL_RUN else quick


def report(line: str) -> None:
    """A figure for docs/reliability.md (shown with ``-s``, which ``make faults`` passes)."""
    print(f"\n[faults] {line}")


# ------------------------------------------------------------------------------- loop thread


def on_loop(runner: DaemonRunner, fn: Callable[[Daemon], Any], timeout: float = 10.0) -> Any:
    """Run ``fn(daemon)`` on the daemon's loop thread between two events (as a command) and return its result.

    Test-only: wraps this daemon instance's ``commands.run_on_loop``; the control socket cannot reach it.
    """
    daemon = runner.daemon
    commands = daemon.commands
    if not getattr(commands, "_fault_hook", False):
        real = commands.run_on_loop

        def run_on_loop(name: str, params: dict[str, Any]) -> Any:
            if name == "test.call":
                return params["fn"](daemon)
            return real(name, params)

        commands.run_on_loop = run_on_loop  # type: ignore[method-assign]
        commands._fault_hook = True  # type: ignore[attr-defined]
    return daemon.submit("test.call", {"fn": fn}, timeout=timeout)


# ------------------------------------------------------------------------------- storage


class StorageFault:
    """Makes the daemon's own SQLite connections refuse writes, as a full or read-only disk would.

    ``mode = "full"``: every connection the daemon checks out gets ``PRAGMA max_page_count`` pinned to
    the database's current size, so SQLite answers "database or disk is full" as soon as a write needs
    one more page (until then rows still fit in the free space of existing pages, exactly as on a full
    disk). ``mode = "readonly"``: ``PRAGMA query_only = 1`` ("attempt to write a readonly database" on
    the first write). ``mode = None``: space is back. Other processes' connections are not affected.
    """

    NO_LIMIT = 1_073_741_823

    def __init__(self, runner: DaemonRunner) -> None:
        self.runner = runner
        self.engine = runner.daemon._engine  # noqa: SLF001 - the daemon's own connections
        self.mode: str | None = None
        self._lock = threading.Lock()
        event.listen(self.engine, "checkout", self._on_checkout)

    def set(self, mode: str | None) -> None:
        """Switch the fault; the connection the journal holds for decisions (checked out once, at start) gets
        it at once, on the loop thread, as a disk that filled up affects every connection."""
        with self._lock:
            self.mode = mode

        def apply(daemon: Any) -> None:
            if daemon.journal.direct is not None:
                self._apply(daemon.journal.direct, mode)

        if self.runner._thread.is_alive():  # noqa: SLF001 - a stopped daemon holds no connection
            on_loop(self.runner, apply)

    def _on_checkout(self, dbapi_conn: sqlite3.Connection, _record: Any, _proxy: Any) -> None:
        with self._lock:
            mode = self.mode
        self._apply(dbapi_conn, mode)

    def _apply(self, dbapi_conn: Any, mode: str | None) -> None:
        cur = dbapi_conn.cursor()
        try:
            if mode == "full":
                pages = cur.execute("PRAGMA page_count").fetchone()[0]
                cur.execute(f"PRAGMA max_page_count = {int(pages)}")
            else:
                cur.execute(f"PRAGMA max_page_count = {self.NO_LIMIT}")
            cur.execute(f"PRAGMA query_only = {1 if mode == 'readonly' else 0}")
        finally:
            cur.close()

    def remove(self) -> None:
        self.set(None)
        event.remove(self.engine, "checkout", self._on_checkout)


# ------------------------------------------------------------------------------- checks


def verify_chain(datadir: DataDir) -> audit_verify.VerifyResult:
    """Seal-free verification of the whole chain through a read-only session (daemon stopped or running)."""
    engine = db.open_database(datadir)
    try:
        with db.session_factory(engine, readonly=True)() as session:
            return audit_verify.verify(session, keys.load_audit_key(datadir))
    finally:
        engine.dispose()
