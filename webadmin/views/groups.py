"""Access rules (admin only): groups, weekly schedules and holidays.

Each change is one ``admin`` call to the door daemon (``group.*``, ``schedule.*``,
``holiday.*``), which applies it with its admin event; the web only reads.
Schedules are created whole (name, up to two windows per weekday, holiday rule);
to change one, create a new schedule, move the groups to it, delete the old one.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for

from controller.store import people
from controller.errors import InvalidInput, NotFound, PolicyRefused
from webadmin import daemon, forms
from webadmin.forms import sentence
from webadmin.security import ADMIN_ONLY, allow
from webadmin.state import read_db

logger = logging.getLogger(__name__)

bp = Blueprint("groups", __name__)

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
#: Windows offered per weekday on the schedule form.
WINDOWS_PER_DAY = 2

_ERRORS = (InvalidInput, NotFound, PolicyRefused)


def _minutes_text(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# --- groups ----------------------------------------------------------------------------------------


def _groups_page(error: str | None = None, values: Any = None, status: int = 200) -> Any:
    db = read_db()
    return (
        render_template(
            "groups/groups.html",
            groups=people.list_groups(db),
            schedules=people.list_schedules(db),
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


@bp.route("/groups/new", methods=["POST"])
@allow(ADMIN_ONLY)
def group_add() -> Any:
    """Create a group."""
    try:
        name = forms.text(request.form, "name", "Group name", max_length=people.LABEL_MAX_LENGTH, required=True)
        schedule = forms.text(request.form, "schedule", "Schedule", max_length=people.LABEL_MAX_LENGTH)
        daemon.admin("group.add", name=name, schedule=schedule)
    except _ERRORS as exc:
        return _groups_page(sentence(str(exc)), request.form, 400)
    except daemon.ChangeRefused as exc:
        return _groups_page(exc.message, request.form, exc.status)
    flash("Group added.", "ok")
    return redirect(url_for("groups.groups"), code=303)


@bp.route("/groups/schedule", methods=["POST"])
@allow(ADMIN_ONLY)
def group_schedule() -> Any:
    """Bind a group to a schedule (or to none: any time)."""
    try:
        name = forms.text(request.form, "name", "Group name", max_length=people.LABEL_MAX_LENGTH, required=True)
        schedule = forms.text(request.form, "schedule", "Schedule", max_length=people.LABEL_MAX_LENGTH)
        daemon.admin("group.set_schedule", group=name, schedule=schedule)
    except _ERRORS as exc:
        return _groups_page(sentence(str(exc)), None, 400)
    except daemon.ChangeRefused as exc:
        return _groups_page(exc.message, None, exc.status)
    flash("Group schedule saved.", "ok")
    return redirect(url_for("groups.groups"), code=303)


@bp.route("/groups/delete", methods=["POST"])
@allow(ADMIN_ONLY)
def group_delete() -> Any:
    """Delete a group nobody belongs to."""
    try:
        name = forms.text(request.form, "name", "Group name", max_length=people.LABEL_MAX_LENGTH, required=True)
        daemon.admin("group.delete", name=name)
    except _ERRORS as exc:
        return _groups_page(sentence(str(exc)), None, 400)
    except daemon.ChangeRefused as exc:
        return _groups_page(exc.message, None, exc.status)
    flash("Group deleted.", "ok")
    return redirect(url_for("groups.groups"), code=303)


# --- schedules -------------------------------------------------------------------------------------


def _schedules_page(error: str | None = None, values: Any = None, status: int = 200) -> Any:
    return (
        render_template(
            "groups/schedules.html",
            schedules=people.list_schedules(read_db()),
            weekdays=WEEKDAYS,
            slots=range(WINDOWS_PER_DAY),
            minutes_text=_minutes_text,
            error=error,
            values=values or {},
        ),
        status,
    )


def _windows(form: Any) -> list[tuple[int, int, int]]:
    """The filled-in windows of the schedule form as ``(weekday, start, end)``."""
    windows = []
    for day, day_name in enumerate(WEEKDAYS):
        for slot in range(WINDOWS_PER_DAY):
            start_key, end_key = f"start_{day}_{slot}", f"end_{day}_{slot}"
            if not form.get(start_key, "").strip() and not form.get(end_key, "").strip():
                continue
            start = forms.minute_of_day(form, start_key, f"{day_name} start")
            end = forms.minute_of_day(form, end_key, f"{day_name} end", allow_24=True)
            if end <= start:
                raise forms.FormError(end_key, f"{day_name}: the end time must be after the start time.")
            windows.append((day, start, end))
    if not windows:
        raise forms.FormError("start_0_0", "Give at least one time window.")
    return windows


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
        name = forms.text(request.form, "name", "Schedule name", max_length=people.LABEL_MAX_LENGTH, required=True)
        windows = _windows(request.form)
        daemon.admin("schedule.add", name=name, windows=[list(w) for w in windows],
                     allow_on_holidays=forms.checkbox(request.form, "allow_on_holidays"))
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
        name = forms.text(request.form, "name", "Schedule name", max_length=people.LABEL_MAX_LENGTH, required=True)
        daemon.admin("schedule.delete", name=name)
    except _ERRORS as exc:
        return _schedules_page(sentence(str(exc)), None, 400)
    except daemon.ChangeRefused as exc:
        return _schedules_page(exc.message, None, exc.status)
    flash("Schedule deleted.", "ok")
    return redirect(url_for("groups.schedules"), code=303)


# --- holidays --------------------------------------------------------------------------------------


def _holidays_page(error: str | None = None, values: Any = None, status: int = 200) -> Any:
    return (
        render_template("groups/holidays.html", holidays=people.list_holidays(read_db()), error=error, values=values or {}),
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
        day = forms.day(request.form, "day", "Date", required=True)
        name = forms.text(request.form, "name", "Holiday name", max_length=people.LABEL_MAX_LENGTH, required=True)
        daemon.admin("holiday.add", day=day.isoformat(), name=name)
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
        day = forms.day(request.form, "day", "Date", required=True)
        daemon.admin("holiday.delete", day=day.isoformat())
    except _ERRORS as exc:
        return _holidays_page(sentence(str(exc)), None, 400)
    except daemon.ChangeRefused as exc:
        return _holidays_page(exc.message, None, exc.status)
    flash("Holiday removed.", "ok")
    return redirect(url_for("groups.holidays"), code=303)
