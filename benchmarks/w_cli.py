"""W10: the read commands of the ``kunci`` CLI, each timed as a fresh process (docs/performance.md: < 300 ms on a
demo-sized data directory; issue 12: < 1 s at 10,000 people and 1,000,000 events).

Each sample is one ``kunci --data DIR <command>`` process (the installed console script, stdout
read and thrown away, stderr not a terminal), from ``Popen`` to exit: interpreter start, imports,
opening the database, the work and the output. Commands: ``log`` (the newest 50), ``user list``,
``audit verify``, ``doctor --allow-warnings`` and ``status`` (asked from a real ``kunci run`` started
for it, as in W7). They run on the seeded data directory of the run's largest N (``large.*``) and on
a demo-sized one seeded here (``demo.*``: :data:`DEMO_PEOPLE` people, :data:`DEMO_EVENTS` events).

Byte code: the child processes get a private ``PYTHONPYCACHEPREFIX`` (and no
``PYTHONDONTWRITEBYTECODE``) and one untimed warm-up run per command, so Kunci's own modules are
loaded from cached byte code as after a ``pip install``, not compiled from source every time.
A command that fails or times out is reported in ``values.failures`` with what it printed; the
workload goes on. A command whose first timed run takes longer than :data:`LONG_S` (the chain
verified over a million events) is timed once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import seed as seeding
from benchmarks.stats import REPO
from benchmarks.w_start import start_daemon, stop_daemon

#: The demo-sized data directory: people and events.
DEMO_PEOPLE = 10
DEMO_EVENTS = 2_000
#: Read commands: metric name -> arguments after ``kunci --data DIR``.
COMMANDS: dict[str, tuple[str, ...]] = {
    "log": ("log",),
    "user_list": ("user", "list"),
    "audit_verify": ("audit", "verify"),
    "doctor": ("doctor", "--allow-warnings"),
    "status": ("status",),
}
#: Commands that ask the daemon (a ``kunci run`` is started for them).
NEEDS_DAEMON = frozenset({"status"})
#: Seconds after which a command is timed only once.
LONG_S = 10.0
#: Seconds one command may run.
TIMEOUT_S = 300.0


def _kunci() -> list[str]:
    """The console script next to this interpreter, else ``python -m controller``."""
    script = Path(sys.executable).with_name("kunci")
    return [str(script)] if script.exists() else [sys.executable, "-m", "controller"]


def _env(pycache: Path) -> dict[str, str]:
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock", PYTHONPATH=str(REPO), PYTHONPYCACHEPREFIX=str(pycache))
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def time_command(root: Path, args: tuple[str, ...], env: dict[str, str]) -> tuple[float | None, int, str]:
    """One fresh ``kunci --data root *args``: ``(seconds or None on timeout, exit code, stderr tail)``."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([*_kunci(), "--data", str(root), *args], env=env, cwd=REPO, stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return None, -1, f"timed out after {TIMEOUT_S:.0f} s"
    seconds = time.perf_counter() - t0
    return seconds, proc.returncode, proc.stderr.decode(errors="replace")[-300:]


def _measure(label: str, root: Path, runs: int, env: dict[str, str], samples: dict[str, list[float]],
             values: dict[str, Any]) -> None:
    """Time every command on ``root``; samples under ``label.command`` (ms)."""
    daemon = None
    try:
        for name, args in COMMANDS.items():
            if name in NEEDS_DAEMON and daemon is None:
                try:
                    daemon, _, _ = start_daemon(root)
                except RuntimeError as exc:
                    values.setdefault("failures", {})[f"{label}.{name}"] = f"daemon: {exc}"
                    continue
            time_command(root, args, env)  # warm-up: byte code cache, page cache
            key = f"{label}.{name}"
            for _ in range(runs):
                seconds, code, err = time_command(root, args, env)
                values.setdefault("exit_codes", {}).setdefault(key, []).append(code)
                if seconds is None or (code != 0 and name != "doctor"):
                    values.setdefault("failures", {})[key] = err.strip().splitlines()[-1:] or [f"exit {code}"]
                    break
                samples.setdefault(key, []).append(seconds * 1000.0)
                if seconds > LONG_S:
                    break
    finally:
        if daemon is not None:
            stop_daemon(daemon)


def w10_cli(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """W10: every read command on a demo-sized data directory and on ``root`` (the run's largest)."""
    info = seeding.load_info(root)
    work = Path(tempfile.mkdtemp(prefix="kbench-cli-"))
    samples: dict[str, list[float]] = {}
    values: dict[str, Any] = {"large_people": info.get("n"), "large_events": info.get("events"),
                              "demo_people": DEMO_PEOPLE, "demo_events": DEMO_EVENTS}
    try:
        env = _env(work / "pycache")
        demo = work / "demo"
        seeding.seed(demo, n=DEMO_PEOPLE, events=DEMO_EVENTS, seed_value=seed_value)
        _measure("demo", demo, runs, env, samples, values)
        _measure("large", Path(root), runs, env, samples, values)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"records": [{
        "workload": "W10", "primary": "demo.log",
        "metrics": {name: {"unit": "ms", "samples": vals} for name, vals in samples.items()},
        "values": values,
    }]}
