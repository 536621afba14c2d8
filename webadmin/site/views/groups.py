"""Groups of the site (admins only): which doors each group opens, as checkboxes grouped by room.

A login limited to some rooms sees and ticks only the doors of its rooms; a group's doors in other rooms are
not shown and are kept as they are when it saves (:func:`webadmin.site.scope.new_door_set`). Each save is one
site-service call, which feeds the change to every controller whose view of the group changed.

A group's schedule (none: any time) is chosen when it is added and can be changed for each group; a login
limited to some rooms may change it only for a group whose doors are all in its rooms (the schedule decides
when the group's people enter at every one of its doors): :func:`webadmin.site.scope.assignable_groups`.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from controller.errors import KunciError
from webadmin.forms import FormError, sentence
from webadmin.site import scope
from webadmin.site.forms import GroupAddForm, GroupScheduleForm
from webadmin.site.state import service

logger = logging.getLogger(__name__)

bp = Blueprint("groups", __name__, url_prefix="/groups")


def _by_room(doors: list[Any]) -> list[tuple[str, list[Any]]]:
    """The doors grouped by room name, rooms and doors in name order."""
    rooms: OrderedDict[str, list[Any]] = OrderedDict()
    for door in sorted(doors, key=lambda d: (d.room, d.controller, d.name)):
        rooms.setdefault(door.room, []).append(door)
    return list(rooms.items())


def _ticked() -> list[int]:
    """The ``door`` checkbox values of the form, as door ids (400 for anything that is not one)."""
    values = request.form.getlist("door")
    if not all(v.isdigit() and len(v) <= 9 for v in values):
        abort(400)
    return [int(v) for v in values]


#: Why a login limited to some rooms may not change a group's schedule (translated when shown).
NOT_MINE = lazy_gettext("This group also opens doors in rooms you do not manage: only a login for every room "
                        "may change its schedule.")


def _schedule_names() -> list[str]:
    return [s.name for s in service().list_schedules()]


def _page(status: int = 200, error: str | None = None, form: Any = None) -> Any:
    doors = scope.visible_doors()
    all_groups = service().list_groups()
    groups = scope.visible_groups(all_groups, doors)
    settable = {gr.name for gr in scope.assignable_groups(all_groups, doors)}
    return render_template("groups.html", groups=groups, rooms=_by_room(doors), schedules=_schedule_names(),
                           settable=settable, not_mine=str(NOT_MINE), error=error,
                           form=form or GroupAddForm(formdata=None)), status


@bp.route("/")
def index() -> Any:
    """Every group with the doors of the login's rooms as checkboxes, and the form for a new group."""
    return _page()


@bp.route("/new", methods=["POST"])
def add() -> Any:
    """Add a group opening the ticked doors (doors of the login's rooms only)."""
    form = GroupAddForm(schedules=_schedule_names())
    doors = scope.visible_doors()
    try:
        form.checked()
        ticked = _ticked()
        if not set(ticked) <= {int(d.id) for d in doors}:
            abort(400)
        service().add_group(form.name.data, ticked, form.schedule.data or None, actor=g.account.username)
    except (FormError, KunciError) as exc:
        return _page(400, sentence(str(exc)), form)
    logger.info("site staff %s added group %s", g.account.username, form.name.data)
    flash(_("Group %(name)s added.", name=form.name.data), "ok")
    return redirect(url_for("groups.index"), code=303)


@bp.route("/<name>/doors", methods=["POST"])
def set_doors(name: str) -> Any:
    """Save which doors of the login's rooms the group opens (its doors elsewhere stay)."""
    doors = scope.visible_doors()
    group = next((gr for gr in scope.visible_groups(service().list_groups(), doors) if gr.name == name), None)
    if group is None:
        abort(404)
    door_ids = scope.new_door_set(group, _ticked(), doors)
    try:
        service().set_group_doors(name, door_ids, actor=g.account.username)
    except KunciError as exc:
        return _page(400, sentence(str(exc)))
    logger.info("site staff %s set the doors of group %s", g.account.username, name)
    flash(_("Doors of group %(name)s saved.", name=name), "ok")
    return redirect(url_for("groups.index"), code=303)


@bp.route("/<name>/schedule", methods=["POST"])
def set_schedule(name: str) -> Any:
    """Set the group's schedule (empty: any time); a login limited to some rooms only for a group whose doors
    are all in its rooms (else 403)."""
    doors = scope.visible_doors()
    all_groups = service().list_groups()
    if not any(gr.name == name for gr in scope.visible_groups(all_groups, doors)):
        abort(404)
    if not any(gr.name == name for gr in scope.assignable_groups(all_groups, doors)):
        logger.warning("site staff %s refused: schedule of group %s (other rooms)", g.account.username, name)
        abort(403)
    form = GroupScheduleForm(schedules=_schedule_names())
    try:
        form.checked()
        service().set_group_schedule(name, form.schedule.data or None, actor=g.account.username)
    except (FormError, KunciError) as exc:
        return _page(400, sentence(str(exc)))
    logger.info("site staff %s set the schedule of group %s to %s", g.account.username, name, form.schedule.data)
    if form.schedule.data:
        flash(_("Group %(name)s now follows schedule %(schedule)s.", name=name, schedule=form.schedule.data), "ok")
    else:
        flash(_("Group %(name)s may now enter at any time.", name=name), "ok")
    return redirect(url_for("groups.index"), code=303)
