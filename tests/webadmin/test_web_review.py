"""The Access review page: admins and auditors see the lists; only admins sign off (a sealed event
naming them, made by the daemon's real operation) or apply suspensions; CSRF and post/redirect/get."""

from __future__ import annotations

import json
from typing import Any

from web_support import ADMIN, events, get, post


def test_auditor_sees_the_review_but_cannot_sign_off_or_suspend(auditor: Any, engine: Any) -> None:
    page = get(auditor, "/review")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Access review" in html and "No review has been signed off yet." in html
    assert 'action="/review/sign-off"' not in html
    assert post(auditor, "/review/sign-off", {"note": "looks fine"}).status_code == 403
    assert post(auditor, "/review/suspend-dormant").status_code == 403
    assert events(engine, "admin.review_signed_off") == []
    assert events(engine, "admin.user_suspended") == []


def test_admin_signs_off_with_a_note_post_redirect_get(admin: Any, engine: Any) -> None:
    html = get(admin, "/review").get_data(as_text=True)
    assert 'href="/review"' in html and 'action="/review/sign-off"' in html  # in the navigation, with the form
    r = post(admin, "/review/sign-off", {"note": "Quarterly review: no action needed"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/review")
    signed, = events(engine, "admin.review_signed_off")
    assert signed.actor == ADMIN and signed.seq is not None
    detail = json.loads(signed.detail)
    assert detail["note"] == "Quarterly review: no action needed"
    assert {k: detail[k] for k in ("dormant_credentials", "old_agreements", "expired_active")} == {
        "dormant_credentials": 0, "old_agreements": 0, "expired_active": 0}
    page = get(admin, "/review").get_data(as_text=True)
    assert "Quarterly review: no action needed" in page and ADMIN in page


def test_sign_off_needs_a_note_and_the_csrf_token(admin: Any, engine: Any) -> None:
    assert post(admin, "/review/sign-off", {"note": "  "}).status_code == 400
    assert post(admin, "/review/sign-off", {"note": "x"}, token="").status_code in (400, 403)
    assert events(engine, "admin.review_signed_off") == []


def test_suspensions_are_refused_while_automatic_suspension_is_off(admin: Any, engine: Any) -> None:
    assert post(admin, "/review/suspend-dormant").status_code == 400
    assert events(engine, "admin.user_suspended") == []
