"""Alarm history (/alarms) against the real door daemon: a forced door raises and clears an alarm, an admin
acknowledges it with a note (sealed in ``admin.alarm_acknowledged``), the page shows all of it to admins and
auditors; an over-long note is refused by the web and by the daemon, and nothing is sealed."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest

from controller.control.client import DaemonError
from tests.controller.daemon_harness import DaemonRunner, events, fast_config, wait_event

from web_support import ADMIN, AUDITOR, get, login, new_client, post, real_daemon_web

NOTE = "Checked: the cleaner left it ajar"


@pytest.fixture
def system(mock_factory: Any) -> Iterator[tuple[Any, DaemonRunner]]:
    yield from real_daemon_web(fast_config(), accounts=((ADMIN, "admin"), (AUDITOR, "auditor")))


def _force_the_door(runner: DaemonRunner) -> int:
    """Open the locked door and shut it: ``door_forced`` raised and cleared; returns the alarm's id."""
    runner.call("sim.door", open=True)
    wait_event(runner.datadir, "alarm.raised", detail={"alarm": "door_forced"})
    runner.call("sim.door", open=False)
    wait_event(runner.datadir, "alarm.cleared", detail={"alarm": "door_forced"})
    with sqlite3.connect(runner.datadir.db_file) as con:
        (alarm_id,) = con.execute("SELECT id FROM alarms WHERE kind = 'door_forced'").fetchone()
    return int(alarm_id)


def _acks(runner: DaemonRunner) -> list[dict[str, Any]]:
    return [e for e in events(runner.datadir) if e["type"] == "admin.alarm_acknowledged"]


def _acknowledged_by(runner: DaemonRunner, alarm_id: int) -> Any:
    with sqlite3.connect(runner.datadir.db_file) as con:
        return con.execute("SELECT acknowledged_by FROM alarms WHERE id = ?", (alarm_id,)).fetchone()[0]


def test_history_shows_raised_cleared_acknowledged_by_and_the_note(system: Any) -> None:
    app, runner = system
    alarm_id = _force_the_door(runner)
    admin = new_client(app)
    assert login(admin).status_code == 303
    page = get(admin, "/").get_data(as_text=True)
    assert 'href="/alarms"' in page and f'id="f-ack-note-{alarm_id}"' in page
    r = post(admin, f"/alarms/{alarm_id}/ack", {"note": NOTE})
    assert r.status_code == 303
    acks = _acks(runner)
    assert len(acks) == 1 and acks[0]["actor"] == ADMIN and acks[0]["seq"] is not None
    detail = acks[0]["detail"] if isinstance(acks[0]["detail"], dict) else json.loads(acks[0]["detail"])
    assert detail == {"alarm": alarm_id, "kind": "door_forced", "note": NOTE}
    auditor = new_client(app)
    assert login(auditor, AUDITOR).status_code == 303
    for client in (admin, auditor):
        page = get(client, "/alarms").get_data(as_text=True)
        row = page.split(f'id="alarm-{alarm_id}"', 1)[1].split("</tr>", 1)[0]
        assert "Door forced open" in row and "door_forced" in row
        assert row.count("<time datetime=") == 3  # raised, cleared, acknowledged
        assert f"by {ADMIN} at" in row and NOTE in row
    log = get(admin, "/log").get_data(as_text=True)
    assert f"{ADMIN} acknowledged the alarm: door forced open (note: “{NOTE}”)" in log
    assert "Alarm: door forced open" in log and "Alarm cleared: door forced open" in log


def test_a_300_character_note_is_refused_by_the_web_and_by_the_daemon_and_nothing_is_sealed(system: Any) -> None:
    app, runner = system
    alarm_id = _force_the_door(runner)
    admin = new_client(app)
    assert login(admin).status_code == 303
    r = post(admin, f"/alarms/{alarm_id}/ack", {"note": "n" * 300})
    assert r.status_code == 303
    page = get(admin, r.headers["Location"]).get_data(as_text=True)
    assert f"Alarm {alarm_id} was not acknowledged. Note is too long: at most 200 characters (got 300)." in page
    # The daemon checks the note itself, for any client.
    with pytest.raises(DaemonError, match="the note is too long \\(at most 200 characters\\)"):
        runner.call("alarm.ack", id=alarm_id, note="n" * 300)
    with pytest.raises(DaemonError, match="the note contains a control character"):
        runner.call("alarm.ack", id=alarm_id, note="fine\nforged line")
    assert _acks(runner) == [] and _acknowledged_by(runner, alarm_id) is None
    # Without a note it is acknowledged as before.
    assert post(admin, f"/alarms/{alarm_id}/ack").status_code == 303
    acks = _acks(runner)
    assert len(acks) == 1 and "note" not in json.dumps(acks[0]["detail"]) and _acknowledged_by(runner, alarm_id) == ADMIN


def test_alarm_history_refuses_unknown_parameters(system: Any) -> None:
    app, _runner = system
    admin = new_client(app)
    assert login(admin).status_code == 303
    r = get(admin, "/alarms", query_string={"before": "abc"})
    assert r.status_code == 400
    assert get(admin, "/alarms", query_string={"path": "/etc"}).status_code == 400
