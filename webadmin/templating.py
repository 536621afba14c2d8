"""Jinja set-up: autoescape stays on; filters for site-local times; values every page needs.

Times are stored as UTC text; pages show them in ``site.timezone``. Nothing here
marks user data as safe.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, g
from flask_babel import gettext

from controller.core.door_state import DoorState
from controller.core.policy import DoorMode, Method, Reason
from controller.core.vocabulary import AlarmKind, EventType
from controller.timefmt import parse_iso_utc
from webadmin import labels
from webadmin.state import state

logger = logging.getLogger(__name__)


def site_zone() -> ZoneInfo:
    """The site's time zone (``site.timezone``), UTC if it cannot be loaded."""
    try:
        return ZoneInfo(state().config.site.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def localtime(value: str | datetime | None, fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A stored UTC time (ISO text or aware datetime) in the site time zone, as ``fmt``; '' for None."""
    if value is None or value == "":
        return ""
    try:
        dt = parse_iso_utc(value) if isinstance(value, str) else value
    except ValueError:
        return str(value)
    return dt.astimezone(site_zone()).strftime(fmt)


def init_app(app: Flask) -> None:
    """Register the filters and the context processor."""
    app.jinja_env.autoescape = True
    app.add_template_filter(localtime, "localtime")
    _register_labels(app)

    @app.context_processor
    def _page_values() -> dict[str, Any]:
        cfg = state().config
        return {
            "product": "Kunci",
            "room": cfg.site.name,
            "door_name": cfg.door.name,
            "simulated": bool(cfg.simulated),
            "account": g.get("account"),
            "timezone_name": cfg.site.timezone,
        }


#: The vocabularies a template names by a word: ``{{ e.reason|label('reason') }}``.
_VOCABULARIES = {"event": EventType, "reason": Reason, "mode": DoorMode, "method": Method, "alarm": AlarmKind,
                 "door_state": DoorState, "sensor_state": labels.SensorState}


def _register_labels(app: Flask) -> None:
    """The words of :mod:`webadmin.labels` for templates, in the page's language (Flask-Babel's ``gettext``):
    filters ``label``/``explain`` (codes to words; also the daemon's ``door_state`` and ``sensor_state``),
    globals ``event_sentence(e, names)`` (``names``: code -> name, empty for auditors), ``is_alert`` and
    ``setting_help(section, key)``."""

    def _label(value: str | None, vocabulary: str = "event") -> str:
        return labels.label(value, _VOCABULARIES[vocabulary], gettext=gettext)

    def _explain(value: str | None, vocabulary: str = "event") -> str:
        return labels.explain(value, _VOCABULARIES[vocabulary], gettext=gettext)

    def _event_sentence(event: Any, names: dict[str, str] | None = None) -> str:
        return labels.sentence(event, (names or {}).get(event.user_code or ""), event.door, gettext=gettext)

    app.add_template_filter(_label, "label")
    app.add_template_filter(_explain, "explain")
    app.add_template_global(_event_sentence, "event_sentence")
    app.add_template_global(labels.is_alert, "is_alert")
    app.add_template_global(lambda section, key: labels.setting_help(section, key, gettext=gettext), "setting_help")
