"""Rooms kept apart on the site page: a staff login limited to room ``records`` never sees the people, doors,
controllers or events of room ``vault``, and cannot change them or grant their doors."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.site_web.test_site_web_people import add


def insert_event(seeded: Any, controller: str, seq: int, door: str, code: str, when: str) -> None:
    with seeded.db.engine.begin() as conn:
        conn.execute(text(
            "INSERT INTO kunci.events (controller_id, seq, time, type, method, user_code, door, mac) "
            "SELECT id, :s, :t, 'access.granted', 'pin', :u, :d, '\\x00' FROM kunci.controllers WHERE name = :c"),
            {"s": seq, "t": when, "u": code, "d": door, "c": controller})


def two_people(login_as: Any) -> tuple[str, str]:
    """A clerk (door main, room records) and a vaulter (door vault, room vault), added by the all-rooms admin."""
    boss = login_as("boss")
    return add(boss, "Ani Records", "clerks")[0], add(boss, "Vera Vault", "vaulters")[0]


def test_a_room_limited_admin_sees_only_the_people_of_its_rooms(login_as: Any) -> None:
    clerk, vaulter = two_people(login_as)
    ra = login_as("ra")
    page = ra.get("/people/").get_data(as_text=True)
    assert clerk in page and "Ani Records" in page
    assert vaulter not in page and "Vera Vault" not in page
    assert ra.get("/people/?q=vera").get_data(as_text=True).count("Vera") == 0


def test_a_room_limited_admin_cannot_act_on_a_person_of_another_room(seeded: Any, login_as: Any) -> None:
    clerk, vaulter = two_people(login_as)
    ra = login_as("ra")
    for action in ("suspend", "resume", "reset-pin", "revoke"):
        assert ra.get(f"/people/{vaulter}/{action}").status_code == 404
        assert ra.post(f"/people/{vaulter}/{action}", {"confirm": "yes"}, token_from="/people/").status_code == 404
    assert {p.code: p.status for p in seeded.service.list_people()}[vaulter] == "active"
    assert ra.post(f"/people/{clerk}/suspend", {"confirm": "yes"}, token_from="/people/").status_code == 303
    assert {p.code: p.status for p in seeded.service.list_people()}[clerk] == "suspended"


def test_a_room_limited_admin_puts_people_only_in_groups_within_its_rooms(seeded: Any, login_as: Any) -> None:
    ra = login_as("ra")
    form = ra.get("/people/new").get_data(as_text=True)
    assert 'value="clerks"' in form and 'value="vaulters"' not in form and 'value="both"' not in form
    for group in ("vaulters", "both"):
        assert ra.post("/people/new", {"name": "Sneaky", "group": group}, token_from="/people/new").status_code == 400
    assert seeded.service.list_people() == []
    code, _ = add(ra, "Rina", "clerks")
    assert [p.code for p in seeded.service.list_people()] == [code]


def test_a_room_limited_admin_sees_and_sets_only_its_rooms_doors_on_the_groups_page(seeded: Any,
                                                                                  login_as: Any) -> None:
    ra = login_as("ra")
    page = ra.get("/groups/").get_data(as_text=True)
    main, vault = seeded.doors["main"], seeded.doors["vault"]
    assert f'value="{main}"' in page and f'value="{vault}"' not in page
    assert "Room records" in page and "Room vault" not in page
    assert "clerks" in page and "both" in page and "vaulters" not in page  # vaulters opens no door of records
    # Unticking door main of "both" keeps its door vault (not shown, not managed).
    assert ra.post("/groups/both/doors", {}, token_from="/groups/").status_code == 303
    groups = {g.name: set(g.door_ids) for g in seeded.service.list_groups()}
    assert groups["both"] == {vault}
    # A door of another room cannot be ticked, on an existing group or a new one.
    assert ra.post("/groups/clerks/doors", {"door": [str(main), str(vault)]}, token_from="/groups/").status_code == 400
    assert ra.post("/groups/new", {"name": "grab", "door": [str(vault)]}, token_from="/groups/").status_code == 400
    assert ra.post("/groups/vaulters/doors", {"door": [str(main)]}, token_from="/groups/").status_code == 404
    groups = {g.name: set(g.door_ids) for g in seeded.service.list_groups()}
    assert groups == {"clerks": {main}, "vaulters": {vault}, "both": {vault}}


def test_a_room_limited_login_sees_only_its_doors_controllers_and_events(seeded: Any, login_as: Any) -> None:
    clerk, vaulter = two_people(login_as)
    insert_event(seeded, "c1", 1, "main", clerk, "2026-12-02T09:00:00.000000Z")
    insert_event(seeded, "c2", 1, "vault", vaulter, "2026-12-02T09:01:00.000000Z")
    for username in ("ra", "aud_r"):
        client = login_as(username)
        doors = client.get("/doors/").get_data(as_text=True)
        assert ">main<" in doors and ">c1<" in doors
        assert ">vault<" not in doors and ">c2<" not in doors
        events = client.get("/events/").get_data(as_text=True)
        assert clerk in events and vaulter not in events and "Vera" not in events
    everything = login_as("aud").get("/events/").get_data(as_text=True)
    assert clerk in everything and vaulter in everything


def test_admins_read_names_in_events_and_auditors_codes_only(seeded: Any, login_as: Any) -> None:
    clerk, _vaulter = two_people(login_as)
    insert_event(seeded, "c1", 1, "main", clerk, "2026-12-02T09:00:00.000000Z")
    admin_page = login_as("boss").get("/events/").get_data(as_text=True)
    auditor_page = login_as("aud").get("/events/").get_data(as_text=True)
    assert f"Ani Records ({clerk}) opened main with PIN" in admin_page
    assert clerk in auditor_page and "Ani Records" not in auditor_page


def test_a_room_limited_admin_may_only_take_away_access_of_a_person_who_also_enters_other_rooms(
        seeded: Any, login_as: Any) -> None:
    boss = login_as("boss")
    both, _ = add(boss, "Bima Both", "both")
    ra = login_as("ra")
    assert both in ra.get("/people/").get_data(as_text=True)  # listed: they enter room records
    for action in ("resume", "reset-pin"):
        page = ra.get(f"/people/{both}/{action}").get_data(as_text=True)
        assert "rooms you do not manage" in page and 'value="yes"' not in page
    assert "rooms you do not manage" in ra.get(f"/people/{both}/group").get_data(as_text=True)
    assert ra.post(f"/people/{both}/reset-pin", {"confirm": "yes"}, token_from="/people/").status_code == 403
    assert ra.post(f"/people/{both}/group", {"group": "clerks"}, token_from="/people/").status_code == 403
    assert {p.code: p.group for p in seeded.service.list_people()}[both] == "both"
    assert ra.post(f"/people/{both}/suspend", {"confirm": "yes"}, token_from="/people/").status_code == 303
    assert ra.post(f"/people/{both}/resume", {"confirm": "yes"}, token_from="/people/").status_code == 403
    assert {p.code: p.status for p in seeded.service.list_people()}[both] == "suspended"


def test_moving_a_person_to_another_group_feeds_both_controllers_and_respects_rooms(seeded: Any,
                                                                                   login_as: Any) -> None:
    boss = login_as("boss")
    code, _ = add(boss, "Gita", "clerks")
    assert boss.post(f"/people/{code}/group", {"group": "vaulters"}, token_from="/people/").status_code == 303
    assert {p.code: p.group for p in seeded.service.list_people()}[code] == "vaulters"
    with seeded.db.engine.begin() as conn:
        ops = conn.execute(text("SELECT c.name, f.op FROM kunci.feed f JOIN kunci.controllers c "
                                "ON c.id = f.controller_id WHERE f.key = :k ORDER BY f.revision"), {"k": code}).all()
    assert sorted(tuple(o) for o in ops) == [("c1", "person"), ("c1", "person.remove"), ("c2", "person")]
    ra = login_as("ra")
    assert ra.get(f"/people/{code}/group").status_code == 404  # now in room vault only: not ra's
    mine, _ = add(ra, "Rudi", "clerks")
    form = ra.get(f"/people/{mine}/group").get_data(as_text=True)
    assert 'value="clerks"' in form and 'value="vaulters"' not in form
    assert ra.post(f"/people/{mine}/group", {"group": "vaulters"}, token_from="/people/").status_code == 400
    assert {p.code: p.group for p in seeded.service.list_people()}[mine] == "clerks"
