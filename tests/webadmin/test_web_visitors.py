"""The Visitors page (issue 13 item 5): admins add a visitor (WTForms, CSRF, hours or days, escort group from
the groups), the PIN is shown once (post/redirect/get; a reload is 410), staff (auditors too) see the list,
and the people page lists staff only."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from web_support import events, get, post

from controller.store import schedules
from controller.store.db import session_factory
from controller.store.models import User

PIN_ON_PAGE = re.compile(r'<p class="pin"[^>]*>(\d+)</p>')


def _group(engine: Any, name: str) -> None:
    with session_factory(engine)() as db:
        schedules.add_group(db, name, actor="cli")
        db.commit()


def _visitors(engine: Any) -> list[User]:
    with session_factory(engine)() as db:
        return list(db.scalars(select(User).where(User.kind == "visitor")))


def test_an_admin_adds_a_visitor_and_sees_the_pin_once(admin: Any, engine: Any, daemon: Any) -> None:
    _group(engine, "hosts")
    form = {"name": "Vic Visitor", "length": "3", "unit": "hours", "escort_group": "hosts", "group": ""}
    r = post(admin, "/visitors/new", form)
    assert r.status_code == 303, r.get_data(as_text=True)
    shown = get(admin, r.headers["Location"])
    body = shown.get_data(as_text=True)
    pin = PIN_ON_PAGE.search(body)
    assert shown.status_code == 200 and pin and "never be shown again" in body and "hosts" in body
    visitor, = _visitors(engine)
    assert visitor.escort_group == "hosts" and visitor.valid_until_at and visitor.display_name == "Vic Visitor"
    assert daemon.sent("admin", op="visitor.add", actor="alice")
    added, = events(engine, "admin.visitor_added")
    assert added.user_code == visitor.code and added.actor == "alice" and added.seq is not None
    again = get(admin, r.headers["Location"])
    assert again.status_code == 410 and pin.group(1) not in again.get_data(as_text=True)
    assert len(_visitors(engine)) == 1

    listing = get(admin, "/visitors").get_data(as_text=True)
    assert visitor.code in listing and "hosts" in listing and pin.group(1) not in listing
    assert visitor.code not in get(admin, "/people").get_data(as_text=True)  # the people page: staff only


def test_bad_visitor_forms_are_refused_and_nothing_is_added(admin: Any, engine: Any, daemon: Any) -> None:
    for form in ({"length": "", "unit": "hours"}, {"length": "31", "unit": "days"},
                 {"length": "2", "unit": "weeks"}, {"length": "2", "unit": "days", "escort_group": "nobody"}):
        r = post(admin, "/visitors/new", form)
        assert r.status_code == 400, form
    assert _visitors(engine) == []
    assert events(engine, "admin.visitor_added") == []


def test_without_a_csrf_token_nothing_is_added(admin: Any, engine: Any, daemon: Any) -> None:
    r = admin.post("/visitors/new", data={"length": "2", "unit": "hours"})
    assert r.status_code in (400, 403)
    assert _visitors(engine) == []


def test_an_auditor_sees_the_visitors_but_cannot_add_one(auditor: Any, engine: Any, daemon: Any) -> None:
    page = get(auditor, "/visitors")
    assert page.status_code == 200 and "Current visitors" in page.get_data(as_text=True)
    assert "Add visitor" not in page.get_data(as_text=True)
    assert post(auditor, "/visitors/new", {"length": "2", "unit": "hours"}).status_code == 403
    assert _visitors(engine) == []
