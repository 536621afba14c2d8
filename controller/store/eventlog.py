"""Reading the event log: filtered queries in keyset pages, streaming, CSV and JSON-lines export.

Queries are built with the ORM and bound parameters only. Pages are newest first
and keyed on ``events.id`` (``before_id``), so a deep page costs the same as the
first; each filter has an index behind it (``(user_code, id)``, ``(type, id)``,
``time``), see ``docs/internals.md``.

Exports (docs/security.md "Hardening of the processes") carry the public fields only —
:data:`EXPORT_COLUMNS`: person codes, never names — start with the chain head
anchor ``(seq, mac)`` to keep off the device, and in CSV every cell that a
spreadsheet would read as a formula is prefixed with ``'`` (:func:`csv_cell`).
Both stream in batches, so memory stays flat whatever the size of the log.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

from sqlalchemy import ScalarSelect, Select, case, func, select
from sqlalchemy.orm import Session

from controller.core.vocabulary import EventType
from controller.errors import InvalidInput
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
    type or a family ending in ``.*`` (``admin.*``).
    """

    since: datetime | None = None
    until: datetime | None = None
    user: str | None = None
    result: str | None = None
    reason: str | None = None
    method: str | None = None
    type: str | None = None

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
            raise InvalidInput("result must be 'granted' or 'denied'")
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
                raise InvalidInput("type '*' matches everything; leave the type filter out instead")
            upper = prefix[:-1] + chr(ord(prefix[-1]) + 1)
            stmt = stmt.where(Event.type >= prefix, Event.type < upper)
        else:
            stmt = stmt.where(Event.type == f.type)
    return stmt


def _check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
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


def export_csv(
    session: Session,
    out: TextIO,
    filters: EventFilter | None = None,
    *,
    anchor: tuple[int, bytes | str] | None,
    limit: int | None = None,
    now: datetime | None = None,
) -> int:
    """Write matching events (oldest first) to ``out`` as CSV; returns the number of events.

    The first row is one cell ``# kunci events export; anchor seq=N mac=HEX; exported_at=...``
    (the chain head to record off the device; seq 0 and zeros = empty chain), the second the
    column names :data:`EXPORT_COLUMNS`. Every cell goes through :func:`csv_cell`.
    """
    seq, mac = _anchor_text(anchor)
    f = filters or EventFilter()
    writer = csv.writer(out)
    header = f"# kunci events export; anchor seq={seq} mac={mac}; exported_at={iso_utc(now or utcnow())}"
    if f.as_dict():
        header += "; filters " + " ".join(f"{k}={v}" for k, v in sorted(f.as_dict().items()))
    writer.writerow([csv_cell(header)])
    writer.writerow(EXPORT_COLUMNS)
    count = 0
    for event in iter_events(session, f, limit=limit):
        fields = public_fields(event)
        writer.writerow([csv_cell(fields[c]) for c in EXPORT_COLUMNS])
        count += 1
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
    """Write matching events (oldest first) to ``out`` as JSON lines; returns the number of events.

    The first line is ``{"anchor": {"seq": N, "mac": "HEX"}, "exported_at": ..., "filters": {...},
    "columns": [...]}``; each following line is one event with the fields :data:`EXPORT_COLUMNS`.
    """
    seq, mac = _anchor_text(anchor)
    f = filters or EventFilter()
    first = {
        "anchor": {"seq": seq, "mac": mac},
        "exported_at": iso_utc(now or utcnow()),
        "filters": f.as_dict(),
        "columns": list(EXPORT_COLUMNS),
    }
    out.write(json.dumps(first, sort_keys=True, ensure_ascii=True) + "\n")
    count = 0
    for event in iter_events(session, f, limit=limit):
        out.write(json.dumps(public_fields(event), ensure_ascii=True) + "\n")
        count += 1
    logger.info("exported %d events as JSON lines", count)
    return count
