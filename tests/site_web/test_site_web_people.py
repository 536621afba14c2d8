"""Site page people: add with the PIN shown once, search, suspend/resume/reset PIN/revoke after confirmation,
each change one site transaction that feeds the controllers the person reaches."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import text

from controller.store.pins import pin_digest

PIN = re.compile(r'<p class="pin" id="pin"[^>]*>(\d+)</p>')


def add(client: Any, name: str, group: str, **extra: str) -> tuple[str, str]:
    """Add a person through the page; ``(code, pin)`` read from the shown-once page."""
    response = client.post("/people/new", {"name": name, "group": group, **extra}, token_from="/people/new")
    assert response.status_code == 303, response.get_data(as_text=True)
    page = client.get(response.location)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    body = page.get_data(as_text=True)
    code = re.search(r"New person (U\d{4,})", body).group(1)
    return code, PIN.search(body).group(1)


def feed_ops(seeded: Any, code: str) -> list[tuple[str, str]]:
    """``(controller, op)`` of every feed row about ``code``, in revision order."""
    with seeded.db.engine.begin() as conn:
        return [tuple(r) for r in conn.execute(text(
            "SELECT c.name, f.op FROM kunci.feed f JOIN kunci.controllers c ON c.id = f.controller_id "
            "WHERE f.key = :k ORDER BY f.revision"), {"k": code})]


def test_adding_a_person_shows_the_pin_once_and_feeds_only_the_controllers_of_its_group(seeded: Any,
                                                                                         login_as: Any) -> None:
    boss = login_as("boss")
    code, pin = add(boss, "Ani Wijaya", "clerks", valid_until="2031-12-31")
    assert re.fullmatch(r"\d{6}", pin)
    with seeded.db.engine.begin() as conn:
        digest = conn.execute(text("SELECT d.digest FROM kunci.pin_digests d JOIN kunci.people p ON p.id = d.person_id "
                                   "WHERE p.code = :c"), {"c": code}).scalar_one()
        row = conn.execute(text("SELECT display_name, valid_until FROM kunci.people WHERE code = :c"),
                           {"c": code}).one()
    assert row[0] == "Ani Wijaya" and str(row[1]) == "2031-12-31"
    assert feed_ops(seeded, code) == [("c1", "person")]  # clerks open door main on c1 only
    assert digest != pin.encode()
    people = boss.get("/people/").get_data(as_text=True)
    assert code in people and "Ani Wijaya" in people and "clerks" in people and pin not in people


def test_the_pin_page_answers_410_on_reload_and_to_another_session(login_as: Any) -> None:
    boss = login_as("boss")
    response = boss.post("/people/new", {"name": "Budi", "group": "both"}, token_from="/people/new")
    other = login_as("boss")
    assert other.get(response.location).status_code == 410  # bound to the session that added the person
    assert boss.get(response.location).status_code == 200
    again = boss.get(response.location)
    assert again.status_code == 410 and "PIN already shown" in again.get_data(as_text=True)


def test_a_bad_form_adds_nobody(seeded: Any, login_as: Any) -> None:
    boss = login_as("boss")
    cases = [{"name": "", "group": "clerks"}, {"name": "X", "group": "no-such-group"},
             {"name": "X", "group": "clerks", "valid_from": "2030-02-30"},
             {"name": "X", "group": "clerks", "valid_from": "2030-05-01", "valid_until": "2030-04-01"},
             {"name": "line\nbreak", "group": "clerks"}]
    for data in cases:
        response = boss.post("/people/new", data, token_from="/people/new")
        assert response.status_code == 400, data
        assert 'class="flash error"' in response.get_data(as_text=True)
    assert seeded.service.list_people() == []


def test_search_by_name_code_group_and_status(login_as: Any) -> None:
    boss = login_as("boss")
    ani, _ = add(boss, "Ani Wijaya", "clerks")
    budi, _ = add(boss, "Budi Santoso", "vaulters")

    def listed(query: str) -> set[str]:
        body = boss.get("/people/?" + query).get_data(as_text=True)
        return {c for c in (ani, budi) if f">{c}<" in body}

    assert listed("q=wijaya") == {ani}
    assert listed(f"q={budi.lower()}") == {budi}
    assert listed("q=vaulters") == {budi}
    assert listed("") == {ani, budi}
    boss.post(f"/people/{ani}/suspend", {"confirm": "yes"}, token_from="/people/")
    assert listed("status=suspended") == {ani}
    assert boss.get("/people/?status=gone").status_code == 400


def test_suspend_resume_reset_and_revoke_each_ask_for_confirmation_first(seeded: Any, login_as: Any) -> None:
    boss = login_as("boss")
    code, pin = add(boss, "Citra", "both")
    page = boss.get(f"/people/{code}/revoke").get_data(as_text=True)
    assert "cannot be undone" in page and 'name="confirm" value="yes"' in page
    unconfirmed = boss.post(f"/people/{code}/revoke", {}, token_from="/people/")
    assert unconfirmed.status_code == 303 and unconfirmed.location.endswith(f"/people/{code}/revoke")
    assert seeded.service.list_people()[0].status == "active"

    assert boss.post(f"/people/{code}/suspend", {"confirm": "yes"}, token_from="/people/").status_code == 303
    assert seeded.service.list_people()[0].status == "suspended"
    assert boss.post(f"/people/{code}/resume", {"confirm": "yes"}, token_from="/people/").status_code == 303
    assert seeded.service.list_people()[0].status == "active"

    reset = boss.post(f"/people/{code}/reset-pin", {"confirm": "yes"}, token_from="/people/")
    new_page = boss.get(reset.location).get_data(as_text=True)
    new_pin = PIN.search(new_page).group(1)
    assert "New PIN for " + code in new_page and "previous PIN no longer works" in new_page
    with seeded.db.engine.begin() as conn:
        stored = conn.execute(text("SELECT d.digest FROM kunci.pin_digests d JOIN kunci.people p "
                                   "ON p.id = d.person_id WHERE p.code = :c"), {"c": code}).scalar_one()
    assert stored == pin_digest(seeded.service._pepper, new_pin) != pin_digest(seeded.service._pepper, pin)

    assert boss.post(f"/people/{code}/revoke", {"confirm": "yes"}, token_from="/people/").status_code == 303
    assert seeded.service.list_people()[0].status == "revoked"
    # Both controllers heard of every change (group "both" opens a door on each).
    ops = feed_ops(seeded, code)
    assert sorted(ops) == sorted([(c, "person") for c in ("c1", "c2") for _ in range(5)])
    blocked = boss.get(f"/people/{code}/resume").get_data(as_text=True)
    assert "is revoked: nothing more can be done" in blocked
    refused = boss.post(f"/people/{code}/resume", {"confirm": "yes"}, token_from="/people/")
    assert refused.status_code == 303 and seeded.service.list_people()[0].status == "revoked"


def test_unknown_people_and_actions_are_404(login_as: Any) -> None:
    boss = login_as("boss")
    assert boss.get("/people/U9999/revoke").status_code == 404
    assert boss.get("/people/not-a-code/revoke").status_code == 404
    code, _ = add(boss, "Dewi", "clerks")
    assert boss.get(f"/people/{code}/delete").status_code == 404
