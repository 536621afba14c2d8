"""Admin accounts (staff logins for the admin web page): argon2id hashes, login checks, roles and activity.

Passwords follow the rules of :mod:`controller.store.password_rules` (checked, then NFKC-normalised and
hashed).

Hashes are argon2id with argon2-cffi's default parameters (RFC 9106 low-memory
profile, N15); every function that hashes takes ``hasher=`` so tests and small
boards can pass cheaper parameters (:func:`make_hasher`). A login with an unknown
username verifies against a dummy hash, so it costs the same work as a wrong
password (T6.3). After ``failures_before_lock`` failures in a row an account is
locked for ``lock_minutes`` (T6.2, N13). Role, password and active changes bump
``session_version`` so every other web session of that account dies (T6.6).

Every change writes its ``admin.*`` event with :func:`controller.store.audit.record` in
the caller's session; the caller commits. Passwords never appear in events, logs
or exceptions.
"""

from __future__ import annotations

import functools
import logging
import re
from datetime import datetime, timedelta

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import select
from sqlalchemy.orm import Session

from controller.core.vocabulary import EventType
from controller.errors import InvalidInput, NotFound
from controller.i18n import T
from controller.store import audit
from controller.store.models import ADMIN_ROLES, AdminAccount
from controller.store.password_rules import PASSWORD_MAX_LENGTH, check_password, normalise_password
from controller.timefmt import iso_utc, parse_iso_utc

logger = logging.getLogger(__name__)

#: Allowed usernames: 2 to 32 of lower-case letters, digits, ``_ . -``.
USERNAME_PATTERN = re.compile(r"[a-z0-9_.-]{2,32}")

#: argon2id parameters used in production: argon2-cffi's default (RFC 9106 low-memory:
#: t=3, m=64 MiB, p=4), docs/security.md "What each secret protects". Boards with <= 1 GB RAM may pass
#: ``profiles.RFC_9106_LOW_MEMORY``'s OWASP floor instead via :func:`make_hasher`.
ARGON2_PARAMETERS = profiles.RFC_9106_LOW_MEMORY

#: Defaults of the login lock (config ``web.login_failures_before_lock`` / ``web.login_lock_minutes``).
FAILURES_BEFORE_LOCK = 10
LOCK_MINUTES = 30


def make_hasher(parameters: profiles.Parameters | None = None) -> PasswordHasher:
    """A ``PasswordHasher`` for ``parameters`` (default :data:`ARGON2_PARAMETERS`).

    Tests pass ``argon2.profiles.CHEAPEST`` to keep hashing fast.
    """
    return PasswordHasher.from_parameters(parameters or ARGON2_PARAMETERS)


@functools.cache
def _default_hasher() -> PasswordHasher:
    return make_hasher()


_dummy_hashes: dict[tuple[object, ...], str] = {}


def _dummy_hash(ph: PasswordHasher) -> str:
    """A hash made with ``ph``'s parameters, verified for unknown usernames to spend the same work."""
    key = (ph.type, ph.time_cost, ph.memory_cost, ph.parallelism, ph.hash_len, ph.salt_len)
    if key not in _dummy_hashes:
        _dummy_hashes[key] = ph.hash("kunci-dummy-password-for-timing")
    return _dummy_hashes[key]


def validate_username(username: str) -> str:
    """Return ``username`` if it matches :data:`USERNAME_PATTERN`, else raise :class:`InvalidInput`."""
    if not isinstance(username, str) or not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInput(
            T("a username must be 2 to 32 characters of lower-case letters, digits, '_', '.' or '-'")
        )
    return username


def _validate_role(role: str) -> str:
    if role not in ADMIN_ROLES:
        raise InvalidInput(T("the role must be one of: {roles}", roles=", ".join(ADMIN_ROLES)))
    return role


def _require_good_password(password: str, username: str) -> str:
    problems = check_password(password, username)
    if problems:
        raise InvalidInput("; ".join(problems))  # already in the reader's language
    return normalise_password(password)


def get_account(session: Session, username: str) -> AdminAccount:
    """The account called ``username``; :class:`NotFound` if there is none."""
    account = session.scalars(select(AdminAccount).where(AdminAccount.username == username)).one_or_none()
    if account is None:
        raise NotFound(T("no such admin account"))
    return account


def hash_new_password(password: str, username: str, *, hasher: PasswordHasher | None = None) -> str:
    """Check ``password`` against the rules for ``username`` and return its argon2id hash.

    Runs in the web or CLI process, outside any transaction: the daemon then stores the hash
    (:func:`store_account`, :func:`store_password`), so the slow hash never holds the door loop
    or a database lock. Raises :class:`InvalidInput` listing every problem.
    """
    validate_username(username)
    return (hasher or _default_hasher()).hash(_require_good_password(password, username))


def _check_hash(password_hash: str) -> str:
    if not isinstance(password_hash, str) or not password_hash.startswith("$argon2id$") or len(password_hash) > 512:
        raise InvalidInput(T("the password must arrive as an argon2id hash"))
    return password_hash


def store_account(session: Session, username: str, password_hash: str, role: str, actor: str) -> AdminAccount:
    """Create an active admin account with an already checked and hashed password.

    Raises :class:`InvalidInput` for a bad username, role or hash, or a duplicate username.
    Writes ``admin.account_added``; the caller commits.
    """
    validate_username(username)
    _validate_role(role)
    _check_hash(password_hash)
    if session.scalars(select(AdminAccount.id).where(AdminAccount.username == username)).first() is not None:
        raise InvalidInput(T("an admin account named {username} already exists", username=username))
    account = AdminAccount(
        username=username,
        password_hash=password_hash,
        role=role,
        active=True,
        failed_logins=0,
        session_version=1,
    )
    session.add(account)
    session.flush()
    audit.record(session, EventType.ADMIN_ACCOUNT_ADDED, actor=actor, detail={"account": username, "role": role})
    logger.info("admin account %s added with role %s", username, role)
    return account


def add_account(
    session: Session,
    username: str,
    password: str,
    role: str,
    actor: str,
    *,
    hasher: PasswordHasher | None = None,
) -> AdminAccount:
    """Create an active admin account with an argon2id hash of ``password``.

    ``role`` is ``admin`` or ``auditor``; ``actor`` is the staff username doing it
    (or ``"cli"``). Raises :class:`InvalidInput` for a bad username, role or
    password (all password problems in one message) or a duplicate username.
    Writes ``admin.account_added``; the caller commits.
    """
    validate_username(username)
    _validate_role(role)
    return store_account(session, username, hash_new_password(password, username, hasher=hasher), role, actor)


def _is_locked(account: AdminAccount, now: datetime) -> bool:
    return account.locked_until is not None and parse_iso_utc(account.locked_until) > now


def authenticate(
    session: Session,
    username: str,
    password: str,
    now: datetime,
    *,
    failures_before_lock: int = FAILURES_BEFORE_LOCK,
    lock_minutes: float = LOCK_MINUTES,
    hasher: PasswordHasher | None = None,
) -> AdminAccount | None:
    """The account if ``username``/``password`` are right and it may log in, else ``None``.

    Unknown, inactive and locked accounts cost the same argon2 work as a wrong
    password and give the same answer. ``now`` is an aware UTC datetime. A wrong
    password increments ``failed_logins``; reaching ``failures_before_lock``
    (default 10) locks the account for ``lock_minutes`` (default 30) and resets the
    counter. A success clears the counter and re-hashes when the parameters changed.
    Writes ``admin.login`` or ``admin.login_failed`` (actor = the username when it is
    a well-formed one); the caller commits.
    """
    ph = hasher or _default_hasher()
    well_formed = isinstance(username, str) and USERNAME_PATTERN.fullmatch(username) is not None
    # An over-long password can never be right; it is replaced (same work, no huge hashing input).
    too_long = len(password) > PASSWORD_MAX_LENGTH
    pw = "" if too_long else normalise_password(password)
    account = get_account_or_none(session, username) if well_formed else None

    def fail(why: str) -> None:
        audit.record(
            session, EventType.ADMIN_LOGIN_FAILED, actor=username if well_formed else None, detail={"why": why}
        )
        logger.info("admin login failed (%s)", why)

    if account is None:
        _verify(ph, _dummy_hash(ph), pw)
        fail("unknown_account")
        return None
    ok = _verify(ph, account.password_hash, pw) and not too_long
    if not account.active:
        fail("inactive")
        return None
    if _is_locked(account, now):
        fail("locked")
        return None
    if not ok:
        account.failed_logins += 1
        if account.failed_logins >= failures_before_lock:
            account.locked_until = iso_utc(now + timedelta(minutes=lock_minutes))
            account.failed_logins = 0
            audit.record(
                session, EventType.ADMIN_ACCOUNT_LOCKED, actor=username, detail={"minutes": lock_minutes}
            )
            logger.warning("admin account %s locked after repeated failed logins", username)
        fail("wrong_password")
        return None
    account.failed_logins = 0
    account.locked_until = None
    if ph.check_needs_rehash(account.password_hash):
        account.password_hash = ph.hash(pw)
    audit.record(session, EventType.ADMIN_LOGIN, actor=username)
    return account


def _verify(ph: PasswordHasher, stored_hash: str, password: str) -> bool:
    try:
        return ph.verify(stored_hash, password)
    except VerifyMismatchError:
        return False
    except (VerificationError, InvalidHashError):
        logger.error("an admin password hash could not be verified (corrupt hash?)")
        return False


def get_account_or_none(session: Session, username: str) -> AdminAccount | None:
    """The account called ``username``, or ``None``."""
    return session.scalars(select(AdminAccount).where(AdminAccount.username == username)).one_or_none()


def verify_password(
    account: AdminAccount, password: str, *, hasher: PasswordHasher | None = None
) -> bool:
    """True if ``password`` is the account's password (for re-authentication before sensitive actions)."""
    if len(password) > PASSWORD_MAX_LENGTH:
        return False
    return _verify(hasher or _default_hasher(), account.password_hash, normalise_password(password))


def store_password(session: Session, username: str, password_hash: str, actor: str, now: datetime) -> AdminAccount:
    """Set an already checked and hashed password, clear the lock, bump ``session_version``.

    Writes ``admin.password_changed``; the caller commits.
    """
    account = get_account(session, username)
    account.password_hash = _check_hash(password_hash)
    account.password_changed_at = iso_utc(now)
    account.failed_logins = 0
    account.locked_until = None
    account.session_version += 1
    audit.record(session, EventType.ADMIN_PASSWORD_CHANGED, actor=actor, detail={"account": username})
    return account


def change_password(
    session: Session,
    username: str,
    new_password: str,
    actor: str,
    now: datetime,
    *,
    hasher: PasswordHasher | None = None,
) -> AdminAccount:
    """Check and hash ``new_password``, then :func:`store_password`. The caller commits."""
    get_account(session, username)
    return store_password(session, username, hash_new_password(new_password, username, hasher=hasher), actor, now)


def set_role(session: Session, username: str, role: str, actor: str) -> AdminAccount:
    """Change the account's role and bump ``session_version``. Writes ``admin.role_changed``."""
    _validate_role(role)
    account = get_account(session, username)
    account.role = role
    account.session_version += 1
    audit.record(session, EventType.ADMIN_ROLE_CHANGED, actor=actor, detail={"account": username, "role": role})
    return account


def set_active(session: Session, username: str, active: bool, actor: str) -> AdminAccount:
    """Enable or disable the account and bump ``session_version``.

    Re-enabling also clears a login lock (an admin unlocking it, N13). Writes
    ``admin.account_enabled`` or ``admin.account_disabled``.
    """
    account = get_account(session, username)
    account.active = bool(active)
    if active:
        account.failed_logins = 0
        account.locked_until = None
    account.session_version += 1
    kind = EventType.ADMIN_ACCOUNT_ENABLED if active else EventType.ADMIN_ACCOUNT_DISABLED
    audit.record(session, kind, actor=actor, detail={"account": username})
    return account


def list_accounts(session: Session) -> list[AdminAccount]:
    """Every admin account, by username."""
    return list(session.scalars(select(AdminAccount).order_by(AdminAccount.username)))
