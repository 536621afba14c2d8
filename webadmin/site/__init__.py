"""The site admin page (Flask): one page for the people, groups, doors and controllers of a whole site.

:func:`create_site_app` is the app factory, served only by ``kunci site web`` (cheroot over HTTPS, as
``kunci web``; :mod:`controller.cli.site_web_cmd`). It talks to the site's PostgreSQL database as the
site admin role through :class:`controller.site.service.SiteService` (every change one transaction that
also writes the feed the controllers follow), never through a controller's daemon, and never imports the
controllers' site link. The request guards (input screening, CSRF, headers, per-address login limiter)
are the controller page's (:mod:`webadmin.security`); sessions are server-side in ``SITE_DIR/web/web.db``
(:mod:`webadmin.site.sessions`). A staff login with rooms sees and changes only those rooms' people,
doors and events (docs/site.md "The site admin page").
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

logger = logging.getLogger(__name__)

#: Largest request body accepted (bytes), as on a controller's page.
MAX_CONTENT_LENGTH = 64 * 1024


def create_site_app(site_dir: str | os.PathLike[str], *, test_config: dict[str, Any] | None = None) -> Flask:
    """Build the site admin web application.

    :param site_dir: the site directory made by ``kunci site init`` (its configuration names the database).
    :param test_config: Flask settings applied last. Besides ordinary Flask keys, tests may set
        ``KUNCI_SITE_SERVICE`` (a site service used instead of the one the site directory describes).
    :raises KunciError: when the site directory or its database cannot be used.
    """
    from controller.config.schema import WebConfig
    from webadmin import security
    from webadmin.shown_once import ShownOnce
    from webadmin.site import sessions, templating
    from webadmin.site.state import SiteWebState
    from webadmin.site.views import BLUEPRINTS
    from webadmin.views import errors

    root = Path(site_dir)
    overrides = dict(test_config or {})
    service = overrides.pop("KUNCI_SITE_SERVICE", None)
    settings = _site_settings(root)
    if service is None:
        service = _open_service(root)
    web = WebConfig()

    app = Flask(__name__, static_folder=str(templating.STATIC), static_url_path="/static")
    app.config.from_mapping(
        SECRET_KEY=secrets.token_bytes(32),
        SESSION_COOKIE_NAME="__Host-kunci-site",
        SESSION_COOKIE_SECURE=True,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=web.session_max_hours),
        MAX_CONTENT_LENGTH=MAX_CONTENT_LENGTH,
        MAX_FORM_MEMORY_SIZE=MAX_CONTENT_LENGTH,
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,  # Referrer-Policy: no-referrer (see webadmin/README.md "CSRF")
        PREFERRED_URL_SCHEME="https",
        TEMPLATES_AUTO_RELOAD=False,
    )
    app.config.update(overrides)
    store = _open_web_store(root / "web")
    app.extensions["kunci_site"] = SiteWebState(
        site_dir=root, service=service, web_store=store, web=web, language=settings.get("language", "en"),
        timezone=settings.get("timezone", "UTC"), login_limiter=security.AddressLimiter(), shown_once=ShownOnce(),
        site_name=settings.get("name", ""),
    )

    app.before_request(security.screen_input)
    CSRFProtect().init_app(app)
    app.before_request(sessions.load_session)
    app.before_request(sessions.authorize)
    app.after_request(security.set_headers)
    templating.init_app(app)
    errors.init_app(app)
    _database_errors(app)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    logger.info("site admin web app created for %s", root)
    return app


def _open_web_store(web_dir: Path) -> Any:
    """``SITE/web/web.db`` (made 0700/0600 when missing): the page's sessions, login locks and language choices."""
    from controller.errors import StoreError
    from controller.i18n import T
    from controller.store.web_store import WebStore

    path = web_dir / "web.db"
    try:
        web_dir.mkdir(mode=0o700, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise StoreError(T("cannot create the web's database in {path}: {reason}", path=web_dir,
                           reason=exc.strerror or exc)) from exc
    store = WebStore(path)
    store.migrate()
    return store


def _database_errors(app: Flask) -> None:
    """A site database that cannot be reached (network, server down) answers 503 with a clear sentence, not 500."""
    from flask_babel import gettext
    from sqlalchemy.exc import InterfaceError, OperationalError

    from webadmin.views.errors import render_error

    def unreachable(exc: Exception) -> Any:
        logger.warning("site database unreachable: %s", getattr(exc, "orig", exc))
        return render_error(503, gettext("The site database cannot be reached just now. Nothing was changed; "
                                         "try again in a moment."))

    app.register_error_handler(OperationalError, unreachable)
    app.register_error_handler(InterfaceError, unreachable)


def _site_settings(root: Path) -> dict[str, str]:
    """The optional ``[web]`` table of ``SITE/site.toml``: ``name`` (shown in the header, at most 60 characters),
    ``language`` (``en`` or ``id``: the page's language for a login that chose none) and ``timezone`` (IANA
    name, default UTC). :class:`ConfigError` names every bad key at once."""
    import tomllib
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from controller.errors import ConfigError
    from controller.i18n import LANGUAGES, T

    try:
        table = tomllib.loads((root / "site.toml").read_text(encoding="utf-8")).get("web", {})
    except (OSError, tomllib.TOMLDecodeError):
        return {}  # the site service reports a missing or broken site.toml with its own words
    if not isinstance(table, dict):
        raise ConfigError([T("site.toml: [web] must be a table")])
    problems = [T("site.toml: unknown key web.{key}", key=k) for k in sorted(set(table) - {"name", "language",
                                                                                          "timezone"})]
    settings = {k: table[k] for k in ("name", "language", "timezone") if k in table}
    if not all(isinstance(v, str) for v in settings.values()):
        problems.append(T("site.toml: web.name, web.language and web.timezone must be text"))
    elif len(settings.get("name", "")) > 60:
        problems.append(T("site.toml: web.name is longer than 60 characters"))
    if settings.get("language", "en") not in LANGUAGES:
        problems.append(T("site.toml: web.language must be one of {allowed}", allowed=", ".join(LANGUAGES)))
    try:
        ZoneInfo(str(settings.get("timezone", "UTC")))
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(T("site.toml: web.timezone {zone} is not a known time zone", zone=settings.get("timezone")))
    if problems:
        raise ConfigError(problems)
    return settings


def _open_service(root: Path) -> Any:
    """The site service for the database the site directory names."""
    from controller.site.service import SiteService

    return SiteService.for_site(root)
