"""Changes made after a backup that a restore must not undo (docs/backup.md): a person revoked or suspended
since, a PIN reset, a finger deleted. They are compared with the current database and re-applied to the
restored one, failing closed, each recorded as ``admin.restore_reapplied``.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from controller.core.vocabulary import EventType, PersonStatus
from controller.i18n import T
from controller.ops.backup_format import ACTOR, BackupError
from controller.store import audit
from controller.store.models import PinCredential, User


@dataclass
class Reapplied:
    """One change made after the backup and re-applied to the restored database (codes only)."""

    code: str
    what: str  # "revoked", "suspended", "pin_reset", "finger_removed"
    backup_value: str
    now_value: str


def read_people(path: Path) -> dict[str, tuple[str, bytes | None, set[int]]]:
    """``{code: (status, pin_digest, finger slots)}`` of the database at ``path`` (read-only)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        out: dict[str, tuple[str, bytes | None, set[int]]] = {}
        for code, status, digest in conn.execute(
            "SELECT u.code, u.status, p.digest FROM users u LEFT JOIN pin_credentials p ON p.user_id = u.id"
        ):
            out[code] = (status, bytes(digest) if digest is not None else None, set())
        for code, slot in conn.execute(
            "SELECT u.code, f.slot FROM finger_credentials f JOIN users u ON u.id = f.user_id"
        ):
            out[code][2].add(int(slot))
        return out
    except sqlite3.Error as exc:
        raise BackupError(T("cannot read the current database {path}: {error}", path=path, error=exc)) from exc
    finally:
        conn.close()


def refuse_if_in_use(path: Path) -> None:
    """Checkpoint the current database's WAL fully; refuse if another process keeps it busy."""
    conn = sqlite3.connect(str(path), timeout=5)
    try:
        busy, _log, _done = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    except sqlite3.Error as exc:
        raise BackupError(T("cannot checkpoint the current database {path}: {error}", path=path, error=exc)) from exc
    finally:
        conn.close()
    wal = path.with_name(path.name + "-wal")
    if busy or (wal.exists() and wal.stat().st_size > 0):
        raise BackupError(T("{path} is in use by another process; stop 'kunci web' (and the daemon) and retry",
                            path=path))


#: How far each status keeps a person out (a restore never lets someone back in).
_RANK = {PersonStatus.ACTIVE: 0, PersonStatus.SUSPENDED: 1, PersonStatus.REVOKED: 2}


def reapply_changes(session: Any, current: dict[str, tuple[str, bytes | None, set[int]]], sim_restored: bool,
             apply: bool) -> list[Reapplied]:
    """Compare the restored people with the current ones; re-apply what keeps people refused."""
    found: list[Reapplied] = []
    users = {u.code: u for u in session.scalars(select(User).order_by(User.code))}
    for code, user in users.items():
        if code not in current:
            continue
        status, digest, slots = current[code]
        if _RANK.get(status, 2) > _RANK.get(user.status, 0):
            found.append(Reapplied(code, status, user.status, status))
            if apply:
                user.status = status
        if user.pin is not None and user.pin.digest != digest:
            found.append(Reapplied(code, "pin_reset", "pin", "new pin" if digest else "no pin"))
            if apply:
                taken = digest is not None and session.scalar(
                    select(PinCredential.id).where(PinCredential.digest == digest, PinCredential.user_id != user.id)
                )
                if digest is None or taken:
                    session.delete(user.pin)  # fail closed: the person gets a new PIN
                    user.pin = None
                else:
                    user.pin.digest = digest
        if not sim_restored:  # a real sensor keeps today's templates: old slot mappings may point at others
            for finger in list(user.fingers):
                if finger.slot not in slots:
                    found.append(Reapplied(code, "finger_removed", f"slot {finger.slot}", "not enrolled"))
                    if apply:
                        session.delete(finger)
        session.flush()
    if apply:
        for item in found:
            audit.record(session, EventType.ADMIN_RESTORE_REAPPLIED, user=item.code, actor=ACTOR,
                         detail={"what": item.what, "backup": item.backup_value, "now": item.now_value})
    return found
