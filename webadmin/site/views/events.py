"""Recent events from every controller of the site (every staff role), newest first.

A login limited to some rooms sees only the events of its rooms' doors. Admins read each person's name next
to the code (names stay in the site database, never on a controller); auditors read codes only.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, g, render_template

from webadmin.security import STAFF, allow
from webadmin.site import scope
from webadmin.site.state import service

logger = logging.getLogger(__name__)

bp = Blueprint("events", __name__, url_prefix="/events")

#: How many events the page lists.
EVENTS_SHOWN = 100


@bp.route("/")
@allow(STAFF)
def index() -> Any:
    """The newest events of the login's rooms; names for admins only."""
    events = list(service().recent_events(EVENTS_SHOWN, rooms=scope.rooms()))
    names: dict[str, str] = {}
    if g.account.is_admin:
        names = {p.code: p.name for p in scope.visible_people() if p.name}
    return render_template("events.html", events=events, names=names)
