"""``kunci visitor add`` against a running ``kunci demo`` (the real daemon), as processes: the printed PIN
opens the door (``kunci sim press``), the log has a sealed ``admin.visitor_added``, and ``kunci visitor list``
shows the visitor apart from staff (``kunci user list`` shows staff only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.product import Demo, add_person, kunci, log_events, pin_grants, wait_until

pytestmark = pytest.mark.e2e


def test_a_visitor_pin_printed_once_opens_the_door(tmp_path: Path) -> None:
    data = tmp_path / "kunci-demo"
    demo = Demo.start(data, tmp_path / "demo.out")
    try:
        staff_code, _ = add_person(data, "Ann Archivist")
        out = kunci(data, "visitor", "add", "--name", "Vic Visitor", "--hours", "4").stdout
        found = re.search(r"^(U\d{4,})  until (\d{4}-\d\d-\d\d \d\d:\d\d)", out, re.MULTILINE)
        assert found, out
        code = found.group(1)
        pin = re.search(r"^PIN (\d+)  \(shown once", out, re.MULTILINE)
        assert pin, out
        kunci(data, "sim", "press", pin.group(1) + "#")
        wait_until(lambda: pin_grants(log_events(data), code), what="a grant for the visitor's PIN")

        visitors = kunci(data, "visitor", "list").stdout
        assert code in visitors and "current" in visitors and pin.group(1) not in visitors
        staff = kunci(data, "user", "list").stdout
        assert staff_code in staff and code not in staff
        assert demo.stop() == 0, demo.text
    finally:
        if demo.proc.poll() is None:
            demo.kill()
    added, = [e for e in log_events(data) if e["type"] == "admin.visitor_added"]
    assert added["user"] == code and added["seq"] is not None
    assert added["detail"] == {"hours": 4, "escort_group": None}
