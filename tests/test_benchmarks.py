"""The benchmark suite runs end to end (``python -m benchmarks --smoke``) and W8 behaves.

No time thresholds: timings are facts for docs/performance.md, not test verdicts (docs/performance.md).
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

from tests.pg_server import postgres_bin_dir  # W13 runs only where PostgreSQL is installed

REPO = Path(__file__).resolve().parent.parent
WORKLOADS = ("FLOOR", "W1", "W2", "W3", "W4", "W5", "W6", "W7", "W8", "W9", "W10", "W11", "W12") + (
    ("W13",) if postgres_bin_dir() is not None else ())


@pytest.mark.slow(seconds=70)
@pytest.mark.timeout(900)  # the smoke run's own deadline is 400 s; seeding and 12 workloads on a loaded box
def test_smoke_run_produces_every_workload(tmp_path: Path) -> None:
    out = tmp_path / "smoke.jsonl"
    env = dict(os.environ, PYTHONPATH=str(REPO), GPIOZERO_PIN_FACTORY="mock")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--out", str(out), "--workdir", str(tmp_path / "data")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=400,
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
    # the floor is measured in the same run, and the decision figures are reported above it
    assert {"fsync", "commit"} <= set(by_workload["FLOOR"]["metrics"])
    for workload, metric in (("W1", "hit.key_to_relay"), ("W9", "matched_to_relay")):
        over = by_workload[workload]["metrics"][f"{metric}.overhead"]
        assert over["floor_median"] == by_workload["FLOOR"]["metrics"]["commit"]["median"], workload
        assert metric in by_workload[workload]["values"]["overhead_targets"], workload
    # W2 ran with and without the spinners and says how many decisions completed
    w2 = by_workload["W2"]
    assert {"throughput", "loaded.throughput"} <= set(w2["metrics"])
    assert w2["values"]["decisions_completed"] >= 1 and w2["values"]["loaded.decisions_completed"] >= 1
    # W12 timed decisions with no alert destination and with one that hangs (it held a connection)
    w12 = by_workload["W12"]
    assert {"plain.key_to_relay", "hanging.key_to_relay"} <= set(w12["metrics"])
    assert w12["values"]["connections_held"] >= 1 and w12["values"]["median_ratio_hanging_over_plain"] > 0
    # W10 timed every read command as a fresh process on both data directories
    for size in ("demo", "large"):
        for command in ("log", "user_list", "audit_verify", "doctor", "status"):
            assert by_workload["W10"]["metrics"][f"{size}.{command}"]["runs"] >= 1, (size, command)
    assert not by_workload["W10"]["values"].get("failures"), by_workload["W10"]["values"]["failures"]
    # W13 ran a small site (3 controllers, real kunci run daemons, a real PostgreSQL): every controller held
    # every person, each revocation reached all of them, every event backlog arrived
    if "W13" in by_workload:
        w13 = by_workload["W13"]
        assert w13["metrics"]["revocation_fanout"]["runs"] >= 1
        assert w13["metrics"]["revocation_per_controller"]["runs"] == 3 * w13["metrics"]["revocation_fanout"]["runs"]
        assert w13["values"]["people_held_min"] == w13["values"]["people"] == 10
        assert w13["values"]["upload_events"] >= 3 * w13["values"]["events_per_controller"]
        assert w13["values"]["bulk_payload_same_as_service"] is True
    w8 = by_workload["W8"]["values"]
    assert w8["passed"] is True
    for check in w8["checks"]:
        assert check["right_refused_locked_out"] and check["relay_stayed_off"], check
        assert check["lockout_started"] and check["lockout_ended"] and check["right_accepted_after"], check
    assert "W8 lockout correctness N=10: PASS" in proc.stdout


@pytest.mark.parametrize("bound_scan", [3, 20_000])
def test_since_bound_never_changes_results(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, bound_scan: int) -> None:
    """The performance bound added to ``since`` queries (eventlog._since_id_bound) is exact.

    Times are deliberately out of id order (a clock stepped back), windows are narrow, wide and
    empty, and the scan limit is tiny (3: the "window too big, no bound" branch) or the default.
    """
    import random as _random
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import insert

    from controller.store import db, eventlog
    from controller.store.models import Event
    from controller.timefmt import iso_utc

    monkeypatch.setattr(eventlog, "SINCE_BOUND_SCAN", bound_scan)
    url = f"sqlite:///{tmp_path / 'k.db'}"
    db.upgrade_database(url)
    engine = db.make_engine(url)
    rng = _random.Random(3)
    t0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
    rows = []
    for i in range(400):
        minutes = i if i % 50 else i - 120  # every 50th event is stamped two hours early
        rows.append({"time": iso_utc(t0 + timedelta(minutes=minutes)), "door": "main",
                     "type": rng.choice(["access.granted", "access.denied", "door.opened"]),
                     "user_code": rng.choice(["U0001", "U0002", None])})
    with engine.begin() as conn:
        conn.execute(insert(Event.__table__), rows)
    with db.session_factory(engine)() as s:
        everything = list(s.scalars(eventlog.build_query(eventlog.EventFilter())))
        for since_min in (-500, 0, 100, 390, 398, 1000):
            since = t0 + timedelta(minutes=since_min)
            for extra in ({}, {"result": "denied"}, {"user": "U0002"}):
                got = [e.id for e in eventlog.query_events(s, since=since, limit=1000, **extra)]
                want = [e.id for e in everything if e.time >= iso_utc(since)
                        and (extra.get("result") is None or e.type == "access.denied")
                        and (extra.get("user") is None or e.user_code == extra["user"])]
                assert got == want, (since_min, extra)
    engine.dispose()
