"""The tamper-evident event log: records, sealing into an HMAC chain, and the sealer lock that makes one sealer.

Chain (docs/internals.md "Events and the audit chain")::

    mac_0 = 32 zero bytes
    mac_i = HMAC-SHA256(audit_key, mac_{i-1} || canonical(event_i)),  seq = 1, 2, 3, ...

Processes that are not the sealer call :func:`record` (row inserted with ``seq``
and ``mac`` NULL). The sealer - the daemon while it runs, else a maintenance
command holding :class:`SealerLock` - calls :func:`append`, which first seals every
pending row in id order and then inserts its own row sealed, or
:func:`seal_pending`. Callers commit. On SQLite, write transactions are
serialised (``BEGIN IMMEDIATE``, see :mod:`controller.store.db`), so ids are assigned in
commit order and seq order equals id order.

Verification (read-only) is :mod:`controller.store.audit_verify`.
"""

from __future__ import annotations

import fcntl
import hmac
import json
import logging
import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controller.canonical import canonical_json
from controller.errors import InvalidInput, StoreError
from controller.i18n import T
from controller.paths import DataDir
from controller.store.chain_check import FIELDS, GENESIS_MAC, canonical_fields
from controller.store.models import Door, Event, User
from controller.timefmt import iso_utc, utcnow

logger = logging.getLogger(__name__)

#: ``session.info`` key under which :func:`append` and :func:`seal_pending` leave the head
#: ``(seq, mac)`` they sealed; the anchor writer (:mod:`controller.store.anchor`) takes it after the commit.
SEALED_HEAD_INFO = "kunci.sealed_head"
#: ``session.info`` key marking the sealer's session (:func:`seal_as_written`); holds the audit key.
SEALER_KEY_INFO = "kunci.sealer_key"
#: Rows sealed per flush in :func:`seal_pending`.
SEAL_BATCH = 500

_FIELDS = FIELDS
#: The fields every event's JSON carries (docs/internals.md "Events and the audit chain"); actor, score
#: and detail follow when set.
_ALWAYS = _FIELDS[:7]
#: Public field name -> Event attribute, where they differ.
_ATTRIBUTES = {"user": "user_code"}


def event_values(event: Event) -> dict[str, Any]:
    """An event's fields under their public names, in contract order (``user`` is the person's code,
    ``detail`` the stored JSON text). The one mapping from rows to names: MAC, JSON and exports use it."""
    return {name: getattr(event, _ATTRIBUTES.get(name, name)) for name in _FIELDS}


def canonical(event: Event | Mapping[str, Any]) -> bytes:
    """The exact bytes the MAC covers for one event.

    ``event`` is an :class:`Event` or a mapping with the public field names
    (``seq, time, type, reason, method, user, door, actor, score, detail``);
    ``detail`` is the stored JSON text, as is. Output: sorted-key compact ASCII JSON, built by
    :func:`controller.store.chain_check.canonical_fields` (the one definition, shared with the verifier).
    """
    if isinstance(event, Event):
        return canonical_fields([getattr(event, _ATTRIBUTES.get(name, name)) for name in _FIELDS])
    return canonical_fields([event.get(name) for name in _FIELDS])


def chain_mac(key: bytes, prev_mac: bytes, event: Event | Mapping[str, Any]) -> bytes:
    """``HMAC-SHA256(key, prev_mac || canonical(event))`` (32 bytes)."""
    return hmac.digest(key, prev_mac + canonical(event), "sha256")  # one-shot C HMAC: same bytes, 3x faster


def _detail_text(detail: Mapping[str, Any] | None) -> str | None:
    if detail is None:
        return None
    if not isinstance(detail, Mapping):
        raise InvalidInput(T("event detail must be a JSON object"))
    try:
        return canonical_json(dict(detail))
    except (TypeError, ValueError) as exc:
        raise InvalidInput(T("event detail must be JSON-serialisable")) from exc


def _new_event(
    type: str,
    *,
    reason: str | None,
    method: str | None,
    user: User | str | None,
    door: Door | str | None,
    actor: str | None,
    score: int | None,
    detail: Mapping[str, Any] | None,
    time: datetime | None,
) -> Event:
    if not type:
        raise InvalidInput(T("event type is empty"))
    return Event(
        time=iso_utc(time if time is not None else utcnow()),
        type=type,
        reason=reason,
        method=method,
        user_code=user.code if isinstance(user, User) else user,
        door=door.name if isinstance(door, Door) else door,
        actor=actor,
        score=score,
        detail=_detail_text(detail),
    )


def record(
    session: Session,
    type: str,
    *,
    reason: str | None = None,
    method: str | None = None,
    user: User | str | None = None,
    door: Door | str | None = None,
    actor: str | None = None,
    score: int | None = None,
    detail: Mapping[str, Any] | None = None,
    time: datetime | None = None,
) -> Event:
    """Insert one event and flush; the caller commits.

    ``user`` is a :class:`User` or a person's code (never a name); ``door`` a
    :class:`Door` or its name; ``detail`` a JSON object without names or PINs;
    ``time`` an aware datetime (default: now). In a session the sealer marked with
    :func:`seal_as_written` the event is sealed at once (:func:`append`); elsewhere it stays
    unsealed (``seq``/``mac`` NULL), which ``audit verify`` reports: nothing seals it later.
    """
    key = session.info.get(SEALER_KEY_INFO)
    if key is not None:
        return append(session, key, type, reason=reason, method=method, user=user, door=door, actor=actor,
                      score=score, detail=detail, time=time)
    event = _new_event(
        type, reason=reason, method=method, user=user, door=door, actor=actor, score=score, detail=detail, time=time
    )
    session.add(event)
    session.flush()
    return event


def seal_as_written(session: Session, key: bytes) -> None:
    """Mark ``session`` as the sealer's: every :func:`record` in it is sealed as it is written.

    Only the holder of :class:`SealerLock` does this (the daemon's loop session, or a CLI change
    while no daemon runs), so an admin change and its sealed event commit together and no row
    is ever left for someone to seal later.
    """
    session.info[SEALER_KEY_INFO] = key


def head(session: Session) -> tuple[int, str] | None:
    """The newest sealed event as ``(seq, mac_hex)``, or ``None`` if nothing is sealed (one index probe)."""
    row = session.execute(
        select(Event.seq, Event.mac).where(Event.seq.is_not(None)).order_by(Event.seq.desc()).limit(1)
    ).first()
    if row is None:
        return None
    return int(row.seq), bytes(row.mac).hex()


def _head_raw(session: Session) -> tuple[int, bytes]:
    found = head(session)
    if found is None:
        return 0, GENESIS_MAC
    return found[0], bytes.fromhex(found[1])


def _seal(session: Session, key: bytes) -> tuple[int, int, bytes]:
    """Seal every pending row; returns ``(sealed, head_seq, head_mac)`` after sealing (one head probe)."""
    seq, prev = _head_raw(session)
    sealed = 0
    while True:
        batch = session.scalars(
            select(Event).where(Event.seq.is_(None)).order_by(Event.id).limit(SEAL_BATCH)
        ).all()
        if not batch:
            break
        for event in batch:
            seq += 1
            event.seq = seq
            event.mac = prev = chain_mac(key, prev, event)
        session.flush()
        sealed += len(batch)
    if sealed:
        session.info[SEALED_HEAD_INFO] = (seq, prev)
        logger.debug("sealed %d pending events up to seq %d", sealed, seq)
    return sealed, seq, prev


def seal_pending(session: Session, key: bytes) -> int:
    """Chain every unsealed event, in id order, after the current head; returns how many.

    Only the holder of the sealer lock may call this. Flushes; the caller commits.
    """
    return _seal(session, key)[0]


def append(
    session: Session,
    key: bytes,
    type: str,
    *,
    reason: str | None = None,
    method: str | None = None,
    user: User | str | None = None,
    door: Door | str | None = None,
    actor: str | None = None,
    score: int | None = None,
    detail: Mapping[str, Any] | None = None,
    time: datetime | None = None,
) -> Event:
    """Insert this event sealed with the next seq after the head; the caller commits.

    Same arguments as :func:`record`, plus the 32-byte audit ``key``. Only the
    sealer (holder of :class:`SealerLock`) may call this. Unsealed rows are left
    alone: they were not written by the sealer, so they stay for ``audit verify``
    to report rather than being chained in as if they were true.
    """
    seq, prev = _head_raw(session)
    event = _new_event(
        type, reason=reason, method=method, user=user, door=door, actor=actor, score=score, detail=detail, time=time
    )
    event.seq = seq + 1
    event.mac = chain_mac(key, prev, event)
    session.add(event)
    session.flush()
    session.info[SEALED_HEAD_INFO] = (event.seq, event.mac)
    return event


def record_many(session: Session, type: str, entries: Sequence[tuple[str, Mapping[str, Any] | None]], *,
                actor: str | None = None) -> int:
    """Insert one event of ``type`` per ``(user code, detail)`` in ``entries`` with one flush; the caller commits.

    What :func:`record` does for each, in order (sealed at once in a sealer's session, one head probe for
    all; unsealed elsewhere), for a bulk change such as an import of people. Returns how many.
    """
    events = [_new_event(type, reason=None, method=None, user=user, door=None, actor=actor, score=None, detail=detail,
                         time=None) for user, detail in entries]
    key = session.info.get(SEALER_KEY_INFO)
    if key is not None and events:
        seq, prev = _head_raw(session)
        for event in events:
            seq += 1
            event.seq = seq
            event.mac = prev = chain_mac(key, prev, event)
    session.add_all(events)
    session.flush()
    if key is not None and events:
        session.info[SEALED_HEAD_INFO] = (events[-1].seq, events[-1].mac)
    return len(events)


def pending_count(session: Session) -> int:
    """Number of events not yet sealed."""
    return int(session.scalar(select(func.count()).select_from(Event).where(Event.seq.is_(None))) or 0)


def event_json(event: Event) -> dict[str, Any]:
    """The public JSON form of an event.

    Always ``seq, time, type, reason, method, user, door``; ``actor``, ``score`` and
    ``detail`` (parsed back to a dict) only when set.
    """
    values = event_values(event)
    out: dict[str, Any] = {name: values[name] for name in _ALWAYS}
    if event.actor is not None:
        out["actor"] = event.actor
    if event.score is not None:
        out["score"] = event.score
    if event.detail is not None:
        out["detail"] = json.loads(event.detail)
    return out


class SealerLock:
    """Exclusive ``flock`` on ``DATA/run/daemon.lock``: whoever holds it is the only sealer.

    The daemon holds it while running; maintenance commands seal only if
    :meth:`try_acquire` succeeds. As a context manager it acquires without waiting
    and raises :class:`StoreError` if another process holds it. The lock is
    released by :meth:`release` or when the process exits.
    """

    def __init__(self, datadir: DataDir) -> None:
        self.path: Path = datadir.daemon_lock_file
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def try_acquire(self) -> bool:
        """Take the lock if free (never waits); True if now held by this object."""
        if self._fd is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o640)
        except OSError as exc:
            raise StoreError(T("cannot open sealer lock {path}: {reason}", path=self.path,
                               reason=exc.strerror)) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError as exc:
            os.close(fd)
            raise StoreError(T("cannot lock {path}: {reason}", path=self.path, reason=exc.strerror)) from exc
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode("ascii"))
        self._fd = fd
        return True

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __enter__(self) -> SealerLock:
        if not self.try_acquire():
            raise StoreError(T("another process holds {path} (is the daemon running?)", path=self.path))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
