"""``kunci lockout clear --reason`` against a running daemon (the daemon's ``lockout.clear`` command): a keypad
locked for an hour after three wrong PINs is ended at once by an admin with a reason, logged as one sealed
``lockout.ended`` naming the account and the reason, and the right PIN opens at once; clearing a keypad that
is not locked out is a clear error that changes nothing. Waits are polls with deadlines."""

from __future__ import annotations

import getpass
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main
from controller.control.client import DaemonError
from tests.controller.daemon_harness import (
    DaemonRunner,
    add_person,
    events,
    fast_config,
    last_event_id,
    prepare_datadir,
    wait_event,
    wait_for,
)

LONG_LOCKOUT = {"lockout_after_failures": 3, "lockout_base_seconds": 3600.0, "lockout_max_seconds": 3600.0}


@pytest.fixture
def runner(mock_factory: Any) -> Iterator[DaemonRunner]:
    base = Path(tempfile.mkdtemp(prefix="kl", dir="/tmp"))  # short: Unix socket paths are limited
    running = DaemonRunner(prepare_datadir(base / "data"), fast_config(pin=LONG_LOCKOUT)).start()
    try:
        yield running
    finally:
        running.stop()
        shutil.rmtree(base, ignore_errors=True)


def kunci(capsys: pytest.CaptureFixture[str], runner: DaemonRunner, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--data", str(runner.datadir.root)])
    out, err = capsys.readouterr()
    return code, out, err


def lock_the_keypad(runner: DaemonRunner) -> int:
    mark = last_event_id(runner.datadir)
    for wrong in ("000001", "000002", "000003"):
        runner.press(wrong + "#")
    wait_event(runner.datadir, "lockout.started", after_id=mark)
    wait_for(lambda: runner.status()["lockout"]["active"], what="the keypad locked out")
    return mark


def test_an_admin_ends_a_long_keypad_lockout_with_a_reason_and_the_right_pin_opens_at_once(
        capsys: pytest.CaptureFixture[str], runner: DaemonRunner) -> None:
    person = add_person(runner.datadir, runner.config)
    lock_the_keypad(runner)
    mark = last_event_id(runner.datadir)
    runner.press(person.pin + "#")
    wait_event(runner.datadir, "access.denied", after_id=mark, reason="locked_out", user=person.code)

    mark = last_event_id(runner.datadir)
    code, out, err = kunci(capsys, runner, "lockout", "clear", "--reason", "the cleaner mistyped")
    assert (code, err) == (0, "") and "keypad lockout ended" in out
    assert runner.status()["lockout"]["active"] is False, "ended before the command returned"
    ended = [e for e in events(runner.datadir, mark) if e["type"] == "lockout.ended"]
    assert len(ended) == 1, "one event, not one from the lockout and another from the command"
    assert ended[0]["actor"] == f"cli:{getpass.getuser()}"
    assert ended[0]["detail"] == {"channel": "keypad", "cleared_by_admin": True, "reason": "the cleaner mistyped"}
    assert ended[0]["seq"] is not None, "sealed by the daemon"
    runner.press(person.pin + "#")
    wait_event(runner.datadir, "access.granted", after_id=mark, user=person.code)


def test_clearing_a_keypad_that_is_not_locked_out_is_a_clear_error(
        capsys: pytest.CaptureFixture[str], runner: DaemonRunner) -> None:
    mark = last_event_id(runner.datadir)
    code, out, err = kunci(capsys, runner, "lockout", "clear", "--reason", "just in case")
    assert code == 1 and out == ""
    assert "keypad is not locked out" in err and len(err.strip().splitlines()) == 1
    code, _, err = kunci(capsys, runner, "lockout", "clear", "--channel", "finger", "--reason", "x")
    assert code == 1 and "finger is not locked out" in err
    assert [e for e in events(runner.datadir, mark) if e["type"] == "lockout.ended"] == []


def test_the_daemon_refuses_a_clear_without_a_reason_or_with_an_unknown_channel(runner: DaemonRunner) -> None:
    lock_the_keypad(runner)
    with pytest.raises(DaemonError, match="reason is required"):
        runner.call("lockout.clear", channel="keypad", reason="  ")
    with pytest.raises(DaemonError, match="channel must be one of: keypad, finger"):
        runner.call("lockout.clear", channel="door", reason="x")
    assert runner.status()["lockout"]["active"] is True


def test_the_cli_requires_a_reason(capsys: pytest.CaptureFixture[str], runner: DaemonRunner) -> None:
    with pytest.raises(SystemExit) as exit_:
        kunci(capsys, runner, "lockout", "clear")
    assert exit_.value.code == 2 and "--reason" in capsys.readouterr().err
