"""Site page groups (door checkboxes by room) and the doors and controllers page with each controller's sync
state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text


def test_an_admin_adds_a_group_and_changes_its_doors_which_feeds_the_controllers(seeded: Any,
                                                                                 login_as: Any) -> None:
    boss = login_as("boss")
    main, vault = seeded.doors["main"], seeded.doors["vault"]
    page = boss.get("/groups/").get_data(as_text=True)
    assert "Room records" in page and "Room vault" in page and "main on c1" in page and "vault on c2" in page
    response = boss.post("/groups/new", {"name": "night", "door": [str(vault)]}, token_from="/groups/")
    assert response.status_code == 303
    assert {g.name: set(g.door_ids) for g in seeded.service.list_groups()}["night"] == {vault}
    assert boss.post("/groups/night/doors", {"door": [str(main)]}, token_from="/groups/").status_code == 303
    assert {g.name: set(g.door_ids) for g in seeded.service.list_groups()}["night"] == {main}
    with seeded.db.engine.begin() as conn:
        ops = conn.execute(text("SELECT c.name, f.op FROM kunci.feed f JOIN kunci.controllers c "
                                "ON c.id = f.controller_id WHERE f.key = 'night' ORDER BY f.revision")).all()
    assert ops[0] == ("c2", "group")
    assert sorted(tuple(o) for o in ops[1:]) == [("c1", "group"), ("c2", "group.remove")]
    page = boss.get("/groups/").get_data(as_text=True)
    assert f'id="g3-door-{main}" name="door" type="checkbox" value="{main}" checked' in page


def test_bad_group_forms_change_nothing(seeded: Any, login_as: Any) -> None:
    boss = login_as("boss")
    before = {g.name: g.door_ids for g in seeded.service.list_groups()}
    for data in ({"name": "", "door": ["1"]}, {"name": "clerks"}, {"name": "x", "door": ["abc"]},
                 {"name": "x", "door": ["99999"]}, {"name": "bad name with spaces and \n newline"}):
        assert boss.post("/groups/new", data, token_from="/groups/").status_code == 400, data
    assert boss.post("/groups/nothing/doors", {}, token_from="/groups/").status_code == 404
    assert {g.name: g.door_ids for g in seeded.service.list_groups()} == before


def test_controllers_show_last_contact_revision_lag_uploaded_seq_and_a_stale_warning(seeded: Any,
                                                                                   login_as: Any) -> None:
    with seeded.db.engine.begin() as conn:
        heads = dict(conn.execute(text("SELECT c.name, max(f.revision) FROM kunci.feed f JOIN kunci.controllers c "
                                       "ON c.id = f.controller_id GROUP BY c.name")).all())
        conn.execute(text("UPDATE kunci.controllers SET last_seen_at = now(), revision_seen = :r WHERE name = 'c1'"),
                     {"r": heads["c1"]})
        conn.execute(text("UPDATE kunci.controllers SET last_seen_at = now() - interval '2 hours', "
                          "revision_seen = :r WHERE name = 'c2'"), {"r": heads["c2"] - 3})
        conn.execute(text("INSERT INTO kunci.events (controller_id, seq, time, type, mac) SELECT id, 41, "
                          "'2026-12-02T09:00:00.000000Z', 'daemon.started', '\\x00' FROM kunci.controllers "
                          "WHERE name = 'c1'"))
    page = login_as("aud").get("/doors/").get_data(as_text=True)
    rows = {name: page.split(f'<td data-label="Controller">{name}</td>')[1].split("</tr>")[0]
            for name in ("c1", "c2")}
    assert "up to date" in rows["c1"] and ">41<" in rows["c1"] and "out of touch" not in rows["c1"]
    assert "out of touch for more than 5 minutes" in rows["c2"] and "3 <span" in rows["c2"]
    assert "records" in page and "vault" in page  # the doors table names the rooms


def test_a_controller_that_never_checked_in_says_so_and_door_modes_show_in_words(seeded: Any,
                                                                                 login_as: Any) -> None:
    seeded.service.set_door_mode(seeded.doors["vault"], "pin_and_finger", actor="test")
    page = login_as("aud").get("/doors/").get_data(as_text=True)
    assert page.count("has not checked in yet") == 2 and page.count(">never<") == 2
    assert "as configured on its controller" in page and "PIN and fingerprint" in page and "<select" not in page


def test_an_admin_sets_a_door_mode_of_its_rooms_which_feeds_that_controller(seeded: Any, login_as: Any) -> None:
    main, vault = seeded.doors["main"], seeded.doors["vault"]
    ra = login_as("ra")
    assert ra.post(f"/doors/{main}/mode", {"mode": "pin_or_finger"}, token_from="/doors/").status_code == 303
    assert ra.post(f"/doors/{vault}/mode", {"mode": "pin"}, token_from="/doors/").status_code == 404
    assert ra.post(f"/doors/{main}/mode", {"mode": "open_sesame"}, token_from="/doors/").status_code == 400
    assert login_as("aud").post(f"/doors/{main}/mode", {"mode": "pin"}, token_from="/doors/").status_code == 403
    assert {d.name: d.mode for d in seeded.service.list_doors()} == {"main": "pin_or_finger", "vault": None}
    assert ra.post(f"/doors/{main}/mode", {"mode": ""}, token_from="/doors/").status_code == 303
    with seeded.db.engine.begin() as conn:
        rows = conn.execute(text("SELECT c.name, f.payload FROM kunci.feed f JOIN kunci.controllers c "
                                 "ON c.id = f.controller_id WHERE f.op = 'door' ORDER BY f.revision")).all()
    assert [(r[0], r[1]["mode"]) for r in rows][-2:] == [("c1", "pin_or_finger"), ("c1", None)]
