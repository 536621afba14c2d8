"""The access review as an admin runs it: ``kunci demo`` running, ``kunci review`` and ``kunci review
--sign-off`` as separate processes; the log shows the sealed sign-off with its actor and the chain verifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.product import Demo, kunci, log_events

pytestmark = pytest.mark.e2e


def test_review_and_sign_off_from_the_cli_are_sealed_in_the_log(tmp_path: Path) -> None:
    data = tmp_path / "kunci-demo"
    demo = Demo.start(data, tmp_path / "demo.out")
    try:
        table = kunci(data, "review").stdout
        assert "Credentials unused for 90 days or more" in table and "Still active after" in table
        listed = json.loads(kunci(data, "review", "--format", "json").stdout)
        assert set(listed) >= {"dormant", "old_agreements", "expired", "today"}
        refused = kunci(data, "review", "--sign-off", check=False)
        assert refused.returncode != 0 and "--note" in refused.stderr
        out = kunci(data, "review", "--sign-off", "--note", "demo review").stdout
        assert "review signed off" in out
        assert demo.stop() == 0, demo.text
    finally:
        if demo.proc.poll() is None:
            demo.kill()

    signed, = [e for e in log_events(data) if e["type"] == "admin.review_signed_off"]
    assert signed["actor"].startswith("cli:") and signed["seq"] is not None
    assert signed["detail"]["note"] == "demo review"
    assert signed["detail"]["expired_active"] == len(listed["expired"])
    verify = kunci(data, "audit", "verify", check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
