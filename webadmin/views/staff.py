"""Staff accounts (admin only): add, change role, disable/enable (also unlocks), end sessions.

Role, password and enable changes bump the account's ``session_version`` in
:mod:`controller.staff`, so the person's open sessions end at their next request.
An admin cannot demote or disable their own account here (another admin must),
so the site is never left without an admin by a slip.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from controller import audit, staff
from controller.errors import InvalidInput, NotFound
from controller.models import ADMIN_ROLES
from controller.timefmt import iso_utc, utcnow
from webadmin import forms
from webadmin.forms import sentence
from webadmin.security import ADMIN_ONLY, allow, revoke_other_sessions
from webadmin.state import read_db, state, write_db

logger = logging.getLogger(__name__)

bp = Blueprint("staff", __name__, url_prefix="/staff")


def _username_or_404(username: str) -> str:
    if not staff.USERNAME_PATTERN.fullmatch(username):
        abort(404)
    return username


def _page(error: str | None = None, values: Any = None, status: int = 200) -> Any:
    return (
        render_template(
            "staff.html",
            accounts=staff.list_accounts(read_db()),
            roles=ADMIN_ROLES,
            now=iso_utc(utcnow()),
            error=error,
            values=values or {},
        ),
        status,
    )


@bp.route("")
@allow(ADMIN_ONLY)
def index() -> Any:
    """Every staff account and the form for a new one."""
    return _page()


@bp.route("/new", methods=["POST"])
@allow(ADMIN_ONLY)
def add() -> Any:
    """Create an account (password rules: 12+ characters, not common)."""
    form = request.form
    try:
        username = forms.text(form, "username", "Username", max_length=32, required=True)
        role = forms.choice(form, "role", "Role", ADMIN_ROLES)
        if role is None:
            raise forms.FormError("role", "Role is required.")
        if form.get("password", "") != form.get("confirm_password", ""):
            raise forms.FormError("confirm_password", "The password and its confirmation differ.")
        with write_db() as db:
            staff.add_account(db, username, form.get("password", ""), role, g.account.username, hasher=state().hasher)
    except InvalidInput as exc:
        values = {"username": form.get("username", "")[:64], "role": form.get("role", "")}
        return _page(sentence(str(exc)), values, 400)
    flash(f"Account {username} added.", "ok")
    return redirect(url_for("staff.index"), code=303)


@bp.route("/<username>/role", methods=["POST"])
@allow(ADMIN_ONLY)
def role(username: str) -> Any:
    """Change an account's role; its sessions end."""
    username = _username_or_404(username)
    if username == g.account.username:
        flash("You cannot change your own role; ask another admin.", "error")
        return redirect(url_for("staff.index"), code=303)
    try:
        new_role = forms.choice(request.form, "role", "Role", ADMIN_ROLES)
        if new_role is None:
            raise forms.FormError("role", "Role is required.")
        with write_db() as db:
            staff.set_role(db, username, new_role, g.account.username)
    except NotFound:
        abort(404)
    except InvalidInput as exc:
        return _page(sentence(str(exc)), None, 400)
    flash(f"{username} is now {new_role}; their open sessions have ended.", "ok")
    return redirect(url_for("staff.index"), code=303)


@bp.route("/<username>/<any(enable, disable):action>", methods=["POST"])
@allow(ADMIN_ONLY)
def set_active(username: str, action: str) -> Any:
    """Disable an account (its sessions end) or enable it again (which also lifts a login lock)."""
    username = _username_or_404(username)
    if username == g.account.username:
        flash("You cannot disable or re-enable your own account; ask another admin.", "error")
        return redirect(url_for("staff.index"), code=303)
    try:
        with write_db() as db:
            row = staff.set_active(db, username, action == "enable", g.account.username)
            revoke_other_sessions(db, row.id, keep_session_id=None)
    except NotFound:
        abort(404)
    flash(f"{username} {'enabled (and unlocked)' if action == 'enable' else 'disabled'}.", "ok")
    return redirect(url_for("staff.index"), code=303)


@bp.route("/<username>/logout", methods=["POST"])
@allow(ADMIN_ONLY)
def end_sessions(username: str) -> Any:
    """End every open session of an account (e.g. a lost phone)."""
    username = _username_or_404(username)
    try:
        with write_db() as db:
            row = staff.get_account(db, username)
            keep = g.account.session_id if row.id == g.account.id else None
            revoke_other_sessions(db, row.id, keep_session_id=keep)
            audit.record(db, "admin.sessions_ended", actor=g.account.username, detail={"account": username})
    except NotFound:
        abort(404)
    flash(f"The open sessions of {username} have ended.", "ok")
    return redirect(url_for("staff.index"), code=303)
