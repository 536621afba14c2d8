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
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from controller.errors import InvalidInput
from controller.fileio import fsync_dir
from controller.i18n import T
from controller.paths import DataDir
from controller.store import audit, audit_verify, chain_check, chain_heads
from controller.timefmt import iso_utc, utcnow

log = logging.getLogger(__name__)

#: Size past which ``heads`` is rotated to ``heads.1`` before the next append (bytes, ~2,500 lines).
ROTATE_BYTES = 256 * 1024
#: Mode of the anchor directory and files.
DIR_MODE = 0o750
FILE_MODE = 0o640


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


def _head(kept: chain_check.KeptHead | None) -> Head | None:
    return None if kept is None else Head(kept.seq, kept.mac, kept.time)


def parse_line(line: str) -> Head | None:
    """One line -> :class:`Head`; ``None`` for a malformed or partial line (a crash mid-write)."""
    found = chain_check.parse_kept(line)
    return _head(found[0]) if len(found) == 1 else None


def read_heads(path: Path) -> list[Head]:
    """Every well-formed line of one anchor file, oldest first ([] if the file does not exist)."""
    try:
        text = path.read_text(encoding="ascii", errors="replace")
    except FileNotFoundError:
        return []
    return [Head(k.seq, k.mac, k.time) for k in chain_check.parse_kept(text)]


def newest(target: DataDir | Path | str) -> Head | None:
    """The newest head recorded for ``target`` (a data directory or an anchor file): the last valid
    line of ``heads``, else of ``heads.1`` (right after a rotation); ``None`` if nothing was recorded.
    Raises :class:`~controller.errors.StoreError` if a file exists but cannot be read.
    (:func:`controller.store.chain_check.newest_kept`, the one reader.)"""
    return _head(chain_check.newest_kept(heads_path(target)))


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
    (:func:`controller.store.chain_check.compare_kept` over this session.)
    """
    return chain_check.compare_kept(audit_verify.SessionReader(session), chain_check.KeptHead(head.seq, head.mac,
                                                                                             head.time))


def read_anchor_file(path: Path) -> tuple[int, str]:
    """The newest anchor ``(seq, mac_hex)`` in a file kept off the device: any file
    ``kunci audit verify --anchor-from`` reads (:func:`controller.store.chain_heads.parse_collected`: an anchor
    file, a CSV or JSON export, published messages, ``SEQ:MAC``). Raises ``ValueError``
    (:class:`~controller.errors.InvalidInput`) naming the line that holds no head.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InvalidInput(T("cannot read {path}: {reason}", path=path, reason=exc.strerror or exc)) from None
    newest_head = max(chain_heads.parse_collected(text, str(path)).heads, key=lambda h: h.seq)
    return newest_head.seq, newest_head.mac
