"""People pages: list, search, keyset pages, add (PIN once), edit, status, PIN reset, finger enrolment (T6.9-T6.14)."""

from __future__ import annotations

import re
import threading
import time
from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from controller.core.enrolment import EnrolStep
from controller.store import people, schedules
from controller.store.db import session_factory
from controller.store.models import AccessGroup, FingerCredential, User

from web_support import FakeRefusal, events, get, post


def _count_users(engine: Any) -> int:
    with session_factory(engine)() as db:
        return int(db.scalar(select(func.count()).select_from(User)) or 0)


def _user(engine: Any, code: str) -> User:
    with session_factory(engine)() as db:
        user = db.scalars(select(User).where(User.code == code)).one()
        _ = user.group, user.fingers, user.pin
        return user


def _add_people(engine: Any, n: int, name: str = "Person") -> list[str]:
    with session_factory(engine)() as db:
        codes = [
            people.add_user(db, name=f"{name} {i}", agreement_signed_on=date(2026, 1, 1), actor="cli").code for i in range(n)
        ]
        db.commit()
    return codes


FORM = {"name": "Ada Lovelace", "agreement_signed_on": "2026-01-05"}
PIN_ON_PAGE = re.compile(r'<p class="pin" aria-label="PIN digits">(\d+)</p>')


def _shown_pin(page: str) -> str | None:
    found = PIN_ON_PAGE.search(page)
    return found.group(1) if found else None


def test_add_person_shows_the_pin_once(admin: Any, engine: Any, daemon: Any) -> None:
    r = post(admin, "/people/new", FORM)
    assert r.status_code == 303, "post/redirect/get: the POST never renders the PIN itself"
    assert "428613" not in r.get_data(as_text=True)
    shown = get(admin, r.headers["Location"])
    body = shown.get_data(as_text=True)
    assert shown.status_code == 200 and "never be shown again" in body
    assert shown.headers["Cache-Control"] == "no-store"
    pin = _shown_pin(body)
    assert pin and len(pin) == 6
    code = re.search(r"U\d{4}", body).group(0)
    assert daemon.sent("admin", op="user.add", actor="alice")
    user = _user(engine, code)
    assert user.display_name == "Ada Lovelace" and user.status == "active" and user.pin is not None
    added = events(engine, "admin.user_added")
    assert added[-1].user_code == code and added[-1].actor == "alice" and added[-1].seq is not None
    assert "Ada" not in (added[-1].detail or "")
    assert all(pin not in (e.detail or "") for e in events(engine)), "the PIN never reaches the log"
    # The person's page never shows the PIN again.
    assert pin not in get(admin, f"/people/{code}").get_data(as_text=True)


def test_reloading_the_pin_page_shows_already_shown_and_adds_nobody(admin: Any, engine: Any, daemon: Any) -> None:
    r = post(admin, "/people/new", FORM)
    location = r.headers["Location"]
    first = get(admin, location).get_data(as_text=True)
    pin = _shown_pin(first)
    assert pin
    for _ in range(3):
        again = get(admin, location)
        body = again.get_data(as_text=True)
        assert again.status_code == 410 and "already shown" in body
        assert pin not in body and _shown_pin(body) is None
    assert _count_users(engine) == 1
    assert len(events(engine, "admin.user_added")) == 1
    assert daemon.admin_ops().count("user.add") == 1


def test_the_pin_page_of_another_session_shows_nothing(app: Any, admin: Any, engine: Any, daemon: Any) -> None:
    from web_support import login, new_client

    location = post(admin, "/people/new", FORM).headers["Location"]
    other = new_client(app)
    login(other)
    r = get(other, location)
    assert r.status_code == 410 and _shown_pin(r.get_data(as_text=True)) is None
    assert _shown_pin(get(admin, location).get_data(as_text=True)), "still there for the session that added the person"


def test_add_person_with_daemon_down_changes_nothing_and_says_so(admin: Any, engine: Any, daemon: Any) -> None:
    daemon.close()
    r = post(admin, "/people/new", FORM)
    assert r.status_code == 503
    assert "door daemon is not running; no change was made" in r.get_data(as_text=True)
    assert _count_users(engine) == 0


def test_daemon_refusal_is_shown_on_the_form(admin: Any, engine: Any, daemon: Any) -> None:
    def refuse(req: Any, progress: Any) -> Any:
        raise FakeRefusal("the change could not be logged, so it was not made")

    daemon.handlers["admin"] = refuse
    r = post(admin, "/people/new", FORM)
    assert r.status_code == 400
    page = r.get_data(as_text=True)
    assert "The change could not be logged, so it was not made." in page
    assert 'value="Ada Lovelace"' in page, "the form keeps what was typed"


def test_agreement_required_by_site_policy(admin: Any, engine: Any, daemon: Any) -> None:
    r = post(admin, "/people/new", {"name": "No Agreement"})
    assert r.status_code == 400
    assert "confidentiality agreement" in r.get_data(as_text=True)
    assert _count_users(engine) == 0


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("<script>alert(1)</script>", "must not contain"),
        ('"><img src=x onerror=alert(1)>', "must not contain"),
        ("Eve\n2025-01-01 GRANT admin", "control characters"),
        ("Eve\x1b[31mred", "control characters"),
        ("x" * 121, "too long"),
        ("x" * 5000, "too long"),
    ],
)
def test_hostile_names_are_refused_with_a_clear_message_and_nothing_stored(
    admin: Any, engine: Any, daemon: Any, name: str, message: str
) -> None:
    n_events = len(events(engine))
    r = post(admin, "/people/new", {**FORM, "name": name})
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert message in body
    assert "<script>alert" not in body and "<img src=x" not in body
    assert _count_users(engine) == 0
    assert len(events(engine)) == n_events


def test_100k_character_name_is_413_and_nothing_stored(admin: Any, engine: Any) -> None:
    r = post(admin, "/people/new", {**FORM, "name": "A" * 100_000})
    assert r.status_code == 413
    assert "too large" in r.get_data(as_text=True)
    assert _count_users(engine) == 0


@pytest.mark.parametrize("raw", [b"name=Ada%00Lovelace&agreement_signed_on=2026-01-05", b"name=%FF%FE&agreement_signed_on=2026-01-05"])
def test_nul_bytes_and_invalid_utf8_are_refused(app: Any, admin: Any, engine: Any, raw: bytes) -> None:
    from web_support import csrf_token

    token = csrf_token(admin, "/people/new")
    r = admin.post(
        "/people/new",
        data=raw + b"&csrf_token=" + token.encode(),
        content_type="application/x-www-form-urlencoded",
        base_url="https://localhost",
    )
    assert r.status_code == 400
    body = r.get_data(as_text=True)
    assert "NUL" in body or "UTF-8" in body
    assert "Nothing was saved" in body
    assert _count_users(engine) == 0


def test_nul_in_query_string_is_refused(admin: Any) -> None:
    r = get(admin, "/people?q=%00")
    assert r.status_code == 400 and "NUL" in r.get_data(as_text=True)


def test_template_syntax_and_quotes_in_names_render_inert(admin: Any, engine: Any, daemon: Any) -> None:
    for name in ("{{7*7}}", "Robert'); DROP TABLE users;--", 'say "hi" & javascript:alert(1)'):
        assert post(admin, "/people/new", {**FORM, "name": name}).status_code == 303
    page = get(admin, "/people").get_data(as_text=True)
    assert "{{7*7}}" in page and ">49<" not in page
    assert "Robert&#39;); DROP TABLE users;--" in page
    assert "say &#34;hi&#34; &amp; javascript:alert(1)" in page
    assert _count_users(engine) == 3


def test_markup_stored_by_other_means_is_escaped_everywhere(admin: Any, engine: Any) -> None:
    with session_factory(engine)() as db:
        db.add(User(code="U0100", display_name='<script>alert(1)</script>"><img src=x onerror=alert(1)>', status="active"))
        db.commit()
    for path in ("/people", "/people/U0100"):
        body = get(admin, path).get_data(as_text=True)
        assert "<script>alert(1)" not in body and "<img src=x" not in body
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


@pytest.mark.parametrize("q", ["' OR 1=1--", "1;DROP TABLE users", "%", "_", "\\"])
def test_sql_fragments_in_search_are_plain_data(admin: Any, engine: Any, q: str) -> None:
    _add_people(engine, 3)
    r = get(admin, "/people", query_string={"q": q})
    assert r.status_code == 200
    assert "No people match" in r.get_data(as_text=True)
    assert _count_users(engine) == 3


@pytest.mark.parametrize("sort", ["id desc;--", "name", "code; DROP TABLE users"])
def test_sort_keys_are_whitelisted(admin: Any, engine: Any, sort: str) -> None:
    _add_people(engine, 2)
    r = get(admin, "/people", query_string={"sort": sort})
    assert r.status_code == 400
    assert "Sort order must be one of: code" in r.get_data(as_text=True)
    assert _count_users(engine) == 2


def test_search_and_keyset_pages(admin: Any, engine: Any) -> None:
    codes = _add_people(engine, 60)
    _add_people(engine, 2, name="Zebra")
    first = get(admin, "/people").get_data(as_text=True)
    assert codes[0] in first and codes[49] in first and codes[50] not in first
    next_url = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    assert "after=" + codes[49] in next_url
    second = get(admin, next_url).get_data(as_text=True)
    assert codes[50] in second and codes[49] not in second and 'rel="next"' not in second
    found = get(admin, "/people", query_string={"q": "zebra"}).get_data(as_text=True)
    assert found.count("Zebra ") == 2 and codes[0] not in found
    assert codes[3] in get(admin, "/people", query_string={"q": codes[3]}).get_data(as_text=True)
    assert get(admin, "/people", query_string={"after": "U99999"}).status_code == 400


def test_status_filter(admin: Any, engine: Any) -> None:
    codes = _add_people(engine, 2)
    post(admin, f"/people/{codes[0]}/suspend")
    page = get(admin, "/people", query_string={"status": "suspended"}).get_data(as_text=True)
    assert codes[0] in page and codes[1] not in page


def test_edit_group_validity_mode_and_extended_unlock(admin: Any, engine: Any) -> None:
    (code,) = _add_people(engine, 1)
    with session_factory(engine)() as db:
        schedules.add_group(db, "Archivists", actor="cli")
        db.commit()
    r = post(admin, f"/people/{code}/edit", {
        "name": "New Name", "agreement_signed_on": "2026-01-01", "group": "Archivists",
        "valid_from": "2026-02-01", "valid_until": "2026-12-31", "mode_override": "pin_and_finger", "extended_unlock": "on",
    })
    assert r.status_code == 303
    user = _user(engine, code)
    assert (user.display_name, user.group.name, user.valid_from, user.valid_until) == (
        "New Name", "Archivists", date(2026, 2, 1), date(2026, 12, 31))
    assert user.mode_override == "pin_and_finger" and user.extended_unlock
    assert events(engine, "admin.user_updated")[-1].user_code == code


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("valid_from", "2026-13-01", "must be a date"),
        ("group", "No such group", "Group must be one of"),
        ("mode_override", "open_sesame", "Door mode must be one of"),
        ("valid_until", "2020-01-01'--", "must be a date"),
    ],
)
def test_edit_refusals_change_nothing(admin: Any, engine: Any, field: str, value: str, message: str) -> None:
    (code,) = _add_people(engine, 1)
    before = _user(engine, code)
    r = post(admin, f"/people/{code}/edit", {"name": "Changed", "agreement_signed_on": "2026-01-01", field: value})
    assert r.status_code == 400 and message in r.get_data(as_text=True)
    after = _user(engine, code)
    assert after.display_name == before.display_name and after.updated_at == before.updated_at


def test_validity_order_is_checked(admin: Any, engine: Any) -> None:
    (code,) = _add_people(engine, 1)
    r = post(admin, f"/people/{code}/edit", {
        "agreement_signed_on": "2026-01-01", "valid_from": "2026-05-01", "valid_until": "2026-04-01"})
    assert r.status_code == 400


def test_suspend_resume_revoke(admin: Any, engine: Any, daemon: Any) -> None:
    (code,) = _add_people(engine, 1)
    assert post(admin, f"/people/{code}/suspend").status_code == 303
    assert _user(engine, code).status == "suspended"
    post(admin, f"/people/{code}/resume")
    assert _user(engine, code).status == "active"
    r = post(admin, f"/people/{code}/revoke")
    assert _user(engine, code).status == "active"
    assert "Tick the box" in get(admin, r.headers["Location"]).get_data(as_text=True)
    post(admin, f"/people/{code}/revoke", {"confirm": "yes"})
    assert _user(engine, code).status == "revoked"
    types = [e.type for e in events(engine, "admin.user_")]
    assert types[-3:] == ["admin.user_suspended", "admin.user_resumed", "admin.user_revoked"]
    r = post(admin, f"/people/{code}/resume")
    assert "revocation is final" in get(admin, r.headers["Location"]).get_data(as_text=True)
    assert _user(engine, code).status == "revoked"


def test_revoking_someone_with_fingers_asks_the_daemon_to_delete_them(admin: Any, engine: Any, daemon: Any) -> None:
    (code,) = _add_people(engine, 1)
    with session_factory(engine)() as db:
        user = db.scalars(select(User).where(User.code == code)).one()
        db.add(FingerCredential(user_id=user.id, slot=3, state="active"))
        db.commit()
    daemon.handlers["finger.delete"] = lambda req, progress: {"deleted": 1}
    post(admin, f"/people/{code}/revoke", {"confirm": "yes"})
    assert daemon.sent("finger.delete", user=code, actor="alice")


def test_reset_pin(admin: Any, engine: Any, daemon: Any) -> None:
    (code,) = _add_people(engine, 1)
    r = post(admin, f"/people/{code}/reset-pin", {"confirm": "yes"})
    assert r.status_code == 303
    page = get(admin, r.headers["Location"])
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and _shown_pin(body) and "previous PIN no longer works" in body
    assert get(admin, r.headers["Location"]).status_code == 410
    assert [e.actor for e in events(engine, "admin.pin_")] == ["alice"]


def test_reset_pin_daemon_unreachable(admin: Any, engine: Any, daemon: Any) -> None:
    (code,) = _add_people(engine, 1)
    daemon.close()
    r = post(admin, f"/people/{code}/reset-pin", {"confirm": "yes"})
    assert r.status_code == 303
    assert "not running; no change was made" in get(admin, r.headers["Location"]).get_data(as_text=True)


def test_unknown_or_malformed_codes_are_404(admin: Any) -> None:
    assert get(admin, "/people/U9999").status_code == 404
    assert get(admin, "/people/..%2F..%2Fetc%2Fpasswd").status_code == 404
    assert post(admin, "/people/U9999/suspend").status_code == 404
    assert post(admin, "/people/nobody/edit").status_code == 404


def _poll(admin: Any, url: str, until: Any, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        data = get(admin, url).get_json()
        if until(data) or time.monotonic() > deadline:
            return data
        time.sleep(0.02)


def test_finger_enrolment_shows_live_steps(admin: Any, engine: Any, daemon: Any) -> None:
    (code,) = _add_people(engine, 1)
    gates = [threading.Event() for _ in range(4)]

    def enroll(req: Any, progress: Any) -> Any:
        for step, gate in zip(("place_finger", "lift_finger", "place_again", "storing"), gates):
            progress(step)
            assert gate.wait(10)
        return {"slot": 7}

    daemon.handlers["finger.enroll"] = enroll
    page = get(admin, f"/people/{code}/finger").get_data(as_text=True)
    assert "Start enrolment" in page
    r = post(admin, f"/people/{code}/finger/enroll")
    assert r.status_code == 303
    job = re.search(r"job=([\w-]+)", r.headers["Location"]).group(1)
    status_url = f"/people/{code}/finger/status.json?job={job}"
    progress_page = get(admin, r.headers["Location"]).get_data(as_text=True)
    assert "data-status-url" in progress_page and "enrol.js" in progress_page
    listed = re.findall(r'<li data-step="(\w+)">([^<]+)</li>', progress_page)
    assert listed == [(s.value, s.text) for s in EnrolStep]  # the one step list, in order

    seen = []
    for i, step in enumerate(("place_finger", "lift_finger", "place_again", "storing")):
        data = _poll(admin, status_url, lambda d, s=step: d["step"] == s)
        assert data["step"] == step and not data["done"]
        seen.append(data["message"])
        gates[i].set()
    data = _poll(admin, status_url, lambda d: d["done"])
    assert data == {**data, "done": True, "ok": True, "slot": 7, "error": None}
    assert data["steps"] == ["place_finger", "lift_finger", "place_again", "storing"]
    assert seen[0] == "Place the finger on the sensor." and seen[2] == "Place the same finger again."
    assert daemon.sent("finger.enroll", user=code, actor="alice")


def test_finger_enrolment_error_is_reported(admin: Any, engine: Any, daemon: Any) -> None:
    (code,) = _add_people(engine, 1)

    def enroll(req: Any, progress: Any) -> Any:
        progress("place_finger")
        raise FakeRefusal("the two touches did not match; try again with the same finger")

    daemon.handlers["finger.enroll"] = enroll
    r = post(admin, f"/people/{code}/finger/enroll")
    job = re.search(r"job=([\w-]+)", r.headers["Location"]).group(1)
    data = _poll(admin, f"/people/{code}/finger/status.json?job={job}", lambda d: d["done"])
    assert data["done"] and not data["ok"]
    assert "did not match" in data["error"]


def test_finger_enrolment_without_daemon(admin: Any, engine: Any, daemon: Any) -> None:
    (code,) = _add_people(engine, 1)
    daemon.close()
    r = post(admin, f"/people/{code}/finger/enroll")
    job = re.search(r"job=([\w-]+)", r.headers["Location"]).group(1)
    data = _poll(admin, f"/people/{code}/finger/status.json?job={job}", lambda d: d["done"])
    assert not data["ok"] and "not running" in data["error"]


def test_finger_status_of_unknown_job_or_other_person_is_404(admin: Any, engine: Any, daemon: Any) -> None:
    a, b = _add_people(engine, 2)
    daemon.handlers["finger.enroll"] = lambda req, progress: {"slot": 1}
    r = post(admin, f"/people/{a}/finger/enroll")
    job = re.search(r"job=([\w-]+)", r.headers["Location"]).group(1)
    assert get(admin, f"/people/{b}/finger/status.json?job={job}").status_code == 404
    assert get(admin, f"/people/{a}/finger/status.json?job=nope").status_code == 404


def test_delete_finger(admin: Any, engine: Any, daemon: Any) -> None:
    (code,) = _add_people(engine, 1)
    daemon.handlers["finger.delete"] = lambda req, progress: {"deleted": 1}
    r = post(admin, f"/people/{code}/finger/delete", {"confirm": "yes"})
    assert r.status_code == 303
    assert "were deleted" in get(admin, r.headers["Location"]).get_data(as_text=True)
    assert daemon.sent("finger.delete", user=code, actor="alice")


def test_group_choice_lists_existing_groups(admin: Any, engine: Any) -> None:
    with session_factory(engine)() as db:
        db.add(AccessGroup(name="Night shift"))
        db.commit()
    assert "Night shift" in get(admin, "/people/new").get_data(as_text=True)
