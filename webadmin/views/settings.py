"""Settings (admin only): the effective configuration, read-only, secrets masked.

Changing settings means editing ``DATA/kunci.toml`` on the device and restarting
the services; the page shows which values differ from the defaults.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from flask import Blueprint, render_template

from controller.config import Config
from webadmin.security import ADMIN_ONLY, allow
from webadmin.state import state

logger = logging.getLogger(__name__)

bp = Blueprint("settings", __name__, url_prefix="/settings")

#: Keys whose values are never shown.
MASKED = {"password"}


def _rows(current: Any, default: Any) -> list[tuple[str, str, bool]]:
    rows = []
    for f in dataclasses.fields(current):
        value = getattr(current, f.name)
        if dataclasses.is_dataclass(value):
            continue
        shown = "(hidden)" if f.name in MASKED else _text(value)
        rows.append((f.name, shown, value != getattr(default, f.name)))
    return rows


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ", ".join(_text(v) for v in value) if not any(isinstance(v, tuple) for v in value) else " / ".join(
            " ".join(_text(x) for x in v) for v in value
        )
    return str(value) if value != "" else "(empty)"


@bp.route("")
@allow(ADMIN_ONLY)
def index() -> Any:
    """Every configuration key with its effective value."""
    cfg, defaults = state().config, Config()
    sections = [("general", _rows(cfg, defaults))]
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            sections.append((f.name, _rows(value, getattr(defaults, f.name))))
    return render_template("settings.html", sections=sections, config_file=str(state().datadir.config_file))
