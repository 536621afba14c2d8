"""The door's mode and a lockdown, driven as an admin does: ``kunci demo`` running, ``kunci lockdown``,
``kunci door mode``, ``kunci sim press`` and ``kunci status`` as separate processes; after Ctrl-C the log
says who changed what and why, and the chain verifies (issue 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.product import Demo, kunci, log_events, wait_until

pytestmark = pytest.mark.e2e


def refusals(data: Path, reason: str) -> list[dict]:
    return [e for e in log_events(data) if e["type"] == "access.denied" and e["reason"] == reason]


def test_lockdown_and_door_mode_from_the_cli_take_effect_at_once_and_are_logged(tmp_path: Path) -> None:
    data = tmp_path / "kunci-demo"
    demo = Demo.start(data, tmp_path / "demo.out")
    try:
        # A lockdown without a reason is refused and changes nothing.
        bad = kunci(data, "lockdown", "on", "--reason", "  ", check=False)
        assert bad.returncode != 0 and "reason is required" in bad.stderr
        assert json.loads(kunci(data, "status", "--json").stdout)["lockdown"] is False

        out = kunci(data, "lockdown", "on", "--reason", "fire drill").stdout
        assert "lockdown ON" in out
        status = json.loads(kunci(data, "status", "--json").stdout)
        assert (status["lockdown"], status["entry_blocked"]) == (True, "lockdown")
        kunci(data, "sim", "press", demo.pin + "#")
        wait_until(lambda: refusals(data, "lockdown"), what="the PIN refused as lockdown")
        assert "already on" in kunci(data, "lockdown", "on", "--reason", "again").stdout

        kunci(data, "lockdown", "off", "--reason", "drill over")
        kunci(data, "sim", "press", demo.pin + "#")
        wait_until(lambda: [e for e in log_events(data) if e["type"] == "access.granted"], what="a grant after it")

        assert "fingerprint only" in kunci(data, "door", "mode", "finger").stdout
        assert json.loads(kunci(data, "status", "--json").stdout)["mode"] == "finger"
        kunci(data, "sim", "press", demo.pin + "#")
        wait_until(lambda: refusals(data, "method_not_allowed"), what="a PIN refused by the finger-only mode")
        bad_mode = kunci(data, "door", "mode", "open", check=False)
        assert bad_mode.returncode == 2 and "invalid choice" in bad_mode.stderr
        kunci(data, "door", "mode", "pin_or_finger")
        assert demo.stop() == 0, demo.text
    finally:
        if demo.proc.poll() is None:
            demo.kill()

    events = log_events(data)
    started = [e for e in events if e["type"] == "lockdown.started"]
    ended = [e for e in events if e["type"] == "lockdown.ended"]
    assert [e["detail"]["reason"] for e in started] == ["fire drill"]
    assert [e["detail"]["reason"] for e in ended] == ["drill over"]
    assert all(e["actor"].startswith("cli:") for e in started + ended)
    modes = [(e["detail"]["from"], e["detail"]["to"]) for e in events if e["type"] == "admin.door_mode_changed"]
    assert modes == [("pin_or_finger", "finger"), ("finger", "pin_or_finger")]
    verify = kunci(data, "audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
