"""Database engine, sessions and schema migrations (docs/internals.md "Database tables").

``make_engine(url)`` returns an engine; for SQLite every new connection gets
``journal_mode=WAL``, ``synchronous=FULL``, ``busy_timeout`` and ``foreign_keys=ON``,
and the driver's legacy transaction handling is replaced by explicit ``BEGIN``:
write transactions start with ``BEGIN IMMEDIATE`` so that two processes writing at
once queue on the busy timeout instead of failing with "database is locked" when a
deferred reader tries to upgrade to a writer. Read-only sessions
(``session_factory(engine, readonly=True)``) use a plain ``BEGIN`` and never block
writers in WAL mode.

``upgrade_database`` runs the Alembic migrations shipped in
``controller/store/migrations`` (no ``alembic.ini`` needed). ``open_database`` is what
commands use: it picks the URL, refuses a file that is not a SQLite database and
never overwrites it.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from controller.errors import DataLost, StoreError
from controller.i18n import T
from controller.paths import DataDir
from controller.store.revision import MIGRATIONS_DIR, shipped_head  # Alembic's env.py and versions/; re-exported

logger = logging.getLogger(__name__)


#: Execution option naming how a SQLite transaction begins (``"IMMEDIATE"`` or ``"DEFERRED"``).
BEGIN_OPTION = "kunci_sqlite_begin"

#: Permissions of a database file created by :func:`open_database` (people's codes and events).
DB_FILE_MODE = 0o640

#: The first 16 bytes of every SQLite 3 database file.
SQLITE_HEADER = b"SQLite format 3\x00"

def _is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, *, busy_timeout_ms: int = 5000) -> Engine:
    """Create an engine for ``url`` (``sqlite:///path`` or any SQLAlchemy URL, e.g. PostgreSQL).

    ``busy_timeout_ms`` (default 5000 ms) is how long a SQLite connection waits for
    another process's write lock before giving up. Transactions on the returned
    engine begin with ``BEGIN IMMEDIATE`` (see :func:`session_factory` for read-only ones).
    """
    if busy_timeout_ms < 0:
        raise ValueError("busy_timeout_ms must be >= 0")
    if not _is_sqlite(url):
        return create_engine(url, pool_pre_ping=True)

    engine = create_engine(url, connect_args={"timeout": busy_timeout_ms / 1000.0})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module (legacy mode skips
        # BEGIN for SELECT and DDL); the "begin" listener below emits it instead.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        try:
            cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = FULL")
            cur.execute("PRAGMA foreign_keys = ON")
        finally:
            cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(BEGIN_OPTION, "IMMEDIATE")
        if mode != "IMMEDIATE":
            conn.exec_driver_sql("BEGIN")
            return
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except OperationalError as exc:
            if "readonly" not in str(exc.orig).replace(" ", "").lower():
                raise
            # A database that refuses writes (read-only file or file system) can still be read: the
            # daemon must keep deciding (and buffer its events) rather than fail every lookup.
            conn.exec_driver_sql("BEGIN")

    return engine


def session_factory(engine: Engine, *, readonly: bool = False) -> sessionmaker[Session]:
    """A ``sessionmaker`` bound to ``engine``; sessions do not expire objects on commit.

    ``readonly=True`` (default False) begins SQLite transactions with a plain
    ``BEGIN`` so long reads (event listings, exports) never hold the write lock;
    such sessions must not write.
    """
    bind = engine.execution_options(**{BEGIN_OPTION: "DEFERRED"}) if readonly else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


def _alembic_config(url: str) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade_database(engine_or_url: Engine | str, revision: str = "head") -> tuple[str | None, str | None]:
    """Run the shipped Alembic migrations up to ``revision`` (default ``head``).

    Takes an engine or a URL (a URL gets :func:`make_engine`'s settings). Returns
    ``(revision_before, revision_after)``; ``None`` means an empty database.
    Raises :class:`StoreError` if the migration fails (the transaction is rolled back).
    """
    engine = make_engine(engine_or_url) if isinstance(engine_or_url, str) else engine_or_url
    if revision == "head":
        # The common case at every start: already current. Answered with one SELECT, without
        # importing Alembic's migration runtime (~5 MB and ~0.3 s of the daemon's start-up).
        try:
            current = _stored_revision(engine)
        except SQLAlchemyError:
            current = None
        if current is not None and current == shipped_head():
            if isinstance(engine_or_url, str):
                engine.dispose()
            return current, current
    from alembic import command

    try:
        before = database_revision(engine)
        cfg = _alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
        after = database_revision(engine)
    except SQLAlchemyError as exc:
        raise StoreError(T("database migration failed: {reason}", reason=_short(exc))) from exc
    finally:
        if isinstance(engine_or_url, str):
            engine.dispose()
    if before != after:
        logger.info("database upgraded from %s to %s", before, after)
    return before, after


def _stored_revision(engine: Engine) -> str | None:
    """``alembic_version.version_num`` read with plain SQL; None if the table is missing or empty."""
    with engine.connect() as conn:
        has_table = conn.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'alembic_version'")
            if engine.dialect.name == "sqlite"
            else text("SELECT 1 FROM information_schema.tables WHERE table_name = 'alembic_version'")
        ).first()
        if has_table is None:
            return None
        rows = conn.execute(text("SELECT version_num FROM alembic_version")).all()
    return rows[0][0] if len(rows) == 1 else None


def head_revision() -> str | None:
    """The newest migration revision shipped with this version of Kunci."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_alembic_config("sqlite://")).get_current_head()


def database_revision(engine: Engine) -> str | None:
    """The Alembic revision the database is at, or ``None`` if it was never migrated."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def check_integrity(engine: Engine) -> str:
    """Run SQLite's ``PRAGMA quick_check``; returns ``"ok"`` or the problems found, one per line.

    Reads the whole file, so it takes time proportional to the database size. For
    other databases returns ``"ok"`` (their server checks its own storage).
    """
    if engine.dialect.name != "sqlite":
        return "ok"
    try:
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("PRAGMA quick_check").scalars().all()
    except SQLAlchemyError as exc:
        return f"cannot check: {exc.__class__.__name__}"
    return "\n".join(str(r) for r in rows) or "ok"


def refuse_non_database(path: Path) -> None:
    """Raise StoreError if ``path`` exists, is not empty and is not a SQLite 3 file.

    The file is probed through SQLite itself (a read-only connection), never with a plain
    ``open()``: closing a descriptor of a database file drops every POSIX lock this process
    holds on it, so another process's connection would believe it is the last one and
    checkpoint and unlink the WAL under the daemon (issue 10). SQLite's own VFS keeps such
    descriptors open until the process's last lock on the file is gone.
    """
    if not path.exists():
        return
    if not path.is_file():
        raise StoreError(T("{path} is not a regular file; move it aside", path=path))
    if path.stat().st_size == 0:
        return
    uri = f"file:{quote(str(path))}?mode=ro"
    try:
        probe = sqlite3.connect(uri, uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        raise StoreError(T("cannot read database file {path}: {reason}", path=path, reason=exc)) from exc
    try:
        probe.execute("PRAGMA schema_version").fetchone()
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc) or "malformed" in str(exc):
            raise StoreError(T(
                "{path} is not a SQLite database (corrupt or a different file); "
                "it was left untouched: move it aside or restore it from a backup", path=path
            )) from exc
        raise StoreError(T("cannot read database file {path}: {reason}", path=path, reason=exc)) from exc
    finally:
        probe.close()


def _create_private(path: Path) -> None:
    """Create an empty database file readable by owner and group only (0640), if missing.

    SQLite gives its ``-wal``/``-shm`` files the main file's permissions.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, DB_FILE_MODE)
    except FileExistsError:
        return
    except OSError as exc:
        raise StoreError(T("cannot create database file {path}: {reason}", path=path, reason=exc.strerror)) from exc
    os.fchmod(fd, DB_FILE_MODE)
    os.close(fd)


def _is_empty(path: Path) -> bool:
    """True if the database file is missing or zero-length (and no WAL holds its first pages).

    ``os.stat`` only: no descriptor of the database's files is opened here (see
    :func:`refuse_non_database`).
    """
    try:
        if path.stat().st_size > 0:
            return False
    except FileNotFoundError:
        return True
    try:
        return Path(f"{path}-wal").stat().st_size == 0
    except FileNotFoundError:
        return True


def _refuse_lost_database(datadir: DataDir, path: Path) -> None:
    """A missing or empty database file: say whether it was lost (restore) or never made (init)."""
    initialised = datadir.initialised()
    if initialised and not path.exists():
        raise DataLost(T(
            "the database {path} is missing, but {root} is an initialised data directory "
            "(its secrets or anchor file exist): the door's people and entry log were lost, this is not a new "
            "installation. Restore the newest backup (docs/backup.md: 'kunci backup restore'); nothing was "
            "created. Only if there is no backup: 'kunci init --new-database' starts an empty database on purpose",
            path=path, root=datadir.root))
    if initialised:
        raise DataLost(T(
            "the database {path} is empty (0 bytes), but {root} is an initialised data directory "
            "(its secrets or anchor file exist): the door's people and entry log were lost, this is not a new "
            "installation. Restore the newest backup (docs/backup.md: 'kunci backup restore'); nothing was "
            "created. Only if there is no backup: 'kunci init --new-database' starts an empty database on purpose",
            path=path, root=datadir.root))
    raise StoreError(T("there is no database at {path}; run 'kunci init' first", path=path))


def require_existing_database(datadir: DataDir, path: Path) -> None:
    """Raise :class:`StoreError` if the SQLite file ``path`` is missing or zero-length (no WAL holding it).

    For processes that open the door database their own way (the admin web's read-only engine): the same
    refusal as :func:`open_database` - under an initialised data directory the message says the database
    was lost and points to restoring a backup (docs/backup.md); otherwise it says to run ``kunci init``.
    Uses ``stat`` only, never ``open()``.
    """
    if _is_empty(path):
        _refuse_lost_database(datadir, path)


def open_database(
    datadir: DataDir,
    config_store_url: str = "",
    *,
    busy_timeout_ms: int = 5000,
    quick_check: bool = False,
    create: bool = False,
) -> Engine:
    """Open the database of ``datadir``: ``config_store_url`` if set, else ``DATA/kunci.db``.

    A SQLite file that exists but is not a database is refused with
    :class:`StoreError` before any connection is made, so it is never overwritten.
    A missing or zero-length file is refused too (:class:`StoreError`; under an initialised data
    directory the message points to restoring a backup) unless ``create=True`` (default False), which
    only ``kunci init`` passes on a fresh data directory (or with ``--new-database``): it then creates
    the file (mode 0640). ``quick_check=True`` (default False) also runs ``PRAGMA quick_check`` and
    refuses a damaged file (slow on a large database).
    """
    url = config_store_url or datadir.default_db_url
    if _is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            path = Path(database)
            if not path.parent.is_dir():
                raise StoreError(T("database directory {path} does not exist; run 'kunci init'", path=path.parent))
            refuse_non_database(path)
            if _is_empty(path) and not create:
                _refuse_lost_database(datadir, path)
            _create_private(path)
    engine = make_engine(url, busy_timeout_ms=busy_timeout_ms)
    try:
        with engine.connect() as conn:
            probe = "SELECT count(*) FROM sqlite_master" if engine.dialect.name == "sqlite" else "SELECT 1"
            conn.execute(text(probe))
    except SQLAlchemyError as exc:
        engine.dispose()
        raise StoreError(T("cannot open database {url}: {reason}", url=make_url(url).render_as_string(),
                           reason=_short(exc))) from exc
    if quick_check:
        result = check_integrity(engine)
        if result != "ok":
            engine.dispose()
            raise StoreError(T("database integrity check failed: {result}", result=result.splitlines()[0]))
    return engine


def _short(exc: SQLAlchemyError) -> str:
    """One line describing a driver error, without the SQL statement."""
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).splitlines()[0]
