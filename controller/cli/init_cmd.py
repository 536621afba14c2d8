"""``kunci init`` (create or upgrade DATA, idempotent) and ``kunci db upgrade``."""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path

from sqlalchemy import Engine

from controller.config import load_config, write_default_config
from controller.db import open_database, upgrade_database
from controller.errors import DataDirError
from controller.keys import create_secrets
from controller.paths import DataDir

DATA_DIR_MODE = 0o750
RUN_DIR_MODE = 0o750


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    """Add ``init`` and ``db upgrade``."""
    init = subparsers.add_parser(
        "init",
        parents=[common],
        help="create or upgrade the data directory (config, secrets, database); safe to repeat",
    )
    init.add_argument(
        "--new-database",
        action="store_true",
        help="on a data directory that was initialised before but lost its database: create a new, empty "
        "one (people and the entry log start from nothing; restore a backup instead if you have one)",
    )
    init.set_defaults(func=run_init)
    db = subparsers.add_parser("db", parents=[common], help="database maintenance")
    sub = db.add_subparsers(dest="db_command", metavar="ACTION")
    sub.required = True
    upgrade = sub.add_parser("upgrade", parents=[common], help="migrate the database to this version's schema")
    upgrade.set_defaults(func=run_db_upgrade)


def _make_dir(path: Path, mode: int) -> bool:
    """Create ``path`` with exactly ``mode`` unless it exists; True if created."""
    try:
        path.mkdir(mode=mode, parents=True)
    except FileExistsError:
        if not path.is_dir():
            raise DataDirError(f"{path} exists and is not a directory") from None
        return False
    except OSError as exc:
        raise DataDirError(f"cannot create {path}: {exc.strerror}") from exc
    os.chmod(path, mode)  # mkdir's mode is masked by the umask
    return True


def _open(datadir: DataDir, create: bool = False) -> Engine:
    config = load_config(datadir.config_file)
    return open_database(datadir, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms, create=create)


def _upgrade(datadir: DataDir, create: bool = False) -> str:
    engine = _open(datadir, create)
    try:
        before, after = upgrade_database(engine)
    finally:
        engine.dispose()
    if before is None:
        return f"database: created (revision {after})"
    if before != after:
        return f"database: upgraded from revision {before} to {after}"
    return f"database: up to date (revision {after})"


def initialise(datadir: DataDir, *, new_database: bool = False) -> list[str]:
    """Create what is missing in DATA (dirs, secrets, config, TLS certificate), upgrade the database.

    Idempotent; returns one line per thing done, for the caller to print. The database is created
    only on a fresh data directory (no secrets, no anchor file yet); on one that was initialised
    before, a missing or empty database is refused (restore a backup, docs/backup.md) unless
    ``new_database=True`` (``kunci init --new-database``).
    """
    from controller.tls import cert_fingerprint_sha256, ensure_self_signed_cert

    create = new_database or not datadir.initialised()
    done: list[str] = []
    if _make_dir(datadir.root, DATA_DIR_MODE):
        done.append(f"created {datadir.root}")
    done += [f"created {path}" for path in create_secrets(datadir)]
    if _make_dir(datadir.run_dir, RUN_DIR_MODE):
        done.append(f"created {datadir.run_dir}")
    if write_default_config(datadir.config_file):
        done.append(f"created {datadir.config_file} (defaults; edit it, then run 'kunci config check')")
    config = load_config(datadir.config_file)
    if not config.web.cert_file:
        _make_dir(datadir.tls_dir, DATA_DIR_MODE)
        if ensure_self_signed_cert(datadir.tls_cert_file, datadir.tls_key_file, [socket.gethostname()]):
            done.append(f"created {datadir.tls_cert_file} (self-signed; SHA-256 fingerprint "
                        f"{cert_fingerprint_sha256(datadir.tls_cert_file)})")
    line = _upgrade(datadir, create)
    if new_database and line.startswith("database: created"):
        line += (" - a NEW, EMPTY database on a data directory that had one (--new-database): people and the "
                 "entry log start from nothing; the old anchor file was kept as heads.before-new-database")
        _retire_anchor(datadir)
    done.append(line)
    return done


def _retire_anchor(datadir: DataDir) -> None:
    """Move the anchor file of the lost database aside (kept as evidence), so the new log can be verified."""
    for path in (datadir.anchor_file, datadir.anchor_file.with_name(datadir.anchor_file.name + ".1")):
        if path.exists():
            path.rename(path.with_name(path.name + ".before-new-database"))


def run_init(args: argparse.Namespace) -> int:
    """Create what is missing in DATA, upgrade the database, and say what was done."""
    datadir = DataDir.resolve(args.data)
    for line in initialise(datadir, new_database=getattr(args, "new_database", False)):
        print(line)
    print(f"{datadir.root} is ready")
    return 0


def run_db_upgrade(args: argparse.Namespace) -> int:
    """Migrate the database of DATA to the newest schema."""
    datadir = DataDir.resolve(args.data)
    if not datadir.root.is_dir():
        raise DataDirError(f"{datadir.root} does not exist; run 'kunci init' first")
    print(_upgrade(datadir))
    return 0
