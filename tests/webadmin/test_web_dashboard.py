"""Dashboard: live door status from the daemon, alarms and acknowledgement, last events, SVG chart, remote unlock, panel."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from controller.store import audit
from controller.store.db import session_factory
from controller.store.models import Alarm
from controller.timefmt import utcnow
from webadmin import charts

from web_support import PASSWORD, STATUS, events, get, post


def test_dashboard_shows_door_status_from_the_daemon(admin: Any, daemon: Any) -> None:
    page = get(admin, "/").get_data(as_text=True)
    assert "Records room 2" in page and "Kunci" in page
    assert ">Locked<" in page and "off (locked)" in page
    assert "3 of 200 templates" in page
    assert 'data-refresh-url="/dashboard/live"' in page and "refresh.js" in page


def test_dashboard_says_when_entry_is_blocked_after_tamper(admin: Any, daemon: Any) -> None:
    assert "Entry blocked" not in get(admin, "/").get_data(as_text=True)
    daemon.handlers["status"] = lambda req, progress: {**STATUS, "entry_blocked": "tamper"}
    page = get(admin, "/").get_data(as_text=True)
    assert "Entry blocked" in page and "acknowledges the tamper alarm" in page


def test_dashboard_without_daemon_says_so_and_still_works(admin: Any, engine: Any, daemon: Any) -> None:
    daemon.close()
    with session_factory(engine)() as db:
        audit.record(db, "access.granted", method="pin", user="U0007", door="main")
        db.commit()
    r = get(admin, "/")
    assert r.status_code == 200
    page = r.get_data(as_text=True)
    assert "door daemon is not reachable" in page
    assert "U0007" in page
    data = get(admin, "/status.json").get_json()
    assert (data["reachable"], data["status"], data["lockout_until_local"]) == (False, None, None)
    assert "not reachable" in data["error"]
    assert data["last_access"] is None or set(data["last_access"]) == {"id", "result", "reason", "method", "time"}


def test_status_json(auditor: Any, daemon: Any) -> None:
    data = get(auditor, "/status.json").get_json()
    assert data["reachable"] and data["status"]["door"] == "locked" and data["error"] is None


def test_live_fragment_is_a_fragment(auditor: Any, daemon: Any) -> None:
    r = get(auditor, "/dashboard/live")
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "<html" not in html and "Last events" in html


def test_auditor_sees_codes_and_no_acknowledge_button(auditor: Any, engine: Any, daemon: Any) -> None:
    with session_factory(engine)() as db:
        db.add(Alarm(kind="door_forced"))
        db.commit()
    page = get(auditor, "/").get_data(as_text=True)
    assert "Door forced open" in page and "door_forced" in page  # the label, and the code beside it
    assert "/ack\"" not in page and ">Acknowledge</button>" not in page and "Remote unlock" not in page
    assert "People" not in page.split("<main", 1)[0]


def test_acknowledge_alarm_goes_through_the_daemon(admin: Any, engine: Any, daemon: Any) -> None:
    with session_factory(engine)() as db:
        alarm = Alarm(kind="tamper")
        db.add(alarm)
        db.commit()
        alarm_id = alarm.id
    daemon.handlers["alarm.ack"] = lambda req, progress: {"id": req["id"]}
    page = get(admin, "/").get_data(as_text=True)
    assert f"/alarms/{alarm_id}/ack" in page
    r = post(admin, f"/alarms/{alarm_id}/ack")
    assert r.status_code == 303
    assert daemon.sent("alarm.ack", id=alarm_id, actor="alice")
    assert "acknowledged" in get(admin, "/").get_data(as_text=True)


@pytest.mark.parametrize("alarm_id", [2**63, 2**64 + 1, 10**40])
def test_acknowledging_an_alarm_id_beyond_64_bits_is_refused_clearly(admin: Any, daemon: Any, alarm_id: int) -> None:
    daemon.handlers["alarm.ack"] = lambda req, progress: {"id": req["id"]}
    r = post(admin, f"/alarms/{alarm_id}/ack")
    assert r.status_code == 400
    assert "There is no such alarm" in r.get_data(as_text=True)
    assert "alarm.ack" not in daemon.commands()


def test_remote_unlock_needs_the_password(admin: Any, engine: Any, daemon: Any) -> None:
    daemon.handlers["unlock"] = lambda req, progress: {"unlocked_seconds": 5.0}
    r = post(admin, "/door/unlock", {"password": "not my password at all"})
    assert "password is wrong" in get(admin, r.headers["Location"]).get_data(as_text=True)
    assert "unlock" not in daemon.commands()
    assert events(engine, "admin.unlock_refused")
    post(admin, "/door/unlock", {"password": PASSWORD})
    assert daemon.sent("unlock", actor="alice")


def test_remote_unlock_password_guesses_are_throttled(app: Any, admin: Any, engine: Any, daemon: Any) -> None:
    from webadmin.security import AddressLimiter

    app.extensions["kunci"].login_limiter = AddressLimiter(max_failures=2, window_seconds=600)
    daemon.handlers["unlock"] = lambda req, progress: {"unlocked_seconds": 5.0}
    for _ in range(2):
        post(admin, "/door/unlock", {"password": "not my password at all"})
    r = post(admin, "/door/unlock", {"password": PASSWORD})
    assert "Too many failed password attempts" in get(admin, r.headers["Location"]).get_data(as_text=True)
    assert "unlock" not in daemon.commands(), "even the right password waits"
    assert len(events(engine, "admin.unlock_refused")) == 2


def test_dashboard_says_when_the_entry_log_is_unavailable(admin: Any, daemon: Any) -> None:
    page = get(admin, "/").get_data(as_text=True)
    assert "entry log is unavailable" not in page and "writing; 0 event(s) waiting" in page
    daemon.handlers["status"] = lambda req, progress: {**STATUS, "log_available": False, "buffered_events": 7}
    page = get(admin, "/dashboard/live").get_data(as_text=True)
    assert "The entry log is unavailable" in page and "7 event(s) wait in its memory" in page
    assert "no log, no entry" in page


def test_remote_unlock_daemon_unreachable(admin: Any, daemon: Any) -> None:
    daemon.close()
    r = post(admin, "/door/unlock", {"password": PASSWORD})
    assert "not reachable" in get(admin, r.headers["Location"]).get_data(as_text=True)


def test_svg_chart_counts_grants_per_hour(admin: Any, engine: Any, daemon: Any) -> None:
    now = utcnow()
    with session_factory(engine)() as db:
        for hours_ago, n in ((0, 2), (5, 1), (30, 4)):
            for _ in range(n):
                audit.record(db, "access.granted", method="pin", user="U0001", time=now - timedelta(hours=hours_ago))
        audit.record(db, "access.denied", reason="expired", user="U0001", time=now)
        audit.record(db, "access.granted", method="pin", user="U0001", time=now - timedelta(hours=80))
        db.commit()
    page = get(admin, "/").get_data(as_text=True)
    svg = page.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert 'role="img"' in page.split("<svg", 1)[1][:200]
    assert svg.count('class="bar"') == 3
    assert "7 in total, at most 4 in one hour" in svg
    assert re.search(r"<title>[^<]*: 4 entries</title>", svg)
    assert " style=" not in svg


def test_chart_layout() -> None:
    start = datetime(2026, 3, 1, 0, tzinfo=timezone.utc)
    buckets = [(start + timedelta(hours=i), i % 5) for i in range(72)]
    chart = charts.bar_chart(buckets, ZoneInfo("UTC"))
    assert len(chart.bars) == 72 and chart.peak == 4
    tall = max(chart.bars, key=lambda b: b.height)
    assert tall.count == 4 and abs(tall.y - chart.plot_top) < 0.01
    assert all(chart.plot_left <= b.x < chart.plot_right for b in chart.bars)
    assert [t.text for t in chart.x_ticks][:2] == ["Sun 01", "12:00"]
    empty = charts.bar_chart([(start, 0)], ZoneInfo("UTC"))
    assert empty.bars[0].height == 0 and empty.total == 0


# --- virtual door panel -------------------------------------------------------------------------------


def test_panel_sends_sim_commands(admin: Any, daemon: Any) -> None:
    for cmd in ("sim.press", "sim.finger", "sim.lift", "sim.door", "sim.exit", "sim.tamper"):
        daemon.handlers[cmd] = lambda req, progress: {}
    page = get(admin, "/panel").get_data(as_text=True)
    assert "panel.js" in page and 'data-status-url="/status.json"' in page and "Key 5" in page
    fetch = {"X-Requested-With": "fetch"}
    assert post(admin, "/panel/press", {"keys": "123456#"}, headers=fetch).get_json() == {"ok": True, "message": "Pressed 7 key(s)."}
    post(admin, "/panel/finger", {"label": "B"}, headers=fetch)
    post(admin, "/panel/lift", headers=fetch)
    post(admin, "/panel/door", {"open": "1"}, headers=fetch)
    post(admin, "/panel/door", {"open": "0"}, headers=fetch)
    post(admin, "/panel/exit", headers=fetch)
    post(admin, "/panel/tamper", {"active": "1"}, headers=fetch)
    sent = [r for r in daemon.requests if r["cmd"].startswith("sim.")]
    assert sent == [
        {"cmd": "sim.press", "keys": "123456#"},
        {"cmd": "sim.finger", "label": "B"},
        {"cmd": "sim.lift"},
        {"cmd": "sim.door", "open": True},
        {"cmd": "sim.door", "open": False},
        {"cmd": "sim.exit"},
        {"cmd": "sim.tamper", "active": True},
    ]
    # Without JavaScript the form posts redirect back with a message.
    r = post(admin, "/panel/exit")
    assert r.status_code == 303 and "Exit button pressed" in get(admin, "/panel").get_data(as_text=True)


def test_panel_refuses_bad_input_and_reports_daemon_down(admin: Any, daemon: Any) -> None:
    fetch = {"X-Requested-With": "fetch"}
    r = post(admin, "/panel/press", {"keys": "1; rm -rf /"}, headers=fetch)
    assert r.status_code == 400 and "Keys must be" in r.get_json()["message"]
    r = post(admin, "/panel/finger", {"label": "../x"}, headers=fetch)
    assert r.status_code == 400
    daemon.close()
    r = post(admin, "/panel/exit", headers=fetch)
    assert r.status_code == 503 and "not reachable" in r.get_json()["message"]


def test_panel_exists_only_in_simulation(app: Any, admin: Any) -> None:
    state = app.extensions["kunci"]
    state.config = replace(state.config, simulated=False)
    assert get(admin, "/panel").status_code == 404
    assert post(admin, "/panel/exit").status_code == 404
    assert "Door panel" not in get(admin, "/").get_data(as_text=True)
