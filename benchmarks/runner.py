"""``python -m benchmarks``: seed, run every workload in a fresh process, write JSON lines and a table.

Usage::

    python -m benchmarks                      # full: N = 10, 1,000, 10,000; 1,000,000 events
    python -m benchmarks --quick              # N = 10, 1,000; 100,000 events; fewer runs (< 2 min)
    python -m benchmarks --smoke              # N = 10; 2,000 events; 1-3 runs (the test suite's check)
    python -m benchmarks --sizes 10,1000 --events 200000 --runs 5 --only W1,W6 --out results.jsonl

Each (workload, N) gives one JSON line: ``workload, n, events, metric`` (the headline metric) with
``median, p95, p99, min, max, runs, unit``, then ``metrics`` (every metric's summary), ``values``
(non-timing facts such as W8's pass/fail), ``machine``, ``git`` and ``mode``. W3 and the CSV
export run on the largest N only (they do not depend on N, or mutate the data set).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks import floor as floors
from benchmarks import seed as seeding
from benchmarks.stats import REPO, git_commit, machine_info, summarize

#: Workloads in run order for each N; W8 last (it changes lockout state), W3 late (it adds people).
#: FLOOR (the disk's fsync and durable-commit time) runs first, in the same run as the decisions.
ORDER = ("FLOOR", "W7", "W1", "W2", "W2L", "W9", "W12", "W5", "W6", "W6X", "W11", "W10", "W3", "W8", "W13")
#: Workloads run on the largest N only.
LARGEST_ONLY = frozenset({"W3", "W6X", "W10", "W13"})
#: W13 (benchmarks/w_site.py: PostgreSQL and 50 daemons of its own) may take this long, seconds.
W13_TIMEOUT = 3600.0
#: Workload -> the workload name it is reported under (the export is part of W6, the loaded burst of W2).
REPORTED_AS = {"W6X": "W6", "W2L": "W2"}
#: Decision figures reported as floor + overhead: workload -> metrics. The floor is FLOOR's ``commit``
#: (one ``synchronous=FULL`` commit; every decision contains exactly one).
OVER_FLOOR = {
    "W1": ("hit.key_to_relay", "hit.key_to_commit", "miss.key_to_commit"),
    "W9": ("matched_to_relay", "matched_to_commit"),
}
#: The targets (docs/performance.md) on the overhead above the floor, ms.
OVERHEAD_MEDIAN_MS = 1.0
OVERHEAD_P99_MS = 3.0


@dataclass(frozen=True)
class Mode:
    """Sizes, events and runs per workload of one mode."""

    name: str
    sizes: tuple[int, ...]
    events: int
    runs: dict[str, int]


FULL = Mode("full", (10, 1000, 10000), 1_000_000,
            {"FLOOR": 5, "W1": 30, "W2": 5, "W2L": 5, "W3": 20, "W5": 60, "W6": 60, "W6X": 2, "W7": 7, "W8": 2,
             "W9": 20, "W10": 7, "W11": 10, "W12": 40, "W13": 20})
QUICK = Mode("quick", (10, 1000), 100_000,
             {"FLOOR": 3, "W1": 8, "W2": 2, "W2L": 2, "W3": 10, "W5": 20, "W6": 20, "W6X": 1, "W7": 3, "W8": 1,
              "W9": 6, "W10": 3, "W11": 5, "W12": 20, "W13": 5})
SMOKE = Mode("smoke", (10,), 2_000,
             {"FLOOR": 1, "W1": 2, "W2": 1, "W2L": 1, "W3": 2, "W5": 2, "W6": 2, "W6X": 1, "W7": 1, "W8": 1,
              "W9": 2, "W10": 1, "W11": 1, "W12": 4, "W13": 2})

#: Rows of the printed table: (workload, metric, label, target as text).
TABLE: tuple[tuple[str, str, str, str], ...] = (
    ("W1", "hit.key_to_relay", "W1 decision: KeyPressed('#') -> relay (hits)", "floor + overhead; flat in N"),
    ("W1", "hit.key_to_commit", "W1 decision: KeyPressed('#') -> granted committed", "floor + overhead; flat in N"),
    ("W1", "miss.key_to_commit", "W1 decision: KeyPressed('#') -> denied committed", "floor + overhead; flat in N"),
    ("W1", "hit.edge_to_relay", "W1 full: '#' GPIO edge -> relay (incl. debounce)", "(debounce adds ~20 ms)"),
    ("W1", "hit.edge_to_commit", "W1 full: '#' GPIO edge -> granted committed", "(debounce adds ~20 ms)"),
    ("W1", "hit.key_to_relay.overhead", "W1 overhead above the floor: key -> relay (hits)",
     f"median <= {OVERHEAD_MEDIAN_MS} ms, p99 <= {OVERHEAD_P99_MS} ms"),
    ("W1", "hit.key_to_commit.overhead", "W1 overhead above the floor: key -> granted committed",
     f"median <= {OVERHEAD_MEDIAN_MS} ms, p99 <= {OVERHEAD_P99_MS} ms"),
    ("W1", "miss.key_to_commit.overhead", "W1 overhead above the floor: key -> denied committed",
     f"median <= {OVERHEAD_MEDIAN_MS} ms, p99 <= {OVERHEAD_P99_MS} ms"),
    ("FLOOR", "fsync", "floor: plain fsync (200 B) on DATA's file system", "(the disk)"),
    ("FLOOR", "commit", "floor: SQLite WAL synchronous=FULL commit on DATA", "(the disk)"),
    ("W2", "decision", "W2 burst: one decision (lookup+policy+commit)", "-"),
    ("W2", "throughput", "W2 burst: throughput", ">= 300 /s"),
    ("W2", "loaded.decision", "W2 burst, both cores busy: one decision", "-"),
    ("W2", "loaded.throughput", "W2 burst, both cores busy: throughput", ">= 300 /s"),
    ("W3", "add_person", "W3 add one person (add_user+issue_pin+commit)", "-"),
    ("W4", "rss_after_start", "W4 RSS after start (in-process daemon)", "< 60 MB"),
    ("W4", "rss_after_w1", "W4 RSS after W1 (in-process daemon)", "< 60 MB"),
    ("W4", "kunci_run_rss_at_ready", "W4 RSS of `kunci run` at ready", "< 60 MB"),
    ("W5", "people_list", "W5 people list page", "p95 < 50 ms"),
    ("W5", "log_newest", "W5 newest entry-log page", "p95 < 50 ms"),
    ("W6", "user_last_50", "W6 one person's last 50", "p95 < 50 ms"),
    ("W6", "denied_24h", "W6 denials in the last 24 h", "p95 < 50 ms"),
    ("W6", "deep_page", "W6 deep page (keyset, 90 % back)", "p95 < 50 ms"),
    ("W6", "deep_page_user", "W6 deep page, one person", "p95 < 50 ms"),
    ("W6", "rows_per_s", "W6 CSV export, whole log", "-"),
    ("W6", "rss_growth", "W6 CSV export RSS growth", "constant memory"),
    ("W7", "start_to_ready", "W7 `kunci run` start -> status answers", "< 1.5 s"),
    *((("W10", f"{size}.{cmd}", f"W10 `kunci {cmd.replace('_', ' ')}` ({size}), fresh process",
        "< 300 ms" if size == "demo" else "< 1 s") for size in ("demo", "large")
       for cmd in ("log", "user_list", "audit_verify", "doctor", "status"))),
    ("W11", "hit", "W11 PIN lookup (HMAC + index probe): hit", "-"),
    ("W11", "near_miss", "W11 PIN lookup: near miss (last digit wrong)", "= far miss"),
    ("W11", "far_miss", "W11 PIN lookup: far miss", "-"),
    ("W8", "locked_refusal", "W8 right PIN while locked out -> refused", "pass"),
    ("W12", "plain.key_to_relay", "W12 decision, no alert destination", "-"),
    ("W12", "hanging.key_to_relay", "W12 decision while the webhook destination hangs", "= no destination"),
    ("W9", "matched_to_relay", "W9 FingerMatched -> relay", "-"),
    ("W9", "matched_to_relay.overhead", "W9 overhead above the floor: matched -> relay",
     f"median <= {OVERHEAD_MEDIAN_MS} ms, p99 <= {OVERHEAD_P99_MS} ms"),
    ("W9", "place_to_matched", "W9 sensor side: finger placed -> FingerMatched", "(excluded)"),
    ("W13", "revocation_fanout", "W13 site: revoke -> applied on the LAST controller", "<= 2 s"),
    ("W13", "revocation_per_controller", "W13 site: revoke -> applied, every controller", "-"),
    ("W13", "revoke_call", "W13 site: SiteService.revoke call (its commit)", "-"),
    ("W13", "initial_sync", "W13 site: N people written -> held by all controllers", "-"),
    ("W13", "upload_throughput", "W13 site: event backlog upload, all controllers", "-"),
)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="N = 10, 1,000; 100,000 events; fewer runs")
    g.add_argument("--smoke", action="store_true", help="N = 10; 2,000 events; 1-3 runs (test suite)")
    p.add_argument("--sizes", help="comma-separated N, e.g. 10,1000,10000")
    p.add_argument("--events", type=int, help="events in each seeded log")
    p.add_argument("--runs", type=int, help="runs of every workload (default: per mode and workload)")
    p.add_argument("--only", help="comma-separated workloads, e.g. W1,W6 (W4 comes with W1 and W7)")
    p.add_argument("--seed", type=int, default=1, help="seed of the data sets and the workloads (default 1)")
    p.add_argument("--out", type=Path, help="JSON lines file (default: benchmarks/results/<mode>-<time>.jsonl)")
    p.add_argument("--workdir", type=Path, help="where to seed the data directories (default: a temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the seeded data directories")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per workload process")
    return p.parse_args(argv)


def run_workload(name: str, root: Path, runs: int, seed_value: int, timeout: float) -> dict[str, Any]:
    """Run one workload in a fresh interpreter; returns its JSON result or ``{"error": ...}``."""
    env = dict(os.environ, PYTHONPATH=str(REPO), GPIOZERO_PIN_FACTORY="mock")
    cmd = [sys.executable, "-m", "benchmarks.workload", name, "--data", str(root), "--runs", str(runs),
           "--seed", str(seed_value)]
    try:
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:.0f} s"}
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout)[-1500:]}
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"error": "no JSON result: " + proc.stdout[-500:] + proc.stderr[-1000:]}


def _merge(lines: dict[tuple[str, int], dict[str, Any]], record: dict[str, Any], n: int) -> None:
    key = (record["workload"], n)
    line = lines.setdefault(key, {"workload": record["workload"], "n": n, "primary": None, "metrics": {},
                                  "values": {}})
    line["primary"] = line["primary"] or record.get("primary")
    for name, m in record.get("metrics", {}).items():
        line["metrics"][name] = summarize(m["samples"], m["unit"])
    line["values"].update(record.get("values", {}))


def _line(base: dict[str, Any], line: dict[str, Any]) -> dict[str, Any]:
    primary = line["primary"] if line["primary"] in line["metrics"] else next(iter(line["metrics"]), None)
    head = dict(line["metrics"][primary]) if primary else {}
    return {"workload": line["workload"], "n": line["n"], "events": base["events"], "metric": primary, **head,
            "metrics": line["metrics"], "values": line["values"], "error": line.get("error"), **base["meta"]}


def add_overhead(lines: dict[tuple[str, int], dict[str, Any]], n: int) -> None:
    """Add ``<metric>.overhead`` (decision minus the floor, :func:`benchmarks.floor.overhead`) to the
    :data:`OVER_FLOOR` metrics of size ``n``, and ``values.overhead_targets`` (met or not, per metric)."""
    floor = lines.get(("FLOOR", n), {}).get("metrics", {}).get("commit")
    if not floor or not floor.get("runs"):
        return
    for workload, names in OVER_FLOOR.items():
        line = lines.get((workload, n))
        if line is None:
            continue
        verdicts = {}
        for name in names:
            decision = line["metrics"].get(name)
            if not decision or not decision.get("runs"):
                continue
            over = floors.overhead(decision, floor)
            line["metrics"][f"{name}.overhead"] = over
            verdicts[name] = {"median_ms": over["median"], "p99_ms": over["p99"],
                              "met": over["median"] is not None and over["p99"] is not None
                              and over["median"] <= OVERHEAD_MEDIAN_MS and over["p99"] <= OVERHEAD_P99_MS}
        line["values"]["overhead_targets"] = verdicts
        line["values"]["floor_commit_ms"] = {q: floor.get(q) for q in ("median", "p95", "p99")}


def format_table(results: list[dict[str, Any]]) -> str:
    """The summary table: one row per (workload, metric), median/p95/p99 per N."""
    sizes = sorted({r["n"] for r in results})
    by = {(r["workload"], r["n"]): r for r in results}
    head = f"{'metric':52s} {'unit':10s}" + "".join(f" | N={n:<6d} med / p95 / p99   " for n in sizes) + " | target"
    out = [head, "-" * len(head)]
    for workload, metric, label, target in TABLE:
        cells = []
        unit = ""
        for n in sizes:
            m = by.get((workload, n), {}).get("metrics", {}).get(metric)
            if m is None or not m.get("runs"):
                cells.append(f" | {'':30s}")
                continue
            unit = m["unit"]
            cells.append(f" | {_num(m['median']):>8s} /{_num(m['p95']):>8s} /{_num(m['p99']):>8s}   ")
        if unit:
            out.append(f"{label[:52]:52s} {unit:10s}" + "".join(cells) + f" | {target}")
    for r in results:
        if r["workload"] == "W8":
            out.append(f"W8 lockout correctness N={r['n']}: {'PASS' if r['values'].get('passed') else 'FAIL'}")
        if r["workload"] == "W12":
            out.append(f"W12 decision median while a destination hangs / without, N={r['n']}: "
                       f"{r['values'].get('median_ratio_hanging_over_plain')}")
        if r["workload"] == "W13" and r["values"].get("controllers"):
            v = r["values"]
            out.append(f"W13 site of {v.get('controllers')} controllers, {v.get('people')} people: revocation on the "
                       f"last controller median {v.get('revocation_last_median_s')} s, p90 "
                       f"{v.get('revocation_last_p90_s')} s, max {v.get('revocation_last_max_s')} s (<= 2 s: "
                       f"{'met' if v.get('revocation_target_met') else 'MISSED'}); initial sync "
                       f"{v.get('initial_sync_last_s')} s; upload {v.get('upload_events')} events in "
                       f"{v.get('upload_s')} s = {v.get('upload_events_per_s')} events/s")
        if r["workload"] == "W11":
            out.append(f"W11 near miss / far miss, medians, N={r['n']}: {r['values'].get('near_over_far_median')}")
        for metric, verdict in (r["values"].get("overhead_targets") or {}).items():
            out.append(f"{r['workload']} {metric} overhead above the floor N={r['n']}: median "
                       f"{_num(verdict['median_ms'])} ms, p99 {_num(verdict['p99_ms'])} ms: "
                       f"{'met' if verdict['met'] else 'MISSED'}")
        for key, count in r["values"].items():
            if key.endswith("unfinished_bursts") and count:
                out.append(f"{r['workload']} N={r['n']}: {count} burst(s) {key.split('unfinished')[0]}did not "
                           "finish in time; the figures are what completed")
        if r.get("error"):
            out.append(f"{r['workload']} N={r['n']}: ERROR {r['error'].strip().splitlines()[-1][:150]}")
    return "\n".join(out)


def _postgres_installed() -> bool:
    """Whether W13 can start its PostgreSQL server (``tests/pg_server.py`` finds ``initdb``)."""
    from tests.pg_server import postgres_bin_dir

    return postgres_bin_dir() is not None


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.2f}" if abs(x) < 10 else f"{x:.1f}"


def main(argv: list[str] | None = None) -> int:
    """Seed, run, write JSON lines and print the table; exit 1 if any workload failed."""
    args = _parse_args(argv)
    mode = QUICK if args.quick else SMOKE if args.smoke else FULL
    sizes = tuple(int(s) for s in args.sizes.split(",")) if args.sizes else mode.sizes
    events = args.events if args.events is not None else mode.events
    only = set(args.only.upper().split(",")) if args.only else None
    wanted = [w for w in ORDER if only is None or w in only or (w == "W6X" and "W6" in only)
              or (w == "W1" and "W4" in only) or (w == "W7" and "W4" in only) or (w == "W2L" and "W2" in only)
              or (w == "FLOOR" and only & set(OVER_FLOOR))]
    started = time.time()
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    out = args.out or REPO / "benchmarks" / "results" / f"{mode.name}-{stamp}.jsonl"
    out.parent.mkdir(parents=True, exist_ok=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="kbench-", dir="/tmp"))
    meta = {"mode": mode.name, "seed": args.seed, "started_at": stamp, "machine": machine_info(), "git": git_commit()}
    base = {"events": events, "meta": meta}
    results: list[dict[str, Any]] = []
    failed = False
    try:
        for n in sizes:
            root = workdir / f"n{n}"
            if root.exists():
                shutil.rmtree(root)
            info = seeding.seed(root, n=n, events=events, seed_value=args.seed)
            print(f"seeded N={n}: {info.events:,} events, {info.pin_length}-digit PINs in {info.seconds:.1f} s",
                  flush=True)
            lines: dict[tuple[str, int], dict[str, Any]] = {}
            for name in wanted:
                if name in LARGEST_ONLY and n != max(sizes):
                    continue
                if name == "W13" and not _postgres_installed():
                    print("  W13 skipped: PostgreSQL is not installed (initdb not found)", flush=True)
                    continue
                runs = args.runs if args.runs is not None else mode.runs[name]
                t0 = time.perf_counter()
                result = run_workload(name, root, runs, args.seed,
                                      max(args.timeout, W13_TIMEOUT) if name == "W13" else args.timeout)
                print(f"  {name:4s} N={n:<6d} {time.perf_counter() - t0:6.1f} s"
                      + ("  ERROR" if "error" in result else ""), flush=True)
                if "error" in result:
                    failed = True
                    key = (REPORTED_AS.get(name, name), n)
                    lines.setdefault(key, {"workload": key[0], "n": n, "primary": None, "metrics": {},
                                           "values": {}})["error"] = result["error"]
                    continue
                for record in result["records"]:
                    _merge(lines, record, n)
            add_overhead(lines, n)
            for key in sorted(lines, key=lambda k: (k[0], k[1])):
                line = _line(base, lines[key])
                line["values"]["seed_seconds"] = info.seconds
                results.append(line)
            with out.open("a") as fh:
                for line in results[-len(lines):]:
                    fh.write(json.dumps(line, sort_keys=False) + "\n")
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(format_table(results))
    print(f"\n{len(results)} JSON lines in {out} ({time.time() - started:.0f} s; "
          f"commit {meta['git']['commit']}{' + local changes' if meta['git']['dirty'] else ''})")
    if any(r["workload"] == "W8" and not r["values"].get("passed") for r in results):
        failed = True
    return 1 if failed else 0
