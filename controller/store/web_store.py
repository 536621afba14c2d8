"""The admin web's own database ``DATA/web/web.db``: its sessions, its login throttle and each
staff login's chosen page language.

The door database has one writer, the door daemon (docs/internals.md "One writer, one sealer").
The web still needs to write on every login (a session row, per-account failure counters), so it keeps those in this
separate SQLite file in ``DATA/web/`` (0700, owned by the web's account). A flood of logins
can therefore never take the door database's write lock.

Plain :mod:`sqlite3`, no SQLAlchemy, so the door daemon can import this module cheaply: it calls
:func:`session_is_live` (read-only, ``mode=ro``) to accept a staff username named as the actor
of a change by the web. This module must never import Flask or :mod:`webadmin`.

The daemon runs as another account (``kunci-door``, in the web's group ``kunci``), so the
directory is 0750 and the file 0640: the daemon may read, never write. The file uses SQLite's
rollback journal, not WAL: a WAL database can only be read by an account that can create or
write its ``-shm`` file, and the daemon can do neither in ``DATA/web/``. The web's writes are
few and short (a login, a session touch every 30 s), so the rollback journal costs nothing here.

Tables (schema version in ``PRAGMA user_version``):

* ``sessions``: one row per login. ``token_hash`` is the SHA-256 of the random cookie token
  (the token itself is never stored). ``idle_until`` and ``expires_at`` are written by the web
  from its configuration, so a reader needs no configuration to tell a live session.
* ``login_failures``: per staff username, failed logins in a row and ``locked_until``.
* ``staff_language`` (since version 2): per staff username, the admin page's language the login chose
  (``en`` or ``id``); a login without a row reads the page in ``site.language``.

Times are :func:`controller.timefmt.iso_utc` text (fixed width: text order is time order).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import quote

from controller.errors import StoreError
from controller.i18n import LANGUAGES, T  # LANGUAGES: the languages a staff login may choose
from controller.paths import DataDir
from controller.timefmt import iso_utc

logger = logging.getLogger(__name__)

#: Current schema version (``PRAGMA user_version``).
SCHEMA_VERSION = 2

#: Mode of ``DATA/web/`` and of ``web.db``: the web's account writes, its group (the door daemon) reads.
WEB_DIR_MODE = 0o750
WEB_DB_MODE = 0o640

#: Sessions that ended longer ago than this are deleted when a new one starts (days).
KEEP_ENDED_SESSIONS_DAYS = 7

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY,
    token_hash BLOB NOT NULL UNIQUE,
    username TEXT NOT NULL,
    session_version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    last_seen_at TEXT NOT NULL,
    idle_until TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0,
    remote_addr TEXT
);
CREATE INDEX IF NOT EXISTS sessions_username ON sessions (username);
CREATE TABLE IF NOT EXISTS login_failures (
    username TEXT PRIMARY KEY,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until TEXT
);
CREATE TABLE IF NOT EXISTS staff_language (
    username TEXT PRIMARY KEY,
    language TEXT NOT NULL CHECK (language IN ('en', 'id'))
);
"""


@dataclass(frozen=True)
class WebSessionRow:
    """One stored web session (see the module docstring for the columns)."""

    id: int
    token_hash: bytes
    username: str
    session_version: int
    created_at: str
    last_seen_at: str
    idle_until: str
    expires_at: str
    revoked: bool
    remote_addr: str | None


_COLUMNS = "id, token_hash, username, session_version, created_at, last_seen_at, idle_until, expires_at, revoked, " \
           "remote_addr"


def _row(values: tuple) -> WebSessionRow:
    (id_, token_hash, username, version, created, seen, idle_until, expires, revoked, addr) = values
    return WebSessionRow(id_, bytes(token_hash), username, version, created, seen, idle_until, expires,
                         bool(revoked), addr)


def session_is_live(datadir: DataDir, username: str, token_hash: bytes, now: datetime) -> bool:
    """True when ``token_hash`` names a session of ``username`` in ``DATA/web/web.db`` that is live at ``now``.

    Live = not revoked, not idle past ``idle_until``, not past ``expires_at``. Reads the file
    read-only (SQLite URI ``mode=ro``); a missing or unreadable web database means ``False``.
    Used by the door daemon before it accepts a staff username as the actor of a change.

    :param now: an aware datetime.
    """
    path = datadir.web_db_file
    if not path.is_file():
        return False
    stamp = iso_utc(now)
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        logger.warning("cannot read the web's session database: %s", exc)
        return False
    try:
        found = conn.execute(
            "SELECT 1 FROM sessions WHERE token_hash = ? AND username = ? AND revoked = 0 "
            "AND idle_until > ? AND expires_at > ?",
            (bytes(token_hash), username, stamp, stamp),
        ).fetchone()
    except sqlite3.Error as exc:
        logger.warning("cannot read the web's session database: %s", exc)
        return False
    finally:
        conn.close()
    return found is not None


class WebStore:
    """Read-write access to ``web.db`` for the admin web (thread-safe: one connection per operation).

    :param path: the database file (``DataDir.web_db_file``).
    :param busy_timeout_ms: how long an operation waits for another thread's write (default 5000 ms).
    """

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms

    @classmethod
    def open(cls, datadir: DataDir, *, busy_timeout_ms: int = 5000) -> WebStore:
        """Create ``DATA/web/`` (0750) and ``web.db`` (0640) if missing, bring the schema up to date.

        :raises StoreError: when the directory or file cannot be created or is not a database.
        """
        web_dir = datadir.web_dir
        try:
            web_dir.mkdir(mode=WEB_DIR_MODE, exist_ok=True)
            if not datadir.web_db_file.exists():
                fd = os.open(datadir.web_db_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, WEB_DB_MODE)
                os.close(fd)
        except FileExistsError:
            pass
        except OSError as exc:
            raise StoreError(T("cannot create the web's database in {path}: {reason}", path=web_dir,
                                 reason=exc.strerror or exc)) from exc
        store = cls(datadir.web_db_file, busy_timeout_ms=busy_timeout_ms)
        store.migrate()
        return store

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000.0, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
            yield conn
        finally:
            conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def migrate(self) -> None:
        """Create the tables (rollback journal, see the module docstring); refuse a file that is not a web
        database of a known version. Every table is ``CREATE ... IF NOT EXISTS``, so an older file (version 1:
        no ``staff_language``) gains the new tables and moves to :data:`SCHEMA_VERSION`."""
        try:
            with self._connect() as conn:
                conn.execute("PRAGMA journal_mode = DELETE")
                conn.execute("PRAGMA synchronous = FULL")
                version = conn.execute("PRAGMA user_version").fetchone()[0]
                if version > SCHEMA_VERSION:
                    raise StoreError(T("{path} is at schema version {version}, newer than this Kunci knows",
                                       path=self.path, version=version))
                conn.executescript(_SCHEMA)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(T("cannot use the web's database {path}: {reason}", path=self.path, reason=exc)) from exc

    # -- sessions ----------------------------------------------------------------------------------

    def create_session(self, token_hash: bytes, username: str, session_version: int, now: datetime, *,
                       idle: timedelta, max_age: timedelta, remote_addr: str | None = None) -> int:
        """Store a new session; returns its id. Sessions ended long ago are deleted on the way."""
        stamp = iso_utc(now)
        with self._write() as conn:
            conn.execute("DELETE FROM sessions WHERE expires_at < ? OR (revoked = 1 AND last_seen_at < ?)",
                         (iso_utc(now - timedelta(days=KEEP_ENDED_SESSIONS_DAYS)),) * 2)
            cur = conn.execute(
                "INSERT INTO sessions (token_hash, username, session_version, created_at, last_seen_at, idle_until, "
                "expires_at, revoked, remote_addr) VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (bytes(token_hash), username, session_version, stamp, stamp, iso_utc(now + idle),
                 iso_utc(now + max_age), remote_addr),
            )
            return int(cur.lastrowid)

    def get_session(self, token_hash: bytes) -> WebSessionRow | None:
        """The session stored for ``token_hash``, or ``None``."""
        with self._connect() as conn:
            found = conn.execute(f"SELECT {_COLUMNS} FROM sessions WHERE token_hash = ?",
                                 (bytes(token_hash),)).fetchone()
        return _row(found) if found else None

    def sessions(self, username: str | None = None) -> list[WebSessionRow]:
        """Every stored session (of ``username`` when given), oldest first."""
        with self._connect() as conn:
            if username is None:
                rows = conn.execute(f"SELECT {_COLUMNS} FROM sessions ORDER BY id").fetchall()
            else:
                rows = conn.execute(f"SELECT {_COLUMNS} FROM sessions WHERE username = ? ORDER BY id",
                                    (username,)).fetchall()
        return [_row(r) for r in rows]

    def touch(self, session_id: int, now: datetime, *, idle: timedelta) -> None:
        """Record activity: ``last_seen_at`` = ``now`` and the idle deadline moves on."""
        with self._write() as conn:
            conn.execute("UPDATE sessions SET last_seen_at = ?, idle_until = ? WHERE id = ?",
                         (iso_utc(now), iso_utc(now + idle), session_id))

    def revoke(self, session_id: int) -> None:
        """End one session."""
        with self._write() as conn:
            conn.execute("UPDATE sessions SET revoked = 1 WHERE id = ?", (session_id,))

    def revoke_account(self, username: str, *, keep_session_id: int | None = None) -> int:
        """End every open session of ``username`` except ``keep_session_id``; returns how many ended."""
        with self._write() as conn:
            cur = conn.execute("UPDATE sessions SET revoked = 1 WHERE username = ? AND revoked = 0 AND id IS NOT ?",
                               (username, keep_session_id))
            return cur.rowcount

    # -- per-account login lock --------------------------------------------------------------------

    def locked_until(self, username: str) -> str | None:
        """``locked_until`` of ``username`` (UTC text) or ``None``; may lie in the past."""
        with self._connect() as conn:
            found = conn.execute("SELECT locked_until FROM login_failures WHERE username = ?",
                                 (username,)).fetchone()
        return found[0] if found else None

    def failures(self, username: str) -> int:
        """Failed logins in a row of ``username`` since the last success or lock."""
        with self._connect() as conn:
            found = conn.execute("SELECT failures FROM login_failures WHERE username = ?", (username,)).fetchone()
        return int(found[0]) if found else 0

    def record_failure(self, username: str, now: datetime, *, failures_before_lock: int,
                       lock_minutes: float) -> bool:
        """Count one wrong password; at ``failures_before_lock`` lock for ``lock_minutes``.

        Returns True when this failure locked the account (the counter then starts again).
        """
        with self._write() as conn:
            conn.execute("INSERT INTO login_failures (username, failures) VALUES (?, 0) "
                         "ON CONFLICT (username) DO NOTHING", (username,))
            failures = conn.execute("SELECT failures FROM login_failures WHERE username = ?",
                                    (username,)).fetchone()[0] + 1
            if failures >= failures_before_lock:
                conn.execute("UPDATE login_failures SET failures = 0, locked_until = ? WHERE username = ?",
                             (iso_utc(now + timedelta(minutes=lock_minutes)), username))
                return True
            conn.execute("UPDATE login_failures SET failures = ? WHERE username = ?", (failures, username))
            return False

    def locks(self, now: datetime) -> dict[str, str]:
        """``{username: locked_until}`` of every account locked at ``now``."""
        with self._connect() as conn:
            rows = conn.execute("SELECT username, locked_until FROM login_failures WHERE locked_until > ?",
                                (iso_utc(now),)).fetchall()
        return dict(rows)

    def clear_failures(self, username: str) -> None:
        """Forget failures and any lock of ``username`` (a good login, or an admin re-enabling it)."""
        with self._write() as conn:
            conn.execute("DELETE FROM login_failures WHERE username = ?", (username,))

    # -- per-account page language -----------------------------------------------------------------

    def language(self, username: str) -> str | None:
        """The admin page language ``username`` chose (one of :data:`LANGUAGES`), or ``None`` if none."""
        with self._connect() as conn:
            found = conn.execute("SELECT language FROM staff_language WHERE username = ?", (username,)).fetchone()
        return found[0] if found else None

    def set_language(self, username: str, language: str) -> None:
        """Store ``username``'s admin page language.

        :raises ValueError: when ``language`` is not one of :data:`LANGUAGES` (nothing is stored).
        """
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; expected one of {', '.join(LANGUAGES)}")
        with self._write() as conn:
            conn.execute("INSERT INTO staff_language (username, language) VALUES (?, ?) "
                         "ON CONFLICT (username) DO UPDATE SET language = excluded.language", (username, language))
