"""Login, logout, password change and one's own page language (every staff role).

A login goes through :func:`webadmin.login.authenticate` (argon2id outside any database
transaction, dummy hash for unknown names, per-account lock in ``web.db``) after the
per-address limiter; unknown user, wrong password, disabled or locked account all get the
same message. A success starts a new server-side session (the old cookie's contents are
discarded). A password change re-checks the current password (throttled like a login),
hashes the new one here, outside any transaction, and has the daemon store the hash.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, session, url_for
from flask_babel import gettext

from controller.errors import InvalidInput
from controller.i18n import T
from controller.store import staff
from webadmin import daemon
from webadmin import login as passwords
from webadmin.forms import sentence
from webadmin.forms.accounts import LOGIN_NAME_SHOWN, LanguageForm, LoginForm, PasswordChangeForm
from webadmin.labels import N_
from webadmin.security import (
    PUBLIC,
    STAFF,
    allow,
    end_session,
    revoke_other_sessions,
    start_session,
)
from webadmin.state import read_db, state

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

#: Marked for the catalogue; shown through ``gettext`` (the constant stays English for the tests).
LOGIN_FAILED = N_("Login failed: wrong username or password, or the account is disabled or locked for a while.")


@bp.route("/login", methods=["GET", "POST"])
@allow(PUBLIC)
def login() -> Any:
    """The login form; POST checks the credentials and starts a session."""
    if request.method == "GET":
        if g.get("account") is not None:
            return redirect(url_for("dashboard.index"), code=303)
        return render_template("login.html")

    form = LoginForm()
    username = form.name()
    try:
        account = passwords.authenticate(username, form.password.data)
    except passwords.Throttled as exc:
        return render_template("login.html", error=exc.message), 429
    if account is None:
        return render_template("login.html", error=gettext(LOGIN_FAILED), username=username[:LOGIN_NAME_SHOWN]), 401
    start_session(account)
    return redirect(url_for("dashboard.index"), code=303)


@bp.route("/logout", methods=["POST"])
@allow(STAFF)
def logout() -> Any:
    """End the session on the server; the old cookie is refused from now on."""
    end_session()
    return render_template("login.html", notice=gettext("You are logged out.")), 200


@bp.route("/account/password", methods=["GET", "POST"])
@allow(STAFF)
def change_password() -> Any:
    """Change one's own password; every other session of the account ends."""
    if request.method == "GET":
        return render_template("password.html", language_saved=request.args.get("language") == "saved")
    me = g.account
    try:
        form = PasswordChangeForm().checked()
        if not passwords.recheck_password(form.current_password.data):
            raise InvalidInput(T("The current password is wrong."))
        password_hash = staff.hash_new_password(form.new_password.data, me.username, hasher=state().hasher)
        daemon.admin("staff.set_password", username=me.username, password_hash=password_hash)
    except passwords.Throttled as exc:
        return render_template("password.html", error=exc.message), 429
    except InvalidInput as exc:
        return render_template("password.html", error=sentence(str(exc))), 400
    except daemon.ChangeRefused as exc:
        return render_template("password.html", error=exc.message), exc.status
    revoke_other_sessions(me.username, keep_session_id=me.session_id)
    # The daemon bumped session_version (other sessions end); this one carries on with the new value.
    row = staff.get_account_or_none(read_db(), me.username)
    if row is not None:
        session["sv"] = row.session_version
    return render_template("password.html", done=True)


@bp.route("/account/language", methods=["POST"])
@allow(STAFF)
def change_language() -> Any:
    """Store the admin page language of one's own login (``web.db``); the next page is in it."""
    try:
        form = LanguageForm().checked()
    except InvalidInput as exc:
        return render_template("password.html", language_error=sentence(str(exc))), 400
    state().web_store.set_language(g.account.username, form.language.data)
    logger.info("staff login %s chose the page language %s", g.account.username, form.language.data)
    return redirect(url_for("auth.change_password", language="saved"), code=303)
