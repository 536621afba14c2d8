"""People of the site (admins only: the page shows names): list and search, add (PIN shown once), change group,
suspend, resume, reset PIN and revoke, each after a confirmation page.

Everything is scoped to the login's rooms (:mod:`webadmin.site.scope`): a person outside them is a 404, the
same answer as for no one. Each change is one site-service call (one transaction that also feeds the
controllers). A new PIN is shown once through :class:`webadmin.shown_once.ShownOnce` (post/redirect/get).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, g, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from controller.errors import KunciError
from webadmin.forms import FormError, sentence
from webadmin.forms.fields import USER_CODE
from webadmin.shown_once import PinNotice
from webadmin.site import scope
from webadmin.site.forms import (
    PERSON_ACTIONS,
    ConfirmForm,
    GroupMoveForm,
    PeopleSearchForm,
    PersonAddForm,
    status_word,
)
from webadmin.site.state import service, state
from webadmin.views.confirm import confirm_page, unconfirmed

logger = logging.getLogger(__name__)

bp = Blueprint("people", __name__, url_prefix="/people")

#: Most rows the list shows at once (the search narrows it).
LIST_LIMIT = 200


def _matches(person: Any, term: str) -> bool:
    term = term.casefold()
    return any(term in str(v or "").casefold() for v in (person.name, person.code, person.group))


@bp.route("/")
def index() -> Any:
    """The people of the login's rooms, filtered by a search term (name, code or group) and a status."""
    form = PeopleSearchForm(request.args)
    try:
        form.checked()
    except FormError as exc:
        return render_template("people.html", people=[], error=str(exc), form=form, total=0), 400
    people = scope.visible_people()
    if form.q.data:
        people = [p for p in people if _matches(p, form.q.data)]
    if form.status.data:
        people = [p for p in people if p.status == form.status.data]
    return render_template("people.html", people=people[:LIST_LIMIT], total=len(people), form=form,
                           limit=LIST_LIMIT)


def _groups_for_login() -> list[Any]:
    return scope.assignable_groups(service().list_groups(), scope.visible_doors())


@bp.route("/new", methods=["GET", "POST"])
def new() -> Any:
    """The add form; POST adds the person and shows their PIN once."""
    groups = _groups_for_login()
    names = [gr.name for gr in groups]
    if request.method == "GET":
        return render_template("person_new.html", groups=names, form=PersonAddForm(formdata=None, groups=names))
    form = PersonAddForm(groups=names)
    try:
        form.checked()
        code, pin = service().add_person(form.name.data, form.group.data, form.valid_from.data, form.valid_until.data,
                                         actor=g.account.username)
    except (FormError, KunciError) as exc:
        return render_template("person_new.html", groups=names, form=form, error=sentence(str(exc))), 400
    logger.info("site staff %s added person %s", g.account.username, code)
    key = state().shown_once.put(g.account.token_hash, PinNotice(code=code, pin=pin, new=True))
    return redirect(url_for("people.pin_once", key=key), code=303)


@bp.route("/pin-once/<key>")
def pin_once(key: str) -> Any:
    """Show a new PIN once; a reload (or another session) gets 410 and nothing changes."""
    notice = state().shown_once.take(g.account.token_hash, key)
    if notice is None:
        return render_template("pin_once.html", shown=True), 410
    response = make_response(render_template("pin_once.html", code=notice.code, pin=notice.pin, new=notice.new))
    response.headers["Cache-Control"] = "no-store"
    return response


#: Actions that only take access away: a login limited to some rooms may do them to anyone it sees.
TAKES_AWAY = ("suspend", "revoke")
#: Why a login limited to some rooms may not resume, reset or move a person (translated when shown).
NOT_MINE = lazy_gettext("This person's group also opens doors in rooms you do not manage: only a login for "
                        "every room may resume them, reset their PIN or move them to another group. You may "
                        "suspend or revoke them.")


def _fully_mine(person: Any) -> bool:
    return scope.grants_only_my_rooms(person, service().list_groups(), scope.visible_doors())


@bp.route("/<code>/group", methods=["GET", "POST"])
def move(code: str) -> Any:
    """Move a person to another group this login may assign (the controllers they no longer reach forget them)."""
    if not USER_CODE.fullmatch(code):
        abort(404)
    person = scope.person_or_404(code)
    names = [gr.name for gr in _groups_for_login()]
    blocked = None
    if person.status == "revoked":
        blocked = _("%(code)s is revoked: nothing more can be done.", code=code)
    elif not _fully_mine(person):
        blocked = str(NOT_MINE)
    if request.method == "GET" or blocked:
        status = 200 if request.method == "GET" else 403
        return render_template("person_group.html", person=person, groups=names, blocked=blocked,
                               form=GroupMoveForm(formdata=None, groups=names)), status
    form = GroupMoveForm(groups=names)
    try:
        form.checked()
        service().set_group(code, form.group.data, actor=g.account.username)
    except (FormError, KunciError) as exc:
        return render_template("person_group.html", person=person, groups=names, form=form,
                               error=sentence(str(exc))), 400
    logger.info("site staff %s moved %s to group %s", g.account.username, code, form.group.data)
    flash(_("%(code)s is now in group %(group)s.", code=code, group=form.group.data), "ok")
    return redirect(url_for("people.index"), code=303)


def _action_words(action: str, code: str) -> tuple[str, list[str], str]:
    """Title, consequences and button of the confirmation page of ``action`` on ``code``."""
    if action == "suspend":
        return (_("Suspend %(code)s?", code=code),
                [_("Their PIN stops working at every door of the site until they are resumed.")], _("Suspend"))
    if action == "resume":
        return (_("Resume %(code)s?", code=code), [_("Their PIN works again at the doors their group grants.")],
                _("Resume"))
    if action == "reset-pin":
        return (_("Reset the PIN of %(code)s?", code=code),
                [_("A new PIN is made and shown once; the old PIN stops working at every door.")], _("Reset PIN"))
    return (_("Revoke %(code)s for good?", code=code),
            [_("Their PIN stops working at every door of the site. This cannot be undone: to let them in again, "
               "add them as a new person.")], _("Revoke for good"))


@bp.route("/<code>/<action>", methods=["GET", "POST"])
def act(code: str, action: str) -> Any:
    """GET: the confirmation page of ``action``; POST with ``confirm``: do it (one service call)."""
    if action not in PERSON_ACTIONS or not USER_CODE.fullmatch(code):
        abort(404)
    person = scope.person_or_404(code)
    page = url_for("people.act", code=code, action=action)
    mine = action in TAKES_AWAY or _fully_mine(person)
    if request.method == "GET":
        title, consequences, button = _action_words(action, code)
        consequences = [_("%(name)s, group %(group)s, now %(status)s.", name=person.name or code,
                          group=person.group or "-", status=status_word(person.status)), *consequences]
        blocked = _("%(code)s is revoked: nothing more can be done.", code=code) if person.status == "revoked" else None
        if blocked is None and not mine:
            blocked = str(NOT_MINE)
        return confirm_page(title, consequences, action=page, button=button, back=url_for("people.index"),
                            blocked=blocked)
    if not mine:
        abort(403)
    if not ConfirmForm().confirm.data:
        return unconfirmed(page)
    actor = g.account.username
    try:
        if action == "reset-pin":
            pin = service().reset_pin(code, actor=actor)
            key = state().shown_once.put(g.account.token_hash, PinNotice(code=code, pin=pin, new=False))
            return redirect(url_for("people.pin_once", key=key), code=303)
        {"suspend": service().suspend, "resume": service().resume, "revoke": service().revoke}[action](code,
                                                                                                        actor=actor)
    except KunciError as exc:
        flash(sentence(str(exc)), "error")
        return redirect(page, code=303)
    logger.info("site staff %s: %s %s", actor, action, code)
    flash(_("Done: %(code)s is now %(status)s.", code=code,
            status=status_word({"suspend": "suspended", "resume": "active", "revoke": "revoked"}[action])), "ok")
    return redirect(url_for("people.index"), code=303)
