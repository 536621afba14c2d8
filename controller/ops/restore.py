"""Restore a data backup into DATA (docs/backup.md).

:func:`restore_backup` refuses while the daemon holds the sealer lock, checks
everything it can before touching DATA, writes the database to a temporary file
in the same directory, re-applies revocations, suspensions, PIN resets and
finger deletions made after the backup (fail closed; ``admin.restore_reapplied``,
:mod:`controller.ops.restore_reapply`), records ``admin.backup_restored``, seals and verifies the chain
when the audit key is present, fsyncs, keeps the replaced file as
``kunci.db.before-restore-<timestamp>`` and swaps the new file in with a rename. The anchor
file is then replaced by the backup's (the old one kept as ``heads.before-restore-<timestamp>``)
and the restored head appended to it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from controller.config import load_config, parse_config
from controller.core.vocabulary import EventType
from controller.errors import KunciError, StoreError
from controller.fileio import atomic_write, fsync_dir
from controller.i18n import T
from controller.ops.archive_format import archive_dir, list_archives
from controller.ops.archive_verify import verify_all
from controller.ops.backup import daemon_running, sqlite_path
from controller.ops.backup_format import (
    ACTOR,
    CONTENT_DATA,
    DATA_DIR_MODE,
    BackupError,
    file_stamp,
    open_sealed,
    read_file,
)
from controller.ops.backup_keys import key_ids
from controller.ops.backup_payload import ANCHOR_FILES, unpack
from controller.ops.restore_reapply import Reapplied, read_people, reapply_changes, refuse_if_in_use
from controller.paths import DataDir
from controller.store import anchor, audit, audit_verify, keys
from controller.store.db import (
    check_integrity,
    head_revision,
    make_engine,
    refuse_non_database,
    session_factory,
    upgrade_database,
)
from controller.timefmt import utcnow

logger = logging.getLogger(__name__)


@dataclass
class RestoreReport:
    """What :func:`restore_backup` did."""

    manifest: dict[str, Any]
    database: Path
    before_restore: Path | None
    config_restored: bool
    sim_restored: bool
    after_backup: list[Reapplied] = field(default_factory=list)
    reapplied: bool = True
    chain: audit_verify.VerifyResult | None = None
    notes: list[str] = field(default_factory=list)


def _restore_anchor(datadir: DataDir, files: dict[str, bytes], head: tuple[int, str] | None, stamp: str) -> None:
    """Put the backup's anchor files in place (the current ones kept as ``*.before-restore-<stamp>``),
    then append the restored database's head, so the anchor matches the restored log."""
    adir = datadir.anchor_dir
    adir.mkdir(mode=anchor.DIR_MODE, exist_ok=True)
    for name in ANCHOR_FILES:
        path = adir / name
        if path.exists():
            os.replace(path, adir / f"{name}.before-restore-{stamp}")
    for name in ANCHOR_FILES:
        if name in files:
            _replace_file(adir / name, files[name], stamp, anchor.FILE_MODE)
    if head is not None:
        anchor.append(datadir, head[0], head[1])
    fsync_dir(adir)


def _count_people_and_events(path: Path) -> int:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        return sum(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("users", "events"))
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


@contextmanager
def _sealer(datadir: DataDir) -> Iterator[audit.SealerLock]:
    lock = audit.SealerLock(datadir)
    if not lock.try_acquire():
        raise BackupError(T("the daemon is running (sealer lock held); stop it before restoring - the door stays as "
                            "it is"))
    try:
        yield lock
    finally:
        lock.release()


def _replace_file(path: Path, data: bytes, stamp: str, mode: int) -> None:
    if path.exists():
        if path.read_bytes() == data:
            return
        os.link(path, path.with_name(f"{path.name}.before-restore-{stamp}"))
    atomic_write(path, data, mode=mode)


def _restore_sim(datadir: DataDir, files: dict[str, bytes], stamp: str) -> None:
    staging = datadir.root / f".sim.restore-{os.getpid()}"
    for rel, data in files.items():
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        atomic_write(target, data, mode=0o640)
    if datadir.sim_dir.exists():
        datadir.sim_dir.rename(datadir.root / f"sim.before-restore-{stamp}")
    staging.rename(datadir.sim_dir)
    fsync_dir(datadir.root)


def restore_backup(
    datadir: DataDir,
    src: Path,
    passphrase: str,
    *,
    force: bool = False,
    reapply: bool = True,
    now: datetime | None = None,
) -> RestoreReport:
    """Restore the backup ``src`` into ``datadir`` (see the module docstring for the steps).

    Refused with :class:`BackupError`, leaving DATA unchanged: wrong passphrase,
    altered/truncated/foreign file, daemon running, database in use, a backup from
    a newer Kunci, a database already holding people or events without ``force``,
    and a restored chain that does not verify with the audit key in DATA without
    ``force``. ``reapply=False`` only lists the changes made after the backup.
    """
    name = str(src)
    if datadir.root.exists() and daemon_running(datadir):
        raise BackupError(T("the daemon is running (sealer lock held); stop it before restoring - the door stays as "
                            "it is"))
    blob = read_file(src)
    plaintext = open_sealed(blob, passphrase, CONTENT_DATA, name=name)
    del blob
    now = now or utcnow()
    stamp = file_stamp(now)
    if not datadir.root.exists():
        datadir.root.mkdir(mode=DATA_DIR_MODE, parents=True)
        os.chmod(datadir.root, DATA_DIR_MODE)
    if not datadir.run_dir.exists():
        datadir.run_dir.mkdir(mode=DATA_DIR_MODE)
        os.chmod(datadir.run_dir, DATA_DIR_MODE)
    with _sealer(datadir):
        return _restore_locked(datadir, plaintext, name, force=force, reapply=reapply, stamp=stamp)


def _restore_locked(datadir: DataDir, plaintext: bytes, name: str, *, force: bool, reapply: bool,
                    stamp: str) -> RestoreReport:
    notes: list[str] = []
    tmp_db = datadir.root / f".kunci.db.restore-{os.getpid()}.tmp"
    staging = datadir.root / f".archive.restore-{os.getpid()}"
    try:
        payload = unpack(plaintext, tmp_db, name)
        del plaintext
        manifest = payload.manifest
        try:
            config = parse_config(_toml(payload.config)) if payload.config is not None else load_config(
                datadir.config_file)
        except KunciError as exc:
            raise BackupError(T("the configuration in {name} is not valid: {error}", name=name, error=exc)) from exc
        target = sqlite_path(datadir, config.store.url)
        tmp_db_final = target.with_name(f".{target.name}.restore-{os.getpid()}.tmp")
        if tmp_db_final != tmp_db:
            if not target.parent.is_dir():
                raise BackupError(T("database directory {path} does not exist", path=target.parent))
            os.replace(tmp_db, tmp_db_final)
            tmp_db = tmp_db_final
        current: dict[str, tuple[str, bytes | None, set[int]]] = {}
        if target.exists():
            try:
                refuse_non_database(target)  # through SQLite: never a plain open() of a database file
            except StoreError as exc:
                raise BackupError(T("{target} is not a SQLite database; move it aside first", target=target)) from exc
            if target.stat().st_size and _count_people_and_events(target) and not force:
                raise BackupError(T("{target} already holds people or events; repeat with --force to replace it (it "
                                    "is kept as a .before-restore copy)", target=target))
            if target.stat().st_size:
                current = read_people(target)

        pepper_id = key_ids(datadir)
        wanted = manifest.get("key_ids", {})
        audit_key: bytes | None = None
        if pepper_id["pepper"] is None:
            notes.append(str(T("no pepper in DATA/secrets: every PIN is refused (fail closed) until "
                               "'kunci backup import-keys' installs it, or PINs are reissued")))
        elif wanted.get("pepper") and wanted["pepper"] != pepper_id["pepper"]:
            notes.append(str(T("the pepper in DATA/secrets is not the one of this backup: every PIN is refused "
                               "(fail closed) until 'kunci backup import-keys' installs the right one, or PINs are "
                               "reissued")))
        if pepper_id["audit_key"] is None:
            notes.append(str(T("no audit key in DATA/secrets: the chain cannot be verified or sealed until "
                               "'kunci backup import-keys'")))
        elif wanted.get("audit_key") and wanted["audit_key"] != pepper_id["audit_key"]:
            notes.append(str(T("the audit key in DATA/secrets is not the one of this backup: the chain cannot be "
                               "verified until 'kunci backup import-keys' installs the right one")))
        else:
            audit_key = keys.load_audit_key(datadir)

        engine = make_engine(f"sqlite:///{tmp_db}")
        found: list[Reapplied] = []
        chain: audit_verify.VerifyResult | None = None
        try:
            integrity = check_integrity(engine)
            if integrity != "ok":
                raise BackupError(T("the database in {name} fails its integrity check", name=name))
            revision = manifest.get("db_revision")
            shipped = head_revision()
            if revision is not None and shipped is not None and revision != shipped and not _known_revision(revision):
                raise BackupError(T("{name} was made by a newer Kunci (database revision {revision}); upgrade first",
                                    name=name, revision=revision))
            upgrade_database(engine)
            with session_factory(engine)() as session, session.begin():
                if audit_key is not None:
                    audit.seal_as_written(session, audit_key)
                found = reapply_changes(session, current, bool(payload.sim), reapply)
                audit.record(session, EventType.ADMIN_BACKUP_RESTORED, actor=ACTOR, detail={
                    "backup_created_at": manifest.get("created_at"),
                    "backup_head_seq": manifest.get("chain_head", {}).get("seq"),
                    "reapplied": len(found) if reapply else 0,
                })
            _stage_archives(datadir, staging, payload.archives)
            if audit_key is not None:
                with session_factory(engine, readonly=True)() as session, session.begin():
                    full = verify_all(session, audit_key, staging)
                chain = full.live
                if not full.ok:
                    where = f"archive {full.archive}, " if full.archive else ""
                    problem = f"{where}seq {full.first_bad_seq}: {full.problem}"
                    if not force:
                        raise BackupError(T("the restored audit chain does not verify ({problem}); nothing was "
                                            "changed (use --force to restore anyway)", problem=problem))
                    notes.append(str(T("the restored audit chain does NOT verify ({problem})", problem=problem)))
        except SQLAlchemyError as exc:
            raise BackupError(T("the database in {name} cannot be used: {error}", name=name,
                                error=str(exc).splitlines()[0])) from exc
        finally:
            engine.dispose()
        for suffix in ("-wal", "-shm"):
            Path(f"{tmp_db}{suffix}").unlink(missing_ok=True)
        fd = os.open(tmp_db, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

        # Everything is checked: now change DATA (sim, config, then the database by rename).
        before: Path | None = None
        if target.exists():
            refuse_if_in_use(target)
        if payload.config is not None:
            _replace_file(datadir.config_file, payload.config, stamp, 0o640)
        if payload.sim:
            _restore_sim(datadir, payload.sim, stamp)
        if payload.archives:
            adir = archive_dir(datadir.root)
            adir.mkdir(mode=0o750, exist_ok=True)
            for archive_name in payload.archives:
                if not (adir / archive_name).exists():
                    os.link(staging / archive_name, adir / archive_name)
            fsync_dir(adir)
        if target.exists():
            before = target.with_name(f"{target.name}.before-restore-{stamp}")
            os.link(target, before)
            for suffix in ("-wal", "-shm"):
                Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(tmp_db, target)
        fsync_dir(target.parent)
        restored_head = (chain.head_seq, chain.head_mac_hex) if chain is not None and chain.head_seq else None
        _restore_anchor(datadir, payload.anchor, restored_head, stamp)
        logger.info("backup restored into %s", target)
        return RestoreReport(manifest=manifest, database=target, before_restore=before,
                             config_restored=payload.config is not None, sim_restored=bool(payload.sim),
                             after_backup=found, reapplied=reapply, chain=chain, notes=notes)
    except OSError as exc:
        raise BackupError(T("restore failed, DATA left as it was: {error}", error=exc.strerror or exc)) from exc
    finally:
        for path in (tmp_db, Path(f"{tmp_db}-wal"), Path(f"{tmp_db}-shm")):
            path.unlink(missing_ok=True)
        for leftover in (datadir.root / f".sim.restore-{os.getpid()}", staging):
            if leftover.exists():
                shutil.rmtree(leftover, ignore_errors=True)


def _stage_archives(datadir: DataDir, staging: Path, archives: dict[str, bytes]) -> None:
    """A private directory with the archives DATA already has (hard links) plus the backup's ones."""
    staging.mkdir(mode=0o700)
    for _first, _last, path in list_archives(archive_dir(datadir.root)):
        os.link(path, staging / path.name)
    for name, data in archives.items():
        if not (staging / name).exists():
            atomic_write(staging / name, data, mode=0o640)  # fsync'd before it is linked into DATA/archive


def _toml(data: bytes) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise BackupError(T("the configuration in the backup is not valid TOML: {error}", error=exc)) from None


def _known_revision(revision: str) -> bool:
    """True if ``revision`` is one of the migrations shipped with this version."""
    from alembic.script import ScriptDirectory

    from controller.store.db import _alembic_config

    script = ScriptDirectory.from_config(_alembic_config("sqlite://"))
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises several types for unknown revisions
        return False
