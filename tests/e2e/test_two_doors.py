"""Two doors on one controller, driven as a user does (issue 16): ``kunci demo --doors 2`` running, a PIN typed
at each door's simulated keypad (``kunci sim --door vault press``), ``kunci status --json`` showing both doors,
the log naming the door of every decision, and the chain verifying after Ctrl-C."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.product import USER_ADDED, Demo, kunci, log_events, wait_until

pytestmark = pytest.mark.e2e


def decisions(data: Path, code: str) -> list[dict]:
    return [e for e in log_events(data) if e["type"] in ("access.granted", "access.denied") and e["user"] == code]


def test_two_doors_each_decide_and_log_their_own_name(tmp_path: Path) -> None:
    data = tmp_path / "kunci-demo"
    demo = Demo.start(data, tmp_path / "demo.out", "--doors", "2")
    try:
        assert "sim --door vault press" in demo.text  # the banner says how to reach the second door
        status = json.loads(kunci(data, "status", "--json").stdout)
        assert [d["name"] for d in status["doors"]] == ["main", "vault"]
        assert all(d["state"] == "locked" and d["relay"] is False for d in status["doors"])
        assert status["door_name"] == "main" and status["door"] == "locked"  # the top level is the first door

        kunci(data, "sim", "--door", "vault", "press", demo.pin + "#")
        wait_until(lambda: [e for e in decisions(data, demo.person) if e["door"] == "vault"],
                   what="the PIN decided at door vault")
        kunci(data, "sim", "press", demo.pin + "#")
        wait_until(lambda: [e for e in decisions(data, demo.person) if e["door"] == "main"],
                   what="the PIN decided at door main")
        made = decisions(data, demo.person)
        assert [(e["type"], e["door"]) for e in made] == [("access.granted", "vault"), ("access.granted", "main")]

        text = kunci(data, "status").stdout
        assert "door main:" in text and "door vault:" in text  # a block per door with more than one

        unknown = kunci(data, "sim", "--door", "cellar", "press", "1#", check=False)
        assert unknown.returncode != 0 and "no door named cellar" in unknown.stderr

        # A group restricted to the vault: its member is refused at main as door_not_allowed.
        kunci(data, "group", "add", "vault-staff")
        kunci(data, "group", "doors", "vault-staff", "--door", "vault")
        added = USER_ADDED.search(kunci(data, "user", "add", "--name", "Vera Vault", "--agreement-signed", "today",
                                        "--group", "vault-staff").stdout)
        assert added, "kunci user add printed no code and PIN"
        code, pin = added.groups()
        kunci(data, "sim", "press", pin + "#")
        wait_until(lambda: [e for e in decisions(data, code) if e["type"] == "access.denied"],
                   what="the vault-only person refused at main")
        kunci(data, "sim", "--door", "vault", "press", pin + "#")
        wait_until(lambda: [e for e in decisions(data, code) if e["type"] == "access.granted"],
                   what="the vault-only person let in at the vault")
        assert [(e["type"], e["door"], e["reason"]) for e in decisions(data, code)] == [
            ("access.denied", "main", "door_not_allowed"), ("access.granted", "vault", None)]

        # A lockdown of one door refuses there only; without --door it is every door's.
        assert "lockdown ON" in kunci(data, "lockdown", "on", "--reason", "audit", "--door", "vault").stdout
        doors = {d["name"]: d for d in json.loads(kunci(data, "status", "--json").stdout)["doors"]}
        assert (doors["main"]["lockdown"], doors["vault"]["lockdown"]) == (False, True)
        kunci(data, "lockdown", "off", "--reason", "audit done", "--door", "vault")
        kunci(data, "lockdown", "on", "--reason", "drill")
        doors = json.loads(kunci(data, "status", "--json").stdout)["doors"]
        assert [d["lockdown"] for d in doors] == [True, True]
        kunci(data, "lockdown", "off", "--reason", "drill over")
        assert "vault" in kunci(data, "door", "mode", "finger", "--door", "vault").stdout
        doors = json.loads(kunci(data, "status", "--json").stdout)["doors"]
        assert [d["mode"] for d in doors] == ["pin_or_finger", "finger"]
        assert demo.stop() == 0, demo.text
    finally:
        if demo.proc.poll() is None:
            demo.kill()

    events = log_events(data)
    assert {e["door"] for e in events if e["type"].startswith("door.") or e["type"] == "access.granted"} <= {
        "main", "vault"}
    assert kunci(data, "audit", "verify").returncode == 0
