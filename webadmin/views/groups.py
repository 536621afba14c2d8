"""Access rules (admin only): groups, weekly schedules and holidays.

Each change is one ``admin`` call to the door daemon (``group.*``, ``schedule.*``,
``holiday.*``), which applies it with its admin event; the web only reads.
Schedules are created whole (name, up to two windows per weekday, holiday rule);
to change one, create a new schedule, move the groups to it, delete the old one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from controller.errors import InvalidInput, NotFound, PolicyRefused
from controller.store import schedules as rules
from webadmin import daemon
from webadmin.forms import sentence
from webadmin.forms.door import MODE_LABELS
from webadmin.forms.access import (
    WEEKDAYS,
    WINDOWS_PER_DAY,
    GroupDeleteForm,
    GroupForm,
    GroupRulesForm,
    HolidayDeleteForm,
    HolidayForm,
    ScheduleDeleteForm,
    ScheduleForm,
)
from webadmin.security import ADMIN_ONLY, allow
from webadmin.state import read_db

logger = logging.getLogger(__name__)

bp = Blueprint("groups", __name__)

_ERRORS = (InvalidInput, NotFound, PolicyRefused)


def _minutes_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- groups ----------------------------------------------------------------------------------------


def _groups_page(error: str | None = None, values: Any = None, status: int = 200) -> Any:
    db = read_db()
    return (
        render_template(
            "groups/groups.html",
            groups=rules.list_groups(db),
            schedules=rules.list_schedules(db),
            mode_labels=MODE_LABELS,
            error=error,
            values=values or {},
        ),
        status,
    )


@bp.route("/groups")
@allow(ADMIN_ONLY)
def groups() -> Any:
    """Access groups and the schedule each one follows."""
    return _groups_page()


def _group_change(change: Callable[[], Any], done: str, values: Any = None) -> Any:
    """Run one group change (form check + daemon call); the page again with the error, else a flash and 303."""
    try:
        change()
    except _ERRORS as exc:
        return _groups_page(sentence(str(exc)), values, 400)
    except daemon.ChangeRefused as exc:
        return _groups_page(exc.message, values, exc.status)
    flash(done, "ok")
    return redirect(url_for("groups.groups"), code=303)


@bp.route("/groups/new", methods=["POST"])
@allow(ADMIN_ONLY)
def group_add() -> Any:
    """Create a group."""
    def change() -> None:
        form = GroupForm().checked()
        daemon.admin("group.add", name=form.name.data, schedule=form.schedule.data)
    return _group_change(change, "Group added.", request.form)


@bp.route("/groups/schedule", methods=["POST"])
@allow(ADMIN_ONLY)
def group_schedule() -> Any:
    """Bind a group to a schedule (or to none: any time)."""
    def change() -> None:
        form = GroupForm().checked()
        daemon.admin("group.set_schedule", group=form.name.data, schedule=form.schedule.data)
    return _group_change(change, "Group schedule saved.")


@bp.route("/groups/rules", methods=["POST"])
@allow(ADMIN_ONLY)
def group_rules() -> Any:
    """Set what a group requires: its credentials (the stricter of it and the door's mode) and two persons."""
    def change() -> None:
        form = GroupRulesForm().checked()
        daemon.admin("group.set_rules", group=form.name.data, required_mode=form.required_mode.data or None,
                     two_person=bool(form.two_person.data))
    return _group_change(change, "Group rules saved.")


@bp.route("/groups/delete", methods=["POST"])
@allow(ADMIN_ONLY)
def group_delete() -> Any:
    """Delete a group nobody belongs to."""
    return _group_change(lambda: daemon.admin("group.delete", name=GroupDeleteForm().checked().name.data),
                         "Group deleted.")


# --- schedules -------------------------------------------------------------------------------------


def _schedules_page(error: str | None = None, values: Any = None, status: int = 200) -> Any:
    return (
        render_template(
            "groups/schedules.html",
            schedules=rules.list_schedules(read_db()),
            weekdays=WEEKDAYS,
            slots=range(WINDOWS_PER_DAY),
            minutes_text=_minutes_text,
            error=error,
            values=values or {},
        ),
        status,
    )


@bp.route("/schedules")
@allow(ADMIN_ONLY)
def schedules() -> Any:
    """Weekly schedules with their windows, and the form for a new one."""
    return _schedules_page()


@bp.route("/schedules/new", methods=["POST"])
@allow(ADMIN_ONLY)
def schedule_add() -> Any:
    """Create a schedule from the form's windows."""
    try:
        form = ScheduleForm().checked()
        daemon.admin("schedule.add", name=form.name.data, windows=form.windows(),
                     allow_on_holidays=form.allow_on_holidays.data)
    except _ERRORS as exc:
        return _schedules_page(sentence(str(exc)), request.form, 400)
    except daemon.ChangeRefused as exc:
        return _schedules_page(exc.message, request.form, exc.status)
    flash("Schedule added.", "ok")
    return redirect(url_for("groups.schedules"), code=303)


@bp.route("/schedules/delete", methods=["POST"])
@allow(ADMIN_ONLY)
def schedule_delete() -> Any:
    """Delete a schedule no group uses."""
    try:
        daemon.admin("schedule.delete", name=ScheduleDeleteForm().checked().name.data)
    except _ERRORS as exc:
        return _schedules_page(sentence(str(exc)), None, 400)
    except daemon.ChangeRefused as exc:
        return _schedules_page(exc.message, None, exc.status)
    flash("Schedule deleted.", "ok")
    return redirect(url_for("groups.schedules"), code=303)


# --- holidays --------------------------------------------------------------------------------------


def _holidays_page(error: str | None = None, values: Any = None, status: int = 200) -> Any:
    return (
        render_template("groups/holidays.html", holidays=rules.list_holidays(read_db()), error=error, values=values or {}),
        status,
    )


@bp.route("/holidays")
@allow(ADMIN_ONLY)
def holidays() -> Any:
    """Holidays (schedules deny on them unless they allow holidays)."""
    return _holidays_page()


@bp.route("/holidays/new", methods=["POST"])
@allow(ADMIN_ONLY)
def holiday_add() -> Any:
    """Declare a holiday."""
    try:
        form = HolidayForm().checked()
        daemon.admin("holiday.add", day=form.day.data.isoformat(), name=form.name.data)
    except _ERRORS as exc:
        return _holidays_page(sentence(str(exc)), request.form, 400)
    except daemon.ChangeRefused as exc:
        return _holidays_page(exc.message, request.form, exc.status)
    flash("Holiday added.", "ok")
    return redirect(url_for("groups.holidays"), code=303)


@bp.route("/holidays/delete", methods=["POST"])
@allow(ADMIN_ONLY)
def holiday_delete() -> Any:
    """Remove a holiday."""
    try:
        daemon.admin("holiday.delete", day=HolidayDeleteForm().checked().day.data.isoformat())
    except _ERRORS as exc:
        return _holidays_page(sentence(str(exc)), None, 400)
    except daemon.ChangeRefused as exc:
        return _holidays_page(exc.message, None, exc.status)
    flash("Holiday removed.", "ok")
    return redirect(url_for("groups.holidays"), code=303)
