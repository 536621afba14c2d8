"""Password checks of the admin web: logins and re-authentication, with their throttles.

Every argon2 verification here runs with no database transaction open: the account is
read from the door database (read-only) and the read ends before hashing; the per-account
counters are in the web's own ``web.db`` and are written after the hash, each in a short
transaction of its own. A flood of logins therefore never holds a lock the door daemon needs.

Two limits apply to every password guess:

* per client address (:class:`webadmin.security.AddressLimiter`): failed logins, server
  errors on a password form, and wrong passwords given to re-authenticate (remote unlock,
  password change, adding an account, changing a role) all count;
* per account (logins only): ``web.login_failures_before_lock`` wrong passwords in a row
  lock the account for ``web.login_lock_minutes`` (:meth:`controller.store.web_store.WebStore.record_failure`).

Unknown, inactive and locked accounts cost the same argon2 work as a wrong password and get
the same answer. Login events are logged by the daemon (:func:`webadmin.daemon.record_event`).
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Any

from argon2 import PasswordHasher
from flask import g, request
from flask_babel import gettext as _

from controller.core.vocabulary import EventType
from controller.store import staff
from controller.store.models import AdminAccount
from controller.timefmt import parse_iso_utc, utcnow
from webadmin import daemon
from webadmin.state import end_read, read_db, state

logger = logging.getLogger(__name__)


class Throttled(Exception):
    """Too many password failures from this address; ``message`` says how long to wait."""

    def __init__(self, seconds: float) -> None:
        minutes = max(1, math.ceil(seconds / 60))
        self.message = _("Too many failed password attempts from this address. Try again in %(minutes)s minute(s).",
                         minutes=minutes)
        super().__init__(self.message)


class _HashOnly:
    """Stands in for an account when only a hash is verified (unknown usernames)."""

    def __init__(self, password_hash: str) -> None:
        self.password_hash = password_hash


_dummy_hashes: dict[tuple[Any, ...], str] = {}


def _dummy(ph: PasswordHasher) -> _HashOnly:
    key = (ph.type, ph.time_cost, ph.memory_cost, ph.parallelism, ph.hash_len, ph.salt_len)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = ph.hash("kunci-dummy-password-for-timing")
    return _HashOnly(_dummy_hashes[key])


@functools.cache
def _default_hasher() -> PasswordHasher:
    return staff.make_hasher()


def client_address() -> str:
    """The address the per-address limiter counts (the TCP peer; no proxy headers are trusted)."""
    return request.remote_addr or "unknown"


def check_throttle() -> None:
    """Raise :class:`Throttled` when this address may not guess a password now."""
    wait = state().login_limiter.retry_after(client_address())
    if wait:
        raise Throttled(wait)


def count_failure() -> None:
    """Count one failed password check (or a server error on a password form) for this address."""
    state().login_limiter.failed(client_address())


def authenticate(username: str, password: str) -> AdminAccount | None:
    """The account if ``username``/``password`` are right and it may log in now, else ``None``.

    Raises :class:`Throttled` before any work when the address is over its limit. Logs
    ``admin.login``, ``admin.login_failed`` (``detail.why``) or ``admin.account_locked``
    through the daemon; a failure counts for the address.
    """
    check_throttle()
    web = state()
    ph = web.hasher or _default_hasher()
    well_formed = staff.USERNAME_PATTERN.fullmatch(username) is not None
    account = staff.get_account_or_none(read_db(), username) if well_formed else None
    end_read()  # no transaction stays open while hashing
    login_name = username if well_formed else ""

    def fail(why: str) -> None:
        count_failure()
        daemon.record_event(EventType.ADMIN_LOGIN_FAILED, {"why": why}, login_name=login_name)
        logger.info("admin login failed (%s)", why)

    if account is None:
        staff.verify_password(_dummy(ph), password, hasher=ph)  # type: ignore[arg-type]
        fail("unknown_account")
        return None
    ok = staff.verify_password(account, password, hasher=ph)
    if not account.active:
        fail("inactive")
        return None
    now = utcnow()
    locked_until = web.web_store.locked_until(username)
    if locked_until is not None and parse_iso_utc(locked_until) > now:
        fail("locked")
        return None
    if not ok:
        cfg = web.config.web
        if web.web_store.record_failure(username, now, failures_before_lock=cfg.login_failures_before_lock,
                                        lock_minutes=cfg.login_lock_minutes):
            daemon.record_event(EventType.ADMIN_ACCOUNT_LOCKED, {"minutes": cfg.login_lock_minutes},
                                login_name=login_name)
            logger.warning("admin account %s locked after repeated failed logins", username)
        fail("wrong_password")
        return None
    web.web_store.clear_failures(username)
    daemon.record_event(EventType.ADMIN_LOGIN, None, login_name=login_name)
    return account


def recheck_password(password: str, *, log_failure: bool = True) -> bool:
    """True when ``password`` is the logged-in staff member's (re-authentication before a sensitive change).

    Throttled like a login: raises :class:`Throttled` when the address is over its limit,
    and a wrong password counts for the address. A wrong password is logged as
    ``admin.password_check_failed`` (``detail.endpoint``) unless ``log_failure`` is False
    (the caller logs its own refusal, e.g. ``admin.unlock_refused``).
    """
    check_throttle()
    web = state()
    account = staff.get_account_or_none(read_db(), g.account.username)
    end_read()
    ok = account is not None and staff.verify_password(account, password, hasher=web.hasher or _default_hasher())
    if not ok:
        count_failure()
        if log_failure:
            daemon.record_event(EventType.ADMIN_PASSWORD_CHECK_FAILED, {"endpoint": request.endpoint})
    return ok
