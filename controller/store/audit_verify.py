"""Verify the event log's HMAC chain (docs/internals.md "Events and the audit chain"). Read-only: never seals.

:func:`verify` walks the chain in seq order in batches (constant memory) and
reports the first broken link: an altered row, a missing seq, rows out of order,
or - against an anchor ``(seq, mac_hex)`` kept off the device - a truncated tail; any unsealed row makes it
not ok. :func:`pruned_start` says where a live chain whose oldest events were archived starts.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controller.core.vocabulary import EventType
from controller.errors import InvalidInput
from controller.store.audit import GENESIS_MAC, chain_mac, head, pending_count
from controller.store.models import Event

#: Unsealed rows named one by one by :func:`verify` (the rest are counted).
UNSEALED_NAMED = 5


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`.

    ``head_seq``/``head_mac_hex``: the newest sealed row as stored (``None`` if
    none). ``first_bad_seq``/``problem``: the first broken link (``None`` when ok).
    ``pending``: unsealed rows (each one is an error: only the daemon writes events, sealed).
    ``unsealed``: a description of the first few of them. ``checked``: rows whose link verified.
    """

    ok: bool
    head_seq: int | None
    head_mac_hex: str | None
    first_bad_seq: int | None
    problem: str | None
    pending: int
    checked: int
    unsealed: tuple[str, ...] = ()


def describe_unsealed(session: Session, limit: int = UNSEALED_NAMED) -> list[str]:
    """One line for each of the first ``limit`` unsealed rows (seq NULL), oldest first."""
    rows = session.execute(
        select(Event.id, Event.time, Event.type, Event.actor, Event.user_code)
        .where(Event.seq.is_(None)).order_by(Event.id).limit(limit)
    ).all()
    return [
        f"event id {r.id} ({r.type}, time {r.time}, actor {r.actor or '-'}, user {r.user_code or '-'}) is not "
        "sealed (seq NULL): it was written into the database outside the daemon (foreign row)"
        for r in rows
    ]


_COLUMNS = (
    Event.id,
    Event.seq,
    Event.mac,
    Event.time,
    Event.type,
    Event.reason,
    Event.method,
    Event.user_code.label("user"),
    Event.door,
    Event.actor,
    Event.score,
    Event.detail,
)


#: Names of :data:`_COLUMNS` (the public ones are what :func:`controller.store.audit.canonical` reads).
_NAMES = tuple(c.key for c in _COLUMNS)


def _sealed_rows(session: Session, batch: int) -> Iterator[Any]:
    """Sealed rows in seq order, ``batch`` at a time (keyset pages on the seq index)."""
    last = 0
    while True:
        rows = session.execute(
            select(*_COLUMNS).where(Event.seq > last).order_by(Event.seq).limit(batch)
        ).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def _with_next(rows: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
    """Pairs ``(row, next_row_or_None)``."""
    prev = next(rows, None)
    for row in rows:
        yield prev, row
        prev = row
    if prev is not None:
        yield prev, None


def verify(
    session: Session,
    key: bytes,
    *,
    batch: int = 5000,
    anchor: tuple[int, str] | None = None,
    start: tuple[int, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Check the whole chain and report the first broken link. Read-only: never seals anything.

    ``progress`` (default none) is called with ``batch`` after every ``batch`` events checked (the
    CLI shows a rate on a terminal).

    Streams sealed rows in seq order, ``batch`` (default 5000) per query, so memory
    stays constant at any size. Detects: a row whose MAC does not match (edited), a
    missing seq (deleted), rows out of id order (reordered). ``anchor`` is a
    ``(seq, mac_hex)`` head exported earlier and kept off the device: if that seq
    is gone or its MAC differs, the log was truncated or rewritten.

    ``start`` is the start anchor ``(seq, mac_hex)`` of a pruned log: the live log
    must then begin at ``seq + 1`` and its first MAC must use ``mac_hex`` as the
    previous MAC - the end anchor of the newest archive (see
    :mod:`controller.ops.archive`). Default ``None``: :func:`pruned_start` - genesis
    ``(0, zeros)``, or the end anchor recorded in the newest
    ``admin.events_archived`` event when the log was pruned (that event is itself
    inside the chain being verified, so an edited anchor breaks its MAC). An
    ``anchor`` at or before ``start`` is compared with ``start`` when the seqs are
    equal and otherwise left to the archive check.

    Any unsealed row (seq NULL) makes the result not ok: only the daemon writes events, and it seals
    them in the transaction that writes them, so such a row was put there by someone else.
    """
    if batch < 1:
        raise ValueError("batch must be >= 1")
    stored_head = head(session)
    pending = pending_count(session)
    if start is None:
        start = pruned_start(session)
    expected = 1
    prev_mac = GENESIS_MAC
    if start is not None:
        try:
            prev_mac = bytes.fromhex(start[1])
        except ValueError:
            raise InvalidInput("the start anchor MAC must be hexadecimal") from None
        if start[0] < 0 or len(prev_mac) != len(GENESIS_MAC):
            raise InvalidInput("the start anchor must be (seq >= 0, 64 hexadecimal characters)")
        expected = start[0] + 1
    prev_id = 0
    checked = 0

    def result(bad: int | None, problem: str | None) -> VerifyResult:
        unsealed: tuple[str, ...] = ()
        if pending:
            unsealed = tuple(describe_unsealed(session))
            if problem is None:
                problem = f"{pending} unsealed event{'s' if pending != 1 else ''} (seq NULL): " + unsealed[0]
        return VerifyResult(
            ok=problem is None,
            head_seq=stored_head[0] if stored_head else None,
            head_mac_hex=stored_head[1] if stored_head else None,
            first_bad_seq=bad,
            problem=problem,
            pending=pending,
            checked=checked,
            unsealed=unsealed,
        )

    if anchor is not None and start is not None and anchor[0] <= start[0]:
        if anchor[0] == start[0] and anchor[1].lower() != prev_mac.hex():
            return result(anchor[0], f"seq {anchor[0]} differs from the exported anchor (log rewritten)")
        anchor = None  # older than the live log: the archives carry it
    for row, nxt in _with_next(_sealed_rows(session, batch)):
        seq = int(row.seq)
        if seq != expected:
            if seq < expected:
                return result(seq, f"seq {seq} is at or before the start anchor (seq {expected - 1})")
            if expected == seq - 1:
                missing = f"seq {expected} is missing (deleted)"
            else:
                missing = f"seqs {expected}..{seq - 1} are missing (deleted)"
            return result(expected, missing)
        mac = chain_mac(key, prev_mac, dict(zip(_NAMES, row)))  # a dict: RowMapping.get costs 3 us a field
        if row.mac is None or not hmac.compare_digest(mac, bytes(row.mac)):
            # seq is inside the MAC, so a reorder always breaks it; id order only names the cause
            # (it alone is no proof: ids of concurrent writers on a server database may interleave).
            if row.id < prev_id or (nxt is not None and nxt.id < row.id):
                return result(seq, f"seq {seq} is out of order (rows reordered)")
            return result(seq, f"seq {seq} (event id {row.id}, {row.type}) does not match its MAC "
                               "(row altered, inserted from outside, or wrong key)")
        if anchor is not None and seq == anchor[0] and mac.hex() != anchor[1].lower():
            return result(seq, f"seq {seq} differs from the exported anchor (log rewritten)")
        prev_mac = mac
        prev_id = row.id
        checked += 1
        expected = seq + 1
        if progress is not None and checked % batch == 0:
            progress(batch)
    if progress is not None and checked % batch:
        progress(checked % batch)
    if anchor is not None and anchor[0] >= expected:
        return result(
            expected, f"events from seq {expected} are missing: the anchor names seq {anchor[0]} (log truncated)"
        )
    return result(None, None)


#: Type of the event recorded when a prefix of the chain moves to an archive file.
ARCHIVED_EVENT = EventType.ADMIN_EVENTS_ARCHIVED


def pruned_start(session: Session) -> tuple[int, str] | None:
    """Where the live chain starts: ``None`` (genesis) or the archive end anchor ``(seq, mac_hex)``.

    When the oldest sealed row is not seq 1, the newest ``admin.events_archived``
    event names the last archived ``(end_seq, end_mac)``; that is returned. If no
    such event exists the log was cut without an archive: ``None``, so
    :func:`verify` reports the missing seqs.
    """
    first = session.scalar(select(func.min(Event.seq)))
    if first is None or int(first) <= 1:
        return None
    detail = session.scalar(
        select(Event.detail)
        .where(Event.type == ARCHIVED_EVENT, Event.seq.is_not(None))
        .order_by(Event.seq.desc())
        .limit(1)
    )
    try:
        data = json.loads(detail) if detail else None
        seq, mac = int(data["end_seq"]), str(data["end_mac"])
        bytes.fromhex(mac)
    except (ValueError, KeyError, TypeError):
        return None
    return seq, mac

