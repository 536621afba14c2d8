"""Retention: move the oldest sealed events into verifiable, minimised archive files (docs/backup.md).

:func:`archive_events` streams a whole prefix of the chain, re-checking each MAC, into
``DATA/archive/events-<firstseq>-<lastseq>.jsonl.gz`` (format: :mod:`controller.ops.archive_format`;
minimisation: :mod:`controller.ops.archive_mask`), then deletes those rows and records
``admin.events_archived`` in the same transaction. :func:`cutoff_for` turns ``store.retention_days`` into
the cutoff, never younger than :data:`MIN_AGE`. Verification of archives + live log:
:mod:`controller.ops.archive_verify`.
"""

from __future__ import annotations

import gzip
import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from controller.canonical import canonical_bytes
from controller.errors import InvalidInput, StoreError
from controller.fileio import atomic_writer
from controller.i18n import T
from controller.ops.archive_format import (
    ARCHIVE_DIR_MODE,
    ARCHIVE_FILE_MODE,
    ARCHIVE_VERSION,
    ArchiveBroken,
    archive_name,
    header_hmac,
    list_archives,
    masked_mac,
    read_archive,
)
from controller.ops.archive_mask import mask_detail, mask_text
from controller.ops.archive_verify import verify_all
from controller.store import audit, audit_verify
from controller.store.db import session_factory
from controller.store.models import Event, SiteSync
from controller.timefmt import iso_utc, utcnow

logger = logging.getLogger(__name__)

#: Events younger than this are never archived, whatever ``store.retention_days`` says
#: (docs/backup.md "Retention and archives").
MIN_AGE = timedelta(hours=120)
_BATCH = 2000


# --- archiving -----------------------------------------------------------------------------------------


def cutoff_for(now: datetime, *, before: datetime | None, retention_days: int) -> tuple[datetime | None, bool]:
    """The effective cut-off and whether the 120-hour floor moved it earlier.

    ``before`` wins over ``retention_days``; ``retention_days = 0`` without ``before``
    means keep everything (``None``). The cut-off is never later than ``now - 120 h``.
    """
    if before is None:
        if retention_days <= 0:
            return None, False
        before = now - timedelta(days=retention_days)
    floor = now - MIN_AGE
    if before > floor:
        return floor, True
    return before, False


@dataclass(frozen=True)
class ArchiveResult:
    """What :func:`archive_events` did (``path`` None when there was nothing to move)."""

    path: Path | None
    first_seq: int | None
    last_seq: int | None
    count: int
    masked: int
    cutoff: datetime
    pruned_overlap: int = 0


def _write_line(fh: Any, obj: dict[str, Any]) -> None:
    fh.write(canonical_bytes(obj) + b"\n")


def archive_events(engine: Engine, key: bytes, directory: Path, cutoff: datetime, *,
                   now: datetime | None = None, uploaded_only: bool = False) -> ArchiveResult:
    """Move the sealed events older than ``cutoff`` (a whole prefix of the chain) into a new archive file.

    The caller holds :class:`~controller.store.audit.SealerLock`. In one write transaction:
    seal pending events, verify archives + live log (refuse if broken), stream the
    prefix (seq order, stopping at the first event not older than ``cutoff``) into
    a temporary file while re-checking each MAC, fsync, rename to its final name,
    fsync the directory, delete those rows and append ``admin.events_archived``
    (with the end anchor), commit. If the commit fails the file is removed.
    ``cutoff`` later than ``now - 120 h`` is refused (use :func:`cutoff_for`). ``uploaded_only`` (a controller
    linked to a site): events the site has not received yet (after ``site_sync.uploaded_seq``) stay, so the
    site's copy of the chain never has a gap (docs/site.md).
    """
    now = now or utcnow()
    if cutoff > now - MIN_AGE:
        raise InvalidInput(T("events younger than 120 hours are never archived (docs/backup.md)"))
    cut_text = iso_utc(cutoff)
    directory.mkdir(mode=ARCHIVE_DIR_MODE, exist_ok=True)
    final: Path | None = None
    committed = False
    try:
        with session_factory(engine)() as session, session.begin():
            checked = verify_all(session, key, directory)
            if not checked.ok:
                if checked.archive:
                    raise StoreError(T("the audit chain is broken in {archive} at seq {seq}: {problem}; nothing "
                                       "archived", archive=checked.archive, seq=checked.first_bad_seq,
                                       problem=checked.problem))
                raise StoreError(T("the audit chain is broken at seq {seq}: {problem}; nothing archived",
                                   seq=checked.first_bad_seq, problem=checked.problem))
            pruned = 0
            files = list_archives(directory)
            start: tuple[int, bytes] = (0, audit.GENESIS_MAC)
            if files:
                start_text = _read_header(files[-1][2])["end"]
                start = (int(start_text["seq"]), bytes.fromhex(start_text["mac"]))
                if checked.overlap:
                    pruned = int(session.execute(delete(Event).where(Event.seq <= start[0])).rowcount or 0)
            first = session.scalar(select(func.min(Event.seq)))
            stop = session.scalar(select(func.min(Event.seq)).where(Event.seq.is_not(None), Event.time >= cut_text))
            last = (int(stop) - 1) if stop is not None else session.scalar(select(func.max(Event.seq)))
            if uploaded_only and last is not None:
                uploaded = session.scalar(select(SiteSync.uploaded_seq).where(SiteSync.id == 1)) or 0
                last = min(int(last), int(uploaded))
            if first is None or last is None or int(last) < int(first):
                if pruned:  # finish the interrupted run: its event carries the anchor the live log starts from
                    audit.append(session, key, audit_verify.ARCHIVED_EVENT, actor="cli", detail={
                        "file": files[-1][2].name, "first_seq": files[-1][0], "last_seq": start[0],
                        "count": start[0] - files[-1][0] + 1, "recovered": True, "cutoff": cut_text,
                        "end_seq": start[0], "end_mac": start[1].hex(),
                    })
                return ArchiveResult(None, None, None, 0, 0, cutoff, pruned)
            first, last = int(first), int(last)
            if first != start[0] + 1:
                raise StoreError(T("the live log starts at seq {first} but the archives end at seq {end}",
                                   first=first, end=start[0]))
            end_mac = bytes(session.scalar(select(Event.mac).where(Event.seq == last)))
            header: dict[str, Any] = {
                "kunci_archive": ARCHIVE_VERSION,
                "first_seq": first,
                "last_seq": last,
                "count": last - first + 1,
                "start": {"seq": start[0], "mac": start[1].hex()},
                "end": {"seq": last, "mac": end_mac.hex()},
                "created_at": iso_utc(now),
                "cutoff": cut_text,
            }
            header["hmac"] = header_hmac(key, header)
            final = directory / archive_name(first, last)
            with atomic_writer(final, mode=ARCHIVE_FILE_MODE) as raw:
                masked = _write_archive(session, key, raw, header, start[1], first, last)
            session.execute(delete(Event).where(Event.seq >= first, Event.seq <= last))
            audit.append(session, key, audit_verify.ARCHIVED_EVENT, actor="cli", detail={
                "file": final.name, "first_seq": first, "last_seq": last, "count": last - first + 1,
                "masked": masked, "cutoff": cut_text, "end_seq": last, "end_mac": end_mac.hex(),
            })
        committed = True
    finally:
        if final is not None and not committed:
            final.unlink(missing_ok=True)
    logger.info("archived seqs %d..%d to %s (%d masked)", first, last, final, masked)
    return ArchiveResult(final, first, last, last - first + 1, masked, cutoff, pruned)


def _read_header(path: Path) -> dict[str, Any]:
    try:
        return next(read_archive(path))
    except (ArchiveBroken, StopIteration):
        raise StoreError(T("archive {name} has no readable header", name=path.name)) from None


def _write_archive(session: Session, key: bytes, raw: BinaryIO, header: dict[str, Any], prev: bytes,
                   first: int, last: int) -> int:
    """Stream seqs ``first..last`` into ``raw`` (gzip); returns how many were masked."""
    masked = 0
    with gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as fh:
        _write_line(fh, header)
        expected = first
        cursor = first - 1
        while cursor < last:
            rows = session.execute(
                select(Event).where(Event.seq > cursor, Event.seq <= last).order_by(Event.seq).limit(_BATCH)
            ).scalars().all()
            if not rows:
                break
            for row in rows:
                if row.seq != expected or row.mac is None:
                    raise StoreError(T("seq {expected} is missing; nothing archived", expected=expected))
                mac = bytes(row.mac)
                if not hmac.compare_digest(audit.chain_mac(key, prev, row), mac):
                    raise StoreError(T("seq {seq} does not match its MAC; nothing archived", seq=row.seq))
                line: dict[str, Any] = {
                    "seq": row.seq, "time": row.time, "type": row.type, "reason": row.reason,
                    "method": row.method, "user": row.user_code, "door": row.door, "actor": row.actor,
                    "score": row.score, "detail": row.detail,
                }
                changed = []
                for name in ("detail", "actor"):
                    value = line[name]
                    new = mask_detail(value) if name == "detail" else (mask_text(value) if value else value)
                    if new != value:
                        line[name] = new
                        changed.append(name)
                if changed:
                    masked += 1
                    line["masked"] = changed
                    line["amac"] = masked_mac(key, prev, mac, line).hex()
                line["mac"] = mac.hex()
                _write_line(fh, line)
                prev, expected = mac, row.seq + 1
                session.expunge(row)
            cursor = rows[-1].seq
        if expected != last + 1:
            raise StoreError(T("seq {expected} is missing; nothing archived", expected=expected))
    return masked
