"""The door's settings from the dashboard (issue 13): its mode, a lockdown, ending a keypad lockout early.

Admin only (an auditor's POST is a 403 and an ``admin.forbidden`` event, ``webadmin.security``). Each change
is one daemon request in the staff member's name (``webadmin.daemon``), which applies it at once and seals
its event with who and why; the page then redirects (post/redirect/get) with a flash saying what happened.
A missing reason or confirmation, or an unknown mode, is refused here (400) and nothing is sent.
The lockdown banner of every staff page comes from :func:`door_lockdown` (a read of the doors row).
With several doors (issue 16) each door has its own forms, which name it (``door``); the daemon applies the
change to that door only.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from controller.core.vocabulary import EventType, LockoutChannel
from controller.store.models import Door, Event
from webadmin import daemon
from webadmin.forms import FormError
from webadmin.forms.door import MODE_LABELS, DoorModeForm, LockdownStartForm, ReasonForm
from webadmin.security import ADMIN_ONLY, allow
from webadmin.state import read_db, state

logger = logging.getLogger(__name__)

bp = Blueprint("door", __name__)


def door_row() -> Door | None:
    """The configured door's row (the first door if that name has none, as the daemon reads it)."""
    db = read_db()
    row = db.scalars(select(Door).where(Door.name == state().config.door.name)).first()
    return row if row is not None else db.scalars(select(Door).order_by(Door.id).limit(1)).first()


def door_rows() -> list[Door]:
    """The rows of the configured doors, in the configuration's order (the first as :func:`door_row` reads it;
    a door whose row the daemon has not made yet is left out)."""
    names = list(getattr(state().config, "door_names", ()))[1:]
    first = door_row()
    rows = {row.name: row for row in read_db().scalars(select(Door).where(Door.name.in_(names)))} if names else {}
    return [*([first] if first is not None else []), *(rows[n] for n in names if n in rows and n != first.name)]


def several_doors() -> bool:
    """True when the configuration has more than one door (the forms then name theirs)."""
    return len(getattr(state().config, "door_names", ())) > 1


def chosen_door(name: str | None) -> dict[str, str]:
    """The ``door`` parameter of a daemon request for the door a form names: ``{}`` with one door (or none named),
    ``{"door": name}`` for a configured door; :class:`FormError` for any other name."""
    names = list(getattr(state().config, "door_names", ()))
    if not name or len(names) < 2:
        return {}
    if name not in names:
        raise FormError("door", _("There is no door %(name)s here (doors: %(doors)s).", name=name,
                                  doors=", ".join(names)))
    return {"door": name}


def door_lockdown() -> dict[str, Any] | None:
    """``{since, actor, reason}`` of the lockdown in force, or None (also when the database cannot be read)."""
    try:
        row = next((r for r in door_rows() if r.lockdown), None)  # any door's (issue 16: several doors)
        if row is None:
            return None
        started = read_db().scalars(select(Event).where(Event.type == EventType.LOCKDOWN_STARTED.value)
                                    .order_by(Event.id.desc()).limit(1)).first()
    except SQLAlchemyError:  # a banner never breaks a page; the dashboard says what is wrong
        logger.exception("could not read the door's lockdown flag")
        return None
    if started is None:
        return {"since": None, "actor": None, "reason": None}
    try:
        reason = json.loads(started.detail or "{}").get("reason")
    except (ValueError, AttributeError):
        reason = None
    return {"since": started.time, "actor": started.actor, "reason": reason}


@bp.app_context_processor
def _door_values() -> dict[str, Any]:
    """``door_lockdown()`` for base.html and ``door_row()`` for the dashboard (read only when a page calls them), the mode labels."""
    return {"door_lockdown": door_lockdown, "door_row": door_row, "door_rows": door_rows,
            "several_doors": several_doors, "mode_labels": MODE_LABELS}


def _back() -> Any:
    return redirect(url_for("dashboard.index"), code=303)


def _refused(message: str, status: int) -> Any:
    """The dashboard again with ``message``: nothing was changed."""
    from webadmin.views.dashboard import _live_context as live_context

    flash(message, "error")
    return render_template("dashboard.html", **live_context()), status


@bp.route("/door/mode", methods=["POST"])
@allow(ADMIN_ONLY)
def set_mode() -> Any:
    """Change the door's mode (confirmed)."""
    try:
        form = DoorModeForm().checked()
        door = chosen_door(form.door.data)
    except FormError as exc:
        return _refused(_("The door mode was not changed: %(error)s", error=str(exc)), 400)
    mode = form.mode.data
    try:
        result = daemon.admin("door.set_mode", mode=mode, **door)
    except daemon.ChangeRefused as exc:
        return _refused(exc.message, exc.status)
    if result.get("changed") and door:
        flash(_("The mode of door %(door)s is now %(label)s (%(mode)s).", door=door["door"], label=MODE_LABELS[mode],
                mode=mode), "ok")
    elif result.get("changed"):
        flash(_("The door mode is now %(label)s (%(mode)s).", label=MODE_LABELS[mode], mode=mode), "ok")
    else:
        flash(_("The door mode already was %(label)s (%(mode)s); nothing changed.", label=MODE_LABELS[mode], mode=mode),
              "ok")
    return _back()


@bp.route("/door/lockdown/start", methods=["POST"])
@allow(ADMIN_ONLY)
def lockdown_start() -> Any:
    """Start a lockdown (reason and confirmation required)."""
    try:
        form = LockdownStartForm().checked()
        door = chosen_door(form.door.data)
    except FormError as exc:
        return _refused(_("The lockdown was not started: %(error)s", error=str(exc)), 400)
    return _lockdown(True, form.reason.data, door)


@bp.route("/door/lockdown/end", methods=["POST"])
@allow(ADMIN_ONLY)
def lockdown_end() -> Any:
    """End the lockdown (reason required)."""
    try:
        form = ReasonForm().checked()
        door = chosen_door(form.door.data)
    except FormError as exc:
        return _refused(_("The lockdown was not ended: %(error)s", error=str(exc)), 400)
    return _lockdown(False, form.reason.data, door)


def _lockdown(on: bool, reason: str, door: dict[str, str]) -> Any:
    try:
        result = daemon.admin("door.lockdown", on=on, reason=reason, **door)
    except daemon.ChangeRefused as exc:
        return _refused(exc.message, exc.status)
    if door and result.get("changed"):
        flash(_("Lockdown of door %(door)s started: every PIN, fingerprint, remote unlock and exit button unlock "
                "there is refused until it is ended.", door=door["door"]) if on
              else _("Lockdown of door %(door)s ended.", door=door["door"]), "ok")
    elif not result.get("changed"):
        flash(_("The lockdown already was on; nothing changed.") if on
              else _("The lockdown already was off; nothing changed."), "ok")
    elif on:
        flash(_("Lockdown started: every PIN, fingerprint, remote unlock and exit button unlock is refused "
                "until it is ended."), "ok")
    else:
        flash(_("Lockdown ended: the door opens again for the people allowed in."), "ok")
    return _back()


@bp.route("/door/lockout/clear", methods=["POST"])
@allow(ADMIN_ONLY)
def lockout_clear() -> Any:
    """End the keypad lockout (or suspension) early (reason required)."""
    try:
        form = ReasonForm().checked()
    except FormError as exc:
        return _refused(_("The keypad lockout was not ended: %(error)s", error=str(exc)), 400)
    try:
        daemon.call("lockout.clear", channel=LockoutChannel.KEYPAD.value, reason=form.reason.data,
                    actor=g.account.username)
    except daemon.DaemonProblem as exc:
        return _refused(exc.message, 503 if exc.unreachable else 400)
    flash(_("The keypad lockout was ended: the next PIN is decided normally."), "ok")
    return _back()
