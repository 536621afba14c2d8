"""``kunci user ...`` end to end on a real data directory: the enrolment acceptance checks."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from controller.control import changes
from controller.cli import main

PIN_LINE = re.compile(r"^(U\d{4,})  PIN (\d{6})  \(shown once; give it to the person\)$")
#: Microsecond fields of stored timestamps: six digits that may coincide with a PIN by chance.
MICROSECONDS = re.compile(r"\.\d{6}Z")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path: Path, capsys) -> Path:
    d = tmp_path / "data"
    assert run(capsys, "init", "--data", str(d))[0] == 0
    return d


def add_person(capsys, data: Path, name: str = "A. Staff") -> tuple[str, str]:
    code, out, err = run(capsys, "user", "add", "--name", name, "--agreement-signed", "today", "--data", str(data))
    assert code == 0, err
    match = PIN_LINE.match(out.strip())
    assert match, out
    return match.group(1), match.group(2)


def every_value(db: Path) -> list[object]:
    """Every value of every column of every table."""
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        values: list[object] = []
        for table in tables:
            for row in conn.execute(f'SELECT * FROM "{table}"'):  # names from sqlite_master
                values.extend(row)
    return values


def assert_one_error_line(err: str) -> None:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("kunci: "), err


def test_add_prints_code_and_six_digit_pin_once(capsys, data: Path) -> None:
    code, pin = add_person(capsys, data)
    assert code == "U0001" and len(pin) == 6
    rc, out, _ = run(capsys, "user", "list", "--data", str(data))
    assert rc == 0 and "U0001" in out and pin not in out
    assert "A. Staff" not in out  # names only on request
    rc, out, _ = run(capsys, "user", "show", "U0001", "--data", str(data))
    assert "A. Staff" in out and pin not in out


def test_pin_is_stored_nowhere_in_clear(capsys, data: Path) -> None:
    pins = [add_person(capsys, data, name)[1] for name in ("A. Staff", "B. Staff")]
    _, reset_out, _ = run(capsys, "user", "reset-pin", "U0002", "--data", str(data))
    pins.append(PIN_LINE.match(reset_out.strip()).group(2))
    values = every_value(data / "kunci.db")
    assert values
    for pin in pins:
        for value in values:
            if isinstance(value, bytes):
                assert pin.encode() not in value
            elif value is not None:
                assert pin not in MICROSECONDS.sub("", str(value)), "PIN digits found in the database"
    for path in data.glob("kunci.db*"):  # the file and its WAL, raw
        raw = MICROSECONDS.sub("", path.read_bytes().decode("latin-1"))
        assert all(pin not in raw for pin in pins)


def test_missing_agreement_refused_with_the_reason_and_nothing_stored(capsys, data: Path) -> None:
    rc, out, err = run(capsys, "user", "add", "--name", "A. Staff", "--data", str(data))
    assert rc != 0 and out == ""
    assert_one_error_line(err)
    assert "confidentiality agreement" in err and "site.require_agreement" in err
    with sqlite3.connect(data / "kunci.db") as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM pin_credentials").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (0,)


@pytest.mark.parametrize(
    "argv",
    [
        ["user", "add", "--name", "x\n2025-01-01 GRANT admin", "--agreement-signed", "today"],
        ["user", "add", "--name", "\x1b[2J", "--agreement-signed", "today"],
        ["user", "add", "--name", "n" * 100_000, "--agreement-signed", "today"],
        ["user", "add", "--name", "A", "--agreement-signed", "31/12/2025"],
        ["user", "add", "--name", "A", "--agreement-signed", "today", "--group", "nobody"],
        ["user", "show", "U0099"],
        ["user", "suspend", "'; DROP TABLE users;--"],
    ],
)
def test_errors_are_one_line_and_store_nothing(capsys, data: Path, argv: list[str]) -> None:
    rc, out, err = run(capsys, *argv, "--data", str(data))
    assert rc != 0 and out == ""
    assert_one_error_line(err)
    assert "\x1b" not in err
    with sqlite3.connect(data / "kunci.db") as conn:
        assert conn.execute("SELECT count(*) FROM users").fetchone() == (0,)


def test_status_changes_and_audit_verify_passes(capsys, data: Path) -> None:
    add_person(capsys, data)
    add_person(capsys, data, "B. Staff")
    for action in ("suspend", "resume", "revoke"):
        rc, out, err = run(capsys, "user", action, "U0001", "--data", str(data))
        assert rc == 0, err
    rc, out, err = run(capsys, "user", "resume", "U0001", "--data", str(data))
    assert rc == 1 and "revoked" in err
    assert_one_error_line(err)
    add_person(capsys, data, "C. Staff")
    rc, out, _ = run(capsys, "user", "list", "--status", "revoked", "--format", "json", "--data", str(data))
    assert [u["code"] for u in json.loads(out)] == ["U0001"]
    rc, out, _ = run(capsys, "user", "list", "--search", "c. st", "--with-names", "--data", str(data))
    assert "U0003" in out and "C. Staff" in out and "U0001" not in out
    rc, out, err = run(capsys, "audit", "verify", "--data", str(data))
    assert rc == 0, out + err
    assert "audit chain OK: 6 events" in out and "waiting" not in out  # everything sealed
    with sqlite3.connect(data / "kunci.db") as conn:
        rows = conn.execute("SELECT type, user_code, actor, detail FROM events ORDER BY seq").fetchall()
    assert [r[0] for r in rows] == [
        "admin.user_added", "admin.user_added", "admin.user_suspended", "admin.user_resumed",
        "admin.user_revoked", "admin.user_added",
    ]
    assert all(r[2] == changes.local_account() and r[2].startswith("cli:") for r in rows)
    assert not any("Staff" in (r[3] or "") for r in rows)


def test_real_subprocess(tmp_path: Path) -> None:
    kunci = Path(sys.executable).with_name("kunci")
    if not kunci.exists():
        pytest.skip("the kunci console script is not installed in this environment")
    d = str(tmp_path / "data")

    def sh(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(kunci), *argv, "--data", d], capture_output=True, text=True, timeout=60)

    assert sh("init").returncode == 0
    added = sh("user", "add", "--name", "A. Staff", "--agreement-signed", "today")
    assert added.returncode == 0, added.stderr
    assert PIN_LINE.match(added.stdout.strip())
    refused = sh("user", "add", "--name", "B. Staff")
    assert refused.returncode == 1 and refused.stdout == ""
    assert refused.stderr.strip().count("\n") == 0 and "site.require_agreement" in refused.stderr
    assert "Traceback" not in refused.stderr
    listed = sh("user", "list")
    assert "U0001" in listed.stdout
    verified = sh("audit", "verify")
    assert verified.returncode == 0 and "audit chain OK" in verified.stdout
