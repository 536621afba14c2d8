"""Reading the event log: filtered queries in keyset pages, streaming, CSV and JSON-lines export.

Queries are built with the ORM and bound parameters only. Pages are newest first
and keyed on ``events.id`` (``before_id``), so a deep page costs the same as the
first; each filter has an index behind it (``(user_code, id)``, ``(type, id)``,
``time``), see ``docs/internals.md``.

Exports (docs/security.md "Hardening of the processes") carry the public fields only —
:data:`EXPORT_COLUMNS`: person codes, never names — start with the chain head
anchor ``(seq, mac)`` to keep off the device (:class:`ExportHead`: in CSV the name of the last column of the
header row, in JSON lines the first line; docs/security.md "Exports"), hold sealed events only, and in CSV
every cell that a spreadsheet would read as a formula is prefixed with ``'`` (:func:`csv_cell`).
Both stream in batches, so memory stays flat whatever the size of the log.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import ScalarSelect, Select, case, func, select
from sqlalchemy.orm import Session

from controller.core.vocabulary import EventType
from controller.errors import InvalidInput
from controller.i18n import T
from controller.store import audit
from controller.store.models import Event
from controller.timefmt import iso_utc, utcnow

logger = logging.getLogger(__name__)

#: Columns of every export, in order: the public event fields (docs/internals.md "Events and the audit
#: chain") plus actor and score.
EXPORT_COLUMNS = ("seq", "time", "type", "reason", "method", "user", "door", "actor", "score", "detail")

#: ``result`` filter values and the event type each one selects.
RESULT_TYPES = {"granted": EventType.ACCESS_GRANTED, "denied": EventType.ACCESS_DENIED}

#: Characters that make a spreadsheet treat a cell as a formula (OWASP CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

MAX_PAGE = 1000
DEFAULT_BATCH = 500
#: Most ``time`` index entries the ``since`` id bound reads (see :func:`_since_id_bound`).
SINCE_BOUND_SCAN = 20_000


@dataclass(frozen=True)
class EventFilter:
    """Filters shared by queries and exports; ``None`` means "any".

    ``since``/``until`` are aware datetimes (``since`` inclusive, ``until`` exclusive);
    ``user`` a person code; ``result`` ``granted``/``denied``; ``type`` an exact
    type or a family ending in ``.*`` (``admin.*``); ``door`` a door's name (issue 16).
    """

    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    result: str | None = None
    reason: str | None = None
    method: str | None = None
    type: str | None = None
    door: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The filters that are set, as text (written into export headers)."""
        out: dict[str, str] = {}
        for key, value in vars(self).items():
            if value is not None:
                out[key] = iso_utc(value) if isinstance(value, datetime) else str(value)
        return out


def _since_id_bound(since: str) -> ScalarSelect[Any]:
    """``min(id)`` of the events at or after ``since`` when fewer than :data:`SINCE_BOUND_SCAN` are, else 0.

    Every event with ``time >= since`` has ``id >=`` this value (it is the minimum over exactly those
    rows, or 0), so adding ``id >= bound`` never changes a result. It lets a filter on ``(type, id)`` or
    ``(user_code, id)`` start at the window instead of walking that person's or type's whole history
    (denials in the last 24 h: 72 ms -> 1 ms at 1,000,000 events). The bound reads at most
    :data:`SINCE_BOUND_SCAN` entries of the covering ``time`` index; wider windows get 0 (no bound).
    """
    window = select(Event.id).where(Event.time >= since).limit(SINCE_BOUND_SCAN).subquery()
    return (
        select(case((func.count() < SINCE_BOUND_SCAN, func.min(window.c.id)), else_=0))
        .select_from(window)
        .scalar_subquery()
    )


def _apply(stmt: Select[Any], f: EventFilter) -> Select[Any]:
    """Add ``f``'s conditions to ``stmt`` as bound parameters."""
    if f.since is not None:
        since = iso_utc(f.since)
        stmt = stmt.where(Event.time >= since, Event.id >= _since_id_bound(since))
    if f.until is not None:
        stmt = stmt.where(Event.time < iso_utc(f.until))
    if f.user is not None:
        stmt = stmt.where(Event.user_code == f.user)
    if f.result is not None:
        if f.result not in RESULT_TYPES:
            raise InvalidInput(T("result must be 'granted' or 'denied'"))
        stmt = stmt.where(Event.type == RESULT_TYPES[f.result])
    if f.reason is not None:
        stmt = stmt.where(Event.reason == f.reason)
    if f.method is not None:
        stmt = stmt.where(Event.method == f.method)
    if f.type is not None:
        if f.type.endswith("*"):
            # A family like "admin.*": a range on the (type, id) index; LIKE would not use it.
            prefix = f.type[:-1]
            if not prefix:
                raise InvalidInput(T("type '*' matches everything; leave the type filter out instead"))
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            stmt = stmt.where(Event.type >= prefix, Event.type < upper)
        else:
            stmt = stmt.where(Event.type == f.type)
    if f.door is not None:
        stmt = stmt.where(Event.door == f.door)
    return stmt


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(T("limit must be between 1 and {max}", max=MAX_PAGE))
    return limit


def build_query(
    f: EventFilter, *, before_id: int | None = None, after_id: int | None = None, newest_first: bool = True
) -> Select[tuple[Event]]:
    """The ``SELECT`` for one page of events matching ``f`` (no ``LIMIT``); used by tests for EXPLAIN."""
    stmt = _apply(select(Event), f)
    if before_id is not None:
        stmt = stmt.where(Event.id < before_id)
    if after_id is not None:
        stmt = stmt.where(Event.id > after_id)
    return stmt.order_by(Event.id.desc() if newest_first else Event.id.asc())


def query_events(
    session: Session,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    user: str | None = None,
    result: str | None = None,
    reason: str | None = None,
    method: str | None = None,
    type: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[Event]:
    """One page of events, newest first.

    The next page is ``before_id=<id of the last event returned>``. ``limit``
    (default 50) must be 1..1000. Raises :class:`InvalidInput` for an unknown
    ``result`` or a bad limit.
    """
    f = EventFilter(since, until, user, result, reason, method, type)
    stmt = build_query(f, before_id=before_id).limit(_check_limit(limit))
    return list(session.scalars(stmt))


def iter_events(
    session: Session,
    filters: EventFilter | None = None,
    *,
    oldest_first: bool = True,
    batch_size: int = DEFAULT_BATCH,
    limit: int | None = None,
) -> Iterator[Event]:
    """Every event matching ``filters``, fetched ``batch_size`` (default 500) at a time.

    Oldest first by default (chain order, as exports want). Each batch is a fresh
    keyset query, so memory stays flat for any log size as long as the caller does
    not keep the events. ``limit`` (default none) stops after that many events.
    """
    f = filters or EventFilter()
    last_id: int | None = None
    remaining = limit
    while remaining is None or remaining > 0:
        size = batch_size if remaining is None else min(batch_size, remaining)
        stmt = build_query(
            f,
            after_id=last_id if oldest_first else None,
            before_id=None if oldest_first else last_id,
            newest_first=not oldest_first,
        ).limit(size)
        batch = list(session.scalars(stmt))
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id
        if remaining is not None:
            remaining -= len(batch)
        if len(batch) < size:
            return
        # The session's identity map holds weak references: events of a finished batch
        # are freed as soon as the caller drops them.
        del batch


def public_fields(event: Event) -> dict[str, Any]:
    """The export fields of ``event`` (:data:`EXPORT_COLUMNS`); ``user`` is the person's code, ``detail`` the
    event's detail object (codes and figures; an admin's reason for a lockdown) or ``None``."""
    values = audit.event_values(event)
    fields = {name: values[name] for name in EXPORT_COLUMNS}
    fields["detail"] = json.loads(fields["detail"]) if fields["detail"] else None
    return fields


def csv_cell(value: object) -> str:
    """``value`` as CSV cell text, made inert for spreadsheets (T6.12).

    ``None`` is the empty string; a detail object is its compact JSON text. Text starting with ``= + - @``, TAB or CR gets a
    leading ``'`` so Excel/LibreOffice show it as text instead of evaluating it.
    """
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False) if isinstance(value, dict) \
        else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _anchor_text(anchor: tuple[int, bytes | str] | None) -> tuple[int, str]:
    if anchor is None:
        return 0, audit.GENESIS_MAC.hex()  # empty chain: seq 0 and the chain's starting MAC
    seq, mac = anchor
    return int(seq), mac.hex() if isinstance(mac, (bytes, bytearray)) else str(mac)


#: The words that start the anchor column's name in a CSV export (``kunci audit verify`` finds them there).
ANCHOR_COLUMN_PREFIX = "kunci anchor"


@dataclass(frozen=True)
class ExportHead:
    """What an export says about itself: the chain head to keep off the device (``seq`` 0 and the chain's
    starting MAC for an empty chain), when it was made, its filters, and how many matching events were
    left out because they are not sealed yet (``seq`` NULL: no MAC vouches for them)."""

    seq: int
    mac: str
    exported_at: str
    filters: dict[str, str]
    unsealed_left_out: int

    def column(self) -> str:
        """The CSV export's anchor column name:
        ``kunci anchor seq=N mac=HEX exported_at=T unsealed_left_out=K[ filters k=v ...]``."""
        text = (f"{ANCHOR_COLUMN_PREFIX} seq={self.seq} mac={self.mac} exported_at={self.exported_at} "
                f"unsealed_left_out={self.unsealed_left_out}")
        if self.filters:
            text += " filters " + " ".join(f"{k}={v}" for k, v in sorted(self.filters.items()))
        return text

    def json(self) -> dict[str, Any]:
        """The JSON-lines export's first line (an object; every other line is an event)."""
        return {
            "anchor": {"seq": self.seq, "mac": self.mac},
            "exported_at": self.exported_at,
            "filters": self.filters,
            "unsealed_left_out": self.unsealed_left_out,
            "columns": list(EXPORT_COLUMNS),
        }


def count_unsealed(session: Session, filters: EventFilter | None = None) -> int:
    """How many events matching ``filters`` are not sealed (``seq`` NULL); exports leave them out."""
    stmt = _apply(select(func.count()).select_from(Event), filters or EventFilter()).where(Event.seq.is_(None))
    return int(session.scalar(stmt) or 0)


def export_head(
    session: Session, filters: EventFilter | None = None, *, anchor: tuple[int, bytes | str] | None,
    now: datetime | None = None,
) -> ExportHead:
    """The :class:`ExportHead` of an export of ``filters`` made ``now`` (default: the clock) at chain head
    ``anchor`` (``audit.head(session)``, read in the same transaction as the rows)."""
    seq, mac = _anchor_text(anchor)
    f = filters or EventFilter()
    return ExportHead(seq, mac, iso_utc(now or utcnow()), f.as_dict(), count_unsealed(session, f))


def _sealed_events(session: Session, f: EventFilter, limit: int | None) -> Iterator[Event]:
    """The sealed events matching ``f``, oldest first (an unsealed row may still be read by the log page,
    never exported: no MAC vouches for it)."""
    for event in iter_events(session, f, limit=limit):
        if event.seq is not None:
            yield event


def csv_chunks(
    session: Session, head: ExportHead, filters: EventFilter | None = None, *, limit: int | None = None,
    chunk_rows: int = 200,
) -> Generator[str, None, int]:
    """The CSV export as text chunks of ``chunk_rows`` (default 200) rows.

    The first row is the header that ``csv.DictReader`` and pandas read as column names: the columns
    :data:`EXPORT_COLUMNS`, then one more whose *name* is the anchor (:meth:`ExportHead.column`); every
    event row leaves that last cell empty, so the file is rectangular. No comment line. Every cell goes
    through :func:`csv_cell`.
    """
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow([*EXPORT_COLUMNS, csv_cell(head.column())])
    n = 0
    for n, event in enumerate(_sealed_events(session, filters or EventFilter(), limit), start=1):
        fields = public_fields(event)
        writer.writerow([*(csv_cell(fields[c]) for c in EXPORT_COLUMNS), ""])
        if n % chunk_rows == 0:
            yield buf.getvalue()
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue()
    return n


def json_chunks(
    session: Session, head: ExportHead, filters: EventFilter | None = None, *, limit: int | None = None,
    chunk_rows: int = 200,
) -> Generator[str, None, int]:
    """The JSON-lines export as text chunks: first :meth:`ExportHead.json`, then one sealed event per line
    with the fields :data:`EXPORT_COLUMNS`."""
    chunk = [json.dumps(head.json(), sort_keys=True, ensure_ascii=True) + "\n"]
    n = 0
    for n, event in enumerate(_sealed_events(session, filters or EventFilter(), limit), start=1):
        chunk.append(json.dumps(public_fields(event), ensure_ascii=True) + "\n")
        if len(chunk) >= chunk_rows:
            yield "".join(chunk)
            chunk.clear()
    if chunk:
        yield "".join(chunk)
    return n


def _export(chunks: Any, session: Session, out: TextIO, filters: EventFilter | None,
            anchor: tuple[int, bytes | str] | None, limit: int | None, now: datetime | None) -> int:
    """Write the export that ``chunks`` makes to ``out``; the number of events (the generator's return value)."""
    head = export_head(session, filters, anchor=anchor, now=now)
    gen = chunks(session, head, filters, limit=limit)
    while True:
        try:
            out.write(next(gen))
        except StopIteration as stop:
            return int(stop.value)


def export_csv(
    session: Session,
    out: TextIO,
    filters: EventFilter | None = None,
    *,
    anchor: tuple[int, bytes | str] | None,
    limit: int | None = None,
    now: datetime | None = None,
) -> int:
    """Write matching sealed events (oldest first) to ``out`` as CSV (:func:`csv_chunks`); returns the number
    of events (:func:`export_head` says how many unsealed ones were left out)."""
    count = _export(csv_chunks, session, out, filters, anchor, limit, now)
    logger.info("exported %d events as CSV", count)
    return count


def export_json(
    session: Session,
    out: TextIO,
    filters: EventFilter | None = None,
    *,
    anchor: tuple[int, bytes | str] | None,
    limit: int | None = None,
    now: datetime | None = None,
) -> int:
    """Write matching sealed events (oldest first) to ``out`` as JSON lines (:func:`json_chunks`); returns
    the number of events."""
    count = _export(json_chunks, session, out, filters, anchor, limit, now)
    logger.info("exported %d events as JSON lines", count)
    return count
