"""People (admin only): list with search and keyset pages, search as you type, CSV export, add (PIN shown once),
edit, status, PIN, fingers.

Each change is one ``admin`` call to the door daemon (:func:`webadmin.daemon.admin`), which
applies it with its admin event in one transaction; the web only reads the door database.
A new person's PIN is drawn by the daemon in the same transaction as the person (the web
has no pepper). PINs are shown once by post/redirect/get: the POST keeps the PIN in
:class:`webadmin.shown_once.ShownOnce` and redirects (303) to a GET page that takes it out,
so a reload says "already shown" and never adds a second person. Finger enrolment runs in
a background thread (:mod:`webadmin.enrol`) that the page polls.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from flask import (
    Blueprint,
    Response,
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

from controller.core.vocabulary import EventType, PersonKind, PersonStatus
from controller.errors import InvalidInput, KunciError, NotFound
from controller.store import eventlog, people, people_search, schedules
from controller.store.models import DOOR_MODES, USER_STATUSES
from controller.timefmt import utcnow
from webadmin import daemon
from webadmin.forms import USER_CODE, sentence
from webadmin.forms.people import (
    ConfirmForm,
    PeopleListForm,
    PeopleSearchForm,
    PersonForm,
    RevokeForm,
)
from webadmin.security import ADMIN_ONLY, allow
from webadmin.state import read_db, state
from webadmin.templating import site_zone
from webadmin.views.confirm import confirm_page, unconfirmed
from webadmin.views.errors import render_error

logger = logging.getLogger(__name__)

bp = Blueprint("people", __name__, url_prefix="/people")

#: People per list page.
PAGE_SIZE = 50
#: Rows written per streamed chunk of the people export.
EXPORT_CHUNK_ROWS = 200


def _today() -> date:
    return datetime.now(site_zone()).date()


def _code_or_404(code: str) -> str:
    """The person code from the URL, or a 404 for anything that is not one."""
    if not USER_CODE.fullmatch(code):
        abort(404)
    return code


def _person_values() -> dict[str, Any]:
    """The posted person form, checked, as the parameters of the daemon's ``user.add``/``user.update``."""
    form = PersonForm(groups=lambda: [g.name for g in schedules.list_groups(read_db())])
    return form.checked().params()


def _form_context(**extra: Any) -> dict[str, Any]:
    db = read_db()
    return {
        "groups": schedules.list_groups(db),
        "modes": DOOR_MODES,
        "require_agreement": state().config.site.require_agreement,
        "today": _today().isoformat(),
        **extra,
    }


@bp.route("")
@allow(ADMIN_ONLY)
def index() -> Any:
    """Searchable list of people, ``PAGE_SIZE`` per page, keyed on the person code."""
    args = request.args
    error = None
    rows: list[Any] = []
    has_next = False
    try:
        form = PeopleListForm(formdata=args).checked()
        found = people.list_users(
            read_db(), search=form.q.data, status=form.status.data, after_code=form.after.data, limit=PAGE_SIZE + 1,
            kind=PersonKind.STAFF.value,  # visitors have their own page (webadmin/views/visitors.py)
        )
        has_next = len(found) > PAGE_SIZE
        rows = found[:PAGE_SIZE]
    except (InvalidInput, NotFound) as exc:
        error = sentence(str(exc))
    params = {k: args.get(k, "") for k in ("q", "status", "sort") if args.get(k)}
    next_url = url_for("people.index", **params, after=rows[-1].code) if has_next and rows else None
    first_url = url_for("people.index", **params) if args.get("after") else None
    return (
        render_template(
            "people/list.html",
            people=rows,
            error=error,
            q=args.get("q", "")[:200],
            status=args.get("status", ""),
            statuses=USER_STATUSES,
            next_url=next_url,
            first_url=first_url,
        ),
        400 if error else 200,
    )


@bp.route("/search.json")
@allow(ADMIN_ONLY)
def search_json() -> Any:
    """Search as you type: ``{people: [{code, name, status, url}], more}`` for a code prefix or a name fragment.

    At most ``people_search.SEARCH_LIMIT`` people (two indexed or limited queries, whatever the
    number of people); names are in the answer, so this is admin only like the list.
    """
    try:
        term = PeopleSearchForm(formdata=request.args).checked().q.data
    except InvalidInput as exc:
        return jsonify(ok=False, error=sentence(str(exc))), 400
    hits = people_search.search(read_db(), term, limit=people_search.SEARCH_LIMIT + 1)
    shown = hits[: people_search.SEARCH_LIMIT]
    return jsonify(
        ok=True,
        people=[
            {"code": h.code, "name": h.name, "status": h.status, "url": url_for("people.show", code=h.code)}
            for h in shown
        ],
        more=len(hits) > len(shown),
    )


def _export_rows(sessions: Any) -> Iterator[str]:
    """The people CSV: a header line, then every person, ``EXPORT_CHUNK_ROWS`` rows per chunk."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(people_search.EXPORT_COLUMNS)
    with sessions() as db:
        for n, row in enumerate(people_search.iter_export_rows(db), start=1):
            writer.writerow([eventlog.csv_cell(value) for value in row])
            if n % EXPORT_CHUNK_ROWS == 0:
                yield buf.getvalue()
                buf.seek(0)
                buf.truncate()
    if buf.tell():
        yield buf.getvalue()


@bp.route("/export.csv")
@allow(ADMIN_ONLY)
def export() -> Any:
    """Download every person as CSV (names included: admin only), streamed with its own read session.

    The daemon logs ``admin.people_exported`` before the first row is sent; without the daemon
    there is no export (503). Cells are made inert for spreadsheets like the log export's.
    """
    if request.args:
        abort(400, description=_("The people export takes no parameters; the file name is chosen by the server."))
    if not daemon.record_event(EventType.ADMIN_PEOPLE_EXPORTED, {"format": "csv"}):
        return render_error(503, _("The door daemon is not running, so the export could not be logged; "
                                   "nothing was exported. Try again once it runs."))
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    response = Response(_export_rows(state().read_sessions), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="kunci-people-{stamp}.csv"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.route("/new", methods=["GET", "POST"])
@allow(ADMIN_ONLY)
def add() -> Any:
    """Add a person; the daemon stores them and draws their PIN; then show it once (303 to a GET page)."""
    if request.method == "GET":
        return render_template("people/new.html", **_form_context(values={}))
    try:
        values = _person_values()
        result = daemon.admin("user.add", **values)
    except (InvalidInput, NotFound) as exc:
        return render_template(
            "people/new.html", **_form_context(values=request.form, error=sentence(str(exc)))
        ), 400
    except daemon.ChangeRefused as exc:
        return render_template("people/new.html", **_form_context(values=request.form, error=exc.message)), exc.status
    return _pins.show_pin_once(result, new=True)


@bp.route("/<code>")
@allow(ADMIN_ONLY)
def show(code: str) -> Any:
    """One person: details, edit form, status, PIN and finger actions."""
    try:
        user = people.get_user(read_db(), _code_or_404(code))
    except (NotFound, InvalidInput):
        abort(404)
    enrol_job = state().enrolments.running_for(user.code)
    return render_template("people/show.html", person=user, enrol_job=enrol_job,
                           duress_pins=state().config.pin.duress_pins, **_form_context(values=None))


@bp.route("/<code>/edit", methods=["POST"])
@allow(ADMIN_ONLY)
def edit(code: str) -> Any:
    """Save the edit form: name, agreement, group, validity, door mode, extended unlock."""
    code = _code_or_404(code)
    user = _user_or_404(code)
    try:
        values = _person_values()
        daemon.admin("user.update", user=code, **values)
    except (InvalidInput, NotFound) as exc:
        error, status = sentence(str(exc)), 400
    except daemon.ChangeRefused as exc:
        error, status = exc.message, exc.status
    else:
        flash(_("%(code)s saved.", code=code), "ok")
        return redirect(url_for("people.show", code=code), code=303)
    return render_template(
        "people/show.html", person=user, enrol_job=None, **_form_context(values=request.form, error=error)
    ), status


def who(user: Any) -> str:
    """``U0002 (Rina Hartono)``, or the code alone for a person without a name."""
    return f"{user.code} ({user.display_name})" if user.display_name else user.code


def _user_or_404(code: str) -> Any:
    try:
        return people.get_user(read_db(), code)
    except (NotFound, InvalidInput):
        abort(404)


STATUS_ACTIONS = {"suspend": PersonStatus.SUSPENDED, "resume": PersonStatus.ACTIVE, "revoke": PersonStatus.REVOKED}


@bp.route("/<code>/<any(suspend, resume, revoke):action>", methods=["POST"])
@allow(ADMIN_ONLY)
def set_status(code: str, action: str) -> Any:
    """Suspend, resume or revoke; the daemon reads the status on every attempt, so it is effective at once."""
    code = _code_or_404(code)
    if action == "revoke" and not RevokeForm().confirm.data:
        flash(_("Tick the box to confirm: revocation is final."), "error")
        return redirect(url_for("people.show", code=code), code=303)
    has_fingers = bool(_user_or_404(code).fingers)
    try:
        daemon.admin("user.set_status", user=code, status=STATUS_ACTIONS[action])
    except daemon.ChangeRefused as exc:
        flash(exc.message, "error")
        return redirect(url_for("people.show", code=code), code=303)
    flash(_("%(code)s is now %(status)s.", code=code, status=_(STATUS_ACTIONS[action])), "ok")
    if action == "revoke" and has_fingers:
        try:
            daemon.call("finger.delete", user=code, actor=g.account.username)
            flash(_("Their fingerprints were deleted from the sensor."), "ok")
        except daemon.DaemonProblem as exc:
            flash(_("Their fingerprints are still on the sensor (they no longer open the door): %(error)s",
                    error=exc.message), "error")
    return redirect(url_for("people.show", code=code), code=303)


@bp.route("/<code>/finger", methods=["GET"])
@allow(ADMIN_ONLY)
def finger(code: str) -> Any:
    """The enrolment page: a start button, then live steps polled from ``finger_status``."""
    user = _user_or_404(_code_or_404(code))
    job = request.args.get("job", "")
    snapshot = state().enrolments.snapshot(job) if job else None
    if snapshot is not None and snapshot["user"] != user.code:
        snapshot, job = None, ""
    return render_template("people/finger.html", person=user, job=job if snapshot else "", progress=snapshot,
                           simulated=state().config.simulated, doors=state().config.door_names)


@bp.route("/<code>/finger/enroll", methods=["POST"])
@allow(ADMIN_ONLY)
def finger_enroll(code: str) -> Any:
    """Start an enrolment in the background and go to its progress page."""
    user = _user_or_404(_code_or_404(code))
    if user.status == PersonStatus.REVOKED:
        flash(_("%(code)s is revoked; a revoked person cannot enrol a finger.", code=user.code), "error")
        return redirect(url_for("people.show", code=user.code), code=303)
    door = request.form.get("door", "")
    if door and door not in state().config.door_names:
        abort(400)
    try:
        job = state().enrolments.start(user.code, **daemon.staff_identity(), door=door)
    except KunciError as exc:
        flash(sentence(str(exc)), "error")
        return redirect(url_for("people.show", code=user.code), code=303)
    return redirect(url_for("people.finger", code=user.code, job=job), code=303)


@bp.route("/<code>/finger/status.json")
@allow(ADMIN_ONLY)
def finger_status(code: str) -> Any:
    """Progress of an enrolment: ``{step, message, steps, done, ok, slot, error}``."""
    code = _code_or_404(code)
    snapshot = state().enrolments.snapshot(request.args.get("job", ""))
    if snapshot is None or snapshot["user"] != code:
        return jsonify(ok=False, error=_("No such enrolment (it may have finished long ago).")), 404
    return jsonify(snapshot)


#: How long a simulated touch from the enrolment page lasts at most (seconds): until "Lift your finger".
SIM_TOUCH_HOLD_SECONDS = 30.0


def sim_finger_label(code: str) -> str:
    """The simulated finger of person ``code`` (``sim-U0042``): the same person always touches with the same
    finger, so an enrolled simulated finger later opens the door with the virtual panel's same label."""
    return f"sim-{code}"


@bp.route("/<code>/finger/sim/<any(touch, lift):action>", methods=["POST"])
@allow(ADMIN_ONLY)
def finger_sim(code: str, action: str) -> Any:
    """Simulated hardware only: touch the sensor with the person's simulated finger (held until lifted) or
    lift it, through the daemon's ``sim.finger`` / ``sim.lift``; JSON for the page's script, else a redirect."""
    if not state().config.simulated:
        abort(404)
    user = _user_or_404(_code_or_404(code))
    try:
        if action == "touch":
            daemon.call("sim.finger", label=sim_finger_label(user.code), hold_seconds=SIM_TOUCH_HOLD_SECONDS)
        else:
            daemon.call("sim.lift")
    except daemon.DaemonProblem as exc:
        ok, message = False, exc.message
    else:
        ok, message = True, _("Finger on the sensor.") if action == "touch" else _("Finger lifted.")
    if request.headers.get("X-Requested-With") == "fetch":
        return jsonify(ok=ok, message=message), 200 if ok else 503
    if not ok:
        flash(message, "error")
    return redirect(url_for("people.finger", code=user.code, job=request.args.get("job", "")), code=303)


@bp.route("/<code>/finger/delete", methods=["GET", "POST"])
@allow(ADMIN_ONLY)
def finger_delete(code: str) -> Any:
    """GET: what deleting does; POST with ``confirm``: delete the person's fingerprints from the sensor and the
    database (through the daemon)."""
    user = _user_or_404(_code_or_404(code))
    page = url_for("people.finger_delete", code=user.code)
    if request.method == "GET":
        return confirm_page(_("Delete the fingerprints of %(code)s?", code=user.code), [
            _("This deletes the %(n)s fingerprint(s) of %(who)s from the sensor and the database.",
              n=len(user.fingers), who=who(user)),
            _("Their fingers no longer open the door; to use them again they must be enrolled again. Their PIN "
              "does not change.")], action=page, button=_("Delete fingerprints"),
            back=url_for("people.show", code=user.code))
    if not ConfirmForm().confirm.data:
        return unconfirmed(page)
    try:
        daemon.call("finger.delete", user=user.code, actor=g.account.username)
    except daemon.DaemonProblem as exc:
        flash(exc.message, "error")
    else:
        flash(_("The fingerprints of %(code)s were deleted.", code=user.code), "ok")
    return redirect(url_for("people.show", code=user.code), code=303)


from webadmin.views import people_import as _people_import  # noqa: F401 - registers "Import people" on bp
from webadmin.views import people_pins as _pins  # registers the PIN pages on bp
