"""Profiles behind docs/performance.md: ``python -m benchmarks.profile {w1,w7} --data DIR``.

* ``w1``: the production daemon in this process (:class:`benchmarks.harness.BenchDaemon`); cProfile
  runs on the daemon's LOOP thread only while it handles the ``#`` key (the decision), and the
  decision is cut into stages with timing wrappers around the production calls: loop wake-up
  (``KeyPressed.t`` -> ``_dispatch`` entered), ``Indicators.key_ack``, ``AccessController.pin``
  (lookup, policy, journal write = sealed insert + commit), and the relay.
* ``w7``: what a cold ``kunci run`` spends before it is ready: interpreter + imports (measured in a
  child process), then cProfile of ``Daemon._start`` in this process (opening, integrity check,
  migrations check, sensor, control socket).

Writes the report to stdout (and to ``--out FILE``).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import io
import os
import pstats
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.stats import REPO


def _top(prof: cProfile.Profile, sort: str, limit: int) -> str:
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf)
    stats.strip_dirs().sort_stats(sort).print_stats(limit)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if ln.lstrip().startswith("ncalls")), 0)
    return "\n".join(lines[max(0, start - 1):])


def _timed(store: dict[str, list[float]], label: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return func(*args, **kwargs)
        finally:
            store.setdefault(label, []).append((time.perf_counter() - t0) * 1000.0)

    return wrapper


def profile_w1(root: Path, attempts: int) -> str:
    """Stage timings and a loop-thread cProfile of ``attempts`` W1 hits."""
    from benchmarks.harness import BenchDaemon
    from benchmarks.seed import load_info
    from benchmarks.w_daemon import keypad_attempt
    from controller.daemon import access as access_mod
    from controller.store import audit as audit_mod
    from drivers import events as ev

    info = load_info(root)
    rng = random.Random(7)
    codes = list(info["pins"])
    bd = BenchDaemon(root)
    bd.start()
    d = bd.daemon
    stages: dict[str, list[float]] = {}
    prof = cProfile.Profile()
    profiling = {"on": False}
    original_dispatch = d._dispatch

    def dispatch(item: Any) -> None:
        if isinstance(item, ev.KeyPressed) and item.key == "#":
            stages.setdefault("wake: KeyPressed.t -> loop dispatch", []).append(
                (time.monotonic() - item.t) * 1000.0)
            if profiling["on"]:
                prof.enable()
            try:
                original_dispatch(item)
            finally:
                prof.disable()
        else:
            original_dispatch(item)

    d._dispatch = dispatch  # type: ignore[method-assign]
    d.hw.indicators.key_ack = _timed(stages, "Indicators.key_ack (before the decision)", d.hw.indicators.key_ack)
    # Each stage is wrapped only where this version of the code has it, so the same command profiles
    # the code before and after a change (docs/performance.md keeps both reports).
    wraps = [
        (d.access, "pin", "AccessController.pin (lookup+policy+write+commit)"),
        (d.access, "_door", "  access._door (doors row)"),
        (d.access, "_context", "  access._context (holidays)"),
        (d.access, "_save_lockout", "  access._save_lockout"),
        (d.access, "_stage_lockout", "  access._stage_lockout (lockout row, core UPDATE)"),
        (getattr(access_mod, "pins", None), "find_user_by_pin", "  pins.find_user_by_pin (ORM)"),
        (getattr(access_mod, "hotpath", None), "person_by_digest", "  hotpath.person_by_digest (HMAC is outside)"),
        (access_mod, "subject_for", "  people.subject_for"),
        (getattr(access_mod, "pins", None), "pin_digest", "  pins.pin_digest (HMAC of the PIN)"),
        (d.journal, "reader", "  Journal.reader (which connection)"),
        (d.journal, "writable", "  Journal.writable"),
        (access_mod, "decide", "  policy.decide"),
        (d.access, "_conclude", "  access._conclude (lockout, write, outcome)"),
        (d.journal, "write", "  Journal.write (sealed insert + commit)"),
        (audit_mod, "append", "    audit.append (ORM insert + flush)"),
        (getattr(access_mod, "hotpath", None), "append_sealed", "    hotpath.append_sealed (core insert)"),
        (getattr(access_mod, "hotpath", None), "seal_direct", "    hotpath.seal_direct (BEGIN, insert, COMMIT)"),
        (d.journal.session, "commit", "    session.commit (COMMIT + anchor line)"),
        (d._anchor, "append_logged", "      AnchorWriter.append_logged (anchor fsync)"),
    ]
    for owner, name, label in wraps:
        if owner is not None and hasattr(owner, name):
            setattr(owner, name, _timed(stages, label, getattr(owner, name)))
    d.hw.relay.unlock = _timed(stages, "StrikeRelay.unlock", d.hw.relay.unlock)
    try:
        keypad_attempt(bd, info["pins"][codes[0]], True)
        stages.clear()
        totals: list[float] = []
        for _ in range(attempts):  # pass 1: stage timings, no profiler
            totals.append(keypad_attempt(bd, info["pins"][rng.choice(codes)], True)["key_to_relay"])
        profiling["on"] = True
        for _ in range(attempts):  # pass 2: cProfile on the loop thread
            keypad_attempt(bd, info["pins"][rng.choice(codes)], True)
    finally:
        bd.stop()
    lines = [f"W1 decision stages at N={info['n']:,}, {info['events']:,} events ({attempts} hits, "
             "no profiler; stages indented under the call that contains them):",
             f"{'stage':58s} {'median ms':>10s} {'p95 ms':>8s}"]
    for label, vals in stages.items():
        vals = sorted(vals[: len(vals) // 2])  # pass 1 only (pass 2 ran under cProfile)
        lines.append(f"{label:58s} {statistics.median(vals):10.3f} {vals[int(0.95 * (len(vals) - 1))]:8.3f}")
    totals.sort()
    lines.append(f"{'KeyPressed.t -> relay (total)':58s} {statistics.median(totals):10.3f} "
                 f"{totals[int(0.95 * (len(totals) - 1))]:8.3f}")
    lines += ["", "cProfile of the loop thread while deciding (cumulative):", _top(prof, "cumulative", 30),
              "", "cProfile of the loop thread while deciding (own time):", _top(prof, "tottime", 20)]
    return "\n".join(lines)


def profile_w7(root: Path) -> str:
    """Imports of ``kunci run`` (child processes) and a cProfile of ``Daemon._start``."""
    from controller.config import load_config
    from controller.daemon.loop import Daemon
    from controller.paths import DataDir

    env = dict(os.environ, PYTHONPATH=str(REPO), GPIOZERO_PIN_FACTORY="mock")
    out = [f"W7 start-up at {root}:"]
    for label, code in (("python -c pass", "pass"),
                        ("import controller.cli + build_parser() (what `kunci run` imports first)",
                         "from controller.cli import build_parser; build_parser()"),
                        ("import controller.daemon.loop", "import controller.daemon.loop")):
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, check=True)
            times.append((time.perf_counter() - t0) * 1000.0)
        out.append(f"  {label:72s} {statistics.median(times):8.1f} ms")
    datadir = DataDir(Path(root))
    config = load_config(datadir.config_file)
    daemon = Daemon(datadir, config)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    try:
        daemon._start()
    finally:
        prof.disable()
        started = time.perf_counter() - t0
        daemon._shutdown()
    out += [f"  Daemon._start (in process, cProfile on): {started * 1000:.0f} ms", "",
            "cProfile of Daemon._start (cumulative):", _top(prof, "cumulative", 30)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Run one profile and print it."""
    os.environ.setdefault("GPIOZERO_PIN_FACTORY", "mock")
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    p.add_argument("what", choices=("w1", "w7"))
    p.add_argument("--data", type=Path, required=True, help="a data directory seeded by benchmarks.seed")
    p.add_argument("--attempts", type=int, default=40)
    p.add_argument("--out", type=Path)
    args = p.parse_args(argv)
    report = profile_w1(args.data, args.attempts) if args.what == "w1" else profile_w7(args.data)
    print(report)
    if args.out:
        args.out.write_text(report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
