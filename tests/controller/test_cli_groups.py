"""``kunci group|schedule|holiday``: window parsing and refusals (the changes themselves go through the
admin operations tested elsewhere; tests/controller/test_records_room_rules.py uses group.set_rules)."""

from __future__ import annotations

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
