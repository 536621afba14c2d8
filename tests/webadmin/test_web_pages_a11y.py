"""Every page is labelled and keyboard-usable HTML; auditors never see names; logs never carry PINs or names."""

from __future__ import annotations

import logging
import re
from datetime import date
from html.parser import HTMLParser
from typing import Any

import pytest

from controller.store import audit, people
from controller.store.db import session_factory

from web_support import get, post

ADMIN_PAGES = ["/", "/people", "/people/new", "/people/U0001", "/people/U0001/finger", "/groups", "/schedules",
               "/holidays", "/log", "/audit", "/staff", "/settings", "/panel", "/account/password"]


class _Form(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labels: set[str] = set()
        self.ids: list[str] = []
        self.buttons: list[str] = []
        self.lang: str | None = None
        self._in_button = False
        self._button_text = ""
        self._button_label: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"])
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "label" and a.get("for"):
            self.labels.add(a["for"])
        if tag in ("input", "select", "textarea") and a.get("type") not in ("hidden", "submit"):
            self.controls.append(a)
        if tag == "button":
            self._in_button, self._button_text, self._button_label = True, "", a.get("aria-label")

    def handle_data(self, data: str) -> None:
        if self._in_button:
            self._button_text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "button":
            self._in_button = False
            self.buttons.append((self._button_label or self._button_text).strip())


@pytest.fixture
def person(engine: Any) -> str:
    with session_factory(engine)() as db:
        code = people.add_user(db, name="Secret Name", agreement_signed_on=date(2026, 1, 1), actor="cli").code
        audit.record(db, "access.granted", method="pin", user=code, door="main")
        db.commit()
    return code


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_every_control_has_a_label_and_every_button_a_name(admin: Any, daemon: Any, person: str, path: str) -> None:
    r = get(admin, path)
    assert r.status_code == 200
    parser = _Form()
    parser.feed(r.get_data(as_text=True))
    assert parser.lang == "en"
    for control in parser.controls:
        assert control.get("id") in parser.labels, (path, control)
    assert all(parser.buttons), path
    duplicates = {i for i in parser.ids if parser.ids.count(i) > 1}
    assert not duplicates, (path, duplicates)
    html = r.get_data(as_text=True)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert 'class="skip" href="#main"' in html and "Kunci" in html and "Records room 2" in html


def test_login_page_is_labelled(client: Any) -> None:
    parser = _Form()
    parser.feed(get(client, "/login").get_data(as_text=True))
    assert {c.get("id") for c in parser.controls} <= parser.labels
    assert len(parser.controls) == 2


def test_auditor_sees_codes_never_names(auditor: Any, daemon: Any, person: str) -> None:
    for path in ("/", "/dashboard/live", "/log", f"/log?user={person}", "/audit", "/log/export.csv", "/log/export.json"):
        body = get(auditor, path).get_data(as_text=True)
        assert "Secret Name" not in body, path
    assert person in get(auditor, "/log").get_data(as_text=True)


def test_no_pin_or_name_in_the_server_log(admin: Any, daemon: Any, caplog: Any) -> None:
    pin_re = re.compile(r'aria-label="PIN digits">(\d+)<')
    with caplog.at_level(logging.DEBUG):
        r = post(admin, "/people/new", {"name": "Hidden Person", "agreement_signed_on": "2026-01-05"})
        assert r.status_code == 303, r.get_data(as_text=True)[-600:]
        page = get(admin, r.headers["Location"]).get_data(as_text=True)
        pin = pin_re.search(page).group(1)
        code = re.search(r"U\d{4}", page).group(0)
        r = post(admin, f"/people/{code}/reset-pin", {"confirm": "yes"})
        assert r.status_code == 303, r.get_data(as_text=True)[-600:]
        new_pin = pin_re.search(get(admin, r.headers["Location"]).get_data(as_text=True)).group(1)
    for secret in (pin, new_pin, "Hidden Person"):
        assert secret not in caplog.text
