"""Chain heads kept outside the database: the anchor file ``DATA/anchor/heads`` (docs/internals.md).

Every commit that seals events is followed by one line appended to the anchor file::

    seq=1234 mac=9f2c...(64 hex) time=2026-12-01T22:10:00.123456Z

written with ``O_APPEND`` and ``fsync``'d, so the file always names a head that was committed. The
MAC is the chain's own HMAC (keyed with the audit key), so a line cannot name a head that the
database does not hold without the key. ``kunci audit verify`` and the daemon's start-up compare the
newest line with the database: if the database no longer holds that seq with that MAC, events were
lost or rewritten after they had been committed (a deleted ``kunci.db-wal``, rows deleted with
``sqlite3``, an old copy of the file put back).

When the file grows past :data:`ROTATE_BYTES` it is renamed to ``heads.1`` (replacing the older one)
before the next line is written, so the newest head is always in ``heads`` or, right after a rotation,
in ``heads.1``. Both files are part of a backup (:mod:`controller.ops.backup`).

Writers:

* the daemon: :class:`AnchorWriter` attached to its session (:meth:`AnchorWriter.attach`) - one hook
  on the session's ``after_commit`` that every commit of sealed events passes through
  (:func:`controller.store.audit.append` and :func:`controller.store.audit.seal_pending` note the head they
  sealed in ``session.info``);
* maintenance commands that seal while no daemon runs: :func:`record_head` after their commit.

This file is not part of the database, so plain file I/O is fine here (the rule against plain
``open()`` concerns ``kunci.db`` and its ``-wal``/``-shm`` files).
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from controller.store import audit, audit_verify
from controller.errors import StoreError
from controller.fileio import fsync_dir
from controller.store.models import Event
from controller.paths import DataDir
from controller.timefmt import iso_utc, utcnow

log = logging.getLogger(__name__)

#: Size past which ``heads`` is rotated to ``heads.1`` before the next append (bytes, ~2,500 lines).
ROTATE_BYTES = 256 * 1024
#: Mode of the anchor directory and files.
DIR_MODE = 0o750
FILE_MODE = 0o640
#: How much of a file's end :func:`read_newest` reads to find the last complete line.
_TAIL_BYTES = 4096

_LINE = re.compile(r"^seq=(\d+) mac=([0-9a-f]{64}) time=(\S+)$")


@dataclass(frozen=True)
class Head:
    """One anchor line: the chain head ``(seq, mac_hex)`` and when it was written (UTC ISO text)."""

    seq: int
    mac: str
    time: str | None = None

    def line(self) -> str:
        return f"seq={self.seq} mac={self.mac} time={self.time or iso_utc(utcnow())}\n"


def heads_path(target: DataDir | Path | str) -> Path:
    """The anchor file for a data directory, or ``target`` itself when it is a path to a file."""
    if isinstance(target, DataDir):
        return target.anchor_file
    return Path(target)


def previous_path(path: Path) -> Path:
    """The rotated file kept next to ``path`` (``heads.1``)."""
    return path.with_name(path.name + ".1")


def parse_line(line: str) -> Head | None:
    """One line -> :class:`Head`; ``None`` for a malformed or partial line (a crash mid-write)."""
    match = _LINE.match(line.strip())
    if match is None:
        return None
    return Head(int(match.group(1)), match.group(2), match.group(3))


def read_heads(path: Path) -> list[Head]:
    """Every well-formed line of one anchor file, oldest first ([] if the file does not exist)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return []
    return [head for head in map(parse_line, text.splitlines()) if head is not None]


def _newest_in(path: Path) -> Head | None:
    try:
        with path.open("rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            fh.seek(max(0, size - _TAIL_BYTES))
            tail = fh.read().decode("ascii", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StoreError(f"cannot read the anchor file {path}: {exc.strerror or exc} "
                         "(run as the door daemon's account)") from exc
    for line in reversed(tail.splitlines()):
        head = parse_line(line)
        if head is not None:
            return head
    if size > _TAIL_BYTES:  # a very long damaged tail: read the whole file
        heads = read_heads(path)
        return heads[-1] if heads else None
    return None


def newest(target: DataDir | Path | str) -> Head | None:
    """The newest head recorded for ``target`` (a data directory or an anchor file): the last valid
    line of ``heads``, else of ``heads.1`` (right after a rotation); ``None`` if nothing was recorded.
    Raises :class:`~controller.errors.StoreError` if a file exists but cannot be read."""
    path = heads_path(target)
    return _newest_in(path) or _newest_in(previous_path(path))


def present(target: DataDir | Path | str) -> bool:
    """True if an anchor file (or its rotated predecessor) exists: events were committed here before."""
    path = heads_path(target)
    return path.exists() or previous_path(path).exists()


class AnchorWriter:
    """Appends heads to one anchor file; keeps the descriptor open (one write + one fsync per head).

    :param target: a data directory or the anchor file's path.
    :param rotate_bytes: rotate to ``heads.1`` once the file is at least this big.
    """

    def __init__(self, target: DataDir | Path | str, *, rotate_bytes: int = ROTATE_BYTES) -> None:
        self.path = heads_path(target)
        self.rotate_bytes = rotate_bytes
        self._fd: int | None = None
        self._size = 0
        #: The last head this writer appended (duplicates are skipped).
        self.last: Head | None = None
        #: The last error (``None`` when the last append worked); the caller may report it.
        self.error: str | None = None

    def _open(self) -> int:
        if self._fd is None:
            parent = self.path.parent
            if not parent.is_dir():
                parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                os.chmod(parent, DIR_MODE)
            created = not self.path.exists()
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
            if created:
                os.fchmod(fd, FILE_MODE)
                fsync_dir(parent)
            self._fd = fd
            self._size = os.fstat(fd).st_size
        return self._fd

    def _rotate(self) -> None:
        self.close()
        os.replace(self.path, previous_path(self.path))
        fsync_dir(self.path.parent)

    def append(self, seq: int, mac: bytes | str, when: datetime | None = None) -> None:
        """Append ``(seq, mac)`` and fsync; raises ``OSError`` if the file cannot be written."""
        mac_hex = mac.hex() if isinstance(mac, (bytes, bytearray, memoryview)) else str(mac).lower()
        head = Head(int(seq), mac_hex, iso_utc(when or utcnow()))
        if self.last is not None and (self.last.seq, self.last.mac) == (head.seq, head.mac):
            return
        fd = self._open()
        if self._size >= self.rotate_bytes:
            self._rotate()
            fd = self._open()
        data = head.line().encode("ascii")
        written = os.write(fd, data)
        if written != len(data):
            raise OSError(f"short write to {self.path}")
        os.fsync(fd)
        self._size += written
        self.last = head

    def append_logged(self, seq: int, mac: bytes | str) -> bool:
        """:meth:`append`, logging (critically) instead of raising; True if written."""
        try:
            self.append(seq, mac)
        except OSError as exc:
            self.close()
            if self.error is None:
                log.critical("cannot write the anchor file %s: %s (the chain head is not kept outside the "
                             "database until this is fixed)", self.path, exc.strerror or exc)
            self.error = str(exc.strerror or exc)
            return False
        if self.error is not None:
            log.warning("anchor file %s writable again", self.path)
        self.error = None
        return True

    def attach(self, session: Session) -> None:
        """Append the head after every commit of ``session`` that sealed events (forget it on rollback)."""
        sa_event.listen(session, "after_commit", self._after_commit)
        sa_event.listen(session, "after_rollback", self._after_rollback)

    def _after_commit(self, session: Session) -> None:
        sealed = session.info.pop(audit.SEALED_HEAD_INFO, None)
        if sealed is not None:
            self.append_logged(sealed[0], sealed[1])

    @staticmethod
    def _after_rollback(session: Session) -> None:
        session.info.pop(audit.SEALED_HEAD_INFO, None)

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def append(target: DataDir | Path | str, seq: int, mac: bytes | str) -> None:
    """Append one head to the anchor file of ``target`` (a data directory or the file) and fsync."""
    writer = AnchorWriter(target)
    try:
        writer.append(seq, mac)
    finally:
        writer.close()


def record_head(datadir: DataDir | Path | str, session: Session) -> Head | None:
    """For maintenance commands that sealed events while no daemon runs: call right after the commit.

    Reads the database's head through ``session`` and appends it unless the newest anchor line already
    names it. Returns the head appended (``None`` if nothing was). Raises ``OSError`` if the file
    cannot be written.
    """
    found = audit.head(session)
    session.info.pop(audit.SEALED_HEAD_INFO, None)
    if found is None:
        return None
    known = newest(datadir)
    if known is not None and (known.seq, known.mac) == found:
        return None
    append(datadir, found[0], found[1])
    return Head(found[0], found[1])


def compare(session: Session, head: Head) -> str | None:
    """Compare an anchor head with the database; ``None`` if the database still holds it.

    Returns the problem as one line otherwise: the row at the anchor's seq is gone (truncated) or has
    another MAC (rewritten). A seq older than the live log's first event (moved to an archive by
    ``kunci audit archive``) is left to the archive check and returns ``None``.
    """
    mac = session.scalar(select(Event.mac).where(Event.seq == head.seq))
    stored = audit.head(session)
    end = stored[0] if stored is not None else 0
    when = f" (written {head.time})" if head.time else ""
    if mac is None:
        first = session.scalar(select(func.min(Event.seq)))
        if first is not None and head.seq < int(first) and audit_verify.pruned_start(session) is not None:
            return None
        return (f"truncated/rewritten: the anchor names seq {head.seq}{when}, the log ends at {end} "
                f"(events committed earlier are missing)")
    if bytes(mac).hex() != head.mac:
        return (f"truncated/rewritten: the anchor names seq {head.seq} with MAC {head.mac[:16]}...{when}, "
                f"the log holds another event there (rewritten; the log ends at {end})")
    return None


def read_anchor_file(path: Path) -> tuple[int, str]:
    """An anchor ``(seq, mac_hex)`` from a file kept off the device, for ``verify --anchor-from``.

    Accepts an anchor file (its newest line), a CSV export (first line
    ``# kunci events export; anchor seq=N mac=HEX; ...``), a JSON export (first line
    ``{"anchor": {"seq": N, "mac": "HEX"}, ...}``) or a file holding ``SEQ:MAC``. Raises ``ValueError``.
    """
    import json

    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from None
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    heads = [h for h in map(parse_line, lines) if h is not None]
    if heads:
        return heads[-1].seq, heads[-1].mac
    first = lines[0] if lines else ""
    if first.startswith("{"):
        try:
            obj: Any = json.loads(first)
            seq, mac = int(obj["anchor"]["seq"]), str(obj["anchor"]["mac"]).lower()
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}: the first line is JSON but holds no anchor") from None
    else:
        match = re.search(r"seq=(\d+)\s+mac=([0-9a-fA-F]{64})", first) or re.fullmatch(
            r"(\d+):([0-9a-fA-F]{64})", first)
        if match is None:
            raise ValueError(f"{path} holds no anchor (expected an anchor file, an export or SEQ:MAC)")
        seq, mac = int(match.group(1)), match.group(2).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", mac):
        raise ValueError(f"{path}: the anchor MAC must be 64 hexadecimal characters")
    return seq, mac
