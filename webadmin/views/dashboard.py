"""Dashboard: door state, relay, sensor, alert destinations (send a test alarm), alarms (acknowledge), last events,
entries-per-hour chart.

The live part is a server-rendered fragment (``/dashboard/live``) that
``static/refresh.js`` fetches every few seconds; ``/status.json`` gives the daemon's
status to the virtual door panel. Auditors see the dashboard read-only; acknowledging
an alarm, the remote unlock and the test alarm are admin actions.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import or_, select
from sqlalchemy.orm import aliased

from controller.core.vocabulary import EventType
from controller.errors import InvalidInput
from controller.store import eventlog
from controller.store.models import MAX_ROW_ID, Alarm, Event
from controller.timefmt import parse_iso_utc, utcnow
from webadmin import charts, daemon
from webadmin import login as passwords
from webadmin.forms import FormError, KunciForm, sentence
from webadmin.forms.accounts import UnlockForm
from webadmin.forms.fields import Text
from webadmin.names import names_for
from webadmin.security import ADMIN_ONLY, STAFF, allow
from webadmin.state import read_db, state
from webadmin.templating import site_zone

logger = logging.getLogger(__name__)

bp = Blueprint("dashboard", __name__)

#: How many of the newest access decisions ``/status.json?door=`` looks through for that door's newest.
DOOR_ACCESS_SCAN = 500
#: Events listed on the dashboard.
LAST_EVENTS = 10
#: Longest note an admin may add when acknowledging an alarm (the daemon checks it too).
ACK_NOTE_MAX_LENGTH = 200


class AckForm(KunciForm):
    """Acknowledging an alarm: an optional one-line note (sealed in the ``admin.alarm_acknowledged`` event)."""

    note = Text(lazy_gettext("Note"), max_length=ACK_NOTE_MAX_LENGTH)


def _live_context() -> dict[str, Any]:
    db = read_db()
    door_status, daemon_error = daemon.status()
    alarms = list(
        db.scalars(
            select(Alarm)
            .where(or_(Alarm.cleared_at.is_(None), Alarm.acknowledged_at.is_(None)))
            .order_by(Alarm.id.desc())
            .limit(20)
        )
    )
    events = eventlog.query_events(db, limit=LAST_EVENTS)
    chart = charts.bar_chart(charts.hourly_entries(db, utcnow()), site_zone())
    return {
        "status": door_status,
        "daemon_error": daemon_error,
        "alarms": alarms,
        "events": events,
        "names": names_for(db, [e.user_code for e in events], with_names=g.account.is_admin),
        "chart": chart,
        "no_log_no_entry": state().config.site.no_log_no_entry,
    }


@bp.route("/")
@allow(STAFF)
def index() -> Any:
    """The dashboard page."""
    return render_template("dashboard.html", **_live_context())


@bp.route("/dashboard/live")
@allow(STAFF)
def live() -> Any:
    """The refreshing part of the dashboard, as an HTML fragment."""
    return render_template("_live.html", **_live_context())


@bp.route("/status.json")
@allow(STAFF)
def status_json() -> Any:
    """The daemon's status for page scripts: ``{reachable, status, error, last_access, lockout_until_local}``.

    ``last_access`` is the newest access decision in the log (``{id, result, reason, method, time}``, codes
    only, never a PIN or a name; ``None`` before the first), so the virtual door panel can say what became of
    a PIN; ``lockout_until_local`` is the keypad lockout's end as ``HH:MM`` in the site's time zone.
    ``?door=NAME`` (several doors, the panel of that door): ``last_access`` is that door's newest decision
    among the last :data:`DOOR_ACCESS_SCAN` (a bounded read, polled every second); an unknown door is a 400."""
    door = request.args.get("door") or None
    if door is not None and door not in getattr(state().config, "door_names", ()):
        abort(400, description=_("There is no door %(name)s here (doors: %(doors)s).", name=door[:40],
                                 doors=", ".join(getattr(state().config, "door_names", ()))))
    result, error = daemon.status()
    newest = _newest_access(door)
    last_access = None
    if newest:
        event = newest[0]
        last_access = {"id": event.id, "result": "granted" if event.type == EventType.ACCESS_GRANTED else "denied",
                       "reason": event.reason, "method": event.method, "time": event.time}
    until = ((result or {}).get("lockout") or {}).get("until")
    until_local = parse_iso_utc(until).astimezone(site_zone()).strftime("%H:%M") if until else None
    return jsonify(reachable=result is not None, status=result, error=error, last_access=last_access,
                   lockout_until_local=until_local)


def _newest_access(door: str | None) -> list[Any]:
    """The newest access decision (of ``door`` when named, among the newest :data:`DOOR_ACCESS_SCAN`)."""
    if door is None:
        return eventlog.query_events(read_db(), type="access.*", limit=1)
    recent = eventlog.build_query(eventlog.EventFilter(type="access.*")).limit(DOOR_ACCESS_SCAN).subquery()
    newest = aliased(Event, recent)
    return list(read_db().scalars(select(newest).where(newest.door == door).order_by(newest.id.desc()).limit(1)))


@bp.route("/alarms/<int:alarm_id>/ack", methods=["POST"])
@allow(ADMIN_ONLY)
def acknowledge(alarm_id: int) -> Any:
    """Acknowledge an alarm with an optional note (through the daemon, which clears indicators and seals
    ``admin.alarm_acknowledged`` with the note)."""
    if alarm_id > MAX_ROW_ID:
        abort(400, description=_("There is no such alarm: alarm numbers go up to %(maximum)s. Nothing was changed.",
                                  maximum=MAX_ROW_ID))
    try:
        note = AckForm(formdata=request.form).checked().note.data
    except InvalidInput as exc:
        flash(_("Alarm %(id)s was not acknowledged. %(error)s", id=alarm_id, error=sentence(str(exc))), "error")
        return redirect(url_for("dashboard.index"), code=303)
    try:
        daemon.call("alarm.ack", id=alarm_id, actor=g.account.username, **({"note": note} if note else {}))
    except daemon.DaemonProblem as exc:
        flash(exc.message, "error")
    else:
        flash(_("Alarm %(id)s acknowledged.", id=alarm_id), "ok")
    return redirect(url_for("dashboard.index"), code=303)


@bp.route("/door/unlock", methods=["POST"])
@allow(ADMIN_ONLY)
def remote_unlock() -> Any:
    """Remote unlock: admin only, password re-entered (throttled like a login), logged by the daemon."""
    from webadmin.views.door import chosen_door

    form = UnlockForm()
    try:
        door = chosen_door(form.door.text)
    except FormError as exc:
        flash(_("Remote unlock refused. %(error)s", error=str(exc)), "error")
        return redirect(url_for("dashboard.index"), code=303)
    try:
        ok = passwords.recheck_password(form.password.data, log_failure=False)
    except passwords.Throttled as exc:
        flash(_("Remote unlock refused. %(error)s", error=exc.message), "error")
        return redirect(url_for("dashboard.index"), code=303)
    if not ok:
        daemon.record_event(EventType.ADMIN_UNLOCK_REFUSED, {"why": "wrong_password"})
        flash(_("Remote unlock refused: the password is wrong."), "error")
        return redirect(url_for("dashboard.index"), code=303)
    try:
        daemon.call("unlock", actor=g.account.username, **door)
    except daemon.DaemonProblem as exc:
        flash(exc.message, "error")
    else:
        flash(_("Door %(door)s was unlocked remotely.", door=door["door"]) if door
              else _("The door was unlocked remotely."), "ok")
    return redirect(url_for("dashboard.index"), code=303)


@bp.route("/alerts/test", methods=["POST"])
@allow(ADMIN_ONLY)
def alert_test() -> Any:
    """Send a test alarm to every running alert destination (the daemon seals ``alert.test_sent`` with this login)."""
    try:
        result = daemon.call("alert.test", actor=g.account.username)
    except daemon.DaemonProblem as exc:
        flash(exc.message, "error")
    else:
        flash(_("Test alarm sent to %(destinations)s", destinations=", ".join(result.get("destinations", []))), "ok")
    return redirect(url_for("dashboard.index"), code=303)
