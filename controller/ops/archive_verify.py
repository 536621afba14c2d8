"""Verify the archives and the live log as one chain (docs/backup.md): every archive's header MAC, every
event's MAC or masked attestation (:mod:`controller.ops.archive_format`), the seams between archives, and the
live log from the last archive's end anchor. Read-only.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controller.i18n import T
from controller.ops.archive_format import (
    ARCHIVE_VERSION,
    PUBLIC_FIELDS,
    ArchiveBroken,
    header_hmac,
    list_archives,
    masked_mac,
    read_archive,
)
from controller.store import audit, audit_verify
from controller.store.models import Event


@dataclass(frozen=True)
class ArchiveSummary:
    """One verified archive file."""

    name: str
    first_seq: int
    last_seq: int
    masked: int


@dataclass(frozen=True)
class FullVerifyResult:
    """Outcome of :func:`verify_all`: the archives in order, then the live log from their end anchor.

    ``problem``/``first_bad_seq``/``archive`` name the first broken link (``archive``
    is the file name when the problem is in or between archives). ``live`` is the
    live log's :class:`~controller.store.audit_verify.VerifyResult` (``None`` when an archive
    failed first). ``overlap``: events archived but still in the live log (an
    archive run was interrupted before its commit; the next run removes them).
    """

    ok: bool
    archives: list[ArchiveSummary]
    archived_events: int
    live: audit_verify.VerifyResult | None
    problem: str | None = None
    first_bad_seq: int | None = None
    archive: str | None = None
    overlap: int = 0
    notes: list[str] = field(default_factory=list)


def _anchor_of(obj: Any) -> tuple[int, bytes]:
    try:
        seq, mac = int(obj["seq"]), bytes.fromhex(obj["mac"])
    except (KeyError, TypeError, ValueError):
        raise ArchiveBroken(None, "the header has a malformed anchor") from None
    if len(mac) != 32:
        raise ArchiveBroken(None, "the header has a malformed anchor")
    return seq, mac


def _check_archive(
    path: Path, key: bytes, prev_end: tuple[int, bytes], want: dict[int, bytes | None],
    anchor: tuple[int, str] | None,
) -> tuple[dict[str, Any], int]:
    """Verify one archive chained after ``prev_end``; fills ``want[seq]`` with MACs asked for."""
    lines = read_archive(path)
    header = next(lines, None)
    if header is None or header.get("kunci_archive") != ARCHIVE_VERSION:
        raise ArchiveBroken(None, "no valid archive header")
    if not hmac.compare_digest(str(header.get("hmac", "")), header_hmac(key, header)):
        raise ArchiveBroken(None, "the header does not match its HMAC (edited, or another site's key)")
    start, end = _anchor_of(header.get("start")), _anchor_of(header.get("end"))
    if start != prev_end:
        if prev_end[0] == 0 and start[0] > 0:
            raise ArchiveBroken(1, f"starts after seq {start[0]}: events 1..{start[0]} are missing "
                             "(the first archive was deleted)")
        raise ArchiveBroken(start[0] + 1, f"start anchor (seq {start[0]}) does not match the end anchor of the "
                                    f"previous archive (seq {prev_end[0]}): an archive is missing or was replaced")
    expected, prev = start[0] + 1, start[1]
    masked = 0
    for event in lines:
        try:
            seq = int(event["seq"])
            mac = bytes.fromhex(event["mac"])
        except (KeyError, TypeError, ValueError):
            raise ArchiveBroken(expected, f"seq {expected}: malformed event line") from None
        if seq != expected:
            raise ArchiveBroken(expected, f"seq {expected} is missing (line deleted or reordered)")
        fields = {name: event.get(name) for name in PUBLIC_FIELDS}
        if event.get("masked"):
            masked += 1
            try:
                amac = bytes.fromhex(str(event.get("amac", "")))
            except ValueError:
                amac = b""
            if not hmac.compare_digest(amac, masked_mac(key, prev, mac, fields)):
                raise ArchiveBroken(seq, f"seq {seq} (masked) does not match its archive MAC (line edited)")
        elif not hmac.compare_digest(audit.chain_mac(key, prev, fields), mac):
            raise ArchiveBroken(seq, f"seq {seq} does not match its MAC (line edited, or a masked event before it was)")
        if seq in want:
            want[seq] = mac
        if anchor is not None and seq == anchor[0] and mac.hex() != anchor[1].lower():
            raise ArchiveBroken(seq, f"seq {seq} differs from the exported anchor (log rewritten)")
        prev, expected = mac, seq + 1
    if (expected - 1, prev) != end or header.get("count") != end[0] - start[0]:
        raise ArchiveBroken(expected, f"ends at seq {expected - 1}, but its header says seq {end[0]} "
                                "(lines deleted or the MAC of the last line changed)")
    return header, masked


def verify_all(
    session: Session, key: bytes, directory: Path, *, anchor: tuple[int, str] | None = None, batch: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> FullVerifyResult:
    """Verify the archives in ``directory`` in order and then the live log from the last end anchor.

    Each archive's start anchor must equal the previous archive's end anchor (the
    first starts at genesis); every event is re-MACed (masked ones: their ``amac``).
    The live log is then verified with :func:`controller.store.audit_verify.verify` starting from
    the last end anchor. ``anchor`` is an exported head checked wherever its seq is.
    """
    files = list_archives(directory)
    first_live = session.scalar(select(func.min(Event.seq)))
    want: dict[int, bytes | None] = {}
    if first_live is not None and int(first_live) > 1:
        want[int(first_live) - 1] = None
    summaries: list[ArchiveSummary] = []
    prev_end: tuple[int, bytes] = (0, audit.GENESIS_MAC)
    total = 0
    for first, last, path in files:
        try:
            header, masked = _check_archive(path, key, prev_end, want, anchor)
        except ArchiveBroken as broken:
            return FullVerifyResult(False, summaries, total, None, broken.problem, broken.seq, path.name)
        prev_end = _anchor_of(header["end"])
        if (first, last) != (int(header["first_seq"]), prev_end[0]):
            return FullVerifyResult(False, summaries, total, None, "the file name does not match its header",
                                    first, path.name)
        summaries.append(ArchiveSummary(path.name, first, last, masked))
        total += last - first + 1
    if not files:
        pruned = audit_verify.pruned_start(session)
        if pruned is not None:
            return FullVerifyResult(False, [], 0, None, f"the live log starts after seq {pruned[0]} but there is "
                                    f"no archive in {directory} (archive files deleted or moved)", 1, None)
        live = audit_verify.verify(session, key, anchor=anchor, batch=batch, progress=progress)
        return FullVerifyResult(live.ok, [], 0, live, live.problem, live.first_bad_seq)
    overlap = 0
    start_seq = prev_end[0]
    start_mac: bytes | None = prev_end[1]
    if first_live is not None and int(first_live) <= prev_end[0]:
        start_seq = int(first_live) - 1
        start_mac = audit.GENESIS_MAC if start_seq == 0 else want.get(start_seq)
        overlap = prev_end[0] - start_seq
        live_end = session.scalar(select(Event.mac).where(Event.seq == prev_end[0]))
        if start_mac is None or live_end is None or bytes(live_end) != prev_end[1]:
            return FullVerifyResult(False, summaries, total, None, "the live log overlaps the archives but differs "
                                    "from them", prev_end[0], files[-1][2].name)
    assert start_mac is not None
    live = audit_verify.verify(session, key, anchor=anchor, start=(start_seq, start_mac.hex()), batch=batch,
                               progress=progress)
    notes = [str(T("{count} archived events are still in the live log (an archive run was interrupted); the next "
                   "'kunci audit archive' removes them", count=overlap))] if overlap else []
    return FullVerifyResult(live.ok, summaries, total, live, live.problem, live.first_bad_seq,
                            overlap=overlap, notes=notes)
