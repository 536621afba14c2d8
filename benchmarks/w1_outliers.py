"""Where W1's slow decisions go: ``python -m benchmarks.w1_outliers --data DIR [--hits 400] [--out FILE.json]``.

Runs W1's hit (``#`` pressed on the keypad model after the digits were injected, as
:func:`benchmarks.w_daemon.keypad_attempt` does) ``--hits`` times on the production daemon and stamps every
decision at each stage with ``time.monotonic()``: the scan that accepted the key (``KeyPressed.t``) -> the
sink's enqueue -> the loop's dispatch -> person lookup -> ``policy.decide`` -> ``hotpath.seal_direct`` (the
INSERT that is the durable commit) -> ``StrikeRelay.unlock`` -> the relay pin's change. Around each decision it
also takes the loop thread's CPU time (``CLOCK_THREAD_CPUTIME_ID``), every daemon thread's run and
run-queue-wait time (``/proc/self/task/TID/schedstat``), the machine's CPU pressure stall time
(``/proc/pressure/cpu``) and steal ticks (``/proc/stat``), and times every keypad scan and WAL checkpoint.

Meanwhile a separate process (``--probe``, on by default; ``python -m benchmarks.w1_outliers --probe-only S``)
repeats a fixed ~45 us piece of pure-Python arithmetic every millisecond and reports every run slower than
0.3 ms with its wall and its own CPU time. That process shares no lock, no GIL and no file with Kunci: when
its fixed work runs ten times slower at the same instant as a slow decision, with CPU time equal to wall
time (the guest saw it running, not waiting), the machine's CPU ran slow, not Kunci.

Prints the stage table of the slowest decisions next to the medians, and what ran beside them
(docs/performance.md, "What is still open", W1).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.stats import REPO

mono = time.monotonic

#: A probe run slower than this (seconds) is reported; the fixed work takes ~45 us on the bench VM.
PROBE_SLOW_S = 0.0003

STAGES = (("key -> enqueued", "key", "enq"), ("enqueued -> loop dispatch", "enq", "dispatch"),
          ("dispatch -> lookup start", "dispatch", "lookup0"), ("person lookup", "lookup0", "lookup1"),
          ("lookup -> policy done", "lookup1", "policy1"), ("policy -> commit start", "policy1", "seal0"),
          ("commit (seal_direct)", "seal0", "seal1"), ("commit -> relay driven", "seal1", "relay"))


def probe(seconds: float) -> None:
    """The independent probe: fixed work every ms; prints ``start wall cpu`` of every slow run (flushes)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    end = mono() + seconds
    runs = 0
    try:
        while mono() < end:
            t0, c0 = mono(), time.thread_time()
            s = 0
            for i in range(600):
                s += i * i
            wall, cpu = mono() - t0, time.thread_time() - c0
            runs += 1
            if wall > PROBE_SLOW_S:
                print(f"{t0:.6f} {wall:.6f} {cpu:.6f}", flush=True)
            time.sleep(0.001)
    finally:
        print(f"runs {runs}", flush=True)


def _schedstat(tid: int) -> tuple[int, int] | None:
    try:
        with open(f"/proc/self/task/{tid}/schedstat") as f:
            run, wait, _ = f.read().split()
        return int(run), int(wait)
    except (OSError, ValueError):
        return None


def _threads() -> dict[str, tuple[int, int] | None]:
    return {f"{t.name}": _schedstat(t.native_id) for t in threading.enumerate() if t.native_id}


def _psi_us() -> int | None:
    try:
        with open("/proc/pressure/cpu") as f:
            return int(f.readline().split("total=")[1])
    except (OSError, IndexError, ValueError):
        return None


def _steal() -> int:
    with open("/proc/stat") as f:
        return int(f.readline().split()[8])


def trace(root: Path, hits: int, seed: int) -> dict[str, Any]:
    """``hits`` W1 hits with every stage stamped; returns the records and the scan/checkpoint intervals."""
    from benchmarks.harness import BenchDaemon, wait_for_state
    from benchmarks.seed import load_info
    from benchmarks.w_daemon import _settle
    from controller.daemon import access as access_mod
    from controller.store import hotpath
    from drivers import events as ev

    info = load_info(root)
    rng = random.Random(seed)
    codes = list(info["pins"])
    cur: dict[str, Any] = {}
    acts: dict[str, list[tuple[float, float]]] = {"scan": [], "checkpoint": []}

    def first(name: str, func: Any, key_before: str | None = None, key_after: str | None = None) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if key_before:
                cur.setdefault(key_before, mono())
            result = func(*args, **kwargs)
            if key_after:
                cur.setdefault(key_after, mono())
            return result
        return wrapper

    def interval(name: str, func: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t0 = mono()
            try:
                return func(*args, **kwargs)
            finally:
                acts[name].append((t0, mono()))
        return wrapper

    originals = (hotpath.person_by_digest, access_mod.decide, hotpath.seal_direct)
    hotpath.person_by_digest = first("lookup", hotpath.person_by_digest, "lookup0", "lookup1")
    access_mod.decide = first("policy", access_mod.decide, None, "policy1")
    original_seal = hotpath.seal_direct

    def seal_direct(*args: Any, **kwargs: Any) -> Any:
        t0, c0 = mono(), time.thread_time()
        result = original_seal(*args, **kwargs)
        if "seal0" not in cur:  # the decision's own commit (the first after the '#')
            cur["seal0"], cur["seal1"], cur["seal_cpu"] = t0, mono(), time.thread_time() - c0
        return result

    hotpath.seal_direct = seal_direct
    bd = BenchDaemon(root)
    try:
        bd.start()
        d = bd.daemon
        original_dispatch = d._dispatch

        def dispatch(item: Any) -> None:
            if isinstance(item, ev.KeyPressed) and item.key == "#":
                cur["dispatch"], cur["cpu0"] = mono(), time.thread_time()
            original_dispatch(item)

        d._dispatch = dispatch  # type: ignore[method-assign]
        relay = d.hw.relay
        original_unlock = relay.unlock

        def unlock() -> None:
            original_unlock()
            cur["cpu1"] = time.thread_time()

        relay.unlock = unlock  # type: ignore[method-assign]
        keypad = d.hw.keypad
        keypad._poller._step = interval("scan", keypad.step)
        if d._checkpointer is not None:
            d._checkpointer.checkpoint = interval("checkpoint", d._checkpointer.checkpoint)
        energised = bd.config.gpio.relay_active_high
        records: list[dict[str, Any]] = []
        for i in range(hits + 1):  # the first is a warm-up
            cur.clear()
            bd.inject_keys(info["pins"][rng.choice(codes)])
            bd.idle()
            time.sleep(0.002)
            threads0, psi0, steal0 = _threads(), _psi_us(), _steal()
            t_press = mono()
            bd.keypad.press("#")
            got = bd.sink.wait(lambda e: isinstance(e, ev.KeyPressed) and e.key == "#", t_press, 5.0)
            bd.keypad.release("#")
            relay_t = wait_for_state(bd.relay_pin, energised, t_press, 5.0)
            if got is None or relay_t is None:
                raise RuntimeError("no '#' key or no relay")
            commit = bd.wait_commit(("access.granted",), t_press, 5.0)
            threads1, psi1, steal1 = _threads(), _psi_us(), _steal()
            rec = dict(cur, press=t_press, key=got[1].t, enq=got[0], relay=relay_t,
                       commit=commit.t if commit else None,
                       loop_cpu=cur["cpu1"] - cur["cpu0"] if "cpu1" in cur and "cpu0" in cur else None,
                       psi_us=psi1 - psi0 if psi0 is not None and psi1 is not None else None,
                       steal_ticks=steal1 - steal0,
                       threads={name: [(b[0] - a[0]) / 1e6, (b[1] - a[1]) / 1e6] for name, b in threads1.items()
                                if b and (a := threads0.get(name))})
            if i:
                records.append(rec)
            bd.relock()
            _settle(bd)
    finally:
        bd.stop()
        hotpath.person_by_digest, access_mod.decide, hotpath.seal_direct = originals
    return {"n": info["n"], "records": records, "acts": acts}


def report(result: dict[str, Any], slow_runs: list[tuple[float, float, float]], probe_runs: int, top: int) -> str:
    """The stage table of the ``top`` slowest decisions against the medians, and what ran beside them."""
    recs = result["records"]

    def ms(r: dict[str, Any], a: str, b: str) -> float:
        return (r[b] - r[a]) * 1000.0 if r.get(a) is not None and r.get(b) is not None else float("nan")

    for r in recs:
        r["total"] = ms(r, "key", "relay")
    worst = sorted(recs, key=lambda r: r["total"], reverse=True)[:top]
    totals = sorted(r["total"] for r in recs)
    n = len(totals)

    def near(r: dict[str, Any], lo: float = 0.0005) -> list[tuple[float, float, float]]:
        return [s for s in slow_runs if s[0] <= r["relay"] and s[0] + s[1] >= r["key"] and s[1] > lo]

    def scan_max(r: dict[str, Any]) -> float:
        return max([(b - a) * 1000 for a, b in result["acts"]["scan"] if b >= r["key"] and a <= r["relay"]] or [0.0])

    rows: list[tuple[str, Any]] = [(label, lambda r, a=a, b=b: ms(r, a, b)) for label, a, b in STAGES]
    rows += [("KeyPressed.t -> relay (total)", lambda r: r["total"]),
             ("loop thread CPU time, dispatch -> relay", lambda r: (r["loop_cpu"] or 0) * 1000),
             ("  of it in the commit", lambda r: r.get("seal_cpu", float("nan")) * 1000),
             ("longest keypad scan overlapping (0.28 typ.)", scan_max),
             ("CPU pressure stall, whole attempt (ms)", lambda r: (r["psi_us"] or 0) / 1000),
             ("steal ticks (10 ms), whole attempt", lambda r: r["steal_ticks"]),
             ("probe runs > 0.5 ms overlapping", lambda r: len(near(r)))]
    lines = [(f"N = {result['n']:,}: {n} hits, KeyPressed.t -> relay median {statistics.median(totals):.2f} ms, "
              f"p99 {totals[int(0.99 * (n - 1))]:.2f}, max {totals[-1]:.2f} ms"),
             f"{'ms':44s} {'median':>7s} " + " ".join(f"{i + 1:>6d}" for i in range(len(worst)))]
    for label, f in rows:
        lines.append(f"{label:44s} {statistics.median(f(r) for r in recs):7.2f} "
                     + " ".join(f"{f(r):6.2f}" for r in worst))
    overlapping = [r for r in recs if near(r)]
    lines.append(f"decisions overlapping a probe run > 0.5 ms: {len(overlapping)} of {n}; of the {len(worst)} slowest: "
                 f"{sum(bool(near(r)) for r in worst)}")
    if probe_runs:
        slow5 = [s for s in slow_runs if s[1] > 0.0005]
        ratio = statistics.median(s[2] / s[1] for s in slow5) if slow5 else float("nan")
        lines.append(f"probe: {probe_runs} runs, {len(slow5)} over 0.5 ms (CPU/wall of those, median {ratio:.2f})")
    for i, r in enumerate(worst):
        busy = sorted(((v[0], k, v) for k, v in r["threads"].items()), reverse=True)[:4]
        lines.append(f"  {i + 1}: threads' run/run-queue-wait ms over the attempt: "
                     + "; ".join(f"{k} {v[0]:.2f}/{v[1]:.2f}" for _, k, v in busy)
                     + "; probe runs (wall/CPU ms): "
                     + (", ".join(f"{w * 1000:.2f}/{c * 1000:.2f}" for _, w, c in near(r)) or "-"))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
    p = argparse.ArgumentParser(prog="python -m benchmarks.w1_outliers")
    p.add_argument("--data", type=Path)
    p.add_argument("--hits", type=int, default=400)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--top", type=int, default=10)
    p.add_argument("--no-probe", action="store_true", help="no independent probe process")
    p.add_argument("--probe-only", type=float, metavar="SECONDS", help="run only the probe (alone: the machine)")
    p.add_argument("--out", type=Path, help="also write the raw stamps here (JSON)")
    args = p.parse_args(argv)
    if args.probe_only:
        probe(args.probe_only)
        return 0
    if args.data is None:
        p.error("--data is required")
    proc = None
    if not args.no_probe:
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.w1_outliers", "--probe-only", "3600"],
                                cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        result = trace(args.data, args.hits, args.seed)
    finally:
        out = ""
        if proc is not None:
            proc.terminate()
            out, _ = proc.communicate(timeout=30)
    slow, runs = [], 0
    for line in out.splitlines():
        parts = line.split()
        if parts[0] == "runs":
            runs = int(parts[1])
        else:
            slow.append((float(parts[0]), float(parts[1]), float(parts[2])))
    print(report(result, slow, runs, args.top))
    if args.out:
        args.out.write_text(json.dumps({**result, "probe_slow": slow}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
