"""The virtual door panel with several doors (issue 16): a link per door, every form naming the door shown,
each simulated input sent with ``door``, and the state and last decision shown being that door's."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

import pytest

from controller.config import parse_config
from controller.store import audit
from controller.store.db import session_factory

from web_support import STATUS, get, post

FETCH = {"X-Requested-With": "fetch"}
SIM = ("sim.press", "sim.finger", "sim.lift", "sim.door", "sim.exit", "sim.tamper")


@pytest.fixture
def config() -> Any:
    """Two simulated doors, main and vault."""
    return parse_config({"simulated": True, "site": {"name": "Records room 2"},
                         "doors": [{"name": "vault", "gpio": {"relay_pin": 4}}]})


def _door(name: str, **kw: Any) -> dict[str, Any]:
    return {"name": name, "state": "locked", "relay": False, "contact": "closed", "door_open": False,
            "mode": "pin_or_finger", "lockdown": False, "sensor": {"state": "ok"}, "keypad": "matrix",
            "indicators": {"green": False, "red": True, "buzzer": False}, "entry_blocked": None, **kw}


TWO = {**STATUS, "doors": [_door("main"), _door("vault", state="unlocked", relay=True,
                                                 indicators={"green": True, "red": False, "buzzer": True})]}


def _answer_sim(daemon: Any) -> None:
    for cmd in SIM:
        daemon.handlers[cmd] = lambda req, progress: {}
    daemon.handlers["status"] = lambda req, progress: TWO


def test_the_panel_offers_each_door_and_its_forms_name_the_door_shown(admin: Any, daemon: Any) -> None:
    _answer_sim(daemon)
    page = get(admin, "/panel").get_data(as_text=True)  # no door named: the first
    assert '<nav class="door-tabs" aria-label="Doors">' in page
    assert re.search(r'<a href="/panel\?door=main" aria-current="page">Door main</a>', page)
    assert re.search(r'<a href="/panel\?door=vault">Door vault</a>', page)
    forms = len(re.findall(r"<form method=\"post\" action=\"/panel/", page))
    assert forms > 10 and page.count('<input type="hidden" name="door" value="main">') == forms
    assert 'data-status-url="/status.json?door=main"' in page and 'data-door="main"' in page

    page = get(admin, "/panel?door=vault").get_data(as_text=True)
    assert page.count('<input type="hidden" name="door" value="vault">') == forms
    assert 'value="main"' not in page and 'data-status-url="/status.json?door=vault"' in page
    assert "Door vault: state" in page and "Every button below acts on door vault." in page
    # The state rendered is the vault's (from status.doors), not the top-level (first door's) fields.
    assert re.search(r'id="st-relay">energised \(unlocked\)<', page)
    assert re.search(r'id="led-green" data-on="yes"', page) and re.search(r'id="buzzer" data-on="yes"', page)
    main = get(admin, "/panel?door=main").get_data(as_text=True)
    assert re.search(r'id="st-relay">off \(locked\)<', main) and re.search(r'id="led-green" data-on="no"', main)


def test_each_simulated_input_is_sent_to_the_door_named(admin: Any, daemon: Any) -> None:
    _answer_sim(daemon)
    get(admin, "/panel?door=vault")
    post(admin, "/panel/press", {"keys": "123456#", "door": "vault"}, headers=FETCH)
    post(admin, "/panel/finger", {"label": "B", "door": "vault"}, headers=FETCH)
    post(admin, "/panel/lift", {"door": "vault"}, headers=FETCH)
    post(admin, "/panel/door", {"open": "1", "door": "vault"}, headers=FETCH)
    post(admin, "/panel/exit", {"door": "main"}, headers=FETCH)
    post(admin, "/panel/tamper", {"active": "1", "door": "vault"}, headers=FETCH)
    post(admin, "/panel/exit", headers=FETCH)  # none named: the daemon's default, the first door
    sent = [r for r in daemon.requests if r["cmd"].startswith("sim.")]
    assert sent == [
        {"cmd": "sim.press", "keys": "123456#", "door": "vault"},
        {"cmd": "sim.finger", "label": "B", "door": "vault"},
        {"cmd": "sim.lift", "door": "vault"},
        {"cmd": "sim.door", "open": True, "door": "vault"},
        {"cmd": "sim.exit", "door": "main"},
        {"cmd": "sim.tamper", "active": True, "door": "vault"},
        {"cmd": "sim.exit"},
    ]
    # Without JavaScript a press redirects back to the panel of the same door.
    r = post(admin, "/panel/exit", {"door": "vault"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/panel?door=vault")


def test_an_unknown_door_is_refused_and_nothing_is_sent(admin: Any, daemon: Any) -> None:
    _answer_sim(daemon)
    r = post(admin, "/panel/press", {"keys": "1#", "door": "cellar"}, headers=FETCH)
    assert r.status_code == 400 and r.get_json()["message"] == "There is no door cellar here (doors: main, vault)."
    r = post(admin, "/panel/exit", {"door": "cellar"})
    assert r.status_code == 303 and r.headers["Location"].endswith("/panel")
    assert not [r for r in daemon.requests if r["cmd"].startswith("sim.")]
    r = get(admin, "/panel?door=cellar")
    assert r.status_code == 404 and "There is no door cellar here (doors: main, vault)." in r.get_data(as_text=True)
    r = get(admin, "/status.json?door=cellar")
    assert r.status_code == 400


def test_status_json_gives_the_last_decision_at_the_door_asked_for(admin: Any, daemon: Any, engine: Any) -> None:
    _answer_sim(daemon)
    with session_factory(engine)() as db:
        audit.record(db, "access.granted", method="pin", user="U0001", door="vault")
        audit.record(db, "access.denied", reason="door_not_allowed", method="pin", user="U0001", door="main")
        db.commit()
    vault = get(admin, "/status.json?door=vault").get_json()["last_access"]
    main = get(admin, "/status.json?door=main").get_json()["last_access"]
    anywhere = get(admin, "/status.json").get_json()["last_access"]
    assert (vault["result"], main["result"], main["reason"]) == ("granted", "denied", "door_not_allowed")
    assert anywhere == main and vault["id"] < main["id"]


def test_with_one_door_the_panel_names_no_door(app: Any, admin: Any, daemon: Any) -> None:
    state = app.extensions["kunci"]
    state.config = parse_config({"simulated": True})
    _answer_sim(daemon)
    page = get(admin, "/panel").get_data(as_text=True)
    assert "door-tabs" not in page and 'name="door"' not in page and 'data-status-url="/status.json"' in page


def test_a_door_without_a_keypad_offers_no_keys(admin: Any, daemon: Any) -> None:
    _answer_sim(daemon)
    daemon.handlers["status"] = lambda req, progress: {**TWO, "doors": [_door("main"), _door("vault", keypad="none")]}
    page = get(admin, "/panel?door=vault").get_data(as_text=True)
    assert "Door vault has no keypad." in page and "Key 5" not in page and "panel-dots" not in page and 'name="keys"' not in page
    assert 'action="/panel/finger"' in page and 'action="/panel/door"' in page
    assert "Key 5" in get(admin, "/panel?door=main").get_data(as_text=True)


def test_the_two_door_panel_reads_in_indonesian(admin: Any, daemon: Any) -> None:
    from test_i18n_pages_panel import _english_left, _indonesian, _page

    _answer_sim(daemon)
    daemon.handlers["status"] = lambda req, progress: {**TWO, "doors": [_door("main"), _door("vault", keypad="none")]}
    page = _page(_indonesian(admin), "/panel?door=vault")
    assert _english_left(page) == []
    for words in ('aria-label="Pintu"', ">Pintu main<", ">Pintu vault<", "Pintu vault: status",
                  "Setiap tombol di bawah ini bekerja pada pintu vault.", "Pintu vault tidak memiliki keypad.",
                  "Blokir keypad (berlaku untuk semua pintu)"):
        assert words in page, words


def test_a_finger_is_enrolled_at_the_sensor_of_the_door_chosen(admin: Any, daemon: Any, engine: Any) -> None:
    """With several doors the enrolment page asks which door's sensor to use (each sensor keeps its own
    templates) and sends finger.enroll with that door; an unknown door is refused and nothing is sent."""
    from controller.store import people

    _answer_sim(daemon)
    with session_factory(engine)() as db:
        code = people.add_user(db, name="Finger Person", agreement_signed_on=date(2026, 1, 1), actor="test").code
        db.commit()
    daemon.handlers["finger.enroll"] = lambda req, progress: {"slot": 3}
    page = get(admin, f"/people/{code}/finger").get_data(as_text=True)
    assert re.search(r'<select id="enrol-door" name="door"><option value="main">main</option>'
                     r'<option value="vault">vault</option></select>', page)
    assert post(admin, f"/people/{code}/finger/enroll", {"door": "cellar"}).status_code == 400
    assert not daemon.sent("finger.enroll")
    r = post(admin, f"/people/{code}/finger/enroll", {"door": "vault"})
    assert r.status_code == 303
    job = re.search(r"job=([\w-]+)", r.headers["Location"]).group(1)
    for _ in range(500):
        data = get(admin, f"/people/{code}/finger/status.json?job={job}").get_json()
        if data["done"]:
            break
    assert (data["ok"], data["slot"], data["door"]) == (True, 3, "vault")
    assert daemon.sent("finger.enroll", user=code, door="vault")
