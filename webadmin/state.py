"""Per-application state of the admin web: data directory, configuration, database, daemon client.

One :class:`WebState` is built by :func:`webadmin.create_app` and kept in
``app.extensions["kunci"]``; views reach it with :func:`state` (no module globals,
STYLE rule 11). Database sessions are per request: :func:`read_db` gives a
read-only session (plain ``BEGIN``, never holds the SQLite write lock) and
:func:`write_db` a write transaction that commits on success, used for one
change and its admin event together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controller.client import ControlClient
from controller.config import Config
from controller.paths import DataDir

logger = logging.getLogger(__name__)

#: Seconds the web waits for each reply line of an ordinary daemon command.
DAEMON_TIMEOUT_SECONDS = 5.0


@dataclass
class WebState:
    """Everything the views need, built once per app.

    :param datadir: the data directory (``DATA``).
    :param config: the effective configuration.
    :param engine: the database engine; ``read_sessions``/``write_sessions`` are bound to it.
    :param socket_path: the daemon's control socket (``DATA/run/control.sock`` unless overridden in tests).
    :param hasher: the argon2 ``PasswordHasher`` (``None`` = the staff module's production default).
    :param login_limiter: per-address failed-login limiter (:class:`webadmin.security.AddressLimiter`).
    :param enrolments: running fingerprint enrolments (:class:`webadmin.enrol.EnrolJobs`).
    """

    datadir: DataDir
    config: Config
    engine: Engine
    read_sessions: sessionmaker[Session]
    write_sessions: sessionmaker[Session]
    socket_path: Path
    hasher: Any = None
    login_limiter: Any = None
    enrolments: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    def client(self, timeout: float = DAEMON_TIMEOUT_SECONDS) -> ControlClient:
        """A control-socket client for the door daemon (one request per call)."""
        return ControlClient(self.socket_path, timeout=timeout)


def state() -> WebState:
    """The :class:`WebState` of the current app."""
    return current_app.extensions["kunci"]


def read_db() -> Session:
    """The request's read-only database session (created on first use, closed at teardown)."""
    if "kunci_read_db" not in g:
        g.kunci_read_db = state().read_sessions()
    return g.kunci_read_db


@contextmanager
def write_db() -> Iterator[Session]:
    """One write transaction: commits when the block ends, rolls back if it raises.

    The request's read transaction is ended first so the page rendered afterwards
    sees the change.
    """
    if "kunci_read_db" in g:
        g.kunci_read_db.rollback()
    session = state().write_sessions()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def close_db(_exc: BaseException | None = None) -> None:
    """Teardown: close the request's read session."""
    session = g.pop("kunci_read_db", None)
    if session is not None:
        session.close()
