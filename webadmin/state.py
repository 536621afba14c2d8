"""Per-application state of the admin web: data directory, configuration, databases, daemon client.

One :class:`WebState` is built by :func:`webadmin.create_app` and kept in
``app.extensions["kunci"]``; views reach it with :func:`state` (no module globals,
STYLE rule 11). The door database is opened read-only (SQLite ``mode=ro``): the web
never writes it; every change goes to the door daemon (:func:`webadmin.daemon.admin`).
:func:`read_db` gives the request's read session. The web's own sessions and login
counters live in ``DATA/web/web.db`` (:class:`controller.store.web_store.WebStore`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from controller.config import Config
from controller.control.client import ControlClient
from controller.paths import DataDir
from controller.store.web_store import WebStore

logger = logging.getLogger(__name__)

#: Seconds the web waits for each reply line of an ordinary daemon command.
DAEMON_TIMEOUT_SECONDS = 5.0


@dataclass
class WebState:
    """Everything the views need, built once per app.

    :param datadir: the data directory (``DATA``).
    :param config: the effective configuration.
    :param engine: the door database engine, read-only; ``read_sessions`` is bound to it.
    :param web_store: the web's own database (sessions, per-account login lock).
    :param socket_path: the daemon's control socket (``DATA/run/control.sock`` unless overridden in tests).
    :param hasher: the argon2 ``PasswordHasher`` (``None`` = the staff module's production default).
    :param login_limiter: per-address failed-login limiter (:class:`webadmin.security.AddressLimiter`).
    :param enrolments: running fingerprint enrolments (:class:`webadmin.enrol.EnrolJobs`).
    :param shown_once: PINs waiting to be shown once (:class:`webadmin.shown_once.ShownOnce`).
    """

    datadir: DataDir
    config: Config
    engine: Engine
    read_sessions: sessionmaker[Session]
    web_store: WebStore
    socket_path: Path
    hasher: Any = None
    login_limiter: Any = None
    enrolments: Any = None
    shown_once: Any = None
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


def end_read() -> None:
    """End the request's read transaction: before slow work (a password hash) and after a change,
    so the page rendered next sees what the daemon wrote."""
    if "kunci_read_db" in g:
        g.kunci_read_db.rollback()


def close_db(_exc: BaseException | None = None) -> None:
    """Teardown: close the request's read session."""
    session = g.pop("kunci_read_db", None)
    if session is not None:
        session.close()
