"""Admin web page (Flask). Never imports ``drivers``; talks to the daemon over its control socket.

:func:`create_app` is the app factory: it reads ``DATA/kunci.toml``, opens the
database (already created by ``kunci init``/the daemon; the web never migrates it),
and registers one blueprint per area. The web process holds no secret of the door:
the cookie-signing key is random per process (a restart logs everybody out), and
anything needing the pepper, the audit key or hardware goes to the daemon.

The door database is opened read-only (:mod:`webadmin.readonly_db`); every change is sent
to the door daemon, the only writer. The web's own sessions and login counters live in
``DATA/web/web.db`` (:mod:`controller.store.web_store`), created here when missing. Pages are in
English or Bahasa Indonesia (:mod:`webadmin.i18n`).
"""

from __future__ import annotations

import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from controller.errors import StoreError
from controller.i18n import T
from controller.paths import DataDir

logger = logging.getLogger(__name__)

#: Largest request body accepted (bytes); larger requests get a 413 page.
MAX_CONTENT_LENGTH = 64 * 1024


def create_app(datadir: str | os.PathLike[str] | None = None, *, test_config: dict[str, Any] | None = None) -> Flask:
    """Build the admin web application.

    :param datadir: the data directory ``DATA`` (default: ``$KUNCI_DATA``, else ``/var/lib/kunci``).
    :param test_config: Flask settings applied last. Besides ordinary Flask keys, tests may set
        ``KUNCI_CONFIG`` (a :class:`controller.config.Config` used instead of reading the file),
        ``KUNCI_ENGINE`` (an SQLAlchemy engine used instead of the read-only one),
        ``KUNCI_SOCKET_PATH`` (the daemon socket) and
        ``KUNCI_HASHER`` (an argon2 ``PasswordHasher`` with cheap parameters).
    :raises ConfigError: for an invalid configuration file; :raises StoreError: if the database
        cannot be opened.
    """
    from controller.config import load_config
    from controller.core.enrolment import progress_wait_seconds
    from controller.store.db import session_factory
    from controller.store.web_store import WebStore
    from webadmin import i18n, security, templating
    from webadmin.enrol import EnrolJobs
    from webadmin.readonly_db import open_readonly
    from webadmin.shown_once import ShownOnce
    from webadmin.state import WebState, close_db
    from webadmin.views import BLUEPRINTS, errors

    dd = DataDir.resolve(datadir)
    overrides = dict(test_config or {})
    config = overrides.pop("KUNCI_CONFIG", None) or load_config(dd.config_file)

    app = Flask(__name__)
    app.config.from_mapping(
        SECRET_KEY=secrets.token_bytes(32),
        SESSION_COOKIE_NAME="__Host-kunci",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.web.session_max_hours),
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        MAX_FORM_MEMORY_SIZE=MAX_CONTENT_LENGTH,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the (server-checked) session
        # Referrer-Policy is no-referrer, so browsers send no Referer for Flask-WTF's strict
        # HTTPS check to compare; the per-session token and SameSite=Lax do the job.
        WTF_CSRF_SSL_STRICT=False,
        PREFERRED_URL_SCHEME="https",
        TEMPLATES_AUTO_RELOAD=False,
    )
    engine = overrides.pop("KUNCI_ENGINE", None)
    socket_path = Path(overrides.pop("KUNCI_SOCKET_PATH", None) or dd.socket_path)
    hasher = overrides.pop("KUNCI_HASHER", None)
    app.config.update(overrides)

    if engine is None:
        engine = open_readonly(dd, config.store.url, busy_timeout_ms=config.store.busy_timeout_ms)
        _require_schema(engine)
    web_state = WebState(
        datadir=dd,
        config=config,
        engine=engine,
        read_sessions=session_factory(engine, readonly=True),
        web_store=WebStore.open(dd, busy_timeout_ms=config.store.busy_timeout_ms),
        socket_path=socket_path,
        hasher=hasher,
        login_limiter=security.AddressLimiter(),
        shown_once=ShownOnce(),
    )
    web_state.enrolments = EnrolJobs(lambda timeout: web_state.client(timeout), progress_wait_seconds(
        config.sensor.enroll_step_timeout_seconds, config.sensor.command_timeout_seconds))
    app.extensions["kunci"] = web_state

    csrf = CSRFProtect()
    security.init_app(app, csrf.init_app)
    app.teardown_appcontext(close_db)
    i18n.init_app(app)
    templating.init_app(app)
    errors.init_app(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    logger.info("admin web app created for %s", dd.root)
    return app


def _require_schema(engine: Any) -> None:
    """Refuse to serve a database that ``kunci init`` has not created or that is at another revision.

    The web never migrates: the daemon and ``kunci init`` do, while holding the data directory.
    """
    from controller.store.db import database_revision, head_revision

    current, expected = database_revision(engine), head_revision()
    if current is None:
        engine.dispose()
        raise StoreError(T("the database is not initialised; run 'kunci init' first"))
    if current != expected:
        engine.dispose()
        raise StoreError(T("the database is at schema revision {current} but this Kunci expects {expected}; "
                           "run 'kunci init' (it upgrades the database) and start the web page again",
                           current=current, expected=expected))
