"""Site page logins: staff from the site database (argon2id), the per-login lock, sessions, roles."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.site_web.conftest import PASSWORD, SiteClient


def test_login_page_and_security_headers(client: SiteClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert "Log in to the site" in page.get_data(as_text=True)
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert page.headers["Cache-Control"] == "no-store"


def test_an_anonymous_visitor_is_sent_to_the_login(client: SiteClient) -> None:
    for path in ("/people/", "/groups/", "/doors/", "/events/"):
        response = client.get(path)
        assert response.status_code == 303 and response.location.endswith("/login"), path


def test_a_staff_login_gets_a_secure_session_cookie_and_lands_on_its_page(client: SiteClient) -> None:
    response = client.login("boss")
    assert response.status_code == 303
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-kunci-site=") and "Secure" in cookie and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert client.get("/").location.endswith("/people/")


def test_wrong_password_unknown_login_and_a_post_without_csrf_are_refused(client: SiteClient) -> None:
    wrong = client.login("boss", "not the password")
    unknown = client.login("nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_data(as_text=True).count("Login failed") == 1
    no_token = client.client.post("/login", data={"username": "boss", "password": PASSWORD},
                                  base_url="https://localhost")
    assert no_token.status_code == 400
    assert client.get("/people/").status_code == 303  # still not logged in


def test_ten_wrong_passwords_lock_the_login_even_for_the_right_one(client: SiteClient) -> None:
    for _ in range(10):
        assert client.login("ra", "wrong password").status_code == 401
    assert client.login("ra").status_code == 401  # locked for web.login_lock_minutes
    assert client.login("boss").status_code == 303  # another login is not affected


def test_a_disabled_login_is_logged_out_on_its_next_request(seeded: Any, login_as: Any) -> None:
    boss = login_as("boss")
    assert boss.get("/people/").status_code == 200
    with seeded.db.engine.begin() as conn:
        conn.execute(text("UPDATE kunci.staff SET active = false WHERE username = 'boss'"))
    response = boss.get("/people/")
    assert response.status_code == 303 and response.location.endswith("/login")
    assert SiteClient(boss.client.application).login("boss").status_code == 401


def test_logout_ends_the_session_on_the_server(login_as: Any) -> None:
    boss = login_as("boss")
    cookie = boss.client.get_cookie("__Host-kunci-site", domain="localhost")
    assert boss.post("/logout", token_from="/people/").status_code == 200
    thief = SiteClient(boss.client.application)
    thief.client.set_cookie("__Host-kunci-site", cookie.value, domain="localhost", secure=True)
    assert thief.get("/people/").status_code == 303


def test_an_auditor_may_read_doors_and_events_but_not_people_or_groups(login_as: Any) -> None:
    aud = login_as("aud")
    assert aud.get("/").location.endswith("/events/")
    assert aud.get("/doors/").status_code == 200
    assert aud.get("/events/").status_code == 200
    assert aud.get("/people/").status_code == 403
    assert aud.get("/groups/").status_code == 403
    assert aud.post("/people/new", {"name": "X", "group": "clerks"}, token_from="/events/").status_code == 403


def test_the_page_speaks_the_language_the_login_chooses(login_as: Any) -> None:
    boss = login_as("boss")
    assert boss.post("/account/language", {"language": "id"}, token_from="/people/").status_code == 303
    page = boss.get("/doors/").get_data(as_text=True)
    assert 'lang="id"' in page and "Pintu dan pengendali" in page
    assert boss.post("/account/language", {"language": "xx"}, token_from="/people/").status_code == 400


def test_a_site_database_outage_is_a_clear_503_and_the_page_recovers(seeded: Any, login_as: Any) -> None:
    boss = login_as("boss")
    seeded.db.server.stop()
    try:
        seeded.db.engine.dispose()
        page = boss.get("/people/")
        assert page.status_code == 503
        assert "site database cannot be reached" in page.get_data(as_text=True)
    finally:
        seeded.db.server.start()
    assert boss.get("/people/").status_code == 200


def test_an_idle_or_too_old_session_ends_with_a_message(app: Any, login_as: Any) -> None:
    import sqlite3

    db = app.extensions["kunci_site"].web_store.path
    for column, message in (("idle_until", "without activity"), ("expires_at", "maximum length")):
        client = login_as("boss")
        with sqlite3.connect(db) as conn:
            conn.execute(f"UPDATE sessions SET {column} = '2000-01-01T00:00:00.000000Z' WHERE revoked = 0")
        response = client.get("/people/")
        assert response.status_code == 303 and response.location.endswith("/login")
        assert message in client.get("/login").get_data(as_text=True)


def test_a_change_of_rooms_applies_on_the_next_request(seeded: Any, login_as: Any) -> None:
    ra = login_as("ra")
    assert ">vault<" not in ra.get("/doors/").get_data(as_text=True)
    with seeded.db.engine.begin() as conn:
        conn.execute(text("UPDATE kunci.staff SET rooms = NULL WHERE username = 'ra'"))
    assert ">vault<" in ra.get("/doors/").get_data(as_text=True)
    with seeded.db.engine.begin() as conn:
        conn.execute(text("UPDATE kunci.staff SET role = 'auditor' WHERE username = 'ra'"))
    assert ra.get("/people/").status_code == 403


def test_thirty_failures_from_one_address_stop_it_for_every_login(app: Any, client: SiteClient) -> None:
    limiter = app.extensions["kunci_site"].login_limiter
    for _ in range(limiter.max_failures):
        limiter.failed("127.0.0.1")
    response = client.login("boss")
    assert response.status_code == 429 and "Too many failed password attempts" in response.get_data(as_text=True)
