"""Schedules and holidays of the site (admins only): list them, add a schedule or a holiday, delete a schedule
(refused while a group uses it) or remove a holiday, each deletion after a confirmation page.

Schedules and holidays are site-wide: every controller of the site gets them. So only a login for every room
(``staff.rooms`` NULL) may add or delete them; a login limited to some rooms sees the lists (no forms, a hint
says why) and gets 403 on every change here. The forms are the controller page's
(:mod:`webadmin.forms.access`); each change is one site-service call, which feeds every controller.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from controller.errors import KunciError
from webadmin.forms import FormError, sentence
from webadmin.forms.access import (
    WEEKDAYS,
    WINDOWS_PER_DAY,
    HolidayDeleteForm,
    HolidayForm,
    ScheduleDeleteForm,
    ScheduleForm,
    schedule_deletion_texts,
    windows_text,
)
from webadmin.site import scope
from webadmin.site.state import service
from webadmin.views.confirm import confirm_page, unconfirmed

logger = logging.getLogger(__name__)

bp = Blueprint("rules", __name__, url_prefix="/rules")

NOT_DELETED = lazy_gettext("Nothing was deleted: confirm on this page first.")
#: Why a login limited to some rooms may not change schedules or holidays (translated when shown).
SITE_WIDE = lazy_gettext("Schedules and holidays apply at every controller of the site: only a login for every "
                         "room may add or delete them.")


def everywhere() -> bool:
    """True when the login manages every room (only such a login changes schedules and holidays)."""
    return scope.rooms() is None


def _must_be_everywhere() -> None:
    if not everywhere():
        logger.warning("site staff %s (some rooms) refused a schedule or holiday change", g.account.username)
        abort(403)


def _page(status: int = 200, error: str | None = None, values: Any = None, holiday: Any = None) -> Any:
    return render_template("rules.html", schedules=service().list_schedules(), holidays=service().list_holidays(),
                           windows_text=windows_text, weekdays=WEEKDAYS, slots=range(WINDOWS_PER_DAY),
                           may_change=everywhere(), site_wide=str(SITE_WIDE), error=error, values=values or {},
                           holiday=holiday or {}), status


@bp.route("/")
def index() -> Any:
    """The schedules with their windows in words, the holidays, and (for a login for every room) the forms."""
    return _page()


@bp.route("/schedules/new", methods=["POST"])
def schedule_add() -> Any:
    """Add a schedule from the form's windows (sent to every controller)."""
    _must_be_everywhere()
    try:
        form = ScheduleForm().checked()
        service().add_schedule(form.name.data, form.windows(), bool(form.allow_on_holidays.data),
                               actor=g.account.username)
    except (FormError, KunciError) as exc:
        return _page(400, sentence(str(exc)), request.form)
    logger.info("site staff %s added schedule %s", g.account.username, form.name.data)
    flash(_("Schedule added."), "ok")
    return redirect(url_for("rules.index"), code=303)


def _schedule_or_404(name: str) -> Any:
    found = next((s for s in service().list_schedules() if s.name == name), None)
    if found is None:
        abort(404)
    return found


@bp.route("/schedules/delete", methods=["GET", "POST"])
def schedule_delete() -> Any:
    """GET: what deleting the schedule ``?name=`` would do; POST with ``confirm``: delete it (no group may use it)."""
    if request.method == "GET":
        try:
            schedule = _schedule_or_404(ScheduleDeleteForm(formdata=request.args).checked().name.data)
        except FormError:
            abort(404)
        consequence, in_use = schedule_deletion_texts(schedule, schedule.groups)
        blocked = in_use if everywhere() else str(SITE_WIDE)
        return confirm_page(
            _("Delete schedule '%(name)s'?", name=schedule.name),
            [consequence, _("Every controller of the site is told to forget it.")],
            action=url_for("rules.schedule_delete"), fields={"name": schedule.name},
            button=_("Delete schedule '%(name)s'", name=schedule.name), back=url_for("rules.index"), blocked=blocked)
    _must_be_everywhere()
    try:
        form = ScheduleDeleteForm().checked()
        if not form.confirm.data:
            return unconfirmed(url_for("rules.schedule_delete", name=form.name.data), NOT_DELETED)
        service().delete_schedule(form.name.data, actor=g.account.username)
    except (FormError, KunciError) as exc:
        return _page(400, sentence(str(exc)))
    logger.info("site staff %s deleted schedule %s", g.account.username, form.name.data)
    flash(_("Schedule '%(name)s' deleted.", name=form.name.data), "ok")
    return redirect(url_for("rules.index"), code=303)


@bp.route("/holidays/new", methods=["POST"])
def holiday_add() -> Any:
    """Declare a holiday (its date goes to every controller; its name stays at the site)."""
    _must_be_everywhere()
    try:
        form = HolidayForm().checked()
        service().add_holiday(form.day.data, form.name.data, actor=g.account.username)
    except (FormError, KunciError) as exc:
        return _page(400, sentence(str(exc)), holiday=request.form)
    logger.info("site staff %s added holiday %s", g.account.username, form.day.data)
    flash(_("Holiday added."), "ok")
    return redirect(url_for("rules.index"), code=303)


@bp.route("/holidays/delete", methods=["GET", "POST"])
def holiday_delete() -> Any:
    """GET: what removing the holiday ``?day=`` would do; POST with ``confirm``: remove it."""
    if request.method == "GET":
        try:
            wanted = HolidayDeleteForm(formdata=request.args).checked().day.data
        except FormError:
            abort(404)
        holiday = next((h for h in service().list_holidays() if h.day == wanted), None)
        if holiday is None:
            abort(404)
        day = holiday.day.isoformat()
        closed = [s.name for s in service().list_schedules() if not s.allow_on_holidays]
        effect = (_("On that day %(n)s schedule(s) that deny entry on holidays will open at their usual "
                    "times again: %(schedules)s.", n=len(closed), schedules=", ".join(closed)) if closed
                  else _("No schedule denies entry on holidays, so entry on that day does not change."))
        return confirm_page(_("Remove the holiday on %(day)s?", day=day),
                            [_("This removes the holiday '%(name)s' on %(day)s.", name=holiday.name, day=day), effect,
                             _("Every controller of the site is told to forget it.")],
                            action=url_for("rules.holiday_delete"), fields={"day": day},
                            button=_("Remove the holiday on %(day)s", day=day), back=url_for("rules.index"),
                            blocked=None if everywhere() else str(SITE_WIDE))
    _must_be_everywhere()
    try:
        form = HolidayDeleteForm().checked()
        if not form.confirm.data:
            return unconfirmed(url_for("rules.holiday_delete", day=form.day.data.isoformat()), NOT_DELETED)
        service().remove_holiday(form.day.data, actor=g.account.username)
    except (FormError, KunciError) as exc:
        return _page(400, sentence(str(exc)))
    logger.info("site staff %s removed holiday %s", g.account.username, form.day.data)
    flash(_("Holiday removed."), "ok")
    return redirect(url_for("rules.index"), code=303)
