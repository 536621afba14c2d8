"""People (admin only): list with search and keyset pages, add (PIN shown once), edit, status, PIN, fingers.

Each change is one call to :mod:`controller.people` in one transaction with its
admin event. PINs and fingerprints need the daemon (the web has no pepper and no
sensor): a new person's PIN is issued by ``pin.issue`` right after the person is
stored, and shown once on a page that is never cached. Finger enrolment runs in a
background thread (:mod:`webadmin.enrol`) that the page polls.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from typing import Any

from flask import Blueprint, abort, flash, g, jsonify, redirect, render_template, request, url_for

from controller import people
from controller.errors import InvalidInput, KunciError, NotFound, PolicyRefused
from controller.models import DOOR_MODES, USER_STATUSES
from webadmin import daemon, forms
from webadmin.forms import sentence
from webadmin.security import ADMIN_ONLY, allow
from webadmin.state import read_db, state, write_db
from webadmin.templating import site_zone

logger = logging.getLogger(__name__)

bp = Blueprint("people", __name__, url_prefix="/people")

#: People per list page.
PAGE_SIZE = 50
#: Sort orders offered by the list (keyset pagination needs a unique, indexed order).
SORT_KEYS = ("code",)
#: Form fields of a person, in form order.
PERSON_FIELDS = ("name", "agreement_signed_on", "group", "valid_from", "valid_until", "mode_override", "extended_unlock")


def _today() -> date:
    return datetime.now(site_zone()).date()


def _code_or_404(code: str) -> str:
    """The person code from the URL, or a 404 for anything that is not one."""
    if not forms.USER_CODE.fullmatch(code):
        abort(404)
    return code


def _person_values(form: Any) -> dict[str, Any]:
    """Parse the person form into keyword arguments for :func:`people.add_user`/``update_user``."""
    groups = [g.name for g in people.list_groups(read_db())]
    return {
        "name": forms.text(form, "name", "Name", max_length=people.NAME_MAX_LENGTH),
        "agreement_signed_on": forms.day(form, "agreement_signed_on", "Agreement signed on"),
        "group": forms.choice(form, "group", "Group", groups),
        "valid_from": forms.day(form, "valid_from", "Valid from"),
        "valid_until": forms.day(form, "valid_until", "Valid until"),
        "mode_override": forms.choice(form, "mode_override", "Door mode", DOOR_MODES),
        "extended_unlock": forms.checkbox(form, "extended_unlock"),
    }


def _form_context(**extra: Any) -> dict[str, Any]:
    db = read_db()
    return {
        "groups": people.list_groups(db),
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
        search = forms.text(args, "q", "Search", max_length=people.NAME_MAX_LENGTH)
        status = forms.choice(args, "status", "Status", USER_STATUSES)
        forms.choice(args, "sort", "Sort order", SORT_KEYS, default="code")
        after = forms.user_code(args["after"], "Page position", "after") if args.get("after") else None
        found = people.list_users(read_db(), search=search, status=status, after_code=after, limit=PAGE_SIZE + 1)
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


@bp.route("/new", methods=["GET", "POST"])
@allow(ADMIN_ONLY)
def add() -> Any:
    """Add a person, then have the daemon issue their PIN and show it once."""
    if request.method == "GET":
        return render_template("people/new.html", **_form_context(values={}))
    cfg = state().config
    try:
        values = _person_values(request.form)
        with write_db() as db:
            user = people.add_user(
                db,
                **values,
                require_agreement=cfg.site.require_agreement,
                actor=g.account.username,
                today=_today(),
            )
            code = user.code
    except (InvalidInput, NotFound, PolicyRefused) as exc:
        return render_template(
            "people/new.html", **_form_context(values=request.form, error=sentence(str(exc)))
        ), 400
    return _issue_pin(code, new=True)


def _issue_pin(code: str, *, new: bool) -> Any:
    """Ask the daemon for a PIN for ``code`` and show it once (or say why not)."""
    try:
        result = daemon.call("pin.issue", user=code, actor=g.account.username)
    except daemon.DaemonProblem as exc:
        what = f"{code} was added, but no PIN could be issued. " if new else "No PIN was issued. "
        flash(what + exc.message + " Use 'Reset PIN' once the daemon runs.", "error")
        return redirect(url_for("people.show", code=code), code=303)
    pin = str(result.get("pin") or "")
    if not pin.isdigit():
        flash("The door daemon did not return a PIN. Try 'Reset PIN' again.", "error")
        return redirect(url_for("people.show", code=code), code=303)
    return render_template("people/pin_once.html", code=code, pin=pin, new=new), 201 if new else 200


@bp.route("/<code>")
@allow(ADMIN_ONLY)
def show(code: str) -> Any:
    """One person: details, edit form, status, PIN and finger actions."""
    try:
        user = people.get_user(read_db(), _code_or_404(code))
    except (NotFound, InvalidInput):
        abort(404)
    enrol_job = state().enrolments.running_for(user.code)
    return render_template("people/show.html", person=user, enrol_job=enrol_job, **_form_context(values=None))


@bp.route("/<code>/edit", methods=["POST"])
@allow(ADMIN_ONLY)
def edit(code: str) -> Any:
    """Save the edit form: name, agreement, group, validity, door mode, extended unlock."""
    code = _code_or_404(code)
    try:
        values = _person_values(request.form)
        with write_db() as db:
            people.update_user(
                db,
                code,
                **values,
                require_agreement=state().config.site.require_agreement,
                actor=g.account.username,
                today=_today(),
            )
    except NotFound:
        abort(404)
    except (InvalidInput, PolicyRefused) as exc:
        user = _user_or_404(code)
        return render_template(
            "people/show.html", person=user, enrol_job=None, **_form_context(values=request.form, error=sentence(str(exc)))
        ), 400
    flash(f"{code} saved.", "ok")
    return redirect(url_for("people.show", code=code), code=303)


def _user_or_404(code: str) -> Any:
    try:
        return people.get_user(read_db(), code)
    except (NotFound, InvalidInput):
        abort(404)


STATUS_ACTIONS = {"suspend": "suspended", "resume": "active", "revoke": "revoked"}


@bp.route("/<code>/<any(suspend, resume, revoke):action>", methods=["POST"])
@allow(ADMIN_ONLY)
def set_status(code: str, action: str) -> Any:
    """Suspend, resume or revoke; the daemon reads the status on every attempt, so it is effective at once."""
    code = _code_or_404(code)
    if action == "revoke" and request.form.get("confirm") != "yes":
        flash("Tick the box to confirm: revocation is final.", "error")
        return redirect(url_for("people.show", code=code), code=303)
    try:
        with write_db() as db:
            user = people.set_status(
                db, code, STATUS_ACTIONS[action], g.account.username, require_agreement=state().config.site.require_agreement
            )
            has_fingers = bool(user.fingers)
    except NotFound:
        abort(404)
    except (InvalidInput, PolicyRefused) as exc:
        flash(sentence(str(exc)), "error")
        return redirect(url_for("people.show", code=code), code=303)
    flash(f"{code} is now {STATUS_ACTIONS[action]}.", "ok")
    if action == "revoke" and has_fingers:
        try:
            daemon.call("finger.delete", user=code, actor=g.account.username)
            flash("Their fingerprints were deleted from the sensor.", "ok")
        except daemon.DaemonProblem as exc:
            flash("Their fingerprints are still on the sensor (they no longer open the door): " + exc.message, "error")
    return redirect(url_for("people.show", code=code), code=303)


@bp.route("/<code>/reset-pin", methods=["POST"])
@allow(ADMIN_ONLY)
def reset_pin(code: str) -> Any:
    """Have the daemon draw a new PIN (the old one stops working) and show it once."""
    user = _user_or_404(_code_or_404(code))
    if user.status == "revoked":
        flash(f"{user.code} is revoked; a revoked person cannot get a PIN.", "error")
        return redirect(url_for("people.show", code=user.code), code=303)
    return _issue_pin(user.code, new=False)


@bp.route("/<code>/finger", methods=["GET"])
@allow(ADMIN_ONLY)
def finger(code: str) -> Any:
    """The enrolment page: a start button, then live steps polled from ``finger_status``."""
    user = _user_or_404(_code_or_404(code))
    job = request.args.get("job", "")
    snapshot = state().enrolments.snapshot(job) if job else None
    if snapshot is not None and snapshot["user"] != user.code:
        snapshot, job = None, ""
    return render_template("people/finger.html", person=user, job=job if snapshot else "", progress=snapshot)


@bp.route("/<code>/finger/enroll", methods=["POST"])
@allow(ADMIN_ONLY)
def finger_enroll(code: str) -> Any:
    """Start an enrolment in the background and go to its progress page."""
    user = _user_or_404(_code_or_404(code))
    if user.status == "revoked":
        flash(f"{user.code} is revoked; a revoked person cannot enrol a finger.", "error")
        return redirect(url_for("people.show", code=user.code), code=303)
    try:
        job = state().enrolments.start(user.code, g.account.username)
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
        return jsonify(ok=False, error="No such enrolment (it may have finished long ago)."), 404
    return jsonify(snapshot)


@bp.route("/<code>/finger/delete", methods=["POST"])
@allow(ADMIN_ONLY)
def finger_delete(code: str) -> Any:
    """Delete the person's fingerprints from the sensor and the database (through the daemon)."""
    user = _user_or_404(_code_or_404(code))
    try:
        daemon.call("finger.delete", user=user.code, actor=g.account.username)
    except daemon.DaemonProblem as exc:
        flash(exc.message, "error")
    else:
        flash(f"The fingerprints of {user.code} were deleted.", "ok")
    return redirect(url_for("people.show", code=user.code), code=303)
