"""Staff accounts (admin only): add, change role, disable/enable (also unlocks), end sessions.

Every change is sent to the door daemon (``staff.*`` admin operations), which stores it and
logs it. Adding an account and changing a role need the admin's own password again
(re-authentication, throttled like a login); the new account's password is checked and
hashed here, outside any transaction, and the daemon stores only the argon2id hash.
Role, password and enable changes bump the account's ``session_version`` in the daemon, so
the person's open sessions end at their next request; the web also ends them in ``web.db``
at once. An admin cannot demote or disable their own account here (another admin must),
so the site is never left without an admin by a slip.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from controller.core.vocabulary import EventType
from controller.errors import InvalidInput
from controller.i18n import T
from controller.store import staff
from controller.store.models import ADMIN_ROLES
from controller.timefmt import utcnow
from webadmin import daemon
from webadmin import login as passwords
from webadmin.forms import sentence
from webadmin.forms.accounts import StaffAddForm, StaffRoleForm
from webadmin.security import ADMIN_ONLY, allow, revoke_other_sessions
from webadmin.state import read_db, state

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
            locks=state().web_store.locks(utcnow()),
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


def _reauthenticate(current_password: str) -> None:
    """Raise :class:`InvalidInput` unless ``current_password`` is the admin's own password."""
    if not passwords.recheck_password(current_password):
        raise InvalidInput(T("your own password is wrong; nothing was changed"))


def _account_exists(username: str) -> bool:
    return staff.get_account_or_none(read_db(), username) is not None


@bp.route("/new", methods=["POST"])
@allow(ADMIN_ONLY)
def add() -> Any:
    """Create an account (password rules: 12+ characters, not common); needs the admin's password."""
    values = {"username": request.form.get("username", "")[:64], "role": request.form.get("role", "")}
    try:
        form = StaffAddForm().checked()
        username = form.username.data
        _reauthenticate(form.current_password.data)
        password_hash = staff.hash_new_password(form.password.data, username, hasher=state().hasher)
        daemon.admin("staff.add", username=username, role=form.role.data, password_hash=password_hash)
    except passwords.Throttled as exc:
        return _page(exc.message, values, 429)
    except InvalidInput as exc:
        return _page(sentence(str(exc)), values, 400)
    except daemon.ChangeRefused as exc:
        return _page(exc.message, values, exc.status)
    flash(_("Account %(username)s added.", username=username), "ok")
    return redirect(url_for("staff.index"), code=303)


@bp.route("/<username>/role", methods=["POST"])
@allow(ADMIN_ONLY)
def role(username: str) -> Any:
    """Change an account's role (needs the admin's password); its sessions end."""
    username = _username_or_404(username)
    if username == g.account.username:
        flash(_("You cannot change your own role; ask another admin."), "error")
        return redirect(url_for("staff.index"), code=303)
    if not _account_exists(username):
        abort(404)
    try:
        form = StaffRoleForm().checked()
        new_role = form.role.data
        _reauthenticate(form.current_password.data)
        daemon.admin("staff.set_role", username=username, role=new_role)
    except passwords.Throttled as exc:
        return _page(exc.message, None, 429)
    except InvalidInput as exc:
        return _page(sentence(str(exc)), None, 400)
    except daemon.ChangeRefused as exc:
        return _page(exc.message, None, exc.status)
    revoke_other_sessions(username, keep_session_id=None)
    flash(_("%(username)s is now %(role)s; their open sessions have ended.", username=username, role=new_role), "ok")
    return redirect(url_for("staff.index"), code=303)


@bp.route("/<username>/<any(enable, disable):action>", methods=["POST"])
@allow(ADMIN_ONLY)
def set_active(username: str, action: str) -> Any:
    """Disable an account (its sessions end) or enable it again (which also lifts a login lock)."""
    username = _username_or_404(username)
    if username == g.account.username:
        flash(_("You cannot disable or re-enable your own account; ask another admin."), "error")
        return redirect(url_for("staff.index"), code=303)
    if not _account_exists(username):
        abort(404)
    try:
        daemon.admin("staff.set_active", username=username, active=action == "enable")
    except daemon.ChangeRefused as exc:
        return _page(exc.message, None, exc.status)
    revoke_other_sessions(username, keep_session_id=None)
    if action == "enable":
        state().web_store.clear_failures(username)
    flash(_("%(username)s enabled (and unlocked).", username=username) if action == "enable"
          else _("%(username)s disabled.", username=username), "ok")
    return redirect(url_for("staff.index"), code=303)


@bp.route("/<username>/logout", methods=["POST"])
@allow(ADMIN_ONLY)
def end_sessions(username: str) -> Any:
    """End every open session of an account (e.g. a lost phone)."""
    username = _username_or_404(username)
    if not _account_exists(username):
        abort(404)
    keep = g.account.session_id if username == g.account.username else None
    daemon.record_event(EventType.ADMIN_SESSIONS_ENDED, {"account": username})
    revoke_other_sessions(username, keep_session_id=keep)
    flash(_("The open sessions of %(username)s have ended.", username=username), "ok")
    return redirect(url_for("staff.index"), code=303)
