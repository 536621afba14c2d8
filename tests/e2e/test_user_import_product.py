"""``kunci user import`` against a running ``kunci demo`` (the real daemon), as processes: the PINs
written to the PIN file open the door (``kunci sim press``), and the log has one sealed event per person."""

from __future__ import annotations

import csv
import stat
from pathlib import Path

import pytest

from tests.e2e.product import Demo, kunci, log_events, pin_grants, wait_until

pytestmark = pytest.mark.e2e

HEADER = "name,group,valid_from,valid_until,agreement_signed_on\n"


def test_imported_pins_open_the_door(tmp_path: Path) -> None:
    data = tmp_path / "kunci-demo"
    people = tmp_path / "people.csv"
    people.write_text(HEADER + "Ann Archivist,,,,2026-01-02\nBen Binder,,2026-01-01,,2026-01-03\n")
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "Cy,,,,2026-01-02\nDee,,2026-02-30,,2026-01-02\n")
    pins_out = tmp_path / "pins.csv"
    demo = Demo.start(data, tmp_path / "demo.out")
    try:
        refused = kunci(data, "user", "import", str(bad), "--pins-out", str(tmp_path / "no.csv"), check=False)
        assert refused.returncode == 2 and "line 3" in refused.stdout + refused.stderr
        assert not (tmp_path / "no.csv").exists()

        out = kunci(data, "user", "import", str(people), "--pins-out", str(pins_out)).stdout
        assert "imported 2 people" in out and "kept" in out  # no terminal: the file is kept
        assert stat.S_IMODE(pins_out.stat().st_mode) == 0o600
        rows = list(csv.DictReader(pins_out.open()))
        assert [r["name"] for r in rows] == ["Ann Archivist", "Ben Binder"]
        for row in rows:
            assert row["pin"] not in out
        code, pin = rows[1]["code"], rows[1]["pin"]
        kunci(data, "sim", "press", pin + "#")
        wait_until(lambda: pin_grants(log_events(data), code), what="a grant for the imported PIN")
        assert demo.stop() == 0, demo.text
    finally:
        if demo.proc.poll() is None:
            demo.kill()
    added = [e for e in log_events(data) if e["type"] == "admin.user_added" and "import" in (e.get("detail") or {})]
    assert sorted(e["user"] for e in added) == sorted(r["code"] for r in rows)
    assert len({e["detail"]["import"] for e in added}) == 1
