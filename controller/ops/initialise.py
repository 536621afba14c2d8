"""Create or upgrade a data directory (what ``kunci init`` and ``kunci db upgrade`` do; also the demo,
``kunci install-service`` and the tests' fixtures): directories, secrets, configuration, TLS
certificate and the database, idempotently."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from sqlalchemy import Engine

from controller.config import load_config, write_default_config
from controller.errors import DataDirError
from controller.i18n import T
from controller.paths import DataDir
from controller.store.db import open_database, upgrade_database
from controller.store.keys import create_secrets

DATA_DIR_MODE = 0o750
RUN_DIR_MODE = 0o750


def _make_dir(path: Path, mode: int) -> bool:
    """Create ``path`` with exactly ``mode`` unless it exists; True if created."""
    try:
        path.mkdir(mode=mode, parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise DataDirError(T("{path} exists and is not a directory", path=path)) from None
        return False
    except OSError as exc:
        raise DataDirError(T("cannot create {path}: {error}", path=path, error=exc.strerror)) from exc
    os.chmod(path, mode)  # mkdir's mode is masked by the umask
    return True


def _open(datadir: DataDir, create: bool = False) -> Engine:
    config = load_config(datadir.config_file)
    return open_database(datadir, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms, create=create)


def _upgrade(datadir: DataDir, create: bool) -> tuple[str | None, str]:
    engine = _open(datadir, create)
    try:
        return upgrade_database(engine)
    finally:
        engine.dispose()


def _database_line(before: str | None, after: str) -> str:
    if before is None:
        return str(T("database: created (revision {revision})", revision=after))
    if before != after:
        return str(T("database: upgraded from revision {before} to {after}", before=before, after=after))
    return str(T("database: up to date (revision {revision})", revision=after))


def upgrade(datadir: DataDir, create: bool = False) -> str:
    """Create or migrate the database; one line saying what was done (in the reader's language)."""
    return _database_line(*_upgrade(datadir, create))


def initialise(datadir: DataDir, *, new_database: bool = False, report_up_to_date: bool = True) -> list[str]:
    """Create what is missing in DATA (dirs, secrets, config, TLS certificate), upgrade the database.

    Idempotent; returns one line per thing done, for the caller to print. The database is created
    only on a fresh data directory (no secrets, no anchor file yet); on one that was initialised
    before, a missing or empty database is refused (restore a backup, docs/backup.md) unless
    ``new_database=True`` (``kunci init --new-database``). ``report_up_to_date=False`` leaves out the database
    line when nothing was done to it. The lines read in the current language.
    """
    from controller.ops.tls import cert_fingerprint_sha256, ensure_self_signed_cert

    create = new_database or not datadir.initialised()
    done: list[str] = []
    if _make_dir(datadir.root, DATA_DIR_MODE):
        done.append(str(T("created {path}", path=datadir.root)))
    done += [str(T("created {path}", path=path)) for path in create_secrets(datadir)]
    if _make_dir(datadir.run_dir, RUN_DIR_MODE):
        done.append(str(T("created {path}", path=datadir.run_dir)))
    if write_default_config(datadir.config_file):
        done.append(str(T("created {path} (defaults; edit it, then run 'kunci config check')",
                          path=datadir.config_file)))
    config = load_config(datadir.config_file)
    if not config.web.cert_file:
        _make_dir(datadir.tls_dir, DATA_DIR_MODE)
        if ensure_self_signed_cert(datadir.tls_cert_file, datadir.tls_key_file, [socket.gethostname()]):
            done.append(str(T("created {path} (self-signed; SHA-256 fingerprint {fingerprint})",
                              path=datadir.tls_cert_file, fingerprint=cert_fingerprint_sha256(datadir.tls_cert_file))))
    before, after = _upgrade(datadir, create)
    line = _database_line(before, after)
    if new_database and before is None:
        line = str(T("{line} - a NEW, EMPTY database on a data directory that had one (--new-database): people and "
                     "the entry log start from nothing; the old anchor file was kept as heads.before-new-database",
                     line=line))
        _retire_anchor(datadir)
    if report_up_to_date or before != after:
        done.append(line)
    return done


def _retire_anchor(datadir: DataDir) -> None:
    """Move the anchor file of the lost database aside (kept as evidence), so the new log can be verified."""
    for path in (datadir.anchor_file, datadir.anchor_file.with_name(datadir.anchor_file.name + ".1")):
        if path.exists():
            path.rename(path.with_name(path.name + ".before-new-database"))
