"""The controller's link to the site database (docs/site.md "The controller's link"; issue 16, contract C6).

One daemon thread, started by the door daemon when ``[site_link] enabled``. It logs in to PostgreSQL as this
controller's own role (TLS per ``sslmode``, the password from a 0600 file), ``LISTEN``\\ s on ``kunci_feed``
and, in each turn (at most :data:`UPLOAD_CHECK_SECONDS` apart; at once after a notification):

1. when notified, or every ``poll_seconds`` (in case a notification was lost), fetches the feed rows after
   ``site_sync.revision`` in revision order (row-level security shows it only its own) and hands each batch to
   the daemon's loop as the command ``site.apply``: the loop, the only writer, applies it to the door database
   in one transaction (:mod:`controller.site.link_loop`);
2. uploads the sealed events after ``site_sync.uploaded_seq`` in seq order, 500 at a time, with ``INSERT ...
   ON CONFLICT (controller_id, seq) DO NOTHING`` (an upload repeated after a crash stores nothing twice), then
   records the cursor with ``site.uploaded``;
3. reports its contact with ``kunci.controller_checkin(revision, uploaded)`` (after an upload, and at least
   every ``poll_seconds``).

A failure (the network, the server, a refused batch) closes the connection and retries with a doubling wait
(1 s up to :data:`RETRY_MAX_SECONDS`); doors keep deciding from their own database meanwhile. A connected,
listening link is fresh (a change would wake it). When it has not been for ``max_stale_seconds`` (measured on
the injected monotonic ``clock``; at start from ``site_sync.synced_at``) the link asks the loop to raise the
``site_stale`` alarm, and to clear it when it is fresh again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from controller.alerts.secret_file import read_secret
from controller.errors import KunciError
from controller.i18n import T, Text
from controller.site.link_local import EVENT_COLUMNS, LocalReader
from controller.site.link_loop import LOOP_COMMANDS, LoopSide
from controller.timefmt import parse_iso_utc, utcnow

__all__ = ["LOOP_COMMANDS", "LoopSide", "SiteLink", "conninfo"]

log = logging.getLogger(__name__)

#: Feed rows fetched (and applied in one loop turn: short, so the doors are never kept waiting long; about
#: 0.1 s for 250 people on the test VM) per batch; events uploaded per INSERT.
FETCH_ROWS = 250
UPLOAD_ROWS = 500
#: Longest wait between two attempts to reach a site that is down, seconds.
RETRY_MAX_SECONDS = 30.0
#: Longest the thread waits for a notification before it looks for new sealed events to upload, seconds.
UPLOAD_CHECK_SECONDS = 1.0
#: How often a successful contact is recorded in ``site_sync.synced_at`` (where staleness counts from after a
#: restart) when no batch was applied, seconds.
SEEN_RECORD_SECONDS = 600.0
#: A connection attempt that takes longer fails (seconds; libpq ``connect_timeout``).
CONNECT_TIMEOUT_SECONDS = 10
#: Longest a sent request may stay unacknowledged by the server's TCP stack (milliseconds; libpq option).
TCP_USER_TIMEOUT_MS = 30_000
FEED_CHANNEL = "kunci_feed"


def conninfo(link: Any, password: str) -> str:
    """The libpq connection string for ``link`` (a :class:`~controller.config.schema.SiteLinkConfig`).

    TLS as ``sslmode`` says; ``ca_file`` (relative = inside DATA, resolved by the caller) or the system's CAs.
    TCP keep-alives and a TCP user timeout detect a server that vanished without closing the connection.
    """
    from psycopg.conninfo import make_conninfo

    params: dict[str, Any] = {
        "host": link.host, "port": link.port, "dbname": link.dbname, "user": link.user, "password": password,
        "sslmode": link.sslmode, "connect_timeout": CONNECT_TIMEOUT_SECONDS,
        "application_name": f"kunci-{link.controller}"[:63],
        "keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3,
        # unacknowledged data (a query sent into a cable that was pulled) fails after this, not the kernel's
        # quarter of an hour of retransmissions: the link goes offline and retries
        "tcp_user_timeout": TCP_USER_TIMEOUT_MS,
    }
    if link.sslmode in ("verify-full", "verify-ca"):
        params["sslrootcert"] = link.ca_file or "system"
    return make_conninfo(**params)


class UploadConflict(KunciError):
    """The site holds a different event under one of this controller's seqs: nothing of the batch is stored."""


class SiteLink:
    """The link's thread and its state (read by ``status`` on the loop thread).

    :param link: the ``[site_link]`` configuration.
    :param data_root: DATA (the password and CA files are relative to it).
    :param db_file: the door database, read on a read-only connection.
    :param submit: runs a loop command and returns its result (``Daemon.submit``); raises a KunciError refusal.
    :param connect: opens a psycopg connection (default: :func:`psycopg.connect` with :func:`conninfo`).
    :param clock: monotonic seconds (staleness and backoff); default ``time.monotonic``.
    :param wall: aware UTC now (``site_sync.synced_at`` is wall time); default :func:`utcnow`.
    :param sleep: waits up to n seconds unless the link is stopped (tests inject one that moves the clock).
    """

    def __init__(self, link: Any, data_root: Path, db_file: Path, submit: Callable[[str, dict[str, Any]], Any], *,
                 connect: Callable[[], Any] | None = None, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], datetime] = utcnow, sleep: Callable[[float], None] | None = None) -> None:
        self.link = link
        self._data_root = data_root
        self._db_file = db_file
        self._submit = submit
        self._connect = connect or self._default_connect
        self.clock = clock
        self.wall = wall
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._thread: threading.Thread | None = None
        self._local: LocalReader | None = None
        self._conn: Any = None
        self.state = "offline"
        self.last_error: str | None = None
        self.revision = 0
        self.uploaded_seq = 0
        self.controller_id: int | None = None
        #: Codes of site people left alone here since the start (a local person holds the code, or the PIN).
        self.conflicts: list[str] = []
        #: Why uploads stopped (the site holds other events under this controller's seqs), else None.
        self.upload_error: str | None = None
        self._last_ok: float | None = None
        self._stale_raised = False
        self._retry = 1.0
        self._next_poll = 0.0  # next check-in
        self._next_fetch = 0.0  # next fetch without a notification
        self._seen_recorded: float | None = None  # when synced_at was last written for a contact

    # -- life -----------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the thread (the daemon calls this once it is ready for commands)."""
        self._thread = threading.Thread(target=self._run, name="kunci-site-link", daemon=True)
        self._thread.start()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread and close its connections (the daemon calls this at shutdown)."""
        self._stop.set()
        if self._thread is None:  # stepped by hand (tests): nothing else uses the connections
            self._release()
            return
        self._thread.join(timeout)
        if self._thread.is_alive():  # busy in a query on a slow network: never block the daemon's stop on it
            log.warning("site link: still busy after %.0f s at shutdown; its connection ends with the process",
                        timeout)

    def status(self) -> dict[str, Any]:
        """The ``status`` answer's ``site`` block."""
        stale = self.stale_seconds()
        return {"state": self.state, "revision": self.revision, "uploaded_seq": self.uploaded_seq,
                "stale_seconds": None if stale is None else round(stale, 1), "last_error": self.last_error,
                "stale": self._stale_raised, "conflicts": self.conflicts[:20], "upload_error": self.upload_error}

    def stale_seconds(self) -> float | None:
        """Seconds since the last successful fetch (None before the link knows of any)."""
        return None if self._last_ok is None else max(0.0, self.clock() - self._last_ok)

    # -- the thread -----------------------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._local = LocalReader(self._db_file)
            self._remember_last_sync()
        except Exception as exc:  # noqa: BLE001 - a thread that dies silently would leave the site stale
            log.error("site link cannot read the door database: %s", exc)
            self.last_error = str(exc)[:300]
            return
        try:
            while not self._stop.is_set():
                self.step()
        finally:  # the thread's own connections are closed by the thread (close() never waits on them)
            self._release()

    def _remember_last_sync(self) -> None:
        """Staleness counts from the last applied batch (``site_sync.synced_at``), across restarts."""
        self.revision, self.uploaded_seq, synced_at = self._local.cursors()
        age = 0.0
        if synced_at:
            age = max(0.0, (self.wall() - parse_iso_utc(synced_at)).total_seconds())
        self._last_ok = self.clock() - age

    def step(self) -> None:
        """One turn: connect if need be, sync, wait for a notification (or fail, and wait to retry)."""
        try:
            if self._conn is None:
                self._conn = self._connect()
                self._conn.execute(f"LISTEN {FEED_CHANNEL}")
                self.controller_id = self._conn.execute("SELECT kunci.my_controller_id()").fetchone()[0]
                if self.controller_id is None:
                    raise KunciError(_not_a_controller(self.link.user))
                self._next_poll = self._next_fetch = 0.0
                log.info("site link connected to %s as %s", self.link.host, self.link.user)
            self.sync()
            self.state, self.last_error, self._retry = "connected", None, 1.0
            self._check_stale()
            self._wait_for_news()
        except Exception as exc:  # noqa: BLE001 - any failure: offline, retry later; the doors carry on
            if self._stop.is_set():  # closed under it at shutdown: nothing to report or retry
                return
            self._failed(exc)

    def _failed(self, exc: BaseException) -> None:
        first = self.state != "offline" or self.last_error is None
        self.state, self.last_error = "offline", (str(exc).splitlines() or [type(exc).__name__])[0][:300]
        (log.warning if first else log.info)("site link offline (retry in %.0f s): %s", self._retry, self.last_error)
        self._disconnect()
        self._check_stale()
        self._sleep(self._retry)
        self._retry = min(RETRY_MAX_SECONDS, self._retry * 2)

    def _default_connect(self) -> Any:
        import psycopg

        password = read_secret("site_link.password_file", self.link.password_file, self._data_root)
        link = self.link
        if link.ca_file and not Path(link.ca_file).is_absolute():
            from dataclasses import replace

            link = replace(link, ca_file=str(self._data_root / link.ca_file))
        return psycopg.connect(conninfo(link, password), autocommit=True)

    def _release(self) -> None:
        """Close the site connection and the read-only door database connection."""
        self._disconnect()
        if self._local is not None:
            self._local.close()
            self._local = None

    def _disconnect(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail; it is gone either way
                pass

    # -- one sync ---------------------------------------------------------------------------------------

    def sync(self) -> None:
        """Fetch and apply every new feed row (when notified, or every ``poll_seconds``), upload every new
        sealed event, check in. A connected, listening link is fresh: a change would have woken it."""
        if self.clock() >= self._next_fetch:
            if self.fetch() == 0 and (self._seen_recorded is None
                                      or self.clock() - self._seen_recorded >= SEEN_RECORD_SECONDS):
                self._submit("site.seen", {})  # a quiet feed: record the contact, so a restart is not stale
            if self._seen_recorded is None or self.clock() - self._seen_recorded >= SEEN_RECORD_SECONDS:
                self._seen_recorded = self.clock()
            self._next_fetch = self.clock() + self.link.poll_seconds
        self._last_ok = self.clock()
        try:
            uploaded = self.upload()
            self.upload_error = None
        except UploadConflict as exc:  # fetching (revocations!) goes on; the status and the log say why
            if self.upload_error is None:
                log.error("site link: %s", exc.english())
            self.upload_error, uploaded = str(exc)[:300], 0
        if uploaded or self.clock() >= self._next_poll:
            self._conn.execute("SELECT kunci.controller_checkin(%s, %s)", (self.revision, self.uploaded_seq))
            self._next_poll = self.clock() + self.link.poll_seconds

    def fetch(self) -> int:
        """Apply the feed rows after the applied revision, batch by batch; returns how many rows were fetched."""
        total = 0
        while True:
            self.revision = self._local.cursors()[0]
            rows = self._conn.execute(
                "SELECT revision, op, key, payload FROM kunci.feed WHERE revision > %s ORDER BY revision LIMIT %s",
                (self.revision, FETCH_ROWS)).fetchall()
            if not rows:
                return total
            batch = [{"revision": int(r[0]), "op": r[1], "key": r[2], "payload": r[3]} for r in rows]
            result = self._submit("site.apply", {"rows": batch, "revision": batch[-1]["revision"]})
            self.revision = int(result["to"])
            for code in result.get("conflicts") or ():
                if code not in self.conflicts:
                    self.conflicts.append(code)
            total += len(rows)
            if len(rows) < FETCH_ROWS:
                return total

    def upload(self) -> int:
        """Upload the sealed events after the uploaded cursor, in seq order; returns how many were sent."""
        sent = 0
        self.uploaded_seq = self._local.cursors()[1]
        while not self._stop.is_set():
            events = self._local.events_after(self.uploaded_seq, UPLOAD_ROWS)
            if not events:
                break
            columns = ", ".join(EVENT_COLUMNS)
            marks = ", ".join(["%s"] * (len(EVENT_COLUMNS) + 1))
            first, last = int(events[0]["seq"]), int(events[-1]["seq"])
            with self._conn.transaction():
                with self._conn.cursor() as cur:
                    cur.executemany(
                        f"INSERT INTO kunci.events (controller_id, {columns}) VALUES ({marks}) "
                        "ON CONFLICT (controller_id, seq) DO NOTHING",
                        [(self.controller_id, *(e[c] for c in EVENT_COLUMNS)) for e in events])
                # A row already there must be this very event (an upload repeated): a different one means the
                # site holds another log under these numbers (this one was restored from a backup?). Never
                # skip an event silently: roll back, say so, keep uploads stopped until an operator looks.
                stored = dict(self._conn.execute(
                    "SELECT seq, mac FROM kunci.events WHERE controller_id = %s AND seq BETWEEN %s AND %s",
                    (self.controller_id, first, last)).fetchall())
                for e in events:
                    if bytes(stored.get(e["seq"]) or b"") != bytes(e["mac"]):
                        raise UploadConflict(T("the site holds another event under seq {seq} of this controller "
                                               "(was its log restored from a backup?): uploads stop until an "
                                               "operator looks", seq=e["seq"]))
            self.uploaded_seq = int(self._submit("site.uploaded", {"seq": last})["uploaded_seq"])
            sent += len(events)
        return sent

    def _wait_for_news(self) -> None:
        """Wait for a feed notification (then return at once), at most :data:`UPLOAD_CHECK_SECONDS`."""
        for _note in self._conn.notifies(timeout=UPLOAD_CHECK_SECONDS, stop_after=1):
            self._next_fetch = 0.0  # a change for this controller: fetch on the next turn
            break

    # -- staleness --------------------------------------------------------------------------------------

    def _check_stale(self) -> None:
        stale = self.stale_seconds()
        now_stale = stale is not None and stale >= self.link.max_stale_seconds
        if now_stale == self._stale_raised:
            return
        try:
            self._submit("site.stale", {"stale": now_stale, "seconds": int(stale or 0)})
        except KunciError as exc:  # the loop is busy or stopping: try again on the next turn
            log.info("site link: stale alarm not recorded yet: %s", exc)
            return
        self._stale_raised = now_stale
        log.warning("site link %s", f"stale for {stale:.0f} s: site_stale alarm raised" if now_stale
                    else "fresh again: site_stale alarm cleared")


def _not_a_controller(user: str) -> Text:
    return T("the site does not know the role {user} as a controller", user=user)
