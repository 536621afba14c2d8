"""Several doors in the admin web (issue 16): one dashboard card per door from the daemon's status, door forms
that name their door, door checkboxes on the group page, the door filter and column of the log, people
managed by the site."""

from __future__ import annotations

import re
import sqlite3
from typing import Any

import pytest

from controller.config import SiteConfig, parse_config
from controller.store import audit
from controller.store.db import session_factory
from controller.store.models import Door

from web_support import PASSWORD, STATUS, events, get, post

VAULT = {"name": "vault", "gpio": {"relay_pin": 4}}


@pytest.fixture
def config() -> Any:
    """Two doors, main and vault (simulated)."""
    return parse_config({"simulated": True, "site": {"name": "Records room 2"}, "doors": [VAULT]})


@pytest.fixture
def engine(engine: Any) -> Any:
    with session_factory(engine)() as db:  # the daemon adds a row for each door after the first at its start
        db.add(Door(name="vault"))
        db.commit()
    return engine


def _door(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "state": "locked", "relay": False, "contact": "closed", "door_open": False,
            "mode": "pin_or_finger", "lockdown": False, "sensor": {"state": "ok", "capacity": 200, "templates": 3},
            "keypad": "matrix", "entry_blocked": None, **kw}


TWO = {**STATUS, "doors": [_door("main"), _door("vault", state="unlocked", relay=True, mode="pin",
                                                 lockdown=True, sensor={"state": "absent"}, keypad="none")]}


def _cards(page: str) -> dict[str, str]:
    found = re.findall(r'<section class="card door-card"[^>]*>\s*<h2[^>]*>Door (\w+)</h2>(.*?)</section>', page, re.S)
    return {name: body for name, body in found}


def test_the_dashboard_shows_one_card_per_door(admin: Any, daemon: Any) -> None:
    daemon.handlers["status"] = lambda req, progress: TWO
    page = get(admin, "/").get_data(as_text=True)
    cards = _cards(page)
    assert list(cards) == ["main", "vault"]
    assert ">Locked<" in cards["main"] and "off (locked)" in cards["main"] and "3 of 200 templates" in cards["main"]
    assert "energised (unlocked)" in cards["vault"] and "PIN only" in cards["vault"]
    assert "ON: every credential is refused" in cards["vault"] and "ON:" not in cards["main"]
    assert "The controller" in page and "Keypad lockout" in page  # the controller's own facts, once
    live = get(admin, "/dashboard/live").get_data(as_text=True)
    assert list(_cards(live)) == ["main", "vault"]


def test_without_a_doors_list_the_dashboard_falls_back_to_the_top_level_fields(admin: Any, daemon: Any) -> None:
    page = get(admin, "/").get_data(as_text=True)  # STATUS has no "doors" (an older daemon)
    assert _cards(page) == {} and "Door main" in page and "3 of 200 templates" in page
    daemon.handlers["status"] = lambda req, progress: {**STATUS, "doors": [_door("main")]}
    page = get(admin, "/").get_data(as_text=True)
    assert _cards(page) == {} and "Door main" in page


def test_door_forms_name_their_door(admin: Any, daemon: Any, engine: Any) -> None:
    page = get(admin, "/").get_data(as_text=True)
    assert page.count('<input type="hidden" name="door" value="vault">') == 2  # mode and lockdown
    assert 'id="f-door-mode-2"' in page and 'id="f-unlock-door"' in page
    r = post(admin, "/door/mode", {"mode": "pin", "confirm": "yes", "door": "vault"})
    assert r.status_code == 303
    with session_factory(engine)() as db:
        modes = {d.name: d.mode for d in db.query(Door)}
    assert modes == {"main": "pin_or_finger", "vault": "pin"}
    (changed,) = events(engine, "admin.door_mode")
    assert changed.door == "vault"
    r = post(admin, "/door/lockdown/start", {"reason": "drill", "confirm": "yes", "door": "vault"})
    assert r.status_code == 303
    with session_factory(engine)() as db:
        lockdowns = {d.name: d.lockdown for d in db.query(Door)}
    assert lockdowns == {"main": False, "vault": True}


def test_a_door_form_naming_another_door_changes_nothing(admin: Any, daemon: Any, engine: Any) -> None:
    r = post(admin, "/door/mode", {"mode": "pin", "confirm": "yes", "door": "side"})
    assert r.status_code == 400 and "There is no door side here (doors: main, vault)." in r.get_data(as_text=True)
    with session_factory(engine)() as db:
        assert {d.mode for d in db.query(Door)} == {"pin_or_finger"}


def test_the_remote_unlock_names_the_door(admin: Any, daemon: Any) -> None:
    daemon.handlers["unlock"] = lambda req, progress: {}
    r = post(admin, "/door/unlock", {"password": PASSWORD, "door": "vault"})
    assert r.status_code == 303
    assert daemon.sent("unlock", door="vault")
    post(admin, "/door/unlock", {"password": PASSWORD, "door": "side"})
    assert [r.get("door") for r in daemon.requests if r["cmd"] == "unlock"] == ["vault"]


def test_the_group_page_has_door_checkboxes(admin: Any, daemon: Any, engine: Any) -> None:
    assert post(admin, "/groups/new", {"name": "Crew"}).status_code == 303
    page = get(admin, "/groups").get_data(as_text=True)
    assert re.search(r'name="door" value="main">', page) and re.search(r'name="door" value="vault">', page)
    assert "(every door)" in page
    r = post(admin, "/groups/doors", {"name": "Crew", "door": ["vault"]})
    assert r.status_code == 303
    conn = sqlite3.connect(engine.url.database)
    assert conn.execute("SELECT door FROM group_doors").fetchall() == [("vault",)]
    page = get(admin, "/groups").get_data(as_text=True)
    assert 'value="vault" checked' in page and 'value="main" checked' not in page
    r = post(admin, "/groups/doors", {"name": "Crew", "door": ["side"]})
    assert r.status_code == 400 and "No door named &#39;side&#39; on this controller (doors: main, vault)." in (
        r.get_data(as_text=True))
    assert conn.execute("SELECT door FROM group_doors").fetchall() == [("vault",)]
    assert post(admin, "/groups/doors", {"name": "Crew"}).status_code == 303  # none ticked: every door
    assert conn.execute("SELECT door FROM group_doors").fetchall() == []
    conn.close()


def test_the_log_filters_by_door_and_shows_the_door_column(admin: Any, daemon: Any, engine: Any) -> None:
    with session_factory(engine)() as db:
        audit.record(db, "access.denied", reason="unknown_credential", method="pin", door="main")
        audit.record(db, "access.denied", reason="door_not_allowed", method="pin", user="U0001", door="vault")
        db.commit()
    page = get(admin, "/log").get_data(as_text=True)
    assert '<th scope="col">Door</th>' in page and '<td class="door">vault</td>' in page
    assert '<select id="f-door" name="door">' in page
    page = get(admin, "/log?door=vault").get_data(as_text=True)
    assert '<td class="door">main</td>' not in page and "Not allowed at this door" in page
    assert '<th scope="col">Door</th>' not in page  # one door in the list: no column


def test_a_site_person_is_shown_as_managed_by_the_site(admin: Any, daemon: Any, engine: Any) -> None:
    r = post(admin, "/people/new", {"name": "Rina", "agreement_signed_on": "2020-01-02"})
    assert r.status_code in (200, 303)
    conn = sqlite3.connect(engine.url.database)
    (code,) = conn.execute("SELECT code FROM users").fetchone()
    conn.execute("UPDATE users SET origin = 'site'")
    conn.commit()
    conn.close()
    page = get(admin, f"/people/{code}").get_data(as_text=True)
    assert f"{code} is managed by the site; change them on the site's admin page." in page
    assert re.search(r'id="person-origin"><strong>site</strong>', page)
    assert "Reset PIN" not in page and "Suspend" not in page
    listed = get(admin, "/people").get_data(as_text=True)
    assert re.search(rf'>{code}</a> <small class="muted" title="Managed by the site[^"]*">site</small>', listed)


def test_a_site_persons_change_posted_anyway_is_refused_and_changes_nothing(admin: Any, daemon: Any,
                                                                          engine: Any) -> None:
    assert post(admin, "/people/new", {"name": "Rina", "agreement_signed_on": "2020-01-02"}).status_code in (200, 303)
    conn = sqlite3.connect(engine.url.database)
    (code,) = conn.execute("SELECT code FROM users").fetchone()
    conn.execute("UPDATE users SET origin = 'site'")
    conn.commit()
    assert post(admin, f"/people/{code}/suspend", {}).status_code == 303
    shown = get(admin, f"/people/{code}").get_data(as_text=True)
    assert re.search(rf'class="flash error"[^>]*>[^<]*{code} is managed by the site; change them on the site', shown)
    assert conn.execute("SELECT status FROM users").fetchone() == ("active",)
    conn.close()
