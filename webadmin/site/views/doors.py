"""Doors and controllers of the site (every staff role): each door's room, controller and mode, and each
controller's sync state: last contact, how many feed revisions it has not fetched yet, the last event it
uploaded, and a warning when it has not been in touch for :data:`STALE_AFTER_SECONDS`.

A login limited to some rooms sees the doors of its rooms and the controllers driving them, nothing else.
Admins set a door's mode here (sent to its controller as the feed's ``door`` row); "as configured" leaves the
mode in the controller's own configuration.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controller.errors import KunciError
from controller.store.models import DOOR_MODES
from controller.timefmt import utcnow
from webadmin.forms import sentence
from webadmin.security import STAFF, allow
from webadmin.site import scope
from webadmin.site.state import service

logger = logging.getLogger(__name__)

bp = Blueprint("doors", __name__, url_prefix="/doors")

#: A controller not heard from for this long is shown as out of touch (it polls every 30 s by default).
STALE_AFTER_SECONDS = 300


@dataclass(frozen=True)
class ControllerRow:
    """One controller as the page shows it."""

    name: str
    last_seen_at: datetime | None
    revision_seen: int
    revision_lag: int
    uploaded_seq: int
    stale: bool
    doors: int


def controller_rows(controllers: list[Any], doors: list[Any], now: datetime) -> list[ControllerRow]:
    """The controllers driving at least one of ``doors``, with their lag and staleness at ``now``."""
    count: dict[str, int] = {}
    for door in doors:
        count[door.controller] = count.get(door.controller, 0) + 1
    rows = []
    for c in controllers:
        if c.name not in count:
            continue
        seen = c.last_seen_at
        stale = seen is None or (now - seen).total_seconds() > STALE_AFTER_SECONDS
        rows.append(ControllerRow(name=c.name, last_seen_at=seen, revision_seen=int(c.revision_seen),
                                  revision_lag=max(0, int(c.revision_head) - int(c.revision_seen)),
                                  uploaded_seq=int(c.uploaded_seq), stale=stale, doors=count[c.name]))
    return sorted(rows, key=lambda r: r.name)


@bp.route("/")
@allow(STAFF)
def index() -> Any:
    """The doors of the login's rooms and the controllers that drive them."""
    doors = sorted(scope.visible_doors(), key=lambda d: (d.room, d.controller, d.name))
    controllers = controller_rows(list(service().controllers()), doors, utcnow())
    return render_template("doors.html", doors=doors, controllers=controllers, stale_minutes=STALE_AFTER_SECONDS // 60,
                           modes=DOOR_MODES)


@bp.route("/<int:door_id>/mode", methods=["POST"])
def set_mode(door_id: int) -> Any:
    """Set the mode of a door of the login's rooms (admins only); empty = as configured on its controller."""
    door = next((d for d in scope.visible_doors() if d.id == door_id), None)
    if door is None:
        abort(404)
    mode = request.form.get("mode", "")
    if mode and mode not in DOOR_MODES:
        abort(400, description=_("The door mode must be one of: %(modes)s.", modes=", ".join(DOOR_MODES)))
    try:
        service().set_door_mode(door_id, mode or None, actor=g.account.username)
    except KunciError as exc:
        abort(400, description=sentence(str(exc)))
    logger.info("site staff %s set the mode of door %s on %s to %s", g.account.username, door.name, door.controller,
                mode or "configured")
    flash(_("Mode of door %(door)s on %(controller)s saved.", door=door.name, controller=door.controller), "ok")
    return redirect(url_for("doors.index"), code=303)
