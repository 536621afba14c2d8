"""Bulk import of people (``user.import``, controller/store/people_import.py; ``kunci user import``):
every bad line reported with its number, all or nothing, one sealed ``admin.user_added`` per person,
PINs only in a new 0600 file, and through the real daemon the imported PINs open the door."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
from sqlalchemy import func, select

from controller.cli import main
from controller.control import changes, server
from controller.control.client import DaemonError
from controller.paths import DataDir
from controller.store import models, people_import
from tests.controller.daemon_harness import events, matching, open_session, wait_event

HEADER = "name,group,valid_from,valid_until,agreement_signed_on\n"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path: Path, capsys) -> Path:
    d = tmp_path / "data"
    assert run(capsys, "init", "--data", str(d))[0] == 0
    return d


def counts(db: Path) -> tuple[int, int, int]:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return tuple(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # type: ignore[return-value]
                     for t in ("users", "pin_credentials", "events"))


def write(tmp_path: Path, text: str, name: str = "people.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


BAD_FILE = (HEADER
            + "Good One,,,,2026-01-02\n"            # 2: fine
            + "Bad Date,,2026-02-30,,2026-01-02\n"  # 3: no such day
            + "No Group,Night Shift,,,2026-01-02\n"  # 4: unknown group
            + "No Agreement,,,,\n"                  # 5: agreement required
            + "Ctl\x1bName,,,,2026-01-02\n"         # 6: control character
            + "Wrong,Order,,2026-03-01,2026-01-01,2026-01-02\n"  # 7: too many cells
            + "Backwards,,2026-03-01,2026-01-01,2026-01-02\n"    # 8: from after until
            + "Slashes,,,,02/01/2026\n")            # 9: not YYYY-MM-DD


def test_dry_run_reports_every_bad_line_with_its_number_and_changes_nothing(capsys, data, tmp_path):
    before = counts(data / "kunci.db")
    rc, out, _ = run(capsys, "user", "import", str(write(tmp_path, BAD_FILE)), "--dry-run", "--data", str(data))
    assert rc == 2
    lines = [line for line in out.splitlines() if line.startswith("line ")]
    assert [int(line.split()[1].rstrip(":")) for line in lines] == [3, 4, 5, 6, 7, 8, 9]
    assert "not a real date" in lines[0] and "Night Shift" in lines[1] and "agreement" in lines[2]
    assert "control character" in lines[3] and "cells" in lines[4] and "valid-from" in lines[5]
    assert "7 bad line(s)" in out
    assert counts(data / "kunci.db") == before


def test_dry_run_refuses_a_duplicate_or_unknown_header_column(capsys, data, tmp_path):
    text = "name,group,Name,colour\nA,,,\n"
    rc, out, _ = run(capsys, "user", "import", str(write(tmp_path, text)), "--dry-run", "--data", str(data))
    assert rc == 2 and "line 1: column name appears twice" in out and "line 1: unknown column 'colour'" in out


def test_a_good_dry_run_counts_the_people(capsys, data, tmp_path):
    text = HEADER + "A,,,,2026-01-02\n\nB,,,,2026-01-02\n"
    rc, out, _ = run(capsys, "user", "import", str(write(tmp_path, text)), "--dry-run", "--data", str(data))
    assert rc == 0 and "2 people would be added" in out
    assert counts(data / "kunci.db")[0] == 0


def test_a_file_with_one_bad_line_imports_nothing(capsys, data, tmp_path):
    before = counts(data / "kunci.db")
    pins = tmp_path / "pins.csv"
    rc, out, err = run(capsys, "user", "import", str(write(tmp_path, BAD_FILE)), "--pins-out", str(pins),
                       "--data", str(data))
    assert rc == 2 and "line 3:" in out and "nothing was imported" in err
    assert counts(data / "kunci.db") == before and not pins.exists()


def test_the_operation_itself_refuses_the_whole_file_for_one_bad_row(data):
    rows, problems = people_import.parse_csv(HEADER + "A,,,,2026-01-02\nB,,,,2026-13-01\n")
    assert not problems
    with pytest.raises(Exception, match="line 3"):
        changes.apply(DataDir(data), "user.import", {"rows": rows})
    assert counts(data / "kunci.db") == (0, 0, 0)


def test_a_good_file_adds_everyone_with_one_sealed_event_each_and_pins_only_in_the_0600_file(capsys, data,
                                                                                              tmp_path):
    text = HEADER + "".join(f"Person {i},,2026-01-01,2030-12-31,2026-01-02\n" for i in range(25))
    pins = tmp_path / "pins.csv"
    rc, out, err = run(capsys, "user", "import", str(write(tmp_path, text)), "--pins-out", str(pins),
                       "--data", str(data))
    assert rc == 0, err
    assert "imported 25 people" in out and "kept" in out  # stdin is not a terminal under pytest
    assert stat.S_IMODE(pins.stat().st_mode) == 0o600
    lines = pins.read_text().splitlines()
    assert lines[0] == "code,name,pin" and len(lines) == 26
    codes = [line.split(",")[0] for line in lines[1:]]
    assert codes == [f"U{n:04d}" for n in range(1, 26)]
    assert [line.split(",")[1] for line in lines[1:]] == [f"Person {i}" for i in range(25)]
    for line in lines[1:]:
        assert line.split(",")[2] not in out + err
    with open_session(DataDir(data)) as session:
        added = list(session.scalars(select(models.Event).where(models.Event.type == "admin.user_added")))
        assert sorted(e.user_code for e in added) == codes
        assert all(e.seq is not None and e.mac is not None for e in added)
        assert len({json.loads(e.detail)["import"] for e in added}) == 1
        assert session.scalar(select(func.count()).select_from(models.PinCredential)) == 25
        session.bind.dispose()
    rc, out, _ = run(capsys, "audit", "verify", "--data", str(data))
    assert rc == 0 and "OK" in out


def test_an_existing_pin_file_is_refused_before_anything_is_imported(capsys, data, tmp_path):
    pins = write(tmp_path, "keep me\n", "pins.csv")
    rc, _, err = run(capsys, "user", "import", str(write(tmp_path, HEADER + "A,,,,2026-01-02\n")),
                     "--pins-out", str(pins), "--data", str(data))
    assert rc == 2 and "already exists" in err
    assert pins.read_text() == "keep me\n" and counts(data / "kunci.db")[0] == 0
    rc, _, err = run(capsys, "user", "import", str(tmp_path / "people.csv"), "--data", str(data))
    assert rc == 2 and "--pins-out" in err


def test_yes_delete_pins_deletes_the_file(capsys, data, tmp_path):
    pins = tmp_path / "pins.csv"
    rc, out, _ = run(capsys, "user", "import", str(write(tmp_path, HEADER + "A,,,,2026-01-02\n")),
                     "--pins-out", str(pins), "--yes-delete-pins", "--data", str(data))
    assert rc == 0 and "deleted" in out and not pins.exists()
    assert counts(data / "kunci.db")[:2] == (1, 1)


def test_through_the_daemon_a_large_import_is_one_change_and_its_pins_open_the_door(start_daemon,
                                                                                    daemon_datadir):
    daemon = start_daemon()
    long_name = "N" * 100
    rows, problems = people_import.parse_csv(
        HEADER + "".join(f"{long_name} {i},,,,2020-01-02\n" for i in range(700)))
    assert not problems and len(json.dumps(rows)) > server.MAX_REQUEST_BYTES  # only this op may be this large
    result = changes.apply(daemon_datadir, "user.import", {"rows": rows})
    assert len(result["codes"]) == len(result["pins"]) == 700
    added = matching(events(daemon_datadir), "admin.user_added")
    assert len(added) == 700 and all(e["seq"] is not None for e in added)
    daemon.press(result["pins"][-1] + "#")
    granted = wait_event(daemon_datadir, "access.granted", after_id=added[-1]["id"])
    assert granted["user"] == result["codes"][-1]

    bad = [*rows[:3], [99, "x", "No Such Group", None, None, "2020-01-02"]]
    with pytest.raises(DaemonError, match="line 99"):
        changes.apply(daemon_datadir, "user.import", {"rows": bad})
    assert len(matching(events(daemon_datadir), "admin.user_added")) == 700


def test_other_requests_keep_the_64_kib_limit(start_daemon, daemon_datadir):
    start_daemon()
    request = json.dumps({"cmd": "admin", "op": "user.add", "params": {"name": "x" * server.MAX_REQUEST_BYTES}})
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(30)
        sock.connect(str(daemon_datadir.socket_path))
        try:
            sock.sendall(request.encode() + b"\n")
        except OSError:
            pass  # the server may close before reading it all
        reply = sock.makefile("rb").readline()
    assert b"request too large" in reply
