"""One delivery thread per destination: the outbox after its cursor, in order, at least once (docs/alerts.md).

The worker reads the sealed events after its cursor (:class:`controller.alerts.outbox.Reader`), hands them to
its sink in batches, and moves the cursor only after the sink took the whole batch; a batch that failed is sent
again, whole, after a backoff (1 s, doubling, up to ``retry_max_seconds``), so a receiver sees each message at
least once and never out of order (``seq`` is the idempotency key). A sink may ask to wait (the e-mail sink's
``Deferred``: grouping and rate limit). Live messages (the door's state, the log's head as a heartbeat) go
only to destinations that want them (MQTT), are never queued on disk and carry the current head.

The worker never writes the database: it reports its progress (:class:`Progress`) through ``report``, and the
daemon loop (the only writer) keeps the cursor. Nothing here runs on the door loop's thread: the loop only
calls :meth:`DeliveryWorker.poke` (an Event.set) after events were sealed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.alerts.message import DeliveryError, Message, Sink
from controller.alerts.outbox import Backlog, Reader
from controller.timefmt import iso_utc, utcnow

log = logging.getLogger(__name__)

#: Messages handed to a sink at once.
BATCH = 50
#: First wait after a failure, seconds (doubles each time, up to the configured maximum).
FIRST_BACKOFF_SECONDS = 1.0


@dataclass(frozen=True)
class Progress:
    """What a worker reports to the daemon after each attempt (the daemon persists the cursor)."""

    destination: str
    cursor: int
    ok: bool
    error: str | None = None
    delivered: int = 0
    dropped: int = 0  # routine messages skipped by an overflow in this attempt
    backlog: Backlog = field(default_factory=lambda: Backlog(0, None))


@dataclass
class DestinationState:
    """A destination's delivery state, for ``kunci status``, the dashboard and the metrics."""

    cursor: int
    last_success: str | None = None
    last_error: str | None = None
    last_error_at: str | None = None
    failures: int = 0
    dropped: int = 0
    depth: int = 0
    oldest: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class DeliveryWorker:
    """Delivers one destination's outbox on a thread of its own.

    :param sink: the destination (MQTT, webhook, e-mail).
    :param db_file: the door database, read on a read-only connection of this thread.
    :param cursor: the seq delivered so far (from ``outbox_cursors``).
    :param types: the event types it receives (None = all).
    :param door: the door's name.
    :param report: called with a :class:`Progress` after each attempt (from this thread).
    :param max_rows: the backlog bound (``outbox.max_rows``).
    :param retry_max_seconds: the longest backoff.
    :param live: send the door's state and the heartbeat (head) too.
    :param heartbeat_seconds: how often the heartbeat goes out.
    :param wall: Unix time (the e-mail sink's ``retry_at`` is in it).
    """

    def __init__(self, sink: Sink, db_file: Path, cursor: int, *, types: Collection[str] | None, door: str,
                 report: Callable[[Progress], None], max_rows: int, retry_max_seconds: float,
                 live: bool = False, heartbeat_seconds: float = 60.0,
                 wall: Callable[[], float] = time.time) -> None:
        self.sink = sink
        self.name = sink.name
        self._db_file = db_file
        self._types = types
        self._door = door
        self._report = report
        self._max_rows = max_rows
        self._retry_max = retry_max_seconds
        self._live = live
        self._heartbeat = heartbeat_seconds
        self._wall = wall
        self.cursor = cursor
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._state: dict[str, Any] | None = None  # the newest door state to publish (live only)
        self._state_sent: dict[str, Any] | None = None
        self._extra: list[Message] = []
        self._thread = threading.Thread(target=self._run, name=f"kunci-alerts-{self.name}", daemon=True)

    # -- called from the daemon ----------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """New events were sealed: look now instead of at the next heartbeat."""
        self._wake.set()

    def set_state(self, state: dict[str, Any]) -> None:
        """The door's current state (locked, open, lockdown, mode, alarms); published when it changed."""
        with self._lock:
            self._state = dict(state)
        self._wake.set()

    def add(self, message: Message) -> None:
        """Send ``message`` (not from the log: the daily summary) before the next batch; kept in memory only."""
        with self._lock:
            self._extra.append(message)
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread (a batch in flight finishes or fails first) and close the sink. Safe twice."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        self.sink.close()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- the thread ------------------------------------------------------------------------------

    def _run(self) -> None:
        reader = Reader(self._db_file, self._types, self._door)
        backoff = 0.0
        retry_at = 0.0  # monotonic
        next_beat = 0.0
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now < retry_at:
                    self._wake.wait(min(retry_at - now, 1.0))
                    self._wake.clear()
                    continue
                try:
                    if self._live and now >= next_beat:
                        self._send_live(reader, heartbeat=True)
                        next_beat = now + self._heartbeat
                    elif self._live:
                        self._send_live(reader, heartbeat=False)
                    self._send_extra()
                    delivered, dropped = self._deliver(reader)
                    backoff = 0.0
                    if delivered or dropped:
                        self._report(Progress(self.name, self.cursor, True, None, delivered, dropped,
                                              reader.backlog(self.cursor)))
                        continue  # more may wait: look again at once
                except DeliveryError as exc:
                    deferred_to = getattr(exc, "retry_at", None)
                    if deferred_to is not None:  # grouping or a rate limit (e-mail): a wait, not a failure
                        retry_at = time.monotonic() + max(0.0, float(deferred_to) - self._wall())
                        continue
                    backoff = min(self._retry_max, FIRST_BACKOFF_SECONDS if backoff <= 0 else backoff * 2)
                    retry_at = time.monotonic() + backoff
                    log.warning("alert destination %s: %s (next try in %.0f s)", self.name, exc, backoff)
                    self._report(Progress(self.name, self.cursor, False, str(exc)[:200], 0, 0,
                                          reader.backlog(self.cursor)))
                    continue
                except Exception as exc:
                    log.exception("alert destination %s failed unexpectedly", self.name)
                    retry_at = time.monotonic() + self._retry_max
                    self._report(Progress(self.name, self.cursor, False, f"internal error: {type(exc).__name__}"))
                    continue
                wait = max(0.0, next_beat - time.monotonic()) if self._live else self._heartbeat
                self._wake.wait(wait)
                self._wake.clear()
        finally:
            reader.close()

    def _deliver(self, reader: Reader) -> tuple[int, int]:
        """Send what waits after the cursor (alarms of an overflowed stretch first); returns (sent, skipped)."""
        cut, skipped, kept = reader.overflow(self.cursor, self._max_rows)
        if skipped or kept:
            if kept:
                self.sink.send(kept)
            log.error("alert destination %s fell behind: %d routine events skipped, %d alarms kept",
                      self.name, skipped, len(kept))
            self.cursor = cut
            return len(kept), skipped
        batch = reader.after(self.cursor, BATCH)
        if not batch:
            return 0, 0
        self.sink.send(batch)
        self.cursor = batch[-1].seq or self.cursor
        return len(batch), 0

    def _send_extra(self) -> None:
        with self._lock:
            extra = list(self._extra)
        if extra:
            self.sink.send(extra)
            with self._lock:
                del self._extra[:len(extra)]

    def _send_live(self, reader: Reader, *, heartbeat: bool) -> None:
        with self._lock:
            state = self._state
        out: list[Message] = []
        head = reader.head()
        now = iso_utc(utcnow())
        if state is not None and (heartbeat or state != self._state_sent):
            out.append(Message(id=0, kind="state", type="door.state", time=now, door=self._door, head=head,
                               body=state))
        if heartbeat:
            out.append(Message(id=0, kind="heartbeat", type="log.head", time=now, door=self._door, head=head))
        if out:
            self.sink.send(out)
            self._state_sent = state
