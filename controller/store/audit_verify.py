"""Verify the event log's HMAC chain through a SQLAlchemy session (docs/internals.md "Events and the audit
chain"). Read-only: never seals.

The chain rule, the canonical form and the walk are :mod:`controller.store.chain_check` (plain values and
SQL text, no SQLAlchemy), which the CLI runs over a read-only ``sqlite3`` connection; this module runs the
same walk over a session, for callers that hold one (backup, restore, archive, ``kunci doctor``, tests).
:func:`verify` walks the chain in seq order in batches (constant memory) and reports the first broken
link: an altered row, a missing seq, rows out of order, or - against an anchor ``(seq, mac_hex)`` kept
off the device - a truncated tail; any unsealed row makes it not ok. :func:`verify_tail` checks only the
newest events. :func:`pruned_start` says where a live chain whose oldest events were archived starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from controller.store import chain_check
from controller.store.chain_check import ARCHIVED_EVENT, UNSEALED_NAMED, TailResult, VerifyResult

__all__ = ["ARCHIVED_EVENT", "UNSEALED_NAMED", "SessionReader", "TailResult", "VerifyResult", "describe_unsealed",
           "pruned_start", "verify", "verify_tail"]


class SessionReader:
    """:class:`controller.store.chain_check.Reader` over a SQLAlchemy session (its current transaction)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def all(self, sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        return self.session.execute(text(sql), dict(params)).all()

    def batches(self, sql: str, params: Mapping[str, Any], size: int) -> Iterator[Sequence[Sequence[Any]]]:
        for rows in self.session.execute(text(sql), dict(params)).partitions(size):
            yield [tuple(row) for row in rows]


def describe_unsealed(session: Session, limit: int = UNSEALED_NAMED) -> list[str]:
    """One line for each of the first ``limit`` unsealed rows (seq NULL), oldest first."""
    return chain_check.describe_unsealed(SessionReader(session), limit)


def verify(
    session: Session,
    key: bytes,
    *,
    batch: int = chain_check.BATCH,
    anchor: tuple[int, str] | None = None,
    start: tuple[int, str] | None = None,
    progress: Callable[[int], None] | None = None,
) -> VerifyResult:
    """Check the whole chain and report the first broken link. Read-only: never seals anything.

    ``progress`` (default none) is called with the size of every batch of events checked (the
    CLI shows a rate on a terminal).

    Streams sealed rows in seq order, ``batch`` (default 5000) at a time, so memory
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
    return chain_check.verify_chain(SessionReader(session), key, batch=batch, anchor=anchor, start=start,
                                    progress=progress)


def verify_tail(session: Session, key: bytes, newest: int = chain_check.TAIL_EVENTS) -> TailResult:
    """Verify the newest ``newest`` sealed events from the stored MAC before them (``kunci doctor``)."""
    return chain_check.verify_tail(SessionReader(session), key, newest)


def pruned_start(session: Session) -> tuple[int, str] | None:
    """Where the live chain starts: ``None`` (genesis) or the archive end anchor ``(seq, mac_hex)``.

    When the oldest sealed row is not seq 1, the newest ``admin.events_archived``
    event names the last archived ``(end_seq, end_mac)``; that is returned. If no
    such event exists the log was cut without an archive: ``None``, so
    :func:`verify` reports the missing seqs.
    """
    return chain_check.pruned_start(SessionReader(session))
