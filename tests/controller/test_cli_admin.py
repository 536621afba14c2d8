"""``kunci admin add|list``: password from stdin or a double prompt, rules enforced, one-line errors."""

from __future__ import annotations

import io
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from controller.cli import main

GOOD = "violet-harbour-ninety"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def data(tmp_path: Path, capsys) -> Path:
    d = tmp_path / "data"
    assert run(capsys, "init", "--data", str(d))[0] == 0
    return d


def accounts(data: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(data / "kunci.db") as conn:
        return conn.execute("SELECT username, role, password_hash FROM admin_accounts").fetchall()


def test_add_with_password_stdin_then_list(capsys, data: Path, monkeypatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(GOOD + "\n"))
    rc, out, err = run(capsys, "admin", "add", "alice", "--role", "admin", "--password-stdin", "--data", str(data))
    assert rc == 0, err
    [(username, role, hashed)] = accounts(data)
    assert (username, role) == ("alice", "admin") and hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4")
    rc, out, _ = run(capsys, "admin", "list", "--data", str(data))
    assert "alice" in out and "admin" in out and "argon2" not in out
    rc, out, _ = run(capsys, "audit", "verify", "--data", str(data))
    assert rc == 0 and "1 event," in out


def test_prompt_asks_twice(capsys, data: Path, monkeypatch) -> None:
    answers = iter([GOOD, GOOD])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    rc, _, err = run(capsys, "admin", "add", "bob", "--role", "auditor", "--data", str(data))
    assert rc == 0, err
    assert accounts(data)[0][:2] == ("bob", "auditor")


def test_prompt_mismatch_refused(capsys, data: Path, monkeypatch) -> None:
    answers = iter([GOOD, GOOD + "!"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    rc, out, err = run(capsys, "admin", "add", "bob", "--role", "admin", "--data", str(data))
    assert rc == 2 and "differ" in err and accounts(data) == []


@pytest.mark.parametrize(
    "username, password, message",
    [
        ("alice", "short", "at least 12"),
        ("alice", "password1234", "common"),
        ("alice", "alice-is-the-best", "username"),
        ("Alice Smith", GOOD, "username must be"),
    ],
)
def test_rules_enforced_with_one_line_error(capsys, data: Path, monkeypatch, username, password, message) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
    rc, out, err = run(capsys, "admin", "add", username, "--role", "admin", "--password-stdin", "--data", str(data))
    assert rc == 2 and out == ""
    assert message in err and password not in err and err.count("\n") == 1 and "Traceback" not in err
    assert accounts(data) == []


def test_list_without_accounts_says_how_to_create_one(capsys, data: Path) -> None:
    rc, out, _ = run(capsys, "admin", "list", "--data", str(data))
    assert rc == 0 and "kunci admin add" in out


def _kunci_without_terminal(argv: list[str], stdin: str) -> subprocess.CompletedProcess[str]:
    """``kunci ARGV`` in a new session (no controlling terminal, so no /dev/tty) with stdin
    ``"devnull"`` (</dev/null) or ``"closed"`` (<&-), as under systemd, cron or ``ssh`` without ``-t``."""
    return subprocess.run(
        [sys.executable, "-m", "controller", *argv],
        stdin=subprocess.DEVNULL if stdin == "devnull" else None,
        preexec_fn=(lambda: os.close(0)) if stdin == "closed" else None,
        start_new_session=True, capture_output=True, text=True, timeout=60, check=False,
    )


@pytest.mark.parametrize("stdin", ["devnull", "closed"])
@pytest.mark.parametrize(
    "extra, message",
    [([], "cannot ask for the password: there is no terminal"), (["--password-stdin"], "no password on standard input")],
    ids=["prompt", "password-stdin"],
)
def test_add_without_a_terminal_or_stdin_is_a_one_line_error(data: Path, stdin: str, extra: list[str],
                                                             message: str) -> None:
    r = _kunci_without_terminal(["admin", "add", "bob", "--role", "admin", *extra, "--data", str(data)], stdin)
    assert r.returncode == 2, r.stderr
    assert message in r.stderr and "Traceback" not in r.stderr and r.stderr.count("\n") == 1
    assert "Password for bob" not in r.stderr + r.stdout  # nothing was asked where nobody can answer
    assert accounts(data) == []
