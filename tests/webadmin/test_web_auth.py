"""Logins, server-side sessions, logout, password change, role removal, locks and limits (T6.1-T6.6, T6.17)."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from controller.store import staff
from controller.store.db import session_factory
from controller.paths import DataDir
from controller.timefmt import iso_utc, parse_iso_utc, utcnow
from controller.store.web_store import WebSessionRow, WebStore
from webadmin.security import AddressLimiter
from webadmin.views.auth import LOGIN_FAILED

from web_support import ADMIN, AUDITOR, HASHER, PASSWORD, events, get, login, new_client, post

NEW_PASSWORD = "a much longer new passphrase 2026"


def _store(app: Any) -> WebStore:
    return app.extensions["kunci"].web_store


def _sessions(app: Any) -> list[WebSessionRow]:
    return _store(app).sessions()


def _set_sessions(data_dir: Path, column: str, value: str) -> None:
    """Rewrite a column of every session row in web.db (time travel for the limits)."""
    conn = sqlite3.connect(DataDir(data_dir).web_db_file)
    try:
        conn.execute(f"UPDATE sessions SET {column} = ?", (value,))
        conn.commit()
    finally:
        conn.close()


def _cookie(client: Any) -> str | None:
    cookie = client.get_cookie("__Host-kunci", domain="localhost")
    return cookie.value if cookie else None


def _session_token(app: Any, client: Any) -> str:
    data = app.session_interface.get_signing_serializer(app).loads(_cookie(client))
    return data["t"]


def test_no_default_account_admin_admin_fails(client: Any) -> None:
    for user, pw in (("admin", "admin"), ("admin", ""), (ADMIN, "")):
        r = login(client, user, pw)
        assert r.status_code == 401
        assert LOGIN_FAILED in r.get_data(as_text=True)


def test_login_creates_server_side_session_storing_only_the_hash(app: Any, client: Any, engine: Any) -> None:
    r = login(client)
    assert r.status_code == 303 and r.headers["Location"].endswith("/")
    rows = _sessions(app)
    assert len(rows) == 1 and not rows[0].revoked and rows[0].username == ADMIN
    token = _session_token(app, client)
    assert rows[0].token_hash == hashlib.sha256(token.encode()).digest()
    assert token.encode() not in DataDir(app.extensions["kunci"].datadir.root).web_db_file.read_bytes()
    assert get(client, "/").status_code == 200
    assert [e.actor for e in events(engine, "admin.login")] == [ADMIN]


def test_session_cookie_flags(client: Any) -> None:
    r = login(client)
    header = r.headers["Set-Cookie"]
    assert header.startswith("__Host-kunci=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert flag in header
    assert "Domain=" not in header


@pytest.mark.parametrize("username", ["nobody", ADMIN, "x" * 300, "' OR 1=1--"])
def test_same_message_for_unknown_user_and_wrong_password(client: Any, engine: Any, username: str) -> None:
    r = login(client, username, "wrong password but long enough")
    assert r.status_code == 401
    body = r.get_data(as_text=True)
    assert LOGIN_FAILED in body
    assert "unknown" not in body.lower()
    assert events(engine, "admin.login_failed")


def test_account_locks_after_ten_failures_even_for_the_right_password(app: Any, client: Any, engine: Any) -> None:
    for _ in range(10):
        assert login(client, ADMIN, "wrong password but long enough").status_code == 401
    r = login(client, ADMIN, PASSWORD)
    assert r.status_code == 401
    assert LOGIN_FAILED in r.get_data(as_text=True)
    assert _store(app).locked_until(ADMIN) is not None, "the lock is kept in the web's own database"
    locked = events(engine, "admin.account_locked")
    assert locked and locked[-1].actor == ADMIN
    # Another account is unaffected.
    assert login(new_client(client.application), AUDITOR, PASSWORD).status_code == 303


def test_per_address_limit_refuses_further_attempts(app: Any, client: Any) -> None:
    app.extensions["kunci"].login_limiter = AddressLimiter(max_failures=3, window_seconds=600)
    for _ in range(3):
        assert login(client, "nobody", "wrong password but long enough").status_code == 401
    r = login(client, ADMIN, PASSWORD)
    assert r.status_code == 429
    assert "Too many failed password attempts from this address" in r.get_data(as_text=True)


def test_a_server_error_on_login_counts_as_a_failure(app: Any, client: Any, monkeypatch: Any) -> None:
    """A login that fails with a 500 (overload, a bug) must not be a free guess."""
    from webadmin import login as passwords

    web = app.extensions["kunci"]
    web.login_limiter = AddressLimiter(max_failures=2, window_seconds=600)

    def broken(*_a: Any, **_k: Any) -> Any:
        raise RuntimeError("simulated failure while checking a password")

    monkeypatch.setattr(passwords.staff, "verify_password", broken)
    for _ in range(2):
        assert login(client, ADMIN, "wrong password but long enough").status_code == 500
    monkeypatch.undo()
    r = login(client, ADMIN, PASSWORD)
    assert r.status_code == 429, "two 500s used up the address's allowance"


def test_address_limiter_window_slides() -> None:
    now = [0.0]
    limiter = AddressLimiter(max_failures=2, window_seconds=60, clock=lambda: now[0])
    limiter.failed("10.0.0.1")
    limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 60
    assert limiter.retry_after("10.0.0.2") == 0
    now[0] = 61.0
    assert limiter.retry_after("10.0.0.1") == 0


def test_cookie_before_login_differs_and_is_not_promoted(app: Any, client: Any) -> None:
    get(client, "/login")
    before = _cookie(client)
    assert before
    login(client)
    after = _cookie(client)
    assert after and after != before
    attacker = new_client(app)
    attacker.set_cookie("__Host-kunci", before, domain="localhost")
    r = get(attacker, "/")
    assert r.status_code == 303 and "/login" in r.headers["Location"]


def test_logout_then_replaying_the_old_cookie_is_refused(app: Any, admin: Any, engine: Any) -> None:
    old = _cookie(admin)
    r = post(admin, "/logout")
    assert r.status_code == 200 and "You are logged out" in r.get_data(as_text=True)
    assert all(s.revoked for s in _sessions(app) if s.username == ADMIN)
    replay = new_client(app)
    replay.set_cookie("__Host-kunci", old, domain="localhost")
    r = get(replay, "/")
    assert r.status_code == 303 and "/login" in r.headers["Location"]
    assert get(replay, "/status.json").status_code == 401
    assert events(engine, "admin.logout")[-1].actor == ADMIN


def test_password_change_kills_other_sessions_but_not_this_one(app: Any, engine: Any, daemon: Any) -> None:
    first, second = new_client(app), new_client(app)
    login(first)
    login(second)
    r = post(first, "/account/password", {
        "current_password": PASSWORD, "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD,
    })
    assert r.status_code == 200 and "Password changed" in r.get_data(as_text=True)
    assert get(first, "/").status_code == 200
    r = get(second, "/")
    assert r.status_code == 303 and "/login" in r.headers["Location"]
    assert login(new_client(app), ADMIN, PASSWORD).status_code == 401
    assert login(new_client(app), ADMIN, NEW_PASSWORD).status_code == 303
    assert events(engine, "admin.password_changed")


@pytest.mark.parametrize(
    ("current", "new", "confirm", "message"),
    [
        ("wrong current password", NEW_PASSWORD, NEW_PASSWORD, "The current password is wrong."),
        (PASSWORD, "short", "short", "at least 12 characters"),
        (PASSWORD, "password1234", "password1234", "common"),
        (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "differ"),
    ],
)
def test_password_change_refusals_change_nothing(admin: Any, engine: Any, current: str, new: str, confirm: str, message: str) -> None:
    r = post(admin, "/account/password", {"current_password": current, "new_password": new, "confirm_password": confirm})
    assert r.status_code == 400
    assert message in r.get_data(as_text=True)
    assert not events(engine, "admin.password_changed")


def test_role_removal_takes_effect_at_the_next_request(app: Any, admin: Any, engine: Any) -> None:
    with session_factory(engine)() as db:
        staff.add_account(db, "carol", PASSWORD, "admin", "cli", hasher=HASHER)
        db.commit()
    carol = new_client(app)
    login(carol, "carol", PASSWORD)
    assert get(carol, "/people").status_code == 200
    assert post(admin, "/staff/carol/role", {"role": "auditor", "current_password": PASSWORD}).status_code == 303
    r = get(carol, "/people")
    assert r.status_code == 303 and "/login" in r.headers["Location"]
    login(carol, "carol", PASSWORD)
    assert get(carol, "/people").status_code == 403
    assert get(carol, "/log").status_code == 200


def test_disabled_account_session_ends(app: Any, admin: Any, auditor: Any) -> None:
    assert get(auditor, "/log").status_code == 200
    assert post(admin, f"/staff/{AUDITOR}/disable").status_code == 303
    assert get(auditor, "/log").status_code == 303


@pytest.mark.parametrize("column", ["idle_until", "expires_at"])
def test_idle_and_absolute_session_limits(app: Any, admin: Any, data_dir: Path, column: str) -> None:
    assert get(admin, "/").status_code == 200
    token_hash = _sessions(app)[0].token_hash
    _set_sessions(data_dir, column, iso_utc(utcnow() - timedelta(seconds=1)))
    from controller.store.web_store import session_is_live

    assert not session_is_live(DataDir(data_dir), ADMIN, token_hash, utcnow()), "the daemon would refuse it too"
    r = get(admin, "/")
    assert r.status_code == 303 and "/login" in r.headers["Location"]
    page = get(admin, "/login").get_data(as_text=True)
    assert "Please log in again" in page
    assert all(s.revoked for s in _sessions(app))


def test_sessions_get_their_limits_from_the_configuration(app: Any, admin: Any) -> None:
    (row,) = _sessions(app)
    created = row.created_at
    assert row.idle_until == iso_utc(parse_iso_utc(created) + timedelta(minutes=30))
    assert row.expires_at > row.idle_until


def test_activity_within_idle_limit_keeps_session(app: Any, admin: Any, data_dir: Path) -> None:
    _set_sessions(data_dir, "last_seen_at", iso_utc(utcnow() - timedelta(minutes=29)))
    _set_sessions(data_dir, "idle_until", iso_utc(utcnow() + timedelta(minutes=1)))
    assert get(admin, "/").status_code == 200
    row = _sessions(app)[-1]
    assert row.last_seen_at > iso_utc(utcnow() - timedelta(minutes=1))
    assert row.idle_until > iso_utc(utcnow() + timedelta(minutes=29))


def test_logged_in_user_visiting_login_goes_to_dashboard(admin: Any) -> None:
    r = get(admin, "/login")
    assert r.status_code == 303


def test_anonymous_pages_redirect_to_login(client: Any) -> None:
    r = get(client, "/people")
    assert r.status_code == 303 and r.headers["Location"].endswith("/login")
    assert get(client, "/status.json").status_code == 401


def test_login_event_never_contains_the_password(app: Any, client: Any, engine: Any) -> None:
    login(client, ADMIN, "wrong password but long enough")
    assert _store(app).failures(ADMIN) == 1
    login(client)
    assert [e.type for e in events(engine, "admin.login")] == ["admin.login_failed", "admin.login"]
    for e in events(engine):
        assert PASSWORD not in (e.detail or "") and "wrong password" not in (e.detail or "")
    assert _store(app).failures(ADMIN) == 0, "a good login clears the count"


def test_a_login_flood_never_writes_the_door_database(app: Any, client: Any, daemon: Any, engine: Any) -> None:
    """Failed logins are counted in web.db; the door database only gets the daemon's sealed events."""
    for _ in range(3):
        login(client, "nobody", "wrong password but long enough")
    rows = events(engine, "admin.login_failed")
    assert len(rows) == 3 and all(r.seq is not None for r in rows), "every event sealed by the daemon"
    assert {r.get("op") for r in daemon.requests if r["cmd"] == "admin"} == {"event.record"}
