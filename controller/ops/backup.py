"""Create an encrypted backup of a data directory (docs/backup.md); restore is :mod:`controller.ops.restore`.

:func:`create_backup` reads the anchor files first, then takes a consistent snapshot of the database with
SQLite's online backup API (in memory, while the daemon may be running), so the anchor never names a head the
snapshot lacks; it packs them with ``kunci.toml``, ``DATA/sim/`` and the archives
(:mod:`controller.ops.backup_payload`) and seals the result (:mod:`controller.ops.backup_format`). The pepper and
the audit key are never in a data backup: they go in the separate key file (:mod:`controller.ops.backup_keys`).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import logging
import os
import sqlite3
import tarfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from controller import __version__
from controller.config import load_config
from controller.i18n import T
from controller.ops.archive_format import archive_dir, list_archives
from controller.ops.backup_format import (
    CONTENT_DATA,
    FORMAT_VERSION,
    BackupError,
    check_new_passphrase,
    seal,
    write_new_file,
)
from controller.ops.backup_keys import key_ids
from controller.ops.backup_payload import (
    ANCHOR_PREFIX,
    ARCHIVE_PREFIX,
    CONFIG_MEMBER,
    DB_MEMBER,
    MANIFEST_MEMBER,
    SIM_PREFIX,
    add_member,
    read_anchor_files,
)
from controller.paths import DataDir
from controller.store import audit
from controller.store.db import SQLITE_HEADER
from controller.timefmt import iso_utc, utcnow

logger = logging.getLogger(__name__)


def sqlite_path(datadir: DataDir, store_url: str) -> Path:
    """The SQLite file of ``store_url`` (empty = ``DATA/kunci.db``); BackupError for other databases."""
    url = store_url or datadir.default_db_url
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite" or not database or database == ":memory:" or database.startswith("file:"):
        raise BackupError(T("kunci backup covers SQLite databases only; back up a server database with its own "
                            "tools"))
    return Path(database)


def daemon_running(datadir: DataDir) -> bool:
    """True if another process holds the sealer lock (the daemon runs). Creates and changes nothing."""
    try:
        fd = os.open(datadir.daemon_lock_file, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise BackupError(T("cannot open {path}: {error}", path=datadir.daemon_lock_file, error=exc.strerror)) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases a lock we may have taken
    return False


# --- create -----------------------------------------------------------------------------------------


def snapshot_database(path: Path, busy_timeout_ms: int = 5000) -> bytes:
    """A consistent copy of the SQLite database ``path`` as bytes (online backup API, one step).

    The copy is taken inside one read transaction, so it is consistent while the
    daemon writes; it goes to memory, never to a clear-text file.
    """
    if not path.is_file():
        raise BackupError(T("database {path} does not exist", path=path))
    try:
        src = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=busy_timeout_ms / 1000)
        try:
            dst = sqlite3.connect(":memory:")
            try:
                src.backup(dst)
                image = bytearray(dst.serialize())
            finally:
                dst.close()
        finally:
            src.close()
    except sqlite3.Error as exc:
        raise BackupError(T("cannot read database {path}: {error}", path=path, error=exc)) from exc
    if image[:16] == SQLITE_HEADER and image[18:20] == b"\x02\x02":
        image[18:20] = b"\x01\x01"  # WAL flag off in the copy; the engine turns WAL on again when opened
    return bytes(image)


def _snapshot_facts(db_bytes: bytes) -> dict[str, Any]:
    """Revision, chain head and counts of a serialized database (read from memory)."""
    conn = sqlite3.connect(":memory:")
    try:
        conn.deserialize(db_bytes)
        try:
            revision = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            revision = None
        row = conn.execute("SELECT seq, mac FROM events WHERE seq IS NOT NULL ORDER BY seq DESC LIMIT 1").fetchone()
        first = conn.execute("SELECT min(seq) FROM events").fetchone()[0]
        counts = {
            "users": conn.execute("SELECT count(*) FROM users").fetchone()[0],
            "users_active": conn.execute("SELECT count(*) FROM users WHERE status = 'active'").fetchone()[0],
            "pins": conn.execute("SELECT count(*) FROM pin_credentials").fetchone()[0],
            "fingers": conn.execute("SELECT count(*) FROM finger_credentials").fetchone()[0],
            "events": conn.execute("SELECT count(*) FROM events").fetchone()[0],
            "events_unsealed": conn.execute("SELECT count(*) FROM events WHERE seq IS NULL").fetchone()[0],
        }
    except sqlite3.Error as exc:
        raise BackupError(T("the database snapshot is not a Kunci database: {error}", error=exc)) from exc
    finally:
        conn.close()
    return {
        "db_revision": revision[0] if revision else None,
        "chain_head": {"seq": row[0], "mac": bytes(row[1]).hex()} if row else {"seq": 0, "mac": audit.GENESIS_MAC.hex()},
        "chain_first_seq": first,
        "counts": counts,
    }


@dataclass(frozen=True)
class BackupInfo:
    """What :func:`create_backup` wrote: the manifest, the file size and its SHA-256."""

    path: Path
    manifest: dict[str, Any]
    size: int
    sha256: str


def create_backup(
    datadir: DataDir, dest: Path, passphrase: str, *, kdf: str = "scrypt", now: datetime | None = None
) -> BackupInfo:
    """Write an encrypted backup of ``datadir`` to the new file ``dest`` (mode 0600).

    Contains a consistent database snapshot, ``kunci.toml`` and ``DATA/sim/`` (if
    present) and a manifest; never the pepper or the audit key (see
    :func:`~controller.ops.backup_keys.export_keys`). Works while the daemon runs. Does not record the
    ``admin.backup_created`` event (the caller does, after this returns). The passphrase must pass
    :func:`~controller.ops.backup_format.check_new_passphrase`.
    """
    check_new_passphrase(passphrase)
    if dest.exists():
        raise BackupError(T("{path} already exists; choose another file name", path=dest))
    config = load_config(datadir.config_file)
    db_path = sqlite_path(datadir, config.store.url)
    # The anchor files first: the daemon appends a head only after its commit, so a snapshot taken
    # afterwards holds every head they name (a restore never starts with a "truncated" log).
    heads = read_anchor_files(datadir)
    db_bytes = snapshot_database(db_path, config.store.busy_timeout_ms)
    facts = _snapshot_facts(db_bytes)
    manifest: dict[str, Any] = {
        "format": FORMAT_VERSION,
        "created_at": iso_utc(now or utcnow()),
        "kunci_version": __version__,
        **facts,
        "key_ids": key_ids(datadir),
        "files": {},
    }
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        manifest["files"][DB_MEMBER] = hashlib.sha256(db_bytes).hexdigest()
        add_member(tar, DB_MEMBER, db_bytes)
        del db_bytes
        if datadir.config_file.is_file():
            data = datadir.config_file.read_bytes()
            manifest["files"][CONFIG_MEMBER] = hashlib.sha256(data).hexdigest()
            add_member(tar, CONFIG_MEMBER, data)
        if datadir.sim_dir.is_dir():
            for path in sorted(datadir.sim_dir.rglob("*")):
                if path.is_file() and not path.is_symlink() and not path.name.endswith(".tmp"):
                    name = SIM_PREFIX + path.relative_to(datadir.sim_dir).as_posix()
                    data = path.read_bytes()
                    manifest["files"][name] = hashlib.sha256(data).hexdigest()
                    add_member(tar, name, data)
        for _first, _last, path in list_archives(archive_dir(datadir.root)):
            data = path.read_bytes()
            manifest["files"][ARCHIVE_PREFIX + path.name] = hashlib.sha256(data).hexdigest()
            add_member(tar, ARCHIVE_PREFIX + path.name, data)
        for name, data in heads.items():
            manifest["files"][ANCHOR_PREFIX + name] = hashlib.sha256(data).hexdigest()
            add_member(tar, ANCHOR_PREFIX + name, data)
        add_member(tar, MANIFEST_MEMBER, json.dumps(manifest, sort_keys=True, indent=1).encode("ascii"))
    payload = buffer.getvalue()
    del buffer
    blob = seal(payload, passphrase, CONTENT_DATA, kdf=kdf)
    del payload
    write_new_file(dest, blob)
    logger.info("backup written to %s (%d bytes)", dest, len(blob))
    return BackupInfo(path=dest, manifest=manifest, size=len(blob), sha256=hashlib.sha256(blob).hexdigest())
