"""Human words for codes (webadmin/labels.py): every vocabulary member has a label and an explanation, and the
sentences an admin reads for event rows (names only when given, codes otherwise)."""

from __future__ import annotations

import json
from enum import StrEnum
from types import SimpleNamespace
from typing import Any

import pytest

from controller.core.policy import DoorMode, Method, Reason
from controller.core.vocabulary import AlarmKind, EventType
from webadmin import labels


@pytest.mark.parametrize("vocabulary", [EventType, Reason, DoorMode, Method, AlarmKind])
def test_every_member_has_a_label_and_an_explanation(vocabulary: type[StrEnum]) -> None:
    for member in vocabulary:
        assert labels.label(member.value, vocabulary) != member.value, member  # words, not the code again
        assert labels.explain(member.value, vocabulary).endswith("."), f"{vocabulary.__name__}.{member.name}"


def _row(type: str, **fields: Any) -> Any:
    base = {"type": type, "reason": None, "method": None, "user_code": None, "door": "main", "actor": None,
            "detail": None, "score": None}
    base.update(fields)
    if isinstance(base["detail"], dict):
        base["detail"] = json.dumps(base["detail"])
    return SimpleNamespace(**base)


@pytest.mark.parametrize(
    ("row", "name", "expected"),
    [
        (_row("access.granted", method="pin", user_code="U0002"), "Rina Hartono",
         "Rina Hartono (U0002) opened main with PIN"),
        (_row("access.granted", method="pin", user_code="U0002"), None, "U0002 opened main with PIN"),
        (_row("access.granted", method="finger", user_code="U0002"), None, "U0002 opened main with fingerprint"),
        (_row("access.granted", method="remote", actor="alice"), None, "alice unlocked main remotely"),
        (_row("access.denied", reason="unknown_credential", method="pin"), None, "Unknown PIN refused (wrong PIN)"),
        (_row("access.denied", reason="outside_schedule", method="pin", user_code="U0002"), None,
         "U0002 refused: outside their schedule"),
        (_row("access.denied", reason="outside_schedule", method="pin", user_code="U0002"), "Rina Hartono",
         "Rina Hartono (U0002) refused: outside their schedule"),
        (_row("door.forced"), None, "Door forced open"),
        (_row("alarm.raised", detail={"alarm": "door_forced"}), None, "Alarm: door forced open"),
        (_row("alarm.cleared", detail={"alarm": "door_forced"}), None, "Alarm cleared: door forced open"),
        (_row("admin.alarm_acknowledged", actor="alice", detail={"alarm": 3, "kind": "tamper", "note": "checked"}),
         None, "alice acknowledged the alarm: reader enclosure opened (note: “checked”)"),
        (_row("admin.user_added", actor="alice", user_code="U0003"), None, "Person added by alice: U0003"),
        (_row("some.future_type"), None, "some.future_type"),
    ],
)
def test_sentences(row: Any, name: str | None, expected: str) -> None:
    assert labels.sentence(row, name, row.door) == expected


def test_alarm_like_rows_stand_out_and_routine_ones_do_not() -> None:
    assert all(labels.is_alert(_row(t)) for t in ("door.forced", "tamper", "duress", "alarm.raised"))
    assert not any(labels.is_alert(_row(t)) for t in ("access.granted", "door.opened", "alarm.cleared"))


def test_every_setting_has_its_schema_sentence() -> None:
    from controller.config import Config
    import dataclasses

    defaults = Config()
    for section in dataclasses.fields(defaults):
        value = getattr(defaults, section.name)
        if dataclasses.is_dataclass(value):
            for f in dataclasses.fields(value):
                assert labels.setting_help(section.name, f.name).explanation, f"{section.name}.{f.name}"
    assert labels.setting_help("door", "unlock_seconds") == ("Unlock seconds",
                                                             "Time the strike stays unlocked after a granted access.")
