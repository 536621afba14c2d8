"""``kunci audit verify``, ``kunci audit head`` and ``kunci audit archive``: check, show and prune the chain.

``verify`` is read-only (it never seals or changes anything). It checks the archives in
``DATA/archive`` (in order, each start anchor against the previous end anchor, every event
re-MACed), then the live log from the last archive's end anchor; any unsealed row (seq NULL) is an
error; and the newest head of the anchor file ``DATA/anchor/heads`` (kept by the daemon outside the
database, :mod:`controller.store.anchor`) must still be in the log with its MAC, else the tail was
truncated or rewritten. ``--anchor SEQ:MAC`` adds a head kept off the device; ``--anchor-from FILE`` a
file of heads collected off the device (published messages, e-mail lines, exports; every one must be in
the log or an archive with its MAC: :func:`controller.store.chain_heads.check_heads`).
Without archives (and on SQLite) it reads the database over a read-only ``sqlite3`` connection and
imports no SQLAlchemy (:mod:`controller.store.chain_check`, docs/performance.md W10); with archives
it takes the session path of :mod:`controller.ops.archive_verify` (the same walk over a session).
``archive`` moves sealed events older than the cut-off into a new archive file (see
:mod:`controller.ops.archive`, docs/backup.md).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from controller.cli.progress import Progress
from controller.config import load_config
from controller.core.vocabulary import EventType
from controller.errors import DataDirError, InvalidInput, StoreError
from controller.i18n import T, _
from controller.paths import DataDir
from controller.store import chain_check, chain_heads, reader
from controller.store.chain_check import (
    GENESIS_MAC,
    KeptHead,
    SqliteReader,
    VerifyResult,
)
from controller.store.chain_heads import CollectedHeads, HeadsCheck
from controller.store.keys import load_audit_key
from controller.timefmt import parse_iso_utc, utcnow

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from controller.config import Config
    from controller.ops.archive_verify import FullVerifyResult

#: ``DATA/archive`` (docs/backup.md; :func:`controller.ops.archive_format.archive_dir`): archives there send
#: ``audit verify`` down the session path, which checks them.
ARCHIVE_DIR = "archive"


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``audit verify`` and ``audit head``."""
    parser = subparsers.add_parser("audit", parents=[common], help="check the tamper-evident event chain")
    sub = parser.add_subparsers(dest="audit_command", metavar="ACTION")
    sub.required = True
    check = sub.add_parser(
        "verify",
        parents=[common],
        help="verify the whole chain, read-only: broken links, unsealed rows, a truncated tail (exit 1 if any)",
    )
    given = check.add_mutually_exclusive_group()
    given.add_argument(
        "--anchor",
        metavar="SEQ:MAC",
        help="a chain head exported earlier (e.g. from an export header); detects a truncated log",
    )
    given.add_argument(
        "--anchor-from",
        metavar="FILE",
        help="check every head collected off the device in FILE ('-' = stdin): published messages (MQTT "
        "'mosquitto_sub -v' lines, webhook bodies), e-mail 'Log head: seq=N mac=HEX' lines, an export, a copy "
        "of DATA/anchor/heads, SEQ:MAC; one per line (docs/alerts.md)",
    )
    check.set_defaults(func=run_verify)
    show = sub.add_parser("head", parents=[common], help="print the chain head (seq and MAC) to keep off the device")
    show.set_defaults(func=run_head)
    arch = sub.add_parser(
        "archive",
        parents=[common],
        help="move sealed events older than the cut-off into DATA/archive (daemon stopped; never < 120 h old)",
    )
    arch.add_argument(
        "--before",
        metavar="DATE",
        help="cut-off: YYYY-MM-DD (midnight, site time zone) or an ISO time with offset "
        "(default: now - store.retention_days)",
    )
    arch.set_defaults(func=run_archive)


def _open(datadir: DataDir) -> Engine:
    from controller.store.db import open_database

    config = _config(datadir)
    return open_database(datadir, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms)


def _config(datadir: DataDir) -> Config:
    if not datadir.root.is_dir():
        raise DataDirError(T("{path} does not exist; run 'kunci init' first", path=datadir.root))
    return load_config(datadir.config_file)


#: ``seq=N mac=HEX`` inside longer text (an export's anchor column, an e-mail's head line).
_NAMED_HEAD = re.compile(r"\bseq=(\d+)\s+mac=([0-9A-Fa-f]+)\b")


def parse_anchor(text: str) -> tuple[int, str]:
    """``"SEQ:MAC"`` (also ``seq=SEQ mac=MAC``, or a CSV export's anchor column name pasted whole:
    ``kunci anchor seq=SEQ mac=MAC exported_at=...``) -> ``(seq, mac_hex)``; InvalidInput if malformed."""
    named = _NAMED_HEAD.search(text)
    if named:
        text = f"{named.group(1)}:{named.group(2)}"
    cleaned = text.replace("seq=", "").replace("mac=", "").replace(" ", ":").strip(":")
    parts = [p for p in cleaned.split(":") if p]
    if len(parts) != 2 or not parts[0].isdigit():
        raise InvalidInput(T("--anchor must look like SEQ:MAC (e.g. 1234:9f2c...)"))
    mac = parts[1].lower()
    try:
        if len(bytes.fromhex(mac)) != 32:
            raise ValueError
    except ValueError:
        raise InvalidInput(T("--anchor MAC must be 64 hexadecimal characters")) from None
    return int(parts[0]), mac


def read_collected(name: str) -> CollectedHeads:
    """The heads in the file ``name`` (``-``: standard input) given with ``--anchor-from``; InvalidInput
    naming the file and line if a line is not a head (nothing is verified then)."""
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InvalidInput(T("cannot read {path}: {reason}", path=name, reason=exc.strerror or exc)) from None
    return chain_heads.parse_collected(text, _("standard input") if name == "-" else name)


def _given_anchor(args: argparse.Namespace) -> tuple[int, str] | None:
    """The head given with ``--anchor`` (None without it)."""
    return parse_anchor(args.anchor) if getattr(args, "anchor", None) else None


def _archived_macs(directory: Path) -> Callable[[set[int]], Mapping[int, bytes]]:
    """``lookup(seqs) -> {seq: mac}`` over the archive files in ``directory`` (verified before it is called)."""
    from controller.ops.archive_format import list_archives, read_archive

    def lookup(seqs: set[int]) -> Mapping[int, bytes]:
        found: dict[int, bytes] = {}
        for first, last, path in list_archives(directory):
            if not any(first <= seq <= last for seq in seqs):
                continue
            lines = read_archive(path)
            next(lines, None)  # the header
            for event in lines:
                if event.get("seq") in seqs:
                    found[int(event["seq"])] = bytes.fromhex(event["mac"])
        return found

    return lookup


@dataclass(frozen=True)
class _Outcome:
    """What the report needs from either path: the live result (None if an archive failed first), the
    first problem and its seq, the kept head's problem, whether the daemon ever ran, the archives."""

    live: VerifyResult | None
    problem: str | None
    bad: int | None
    kept_problem: str | None
    ran_daemon: bool
    full: FullVerifyResult | None = None
    heads: HeadsCheck | None = None


def _verify_fast(conn: Any, key: bytes, given: tuple[int, str] | None, kept: KeptHead | None,
                 collected: CollectedHeads | None) -> _Outcome | None:
    """The live chain over a read-only ``sqlite3`` connection (no archives); None if the log was pruned
    (the session path names the missing archives)."""
    rows = SqliteReader(conn)
    if chain_check.pruned_start(rows) is not None:
        return None
    first_live = rows.all(chain_check.FIRST_SQL, {})[0][0]
    archived_kept = kept is not None and first_live is not None and kept.seq < int(first_live)
    check = given if given is not None else ((kept.seq, kept.mac) if archived_kept and kept is not None else None)
    progress = Progress("kunci audit verify", unit=_("events"))
    live = chain_check.verify_chain(rows, key, anchor=check, progress=progress.add)
    progress.done()
    kept_problem = chain_check.compare_kept(rows, kept) if kept is not None and not archived_kept else None
    heads = chain_heads.check_heads(rows, collected.heads) if collected is not None and live.ok else None
    ran = rows.all("SELECT id FROM events WHERE type = :type LIMIT 1", {"type": str(EventType.DAEMON_STARTED)})
    return _Outcome(live, live.problem, live.first_bad_seq, kept_problem, bool(ran), heads=heads)


def _verify_session(datadir: DataDir, key: bytes, given: tuple[int, str] | None, kept: KeptHead | None,
                    collected: CollectedHeads | None) -> _Outcome:
    """Archives and the live chain through SQLAlchemy (:func:`controller.ops.archive_verify.verify_all`)."""
    from sqlalchemy import func, select

    from controller.ops import archive_format, archive_verify
    from controller.store import anchor as anchors
    from controller.store import audit_verify
    from controller.store.db import session_factory
    from controller.store.models import Event

    engine = _open(datadir)
    try:
        with session_factory(engine, readonly=True)() as session, session.begin():
            first_live = session.scalar(select(func.min(Event.seq)))
            # A kept head older than the live log (archived since) is checked inside the archives.
            archived_kept = kept is not None and first_live is not None and kept.seq < int(first_live)
            check_in_archive = given if given is not None else (
                (kept.seq, kept.mac) if archived_kept and kept is not None else None)
            progress = Progress("kunci audit verify", unit=_("events"))
            full = archive_verify.verify_all(session, key, archive_format.archive_dir(datadir.root),
                                             anchor=check_in_archive, progress=progress.add)
            progress.done()
            kept_problem = None
            if kept is not None and not archived_kept:
                kept_problem = anchors.compare(session, anchors.Head(kept.seq, kept.mac, kept.time))
            heads = None
            if collected is not None and full.ok:  # archived heads: looked up in the archives just verified
                heads = chain_heads.check_heads(audit_verify.SessionReader(session), collected.heads,
                                                _archived_macs(archive_format.archive_dir(datadir.root)))
            ran_daemon = session.scalar(select(Event.id).where(Event.type == EventType.DAEMON_STARTED).limit(1))
    finally:
        engine.dispose()
    return _Outcome(full.live, full.problem, full.first_bad_seq, kept_problem, ran_daemon is not None, full, heads)


def _has_archives(datadir: DataDir) -> bool:
    directory = datadir.root / ARCHIVE_DIR
    return directory.is_dir() and any(directory.iterdir())


def run_verify(args: argparse.Namespace) -> int:
    """Verify, read-only; exit 0 if intact, 1 if broken, unsealed or truncated."""
    datadir = DataDir.resolve(args.data)
    given = _given_anchor(args)
    collected = read_collected(args.anchor_from) if getattr(args, "anchor_from", None) else None
    # The anchor file is read before the database snapshot: a head is appended only after its commit,
    # so a snapshot taken later always holds it (a running daemon cannot cause a false alarm).
    heads = datadir.anchor_file
    kept = chain_check.newest_kept(heads)
    kept_present = heads.exists() or heads.with_name(heads.name + ".1").exists()
    config = _config(datadir)
    outcome = None
    if not _has_archives(datadir):
        with reader.connect(datadir, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms,
                            readonly=True) as conn:
            if conn is not None:
                outcome = _verify_fast(conn, load_audit_key(datadir), given, kept, collected)
    if outcome is None:
        outcome = _verify_session(datadir, load_audit_key(datadir), given, kept, collected)
    if outcome.full is not None and _print_archives(outcome.full):
        return 1
    return _report(datadir, outcome, kept, kept_present, collected)


def _print_archives(full: FullVerifyResult) -> bool:
    """The archives' lines; True if one is broken."""
    if full.archive is not None:
        print(_("audit chain BROKEN in archive {archive} at seq {seq}: {problem}").format(
            archive=full.archive, seq=full.first_bad_seq, problem=full.problem))
        return True
    if full.archives:
        masked = sum(a.masked for a in full.archives)
        print(_("archives OK: {files} files, {events} events (seq {first}..{last}, {masked} masked)").format(
            files=len(full.archives), events=full.archived_events, first=full.archives[0].first_seq,
            last=full.archives[-1].last_seq, masked=masked))
    for note in full.notes:
        print(note)
    return False


def _report(datadir: DataDir, outcome: _Outcome, kept: KeptHead | None, kept_present: bool,
            collected: CollectedHeads | None = None) -> int:
    """The live chain's lines and the exit code."""
    result = outcome.live
    if result is not None and result.unsealed:
        for line in result.unsealed:
            print(_("ERROR: {problem}").format(problem=line))
        if result.pending > len(result.unsealed):
            print(_("ERROR: ... and {count} more unsealed events").format(count=result.pending - len(result.unsealed)))
    if result is None or not result.ok:
        bad = result.first_bad_seq if result is not None else outcome.bad
        where = _("at seq {seq}").format(seq=bad) if bad is not None else _("(unsealed rows)")
        print(_("audit chain BROKEN {where}: {problem}").format(where=where, problem=outcome.problem))
        return 1
    broken = False
    if outcome.heads is not None and collected is not None:
        for problem in outcome.heads.problems:
            print(_("audit chain BROKEN: {problem} (published heads from {source})").format(
                problem=problem, source=collected.source))
            broken = True
    if outcome.kept_problem is not None:
        print(_("audit chain BROKEN: {problem} - anchor file {path}").format(problem=outcome.kept_problem,
                                                                            path=datadir.anchor_file))
        broken = True
    elif kept is None and outcome.ran_daemon:
        what = _("is empty or unreadable") if kept_present else _("is missing")
        print(_("audit chain BROKEN: the anchor file {path} {what} although the daemon has run here: a truncated "
                "tail cannot be ruled out (restore DATA/anchor from a backup, or check with --anchor SEQ:MAC from a "
                "head kept off the device)").format(path=datadir.anchor_file, what=what))
        broken = True
    if broken:
        return 1
    seq = result.head_seq or 0
    mac = result.head_mac_hex or GENESIS_MAC.hex()
    ok = (_("audit chain OK: {count} event, head seq={seq} mac={mac}") if result.checked == 1
          else _("audit chain OK: {count} events, head seq={seq} mac={mac}"))
    print(ok.format(count=result.checked, seq=seq, mac=mac))
    if kept is not None:
        print(_("anchor file: newest head seq={seq} ({time}) is in the log").format(seq=kept.seq, time=kept.time))
    if outcome.heads is not None and collected is not None:
        heads = outcome.heads
        skipped = (_(", {count} messages without a head skipped").format(count=collected.skipped)
                   if collected.skipped else "")
        published = (_("published heads OK: {count} head from {source} checked{skipped}, newest seq={newest}: the "
                       "log holds every event up to seq {newest} that was published off the device")
                     if heads.checked == 1 else
                     _("published heads OK: {count} heads from {source} checked{skipped}, newest seq={newest}: the "
                       "log holds every event up to seq {newest} that was published off the device"))
        print(published.format(count=heads.checked, source=collected.source, skipped=skipped, newest=heads.newest))
    return 0


def run_head(args: argparse.Namespace) -> int:
    """Print ``head seq=S mac=HEX`` (``seq=0`` and zeros for an empty chain)."""
    from controller.store.audit import head
    from controller.store.db import session_factory

    engine = _open(DataDir.resolve(args.data))
    try:
        with session_factory(engine, readonly=True)() as session, session.begin():
            found = head(session)
    finally:
        engine.dispose()
    seq, mac = found if found is not None else (0, GENESIS_MAC.hex())
    # Machine-readable (``audit verify --anchor`` and scripts read it back): the same in every language.
    sys.stdout.write(f"head seq={seq} mac={mac}\n")
    return 0


def parse_before(text: str, tz: str) -> datetime:
    """``YYYY-MM-DD`` (midnight in the site time zone) or ISO time with an offset -> aware datetime."""
    value = text.strip()
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(0), tzinfo=ZoneInfo(tz))
        return parse_iso_utc(value)
    except ValueError:
        raise InvalidInput(T("--before must be a date like 2026-01-31 or a time like 2026-01-31T12:00:00Z")) from None


def run_archive(args: argparse.Namespace) -> int:
    """Archive the sealed prefix older than the cut-off; print what moved."""
    from controller.ops import archive, archive_format
    from controller.store import anchor as anchors, audit
    from controller.store.db import session_factory

    datadir = DataDir.resolve(args.data)
    engine = _open(datadir)
    try:
        config = load_config(datadir.config_file)
        now = utcnow()
        before = parse_before(args.before, config.site.timezone) if args.before else None
        cutoff, clamped = archive.cutoff_for(now, before=before, retention_days=config.store.retention_days)
        if cutoff is None:
            print(_("store.retention_days is 0 (keep everything): nothing archived; give --before DATE to archive"))
            return 0
        if clamped:
            print(_("the cut-off was moved back to now - 120 hours: recent events always stay on the unit"))
        key = load_audit_key(datadir)
        lock = audit.SealerLock(datadir)
        if not lock.try_acquire():
            raise StoreError(T("the daemon is running (sealer lock held); stop it before archiving"))
        try:
            result = archive.archive_events(engine, key, archive_format.archive_dir(datadir.root), cutoff,
                                            now=now, uploaded_only=config.site_link.enabled)
            with session_factory(engine, readonly=True)() as session, session.begin():
                anchors.record_head(datadir, session)  # the admin.events_archived event is the new head
        finally:
            lock.release()
    finally:
        engine.dispose()
    if result.pruned_overlap:
        print(_("removed {count} events already archived by an interrupted run").format(count=result.pruned_overlap))
    if result.path is None:
        print(_("no sealed events older than {time} to archive").format(time=result.cutoff.isoformat()))
        return 0
    print(_("archived {count} events (seq {first}..{last}, {masked} masked) to {path}").format(
        count=result.count, first=result.first_seq, last=result.last_seq, masked=result.masked, path=result.path))
    return 0
