"""The audit chain's rule over plain values: the one canonical form, the one link check, the one walk.

Why this module exists: ``kunci audit verify`` spent most of a demo-sized run importing SQLAlchemy
and most of a million-event run in per-row ORM overhead (docs/performance.md, W10). Everything here
works on plain tuples and SQL text and imports nothing heavier than ``sqlite3``, so the CLI can verify
over a read-only ``sqlite3`` connection (:class:`SqliteReader`) while
:mod:`controller.store.audit_verify` runs the same walk over a SQLAlchemy session: one implementation
of the chain rule (docs/internals.md "Events and the audit chain")::

    mac_i = HMAC-SHA256(audit_key, mac_{i-1} || canonical(event_i)),  mac_0 = 32 zero bytes

Each link can be checked on its own: the stored MAC of row i-1 and row i give mac i. So a batch is
checked against the stored MACs in one pass (:func:`_batch_intact`, one comparison per batch); only a
batch that fails is walked row by row (:func:`_walk_rows`) to name the first broken link with the same
words as before. Both give the same verdict: if every stored MAC matches, the stored and recomputed
chains are the same chain.
"""

from __future__ import annotations

import hmac
import json
import os
import re
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from controller.canonical import canonical_bytes
from controller.core.vocabulary import EventType
from controller.errors import InvalidInput, StoreError
from controller.i18n import T

#: The chain's predecessor of seq 1.
GENESIS_MAC = bytes(32)
#: The public fields an event's MAC covers, in contract order (docs/internals.md).
FIELDS = ("seq", "time", "type", "reason", "method", "user", "door", "actor", "score", "detail")
#: Unsealed rows named one by one (the rest are counted).
UNSEALED_NAMED = 5
#: Rows per fetch of the walk.
BATCH = 5000
#: Newest sealed events ``kunci doctor`` verifies (:func:`verify_tail`).
TAIL_EVENTS = 10_000
#: Type of the event recorded when a prefix of the chain moves to an archive file.
ARCHIVED_EVENT = EventType.ADMIN_EVENTS_ARCHIVED

#: A chain row: ``id, mac`` then :data:`FIELDS` in order (``row[2:]`` is what the MAC covers).
ROWS_SQL = ("SELECT id, mac, seq, time, type, reason, method, user_code, door, actor, score, detail "
            "FROM events WHERE seq > :after ORDER BY seq")
HEAD_SQL = "SELECT seq, mac FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1"
PENDING_SQL = "SELECT count(*) FROM events WHERE seq IS NULL"
SEALED_SQL = "SELECT count(*) FROM events WHERE seq IS NOT NULL"
FIRST_SQL = "SELECT min(seq) FROM events"
BEFORE_TAIL_SQL = "SELECT seq, mac FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1 OFFSET :n"
ARCHIVED_SQL = ("SELECT detail FROM events WHERE type = :type AND seq IS NOT NULL "
                "ORDER BY seq DESC LIMIT 1")
UNSEALED_SQL = "SELECT id, time, type, actor, user_code FROM events WHERE seq IS NULL ORDER BY id LIMIT :n"


def canonical_fields(values: Sequence[Any]) -> bytes:
    """The exact bytes the MAC covers, from the :data:`FIELDS` values in that order (``detail`` is the
    stored JSON text, as is): sorted-key compact ASCII JSON. The one definition of the canonical form:
    :func:`controller.store.audit.canonical` calls it for ORM events and mappings."""
    return canonical_bytes(dict(zip(FIELDS, values)))


class Reader(Protocol):
    """Where the walk reads rows: SQL text with ``:name`` parameters (sqlite3 and SQLAlchemy ``text()``)."""

    def all(self, sql: str, params: Mapping[str, Any]) -> Sequence[Sequence[Any]]:
        """Every row of one query."""

    def batches(self, sql: str, params: Mapping[str, Any], size: int) -> Iterator[Sequence[Sequence[Any]]]:
        """The rows of one query, ``size`` at a time."""


class SqliteReader:
    """:class:`Reader` over a plain ``sqlite3`` connection (the CLI's fast path, no SQLAlchemy)."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def all(self, sql: str, params: Mapping[str, Any]) -> list[Any]:
        return self.conn.execute(sql, dict(params)).fetchall()

    def batches(self, sql: str, params: Mapping[str, Any], size: int) -> Iterator[list[Any]]:
        cursor = self.conn.execute(sql, dict(params))
        while rows := cursor.fetchmany(size):
            yield rows


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of a verification.

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


@dataclass
class _Walk:
    """Where the walk stands: the next seq expected, the MAC it chains from, the last row's id."""

    expected: int
    prev_mac: bytes
    prev_id: int = 0
    checked: int = 0


class _Broken(Exception):
    """The first broken link: ``seq`` and the problem in words."""

    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


def _start_walk(start: tuple[int, str] | None) -> _Walk:
    """The walk from genesis, or from the start anchor ``(seq, mac_hex)`` of a pruned log."""
    if start is None:
        return _Walk(1, GENESIS_MAC)
    try:
        prev_mac = bytes.fromhex(start[1])
    except ValueError:
        raise InvalidInput(T("the start anchor MAC must be hexadecimal")) from None
    if start[0] < 0 or len(prev_mac) != len(GENESIS_MAC):
        raise InvalidInput(T("the start anchor must be (seq >= 0, 64 hexadecimal characters)"))
    return _Walk(start[0] + 1, prev_mac)


def _batch_intact(key: bytes, rows: Sequence[Sequence[Any]], walk: _Walk) -> bool:
    """True if every row of ``rows`` is the next link: seqs ``expected..``, each MAC right over the
    stored MAC before it. One comparison per batch; a False is walked row by row to name the cause."""
    n = len(rows)
    if rows[0][2] != walk.expected or rows[-1][2] != walk.expected + n - 1:  # seq is UNIQUE: no repeats
        return False
    macs = [row[1] for row in rows]
    if None in macs or set(map(len, macs)) != {len(GENESIS_MAC)}:
        return False
    digest = hmac.digest
    computed = b"".join([digest(key, prev + canonical_fields(row[2:]), "sha256")
                         for prev, row in zip([walk.prev_mac, *macs[:-1]], rows)])
    return hmac.compare_digest(computed, b"".join(macs))


def _walk_rows(key: bytes, rows: Sequence[Sequence[Any]], following: Sequence[Any] | None, walk: _Walk,
               anchor: tuple[int, str] | None) -> None:
    """Check ``rows`` one link at a time; raise :class:`_Broken` at the first broken one.

    ``following`` is the row after the batch (to tell a reorder from an edit at the batch's end).
    """
    for i, row in enumerate(rows):
        seq = int(row[2])
        if seq != walk.expected:
            if seq < walk.expected:
                raise _Broken(seq, f"seq {seq} is at or before the start anchor (seq {walk.expected - 1})")
            if walk.expected == seq - 1:
                raise _Broken(walk.expected, f"seq {walk.expected} is missing (deleted)")
            raise _Broken(walk.expected, f"seqs {walk.expected}..{seq - 1} are missing (deleted)")
        mac = hmac.digest(key, walk.prev_mac + canonical_fields(row[2:]), "sha256")
        if row[1] is None or not hmac.compare_digest(mac, bytes(row[1])):
            # seq is inside the MAC, so a reorder always breaks it; id order only names the cause
            # (it alone is no proof: ids of concurrent writers on a server database may interleave).
            nxt = rows[i + 1] if i + 1 < len(rows) else following
            if row[0] < walk.prev_id or (nxt is not None and nxt[0] < row[0]):
                raise _Broken(seq, f"seq {seq} is out of order (rows reordered)")
            raise _Broken(seq, f"seq {seq} (event id {row[0]}, {row[4]}) does not match its MAC "
                               "(row altered, inserted from outside, or wrong key)")
        _check_anchor(seq, mac, anchor)
        walk.prev_mac, walk.prev_id, walk.checked, walk.expected = mac, row[0], walk.checked + 1, seq + 1


def _check_anchor(seq: int, mac: bytes, anchor: tuple[int, str] | None) -> None:
    if anchor is not None and seq == anchor[0] and mac.hex() != anchor[1].lower():
        raise _Broken(seq, f"seq {seq} differs from the exported anchor (log rewritten)")


def walk_chain(key: bytes, batches: Iterable[Sequence[Sequence[Any]]], *, start: tuple[int, str] | None = None,
               anchor: tuple[int, str] | None = None, progress: Callable[[int], None] | None = None,
               ) -> tuple[int | None, str | None, int]:
    """Check the rows of ``batches`` (seq order) as one chain: ``(first_bad_seq, problem, checked)``.

    ``start`` is the ``(seq, mac_hex)`` the first row chains from (default genesis); ``anchor`` a head
    kept off the device that must be in the chain with its MAC (one at or before ``start`` is compared
    with ``start`` when the seqs are equal, else left to the archives). ``progress`` gets the size of
    every batch that verified. Detects an altered row, a missing seq, rows out of order, a truncated tail.
    """
    walk = _start_walk(start)
    try:
        if anchor is not None and start is not None and anchor[0] <= start[0]:
            if anchor[0] == start[0] and anchor[1].lower() != walk.prev_mac.hex():
                raise _Broken(anchor[0], f"seq {anchor[0]} differs from the exported anchor (log rewritten)")
            anchor = None  # older than the live log: the archives carry it
        it = iter(batches)
        rows = next(it, None)
        while rows:
            following = next(it, None)
            holds_anchor = anchor is not None and walk.expected <= anchor[0] < walk.expected + len(rows)
            if not holds_anchor and _batch_intact(key, rows, walk):
                walk.prev_mac, walk.prev_id = bytes(rows[-1][1]), rows[-1][0]
                walk.checked += len(rows)
                walk.expected += len(rows)
            else:  # a broken batch, or the one holding the anchor: one link at a time
                _walk_rows(key, rows, following[0] if following else None, walk, anchor)
            if progress is not None:
                progress(len(rows))
            rows = following
        if anchor is not None and anchor[0] >= walk.expected:
            raise _Broken(walk.expected, f"events from seq {walk.expected} are missing: the anchor names seq "
                                         f"{anchor[0]} (log truncated)")
    except _Broken as broken:
        return broken.seq, broken.problem, walk.checked
    return None, None, walk.checked


def describe_unsealed(reader: Reader, limit: int = UNSEALED_NAMED) -> list[str]:
    """One line for each of the first ``limit`` unsealed rows (seq NULL), oldest first."""
    return [
        f"event id {r[0]} ({r[2]}, time {r[1]}, actor {r[3] or '-'}, user {r[4] or '-'}) is not "
        "sealed (seq NULL): it was written into the database outside the daemon (foreign row)"
        for r in reader.all(UNSEALED_SQL, {"n": limit})
    ]


def stored_head(reader: Reader) -> tuple[int, str] | None:
    """The newest sealed row as ``(seq, mac_hex)``, or ``None``."""
    rows = reader.all(HEAD_SQL, {})
    return (int(rows[0][0]), bytes(rows[0][1]).hex()) if rows else None


def pruned_start(reader: Reader) -> tuple[int, str] | None:
    """Where the live chain starts: ``None`` (genesis) or the archive end anchor ``(seq, mac_hex)``.

    When the oldest sealed row is not seq 1, the newest ``admin.events_archived`` event names the
    last archived ``(end_seq, end_mac)``. Without such an event the log was cut without an archive:
    ``None``, so the walk reports the missing seqs.
    """
    first = reader.all(FIRST_SQL, {})[0][0]
    if first is None or int(first) <= 1:
        return None
    rows = reader.all(ARCHIVED_SQL, {"type": str(ARCHIVED_EVENT)})
    try:
        data = json.loads(rows[0][0]) if rows and rows[0][0] else None
        seq, mac = int(data["end_seq"]), str(data["end_mac"])
        bytes.fromhex(mac)
    except (ValueError, KeyError, TypeError):
        return None
    return seq, mac


def _result(reader: Reader, head: tuple[int, str] | None, pending: int, bad: int | None, problem: str | None,
            checked: int) -> VerifyResult:
    unsealed: tuple[str, ...] = ()
    if pending:
        unsealed = tuple(describe_unsealed(reader))
        if problem is None:
            problem = f"{pending} unsealed event{'s' if pending != 1 else ''} (seq NULL): " + unsealed[0]
    return VerifyResult(ok=problem is None, head_seq=head[0] if head else None, head_mac_hex=head[1] if head else None,
                        first_bad_seq=bad, problem=problem, pending=pending, checked=checked, unsealed=unsealed)


def verify_chain(reader: Reader, key: bytes, *, batch: int = BATCH, anchor: tuple[int, str] | None = None,
                 start: tuple[int, str] | None = None, progress: Callable[[int], None] | None = None
                 ) -> VerifyResult:
    """Check the whole live chain read through ``reader``; read-only. Arguments as
    :func:`controller.store.audit_verify.verify` (``start`` default: :func:`pruned_start`)."""
    if batch < 1:
        raise ValueError("batch must be >= 1")
    head = stored_head(reader)
    pending = int(reader.all(PENDING_SQL, {})[0][0] or 0)
    if start is None:
        start = pruned_start(reader)
    bad, problem, checked = walk_chain(key, reader.batches(ROWS_SQL, {"after": 0}, batch), start=start,
                                       anchor=anchor, progress=progress)
    return _result(reader, head, pending, bad, problem, checked)


@dataclass(frozen=True)
class TailResult:
    """:func:`verify_tail`: the result over the newest ``verified`` of ``total`` sealed events."""

    result: VerifyResult
    verified: int
    total: int


def verify_tail(reader: Reader, key: bytes, newest: int = TAIL_EVENTS) -> TailResult:
    """Verify only the newest ``newest`` sealed events, chained from the stored MAC of the row before them
    (``kunci doctor``: bounded time at any log size; ``kunci audit verify`` checks the whole chain).

    A log no longer than ``newest`` is verified whole (:func:`verify_chain`). Unsealed rows fail as there.
    """
    total = int(reader.all(SEALED_SQL, {})[0][0] or 0)
    before = reader.all(BEFORE_TAIL_SQL, {"n": newest}) if newest < total else []
    if not before:
        return TailResult(verify_chain(reader, key), total, total)
    seq, mac = int(before[0][0]), before[0][1]
    head = stored_head(reader)
    pending = int(reader.all(PENDING_SQL, {})[0][0] or 0)
    if mac is None or len(mac) != len(GENESIS_MAC):
        return TailResult(_result(reader, head, pending, seq, f"seq {seq} has no valid MAC (row altered)", 0),
                          0, total)
    bad, problem, checked = walk_chain(key, reader.batches(ROWS_SQL, {"after": seq}, BATCH),
                                       start=(seq, bytes(mac).hex()))
    return TailResult(_result(reader, head, pending, bad, problem, checked), checked, total)


# --- The kept head (DATA/anchor/heads) without SQLAlchemy --------------------------------------------
# controller/store/anchor.py owns the anchor file's writer (it imports SQLAlchemy for the session hook);
# the reading and the comparison with the database live here, once: anchor.newest/compare/read_heads
# delegate to these, and the CLI's fast path calls them without SQLAlchemy.

_LINE = re.compile(r"^seq=(\d+) mac=([0-9a-f]{64}) time=(\S+)$")
#: How much of a file's end is read to find the last complete line (as anchor._TAIL_BYTES).
_TAIL_BYTES = 4096


@dataclass(frozen=True)
class KeptHead:
    """One anchor line: ``(seq, mac_hex)`` and when it was written."""

    seq: int
    mac: str
    time: str | None = None


def parse_kept(text: str) -> list[KeptHead]:
    """Every well-formed anchor line of ``text``, in order (a torn line, a crash mid-write, is skipped)."""
    found = (_LINE.match(line.strip()) for line in text.splitlines())
    return [KeptHead(int(m.group(1)), m.group(2), m.group(3)) for m in found if m is not None]


def _newest_in(path: Path) -> KeptHead | None:
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - _TAIL_BYTES))
            heads = parse_kept(fh.read().decode("ascii", errors="replace"))
            if not heads and size > _TAIL_BYTES:  # a very long damaged tail: read the whole file
                fh.seek(0)
                heads = parse_kept(fh.read().decode("ascii", errors="replace"))
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(T("cannot read the anchor file {path}: {reason} (run as the door daemon's account)",
                           path=path, reason=exc.strerror or exc)) from exc
    return heads[-1] if heads else None


def newest_kept(path: Path) -> KeptHead | None:
    """The newest head in the anchor file ``path`` (``DATA/anchor/heads``), else in ``heads.1``."""
    return _newest_in(path) or _newest_in(path.with_name(path.name + ".1"))


def compare_kept(reader: Reader, kept: KeptHead) -> str | None:
    """``None`` if the database still holds ``kept`` with its MAC (or it was archived); else the problem,
    in the words of :func:`controller.store.anchor.compare`."""
    rows = reader.all("SELECT mac FROM events WHERE seq = :seq", {"seq": kept.seq})
    mac = rows[0][0] if rows else None
    head = stored_head(reader)
    end = head[0] if head is not None else 0
    when = f" (written {kept.time})" if kept.time else ""
    if mac is None:
        first = reader.all(FIRST_SQL, {})[0][0]
        if first is not None and kept.seq < int(first) and pruned_start(reader) is not None:
            return None
        return (f"truncated/rewritten: the anchor names seq {kept.seq}{when}, the log ends at {end} "
                f"(events committed earlier are missing)")
    if bytes(mac).hex() != kept.mac:
        return (f"truncated/rewritten: the anchor names seq {kept.seq} with MAC {kept.mac[:16]}...{when}, "
                f"the log holds another event there (rewritten; the log ends at {end})")
    return None
