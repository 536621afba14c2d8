"""The doors a group grants (issue 16): ``group.doors``, ``kunci group doors|list``, and people managed by the
site refused locally (``users.origin = 'site'``)."""

from __future__ import annotations

import json
import sqlite3

import pytest

from controller.control import changes
from controller.errors import InvalidInput, PolicyRefused
from controller.paths import DataDir

VAULT = '\n[[doors]]\nname = "vault"\n[doors.gpio]\nrelay_pin = 4\n'


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    from controller.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _rows(data, sql: str) -> list[tuple]:
    conn = sqlite3.connect(f"file:{data / 'kunci.db'}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def data(tmp_path, capsys):
    d = tmp_path / "data"
    assert _run(capsys, "init", "--data", str(d))[0] == 0
    with DataDir(d).config_file.open("a", encoding="utf-8") as f:
        f.write(VAULT)
    for argv in (("group", "add", "Crew"), ("group", "add", "Guards")):
        code, _out, err = _run(capsys, *argv, "--data", str(d))
        assert code == 0, err
    return d


def _doors(data) -> list[tuple]:
    return _rows(data, "SELECT g.name, d.door FROM group_doors d JOIN access_groups g ON g.id = d.group_id "
                       "ORDER BY g.name, d.door")


def test_group_doors_sets_lists_and_clears_a_groups_doors(capsys, data) -> None:
    code, out, err = _run(capsys, "group", "doors", "Crew", "--door", "vault", "--door", "main", "--data", str(data))
    assert code == 0, err
    assert out.strip() == "group.doors: done (group Crew, doors ['main', 'vault'])"
    assert _doors(data) == [("Crew", "main"), ("Crew", "vault")]
    (detail,) = _rows(data, "SELECT detail FROM events WHERE type = 'admin.group_updated'")
    assert json.loads(detail[0]) == {"group": "Crew", "doors": ["main", "vault"]}
    assert _rows(data, "SELECT count(*) FROM events WHERE type = 'admin.group_updated' AND seq IS NOT NULL") == [(1,)]
    assert _run(capsys, "group", "doors", "Guards", "--door", "vault", "--data", str(data))[0] == 0
    code, out, _err = _run(capsys, "group", "list", "--data", str(data))
    lines = {line.split()[0]: line for line in out.splitlines()}
    assert "doors: main, vault" in lines["Crew"] and "doors: vault" in lines["Guards"]
    code, out, err = _run(capsys, "group", "doors", "Crew", "--all", "--data", str(data))
    assert code == 0, err
    assert _doors(data) == [("Guards", "vault")]
    _code, out, _err = _run(capsys, "group", "list", "--data", str(data))
    assert "doors: every door" in [line for line in out.splitlines() if line.startswith("Crew")][0]


@pytest.mark.parametrize(("argv", "message"), [
    (("group", "doors", "Crew", "--door", "side"), "no door named 'side' on this controller (doors: main, vault)"),
    (("group", "doors", "Crew", "--door", "main", "--door", "side"), "no door named 'side'"),
    (("group", "doors", "Nobody", "--door", "main"), "no access group with that name"),
])
def test_a_refused_door_list_names_the_problem_and_changes_nothing(capsys, data, argv, message) -> None:
    assert _run(capsys, "group", "doors", "Crew", "--door", "vault", "--data", str(data))[0] == 0
    before = (_doors(data), _rows(data, "SELECT count(*) FROM events"))
    code, _out, err = _run(capsys, *argv, "--data", str(data))
    assert code != 0 and message in err, err
    assert (_doors(data), _rows(data, "SELECT count(*) FROM events")) == before


def test_group_doors_needs_a_door_or_all(capsys, data) -> None:
    with pytest.raises(SystemExit):
        _run(capsys, "group", "doors", "Crew", "--data", str(data))


@pytest.mark.parametrize("doors", ["main", [1], None, ["main"] * 17])
def test_the_operation_refuses_a_bad_list(data, doors) -> None:
    with pytest.raises(InvalidInput):
        changes.apply(DataDir(data), "group.doors", {"group": "Crew", "doors": doors})
    assert _doors(data) == []


def test_deleting_a_group_deletes_its_doors(capsys, data) -> None:
    assert _run(capsys, "group", "doors", "Crew", "--door", "vault", "--data", str(data))[0] == 0
    assert _run(capsys, "group", "delete", "Crew", "--data", str(data))[0] == 0
    assert _doors(data) == []


# --- people copied down from the site ------------------------------------------------------------------------


@pytest.fixture
def site_person(data):
    result = changes.apply(DataDir(data), "user.add", {"name": "Rina", "agreement_signed_on": "2020-01-02"})
    conn = sqlite3.connect(data / "kunci.db")
    conn.execute("UPDATE users SET origin = 'site' WHERE code = ?", (result["code"],))
    conn.commit()
    conn.close()
    return result["code"]


@pytest.mark.parametrize(("op", "params"), [
    ("user.update", {"name": "Rina S."}),
    ("user.set_status", {"status": "suspended"}),
    ("user.set_status", {"status": "revoked"}),
    ("user.reset_pin", {}),
])
def test_a_site_person_is_not_changed_here(data, site_person, op, params) -> None:
    before = (_rows(data, "SELECT * FROM users"), _rows(data, "SELECT count(*) FROM events"))
    with pytest.raises(PolicyRefused, match=f"{site_person} is managed by the site; change them on the site's "
                                            "admin page"):
        changes.apply(DataDir(data), op, {"user": site_person, **params})
    assert (_rows(data, "SELECT * FROM users"), _rows(data, "SELECT count(*) FROM events")) == before


def test_the_cli_says_a_site_person_is_managed_by_the_site(capsys, data, site_person) -> None:
    code, _out, err = _run(capsys, "user", "suspend", site_person, "--data", str(data))
    assert code != 0 and "managed by the site" in err, err
    code, out, err = _run(capsys, "user", "show", site_person, "--data", str(data))
    assert code == 0, err
    assert "managed by:       the site (change them on the site's admin page)" in out


def test_with_one_door_the_group_list_leaves_the_doors_out(tmp_path, capsys) -> None:
    d = tmp_path / "one"
    assert _run(capsys, "init", "--data", str(d))[0] == 0
    assert _run(capsys, "group", "add", "Crew", "--data", str(d))[0] == 0
    _code, out, _err = _run(capsys, "group", "list", "--data", str(d))
    assert out.startswith("Crew") and "doors:" not in out
