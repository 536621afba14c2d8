"""The log's head off the device, as an auditor uses it (issue 14 item 5): heads collected while ``kunci demo``
runs (here read from ``kunci log --format json`` and ``kunci audit head``, in the formats MQTT, webhooks and
e-mail deliver them), then ``kunci audit verify --anchor-from heads.txt`` on the stopped door: OK; after the
newest events and the anchor file were deleted behind the daemon's back, the collected heads alone name the
truncation; a line that is no head is refused with its line number and nothing is verified."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from tests.e2e.product import Demo, kunci, log_events, pin_grants, wait_until

pytestmark = pytest.mark.e2e

HEAD = re.compile(r"^head seq=(\d+) mac=([0-9a-f]{64})$")


def export_anchor(data: Path) -> tuple[int, str]:
    """The head in the first line of ``kunci log --format json`` (every export starts with it)."""
    first = kunci(data, "log", "--format", "json").stdout.splitlines()[0]
    anchor = json.loads(first)["anchor"]
    return int(anchor["seq"]), str(anchor["mac"])


def test_collected_heads_prove_the_log_was_not_truncated(tmp_path: Path) -> None:
    data = tmp_path / "kunci-demo"
    demo = Demo.start(data, tmp_path / "demo.out")
    lines = ["# heads collected off the door"]
    try:
        for grant in range(1, 4):
            kunci(data, "sim", "press", demo.pin + "#")
            wait_until(lambda grant=grant: len(pin_grants(log_events(data), demo.person)) >= grant,
                       what=f"{grant} PIN grants in kunci log")
            seq, mac = export_anchor(data)
            alarm = {"id": grant, "kind": "alarm", "type": "door.forced", "seq": seq, "head": {"seq": seq, "mac": mac}}
            lines.append(f"kunci/main/alarm {json.dumps(alarm)}")
            lines.append(json.dumps({"id": grant, "kind": "heartbeat", "head": {"seq": seq, "mac": mac}}))
            lines.append(f"Log head: seq={seq} mac={mac}")
            lines.append('kunci/main/state {"door": "main", "locked": true, "head": null}')
        by_hand = HEAD.match(kunci(data, "audit", "head").stdout.strip())
        assert by_hand, "kunci audit head printed no head"
        lines.append(by_hand.group(0))
        assert demo.stop() == 0, demo.text
    finally:
        if demo.proc.poll() is None:
            demo.kill()
    newest = max(int(m.group(1)) for m in map(re.compile(r"seq=(\d+)").search, lines[1:]) if m)
    heads = tmp_path / "heads.txt"
    heads.write_text("\n".join(lines) + "\n")

    ok = kunci(data, "audit", "verify", "--anchor-from", str(heads), check=False)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "3 messages without a head skipped" in ok.stdout
    assert f"the log holds every event up to seq {newest} that was published off the device" in ok.stdout

    garbage = tmp_path / "garbage.txt"
    garbage.write_text(heads.read_text() + "forwarded by the auditor's phone\n")
    refused = kunci(data, "audit", "verify", "--anchor-from", str(garbage), check=False)
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert f"{garbage} line {len(lines) + 1}: holds no anchor head" in refused.stderr
    assert "OK" not in refused.stdout

    # Cut the log behind the stopped daemon's back: its newest events, and the anchor file that would tell.
    with sqlite3.connect(data / "kunci.db") as conn:
        conn.execute("DELETE FROM events WHERE seq >= ?", (newest,))
    conn.close()
    for name in ("heads", "heads.1"):
        (data / "anchor" / name).unlink(missing_ok=True)
    cut = kunci(data, "audit", "verify", "--anchor-from", str(heads), check=False)
    assert cut.returncode == 1, cut.stdout + cut.stderr
    assert (f"truncated: the log ends at seq {newest - 1} but a head published at seq {newest} exists"
            in cut.stdout), cut.stdout
