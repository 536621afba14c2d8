"""W7: cold start of ``kunci run`` (a real process) until the control socket answers ``status``.

Each run starts ``python -m controller run --data DIR`` (what the ``kunci`` script runs), polls the
socket every 5 ms with :class:`controller.control.client.ControlClient`, and records: process start ->
first ``status`` answer (= ready for a first decision: inputs are started before the socket),
and the process's RSS then (VmRSS of the bare daemon, for W4). SIGTERM stops it and the exit
code is checked.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.stats import REPO, rss_mb
from controller.control.client import ControlClient
from controller.errors import KunciError
from controller.paths import DataDir


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def start_daemon(root: Path, timeout: float = 60.0) -> tuple[subprocess.Popen[bytes], float, dict[str, Any]]:
    """Start ``kunci run`` on ``root``; returns (process, seconds to first status answer, status)."""
    datadir = DataDir(Path(root))
    env = dict(os.environ, GPIOZERO_PIN_FACTORY="mock", PYTHONPATH=str(REPO))
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "controller", "run", "--data", str(root)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    client = ControlClient(datadir.socket_path, timeout=5.0)
    deadline = t0 + timeout
    while True:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"kunci run exited with {proc.returncode}: {err[-400:]}")
        if datadir.socket_path.exists():
            try:
                status = client.call("status")
                return proc, time.perf_counter() - t0, status
            except KunciError:
                pass
        if time.perf_counter() > deadline:
            proc.kill()
            raise RuntimeError("kunci run did not answer status in time")
        time.sleep(0.005)


def stop_daemon(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM and wait; returns the exit code."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()
    return int(proc.returncode)


def w7_cold_start(root: Path, runs: int, seed_value: int) -> dict[str, Any]:
    """W7: ``runs`` cold starts; each process start -> first ``status`` answer."""
    ready: list[float] = []
    rss: list[float] = []
    codes: list[int] = []
    door = None
    for _ in range(runs):
        proc, seconds, status = start_daemon(root)
        try:
            ready.append(_ms(seconds))
            rss.append(rss_mb(proc.pid)["rss"])
            door = status.get("door")
        finally:
            codes.append(stop_daemon(proc))
    return {"records": [
        {"workload": "W7", "primary": "start_to_ready",
         "metrics": {"start_to_ready": {"unit": "ms", "samples": ready}},
         "values": {"exit_codes": codes, "door_at_ready": door}},
        {"workload": "W4", "primary": "rss_after_w1",
         "metrics": {"kunci_run_rss_at_ready": {"unit": "MB", "samples": rss}}, "values": {}},
    ]}
