"""The daemon's durable log: sealed events, alarms, and what happens when the disk says no.

The daemon is the sealer (it holds :class:`controller.store.audit.SealerLock`), so every event it
writes is sealed as it is inserted (:func:`controller.store.hotpath.append_sealed`: the same row and MAC
as :func:`controller.store.audit.append`, without ORM objects) and committed before the caller acts on
it ("no log, no entry", DESIGN §6). When the database refuses a write (disk full, read-only
file system, I/O error), :meth:`Journal.write` returns ``False``, keeps the event in a RAM ring
buffer and marks the log unavailable; :meth:`Journal.flush` retries the buffer later, so events
are written late rather than lost while the process lives. At an orderly stop, events still in
RAM are spilled to ``DATA/run/unstored-events.jsonl`` (:meth:`Journal.spill`, fsync'd) and the
next start stores them first (:meth:`Journal.restore_spilled`), sealed, in order, marked
``"recovered": true`` in their detail.

On SQLite the journal holds a *direct* connection (``direct=True``; the daemon's): while the loop session
has no transaction open, a decision reads on it (:meth:`Journal.reader`) and :meth:`Journal.write` makes its
event and any staged lockout row durable in one short transaction there (:func:`controller.store.hotpath.seal_direct`),
without SQLAlchemy's transaction machinery; inside a session transaction (an admin command) it writes in that
transaction as before, so an admin change and its events still commit together.

Every commit of sealed events is followed by one line in the anchor file (``anchor=``, an
:class:`controller.store.anchor.AnchorWriter` attached to the session): the head kept outside the database.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from controller.core.vocabulary import EventType
from controller.daemon.journal_alarms import AlarmRows
from controller.fileio import atomic_write
from controller.store import audit, hotpath
from controller.timefmt import iso_utc, parse_iso_utc, utcnow

if TYPE_CHECKING:
    from controller.store.anchor import AnchorWriter

log = logging.getLogger(__name__)

#: Events kept in memory while the database refuses writes.
RAM_BUFFER_EVENTS = 10_000
#: Event types logged at WARNING rather than INFO (alarms a technician should see in the journal).
_WARN_EVENTS = frozenset({EventType.DOOR_FORCED, EventType.DOOR_HELD, EventType.TAMPER, EventType.LOCKOUT_STARTED,
                          EventType.SENSOR_LOST})


def _columns(fields: dict[str, Any]) -> dict[str, Any]:
    """An event's fields as :func:`controller.store.hotpath.append_sealed` takes them (codes, not objects)."""
    user, door = fields.get("user"), fields.get("door")
    return {"time": fields["time"], "reason": fields.get("reason"), "method": fields.get("method"),
            "user": getattr(user, "code", user), "door": getattr(door, "name", door), "actor": fields.get("actor"),
            "score": fields.get("score"), "detail": fields.get("detail")}


@dataclass
class _Pending:
    type: str
    fields: dict[str, Any] = field(default_factory=dict)


class Journal(AlarmRows):
    """Writes sealed events and alarms through one session owned by the daemon loop thread.

    :param session: the loop thread's session (never shared with another thread).
    :param audit_key: the 32-byte chain key.
    :param door: door name put on every event.
    :param anchor: the anchor file writer; attached to ``session`` so every commit that sealed events
        appends the head (optional: tests may run without one).
    :param direct: hold a direct connection for decisions (SQLite only; default False). Call :meth:`close`.
    """

    def __init__(self, session: Session, audit_key: bytes, door: str, *,
                 anchor: AnchorWriter | None = None, direct: bool = False) -> None:
        self.session = session
        self._direct_proxy = hotpath.open_direct(session) if direct else None
        #: The direct connection's SQLite driver connection (None: everything goes through the session).
        self.direct: Any = None if self._direct_proxy is None else self._direct_proxy.driver_connection
        #: Events stored so far (the alert workers are poked when it moves) and the newest decision's
        #: ``(type, method, reason)``; ``on_stored(type)`` is called for each (the metrics).
        self.sealed_count = 0
        self.last_access: tuple[str, str | None, str | None] | None = None
        self.on_stored: Any = None
        #: Journal lines of decisions' events, written by :meth:`settle` after the relay.
        self._log_due: list[tuple[str, dict[str, Any]]] = []
        #: Lockout rows to write in the next event's transaction (:meth:`stage_lockout`).
        self._staged: dict[str, hotpath.LockoutRow] = {}
        self._key = audit_key
        self.door = door
        self.anchor = anchor
        if anchor is not None:
            anchor.attach(session)
        audit.seal_as_written(session, audit_key)  # admin events recorded in this session are sealed at once
        #: The spill file whose events are in the RAM buffer (removed once they are stored).
        self._restored_from: Path | None = None
        self._buffer: deque[_Pending] = deque(maxlen=RAM_BUFFER_EVENTS)
        self.dropped = 0
        self.available = True
        #: ``(seq, mac)`` committed with ``anchor_later`` and not yet in the anchor file (see :meth:`settle`).
        self._anchor_due: tuple[int, bytes] | None = None

    @property
    def buffered(self) -> int:
        """Events waiting in RAM for the database to accept writes again."""
        return len(self._buffer)

    def _direct_now(self) -> Any:
        """The direct connection when a statement may go there now (the session has no transaction open)."""
        return self.direct if self.direct is not None and not self.session.in_transaction() else None

    def reader(self) -> Any:
        """Where a decision reads (:func:`hotpath.person_by_digest`): the direct connection, in autocommit, when
        the session has no transaction open; else the session (inside an admin command's transaction)."""
        return self._direct_now() or self.session

    def stage_lockout(self, row: hotpath.LockoutRow) -> None:
        """Write ``row`` in the transaction of the next :meth:`write` (or :meth:`commit_staged`); a failed
        write drops it (the caller stages it again)."""
        self._staged[row.name] = row

    def commit_staged(self) -> bool:
        """Store the staged lockout rows without an event; False if the database refused (nothing stored)."""
        staged, self._staged = list(self._staged.values()), {}
        try:
            for row in staged:
                hotpath.save_lockout(self.session, row)
            self.session.commit()
        except (SQLAlchemyError, OSError) as exc:
            self._failed(exc)
            return False
        return True

    def _seal(self, type: str, fields: dict[str, Any], anchor_later: bool) -> None:
        """Store one sealed event (and the staged lockout rows) durably, or raise. The anchor line follows the
        commit, or waits for :meth:`settle` when ``anchor_later``."""
        staged, self._staged = tuple(self._staged.values()), {}
        direct = self._direct_now()
        if direct is not None:
            due = hotpath.seal_direct(direct, self._key, type, lockouts=staged, **_columns(fields))
            if anchor_later:
                self._anchor_due = due
            elif self.anchor is not None:
                self.anchor.append_logged(*due)
            return
        for row in staged:
            hotpath.save_lockout(self.session, row)
        hotpath.append_sealed(self.session, self._key, type, **_columns(fields))  # the sealed INSERT
        if anchor_later:  # taken from the session so the after-commit hook leaves it to settle()
            self._anchor_due = self.session.info.pop(audit.SEALED_HEAD_INFO, None)
        self.session.commit()

    def write(self, type: EventType, *, time: datetime | None = None, anchor_later: bool = False,
              **fields: Any) -> bool:
        """Append one sealed event and commit. ``False`` when it could not be stored (buffered in RAM).

        ``anchor_later``: the anchor line of this commit waits for :meth:`settle` (a decision: the relay is
        driven as soon as the database commit returns, and the anchor's fsync follows it). Default False.
        """
        fields.setdefault("door", self.door)
        fields["time"] = time or utcnow()
        if self._buffer and not self.flush():
            self._staged.clear()
            self._keep(type, fields)
            return False
        try:
            self._seal(type, fields, anchor_later)
        except (SQLAlchemyError, OSError) as exc:
            self._anchor_due = None
            self._failed(exc)
            self._keep(type, fields)
            return False
        self.available = True
        if anchor_later:  # a decision: its journal line follows the relay, with the anchor line (settle)
            self._log_due.append((type, fields))
        else:
            self._stored(type, fields)
        return True

    def _stored(self, type: str, fields: dict[str, Any]) -> None:
        """An event is in the database: its journal line, the count the alert workers follow, the listener."""
        _log_event(type, fields)
        self.sealed_count += 1
        if type in (EventType.ACCESS_GRANTED, EventType.ACCESS_DENIED):
            self.last_access = (type, fields.get("method"), fields.get("reason"))
        if self.on_stored is not None:
            self.on_stored(type)

    def flush(self) -> bool:
        """Try to store the RAM-buffered events (oldest first); True when none are left."""
        while self._buffer:
            item = self._buffer[0]
            try:
                self._seal(item.type, item.fields, anchor_later=False)
            except (SQLAlchemyError, OSError) as exc:
                self._failed(exc)
                return False
            self._buffer.popleft()
            self.sealed_count += 1
        if self._restored_from is not None:
            _unlink(self._restored_from)
            self._restored_from = None
        if not self.available:
            log.warning("event log writable again; buffered events stored")
        self.available = True
        return True

    def settle(self) -> None:
        """Write the journal lines of decisions and append the head a decision's commit left for later
        (:meth:`write` ``anchor_later``) to the anchor file, unless a newer head is there already. The daemon
        calls this once its effects are applied."""
        for type, fields in self._log_due:
            self._stored(type, fields)
        self._log_due.clear()
        due, self._anchor_due = self._anchor_due, None
        if due is not None and self.anchor is not None and (self.anchor.last is None or self.anchor.last.seq < due[0]):
            self.anchor.append_logged(due[0], due[1])

    def writable(self) -> bool:
        """Whether the log accepts writes now (a fact of the decision): stores the RAM buffer first, if any."""
        return self.flush() if self._buffer else True

    def retract(self, type: EventType) -> bool:
        """Drop the newest RAM-buffered event if it is of ``type`` (it was never stored); True if dropped.

        For a decision that was reversed because its event could not be stored ("no log, no entry"):
        the caller then writes what really happened, so the log never shows a grant that did not open.
        """
        if self._buffer and self._buffer[-1].type == type:
            self._buffer.pop()
            return True
        return False

    def commit_change(self) -> None:
        """Commit an admin change together with its ``admin.*`` events (sealed as they were recorded).

        For admin commands (:mod:`controller.store.admin_ops`): the change and its event land in one
        transaction or not at all. Raises what the database raised, after a rollback; the caller
        reports the refusal (an admin change is never buffered in RAM).
        """
        try:
            self.session.commit()
        except BaseException:
            self.rollback()
            raise

    def unsealed_rows(self) -> int:
        """Rows in ``events`` the daemon did not seal (written by someone else: never chained in)."""
        try:
            return audit.pending_count(self.session)
        except (SQLAlchemyError, OSError) as exc:
            self._failed(exc)
            return 0

    # -- events that outlive the process: spill at an orderly stop, store at the next start ------

    def spill(self, path: Path) -> int:
        """Write the RAM-buffered events to ``path`` (JSON lines, fsync'd, replacing an older spill) and
        log critically; returns how many. Called at an orderly stop when the database still refuses.

        Raises ``OSError`` if the file cannot be written (the caller logs the loss critically).
        """
        if not self._buffer:
            return 0
        lines = [json.dumps({"type": item.type, **_plain(item.fields)}, sort_keys=True) for item in self._buffer]
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, "\n".join(lines) + "\n", mode=0o640)
        count = len(lines)
        log.critical("the event log refused writes until the stop: %d events not stored in the database were "
                     "saved to %s; the next start stores them first", count, path)
        return count

    def restore_spilled(self, path: Path) -> int:
        """Store the events a previous orderly stop spilled to ``path``, before anything else: sealed, in
        their order, each with ``"recovered": true`` in its detail. Returns how many were read.

        The file is removed once they are stored; if the database still refuses, they wait in the RAM
        buffer (and the file stays) like any event the database refused.
        """
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return 0
        items: list[_Pending] = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                type_ = str(obj.pop("type"))
                fields = {k: obj[k] for k in ("reason", "method", "user", "door", "actor", "score") if k in obj}
                fields["time"] = parse_iso_utc(obj["time"]) if obj.get("time") else utcnow()
                detail = obj.get("detail") if isinstance(obj.get("detail"), dict) else {}
                fields["detail"] = {**detail, "recovered": True}
            except (ValueError, KeyError, TypeError):
                log.critical("%s line %d is damaged; it was skipped", path, number)
                continue
            items.append(_Pending(type_, fields))
        log.warning("storing %d events an earlier stop could not store (%s)", len(items), path)
        self._buffer.extendleft(reversed(items))
        self._restored_from = path
        self.flush()
        return len(items)

    def _keep(self, type: str, fields: dict[str, Any]) -> None:
        if len(self._buffer) == self._buffer.maxlen:
            self.dropped += 1
        self._buffer.append(_Pending(type, fields))

    def rollback(self) -> None:
        """Roll the session back (whatever it wrote since the last commit is gone)."""
        try:
            self.session.rollback()
        except SQLAlchemyError:
            log.debug("rollback failed too", exc_info=True)

    def close(self) -> None:
        """Give the direct connection back (at the daemon's stop); the session is the caller's. Safe twice."""
        proxy, self._direct_proxy, self.direct = self._direct_proxy, None, None
        if proxy is not None:
            try:
                proxy.close()
            except Exception:
                log.debug("closing the direct connection failed", exc_info=True)

    def _failed(self, exc: BaseException) -> None:
        self.rollback()
        if self.available:
            log.error("cannot write the event log: %s", str(exc).splitlines()[0])
        self.available = False


def _log_event(type: str, fields: dict[str, Any]) -> None:
    """One journal line per stored event: codes only (type, reason, method, person code), never names or PINs."""
    log.log(logging.WARNING if type in _WARN_EVENTS else logging.INFO, "event %s reason=%s method=%s user=%s",
            type, fields.get("reason") or "-", fields.get("method") or "-",
            getattr(fields.get("user"), "code", fields.get("user")) or "-")


def _plain(fields: dict[str, Any]) -> dict[str, Any]:
    """Event fields as JSON values: times as UTC ISO text, people and doors by code and name."""
    out: dict[str, Any] = {}
    for name, value in fields.items():
        if isinstance(value, datetime):
            value = iso_utc(value)
        elif hasattr(value, "code"):
            value = value.code
        elif hasattr(value, "name") and name == "door":
            value = value.name
        out[name] = value
    return out


def _unlink(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError as exc:
        log.error("cannot remove %s after storing its events: %s", path, exc.strerror or exc)
