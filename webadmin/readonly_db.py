"""The admin web's read-only view of the door database (the web never writes it: docs/internals.md
"One writer, one sealer").

SQLite files are opened with the URI ``file:PATH?mode=ro``: no statement on such a
connection can write, and none takes the write lock, so no web request can hold up the
door daemon. In the installed layout the operating system refuses a write as well
(``kunci.db`` is 0640, owned by the daemon's account, group-readable by the web's).

A WAL database can be read this way while the daemon holds it open (its ``-wal`` and
``-shm`` files exist). When the daemon is stopped and closed the database cleanly, those
files are gone and the web's account cannot create them; SQLite then refuses even a read.
Because a WAL database without a ``-wal`` file is fully checkpointed, the connection then
reads the main file alone (``immutable=1``). Connections are not pooled, so each request
decides afresh and a daemon that starts again is seen at the next request.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from controller.errors import StoreError
from controller.i18n import T
from controller.paths import DataDir
from controller.store.db import require_existing_database

logger = logging.getLogger(__name__)


def _connect_ro(path: Path, timeout_s: float) -> sqlite3.Connection:
    base = f"file:{quote(str(path))}?mode=ro"
    conn = sqlite3.connect(base, uri=True, timeout=timeout_s, check_same_thread=False)
    try:
        conn.execute("PRAGMA schema_version").fetchone()
        return conn
    except sqlite3.OperationalError as exc:
        conn.close()
        wal = path.with_name(path.name + "-wal")
        if wal.exists() or not path.exists():
            raise
        logger.debug("door database has no WAL file and this account cannot create it (%s): reading it as immutable",
                     exc)
    return sqlite3.connect(base + "&immutable=1", uri=True, timeout=timeout_s, check_same_thread=False)


def open_readonly(datadir: DataDir, url: str = "", *, busy_timeout_ms: int = 5000) -> Engine:
    """An engine on the door database that can only read.

    :param url: ``store.url`` from the configuration (empty = ``DATA/kunci.db``). A non-SQLite
        URL is opened as given: give the web a database role that may only ``SELECT``.
    :param busy_timeout_ms: how long a read waits on a lock (default 5000 ms).
    :raises StoreError: when the database file is missing or cannot be read.
    """
    url = url or datadir.default_db_url
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        engine = create_engine(url, pool_pre_ping=True)
    else:
        database = parsed.database or ""
        if not database or database == ":memory:" or database.startswith("file:"):
            raise StoreError(T("the admin web reads the door database from a file path (store.url sqlite:///PATH)"))
        path = Path(database)
        require_existing_database(datadir, path)  # missing or 0 bytes: a lost database (restore), never "new"
        if not path.is_file():
            raise StoreError(T("the door database {path} does not exist; run 'kunci init' first", path=path))
        timeout_s = busy_timeout_ms / 1000.0
        engine = create_engine("sqlite://", creator=lambda: _connect_ro(path, timeout_s), poolclass=NullPool)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # BEGIN is emitted by the listener below
            cur = dbapi_conn.cursor()
            try:
                cur.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
                cur.execute("PRAGMA query_only = ON")
            finally:
                cur.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN")

    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        engine.dispose()
        orig = getattr(exc, "orig", None) or exc
        raise StoreError(T("cannot read the door database: {error}", error=str(orig).splitlines()[0])) from exc
    return engine
