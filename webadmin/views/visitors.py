"""Visitors (issue 13 item 5): staff see the current and ended visitors; admins add one (PIN shown once).

A visitor is a person whose access ends at an instant (``users.valid_until_at``), optionally only after a
member of their escort group presented a valid credential (docs/security.md "Visitors"). The change is one
``visitor.add`` call to the door daemon (:func:`webadmin.daemon.admin`); the PIN is shown once by
post/redirect/get (:class:`webadmin.shown_once.ShownOnce`), so a reload of the PIN page is 410 and adds nobody.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controller.errors import InvalidInput, NotFound
from controller.store import people, schedules, visitors
from controller.timefmt import utcnow
from webadmin import daemon
from webadmin.forms import USER_CODE, sentence
from webadmin.forms.visitors import UNITS, VisitorForm
from webadmin.security import ADMIN_ONLY, STAFF, allow
from webadmin.shown_once import PinNotice
from webadmin.state import read_db, state

bp = Blueprint("visitors", __name__, url_prefix="/visitors")


def _page(values: Any = None, error: str | None = None, status: int = 200) -> Any:
    db = read_db()
    now = utcnow()
    rows = [visitors.visitor_summary(u, now, include_name=g.account.is_admin)
            for u in visitors.list_visitors(db, now, limit=500)]
    return render_template(
        "visitors/list.html", current=[r for r in rows if r["current"]], ended=[r for r in rows if not r["current"]],
        groups=[grp.name for grp in schedules.list_groups(db)], units=UNITS, values=values or {}, error=error,
        max_days=visitors.MAX_DAYS,
    ), status


@bp.route("")
@allow(STAFF)
def index() -> Any:
    """Current visitors (end of visit, escort group), then ended ones; the add form for admins."""
    return _page()


@bp.route("/new", methods=["POST"])
@allow(ADMIN_ONLY)
def add() -> Any:
    """Add a visitor through the daemon; then show their PIN once (303 to a GET page)."""
    form = VisitorForm(groups=lambda: [grp.name for grp in schedules.list_groups(read_db())])
    try:
        result = daemon.admin("visitor.add", **form.checked().params())
    except (InvalidInput, NotFound) as exc:
        return _page(request.form, sentence(str(exc)), 400)
    except daemon.ChangeRefused as exc:
        return _page(request.form, exc.message, exc.status)
    code, pin = str(result.get("code") or ""), str(result.get("pin") or "")
    if not USER_CODE.fullmatch(code) or not pin.isdigit():
        flash(_("The door daemon made the change but returned no code and PIN; check the list."), "error")
        return redirect(url_for("visitors.index"), code=303)
    key = state().shown_once.put(g.account.token_hash, PinNotice(code=code, pin=pin, new=True))
    return redirect(url_for("visitors.pin_once", key=key), code=303)


@bp.route("/pin-once/<key>")
@allow(ADMIN_ONLY)
def pin_once(key: str) -> Any:
    """Show a visitor's PIN once; a reload (or another session) gets 410 and changes nothing."""
    notice = state().shown_once.take(g.account.token_hash, key[:64])
    if notice is None:
        return render_template("visitors/pin_once.html", shown=True), 410
    try:
        visitor = visitors.visitor_summary(people.get_user(read_db(), notice.code), utcnow(), include_name=True)
    except NotFound:
        visitor = {"code": notice.code, "valid_until_at": None, "escort_group": None}
    return render_template("visitors/pin_once.html", shown=False, pin=notice.pin, visitor=visitor)

