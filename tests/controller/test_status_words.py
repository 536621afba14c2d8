"""``kunci status`` shows the daemon's codes as words, the same words as the admin page, in the reader's language."""

from __future__ import annotations

import pytest

from controller.cli.status_cmd import _WORDS, format_status
from controller.core.door_state import DoorState
from controller.core.policy import DoorMode
from controller.core.vocabulary import AlarmKind
from controller.i18n import set_language
from webadmin import labels


@pytest.mark.parametrize(("codes", "vocabulary"), [
    (DoorState, DoorState), (DoorMode, DoorMode), (AlarmKind, AlarmKind), (labels.SensorState, labels.SensorState),
])
def test_every_code_has_the_admin_pages_word(codes, vocabulary) -> None:
    for code in codes:
        assert code.value in _WORDS, code
        assert _WORDS[code.value].msgid == labels.label(code.value, vocabulary), code


def test_status_lines_in_both_languages() -> None:
    status = {"door": "locked", "mode": "pin_or_finger", "sensor": {"state": "lost"}, "log_available": True,
              "alarms": [{"id": 2, "kind": "door_held", "raised_at": "2026-03-10T11:00:00.000000Z"}]}
    english = format_status(status)
    assert "door:     Locked (contact shut)" in english and "mode:     PIN or fingerprint (pin_or_finger)" in english
    assert "sensor:   Offline" in english and "#2 Door held open (door_held) since" in english
    try:
        set_language("id")
        indonesian = format_status(status)
    finally:
        set_language("en")
    assert "Terkunci" in indonesian and "PIN atau sidik jari (pin_or_finger)" in indonesian
    assert "locked" not in indonesian.lower().replace("(pin_or_finger)", "")
