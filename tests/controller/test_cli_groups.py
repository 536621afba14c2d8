"""``kunci group|schedule|holiday``: window parsing and refusals (the changes themselves go through the
admin operations tested elsewhere; tests/controller/test_records_room_rules.py uses group.set_rules)."""

from __future__ import annotations

import json

import pytest

from controller.cli.groups_cmd import parse_window
from controller.errors import InvalidInput


@pytest.mark.parametrize(("text", "windows"), [
    ("mon 08:00-18:00", [[0, 480, 1080]]),
    ("mon-wed 07:30-09:00", [[0, 450, 540], [1, 450, 540], [2, 450, 540]]),
    ("all 00:00-24:00", [[d, 0, 1440] for d in range(7)]),
    ("  SAT 10:00-12:00 ", [[5, 600, 720]]),
])
def test_windows_read_as_people_write_them(text, windows) -> None:
    assert parse_window(text) == windows


@pytest.mark.parametrize("text", ["funday 08:00-18:00", "mon 8:00-18:00", "mon 08:00-25:00", "mon 08:60-09:00",
                                  "mon-xyz 08:00-09:00", "mon 08:00", ""])
def test_a_window_that_is_not_one_is_refused_by_name(text) -> None:
    with pytest.raises(InvalidInput):
        parse_window(text)


# --- kunci group rename, kunci schedule set (issue 15 item 5) ------------------------------------------------


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    from controller.cli import main

    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _rows(data, sql: str) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(f"file:{data / 'kunci.db'}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def data(tmp_path, capsys):
    d = tmp_path / "data"
    assert _run(capsys, "init", "--data", str(d))[0] == 0
    for argv in (("schedule", "add", "Office", "--window", "mon-fri 08:00-17:00"),
                 ("schedule", "add", "Late", "--window", "mon 18:00-24:00"),
                 ("group", "add", "Crew", "--schedule", "Office"), ("group", "add", "Guards")):
        code, _out, err = _run(capsys, *argv, "--data", str(d))
        assert code == 0, err
    return d


def _schedules(data) -> list[tuple]:
    return _rows(data, "SELECT s.name, s.allow_on_holidays, w.weekday, w.start_minute, w.end_minute FROM schedules s "
                       "JOIN schedule_windows w ON w.schedule_id = s.id ORDER BY s.name, w.weekday, w.start_minute")


def test_schedule_set_replaces_the_windows_and_the_holiday_rule_and_renames(capsys, data) -> None:
    code, out, err = _run(capsys, "schedule", "set", "Office", "--window", "sat 10:00-12:30", "--open-on-holidays",
                          "--rename", "Weekend", "--data", str(data))
    assert code == 0, err
    assert out.strip() == "schedule.update: done (schedule Weekend)"
    assert _schedules(data) == [("Late", 0, 0, 1080, 1440), ("Weekend", 1, 5, 600, 750)]
    assert _rows(data, "SELECT g.name, s.name FROM access_groups g JOIN schedules s ON s.id = g.schedule_id") == [
        ("Crew", "Weekend")]  # the group follows the schedule it had
    (detail,) = _rows(data, "SELECT detail FROM events WHERE type = 'admin.schedule_updated'")
    assert json.loads(detail[0]) == {"schedule": "Weekend", "renamed_from": "Office", "windows": [[5, 600, 750]],
                                     "allow_on_holidays": True}
    code, _out, err = _run(capsys, "schedule", "set", "Weekend", "--closed-on-holidays", "--data", str(data))
    assert code == 0, err
    assert _schedules(data)[-1] == ("Weekend", 0, 5, 600, 750)


@pytest.mark.parametrize(("argv", "message"), [
    (("schedule", "set", "Office"), "nothing to change"),
    (("schedule", "set", "Office", "--window", "mon 17:00-08:00"), "the end must be after the start"),
    (("schedule", "set", "Office", "--rename", "Late"), "a schedule with that name already exists"),
    (("schedule", "set", "Nope", "--window", "mon 08:00-09:00"), "no schedule with that name"),
    (("group", "rename", "Crew", "Guards"), "an access group with that name already exists"),
    (("group", "rename", "Crew", ""), "the group name must not be empty"),
    (("group", "rename", "Nobody", "Somebody"), "no access group with that name"),
])
def test_refused_changes_say_why_and_change_nothing(capsys, data, argv, message) -> None:
    before = (_schedules(data), _rows(data, "SELECT name FROM access_groups ORDER BY name"),
              _rows(data, "SELECT count(*) FROM events"))
    code, _out, err = _run(capsys, *argv, "--data", str(data))
    assert code != 0 and message in err, err
    assert (_schedules(data), _rows(data, "SELECT name FROM access_groups ORDER BY name"),
            _rows(data, "SELECT count(*) FROM events")) == before


def test_group_rename_keeps_members_and_moves_escorted_visitors(capsys, data) -> None:
    from controller.control import changes
    from controller.paths import DataDir

    datadir = DataDir(data)
    changes.apply(datadir, "user.add", {"name": "Rina", "agreement_signed_on": "2020-01-02", "group": "Crew"})
    changes.apply(datadir, "visitor.add", {"name": "Budi", "hours": 2, "escort_group": "Crew"})
    code, out, err = _run(capsys, "group", "rename", "Crew", "Night crew", "--data", str(data))
    assert code == 0, err
    assert out.strip() == "group.rename: done (group Night crew)"
    assert _rows(data, "SELECT u.display_name, g.name FROM users u JOIN access_groups g ON g.id = u.group_id "
                       "WHERE u.kind = 'staff'") == [("Rina", "Night crew")]
    assert _rows(data, "SELECT escort_group FROM users WHERE kind = 'visitor'") == [("Night crew",)]
    (detail,) = _rows(data, "SELECT detail FROM events WHERE type = 'admin.group_updated'")
    assert json.loads(detail[0]) == {"group": "Night crew", "renamed_from": "Crew"}


def test_the_lockdown_override_group_is_not_renamed(data) -> None:
    """Renaming it would leave the configuration naming a group that no longer exists: nobody could enter
    during a lockdown."""
    import dataclasses

    from controller.config import Config, DoorConfig
    from controller.control import changes
    from controller.errors import PolicyRefused
    from controller.paths import DataDir

    config = Config(door=dataclasses.replace(DoorConfig(), lockdown_override_group="Guards"))
    with pytest.raises(PolicyRefused, match="lockdown_override_group"):
        changes.apply(DataDir(data), "group.rename", {"group": "Guards", "new_name": "Security"}, config=config)
    assert _rows(data, "SELECT name FROM access_groups ORDER BY name") == [("Crew",), ("Guards",)]
