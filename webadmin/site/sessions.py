"""Staff logins of the site admin page: password check with its limits, server-side sessions, roles.

The request guards reuse the controller admin web's (:mod:`webadmin.security`): input screening,
CSRF (Flask-WTF), the security headers and the per-address limiter. What differs is where the
accounts live: site staff are rows of ``kunci.staff`` in PostgreSQL (argon2id, role ``admin`` or
``auditor``, ``rooms``: the room ids the login manages, ``NULL`` = every room), checked through the site
service. Sessions, per-login failure counters and language choices live in ``SITE_DIR/web/web.db``.

Every request re-reads its staff row, so a login that was disabled, or whose role or rooms changed,
gets the new rights (or is logged out) on its next request.

Limits, as on a controller's page: ``web.login_failures_before_lock`` wrong passwords in a row lock the
login for ``web.login_lock_minutes``; 30 failures from one address in 15 minutes stop that address.
Unknown, disabled and locked logins get the same answer as a wrong password.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from flask import abort, flash, g, jsonify, redirect, request, session, url_for
from flask_babel import gettext as _

from controller.store.staff import USERNAME_PATTERN
from controller.timefmt import iso_utc, parse_iso_utc, utcnow
from webadmin.login import Throttled
from webadmin.security import ADMIN_ONLY, PUBLIC, ROLE_ADMIN, SESSION_ENDED, roles_for, wants_json
from webadmin.site.state import state

logger = logging.getLogger(__name__)

#: The session version stored with every site session (site staff rows carry none: rights are re-read per request).
SESSION_VERSION = 0


@dataclass(frozen=True)
class StaffLogin:
    """The logged-in site staff member, as read at the start of this request.

    :param rooms: the room ids this login manages; ``None`` = every room of the site.
    """

    username: str
    role: str
    rooms: frozenset[int] | None
    session_id: int
    token_hash: bytes

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN

    @property
    def room_list(self) -> list[int] | None:
        """The rooms as the site service takes them (``None`` = every room)."""
        return None if self.rooms is None else sorted(self.rooms)

    def manages(self, room_id: int | None) -> bool:
        """True when this login may see and change things of room ``room_id``."""
        return self.rooms is None or room_id in self.rooms


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def _address() -> str:
    return request.remote_addr or "unknown"


def _field(record: Any, name: str) -> Any:
    return record[name] if isinstance(record, dict) else getattr(record, name)


def _rooms(record: Any) -> frozenset[int] | None:
    rooms = _field(record, "rooms")
    return None if rooms is None else frozenset(int(r) for r in rooms)


def authenticate(username: str, password: str) -> Any | None:
    """The staff record if ``username``/``password`` are right and the login may start now, else ``None``.

    Raises :class:`Throttled` before any work when the client's address is over its limit. The password is
    verified (argon2id) by the site service even for a locked login, so a lock costs the same time as a
    wrong password and says nothing more.
    """
    web = state()
    wait = web.login_limiter.retry_after(_address())
    if wait:
        raise Throttled(wait)
    well_formed = USERNAME_PATTERN.fullmatch(username) is not None
    record = web.service.verify_staff(username if well_formed else "-", password)
    now = utcnow()
    locked_until = web.web_store.locked_until(username) if well_formed else None
    locked = locked_until is not None and parse_iso_utc(locked_until) > now

    def fail(why: str) -> None:
        web.login_limiter.failed(_address())
        logger.info("site staff login failed (%s)", why)

    if not well_formed:
        fail("malformed_name")
        return None
    if locked:
        fail("locked")
        return None
    if record is None:
        if web.web_store.record_failure(username, now, failures_before_lock=web.web.login_failures_before_lock,
                                        lock_minutes=web.web.login_lock_minutes):
            logger.warning("site staff login %s locked after repeated failed logins", username)
        fail("wrong_password_or_unknown")
        return None
    if not _field(record, "active"):
        fail("inactive")
        return None
    web.web_store.clear_failures(username)
    logger.info("site staff login %s logged in", username)
    return record


def start_session(username: str) -> None:
    """Store a fresh server-side session for ``username`` and set the cookie (the old cookie's contents go)."""
    web = state()
    token = secrets.token_urlsafe(32)
    web.web_store.create_session(
        _token_hash(token), username, SESSION_VERSION, utcnow(),
        idle=timedelta(minutes=web.web.session_idle_minutes), max_age=timedelta(hours=web.web.session_max_hours),
        remote_addr=(request.remote_addr or "")[:64] or None,
    )
    session.clear()
    session["t"] = token


def end_session() -> None:
    """Revoke this request's session on the server and clear the cookie."""
    account: StaffLogin | None = g.get("account")
    if account is not None:
        state().web_store.revoke(account.session_id)
        logger.info("site staff login %s logged out", account.username)
    session.clear()
    g.account = None


def _ended(row_id: int | None, why: str) -> None:
    if row_id is not None:
        state().web_store.revoke(row_id)
    session.clear()
    flash(_(SESSION_ENDED[why]), "error")
    logger.info("site web session ended: %s", why)


def load_session() -> None:
    """Resolve the cookie to ``g.account`` (a :class:`StaffLogin`) or ``None``; end a session that may not go on."""
    g.account = None
    token = session.get("t")
    if not isinstance(token, str) or not token:
        return
    web = state()
    token_hash = _token_hash(token)
    row = web.web_store.get_session(token_hash)
    if row is None:
        session.clear()
        flash(_(SESSION_ENDED["unknown"]), "error")
        return
    if row.revoked:
        _ended(None, "revoked")
        return
    record = web.service.get_staff(row.username)
    stamp = iso_utc(now := utcnow())
    if record is None or not _field(record, "active"):
        _ended(row.id, "account_disabled")
        return
    if stamp >= row.idle_until:
        _ended(row.id, "idle")
        return
    if stamp >= row.expires_at:
        _ended(row.id, "too_old")
        return
    if (now - parse_iso_utc(row.last_seen_at)).total_seconds() >= 30:
        web.web_store.touch(row.id, now, idle=timedelta(minutes=web.web.session_idle_minutes))
    g.account = StaffLogin(username=row.username, role=str(_field(record, "role")), rooms=_rooms(record),
                           session_id=row.id, token_hash=token_hash)


def authorize() -> Any:
    """Refuse a request the current login (or an anonymous visitor) may not make; unmarked views are admin only."""
    roles = roles_for(request.endpoint)
    if roles is PUBLIC or request.endpoint is None:
        return None
    account: StaffLogin | None = g.get("account")
    if account is None:
        if wants_json():
            return jsonify(ok=False, error=_("Please log in again.")), 401
        return redirect(url_for("auth.login"), code=303)
    if account.role not in (roles or ADMIN_ONLY):
        logger.warning("site staff login %s (%s) refused on %s", account.username, account.role, request.endpoint)
        abort(403)
    return None
