"""Access rules (admin only): groups, weekly schedules and holidays.

Each change is one ``admin`` call to the door daemon (``group.*``, ``schedule.*``,
``holiday.*``), which applies it with its admin event; the web only reads.
A schedule (name, up to two windows per weekday, holiday rule) is edited in place
(``schedule.update``); a group is renamed with ``group.rename``. Deleting a group, a
schedule or a holiday first shows a confirmation page (a GET on the same address) that
says what the deletion would do; the POST changes nothing without its ``confirm`` field.
Times are typed as 24-hour ``HH:MM`` text (no browser time picker, which shows 12 hours
in some locales) and checked here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from controller.errors import InvalidInput, NotFound, PolicyRefused
from controller.store import schedules as rules
from webadmin import daemon
from webadmin.forms import sentence
from webadmin.forms.access import (
    WEEKDAYS,
    WINDOWS_PER_DAY,
    GroupDeleteForm,
    GroupForm,
    GroupRenameForm,
    GroupRulesForm,
    HolidayDeleteForm,
    HolidayForm,
    ScheduleDeleteForm,
    ScheduleEditForm,
    ScheduleForm,
    hh_mm,
    schedule_deletion_texts,
    schedule_values,
)
from webadmin.forms.door import MODE_LABELS
from webadmin.security import ADMIN_ONLY, allow
from webadmin.state import read_db, state
from webadmin.views.confirm import confirm_page, unconfirmed

logger = logging.getLogger(__name__)

bp = Blueprint("groups", __name__)

_ERRORS = (InvalidInput, NotFound, PolicyRefused)
NOT_DELETED = lazy_gettext("Nothing was deleted: confirm on this page first.")


def _refusal(exc: Exception) -> tuple[str, int]:
    """The message and HTTP status of a refused change (a form or store error: 400; the daemon's own)."""
    if isinstance(exc, daemon.ChangeRefused):
        return exc.message, exc.status
    return sentence(str(exc)), 400


# --- groups ----------------------------------------------------------------------------------------


def _groups_page(error: str | None = None, values: Any = None, status: int = 200) -> Any:
    db = read_db()
    return (
        render_template(
            "groups/groups.html",
            groups=rules.list_groups(db),
            group_doors=rules.group_doors(db),
            doors=rules.known_doors(db, getattr(state().config, "door_names", ())),
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
    return _group_change(change, _("Group added."), request.form)


@bp.route("/groups/schedule", methods=["POST"])
@allow(ADMIN_ONLY)
def group_schedule() -> Any:
    """Bind a group to a schedule (or to none: any time)."""
    def change() -> None:
        form = GroupForm().checked()
        daemon.admin("group.set_schedule", group=form.name.data, schedule=form.schedule.data)
    return _group_change(change, _("Group schedule saved."))


@bp.route("/groups/rules", methods=["POST"])
@allow(ADMIN_ONLY)
def group_rules() -> Any:
    """Set what a group requires: its credentials (the stricter of it and the door's mode) and two persons."""
    def change() -> None:
        form = GroupRulesForm().checked()
        daemon.admin("group.set_rules", group=form.name.data, required_mode=form.required_mode.data or None,
                     two_person=bool(form.two_person.data))
    return _group_change(change, _("Group rules saved."))


@bp.route("/groups/doors", methods=["POST"])
@allow(ADMIN_ONLY)
def group_doors() -> Any:
    """The doors a group grants (issue 16): the ticked ones; none ticked = every door of the controller."""
    def change() -> None:
        form = GroupForm().checked()
        daemon.admin("group.doors", group=form.name.data, doors=[d[:40] for d in request.form.getlist("door")])
    return _group_change(change, _("Group doors saved."))


@bp.route("/groups/rename", methods=["GET", "POST"])
@allow(ADMIN_ONLY)
def group_rename() -> Any:
    """GET: the rename form of the group ``?name=``; POST: rename it through the daemon."""
    if request.method == "GET":
        try:
            name = GroupForm(formdata=request.args).checked().name.data
            group, members, escorted = rules.group_in_use(read_db(), name)
        except _ERRORS as exc:
            return _groups_page(sentence(str(exc)), None, 404)
        return render_template("groups/group_rename.html", group=group, members=members, escorted=escorted,
                               values={"new_name": group.name}, error=None)
    try:
        form = GroupRenameForm().checked()
        daemon.admin("group.rename", group=form.name.data, new_name=form.new_name.data)
    except (*_ERRORS, daemon.ChangeRefused) as exc:
        message, status = _refusal(exc)
        try:
            group, members, escorted = rules.group_in_use(read_db(), request.form.get("name", ""))
        except _ERRORS:
            return _groups_page(message, None, status)
        return render_template("groups/group_rename.html", group=group, members=members, escorted=escorted,
                               values=request.form, error=message), status
    flash(_("Group '%(name)s' is now '%(new_name)s'.", name=form.name.data, new_name=form.new_name.data), "ok")
    return redirect(url_for("groups.groups"), code=303)


@bp.route("/groups/delete", methods=["GET", "POST"])
@allow(ADMIN_ONLY)
def group_delete() -> Any:
    """GET: what deleting the group ``?name=`` would do; POST with ``confirm``: delete it (nobody may belong to it)."""
    if request.method == "GET":
        try:
            group, members, escorted = rules.group_in_use(read_db(), GroupDeleteForm(formdata=request.args)
                                                          .checked().name.data)
        except _ERRORS as exc:
            return _groups_page(sentence(str(exc)), None, 404)
        schedule = group.schedule.name if group.schedule else _("any time")
        lines = [_("This deletes the access group '%(name)s' (schedule: %(schedule)s).", name=group.name,
                   schedule=schedule)]
        if escorted:
            lines.append(_("%(n)s visitor(s) need an escort from this group: they could no longer enter.", n=escorted))
        if group.name == state().config.door.lockdown_override_group:
            lines.append(_("The configuration names it as the lockdown override group: during a lockdown nobody "
                           "could enter any more."))
        blocked = _("%(n)s person(s) belong to it: move them to another group first. Nothing can be deleted "
                    "until then.", n=members) if members else None
        return confirm_page(_("Delete group '%(name)s'?", name=group.name), lines, action=url_for("groups.group_delete"),
                        fields={"name": group.name}, button=_("Delete group '%(name)s'", name=group.name),
                        back=url_for("groups.groups"), blocked=blocked)
    try:
        form = GroupDeleteForm().checked()
    except _ERRORS as exc:
        return _groups_page(sentence(str(exc)), None, 400)
    if not form.confirm.data:
        return unconfirmed(url_for("groups.group_delete", name=form.name.data), NOT_DELETED)
    return _group_change(lambda: daemon.admin("group.delete", name=form.name.data),
                         _("Group '%(name)s' deleted.", name=form.name.data))


# --- schedules -------------------------------------------------------------------------------------


def _schedules_page(error: str | None = None, values: Any = None, status: int = 200) -> Any:
    return (
        render_template(
            "groups/schedules.html",
            schedules=rules.list_schedules(read_db()),
            weekdays=WEEKDAYS,
            slots=range(WINDOWS_PER_DAY),
            minutes_text=hh_mm,
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
    flash(_("Schedule added."), "ok")
    return redirect(url_for("groups.schedules"), code=303)


def _edit_page(schedule: Any, groups: list[str], values: Any, error: str | None = None, status: int = 200) -> Any:
    return render_template("groups/schedule_edit.html", schedule=schedule, groups=groups, values=values,
                           weekdays=WEEKDAYS, slots=range(WINDOWS_PER_DAY), error=error), status


@bp.route("/schedules/edit", methods=["GET", "POST"])
@allow(ADMIN_ONLY)
def schedule_edit() -> Any:
    """GET: the schedule ``?name=`` in the schedule form; POST: change it through the daemon (``schedule.update``);
    the groups that follow it keep it, and the door uses the new windows at once."""
    if request.method == "GET":
        try:
            schedule, groups = rules.schedule_in_use(read_db(), ScheduleDeleteForm(formdata=request.args)
                                                     .checked().name.data)
        except _ERRORS as exc:
            return _schedules_page(sentence(str(exc)), None, 404)
        return _edit_page(schedule, groups, schedule_values(schedule))
    try:
        form = ScheduleEditForm().checked()
        daemon.admin("schedule.update", name=form.original.data, new_name=form.name.data, windows=form.windows(),
                     allow_on_holidays=bool(form.allow_on_holidays.data))
    except (*_ERRORS, daemon.ChangeRefused) as exc:
        message, status = _refusal(exc)
        try:
            schedule, groups = rules.schedule_in_use(read_db(), request.form.get("original", ""))
        except _ERRORS:
            return _schedules_page(message, None, status)
        return _edit_page(schedule, groups, request.form, message, status)
    flash(_("Schedule '%(name)s' saved; the door uses it now.", name=form.name.data), "ok")
    return redirect(url_for("groups.schedules"), code=303)


@bp.route("/schedules/delete", methods=["GET", "POST"])
@allow(ADMIN_ONLY)
def schedule_delete() -> Any:
    """GET: what deleting the schedule ``?name=`` would do; POST with ``confirm``: delete it (no group may use it)."""
    if request.method == "GET":
        try:
            schedule, groups = rules.schedule_in_use(read_db(), ScheduleDeleteForm(formdata=request.args)
                                                     .checked().name.data)
        except _ERRORS as exc:
            return _schedules_page(sentence(str(exc)), None, 404)
        consequence, blocked = schedule_deletion_texts(schedule, groups)
        return confirm_page(_("Delete schedule '%(name)s'?", name=schedule.name), [consequence],
                        action=url_for("groups.schedule_delete"), fields={"name": schedule.name},
                        button=_("Delete schedule '%(name)s'", name=schedule.name), back=url_for("groups.schedules"),
                        blocked=blocked)
    try:
        form = ScheduleDeleteForm().checked()
        if not form.confirm.data:
            return unconfirmed(url_for("groups.schedule_delete", name=form.name.data), NOT_DELETED)
        daemon.admin("schedule.delete", name=form.name.data)
    except _ERRORS as exc:
        return _schedules_page(sentence(str(exc)), None, 400)
    except daemon.ChangeRefused as exc:
        return _schedules_page(exc.message, None, exc.status)
    flash(_("Schedule '%(name)s' deleted.", name=form.name.data), "ok")
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
    flash(_("Holiday added."), "ok")
    return redirect(url_for("groups.holidays"), code=303)


@bp.route("/holidays/delete", methods=["GET", "POST"])
@allow(ADMIN_ONLY)
def holiday_delete() -> Any:
    """GET: what removing the holiday ``?day=`` would do; POST with ``confirm``: remove it."""
    if request.method == "GET":
        try:
            wanted = HolidayDeleteForm(formdata=request.args).checked().day.data
            holiday, closed = rules.holiday_in_use(read_db(), wanted)
        except _ERRORS as exc:
            return _holidays_page(sentence(str(exc)), None, 404)
        day = holiday.day.isoformat()
        effect = (_("On that day %(n)s schedule(s) that deny entry on holidays will open at their usual "
                    "times again: %(schedules)s.", n=len(closed), schedules=", ".join(closed)) if closed
                  else _("No schedule denies entry on holidays, so entry on that day does not change."))
        return confirm_page(_("Remove the holiday on %(day)s?", day=day),
                            [_("This removes the holiday '%(name)s' on %(day)s.", name=holiday.name, day=day), effect],
                        action=url_for("groups.holiday_delete"), fields={"day": day},
                        button=_("Remove the holiday on %(day)s", day=day), back=url_for("groups.holidays"))
    try:
        form = HolidayDeleteForm().checked()
        if not form.confirm.data:
            return unconfirmed(url_for("groups.holiday_delete", day=form.day.data.isoformat()), NOT_DELETED)
        daemon.admin("holiday.delete", day=form.day.data.isoformat())
    except _ERRORS as exc:
        return _holidays_page(sentence(str(exc)), None, 400)
    except daemon.ChangeRefused as exc:
        return _holidays_page(exc.message, None, exc.status)
    flash(_("Holiday removed."), "ok")
    return redirect(url_for("groups.holidays"), code=303)
