"""A person's PIN pages (admin only): the PIN shown once, Reset PIN (after its confirmation page), the
duress PIN. Routes of the ``people`` blueprint (:mod:`webadmin.views.people` imports this module last).

PINs are shown once by post/redirect/get: the POST keeps the daemon's PIN in
:class:`webadmin.shown_once.ShownOnce` and redirects (303) to a GET page that takes it out, so a reload
says "already shown" (410) and repeats nothing.
"""

from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from controller.core.vocabulary import PersonStatus
from webadmin import daemon
from webadmin.forms import USER_CODE
from webadmin.forms.people import ConfirmForm
from webadmin.security import ADMIN_ONLY, allow
from webadmin.shown_once import PinNotice
from webadmin.state import state
from webadmin.views.confirm import confirm_page, unconfirmed
from webadmin.views.people import _code_or_404, _user_or_404, bp, who


def show_pin_once(result: dict[str, Any], *, new: bool, duress: bool = False) -> Any:
    """Keep the daemon's ``{code, pin}`` (or ``duress_pin``) for one showing and redirect (303) to the page
    that shows it."""
    code, pin = str(result.get("code") or ""), str(result.get("duress_pin" if duress else "pin") or "")
    if not USER_CODE.fullmatch(code):
        flash(_("The door daemon made the change but did not say which person; check the list."), "error")
        return redirect(url_for("people.index"), code=303)
    if not pin.isdigit():
        flash(_("%(code)s: the door daemon did not return a PIN. Use 'Reset PIN'.", code=code), "error")
        return redirect(url_for("people.show", code=code), code=303)
    key = state().shown_once.put(g.account.token_hash, PinNotice(code=code, pin=pin, new=new, duress=duress))
    return redirect(url_for("people.pin_once", key=key), code=303)


@bp.route("/pin-once/<key>")
@allow(ADMIN_ONLY)
def pin_once(key: str) -> Any:
    """Show a new PIN once. A reload (or another session) gets "already shown" and changes nothing."""
    notice = state().shown_once.take(g.account.token_hash, key[:64])
    if notice is None:
        return render_template("people/pin_once.html", shown=True), 410
    return render_template("people/pin_once.html", shown=False, code=notice.code, pin=notice.pin, new=notice.new,
                           duress=notice.duress)


@bp.route("/<code>/reset-pin", methods=["GET", "POST"])
@allow(ADMIN_ONLY)
def reset_pin(code: str) -> Any:
    """GET: what a reset does; POST with ``confirm``: have the daemon draw a new PIN (the old one stops
    working) and show it once."""
    user = _user_or_404(_code_or_404(code))
    if user.status == PersonStatus.REVOKED:
        flash(_("%(code)s is revoked; a revoked person cannot get a PIN.", code=user.code), "error")
        return redirect(url_for("people.show", code=user.code), code=303)
    page = url_for("people.reset_pin", code=user.code)
    if request.method == "GET":
        return confirm_page(_("Reset the PIN of %(code)s?", code=user.code), [
            _("This draws a new PIN for %(who)s and shows it to you once.", who=who(user)),
            _("Their current PIN stops working at once: give them the new one before they next come to the door. "
              "Their fingerprints do not change.")], action=page, button=_("Reset PIN"),
            back=url_for("people.show", code=user.code))
    if not ConfirmForm().confirm.data:
        return unconfirmed(page)
    try:
        result = daemon.admin("user.reset_pin", user=user.code)
    except daemon.ChangeRefused as exc:
        flash(_("No PIN was issued. %(error)s", error=exc.message), "error")
        return redirect(url_for("people.show", code=user.code), code=303)
    return show_pin_once(result, new=False)


@bp.route("/<code>/duress-pin", methods=["POST"])
@allow(ADMIN_ONLY)
def duress_pin(code: str) -> Any:
    """Have the daemon draw the person's duress PIN (replacing an older one) and show it once."""
    user = _user_or_404(_code_or_404(code))
    try:
        result = daemon.admin("user.issue_duress_pin", user=user.code)
    except daemon.ChangeRefused as exc:
        flash(_("No duress PIN was issued. %(error)s", error=exc.message), "error")
        return redirect(url_for("people.show", code=user.code), code=303)
    return show_pin_once(result, new=False, duress=True)
