"""The benchmark suite runs end to end (``python -m benchmarks --smoke``) and W8 behaves.

No time thresholds: timings are facts for docs/performance.md, not test verdicts (DESIGN §8).
This checks that every workload produced figures through the production code and that the
lockout workload (W8) saw: wrong PINs denied, lockout started, the right PIN refused while
locked out with the relay off, and accepted after the lockout ended.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9")


@pytest.mark.slow
def test_smoke_run_produces_every_workload(tmp_path: Path) -> None:
    out = tmp_path / "smoke.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO), GPIOZERO_PIN_FACTORY="mock")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out), "--workdir", str(tmp_path / "data")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=170,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_workload = {line["workload"]: line for line in lines}
    assert sorted(by_workload) == sorted(WORKLOADS)
    for name, line in by_workload.items():
        assert line["error"] is None, (name, line["error"])
        assert line["runs"] >= 1 and line["median"] is not None, name
        assert line["git"]["commit"] and line["machine"]["cpu_count"], name
        for metric, summary in line["metrics"].items():
            assert summary["runs"] >= 1, (name, metric)
    w1 = by_workload["W1"]["metrics"]
    for metric in ("hit.key_to_relay", "hit.edge_to_relay", "hit.key_to_commit", "miss.key_to_commit"):
        assert w1[metric]["runs"] >= 1, metric
    assert {"people_list", "log_newest"} <= set(by_workload["W5"]["metrics"])
    assert {"user_last_50", "denied_24h", "deep_page", "rows_per_s"} <= set(by_workload["W6"]["metrics"])
    w8 = by_workload["W8"]["values"]
    assert w8["passed"] is True
    for check in w8["checks"]:
        assert check["right_refused_locked_out"] and check["relay_stayed_off"], check
        assert check["lockout_started"] and check["lockout_ended"] and check["right_accepted_after"], check
    assert "W8 lockout correctness N=10: PASS" in proc.stdout
