"""Checks of the parameters every daemon command shares: the person's code and the acting account."""

from __future__ import annotations

import re
from typing import Any

from controller.errors import InvalidInput
from controller.i18n import T
from controller.store.people import validate_code

ACTOR_RE = re.compile(r"^(cli:)?[A-Za-z0-9_.-]{1,64}$")


def code(params: dict[str, Any]) -> str:
    """The person's code in ``params["user"]`` (``U0042``), checked."""
    return validate_code(str(params.get("user", "")))


def actor(params: dict[str, Any]) -> str:
    """The acting account in ``params["actor"]`` (default ``cli``), checked; resolved by the server beforehand."""
    name = str(params.get("actor") or "cli")
    if not ACTOR_RE.match(name):
        raise InvalidInput(T("invalid actor name"))
    return name
