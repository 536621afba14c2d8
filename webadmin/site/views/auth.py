"""Login, logout and one's own page language on the site admin page (every staff role).

A login goes through :func:`webadmin.site.sessions.authenticate` (per-address limiter, per-login lock in
``web.db``, argon2id in the site service); unknown login, wrong password, disabled or locked login all get
the same message. A success starts a new server-side session (the old cookie's contents are discarded).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, url_for
from flask_babel import gettext

from controller.errors import InvalidInput
from webadmin.forms import sentence
from webadmin.forms.accounts import LOGIN_NAME_SHOWN, LanguageForm, LoginForm
from webadmin.security import PUBLIC, STAFF, allow
from webadmin.site import sessions
from webadmin.site.state import state
from webadmin.views.auth import LOGIN_FAILED

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)


def home() -> str:
    """Where a login lands: the people list for admins, the site's events for auditors."""
    account = g.get("account")
    return url_for("people.index") if account is not None and account.is_admin else url_for("events.index")


@bp.route("/")
@allow(STAFF)
def index() -> Any:
    return redirect(home(), code=303)


@bp.route("/login", methods=["GET", "POST"])
@allow(PUBLIC)
def login() -> Any:
    """The login form; POST checks the credentials and starts a session."""
    if request.method == "GET":
        if g.get("account") is not None:
            return redirect(home(), code=303)
        return render_template("login.html")
    form = LoginForm()
    username = form.name()
    try:
        record = sessions.authenticate(username, form.password.data)
    except sessions.Throttled as exc:
        return render_template("login.html", error=exc.message), 429
    except Exception:
        state().login_limiter.failed(request.remote_addr or "unknown")  # a failing login is still a guess
        raise
    if record is None:
        return render_template("login.html", error=gettext(LOGIN_FAILED), username=username[:LOGIN_NAME_SHOWN]), 401
    sessions.start_session(username)
    return redirect(url_for("auth.index"), code=303)


@bp.route("/logout", methods=["POST"])
@allow(STAFF)
def logout() -> Any:
    """End the session on the server; the old cookie is refused from now on."""
    sessions.end_session()
    return render_template("login.html", notice=gettext("You are logged out.")), 200


@bp.route("/account/language", methods=["POST"])
@allow(STAFF)
def change_language() -> Any:
    """Store the page language of one's own login; the next page is in it."""
    try:
        form = LanguageForm().checked()
    except InvalidInput as exc:
        return render_template("error.html", code=400, title=gettext("Bad request"), message=sentence(str(exc))), 400
    state().web_store.set_language(g.account.username, form.language.data)
    return redirect(home(), code=303)
