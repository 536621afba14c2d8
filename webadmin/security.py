"""Request guards of the admin web: input screening, server-side sessions, roles, headers, login limits.

Order of the ``before_request`` hooks (installed by :func:`init_app`):

1. :func:`screen_input` refuses a query string or form body holding a NUL byte or
   text that is not valid UTF-8 (400, nothing stored).
2. Flask-WTF's ``CSRFProtect`` refuses an unsafe method without a valid token (400).
3. :func:`load_session` resolves the ``__Host-kunci`` cookie to a session row of the web's
   own database ``DATA/web/web.db`` (only the SHA-256 of the random token is stored) and
   ends it when it was revoked, idle longer than ``web.session_idle_minutes``, older than
   ``web.session_max_hours``, the account was disabled or its ``session_version`` changed
   (password or role change). The door database is only read.
4. :func:`authorize` lets through only endpoints the account's role may use; the
   default for a view without :func:`allow` is admin only (fail closed). A refusal is
   a 403 and an ``admin.forbidden`` event.

:func:`set_headers` adds CSP, HSTS, frame, sniffing, referrer and cache headers to
every response, error pages included; :func:`count_password_errors` counts a server error
on a password form (a 500) as a failure for the client's address.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import parse_qsl

from flask import Flask, Response, abort, current_app, flash, g, jsonify, redirect, request, session, url_for
from flask_babel import gettext as _
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from controller.core.vocabulary import AdminRole, EventType
from controller.store import staff
from controller.store.models import AdminAccount
from controller.store.web_store import WebSessionRow
from controller.timefmt import iso_utc, parse_iso_utc, utcnow
from webadmin import daemon
from webadmin.labels import N_
from webadmin.state import end_read, read_db, state

logger = logging.getLogger(__name__)

#: Roles that exist (:class:`controller.core.vocabulary.AdminRole`); a view's allowed roles are a subset.
ROLE_ADMIN, ROLE_AUDITOR = AdminRole.ADMIN, AdminRole.AUDITOR
#: Marker for views anyone may reach (the login page).
PUBLIC = frozenset({"*"})
ADMIN_ONLY = frozenset({ROLE_ADMIN})
STAFF = frozenset({ROLE_ADMIN, ROLE_AUDITOR})

_ROLES_ATTR = "kunci_roles"

#: Headers set on every response.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}

#: What the login page says after a session ended, by reason (English here; shown through ``gettext``).
SESSION_ENDED = {
    "unknown": N_("Your session has ended. Please log in again."),
    "revoked": N_("You were logged out. Please log in again."),
    "idle": N_("Your session ended after a period without activity. Please log in again."),
    "too_old": N_("Your session reached its maximum length. Please log in again."),
    "account_changed": N_("Your account was changed (password or role). Please log in again."),
    "account_disabled": N_("Your account was disabled."),
}

#: A session's ``last_seen_at`` is rewritten at most this often (seconds), to spare the database.
LAST_SEEN_GRANULARITY_SECONDS = 30

F = TypeVar("F", bound=Callable[..., Any])


def allow(roles: frozenset[str]) -> Callable[[F], F]:
    """Decorator naming the roles that may call a view (``PUBLIC``, ``STAFF`` or ``ADMIN_ONLY``)."""

    def mark(view: F) -> F:
        setattr(view, _ROLES_ATTR, roles)
        return view

    return mark


def roles_for(endpoint: str | None) -> frozenset[str]:
    """The roles allowed on ``endpoint``; unmarked views are admin only."""
    if endpoint is None or endpoint == "static":
        return PUBLIC
    view = current_app.view_functions.get(endpoint)
    return getattr(view, _ROLES_ATTR, ADMIN_ONLY)


@dataclass(frozen=True)
class CurrentAccount:
    """The logged-in staff member, as checked at the start of this request."""

    id: int
    username: str
    role: str
    session_id: int
    token_hash: bytes

    @property
    def is_admin(self) -> bool:
        return self.role == ROLE_ADMIN


# --- input screening -------------------------------------------------------------------------------


def _bad_urlencoded(raw: bytes) -> str | None:
    """A message if URL-encoded ``raw`` holds a NUL byte or invalid UTF-8, else ``None``."""
    if not raw:
        return None
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, encoding="utf-8", errors="strict")
    except (UnicodeDecodeError, ValueError):
        return _("The request contained text that is not valid UTF-8. Nothing was saved.")
    for key, value in pairs:
        if "\x00" in key or "\x00" in value:
            return _("The request contained a NUL character, which is never valid here. Nothing was saved.")
    return None


def _bad_multipart(raw: bytes, boundary: str) -> str | None:
    """A message if multipart ``raw`` holds invalid UTF-8 in a part's headers or a field's value, else ``None``.

    Werkzeug's form parser replaces bad bytes in a value with U+FFFD (the view would store a mangled
    name) and drops the whole form when a part header is not UTF-8 (the CSRF check then blames an
    expired form). A body that is malformed in another way is left to that parser.
    """
    if not raw or not boundary:
        return None
    try:
        decoder = MultipartDecoder(boundary.encode("ascii"))
        decoder.receive_data(raw)
        decoder.receive_data(None)
        field: Field | None = None
        chunks: list[bytes] = []
        while not isinstance(event := decoder.next_event(), (NeedData, Epilogue)):
            if isinstance(event, Field):
                field, chunks = event, []
            elif isinstance(event, File):
                field = None  # a file's content is bytes; its name and headers were checked above
            elif isinstance(event, Data) and field is not None:
                chunks.append(event.data)
                if not event.more_data:
                    b"".join(chunks).decode("utf-8")
    except UnicodeError:
        return _("The request contained text that is not valid UTF-8. Nothing was saved.")
    except ValueError:
        return None
    return None


def screen_input() -> Any:
    """Refuse NUL bytes and invalid UTF-8 in the query string and in form bodies (400)."""
    problem = _bad_urlencoded(request.query_string)
    if problem is None and request.method in ("POST", "PUT", "PATCH", "DELETE"):
        if request.mimetype == "application/x-www-form-urlencoded":
            problem = _bad_urlencoded(request.get_data(cache=True))
        elif request.mimetype == "multipart/form-data":
            problem = _bad_multipart(request.get_data(cache=True), request.mimetype_params.get("boundary", ""))
            values = [*request.form.keys(), *request.form.values()]
            if problem is None and any("\x00" in v for v in values):
                problem = _("The request contained a NUL character, which is never valid here. Nothing was saved.")
    if problem is not None:
        logger.info("refused request with malformed input on %s", request.endpoint)
        abort(400, description=problem)
    return None


# --- sessions --------------------------------------------------------------------------------------


def _token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def start_session(account: AdminAccount) -> None:
    """Store a fresh server-side session for ``account`` in ``web.db`` and set the cookie.

    The Flask session is cleared first, so a cookie from before the login is never reused
    (T6.4) and the CSRF token is renewed.
    """
    web = state()
    token = secrets.token_urlsafe(32)
    web.web_store.create_session(
        _token_hash(token),
        account.username,
        account.session_version,
        utcnow(),
        idle=timedelta(minutes=web.config.web.session_idle_minutes),
        max_age=timedelta(hours=web.config.web.session_max_hours),
        remote_addr=(request.remote_addr or "")[:64] or None,
    )
    session.clear()
    session["t"] = token
    session["sv"] = account.session_version


def end_session() -> None:
    """Log the logout (while the session is still live for the daemon), revoke it, clear the cookie."""
    account = g.get("account")
    if account is not None:
        daemon.record_event(EventType.ADMIN_LOGOUT)
        state().web_store.revoke(account.session_id)
    session.clear()
    g.account = None


def revoke_other_sessions(username: str, keep_session_id: int | None) -> int:
    """End every session of ``username`` except ``keep_session_id``; returns how many ended."""
    return state().web_store.revoke_account(username, keep_session_id=keep_session_id)


def _session_problem(row: WebSessionRow, account: AdminAccount | None, now: datetime) -> str | None:
    """Why the session may not continue, or ``None`` if it may."""
    stamp = iso_utc(now)
    if row.revoked:
        return "revoked"
    if account is None or not account.active:
        return "account_disabled"
    if session.get("sv") != account.session_version:
        return "account_changed"
    if stamp >= row.idle_until:
        return "idle"
    if stamp >= row.expires_at:
        return "too_old"
    return None


def load_session() -> None:
    """Resolve the cookie to ``g.account`` (a :class:`CurrentAccount`) or ``None``."""
    g.account = None
    token = session.get("t")
    if not isinstance(token, str) or not token:
        return
    web = state()
    token_hash = _token_hash(token)
    row = web.web_store.get_session(token_hash)
    now = utcnow()
    if row is None:
        session.clear()
        flash(_(SESSION_ENDED["unknown"]), "error")
        return
    account = staff.get_account_or_none(read_db(), row.username)
    end_read()
    problem = _session_problem(row, account, now)
    if problem is not None:
        if not row.revoked:
            web.web_store.revoke(row.id)
        session.clear()
        flash(_(SESSION_ENDED[problem]), "error")
        logger.info("web session ended: %s", problem)
        return
    assert account is not None
    if (now - parse_iso_utc(row.last_seen_at)).total_seconds() >= LAST_SEEN_GRANULARITY_SECONDS:
        web.web_store.touch(row.id, now, idle=timedelta(minutes=web.config.web.session_idle_minutes))
    g.account = CurrentAccount(
        id=account.id, username=account.username, role=account.role, session_id=row.id, token_hash=token_hash
    )


def wants_json() -> bool:
    """True for the small JSON endpoints polled by the page scripts."""
    return request.path.endswith(".json") or request.accept_mimetypes.best == "application/json"


def authorize() -> Any:
    """Refuse a request the current account (or an anonymous visitor) may not make."""
    roles = roles_for(request.endpoint)
    if roles is PUBLIC or request.endpoint is None:
        return None
    account: CurrentAccount | None = g.get("account")
    if account is None:
        if wants_json():
            return jsonify(ok=False, error=_("Please log in again.")), 401
        return redirect(url_for("auth.login"), code=303)
    if account.role not in roles:
        daemon.record_event(EventType.ADMIN_FORBIDDEN, {"endpoint": request.endpoint, "method": request.method})
        logger.warning("account with role %s refused on %s", account.role, request.endpoint)
        abort(403)
    return None


# --- headers ---------------------------------------------------------------------------------------


def set_headers(response: Response) -> Response:
    """Add the security headers to ``response``; no caching except for static files."""
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    response.vary.add("Cookie")
    return response


# --- login limits ----------------------------------------------------------------------------------


class AddressLimiter:
    """Counts failed logins per client address in a sliding window (one process, thread-safe).

    :param max_failures: failures from one address within ``window_seconds`` after which
        further login attempts from it are refused (default 30).
    :param window_seconds: length of the sliding window (default 900 s).
    :param clock: monotonic clock in seconds (injectable for tests).
    :param max_addresses: addresses tracked at most; the stalest are dropped beyond it.
    """

    def __init__(
        self,
        max_failures: int = 30,
        window_seconds: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window_seconds = window_seconds
        self.clock = clock
        self.max_addresses = max_addresses
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and now - times[0] > self.window_seconds:
            times.popleft()
        return times

    def retry_after(self, address: str) -> float:
        """Seconds until ``address`` may try again; 0 when it may try now."""
        with self._lock:
            now = self.clock()
            times = self._prune(address, now)
            if len(times) < self.max_failures:
                return 0.0
            return max(1.0, self.window_seconds - (now - times[0]))

    def failed(self, address: str) -> None:
        """Record one failed login from ``address``."""
        with self._lock:
            now = self.clock()
            times = self._prune(address, now)
            times.append(now)
            self._failures.pop(address, None)
            self._failures[address] = times  # most recently failed last
            while len(self._failures) > self.max_addresses:
                self._failures.pop(next(iter(self._failures)))


#: Endpoints whose POST checks a password: a server error there counts as a failed guess.
PASSWORD_ENDPOINTS = frozenset(
    {"auth.login", "auth.change_password", "dashboard.remote_unlock", "staff.add", "staff.role"}
)


def count_password_errors(response: Response) -> Response:
    """Count a server error (500) on a password form as a failure for the client's address.

    An attacker who can make the login fail with a 500 (overload, a crafted request) must
    not get unlimited guesses that way.
    """
    if response.status_code == 500 and request.method == "POST" and request.endpoint in PASSWORD_ENDPOINTS:
        state().login_limiter.failed(request.remote_addr or "unknown")
    return response


def init_app(app: Flask, csrf_init: Callable[[Flask], None]) -> None:
    """Install the hooks in order: input screening, CSRF (``csrf_init``), session, authorization, headers."""
    app.before_request(screen_input)
    csrf_init(app)
    app.before_request(load_session)
    app.before_request(authorize)
    app.after_request(set_headers)
    app.after_request(count_password_errors)
