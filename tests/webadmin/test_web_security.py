"""Headers on every response, roles over the whole URL map, CSRF on every form, request limits (T6.7, T6.8, T6.14, T6.15)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from controller.config import Config
from controller.store.db import make_engine, session_factory
from controller.store.models import AdminAccount, Event, User
from controller.paths import DataDir
from controller.store.web_store import WebStore
from webadmin import create_app
from webadmin.security import ADMIN_ONLY, PUBLIC, SECURITY_HEADERS, STAFF

from web_support import csrf_token, events, get, new_client, post

ARG_VALUES = {"code": "U0001", "username": "bob", "alarm_id": "1", "filename": "kunci.css", "key": "k1"}


def _rules() -> list[tuple[str, str, str, frozenset[str]]]:
    """``(endpoint, method, url, roles)`` for every route of the app (built from its URL map)."""
    with tempfile.TemporaryDirectory() as d:
        app = create_app(
            Path(d), test_config={"KUNCI_ENGINE": make_engine("sqlite://"), "KUNCI_CONFIG": Config(simulated=True)}
        )
        out = []
        with app.test_request_context():
            from flask import url_for

            from webadmin.security import roles_for

            for rule in app.url_map.iter_rules():
                values = {}
                for arg in rule.arguments:
                    converter = rule._converters[arg]
                    choices = getattr(converter, "items", None)
                    values[arg] = sorted(choices)[0] if choices else ARG_VALUES[arg]
                url = url_for(rule.endpoint, **values)
                for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                    out.append((rule.endpoint, method, url, roles_for(rule.endpoint)))
    return out


RULES = _rules()
ADMIN_RULES = [r for r in RULES if r[3] == ADMIN_ONLY]
POST_RULES = [r for r in RULES if r[1] == "POST"]


def _id(rule: tuple[str, str, str, frozenset[str]]) -> str:
    return f"{rule[1]} {rule[2]}"


def test_the_url_map_is_covered() -> None:
    endpoints = {r[0] for r in RULES}
    assert {"auth.login", "people.add", "log.export", "panel.act", "staff.role", "dashboard.remote_unlock"} <= endpoints
    assert all(r[3] in (PUBLIC, STAFF, ADMIN_ONLY) for r in RULES)
    # Everything but the login page and static files needs a login; default is admin only.
    assert {r[0] for r in RULES if r[3] == PUBLIC} == {"auth.login", "static"}


def _request(client: Any, method: str, url: str, token: str | None) -> Any:
    if method == "GET":
        return get(client, url)
    return post(client, url, {"keys": "1", "role": "admin", "name": "x", "day": "2026-01-01"}, token=token)


def _changes(daemon: Any) -> list[dict[str, Any]]:
    """Requests to the daemon other than live status and the web's own events: changes and actions."""
    return [r for r in daemon.requests
            if r["cmd"] != "status" and not (r["cmd"] == "admin" and r.get("op") == "event.record")]


def _state(engine: Any) -> tuple[int, ...]:
    with session_factory(engine)() as db:
        return (
            db.scalar(select(func.count()).select_from(User)),
            db.scalar(select(func.count()).select_from(Event).where(Event.type != "admin.forbidden")),
            db.scalar(select(func.sum(AdminAccount.session_version))),
        )


@pytest.mark.parametrize("rule", ADMIN_RULES, ids=_id)
def test_auditor_is_refused_on_every_admin_route_and_it_is_logged(auditor: Any, engine: Any, daemon: Any, rule: Any) -> None:
    endpoint, method, url, _ = rule
    token = csrf_token(auditor, "/log")
    before = _state(engine)
    r = _request(auditor, method, url, token)
    assert r.status_code == 403, (endpoint, r.status_code)
    assert "not allowed" in r.get_data(as_text=True)
    forbidden = events(engine, "admin.forbidden")
    assert forbidden and forbidden[-1].actor == "bob" and endpoint in (forbidden[-1].detail or "")
    assert _state(engine) == before
    assert not _changes(daemon)


@pytest.mark.parametrize("rule", [r for r in RULES if r[3] != PUBLIC], ids=_id)
def test_anonymous_requests_are_sent_to_login(client: Any, engine: Any, rule: Any) -> None:
    _, method, url, _ = rule
    token = csrf_token(client, "/login")
    before = _state(engine)
    r = _request(client, method, url, token)
    assert r.status_code in (303, 401)
    assert _state(engine) == before


@pytest.mark.parametrize("rule", POST_RULES, ids=_id)
@pytest.mark.parametrize("token", [None, "", "forged-token", "other-session"])
def test_post_without_valid_csrf_token_is_refused_and_changes_nothing(
    app: Any, admin: Any, engine: Any, daemon: Any, rule: Any, token: str | None
) -> None:
    _, _, url, _ = rule
    if token == "other-session":
        token = csrf_token(new_client(app), "/login")
    before = _state(engine)
    n_events = len(events(engine))
    r = post(admin, url, {"keys": "1", "role": "auditor", "name": "x", "username": "alice", "password": "x"}, token=token or "")
    assert r.status_code == 400
    assert "did not come from this site" in r.get_data(as_text=True)
    assert _state(engine) == before
    assert len(events(engine)) == n_events
    assert not _changes(daemon)


@pytest.mark.parametrize("rule", [r for r in RULES if r[1] == "GET"], ids=_id)
def test_security_headers_on_every_page(admin: Any, daemon: Any, rule: Any) -> None:
    _, _, url, _ = rule
    r = get(admin, url)
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, (url, name)
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    if not url.startswith("/static/"):
        assert r.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/login", "/nowhere", "/people", "/static/missing.css"])
def test_security_headers_on_anonymous_and_error_responses(client: Any, path: str) -> None:
    r = get(client, path)
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value


_BOUNDARY = "kunci-test-boundary"


def _multipart(parts: list[tuple[bytes, bytes]]) -> bytes:
    """A multipart/form-data body from raw ``(name, value)`` byte pairs (nothing re-encoded)."""
    body = b""
    for name, value in parts:
        body += f"--{_BOUNDARY}\r\n".encode() + b'Content-Disposition: form-data; name="' + name + b'"\r\n\r\n'
        body += value + b"\r\n"
    return body + f"--{_BOUNDARY}--\r\n".encode()


@pytest.mark.parametrize(
    "bad_part",
    [(b"name", b"Ada \xff\xfe Lovelace"), (b"name", b"\xc3"), (b"na\xffme", b"Ada Lovelace")],
    ids=["bad-bytes-in-value", "truncated-sequence-in-value", "bad-bytes-in-field-name"],
)
def test_multipart_form_with_invalid_utf8_is_a_clear_400_and_changes_nothing(
    admin: Any, engine: Any, daemon: Any, bad_part: tuple[bytes, bytes]
) -> None:
    token = csrf_token(admin, "/")
    before = _state(engine)
    body = _multipart([(b"csrf_token", token.encode()), (b"agreement_signed_on", b"2026-01-05"), bad_part])
    r = admin.post("/people/new", data=body, content_type=f"multipart/form-data; boundary={_BOUNDARY}",
                   base_url="https://localhost")
    assert r.status_code == 400
    assert "not valid UTF-8. Nothing was saved." in r.get_data(as_text=True)
    assert _state(engine) == before
    assert not _changes(daemon)


def test_multipart_form_with_valid_utf8_is_accepted(admin: Any, engine: Any, daemon: Any) -> None:
    token = csrf_token(admin, "/")
    body = _multipart([(b"csrf_token", token.encode()), (b"agreement_signed_on", b"2026-01-05"),
                       (b"name", "Zoë Ångström".encode())])
    r = admin.post("/people/new", data=body, content_type=f"multipart/form-data; boundary={_BOUNDARY}",
                   base_url="https://localhost")
    assert r.status_code == 303, r.get_data(as_text=True)[-500:]
    with session_factory(engine)() as db:
        assert db.scalar(select(User.display_name).where(User.display_name == "Zoë Ångström")) is not None


def test_headers_on_413_and_csrf_error(admin: Any) -> None:
    big = post(admin, "/people/new", {"name": "x" * 100_000})
    assert big.status_code == 413
    bad = post(admin, "/people/new", {"name": "x"}, token="nope")
    assert bad.status_code == 400
    for r in (big, bad):
        assert r.headers["X-Frame-Options"] == "DENY"
        assert r.headers["Strict-Transport-Security"].startswith("max-age=")


def test_every_set_cookie_has_the_flags(app: Any, daemon: Any) -> None:
    c = new_client(app)
    responses = [get(c, "/login")]
    token = csrf_token(c, "/login")
    responses.append(post(c, "/login", {"username": "alice", "password": "wrong password 123456"}, token=token))
    responses.append(post(c, "/login", {"username": "alice", "password": "correct horse battery staple 42"}, token=token))
    responses.append(post(c, "/logout"))
    cookies = [h for r in responses for h in r.headers.getlist("Set-Cookie")]
    assert cookies
    for header in cookies:
        assert header.startswith("__Host-kunci=")
        assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header and "Path=/" in header


def test_no_inline_script_or_style_in_pages(admin: Any, daemon: Any) -> None:
    for path in ("/", "/people", "/people/new", "/log", "/panel", "/staff", "/schedules"):
        html = get(admin, path).get_data(as_text=True)
        # Data blocks (type="application/json": the scripts' words in the page's language) are never executed.
        code = html.replace('<script src="/static/', "").replace('<script type="application/json"', "")
        assert "<script>" not in html and "<script " not in code
        assert " style=" not in html and "<style" not in html
        assert "onclick" not in html.lower() and "javascript:" not in html


def test_static_assets_are_local(admin: Any) -> None:
    html = get(admin, "/").get_data(as_text=True).replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    for name in ("kunci.css", "refresh.js", "enrol.js", "panel.js"):
        assert get(admin, f"/static/{name}").status_code == 200


def test_session_rows_only_grow_by_login(admin: Any, data_dir: Path) -> None:
    for _ in range(3):
        get(admin, "/")
    assert len(WebStore(DataDir(data_dir).web_db_file).sessions()) == 1
