"""W13: a site of 50 controllers (issue 16): one PostgreSQL, 50 ``kunci run`` daemons, 10,000 people.

Set-up (not measured; :mod:`benchmarks.site_setup`): a fresh PostgreSQL cluster on loopback with TLS
(``verify-full``), ``kunci site init``, C controllers added at the site with one door each (in 5 rooms) and
joined, each with its own DATA on simulated hardware; 4 groups each granting every controller's door; E sealed
decisions in each controller's log. Then every controller runs as its own ``kunci run`` process (the real
daemon and its real site link thread, nothing in-process).

Measured:

- **uploads**: the 50 links come up while the site's ``kunci.events`` table is held locked (every upload
  waits; as after a site outage, each controller has a backlog); from the release of the lock to the moment
  the site holds each controller's whole backlog (its highest seq, uploads go in seq order; polled every
  0.1 s). Reported: seconds and events/s overall, and per controller.
- **initial sync**: P people in one site write (500,000 ``person`` feed rows for 50 controllers); from its
  commit to each controller's sealed ``admin.site_sync`` event reaching the last revision (that event's time,
  written in the same SQLite transaction that applied the batch). Reported: the last controller (the headline)
  and every controller's time.
- **revocation fan-out**: R revocations through ``SiteService.revoke`` (one every ~1.5 s, while the links
  upload their own sync events); from the service's return (its commit) to each controller's sealed
  ``admin.site_sync`` event holding that revision; reported: the LAST controller per revocation (median, p90,
  max; target <= 2 s), every controller's latency, and the time the service call itself took. Also the time
  the poller first saw the revision applied (an upper bound, 20 ms polling).

Sizes: C = ``KUNCI_W13_CONTROLLERS`` (default 50 when N >= 10,000, else 3), P = N (the runner's largest
size, people), E = ``KUNCI_W13_EVENTS`` (default 2,000 when N >= 10,000, else 50), R = ``runs``.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import site_setup as setup
from benchmarks.seed import load_info
from benchmarks.stats import machine_info, percentile

#: Generous deadlines (the machine is shared with test runs), seconds.
UPLOAD_DEADLINE = 900.0
SYNC_DEADLINE = 1800.0
REVOKE_DEADLINE = 60.0
#: Pause between revocations (the links upload their sync events meanwhile), seconds.
REVOKE_GAP = 1.5


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _parse(iso: str) -> datetime:
    from controller.timefmt import parse_iso_utc

    return parse_iso_utc(iso)


def _open_ro(ctl: setup.Controller) -> sqlite3.Connection:
    if ctl.db is None:
        ctl.db = sqlite3.connect(f"file:{ctl.db_file}?mode=ro", uri=True, timeout=30, isolation_level=None)
    return ctl.db


def _applied(ctl: setup.Controller) -> int:
    row = _open_ro(ctl).execute("SELECT revision FROM site_sync WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


def _sync_time(ctl: setup.Controller, revision: int, after_id: int) -> tuple[datetime, int] | None:
    """Time of the first sealed ``admin.site_sync`` event after ``after_id`` whose batch reached ``revision``."""
    for eid, when, detail in _open_ro(ctl).execute(
            "SELECT id, time, detail FROM events WHERE type = 'admin.site_sync' AND id > ? ORDER BY id", (after_id,)):
        if int(json.loads(detail or "{}").get("to", 0)) >= revision:
            return _parse(when), int(eid)
    return None


def _last_event_id(ctl: setup.Controller) -> int:
    return int(_open_ro(ctl).execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0])


def _wait(site: setup.Site, done: Any, deadline: float, what: str, interval: float) -> dict[str, float]:
    """Poll ``done(ctl)`` for every controller until all are done; their first-seen monotonic times."""
    seen: dict[str, float] = {}
    end = time.monotonic() + deadline
    while len(seen) < len(site.controllers):
        for ctl in site.controllers:
            if ctl.name not in seen and done(ctl):
                seen[ctl.name] = time.monotonic()
        if len(seen) < len(site.controllers):
            if time.monotonic() > end:
                missing = [c.name for c in site.controllers if c.name not in seen]
                raise RuntimeError(f"{what}: {len(missing)} controllers not done after {deadline:.0f} s: {missing[:5]}")
            for ctl in site.controllers:
                if ctl.proc is not None and ctl.proc.poll() is not None:
                    raise RuntimeError(f"{what}: kunci run of {ctl.name} exited {ctl.proc.returncode}")
            time.sleep(interval)
    return seen


def _cpu_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total


def idle_cpu(site: setup.Site, seconds: float = 10.0) -> float:
    """CPU cores the idle daemons use together (their drivers' 100 Hz keypad scan and door-input poll on
    simulated GPIO, the link's 1 s upload check, ...): /proc/PID/stat over ``seconds``."""
    pids = [c.proc.pid for c in site.controllers if c.proc is not None]
    before, t0 = _cpu_ticks(pids), time.monotonic()
    time.sleep(seconds)
    return (_cpu_ticks(pids) - before) / os.sysconf("SC_CLK_TCK") / (time.monotonic() - t0)


# -- the phases ------------------------------------------------------------------------------------------------


def _waiting_uploads(conn: Any) -> int:
    return int(conn.execute("SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'kunci-c%%' "
                            "AND wait_event_type = 'Lock'").fetchone()[0])


def measure_uploads(site: setup.Site, heads: dict[str, int], logs: Path) -> dict[str, Any]:
    """Start every daemon with the events table locked; from the release to every backlog at the site."""
    ids = dict(site.service_conn.execute("SELECT name, id FROM kunci.controllers").fetchall())
    lock = site.server.connect("kunci")
    lock.autocommit = False
    lock.execute("LOCK TABLE kunci.events IN SHARE ROW EXCLUSIVE MODE")
    launched = time.monotonic()
    setup.start_daemons(site, logs)
    end = time.monotonic() + UPLOAD_DEADLINE
    while _waiting_uploads(site.service_conn) < len(site.controllers):
        if time.monotonic() > end:
            lock.rollback()
            raise RuntimeError(f"only {_waiting_uploads(site.service_conn)} links reached the upload")
        time.sleep(0.2)
    all_waiting = time.monotonic() - launched
    lock.commit()
    t0 = time.monotonic()
    lock.close()
    by_id = {ids[n]: n for n in heads}
    done: dict[str, float] = {}
    end = time.monotonic() + UPLOAD_DEADLINE
    while len(done) < len(heads):
        for cid, top in site.service_conn.execute(
                "SELECT controller_id, max(seq) FROM kunci.events GROUP BY controller_id").fetchall():
            name = by_id.get(cid)
            if name is not None and name not in done and top >= heads[name]:
                done[name] = time.monotonic()
        if len(done) < len(heads):
            if time.monotonic() > end:
                raise RuntimeError(f"uploads: {len(heads) - len(done)} controllers unfinished")
            time.sleep(0.1)
    total = sum(heads.values())
    seconds = max(done.values()) - t0
    return {"seconds": seconds, "events": total, "events_per_s": total / seconds,
            "per_controller_s": [v - t0 for v in done.values()], "daemons_up_and_waiting_s": all_waiting}


def measure_initial_sync(site: setup.Site, people: int, rng: random.Random) -> dict[str, Any]:
    before = {c.name: _last_event_id(c) for c in site.controllers}
    t_call = time.monotonic()
    newest = setup.bulk_people(site, people, rng)
    committed_wall, committed = _now(), time.monotonic()
    ids = dict(site.service_conn.execute("SELECT name, id FROM kunci.controllers").fetchall())
    target = {c.name: newest[ids[c.name]] for c in site.controllers}
    seen = _wait(site, lambda c: _applied(c) >= target[c.name], SYNC_DEADLINE, "initial sync", 0.5)
    per: list[float] = []
    counts = []
    for ctl in site.controllers:
        found = _sync_time(ctl, target[ctl.name], before[ctl.name])
        per.append((found[0] - committed_wall).total_seconds() if found else seen[ctl.name] - committed)
        counts.append(int(_open_ro(ctl).execute(
            "SELECT count(*) FROM users WHERE origin = 'site' AND status = 'active'").fetchone()[0]))
    return {"last_s": max(per), "per_controller_s": per, "write_s": committed - t_call,
            "people_held_min": min(counts), "people_held_max": max(counts),
            "payload_same_as_service": setup.check_payload_matches_service(site, site.codes[-1])}


def measure_revocations(site: setup.Site, count: int, rng: random.Random) -> dict[str, Any]:
    ids = dict(site.service_conn.execute("SELECT name, id FROM kunci.controllers").fetchall())
    codes = rng.sample(site.codes, count)
    last, every, calls, observed = [], [], [], []
    for code in codes:
        before = {c.name: _last_event_id(c) for c in site.controllers}
        t_call = time.monotonic()
        site.service.revoke(code, actor="bench")
        returned_wall, returned = _now(), time.monotonic()
        calls.append((returned - t_call) * 1000)
        rows = dict(site.service_conn.execute(
            "SELECT controller_id, revision FROM kunci.feed WHERE key = %s AND op = 'person' AND payload->>'status' "
            "= 'revoked'", (code,)).fetchall())
        target = {c.name: rows[ids[c.name]] for c in site.controllers}
        seen = _wait(site, lambda c: _applied(c) >= target[c.name], REVOKE_DEADLINE, f"revocation of {code}", 0.02)
        lat = []
        for ctl in site.controllers:
            found = _sync_time(ctl, target[ctl.name], before[ctl.name])
            lat.append((found[0] - returned_wall).total_seconds() if found else seen[ctl.name] - returned)
            status = _open_ro(ctl).execute("SELECT status FROM users WHERE code = ?", (code,)).fetchone()
            if not status or status[0] != "revoked":
                raise RuntimeError(f"{ctl.name} applied the revision but {code} is {status}")
        last.append(max(lat))
        every.extend(lat)
        observed.append(max(seen.values()) - returned)
        time.sleep(REVOKE_GAP)
    return {"last_s": last, "every_s": every, "service_call_ms": calls, "observed_last_s": observed}


# -- the workload ----------------------------------------------------------------------------------------------


def sizes(root: Path) -> tuple[int, int, int]:
    """(controllers, people, events per controller) for the runner's data set ``root`` (module docstring)."""
    try:
        n = int(load_info(root)["n"])
    except (OSError, KeyError, ValueError):
        n = 10_000
    big = n >= 10_000
    controllers = int(os.environ.get("KUNCI_W13_CONTROLLERS", 50 if big else 3))
    events = int(os.environ.get("KUNCI_W13_EVENTS", 2000 if big else 50))
    return controllers, n, events


def w13_site(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    rng = random.Random(seed_value)
    controllers, people, events = sizes(root)
    work = Path(tempfile.mkdtemp(prefix="kbench-site-", dir="/tmp"))
    values: dict[str, Any] = {"controllers": controllers, "people": people, "events_per_controller": events,
                              "revocations": runs, "keypad": os.environ.get("KUNCI_W13_KEYPAD") or "matrix",
                              "machine_at_start": machine_info()}
    t0 = time.perf_counter()
    site = setup.make_site(work)
    site.service_conn = site.server.connect("kunci")
    try:
        for i in range(controllers):
            setup.add_controller(site, work, i)
        setup.add_groups(site)
        heads = {c.name: setup.seed_events(c, events, rng) for c in site.controllers}
        values["setup_s"] = round(time.perf_counter() - t0, 1)
        up = measure_uploads(site, heads, work / "logs")
        sync = measure_initial_sync(site, people, rng)
        values["daemons_idle_cpu_cores"] = round(idle_cpu(site), 2)
        rev = measure_revocations(site, max(1, runs), rng)
        values.update({
            "upload_events": up["events"], "upload_s": round(up["seconds"], 2),
            "upload_events_per_s": round(up["events_per_s"], 1),
            "daemons_up_and_waiting_s": round(up["daemons_up_and_waiting_s"], 1),
            "initial_sync_last_s": round(sync["last_s"], 2), "initial_sync_write_s": round(sync["write_s"], 2),
            "people_held_min": sync["people_held_min"], "people_held_max": sync["people_held_max"],
            "bulk_payload_same_as_service": sync["payload_same_as_service"],
            "revocation_last_median_s": round(statistics.median(rev["last_s"]), 3),
            "revocation_last_p90_s": round(percentile(sorted(rev["last_s"]), 90), 3),
            "revocation_last_max_s": round(max(rev["last_s"]), 3),
            "revocation_target_met": max(rev["last_s"]) <= 2.0,
            "machine_at_end": machine_info()["loadavg_at_start"],
        })
        metrics = {
            "revocation_fanout": {"unit": "s", "samples": rev["last_s"]},
            "revocation_per_controller": {"unit": "s", "samples": rev["every_s"]},
            "revocation_observed": {"unit": "s", "samples": rev["observed_last_s"]},
            "revoke_call": {"unit": "ms", "samples": rev["service_call_ms"]},
            "initial_sync": {"unit": "s", "samples": [sync["last_s"]]},
            "initial_sync_per_controller": {"unit": "s", "samples": sync["per_controller_s"]},
            "upload_throughput": {"unit": "events/s", "samples": [up["events_per_s"]]},
            "upload_per_controller": {"unit": "s", "samples": up["per_controller_s"]},
        }
    finally:
        site.service_conn.close()
        setup.destroy(site)
        if not os.environ.get("KUNCI_W13_KEEP"):
            import shutil

            shutil.rmtree(work, ignore_errors=True)
    return {"records": [{"workload": "W13", "primary": "revocation_fanout", "metrics": metrics, "values": values}]}
