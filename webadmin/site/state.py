"""Per-application state of the site admin page: the site service, its own sessions, limits.

One :class:`SiteWebState` is built by :func:`webadmin.site.create_site_app` and kept in
``app.extensions["kunci_site"]``; views reach it with :func:`state` (no module globals, STYLE rule 11).
Every read and change of the site goes through :class:`controller.site.service.SiteService` (one
PostgreSQL transaction per call, as the site admin role). The page's own sessions, per-login failure
counters and language choices are in ``SITE_DIR/web/web.db`` (:class:`controller.store.web_store.WebStore`,
the same file format as a controller's admin web).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app, g

from controller.config.schema import WebConfig
from controller.store.web_store import WebStore

logger = logging.getLogger(__name__)


@dataclass
class SiteWebState:
    """Everything the views need, built once per app.

    :param site_dir: the site directory (``kunci site init``).
    :param service: the site service (:class:`controller.site.service.SiteService` or a stand-in with its methods).
    :param web_store: the page's sessions, per-login lock and language choices.
    :param web: session and login limits (``[web]`` settings; :class:`controller.config.schema.WebConfig`).
    :param language: the page language for a login that chose none (``en`` or ``id``).
    :param timezone: the zone times are shown in (IANA name).
    :param login_limiter: per-address failed-login limiter (:class:`webadmin.security.AddressLimiter`).
    :param shown_once: new PINs waiting to be shown once (:class:`webadmin.shown_once.ShownOnce`).
    :param site_name: the name shown in the page header.
    """

    site_dir: Path
    service: Any
    web_store: WebStore
    web: WebConfig
    language: str = "en"
    timezone: str = "UTC"
    login_limiter: Any = None
    shown_once: Any = None
    site_name: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def state() -> SiteWebState:
    """The :class:`SiteWebState` of the current app."""
    return current_app.extensions["kunci_site"]


def service() -> Any:
    """The site service of the current app."""
    return state().service


def login() -> Any:
    """The staff login of this request (:class:`webadmin.site.sessions.StaffLogin`) or ``None``."""
    return g.get("account")
