"""Jinja and language set-up of the site admin page.

Templates are looked up in ``webadmin/site/templates`` first, then in the controller page's
``webadmin/templates`` (its macros, confirmation page and the look of its forms are reused as they are);
the static files (stylesheet, scripts, icon) are the controller page's. Pages are in English or Bahasa
Indonesia: the login's own choice (``web.db``), else the site's language. Times are shown in the site's
time zone. Autoescape stays on and nothing marks data as safe.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, g
from flask_babel import Babel, gettext
from jinja2 import ChoiceLoader, FileSystemLoader

from controller.core.policy import DoorMode, Method, Reason
from controller.core.vocabulary import EventType
from controller.i18n import LANGUAGE_NAMES, LANGUAGES, TRANSLATIONS_DIR, set_language
from controller.timefmt import parse_iso_utc
from webadmin import labels
from webadmin.i18n import current_language
from webadmin.site.state import state

logger = logging.getLogger(__name__)

SITE_TEMPLATES = Path(__file__).resolve().parent / "templates"
CONTROLLER_TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
STATIC = Path(__file__).resolve().parents[1] / "static"

_VOCABULARIES = {"event": EventType, "reason": Reason, "mode": DoorMode, "method": Method}


def select_locale() -> str:
    """The request's language: the login's own choice if it made one, else the site's."""
    account = g.get("account")
    if account is not None:
        chosen = state().web_store.language(account.username)
        if chosen in LANGUAGES:
            return chosen
    return state().language


def localtime(value: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A UTC time (ISO text or aware datetime) in the site's time zone as ``fmt``; '' for None."""
    if value is None or value == "":
        return ""
    try:
        dt = parse_iso_utc(value) if isinstance(value, str) else value
        zone = ZoneInfo(state().timezone)
    except (ValueError, ZoneInfoNotFoundError):
        return str(value)
    return dt.astimezone(zone).strftime(fmt)


def init_app(app: Flask) -> None:
    """Template loader, Flask-Babel, filters and the values every page needs."""
    app.jinja_loader = ChoiceLoader([FileSystemLoader(SITE_TEMPLATES), FileSystemLoader(CONTROLLER_TEMPLATES)])
    app.jinja_env.autoescape = True
    app.config.setdefault("BABEL_TRANSLATION_DIRECTORIES", str(TRANSLATIONS_DIR))
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    Babel(app, locale_selector=select_locale)
    app.before_request(lambda: set_language(current_language()))
    app.add_template_global(current_language, "current_language")
    app.add_template_global(LANGUAGE_NAMES, "language_names")
    app.add_template_filter(localtime, "localtime")
    app.add_template_filter(lambda v, vocabulary="event": labels.label(v, _VOCABULARIES[vocabulary], gettext=gettext),
                            "label")
    app.add_template_global(labels.is_alert, "is_alert")

    def _event_sentence(event: Any, names: dict[str, str] | None = None) -> str:
        return labels.sentence(event, (names or {}).get(event.user_code or ""), event.door, gettext=gettext)

    app.add_template_global(_event_sentence, "event_sentence")

    @app.context_processor
    def _page_values() -> dict[str, Any]:
        web = state()
        return {"product": "Kunci", "room": web.site_name or gettext("Site"), "simulated": False,
                "account": g.get("account"), "timezone_name": web.timezone}
