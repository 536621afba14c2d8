"""Retention: move the oldest sealed events into verifiable, minimised archive files (docs/backup.md).

An archive is ``DATA/archive/events-<firstseq>-<lastseq>.jsonl.gz`` (seqs zero-padded
to 10 digits so a directory listing is in chain order): gzip'd JSON lines. Line 1 is
the header::

    {"kunci_archive": 1, "first_seq": F, "last_seq": L, "count": L-F+1,
     "start": {"seq": F-1, "mac": HEX}, "end": {"seq": L, "mac": HEX},
     "created_at": ISO, "cutoff": ISO, "hmac": HEX}

``start`` is the MAC of the event before the first archived one (genesis = 32
zero bytes at seq 0); ``end`` is the last archived event's MAC, which the next
archive's ``start`` - or the live log's first event - chains from. ``hmac`` is
``HMAC(audit_key, "kunci-archive-header-v1\\0" || canonical header without hmac)``.
Then one line per event: ``seq, time, type, reason, method, user, door, actor,
score, detail`` (``detail`` as the stored JSON text) and ``mac`` (hex).

Minimisation: events carry person codes only (never names, by construction).
Digit runs that look like card or identity numbers - 13 or more digits, optionally
separated by single spaces or dashes (Luhn-valid or not), US SSN-like
``123-45-6789`` and UK NINO-like ``AB123456C`` - are replaced by ``#`` in the
free-text fields ``detail`` and ``actor``.

Verifiability: masking changes the bytes the chain MAC covers, so a masked event
cannot be re-MACed. Such a line carries ``"masked": [fields]`` and
``"amac": HMAC(audit_key, "kunci-archive-masked-v1\\0" || prev_mac || mac ||
canonical(masked event))``, written by the archiver after it re-verified the
original event. The verifier re-MACs every unmasked event, checks the ``amac`` of
every masked one, and keeps the chain going with the stored ``mac`` - whose
authenticity the next event's MAC (or the next archive / the live log) confirms.
The honest limit: for a masked event the tie between the masked text and the
original is the archiver's attestation under the audit key, not a recomputation.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import logging
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from controller.store import audit
from controller.store.db import session_factory
from controller.errors import InvalidInput, StoreError
from controller.fileio import atomic_writer
from controller.store.models import Event
from controller.timefmt import iso_utc, utcnow

logger = logging.getLogger(__name__)

#: Events younger than this are never archived, whatever ``store.retention_days`` says (security.md S11).
MIN_AGE = timedelta(hours=120)
ARCHIVE_VERSION = 1
ARCHIVE_DIR_MODE = 0o750
ARCHIVE_FILE_MODE = 0o640
FILE_PATTERN = re.compile(r"^events-(\d+)-(\d+)\.jsonl\.gz$")
_PUBLIC = ("seq", "time", "type", "reason", "method", "user", "door", "actor", "score", "detail")
_MASKED_LABEL = b"kunci-archive-masked-v1\x00"
_HEADER_LABEL = b"kunci-archive-header-v1\x00"
_BATCH = 2000

# 13+ digits, single space/dash separators allowed (card numbers, 16-digit national IDs, long account numbers).
_LONG_DIGITS = re.compile(r"(?<![0-9])[0-9](?:[ -]?[0-9]){12,}(?![0-9])")
_SSN_LIKE = re.compile(r"(?<![0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}(?![0-9])")
_NINO_LIKE = re.compile(r"(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Za-ceghj-pr-tw-z]{2}[0-9]{6}[A-Da-d](?![A-Za-z0-9])")


# --- masking -----------------------------------------------------------------------------------------


def luhn_valid(digits: str) -> bool:
    """True if the digit string passes the Luhn check (payment card numbers do)."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return bool(digits) and total % 10 == 0


def _hash_out(match: re.Match[str]) -> str:
    return re.sub(r"[0-9A-Za-z]", "#", match.group(0))


def mask_text(text: str) -> str:
    """``text`` with card/identity-number-like runs replaced by ``#`` (separators kept)."""
    for pattern in (_LONG_DIGITS, _SSN_LIKE, _NINO_LIKE):
        text = pattern.sub(_hash_out, text)
    return text


def _mask_value(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        text = str(value)
        masked = mask_text(text)
        return value if masked == text else masked
    if isinstance(value, list):
        return [_mask_value(v) for v in value]
    if isinstance(value, dict):
        return {mask_text(str(k)): _mask_value(v) for k, v in value.items()}
    return value


def mask_detail(detail: str | None) -> str | None:
    """The stored detail JSON text with numbers masked; the same text object when nothing changed.

    Works on the parsed JSON so the result stays valid JSON (a long integer becomes
    a string of ``#``); text that is not JSON is masked as plain text.
    """
    if detail is None:
        return None
    try:
        parsed = json.loads(detail)
    except ValueError:
        masked_text = mask_text(detail)
        return detail if masked_text == detail else masked_text
    masked = _mask_value(parsed)
    if masked == parsed:
        return detail
    return json.dumps(masked, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


# --- file format helpers ------------------------------------------------------------------------------


def archive_dir(root: Path) -> Path:
    """``DATA/archive``."""
    return root / "archive"


def archive_name(first: int, last: int) -> str:
    """``events-<first>-<last>.jsonl.gz`` with 10-digit seqs."""
    return f"events-{first:010d}-{last:010d}.jsonl.gz"


def list_archives(directory: Path) -> list[tuple[int, int, Path]]:
    """``(first_seq, last_seq, path)`` of every archive file in ``directory``, in seq order."""
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        m = FILE_PATTERN.match(path.name)
        if m and path.is_file():
            found.append((int(m.group(1)), int(m.group(2)), path))
    return sorted(found)


def _canon(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def header_hmac(key: bytes, header: dict[str, Any]) -> str:
    """The ``hmac`` of an archive header (every field but ``hmac``)."""
    body = {k: v for k, v in header.items() if k != "hmac"}
    return hmac.new(key, _HEADER_LABEL + _canon(body), hashlib.sha256).hexdigest()


def masked_mac(key: bytes, prev: bytes, mac: bytes, event: dict[str, Any]) -> bytes:
    """The archiver's attestation for a masked event (see the module docstring)."""
    return hmac.new(key, _MASKED_LABEL + prev + mac + audit.canonical(event), hashlib.sha256).digest()


# --- verification ---------------------------------------------------------------------------------------


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
    live log's :class:`~controller.store.audit.VerifyResult` (``None`` when an archive
    failed first). ``overlap``: events archived but still in the live log (an
    archive run was interrupted before its commit; the next run removes them).
    """

    ok: bool
    archives: list[ArchiveSummary]
    archived_events: int
    live: audit.VerifyResult | None
    problem: str | None = None
    first_bad_seq: int | None = None
    archive: str | None = None
    overlap: int = 0
    notes: list[str] = field(default_factory=list)


class _Broken(Exception):
    def __init__(self, seq: int | None, problem: str) -> None:
        super().__init__(problem)
        self.seq = seq
        self.problem = problem


def read_archive(path: Path) -> Iterator[dict[str, Any]]:
    """Yield the header, then each event line, of the archive ``path`` (raises ``_Broken`` on damage)."""
    try:
        with gzip.open(path, "rt", encoding="ascii") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    obj = json.loads(line)
                except ValueError:
                    raise _Broken(None, f"line {number} is not valid JSON") from None
                if not isinstance(obj, dict):
                    raise _Broken(None, f"line {number} is not a JSON object")
                yield obj
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise _Broken(None, f"the file is damaged ({exc.__class__.__name__})") from None


def _anchor_of(obj: Any) -> tuple[int, bytes]:
    try:
        seq, mac = int(obj["seq"]), bytes.fromhex(obj["mac"])
    except (KeyError, TypeError, ValueError):
        raise _Broken(None, "the header has a malformed anchor") from None
    if len(mac) != 32:
        raise _Broken(None, "the header has a malformed anchor")
    return seq, mac


def _check_archive(
    path: Path, key: bytes, prev_end: tuple[int, bytes], want: dict[int, bytes | None],
    anchor: tuple[int, str] | None,
) -> tuple[dict[str, Any], int]:
    """Verify one archive chained after ``prev_end``; fills ``want[seq]`` with MACs asked for."""
    lines = read_archive(path)
    header = next(lines, None)
    if header is None or header.get("kunci_archive") != ARCHIVE_VERSION:
        raise _Broken(None, "no valid archive header")
    if not hmac.compare_digest(str(header.get("hmac", "")), header_hmac(key, header)):
        raise _Broken(None, "the header does not match its HMAC (edited, or another site's key)")
    start, end = _anchor_of(header.get("start")), _anchor_of(header.get("end"))
    if start != prev_end:
        if prev_end[0] == 0 and start[0] > 0:
            raise _Broken(1, f"starts after seq {start[0]}: events 1..{start[0]} are missing "
                             "(the first archive was deleted)")
        raise _Broken(start[0] + 1, f"start anchor (seq {start[0]}) does not match the end anchor of the "
                                    f"previous archive (seq {prev_end[0]}): an archive is missing or was replaced")
    expected, prev = start[0] + 1, start[1]
    masked = 0
    for event in lines:
        try:
            seq = int(event["seq"])
            mac = bytes.fromhex(event["mac"])
        except (KeyError, TypeError, ValueError):
            raise _Broken(expected, f"seq {expected}: malformed event line") from None
        if seq != expected:
            raise _Broken(expected, f"seq {expected} is missing (line deleted or reordered)")
        fields = {name: event.get(name) for name in _PUBLIC}
        if event.get("masked"):
            masked += 1
            try:
                amac = bytes.fromhex(str(event.get("amac", "")))
            except ValueError:
                amac = b""
            if not hmac.compare_digest(amac, masked_mac(key, prev, mac, fields)):
                raise _Broken(seq, f"seq {seq} (masked) does not match its archive MAC (line edited)")
        elif not hmac.compare_digest(audit.chain_mac(key, prev, fields), mac):
            raise _Broken(seq, f"seq {seq} does not match its MAC (line edited, or a masked event before it was)")
        if seq in want:
            want[seq] = mac
        if anchor is not None and seq == anchor[0] and mac.hex() != anchor[1].lower():
            raise _Broken(seq, f"seq {seq} differs from the exported anchor (log rewritten)")
        prev, expected = mac, seq + 1
    if (expected - 1, prev) != end or header.get("count") != end[0] - start[0]:
        raise _Broken(expected, f"ends at seq {expected - 1}, but its header says seq {end[0]} "
                                "(lines deleted or the MAC of the last line changed)")
    return header, masked


def verify_all(
    session: Session, key: bytes, directory: Path, *, anchor: tuple[int, str] | None = None, batch: int = 5000
) -> FullVerifyResult:
    """Verify the archives in ``directory`` in order and then the live log from the last end anchor.

    Each archive's start anchor must equal the previous archive's end anchor (the
    first starts at genesis); every event is re-MACed (masked ones: their ``amac``).
    The live log is then verified with :func:`controller.store.audit.verify` starting from
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
        except _Broken as broken:
            return FullVerifyResult(False, summaries, total, None, broken.problem, broken.seq, path.name)
        prev_end = _anchor_of(header["end"])
        if (first, last) != (int(header["first_seq"]), prev_end[0]):
            return FullVerifyResult(False, summaries, total, None, "the file name does not match its header",
                                    first, path.name)
        summaries.append(ArchiveSummary(path.name, first, last, masked))
        total += last - first + 1
    if not files:
        pruned = audit.pruned_start(session)
        if pruned is not None:
            return FullVerifyResult(False, [], 0, None, f"the live log starts after seq {pruned[0]} but there is "
                                    f"no archive in {directory} (archive files deleted or moved)", 1, None)
        live = audit.verify(session, key, anchor=anchor, batch=batch)
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
    live = audit.verify(session, key, anchor=anchor, start=(start_seq, start_mac.hex()), batch=batch)
    notes = [f"{overlap} archived events are still in the live log (an archive run was interrupted); "
             "the next 'kunci audit archive' removes them"] if overlap else []
    return FullVerifyResult(live.ok, summaries, total, live, live.problem, live.first_bad_seq,
                            overlap=overlap, notes=notes)


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
    fh.write(json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode("ascii") + b"\n")


def archive_events(engine: Engine, key: bytes, directory: Path, cutoff: datetime, *,
                   now: datetime | None = None) -> ArchiveResult:
    """Move the sealed events older than ``cutoff`` (a whole prefix of the chain) into a new archive file.

    The caller holds :class:`~controller.store.audit.SealerLock`. In one write transaction:
    seal pending events, verify archives + live log (refuse if broken), stream the
    prefix (seq order, stopping at the first event not older than ``cutoff``) into
    a temporary file while re-checking each MAC, fsync, rename to its final name,
    fsync the directory, delete those rows and append ``admin.events_archived``
    (with the end anchor), commit. If the commit fails the file is removed.
    ``cutoff`` later than ``now - 120 h`` is refused (use :func:`cutoff_for`).
    """
    now = now or utcnow()
    if cutoff > now - MIN_AGE:
        raise InvalidInput("events younger than 120 hours are never archived (security.md S11)")
    cut_text = iso_utc(cutoff)
    directory.mkdir(mode=ARCHIVE_DIR_MODE, exist_ok=True)
    final: Path | None = None
    committed = False
    try:
        with session_factory(engine)() as session, session.begin():
            checked = verify_all(session, key, directory)
            if not checked.ok:
                where = f" in {checked.archive}" if checked.archive else ""
                raise StoreError(f"the audit chain is broken{where} at seq {checked.first_bad_seq}: "
                                 f"{checked.problem}; nothing archived")
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
            if first is None or last is None or int(last) < int(first):
                if pruned:  # finish the interrupted run: its event carries the anchor the live log starts from
                    audit.append(session, key, audit.ARCHIVED_EVENT, actor="cli", detail={
                        "file": files[-1][2].name, "first_seq": files[-1][0], "last_seq": start[0],
                        "count": start[0] - files[-1][0] + 1, "recovered": True, "cutoff": cut_text,
                        "end_seq": start[0], "end_mac": start[1].hex(),
                    })
                return ArchiveResult(None, None, None, 0, 0, cutoff, pruned)
            first, last = int(first), int(last)
            if first != start[0] + 1:
                raise StoreError(f"the live log starts at seq {first} but the archives end at seq {start[0]}")
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
            audit.append(session, key, audit.ARCHIVED_EVENT, actor="cli", detail={
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
    except (_Broken, StopIteration):
        raise StoreError(f"archive {path.name} has no readable header") from None


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
                    raise StoreError(f"seq {expected} is missing; nothing archived")
                mac = bytes(row.mac)
                if not hmac.compare_digest(audit.chain_mac(key, prev, row), mac):
                    raise StoreError(f"seq {row.seq} does not match its MAC; nothing archived")
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
            raise StoreError(f"seq {expected} is missing; nothing archived")
    return masked
