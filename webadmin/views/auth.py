"""Login, logout and password change (every staff role).

A login goes through :func:`controller.staff.authenticate` (argon2id, dummy hash for
unknown names, per-account lock) after the per-address limiter; unknown user, wrong
password, disabled or locked account all get the same message. A success starts a
new server-side session (the old cookie's contents are discarded).
"""

from __future__ import annotations

import logging
import math
from typing import Any

from flask import Blueprint, g, redirect, render_template, request, session, url_for

from controller import staff
from controller.errors import InvalidInput
from controller.timefmt import utcnow
from webadmin.forms import sentence
from webadmin.security import PUBLIC, STAFF, allow, end_session, revoke_other_sessions, start_session
from webadmin.state import state, write_db

logger = logging.getLogger(__name__)

bp = Blueprint("auth", __name__)

LOGIN_FAILED = "Login failed: wrong username or password, or the account is disabled or locked for a while."


@bp.route("/login", methods=["GET", "POST"])
@allow(PUBLIC)
def login() -> Any:
    """The login form; POST checks the credentials and starts a session."""
    if request.method == "GET":
        if g.get("account") is not None:
            return redirect(url_for("dashboard.index"), code=303)
        return render_template("login.html")

    web = state()
    address = request.remote_addr or "unknown"
    wait = web.login_limiter.retry_after(address)
    if wait:
        minutes = max(1, math.ceil(wait / 60))
        message = f"Too many failed logins from this address. Try again in {minutes} minute(s)."
        return render_template("login.html", error=message), 429

    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    cfg = web.config.web
    with write_db() as db:
        account = staff.authenticate(
            db,
            username,
            password,
            utcnow(),
            failures_before_lock=cfg.login_failures_before_lock,
            lock_minutes=cfg.login_lock_minutes,
            hasher=web.hasher,
        )
        if account is not None:
            start_session(db, account)
    if account is None:
        web.login_limiter.failed(address)
        return render_template("login.html", error=LOGIN_FAILED, username=username[:64]), 401
    return redirect(url_for("dashboard.index"), code=303)


@bp.route("/logout", methods=["POST"])
@allow(STAFF)
def logout() -> Any:
    """End the session on the server; the old cookie is refused from now on."""
    end_session()
    return render_template("login.html", notice="You are logged out."), 200


@bp.route("/account/password", methods=["GET", "POST"])
@allow(STAFF)
def change_password() -> Any:
    """Change one's own password; every other session of the account ends."""
    if request.method == "GET":
        return render_template("password.html")
    me = g.account
    current = request.form.get("current_password", "")
    new = request.form.get("new_password", "")
    confirm = request.form.get("confirm_password", "")
    web = state()
    if new != confirm:
        return render_template("password.html", error="The new password and its confirmation differ."), 400
    try:
        with write_db() as db:
            row = staff.get_account(db, me.username)
            if not staff.verify_password(row, current, hasher=web.hasher):
                raise InvalidInput("The current password is wrong.")
            row = staff.change_password(db, me.username, new, me.username, utcnow(), hasher=web.hasher)
            revoke_other_sessions(db, row.id, keep_session_id=me.session_id)
            version = row.session_version
    except InvalidInput as exc:
        return render_template("password.html", error=sentence(str(exc))), 400
    session["sv"] = version
    return render_template("password.html", done=True)

